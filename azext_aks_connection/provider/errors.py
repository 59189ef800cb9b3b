"""Turn what Azure and Kubernetes answer into azclierror exceptions that name the cause and the fix."""
from azure.cli.core.azclierror import (AzureResponseError, BadRequestError, ForbiddenError,
                                       ResourceNotFoundError, UnauthorizedError, AzureConnectionError)

REGISTER_FIX = "Run 'az provider register -n {ns}' and wait until 'az provider show -n {ns} --query " \
               "registrationState' says Registered, then retry."


def _code_and_message(exc):
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None) if err is not None else None
    message = getattr(err, "message", None) if err is not None else None
    if not message:
        message = getattr(exc, "message", None) or str(exc)
    return code, message


def arm_error(exc, what):
    """An azure-core HttpResponseError (or our ArmError) raised while doing ``what``, as an azclierror."""
    status = getattr(exc, "status_code", None)
    code, message = _code_and_message(exc)
    text = f"{what} failed: ({code}) {message}" if code else f"{what} failed: {message}"
    if code == "MissingSubscriptionRegistration":
        import re
        m = re.search(r"namespace '([^']+)'", message or "")
        ns = m.group(1) if m else "<namespace>"
        return AzureResponseError(text, recommendation=REGISTER_FIX.format(ns=ns))
    if status == 404:
        return ResourceNotFoundError(text, recommendation="Check the name, resource group and subscription "
                                     "(az account show) of the resource.")
    if status == 401:
        return UnauthorizedError(text, recommendation="Run 'az login' again.")
    if status == 403:
        return ForbiddenError(text, recommendation="Ask an owner of the resource to grant you the missing "
                              "permission named above; if access was recently granted, run 'az login' again.")
    if status == 400:
        return BadRequestError(text)
    return AzureResponseError(text)


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
    if status == 403:
        return ForbiddenError(text, recommendation="Your cluster user lacks this Kubernetes permission; ask a "
                              "cluster admin for a Role granting it in that namespace.")
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
    return AzureResponseError(text)
