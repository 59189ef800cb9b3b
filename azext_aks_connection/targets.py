"""THE table of targets: one record per Azure service a cluster can be connected to.

Pure data (standard library only): the loader builds commands, arguments and help from it, and
the provider layer drives every step from it. Adding a target is adding one record here plus,
if its values come from a new kind of management API, one fetcher in ``provider/target.py``.

Configuration keys name a *field* whose value the provider fills in:
- fields the target's fetcher returns (``endpoint``, ``connection_string``, ``account_key``, …);
  secret fields are fetched only for secret auth (no listKeys call for identity auth);
- fields of the auth: ``client_id``, ``tenant_id``, ``client_secret`` (service principal);
- a literal value: a field starting with ``=`` (``"=true"``).
"""
from collections import namedtuple

# Auth types as the user names them (the argument is --<name>).
AUTH_SECRET = "secret"
AUTH_WORKLOAD_IDENTITY = "workload-identity"
AUTH_SERVICE_PRINCIPAL = "service-principal"
AUTH_CSI = "enable-csi"     # Key Vault through the AKS azureKeyvaultSecretsProvider add-on (its own identity)

# What each auth type is called on the wire (LinkerResource.authInfo.authType).
WIRE_AUTH_TYPE = {
    AUTH_SECRET: "secret",
    AUTH_WORKLOAD_IDENTITY: "userAssignedIdentity",
    AUTH_SERVICE_PRINCIPAL: "servicePrincipalSecret",
    AUTH_CSI: "userAssignedIdentity",
}
IDENTITY_AUTH = (AUTH_WORKLOAD_IDENTITY, AUTH_SERVICE_PRINCIPAL)   # get a data-plane role on the target

CLIENT_TYPES_STORAGE = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "springBoot", "none"]

# Built-in Azure role definitions the table refers to by name: name -> role definition GUID (the same in
# every tenant). --role also takes other names (looked up) and GUIDs / role definition ids.
BUILTIN_ROLES = {
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Reader": "21090545-7ca7-4776-b22c-e363652d74d2",
    "Azure Service Bus Data Owner": "090c5cfd-751d-490a-894a-3ce6f1109419",
    "Azure Event Hubs Data Owner": "f526a384-b230-433a-b45c-95f59c4a2dec",
    "App Configuration Data Owner": "5ae67dd6-50cb-40e7-96ff-dc2bfa4b606b",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
}

NameArg = namedtuple("NameArg", "dest options help placeholder")
# key: configuration name; field: what fills it (see above); credential: blanked in every output.
ConfigKey = namedtuple("ConfigKey", "key field credential")


class Target:  # pylint: disable=too-few-public-methods,too-many-instance-attributes
    def __init__(self, name, display, resource_type, api_version, id_template, name_args,
                 auth_types, client_types, config_keys, secret_source, roles=(), firewall=None,
                 resource_suffix="", csi_roles=()):
        self.name = name
        self.display = display
        self.resource_type = resource_type            # ARM type of the resource holding keys and firewall
        self.api_version = api_version                # api-version used for that resource
        self.id_template = id_template                # the target id users pass in --target-id
        self.resource_suffix = resource_suffix        # target id = resource id + this suffix
        self.name_args = name_args
        self.auth_types = auth_types                  # default first, as the built-in orders them
        self.client_types = client_types
        self.config_keys = config_keys                # {auth: {client type or "default": [ConfigKey]}}
        self.secret_source = secret_source            # fetcher name in provider/target.py
        self.roles = list(roles)                      # data-plane role(s) for identity auth (default first)
        self.csi_roles = list(csi_roles)              # role(s) of the KV CSI add-on identity; non-empty = --enable-csi
        self.firewall = firewall                      # firewall mechanism name in provider/target.py

    @property
    def wire_name(self):
        """storage-blob -> storageblob: the prefix of generated connection names."""
        return self.name.replace("-", "")

    @property
    def csi(self):
        return bool(self.csi_roles)

    def keys_for(self, auth, client_type):
        per_client = self.config_keys.get(auth, {})
        return per_client.get(client_type) or per_client.get("default", [])

    def id_regex(self):
        import re
        pattern = re.escape(self.id_template)
        for field in ("subscription", "target_resource_group") + tuple(a.dest for a in self.name_args):
            pattern = pattern.replace(re.escape("{" + field + "}"), "(?P<%s>[^/]+)" % field)
        return re.compile("^" + pattern + "$", re.IGNORECASE)


_STORAGE_ACCOUNT = "/subscriptions/{subscription}/resourceGroups/{target_resource_group}" \
                   "/providers/Microsoft.Storage/storageAccounts/{account}"
_KEY_VAULT = "/subscriptions/{subscription}/resourceGroups/{target_resource_group}" \
             "/providers/Microsoft.KeyVault/vaults/{vault}"
_MANAGEMENT_SCOPE = "=https://management.azure.com/.default"


def _spring_identity(prefix, endpoint_key, extra=()):
    """Spring Cloud Azure keys for workload identity and service principal (same prefix per service)."""
    wi = list(extra) + [ConfigKey(endpoint_key, "endpoint", False),
                        ConfigKey(prefix + ".credential.managed-identity-enabled", "=true", False),
                        ConfigKey(prefix + ".credential.client-id", "client_id", False)]
    sp = list(extra) + [ConfigKey(endpoint_key, "endpoint", False),
                        ConfigKey(prefix + ".credential.client-id", "client_id", False),
                        ConfigKey(prefix + ".credential.client-secret", "client_secret", True),
                        ConfigKey(prefix + ".profile.tenant-id", "tenant_id", False)]
    return wi, sp


