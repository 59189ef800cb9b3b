# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft's Service Connector connections on a cluster (``Microsoft.ServiceLinker/linkers``, children of the
managed cluster), read through azure-mgmt-servicelinker (shipped with azure-cli), so that ``list``, ``show``,
``list-configuration``, ``validate`` and ``wait`` see the connections the portal or the built-in command made,
next to aks-connection's own (``"engine": "service-connector"`` vs ``"local"``).

A read never fails because this side is unavailable (provider not registered, no permission): the caller is told
which side it could not read. Kubernetes names follow the built-in (``_utils.get_aks_resource_secret_name``):
Secret ``sc-<name without non-alphanumerics, case kept>-secret``; ServiceAccount ``sc-account-<client id>`` for a
user-assigned identity that is not a Key Vault CSI connection.
"""
import re

from azure.core.exceptions import HttpResponseError
from knack.log import get_logger

logger = get_logger(__name__)

LINKER_API = "2024-07-01-preview"      # azure-mgmt-servicelinker's default (shipped with azure-cli)
ENGINE_LOCAL = "local"
ENGINE_SERVICE_CONNECTOR = "service-connector"


def client(cmd, subscription_id):
    from azext_aks_connection._client_factory import cf_service_linker
    return cf_service_linker(cmd.cli_ctx, subscription_id)


class Unavailable(Exception):
    """Service Connector could not be read; ``reason`` says why, for a warning."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _why(exc, cluster):
    code = getattr(getattr(exc, "error", None), "code", None) or str(getattr(exc, "status_code", "?"))
    if getattr(exc, "status_code", None) == 403:
        return (f"no permission to read Microsoft.ServiceLinker/linkers on AKS cluster '{cluster.name}' ({code}): "
                "a role with 'Microsoft.ServiceLinker/linkers/read' on the cluster is needed")
    if code in ("MissingSubscriptionRegistration", "SubscriptionNotRegistered") or \
            "not registered" in (str(exc) or "").lower():
        return (f"the subscription is not registered for Microsoft.ServiceLinker ({code}): it has no Service "
                "Connector connections")
    return f"reading Service Connector connections of AKS cluster '{cluster.name}' failed ({code})"


def to_output(linker):
    """A LinkerResource as the built-in prints it (azure-cli's todict of the SDK model), with the Kubernetes names it
    adds for AKS and the engine."""
    from azure.cli.core.util import todict
    out = todict(linker)
    out["kubernetesResourceName"] = kubernetes_names(out)
    out["resourceGroup"] = (out.get("id") or "").split("/")[4] if (out.get("id") or "").count("/") > 4 else None
    out["engine"] = ENGINE_SERVICE_CONNECTOR
    return out


def kubernetes_names(out):
    names = {"secret": f"sc-{re.sub(r'[^a-zA-Z0-9]', '', out.get('name') or '')}-secret"}
    auth = out.get("authInfo") or {}
    csi = ((out.get("targetService") or {}).get("resourceProperties") or {}).get("connectAsKubernetesCsiDriver")
    if auth.get("authType") == "userAssignedIdentity" and auth.get("clientId") and not csi:
        names["serviceAccount"] = f"sc-account-{auth['clientId']}"
    return names


def list_linkers(cmd, cluster):
    """[LinkerResource output] of the cluster; raises Unavailable when Service Connector cannot be read."""
    try:
        return [to_output(lk) for lk in client(cmd, cluster.subscription).linker.list(cluster.id)]
    except HttpResponseError as exc:
        if exc.status_code == 404:
            return []
        raise Unavailable(_why(exc, cluster)) from exc


def get_linker(cmd, cluster, name):
    """The linker's output, or None when there is none of that name (or Service Connector cannot be read:
    then Unavailable)."""
    from azext_aks_connection.provider import shared
    if shared.active():         # apply: the cluster's linkers listed once, each connection's found in the list
        listed = shared.cached(("linkers", cluster.id.lower()), lambda: _listed_or_error(cmd, cluster))
        if isinstance(listed, Unavailable):
            raise listed
        return next((lk for lk in listed if (lk.get("name") or "").lower() == name.lower()), None)
    from azure.core.exceptions import DecodeError, DeserializationError
    from azext_aks_connection.provider.arm import malformed
    url = f"{cluster.id}/providers/Microsoft.ServiceLinker/linkers/{name}"
    try:
        answer = client(cmd, cluster.subscription).linker.get(cluster.id, name)
    except (DecodeError, DeserializationError) as exc:      # a proxy's page, a cut answer: not "no connection"
        raise malformed("GET", url, None) from exc
    except HttpResponseError as exc:
        if exc.status_code == 404:
            return None
        raise Unavailable(_why(exc, cluster)) from exc
    if answer is None:          # a 200 with no body: whether the connection exists is not known
        raise malformed("GET", url, "")
    return to_output(answer)


def _listed_or_error(cmd, cluster):
    try:
        return list_linkers(cmd, cluster)
    except Unavailable as exc:
        return exc


def list_configurations(cmd, cluster, name):
    """list-configuration of a linker: what the resource provider returns (credential values blank for AKS)."""
    from azext_aks_connection.provider.errors import arm_error
    try:
        result = client(cmd, cluster.subscription).linker.list_configurations(cluster.id, name)
    except HttpResponseError as exc:
        raise arm_error(exc, f"Listing the configuration of Service Connector connection '{name}'") from exc
    return {"configurations": [
        {"name": c.name, "value": c.value or "", "configType": getattr(c, "config_type", None) or "Default",
         "keyVaultReferenceIdentity": getattr(c, "key_vault_reference_identity", None),
         "description": getattr(c, "description", None)}
        for c in result.configurations or []]}


def rp_validation(cmd, cluster, name, progress=None):
    """The resource provider's own validateLinker verdict: [{name, result, errorMessage}] (for AKS it checks little
    beyond the target's existence). Polled at the service's Retry-After, else every second."""
    from azext_aks_connection.provider.retry import follow
    from azext_aks_connection.provider.errors import arm_error
    try:
        poller = client(cmd, cluster.subscription).linker.begin_validate(cluster.id, name, polling_interval=1)
        result = follow(poller, progress)
    except HttpResponseError as exc:
        raise arm_error(exc, f"Validating Service Connector connection '{name}' with its resource provider") from exc
    return [{"name": d.name, "result": (d.result or "").lower() or "warning", "errorMessage": d.error_message}
            for d in (result.validation_detail if result else None) or []]


def to_record(out):
    """A linker's output as the record shape the local checks read (provider/validate.py)."""
    from azext_aks_connection import targets as t
    target_service = dict(out.get("targetService") or {})
    target_id = target_service.get("id") or ""
    return {
        "name": out.get("name"),
        "target": t.target_of_resource_id(target_id),
        "targetService": target_service,
        "authInfo": out.get("authInfo") or {},
        "clientType": out.get("clientType"),
        "scope": out.get("scope") or "default",
        "kubernetesResourceName": out.get("kubernetesResourceName") or {},
        "configurationInfo": out.get("configurationInfo") or {},
        "publicNetworkSolution": out.get("publicNetworkSolution") or {},
        "engine": ENGINE_SERVICE_CONNECTOR,
    }
