"""A connection as data, and its two shapes: the record kept in sc-extension, and the LinkerResource
JSON that the built-in `az aks connection` prints (flattened, as azure-cli prints SDK models).
"""
import json

from azext_aks_connection.targets import WIRE_AUTH_TYPE

RECORD_PREFIX = "connection."      # configurationSettings key prefix in sc-extension
RECORD_VERSION = 1


def setting_key(connection_name):
    return RECORD_PREFIX + connection_name


class ConnectionSpec:  # pylint: disable=too-few-public-methods,too-many-instance-attributes
    """What the user asked for: the input of a plan."""

    def __init__(self, cluster, name, target, target_id, auth, client_type, namespace):
        self.cluster = cluster          # _validators.ClusterRef
        self.name = name
        self.target = target            # targets.Target
        self.target_id = target_id
        self.auth = auth                # targets.AUTH_*
        self.client_type = client_type
        self.namespace = namespace

    @property
    def id(self):
        return self.cluster.connection_id(self.name)


def new_record(spec, configurations, k8s_names, created_by, now):
    """The record stored in sc-extension. It never holds a credential value."""
    return {
        "v": RECORD_VERSION,
        "name": spec.name,
        "target": spec.target.name,
        "targetService": {"type": "AzureResource", "id": spec.target_id},
        "authInfo": {"authType": WIRE_AUTH_TYPE[spec.auth]},
        "clientType": spec.client_type,
        "scope": spec.namespace,
        "configurations": [{"name": c["name"], "value": "" if c["credential"] else c["value"],
                            "credential": c["credential"]} for c in configurations],
        "kubernetesResourceName": k8s_names,
        "systemData": {"createdBy": created_by, "createdByType": "User", "createdAt": now,
                       "lastModifiedBy": created_by, "lastModifiedByType": "User", "lastModifiedAt": now},
    }


def dump_record(record):
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def load_records(extension_settings):
    """{name: record} from an extension's configurationSettings; unreadable entries are skipped."""
    records = {}
    for key, value in (extension_settings or {}).items():
        if not key.startswith(RECORD_PREFIX) or not value:
            continue
        try:
            record = json.loads(value)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("name"):
            records[record["name"]] = record
    return records


def to_linker(record, cluster, provisioning_state="Succeeded"):
    """LinkerResource JSON (2024-07-01-preview fields, flattened) plus kubernetesResourceName."""
    auth = dict(record.get("authInfo") or {})
    auth.setdefault("name", None)
    auth.setdefault("secretInfo", None)
    return {
        "authInfo": auth,
        "clientType": record.get("clientType"),
        "configurationInfo": record.get("configurationInfo") or {
            "action": None, "additionalConfigurations": None, "additionalConnectionStringProperties": None,
            "configurationStore": None, "customizedKeys": None, "daprProperties": None,
            "deleteOrUpdateBehavior": None},
        "id": cluster.connection_id(record["name"]),
        "kubernetesResourceName": record.get("kubernetesResourceName"),
        "name": record["name"],
        "provisioningState": provisioning_state,
        "publicNetworkSolution": record.get("publicNetworkSolution"),
        "resourceGroup": cluster.resource_group,
        "scope": record.get("scope"),
        "secretStore": {"keyVaultId": None, "keyVaultSecretName": None},
        "systemData": record.get("systemData"),
        "targetService": dict({"resourceProperties": None}, **record.get("targetService", {})),
        "type": "microsoft.servicelinker/linkers",
        "vNetSolution": None,
    }


def configurations_output(record):
    """list-configuration: every key, credential values as "" (as the built-in prints them for AKS)."""
    return {"configurations": [
        {"name": c["name"], "value": "" if c.get("credential") else c.get("value", ""),
         "configType": "Default", "keyVaultReferenceIdentity": None, "description": None}
        for c in record.get("configurations", [])]}
