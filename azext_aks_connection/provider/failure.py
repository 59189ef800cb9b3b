# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Why a connection is Failed, for `wait` and `show`: the failure's own message (what the record of an
aks-connection connection holds, or what Microsoft's sc-extension reports for a Service Connector one), its cause and
fix from the seed's catalogue when it is a known one, and the `troubleshoot` line of the cluster."""
from knack.log import get_logger

logger = get_logger(__name__)


def is_failed(shown):
    return ((shown or {}).get("provisioningState") or "").lower() == "failed"


def _local_reason(shown):
    """What the record of a failed aks-connection connection says about its failure (the failing step, its error),
    under the keys a record may carry it in; None when it says nothing."""
    for key in ("error", "failure", "lastError"):
        value = shown.get(key)
        if isinstance(value, dict):
            step = value.get("step")
            message = value.get("message") or value.get("error")
            if message:
                return (f"step '{step}' failed: " if step else "") + str(message)
        elif value:
            return str(value)
    return None


def _extension_reason(cmd, cluster_ref):
    """sc-extension's failure on the cluster (Service Connector installs it and reports its failure there, not on
    the linker): (message, diagnosis or None), or (None, None)."""
    from azext_aks_connection.provider import catalogue
    from azext_aks_connection.provider.arm import Arm
    try:  # raw: azure-mgmt-kubernetesconfiguration is not shipped with azure-cli
        ext = Arm(cmd.cli_ctx, subscription_id=cluster_ref.subscription).get(
            f"{cluster_ref.id}/providers/{catalogue.KUBERNETES_CONFIGURATION}/extensions/{catalogue.EXTENSION_NAME}",
            "2023-05-01") or {}
    except Exception as exc:  # pylint: disable=broad-except
        logger.debug("sc-extension of %s not readable: %s", cluster_ref.name, exc)
        return None, None
    props = ext.get("properties") or {}
    messages = [s.get("message") for s in props.get("statuses") or [] if s.get("message")]
    if (props.get("provisioningState") or "").lower() != "failed" or not messages:
        return None, None
    text = "; ".join(messages)
    return (f"{catalogue.EXTENSION_NAME} is in state Failed: {text}",
            catalogue.diagnose(text, None, catalogue.Context.of(cluster_ref)))


def explain(cmd, cluster_ref, shown):
    """(message, [fixes]) for a connection ``shown`` (show's output) in state Failed."""
    from azext_aks_connection.provider import catalogue
    ctx = catalogue.Context.of(cluster_ref)
    name = shown.get("name")
    reason, diagnosis = _local_reason(shown), None
    if reason is None and shown.get("engine") == "service-connector":
        reason, diagnosis = _extension_reason(cmd, cluster_ref)
    message = f"Connection '{name}' on AKS cluster '{cluster_ref.name}' is in state Failed"
    message += f": {reason}" if reason else " (its failure was not recorded)."
    if diagnosis is not None:
        message += f" Cause: {diagnosis.cause}"
    fixes = [diagnosis.fix] if diagnosis is not None else []
    fixes.append(f"See what is wrong on the cluster: {ctx.troubleshoot}; then run the command that made the "
                 f"connection again (it goes on from what is in place), or delete it: az aks connection delete "
                 f"--id {shown.get('id')} --yes")
    return message, fixes


def failed_error(cmd, cluster_ref, shown):
    """The error `wait` ends with when the connection it waits for is Failed (azure-cli's own says only
    'The operation failed')."""
    from azure.cli.core.azclierror import AzureResponseError
    message, fixes = explain(cmd, cluster_ref, shown)
    return AzureResponseError(message, recommendation=fixes)


def warn_failed(cmd, cluster_ref, shown):
    """`show` of a Failed connection prints it as it is, and says why on stderr."""
    message, fixes = explain(cmd, cluster_ref, shown)
    logger.warning("%s %s", message, " ".join(fixes))
