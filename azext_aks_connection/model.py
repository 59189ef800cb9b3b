# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""A connection as data, and its two shapes: the record kept in the connection store (provider/store.py), and the
LinkerResource JSON that the built-in `az aks connection` prints (flattened, as azure-cli prints SDK models).
"""
import json

from azext_aks_connection.targets import AUTH_CSI, WIRE_AUTH_TYPE

RECORD_VERSION = 1


class ConnectionSpec:  # pylint: disable=too-few-public-methods,too-many-instance-attributes
    """What the user asked for: the input of a plan."""

    # pylint: disable-next=too-many-arguments,too-many-positional-arguments  # what the user asked for, as given
    def __init__(self, cluster, name, target, target_id, auth, client_type, namespace, *,
                 auth_info=None, roles=None, customized_keys=None, opt_out=()):
        self.cluster = cluster          # _validators.ClusterRef
        self.name = name
        self.target = target            # targets.Target
        self.target_id = target_id
        self.auth = auth                # targets.AUTH_*
        self.client_type = client_type
        self.namespace = namespace
        self.auth_info = auth_info or {}  # identity_id (WI); client_id, client_secret, object_id (SP)
        self.roles = roles                # --role values; None = the target's defaults
        self.customized_keys = customized_keys or {}   # {default key name: name to use}
        self.opt_out = set(opt_out or ())              # auth | configinfo | publicnetwork
        self.previous = None    # set by the plan: the connection's record before this create or update
        self.others = list      # set by the plan: () -> the cluster's other connection records (listed on demand)
        self.must_exist = False  # update: the connection must still be there (never brought back)
        self.engine = "local"   # validate of a Service Connector connection: "service-connector"
        self.break_lease = False  # --break-lease: take over a connection another command holds

    @property
    def id(self):
        return self.cluster.connection_id(self.name)


def wire_auth_info(spec):
    """authInfo as the built-in sends it for AKS (never the service principal's secret)."""
    from azext_aks_connection.auth import AUTH_CLASSES
    info = {"authType": WIRE_AUTH_TYPE[spec.auth]}
    info.update(AUTH_CLASSES[spec.auth].wire_info(spec))
    if spec.roles:
        info["roles"] = list(spec.roles)
    if "auth" in spec.opt_out:
        info["authMode"] = "optOutAllAuth"
    return info


def opt_out_of_record(record):
    """The --opt-out values a record was made with."""
    out = []
    if (record.get("authInfo") or {}).get("authMode") == "optOutAllAuth":
        out.append("auth")
    if (record.get("configurationInfo") or {}).get("action") == "optOut":
        out.append("configinfo")
    if (record.get("publicNetworkSolution") or {}).get("action") == "optOut":
        out.append("publicnetwork")
    return out


def new_record(spec, configurations, k8s_names, created_by, now, *, provisioned=None):
    """The record kept in the connection store (a ConfigMap). It never holds a credential value.

    ``provisioned`` lists what the plan made or relies on outside the cluster (identity, federated
    credential, role assignments), for validate and delete to find."""
    target_service = {"type": "AzureResource", "id": spec.target_id}
    if spec.target.service_type != "AzureResource":      # e.g. ConfluentBootstrapServer: an endpoint
        target_service = {"type": spec.target.service_type, "endpoint": spec.target_id}
    if spec.auth == AUTH_CSI:
        target_service["resourceProperties"] = {"type": "KeyVault", "connectAsKubernetesCsiDriver": True}
    record = {
        "v": RECORD_VERSION,
        "name": spec.name,
        "target": spec.target.name,
        "targetService": target_service,
        "authInfo": wire_auth_info(spec),
        "clientType": spec.client_type,
        "scope": spec.namespace,
        "configurations": [{"name": c["name"], "value": "" if c["credential"] else c["value"],
                            "credential": c["credential"]} for c in configurations],
        "kubernetesResourceName": k8s_names,
        "systemData": {"createdBy": created_by, "createdByType": "User", "createdAt": now,
                       "lastModifiedBy": created_by, "lastModifiedByType": "User", "lastModifiedAt": now},
    }
    if spec.customized_keys or "configinfo" in spec.opt_out:
        record["configurationInfo"] = {"customizedKeys": dict(spec.customized_keys) or None,
                                       "action": "optOut" if "configinfo" in spec.opt_out else None}
    if "publicnetwork" in spec.opt_out:
        record["publicNetworkSolution"] = {"action": "optOut"}
    if provisioned:
        record["provisioned"] = provisioned
    return record


def dump_record(record):
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


LINKER_PROPERTIES = ("authInfo", "clientType", "configurationInfo", "publicNetworkSolution", "scope", "secretStore",
                     "targetService", "vNetSolution", "provisioningState")


def to_linker(record, cluster, provisioning_state=None):
    """The LinkerResource JSON a Service Connector linker prints: the record as azure.mgmt.servicelinker's model,
    serialized as azure-cli prints SDK models (both engines print one shape, in step with the SDK), plus
    kubernetesResourceName and resourceGroup."""
    import copy
    from azure.cli.core.util import todict
    from azure.mgmt.servicelinker import models
    flat = _flat_linker(record, cluster, provisioning_state or record.get("provisioningState") or "Succeeded")
    body = {"id": flat["id"], "name": flat["name"], "type": flat["type"],
            "systemData": copy.deepcopy(flat["systemData"]),
            "properties": {k: copy.deepcopy(flat[k]) for k in LINKER_PROPERTIES}}
    try:
        out = todict(models.LinkerResource.deserialize(body))
    except Exception:  # pylint: disable=broad-except
        out = dict(flat)        # a record edited by hand into something the SDK cannot read: shown as it is
    out["kubernetesResourceName"] = flat["kubernetesResourceName"]
    out["resourceGroup"] = cluster.resource_group
    return out


def _flat_linker(record, cluster, provisioning_state):
    auth = dict(record.get("authInfo") or {})
    if auth.get("authType") == "secret":
        auth.setdefault("name", None)
        auth.setdefault("secretInfo", None)
    else:
        for key in ("clientId", "subscriptionId", "roles", "userName", "deleteOrUpdateBehavior", "authMode"):
            auth.setdefault(key, None)
    return {
        "authInfo": auth,
        "clientType": record.get("clientType"),
        "configurationInfo": dict({
            "action": None, "additionalConfigurations": None, "additionalConnectionStringProperties": None,
            "configurationStore": None, "customizedKeys": None, "daprProperties": None,
            "deleteOrUpdateBehavior": None}, **(record.get("configurationInfo") or {})),
        "id": cluster.connection_id(record["name"]),
        "kubernetesResourceName": record.get("kubernetesResourceName"),
        "name": record["name"],
        "provisioningState": provisioning_state,
        "publicNetworkSolution": _public_network(record),
        "resourceGroup": cluster.resource_group,
        "scope": record.get("scope"),
        "secretStore": {"keyVaultId": None, "keyVaultSecretName": None},
        "systemData": record.get("systemData"),
        "targetService": dict({"resourceProperties": None}, **record.get("targetService", {})),
        "type": "microsoft.servicelinker/linkers",
        "vNetSolution": None,
    }


def _public_network(record):
    """publicNetworkSolution: the opt-out, and the egress IPs the target's firewall admits for this connection."""
    admitted = [a for a in (record.get("provisioned") or {}).get("firewall") or []
                if not a.startswith("/subscriptions/")]     # node subnets: virtual network rules, no IP range
    if not record.get("publicNetworkSolution") and not admitted:
        return None
    out = dict({"action": None, "deleteOrUpdateBehavior": None, "firewallRules": None},
               **(record.get("publicNetworkSolution") or {}))
    if admitted:
        out["firewallRules"] = {"ipRanges": list(admitted), "azureServices": None, "callerClientIP": None}
    return out


def configurations_output(record):
    """list-configuration: every key, credential values as "" (as the built-in prints them for AKS)."""
    return {"configurations": [
        {"name": c["name"], "value": "" if c.get("credential") else c.get("value", ""),
         "configType": "Default", "keyVaultReferenceIdentity": None, "description": None}
        for c in record.get("configurations", [])]}


def _config_values(record):
    """{default key name: value} of the record's non-credential configurations (--customized-keys undone)."""
    renamed = {v: k for k, v in ((record.get("configurationInfo") or {}).get("customizedKeys") or {}).items()}
    return {renamed.get(c["name"], c["name"]): c.get("value") for c in record.get("configurations") or []
            if not c.get("credential")}


def secret_provider_class(record):
    """The SecretProviderClass a Key Vault CSI connection's pods mount (Azure provider, the add-on's identity)."""
    values = _config_values(record)
    name = (record.get("kubernetesResourceName") or {}).get("secret") or record["name"].lower()
    return {"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
            "metadata": {"name": name.replace("-secret", "-spc") if name.endswith("-secret") else name + "-spc",
                         "namespace": record.get("scope") or "default",
                         "annotations": {"aks-connection/edit": "spec.parameters.objects is an example: list the "
                                         "vault's secrets, keys and certificates the pods mount"}},
            "spec": {"provider": "azure", "parameters": {
                "usePodIdentity": "false", "useVMManagedIdentity": "true",
                "userAssignedIdentityID": values.get("AZURE_KEYVAULT_CLIENTID") or "",
                "keyvaultName": values.get("AZURE_KEYVAULT_NAME") or "",
                "tenantId": values.get("AZURE_KEYVAULT_TENANTID") or "",
                "objects": CSI_OBJECTS_EXAMPLE}}}


# What the pods mount, one entry per object of the vault: an example for the user to edit (the provider reads each
# entry as YAML, so its comments say what goes where).
CSI_OBJECTS_EXAMPLE = ("array:\n"
                       "  - |\n"
                       "    objectName: my-secret      # edit: the name of a secret, key or certificate in the vault\n"
                       "    objectType: secret         # secret, key or cert\n"
                       "    objectAlias: my-secret     # the file name under the mount path (optional)\n")


def manifest(record, objects=()):
    """show --manifest: what a workload needs to use the connection (``workload``: the pod template pieces to copy
    into a Deployment, Job, …) and ``objects``, a v1 List to apply or commit (the SecretProviderClass of a Key
    Vault CSI connection, and the Kubernetes objects the connection made when given)."""
    names = record.get("kubernetesResourceName") or {}
    pod = {"metadata": {}, "spec": {"containers": [{}]}}
    container = pod["spec"]["containers"][0]
    items = []
    if names.get("serviceAccount"):
        pod["metadata"]["labels"] = {"azure.workload.identity/use": "true"}
        pod["spec"]["serviceAccountName"] = names["serviceAccount"]
    if ((record.get("targetService") or {}).get("resourceProperties") or {}).get("connectAsKubernetesCsiDriver"):
        spc = secret_provider_class(record)
        items.append(spc)
        volume = spc["metadata"]["name"]
        pod["spec"]["volumes"] = [{"name": volume, "csi": {
            "driver": "secrets-store.csi.k8s.io", "readOnly": True,
            "volumeAttributes": {"secretProviderClass": volume}}}]
        container["volumeMounts"] = [{"name": volume, "mountPath": "/mnt/secrets-store", "readOnly": True}]
    elif names.get("secret"):
        container["envFrom"] = [{"secretRef": {"name": names["secret"]}}]
    items.extend(objects)
    return {"connection": record["name"], "namespace": record.get("scope") or "default", "workload": pod,
            "objects": {"apiVersion": "v1", "kind": "List", "items": items}}
