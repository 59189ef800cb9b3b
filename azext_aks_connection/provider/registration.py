# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Resource provider registration, done in the open, and waits on a busy cluster.

azure-mgmt-core puts ``ARMAutoResourceProviderRegistrationPolicy`` into the pipeline of every
management client (``azure/mgmt/core/_pipeline_client.py``). On a 409 MissingSubscriptionRegistration
it registers the namespace behind the caller's back, then polls it with a fixed ``time.sleep(10)`` and
no bound (``azure/mgmt/core/policies/_base.py``): a read command would register a provider, and a
stuck registration would hang the command. We switch that policy off on our clients and do the work
ourselves: a write (create) registers the namespace and waits for it with a progress line, polling as
often as the service says (Retry-After, else a short growing interval) up to a bound; a read command
never registers, it says how to (the catalogue's fix).
"""
import re

from azure.cli.core.azclierror import AzureResponseError
from knack.log import get_logger

from azext_aks_connection.provider import catalogue, retry
from azext_aks_connection.provider.arm import ArmError, rest, sdk_call
from azext_aks_connection.provider.errors import arm_error

logger = get_logger(__name__)

TERMINAL_STATES = ("succeeded", "failed", "canceled", "cancelled")
DEFAULT_REGISTRATION_TIMEOUT = 600       # az config aks_connection.registration_timeout (seconds)
DEFAULT_CLUSTER_WAIT_TIMEOUT = 1800      # az config aks_connection.cluster_wait_timeout (seconds)
MAX_POLL_INTERVAL = 15.0


def _with_headers(pipeline_response, deserialized, _):
    """An SDK call's ``cls``: its answer and the answer's headers (Retry-After)."""
    return deserialized, dict(pipeline_response.http_response.headers)


def provider_state(cli_ctx, subscription, namespace):
    """(registrationState of ``namespace`` on the subscription, the answer's headers), through azure-mgmt-resource."""
    from azext_aks_connection._client_factory import cf_resources
    provider, headers = sdk_call(cli_ctx, "GET", f"/subscriptions/{subscription}/providers/{namespace}",
                                 cf_resources(cli_ctx, subscription).providers.get, namespace, cls=_with_headers)
    return provider.registration_state or "NotRegistered", headers


def _timeout(cmd, option, default):
    try:
        return float(cmd.cli_ctx.config.get("aks_connection", option, default))
    except (TypeError, ValueError):
        return float(default)


def namespace_of(exc):
    """The namespace a MissingSubscriptionRegistration error names, else None."""
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None)
    message = getattr(err, "message", None) or getattr(exc, "message", None) or str(exc)
    if code != "MissingSubscriptionRegistration" and "not registered to use namespace" not in (message or ""):
        return None
    m = re.search(r"namespace '([^']+)'", message or "")
    return m.group(1) if m else catalogue.KUBERNETES_CONFIGURATION


def ensure_registered(cmd, subscription, namespace, progress=None):
    """Register ``namespace`` on the subscription when it is not, and wait until it is Registered."""
    from azext_aks_connection._client_factory import cf_resources
    what = f"Registering resource provider '{namespace}'"
    try:
        state, _ = provider_state(cmd.cli_ctx, subscription, namespace)
        if state == "Registered":
            return False
        logger.warning("Resource provider '%s' is not registered on subscription '%s' (%s): registering it now, as "
                       "'az provider register -n %s' does; this usually takes a minute or two.",
                       namespace, subscription, state, namespace)
        sdk_call(cmd.cli_ctx, "POST", f"/subscriptions/{subscription}/providers/{namespace}/register",
                 cf_resources(cmd.cli_ctx, subscription).providers.register, namespace)
    except ArmError as exc:
        error = arm_error(exc, what)
        if exc.status_code == 403:   # registering needs <namespace>/register/action on the subscription
            error.recommendations.append(f"Or ask someone who may to run 'az provider register -n {namespace}'.")
        raise error from exc
    timeout = _timeout(cmd, "registration_timeout", DEFAULT_REGISTRATION_TIMEOUT)

    def step():
        try:
            state, headers = provider_state(cmd.cli_ctx, subscription, namespace)
        except ArmError as exc:
            raise arm_error(exc, what) from exc
        if state == "Registered":
            logger.warning("Resource provider '%s' is registered.", namespace)
            return True
        return retry.Pending(state, headers)

    return retry.poll(
        step, seconds=timeout, backoff=retry.Backoff(first=1.0, factor=2.0, cap=MAX_POLL_INTERVAL),
        progress=(lambda state: progress(f"Waiting for resource provider {namespace} to be registered ({state})"))
        if progress else None,
        timed_out=lambda state: AzureResponseError(
            f"Resource provider '{namespace}' is still {state} on subscription '{subscription}' after "
            f"{int(timeout)} seconds. Cause: the subscription is not registered to use namespace '{namespace}'.",
            recommendation=catalogue.register_fix(namespace)))


def busy(cluster_resource):
    state = ((cluster_resource or {}).get("properties") or cluster_resource or {}).get("provisioningState")
    return bool(state) and state.lower() not in TERMINAL_STATES


def wait_cluster_idle(cmd, cluster, progress=None, state=None):
    """Wait until no operation runs on AKS cluster ``cluster`` (a ClusterRef): its provisioningState is
    terminal. Polls as often as Retry-After says (else 0.5 s growing to 5 s, ``retry.Backoff``), up to
    ``aks_connection.cluster_wait_timeout`` seconds; then the seed's Conflict error with its fix."""
    from azext_aks_connection._client_factory import cf_container_service
    clusters = cf_container_service(cmd.cli_ctx, cluster.subscription).managed_clusters
    ctx = catalogue.Context.of(cluster)
    timeout = _timeout(cmd, "cluster_wait_timeout", DEFAULT_CLUSTER_WAIT_TIMEOUT)
    told, body = False, None

    def step():
        nonlocal state, told, body
        headers = {}
        if state is None:
            try:
                found, headers = sdk_call(cmd.cli_ctx, "GET", cluster.id, clusters.get, cluster.resource_group,
                                          cluster.name, cls=_with_headers)
                body = rest(found)
            except ArmError as exc:
                raise arm_error(exc, f"Reading AKS cluster '{cluster.name}'", ctx) from exc
            state = ((body or {}).get("properties") or {}).get("provisioningState") or "Succeeded"
        seen, state = state, None               # the next step reads the cluster again
        if seen.lower() in TERMINAL_STATES:
            if told:
                logger.warning("AKS cluster '%s' is %s: going on.", cluster.name, seen)
            return body
        if not told:
            logger.warning("AKS cluster '%s' is %s: another operation runs on it, and Azure accepts no change to "
                           "sc-extension until it ends. Waiting for it (at most %d seconds).",
                           cluster.name, seen, int(timeout))
            told = True
        return retry.Pending(seen, headers)

    def timed_out(seen):
        diagnosis = catalogue.diagnose("", "OperationNotAllowed", ctx)
        return AzureResponseError(
            f"AKS cluster '{cluster.name}' is still {seen} after {int(timeout)} seconds of waiting for it. "
            f"Cause: {diagnosis.cause}", recommendation=[
                diagnosis.fix, "To wait longer: az config set aks_connection.cluster_wait_timeout="
                f"{max(int(timeout) * 2, DEFAULT_CLUSTER_WAIT_TIMEOUT)}"])

    return retry.poll(step, seconds=timeout, timed_out=timed_out, progress=(
        lambda seen: progress(f"Waiting for AKS cluster {cluster.name} to finish its operation ({seen})"))
        if progress else None)