def _identity_keys(prefix, endpoint_suffix="RESOURCEENDPOINT", extra=()):
    """AZURE_<X>_… keys for workload identity and service principal (Service Connector's naming)."""
    wi = [ConfigKey(f"{prefix}_{endpoint_suffix}", "endpoint", False)] + list(extra) + \
        [ConfigKey(f"{prefix}_CLIENTID", "client_id", False)]
    sp = wi + [ConfigKey(f"{prefix}_CLIENTSECRET", "client_secret", True),
               ConfigKey(f"{prefix}_TENANTID", "tenant_id", False)]
    return wi, sp


_BLOB_WI, _BLOB_SP = _identity_keys("AZURE_STORAGEBLOB")
_BLOB_SPRING_WI, _BLOB_SPRING_SP = _spring_identity(
    "spring.cloud.azure.storage.blob", "spring.cloud.azure.storage.blob.endpoint",
    extra=[ConfigKey("spring.cloud.azure.storage.blob.account-name", "account_name", False)])
_KV_WI, _KV_SP = _identity_keys("AZURE_KEYVAULT", extra=[ConfigKey("AZURE_KEYVAULT_SCOPE", _MANAGEMENT_SCOPE, False)])
_KV_SPRING_WI, _KV_SPRING_SP = _spring_identity(
    "spring.cloud.azure.keyvault.secret", "spring.cloud.azure.keyvault.secret.property-sources[0].endpoint")

TARGETS = {
    "storage-blob": Target(
        name="storage-blob",
        display="Storage Blob",
        resource_type="Microsoft.Storage/storageAccounts",
        api_version="2023-05-01",
        id_template=_STORAGE_ACCOUNT + "/blobServices/default",
        resource_suffix="/blobServices/default",
        name_args=[NameArg("account", ["--account"], "Name of the storage account.", "MyAccount")],
        auth_types=[AUTH_WORKLOAD_IDENTITY, AUTH_SECRET, AUTH_SERVICE_PRINCIPAL],
        client_types=CLIENT_TYPES_STORAGE,
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_STORAGEBLOB_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [
                    ConfigKey("azure.storage.account-name", "account_name", False),
                    ConfigKey("azure.storage.account-key", "account_key", True),
                    ConfigKey("azure.storage.blob-endpoint", "endpoint", False),
                    ConfigKey("spring.cloud.azure.storage.blob.account-name", "account_name", False),
                    ConfigKey("spring.cloud.azure.storage.blob.account-key", "account_key", True),
                    ConfigKey("spring.cloud.azure.storage.blob.endpoint", "endpoint", False),
                ],
            },
            AUTH_WORKLOAD_IDENTITY: {"default": _BLOB_WI, "springBoot": _BLOB_SPRING_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _BLOB_SP, "springBoot": _BLOB_SPRING_SP},
        },
        secret_source="storage:blob",
        roles=["Storage Blob Data Contributor"],
        firewall="storage",
    ),
    "keyvault": Target(
        name="keyvault",
        display="Key Vault",
        resource_type="Microsoft.KeyVault/vaults",
        api_version="2023-07-01",
        id_template=_KEY_VAULT,
        name_args=[NameArg("vault", ["--vault"], "Name of the key vault.", "MyVault")],
        auth_types=[AUTH_WORKLOAD_IDENTITY, AUTH_SERVICE_PRINCIPAL],
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "springBoot", "none"],
        config_keys={
            AUTH_WORKLOAD_IDENTITY: {"default": _KV_WI, "springBoot": _KV_SPRING_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _KV_SP, "springBoot": _KV_SPRING_SP},
            # What a SecretProviderClass needs (keyvaultName, tenantId, userAssignedIdentityID).
            AUTH_CSI: {"default": [ConfigKey("AZURE_KEYVAULT_NAME", "name", False),
                                   ConfigKey("AZURE_KEYVAULT_RESOURCEENDPOINT", "endpoint", False),
                                   ConfigKey("AZURE_KEYVAULT_TENANTID", "tenant_id", False),
                                   ConfigKey("AZURE_KEYVAULT_CLIENTID", "client_id", False),
                                   ConfigKey("AZURE_KEYVAULT_SCOPE", _MANAGEMENT_SCOPE, False)]},
        },
        secret_source="keyvault",
        roles=["Key Vault Secrets Officer"],
        csi_roles=["Key Vault Secrets User"],
        firewall="keyvault",
    ),
}

# Auth types the provider layer implements today; an auth type of the table that is not here is
# not offered as an argument (so nobody can call a half-built path).
IMPLEMENTED_AUTH = (AUTH_SECRET, AUTH_WORKLOAD_IDENTITY, AUTH_SERVICE_PRINCIPAL)


def offered_auth_types(target):
    return [a for a in target.auth_types if a in IMPLEMENTED_AUTH]


def default_auth_type(target):
    """The auth used when none is given: the first one that needs no value from the user (the secret the
    target gives). None when every auth type needs a value (an identity, a service principal)."""
    offered = offered_auth_types(target)
    return AUTH_SECRET if AUTH_SECRET in offered else None
