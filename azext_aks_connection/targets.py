"""THE table of targets: one record per Azure service a cluster can be connected to.

Pure data (standard library only): the loader builds commands, arguments and help from it, and
the provider layer drives every step from it. Adding a target is adding one record here plus,
if its secret comes from a new kind of management API, one fetcher in ``provider/target.py``.
"""
from collections import namedtuple

# Auth types as the user names them (the argument is --<name>).
AUTH_SECRET = "secret"
AUTH_WORKLOAD_IDENTITY = "workload-identity"
AUTH_SERVICE_PRINCIPAL = "service-principal"

# What each auth type is called on the wire (LinkerResource.authInfo.authType).
WIRE_AUTH_TYPE = {
    AUTH_SECRET: "secret",
    AUTH_WORKLOAD_IDENTITY: "userAssignedIdentity",
    AUTH_SERVICE_PRINCIPAL: "servicePrincipalSecret",
}

CLIENT_TYPES_STORAGE = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "springBoot", "none"]

NameArg = namedtuple("NameArg", "dest options help placeholder")
# key: configuration name; field: what the provider fetched; credential: blanked in every output.
ConfigKey = namedtuple("ConfigKey", "key field credential")


class Target:  # pylint: disable=too-few-public-methods,too-many-instance-attributes
    def __init__(self, name, display, resource_type, api_version, id_template, name_args,
                 auth_types, client_types, config_keys, secret_source, roles=(), firewall=None,
                 resource_suffix=""):
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
        self.roles = list(roles)                      # data-plane role(s) for identity auth
        self.firewall = firewall                      # firewall mechanism name in provider/target.py

    @property
    def wire_name(self):
        """storage-blob -> storageblob: the prefix of generated connection names."""
        return self.name.replace("-", "")

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
        },
        secret_source="storage:blob",
        roles=["Storage Blob Data Contributor"],
        firewall="storage",
    ),
}

# Auth types the provider layer implements today; an auth type of the table that is not here is
# not offered as an argument (so nobody can call a half-built path).
IMPLEMENTED_AUTH = (AUTH_SECRET,)


def offered_auth_types(target):
    return [a for a in target.auth_types if a in IMPLEMENTED_AUTH]


def default_auth_type(target):
    offered = offered_auth_types(target)
    return offered[0] if offered else None
