# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Turn what Azure and Kubernetes answer into azclierror exceptions that name the cause and the fix."""
from azure.cli.core.azclierror import (AzureResponseError, BadRequestError, ForbiddenError,
                                       ResourceNotFoundError, UnauthorizedError, AzureConnectionError)


def _code_and_message(exc):
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None) if err is not None else None
    message = getattr(err, "message", None) if err is not None else None
    if not message:
        message = getattr(exc, "message", None) or str(exc)
    return code, message


def diagnosed(text, message, code=None, ctx=None, default=None):
    """``text`` as the azclierror the catalogue gives for ``message`` (cause appended, fix as recommendation);
    ``default`` (an azclierror instance, or None) when the message is not in the catalogue."""
    from azext_aks_connection.provider import catalogue
    diagnosis = catalogue.diagnose(message, code, ctx)
    if diagnosis is None:
        return default
    return catalogue.error_class(diagnosis)(f"{text.rstrip()} Cause: {diagnosis.cause}",
                                            recommendation=diagnosis.fix)


def transient_fix(status, who):
    """The fix line of a 429 or 5xx answer (``who``: "Azure", "The cluster's API server"), or None."""
    if status == 429:
        return (f"{who} throttled the requests (429 Too Many Requests): wait a minute, then re-run the command; it "
                "goes on from what is already in place.")
    if isinstance(status, int) and status >= 500:
        return (f"{who} failed to answer ({status}), which is usually transient: re-run the command; it goes on "
                "from what is already in place.")
    return None


def arm_error(exc, what, ctx=None):
    """An azure-core HttpResponseError (or our ArmError) raised while doing ``what``, as an azclierror.

    ``ctx`` (catalogue.Context) names the cluster in the fix lines."""
    status = getattr(exc, "status_code", None)
    code, message = _code_and_message(exc)
    text = f"{what} failed: ({code}) {message}" if code else f"{what} failed: {message}"
    if status == 404:
        default = ResourceNotFoundError(text, recommendation="Check the name, resource group and subscription "
                                        "(az account show) of the resource.")
    elif status == 401:
        default = UnauthorizedError(text, recommendation="Run 'az login' again.")
    elif status == 403:
        default = ForbiddenError(text, recommendation="Ask an owner of the resource to grant you the missing "
                                 "permission named above; if access was recently granted, run 'az login' again.")
    elif status == 400:
        default = BadRequestError(text)
    else:
        default = AzureResponseError(text, recommendation=transient_fix(status, "Azure"))
    if status == 404:
        return default
    return diagnosed(text, message, code, ctx, default)


def terminating_error(namespace, what=None):
    """A namespace being deleted (Terminating): nothing can be created in it until it is gone."""
    from azure.cli.core.azclierror import ValidationError
    return ValidationError(
        (f"{what} failed: n" if what else "N") + f"amespace '{namespace}' is being deleted (Terminating): Kubernetes "
        "removes its content and refuses anything new in it until it is gone.",
        recommendation=f"Wait until it is gone ('kubectl get namespace {namespace}' answers NotFound), then re-run: "
        "the command makes the namespace again. Or pass another --kube-namespace.")


def _forbidden(exc, what, message):
    if "because it is being terminated" in (message or ""):     # not a permission: the namespace is going
        return terminating_error((message or "").rsplit("in namespace ", 1)[-1].split(" ")[0], what)
    from azext_aks_connection.provider.kubeaccess import forbidden_from_status
    return forbidden_from_status(exc, what, message or str(exc))


def kube_error(exc, what):
    """A kubernetes ApiException raised while doing ``what``, as an azclierror."""
    import json
    status = getattr(exc, "status", None)
    reason, message = getattr(exc, "reason", None), None
    try:
        body = json.loads(exc.body)
        reason, message = body.get("reason") or reason, body.get("message")
    except (TypeError, ValueError, AttributeError):
        pass
    text = f"{what} failed in the cluster: ({reason}) {message or exc}"
    if status == 403:     # names the fix: an Azure role on Azure RBAC clusters, else the Kubernetes RBAC
        return _forbidden(exc, what, message)
    if status == 401:
        return UnauthorizedError(text, recommendation="Your cluster credentials were refused; check "
                                 "'az aks get-credentials' works for this cluster.")
    if status == 404:
        return ResourceNotFoundError(text)
    if status in (400, 422):
        return BadRequestError(text)
    if status is None or status == 0:
        return AzureConnectionError(text, recommendation="Check that the cluster's API server is reachable "
                                    "from this machine (private clusters need a network path).")
    return AzureResponseError(text, recommendation=transient_fix(status, "The cluster's API server"))


def message_of(exc):
    """What an error says, for a record or a log line (never a credential: errors carry none)."""
    return getattr(exc, "error_msg", None) or str(exc) or type(exc).__name__
