"""THE table of targets: one record per Azure service a cluster can be connected to.

Pure data (standard library only): the loader builds commands, arguments and help from it, and
the provider layer drives every step from it. Adding a target is adding one record here plus,
if its values come from a new kind of management API, one fetcher in ``provider/target.py``.

Configuration keys name a *field* whose value the provider fills in:
- fields the target's fetcher returns (``endpoint``, ``connection_string``, ``account_key``, …);
  secret fields are fetched only for secret auth (no listKeys call for identity auth);
- fields of the auth: ``client_id``, ``tenant_id``, ``client_secret`` (service principal);
- a literal value: a field starting with ``=`` (``"=true"``);
- a template over all of the above: a field holding ``{name}`` (``"rediss://:{key!u}@{host}:{port}/0"``),
  formatted by :func:`config_value`; conversions ``!u`` (URL-encode), ``!q`` (libpq quoting), ``!c``
  (ADO.NET / ODBC quoting) and ``!b`` (JDBC SQL Server braces) quote a value only when it needs it;
- fields of the target id: ``subscription``, ``target_resource_group`` and every name argument (``database``,
  ``key_space``, ``graph`` …), parsed from the target id by ``provider/target.fetch_values``;
- values the user passes (``user_values``: ``user`` and ``password`` from ``--secret name=… secret=…``,
  Confluent's ``--bootstrap-server`` …) for the targets whose secret the user owns.

A configuration key is a credential (``credential=True``, blanked in every output) when its value holds a
field the fetcher returns only with ``with_secret=True``, ``client_secret``, or a user value marked
``credential``.
"""
# The table is data, one record per target (27 of them): one module, however long.
# pylint: disable=too-many-lines
import string
from collections import namedtuple
from urllib.parse import quote

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

# Client types per target: SUPPORTED_CLIENT_TYPE[RESOURCE.KubernetesCluster] of the built-in's
# _resource_config.py (the WebApp lists, shared by every source).
CLIENT_TYPES_STORAGE = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "springBoot", "none"]
CLIENT_TYPES_DATABASE = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "php", "ruby", "django",
                         "springBoot", "none"]
CLIENT_TYPES_REDIS = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "springBoot", "none"]

# Built-in Azure role definitions the table refers to by name: name -> role definition GUID (the same in
# every tenant). --role also takes other names (looked up) and GUIDs / role definition ids. The roles
# Service Connector assigns by default are listed in learn.microsoft.com/azure/service-connector/
# concept-microsoft-entra-roles (MicrosoftDocs/azure-docs articles/service-connector/concept-microsoft-entra-roles.md).
BUILTIN_ROLES = {
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Certificate User": "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
    "Key Vault Reader": "21090545-7ca7-4776-b22c-e363652d74d2",
    "Azure Service Bus Data Owner": "090c5cfd-751d-490a-894a-3ce6f1109419",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Event Hubs Data Owner": "f526a384-b230-433a-b45c-95f59c4a2dec",
    "Azure Event Hubs Data Receiver": "a638d3c7-ab3a-418d-83e6-5f17a39d4fde",
    "Azure Event Hubs Data Sender": "2b629674-e913-4c01-ae53-ef4638d8f975",
    "App Configuration Data Owner": "5ae67dd6-50cb-40e7-96ff-dc2bfa4b606b",
    "App Configuration Data Reader": "516239f1-63e1-4d78-a4de-a74fb236a071",
    "DocumentDB Account Contributor": "5bd9cd88-fe45-4216-938b-f97437e15450",
    "SignalR Service Owner": "7e4f1700-ea5a-4f59-8f37-079cfe29dce3",
    "SignalR/Web PubSub Contributor": "8cf5e20a-e4b2-4e9d-b3a1-5ceb692c2761",
    "Cognitive Services User": "a97b65f3-24c7-4388-baec-2e87135dc908",
    "Cognitive Services OpenAI Contributor": "a001fd3d-188f-4b5d-821b-7da978bf7442",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
}

NameArg = namedtuple("NameArg", "dest options help placeholder")
# key: configuration name; field: what fills it (see above); credential: blanked in every output.
ConfigKey = namedtuple("ConfigKey", "key field credential")
# A value the user passes for a target whose secret the user owns (the target's management API cannot
# give it). field: the name configuration keys use; option: the argument carrying it; key: for options
# of the KEY=VALUE form (``--secret name=… secret=…``) the key inside it, else None (the option's own
# value); credential: never printed, never logged, never stored in the connection record.
UserValue = namedtuple("UserValue", "field option key help credential")


class Target:  # pylint: disable=too-few-public-methods,too-many-instance-attributes
    # pylint: disable-next=too-many-locals
    def __init__(self, *, name, display, resource_type, api_version, id_template, name_args,
                 auth_types, client_types, config_keys, secret_source, roles=(), firewall=None,
                 resource_suffix="", csi_roles=(), user_values=(), endpoint=None, data_access_policy=None,
                 service_type="AzureResource", deprecated=False, secret_in_resource=False, logical_child=False):
        self.name = name
        self.display = display
        self.resource_type = resource_type            # ARM type of the resource holding keys and firewall
        self.api_version = api_version                # api-version used for that resource
        self.id_template = id_template                # the target id users pass in --target-id (None: no ARM id)
        self.resource_suffix = resource_suffix        # target id = resource id + this suffix
        self.name_args = name_args
        self.auth_types = auth_types                  # default first, as the built-in orders them
        self.client_types = client_types
        self.config_keys = config_keys                # {auth: {client type or "default": [ConfigKey]}}
        self.secret_source = secret_source            # fetcher name in provider/target.py
        self.roles = list(roles)                      # data-plane role(s) for identity auth (default first)
        self.csi_roles = list(csi_roles)              # role(s) of the KV CSI add-on identity; non-empty = --enable-csi
        self.firewall = firewall                      # firewall mechanism name in provider/firewall.py
        # What the user passes because the target cannot hand it out (see UserValue). The argument wiring
        # reads these: --secret KEY=VALUE keys, or options of their own (Confluent's --bootstrap-server …).
        self.user_values = list(user_values)
        # Data-plane endpoint in the public cloud, for help texts and as the fetcher's fallback when the
        # resource GET does not carry it ({name}: the resource name).
        self.endpoint = endpoint
        # Redis grants data access with its own access policies, not Azure roles: the policy an identity
        # gets (PUT {cache}/accessPolicyAssignments/{name} {accessPolicyName, objectId, objectIdAlias}).
        self.data_access_policy = data_access_policy
        # LinkerResource targetService.type: AzureResource, or ConfluentBootstrapServer for Confluent Cloud.
        self.service_type = service_type
        self.deprecated = deprecated                  # the built-in marks the command deprecated
        # The resource's own GET body holds a credential (App Insights: InstrumentationKey, ConnectionString):
        # read it with the debug log of the body off.
        self.secret_in_resource = secret_in_resource
        # The target id's part below the resource (Redis ".../databases/0") names no ARM resource: not read.
        self.logical_child = logical_child

    @property
    def wire_name(self):
        """storage-blob -> storageblob: the prefix of generated connection names."""
        return self.name.replace("-", "")

    @property
    def csi(self):
        return bool(self.csi_roles)

    @property
    def user_secret(self):
        """True when the secret auth needs values from the user (``--secret name=… secret=…`` …)."""
        return bool(self.user_values)

    def keys_for(self, auth, client_type):
        per_client = self.config_keys.get(auth, {})
        return per_client.get(client_type) or per_client.get("default", [])

    def id_regex(self):
        import re
        if not self.id_template:
            return re.compile(r"^(?!)")       # no ARM id: matches nothing
        pattern = re.escape(self.id_template)
        for field in ("subscription", "target_resource_group") + tuple(a.dest for a in self.name_args):
            pattern = pattern.replace(re.escape("{" + field + "}"), f"(?P<{field}>[^/]+)")
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


def _identity_keys(prefix, endpoint_suffix="RESOURCEENDPOINT", extra=(), field="endpoint"):
    """AZURE_<X>_… keys for workload identity and service principal (Service Connector's naming)."""
    wi = [ConfigKey(f"{prefix}_{endpoint_suffix}", field, False)] + list(extra) + \
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


def _rid(provider_type, *names):
    """An ARM id template: /subscriptions/{subscription}/resourceGroups/{target_resource_group}/providers/
    NS/type/{name}[/type/{name}...] from ``NS/type[/type...]`` and the placeholders' names."""
    ns, *types = provider_type.split("/")
    tail = "/".join(f"{t}/{{{n}}}" for t, n in zip(types, names))
    return "/subscriptions/{subscription}/resourceGroups/{target_resource_group}/providers/" + ns + "/" + tail


def _secret_only(keys_by_client):
    return {AUTH_SECRET: keys_by_client}


# --- databases whose user and password come from the user (--secret name=… secret=…) ---------------------

_DB_USER_VALUES = [
    UserValue("user", "--secret", "name", "The database user name.", False),
    UserValue("password", "--secret", "secret", "The database user's password.", True),
]


def _postgres_keys(prefix, *, port="5432", login="{user}", login_c="{user!c}", login_u="{user!u}", login_q="{user!q}"):
    """Secret keys of PostgreSQL (Azure Database for PostgreSQL single / flexible server, Neon) per client type.
    Source: how-to-integrate-postgres.md "Connection string" tabs (ms.date 11/21/2025) and
    how-to-integrate-neon-postgres.md. The docs' .NET sample omits Password=…; it is added so the string
    opens a connection without the app appending it (the documented Java/Python/Go strings carry it)."""
    host, db = "{host}", "{database}"
    libpq = f"host={host} port={port} dbname={db} sslmode=require user={login_q} password={{password!q}}"
    return {
        "dotnet": [ConfigKey(f"{prefix}_CONNECTIONSTRING",
                             f"Server={host};Database={db};Port={port};Ssl Mode=Require;User Id={login_c};"
                             "Password={password!c};", True)],
        "java": [ConfigKey(f"{prefix}_CONNECTIONSTRING",
                           f"jdbc:postgresql://{host}:{port}/{db}?sslmode=require&user={login_u}"
                           "&password={password!u}", True)],
        "springBoot": [ConfigKey("spring.datasource.url", f"jdbc:postgresql://{host}:{port}/{db}?sslmode=require",
                                 False),
                       ConfigKey("spring.datasource.username", login, False),
                       ConfigKey("spring.datasource.password", "password", True)],
        "python": [ConfigKey(f"{prefix}_CONNECTIONSTRING",
                             f"dbname={db} host={host} port={port} sslmode=require user={login_q} "
                             "password={password!q}", True)],
        "django": [ConfigKey(f"{prefix}_NAME", "database", False), ConfigKey(f"{prefix}_HOST", "host", False),
                   ConfigKey(f"{prefix}_USER", login, False), ConfigKey(f"{prefix}_PASSWORD", "password", True)],
        "go": [ConfigKey(f"{prefix}_CONNECTIONSTRING",
                         f"host={host} dbname={db} sslmode=require user={login_q} password={{password!q}}", True)],
        "nodejs": [ConfigKey(f"{prefix}_HOST", "host", False), ConfigKey(f"{prefix}_USER", login, False),
                   ConfigKey(f"{prefix}_PASSWORD", "password", True),
                   ConfigKey(f"{prefix}_DATABASE", "database", False),
                   ConfigKey(f"{prefix}_PORT", "=" + port, False), ConfigKey(f"{prefix}_SSL", "=true", False)],
        "php": [ConfigKey(f"{prefix}_CONNECTIONSTRING", libpq, True)],
        "ruby": [ConfigKey(f"{prefix}_CONNECTIONSTRING", libpq, True)],
        "default": [ConfigKey(f"{prefix}_HOST", "host", False), ConfigKey(f"{prefix}_USERNAME", login, False),
                    ConfigKey(f"{prefix}_DATABASE", "database", False), ConfigKey(f"{prefix}_PORT", "=" + port, False),
                    ConfigKey(f"{prefix}_SSL", "=true", False), ConfigKey(f"{prefix}_PASSWORD", "password", True)],
    }


def _mysql_keys(login="{user}", login_c="{user!c}", login_u="{user!u}"):
    """Secret keys of Azure Database for MySQL (single / flexible server) per client type.
    Source: how-to-integrate-mysql.md "Connection string" tabs. PHP's AZURE_MYSQL_FLAG: the docs print
    ``MySQL_CLIENT_SSL``; the mysqli constant it stands for is MYSQLI_CLIENT_SSL, used here."""
    p, host, db = "AZURE_MYSQL", "{host}", "{database}"
    return {
        "dotnet": [ConfigKey(f"{p}_CONNECTIONSTRING",
                             f"Server={host};Database={db};Port=3306;User Id={login_c};Password={{password!c}};"
                             "SSL Mode=Required", True)],
        "java": [ConfigKey(f"{p}_CONNECTIONSTRING",
                           f"jdbc:mysql://{host}:3306/{db}?sslmode=required&user={login_u}&password={{password!u}}",
                           True)],
        "springBoot": [ConfigKey("spring.datasource.url", f"jdbc:mysql://{host}:3306/{db}?sslmode=required", False),
                       ConfigKey("spring.datasource.username", login, False),
                       ConfigKey("spring.datasource.password", "password", True)],
        "python": [ConfigKey(f"{p}_NAME", "database", False), ConfigKey(f"{p}_HOST", "host", False),
                   ConfigKey(f"{p}_USER", login, False), ConfigKey(f"{p}_PASSWORD", "password", True)],
        "django": [ConfigKey(f"{p}_NAME", "database", False), ConfigKey(f"{p}_HOST", "host", False),
                   ConfigKey(f"{p}_USER", login, False), ConfigKey(f"{p}_PASSWORD", "password", True)],
        "go": [ConfigKey(f"{p}_CONNECTIONSTRING", f"{login}:{{password}}@tcp({host}:3306)/{db}?tls=true", True)],
        "nodejs": [ConfigKey(f"{p}_HOST", "host", False), ConfigKey(f"{p}_USER", login, False),
                   ConfigKey(f"{p}_PASSWORD", "password", True), ConfigKey(f"{p}_DATABASE", "database", False),
                   ConfigKey(f"{p}_PORT", "=3306", False), ConfigKey(f"{p}_SSL", "=true", False)],
        "php": [ConfigKey(f"{p}_DBNAME", "database", False), ConfigKey(f"{p}_HOST", "host", False),
                ConfigKey(f"{p}_PORT", "=3306", False), ConfigKey(f"{p}_FLAG", "=MYSQLI_CLIENT_SSL", False),
                ConfigKey(f"{p}_USERNAME", login, False), ConfigKey(f"{p}_PASSWORD", "password", True)],
        "ruby": [ConfigKey(f"{p}_DATABASE", "database", False), ConfigKey(f"{p}_HOST", "host", False),
                 ConfigKey(f"{p}_USERNAME", login, False), ConfigKey(f"{p}_PASSWORD", "password", True),
                 ConfigKey(f"{p}_SSLMODE", "=required", False)],
        "default": [ConfigKey(f"{p}_HOST", "host", False), ConfigKey(f"{p}_USERNAME", login, False),
                    ConfigKey(f"{p}_PASSWORD", "password", True), ConfigKey(f"{p}_DATABASE", "database", False),
                    ConfigKey(f"{p}_PORT", "=3306", False), ConfigKey(f"{p}_SSL", "=true", False)],
    }


# Source: how-to-integrate-sql-database.md "Connection string" tabs. The docs' .NET sample omits User ID=…;
# it is added so the string authenticates (the Java and Go strings carry the user).
_SQL_KEYS = {
    "dotnet": [ConfigKey("AZURE_SQL_CONNECTIONSTRING",
                         "Data Source={host},1433;Initial Catalog={database};User ID={user!c};Password={password!c}",
                         True)],
    "java": [ConfigKey("AZURE_SQL_CONNECTIONSTRING",
                       "jdbc:sqlserver://{host}:1433;databaseName={database};user={user!b};password={password!b};",
                       True)],
    "springBoot": [ConfigKey("spring.datasource.url", "jdbc:sqlserver://{host}:1433;databaseName={database};", False),
                   ConfigKey("spring.datasource.username", "user", False),
                   ConfigKey("spring.datasource.password", "password", True)],
    "python": [ConfigKey("AZURE_SQL_SERVER", "host", False), ConfigKey("AZURE_SQL_PORT", "=1433", False),
               ConfigKey("AZURE_SQL_DATABASE", "database", False), ConfigKey("AZURE_SQL_USER", "user", False),
               ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
    "django": [ConfigKey("AZURE_SQL_HOST", "host", False), ConfigKey("AZURE_SQL_PORT", "=1433", False),
               ConfigKey("AZURE_SQL_NAME", "database", False), ConfigKey("AZURE_SQL_USER", "user", False),
               ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
    "go": [ConfigKey("AZURE_SQL_CONNECTIONSTRING",
                     "server={host};port=1433;database={database};user id={user!c};password={password!c};", True)],
    "nodejs": [ConfigKey("AZURE_SQL_SERVER", "host", False), ConfigKey("AZURE_SQL_PORT", "=1433", False),
               ConfigKey("AZURE_SQL_DATABASE", "database", False), ConfigKey("AZURE_SQL_USERNAME", "user", False),
               ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
    "php": [ConfigKey("AZURE_SQL_SERVERNAME", "{host},1433", False), ConfigKey("AZURE_SQL_DATABASE", "database", False),
            ConfigKey("AZURE_SQL_UID", "user", False), ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
    "ruby": [ConfigKey("AZURE_SQL_HOST", "host", False), ConfigKey("AZURE_SQL_PORT", "=1433", False),
             ConfigKey("AZURE_SQL_DATABASE", "database", False), ConfigKey("AZURE_SQL_USERNAME", "user", False),
             ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
    "default": [ConfigKey("AZURE_SQL_HOST", "host", False), ConfigKey("AZURE_SQL_PORT", "=1433", False),
                ConfigKey("AZURE_SQL_DATABASE", "database", False), ConfigKey("AZURE_SQL_USERNAME", "user", False),
                ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
}

# --- Redis (how-to-integrate-redis-cache.md) -----------------------------------------------------------------
# Redis Enterprise has no page of its own; Service Connector names its keys like Azure Cache for Redis.


def _redis_secret_keys():
    uri = ConfigKey("AZURE_REDIS_CONNECTIONSTRING", "rediss://:{key!u}@{host}:{port}/{database}", True)
    return {
        "dotnet": [ConfigKey("AZURE_REDIS_CONNECTIONSTRING",
                             "{host}:{port},password={key},ssl=True,defaultDatabase={database}", True)],
        "dotnet-internal": [ConfigKey("AZURE_REDIS_CONNECTIONSTRING",
                                      "{host}:{port},password={key},ssl=True,defaultDatabase={database}", True)],
        "java": [uri], "python": [uri], "go": [uri], "nodejs": [uri],
        "springBoot": [ConfigKey("spring.redis.host", "host", False), ConfigKey("spring.redis.port", "port", False),
                       ConfigKey("spring.redis.database", "database", False),
                       ConfigKey("spring.redis.password", "key", True), ConfigKey("spring.redis.ssl", "=true", False)],
        "default": [ConfigKey("AZURE_REDIS_HOST", "host", False), ConfigKey("AZURE_REDIS_PORT", "port", False),
                    ConfigKey("AZURE_REDIS_DATABASE", "database", False),
                    ConfigKey("AZURE_REDIS_PASSWORD", "key", True),
                    ConfigKey("AZURE_REDIS_SSL", "=true", False)],
    }


_REDIS_WI, _REDIS_SP = _identity_keys("AZURE_REDIS", "HOST", field="host")

# --- Cosmos DB (how-to-integrate-cosmos-sql/-db (MongoDB)/-cassandra/-gremlin/-table.md) ----------------------
# Identity auth: Cosmos DB keys are read with the identity through the management API (the identity gets
# DocumentDB Account Contributor), so the keys name that URL and the management scope.
_COSMOS_LIST_CS = ConfigKey("AZURE_COSMOS_LISTCONNECTIONSTRINGURL", "list_connection_strings_url", False)
_COSMOS_LIST_KEYS = ConfigKey("AZURE_COSMOS_LISTKEYURL", "list_keys_url", False)
_COSMOS_SCOPE = ConfigKey("AZURE_COSMOS_SCOPE", _MANAGEMENT_SCOPE, False)
_COSMOS_ENDPOINT = ConfigKey("AZURE_COSMOS_RESOURCEENDPOINT", "endpoint", False)
_CLIENT_ID = "client_id"


def _cosmos_identity(first, extra=()):
    """(workload identity, service principal) keys: the list URL, scope, endpoint, API extras, identity."""
    wi = [first, _COSMOS_SCOPE, _COSMOS_ENDPOINT] + list(extra) + \
        [ConfigKey("AZURE_COSMOS_CLIENTID", _CLIENT_ID, False)]
    sp = wi + [ConfigKey("AZURE_COSMOS_CLIENTSECRET", "client_secret", True),
               ConfigKey("AZURE_COSMOS_TENANTID", "tenant_id", False)]
    return wi, sp


_COSMOS_SQL_WI, _COSMOS_SQL_SP = _cosmos_identity(_COSMOS_LIST_CS)
_CASSANDRA_INFO = [ConfigKey("AZURE_COSMOS_CONTACTPOINT", "contact_point", False),
                   ConfigKey("AZURE_COSMOS_PORT", "=10350", False),
                   ConfigKey("AZURE_COSMOS_KEYSPACE", "key_space", False),
                   ConfigKey("AZURE_COSMOS_USERNAME", "name", False)]
_COSMOS_CASSANDRA_WI, _COSMOS_CASSANDRA_SP = _cosmos_identity(_COSMOS_LIST_KEYS, _CASSANDRA_INFO)
_GREMLIN_INFO = [ConfigKey("AZURE_COSMOS_HOSTNAME", "gremlin_host", False),
                 ConfigKey("AZURE_COSMOS_PORT", "=443", False),
                 ConfigKey("AZURE_COSMOS_USERNAME", "/dbs/{database}/colls/{graph}", False)]
_COSMOS_GREMLIN_WI, _COSMOS_GREMLIN_SP = _cosmos_identity(_COSMOS_LIST_KEYS, _GREMLIN_INFO)


def _cosmos_spring_identity(extra=()):
    """Spring Cloud Azure 4+ keys for Cosmos DB with an identity (how-to-integrate-cosmos-sql.md)."""
    p = "spring.cloud.azure.cosmos"
    wi = [ConfigKey(f"{p}.credential.managed-identity-enabled", "=true", False),
          ConfigKey(f"{p}.database", "database", False), ConfigKey(f"{p}.endpoint", "endpoint", False),
          ConfigKey(f"{p}.credential.client-id", _CLIENT_ID, False)] + list(extra)
    sp = [ConfigKey(f"{p}.credential.client-id", _CLIENT_ID, False),
          ConfigKey(f"{p}.credential.client-secret", "client_secret", True),
          ConfigKey(f"{p}.profile.tenant-id", "tenant_id", False),
          ConfigKey(f"{p}.database", "database", False), ConfigKey(f"{p}.endpoint", "endpoint", False)] + list(extra)
    return wi, sp


_COSMOS_SQL_SPRING_WI, _COSMOS_SQL_SPRING_SP = _cosmos_spring_identity()
_COSMOS_NAME_ARGS = [NameArg("account", ["--account"], "Name of the cosmos database account.", "MyAccount")]

# --- Storage queue / table / file ------------------------------------------------------------------------------
_QUEUE_WI, _QUEUE_SP = _identity_keys("AZURE_STORAGEQUEUE")
_TABLE_WI, _TABLE_SP = _identity_keys("AZURE_STORAGETABLE")
_STORAGE_NAME_ARGS = [NameArg("account", ["--account"], "Name of the storage account.", "MyAccount")]

# --- messaging, configuration, real-time, AI ------------------------------------------------------------------
_EVENTHUB_WI, _EVENTHUB_SP = _identity_keys("AZURE_EVENTHUB", "FULLYQUALIFIEDNAMESPACE")
_SERVICEBUS_WI, _SERVICEBUS_SP = _identity_keys("AZURE_SERVICEBUS", "FULLYQUALIFIEDNAMESPACE")
_APPCONFIG_WI, _APPCONFIG_SP = _identity_keys("AZURE_APPCONFIGURATION", "ENDPOINT")
_WEBPUBSUB_WI, _WEBPUBSUB_SP = _identity_keys("AZURE_WEBPUBSUB", "HOST", field="host")
_COGNITIVE_WI, _COGNITIVE_SP = _identity_keys("AZURE_COGNITIVESERVICES", "ENDPOINT")
_IDENTITY_AUTHS = [AUTH_WORKLOAD_IDENTITY, AUTH_SECRET, AUTH_SERVICE_PRINCIPAL]

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
        # Service Connector's defaults (concept-microsoft-entra-roles.md): read secrets and certificates, for the
        # workload identity, the service principal and the CSI add-on identity alike.
        roles=["Key Vault Secrets User", "Key Vault Certificate User"],
        csi_roles=["Key Vault Secrets User", "Key Vault Certificate User"],
        firewall="keyvault",
    ),
    # ---------------------------------------------------------------- Storage queue / table / file
    # Keys: how-to-integrate-storage-queue.md, -storage-table.md, -storage-file.md.
    "storage-queue": Target(
        name="storage-queue",
        display="Storage Queue",
        resource_type="Microsoft.Storage/storageAccounts",
        api_version="2023-05-01",
        id_template=_STORAGE_ACCOUNT + "/queueServices/default",
        resource_suffix="/queueServices/default",
        name_args=_STORAGE_NAME_ARGS,
        auth_types=_IDENTITY_AUTHS,
        client_types=CLIENT_TYPES_STORAGE,
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_STORAGEQUEUE_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [
                    ConfigKey("spring.cloud.azure.storage.account", "account_name", False),
                    ConfigKey("spring.cloud.azure.storage.access-key", "account_key", True),
                    ConfigKey("spring.cloud.azure.storage.queue.account-name", "account_name", False),
                    ConfigKey("spring.cloud.azure.storage.queue.account-key", "account_key", True),
                    ConfigKey("spring.cloud.azure.storage.queue.endpoint", "endpoint", False),
                ],
            },
            AUTH_WORKLOAD_IDENTITY: {"default": _QUEUE_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _QUEUE_SP},
        },
        secret_source="storage:queue",
        roles=["Storage Queue Data Contributor"],
        firewall="storage",
        endpoint="https://{name}.queue.core.windows.net/",
    ),
    "storage-table": Target(
        name="storage-table",
        display="Storage Table",
        resource_type="Microsoft.Storage/storageAccounts",
        api_version="2023-05-01",
        id_template=_STORAGE_ACCOUNT + "/tableServices/default",
        resource_suffix="/tableServices/default",
        name_args=_STORAGE_NAME_ARGS,
        auth_types=_IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "none"],
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey("AZURE_STORAGETABLE_CONNECTIONSTRING", "connection_string", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _TABLE_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _TABLE_SP},
        },
        secret_source="storage:table",
        roles=["Storage Table Data Contributor"],
        firewall="storage",
        endpoint="https://{name}.table.core.windows.net/",
    ),
    "storage-file": Target(
        name="storage-file",
        display="Storage File",
        resource_type="Microsoft.Storage/storageAccounts",
        api_version="2023-05-01",
        id_template=_STORAGE_ACCOUNT + "/fileServices/default",
        resource_suffix="/fileServices/default",
        name_args=_STORAGE_NAME_ARGS,
        auth_types=[AUTH_SECRET],
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "php", "ruby", "springBoot", "none"],
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_STORAGEFILE_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [
                    ConfigKey("azure.storage.account-name", "account_name", False),
                    ConfigKey("azure.storage.account-key", "account_key", True),
                    ConfigKey("azure.storage.file-endpoint", "endpoint", False),
                    ConfigKey("spring.cloud.azure.storage.fileshare.account-name", "account_name", False),
                    ConfigKey("spring.cloud.azure.storage.fileshare.account-key", "account_key", True),
                    ConfigKey("spring.cloud.azure.storage.fileshare.endpoint", "endpoint", False),
                ],
            },
        },
        secret_source="storage:file",
        firewall="storage",
        endpoint="https://{name}.file.core.windows.net/",
    ),
    # ---------------------------------------------------------------- Cosmos DB
    "cosmos-sql": Target(
        name="cosmos-sql",
        display="Cosmos DB for NoSQL",
        resource_type="Microsoft.DocumentDB/databaseAccounts",
        api_version="2024-11-15",
        id_template=_rid("Microsoft.DocumentDB/databaseAccounts/sqlDatabases", "account", "database"),
        name_args=_COSMOS_NAME_ARGS + [NameArg("database", ["--database"], "Name of the database.", "MyDB")],
        auth_types=_IDENTITY_AUTHS,
        client_types=CLIENT_TYPES_STORAGE,
        # Keys: how-to-integrate-cosmos-sql.md.
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_COSMOS_CONNECTIONSTRING", "AccountEndpoint={endpoint};AccountKey={key};",
                                      True)],
                "springBoot": [
                    ConfigKey("azure.cosmos.key", "key", True),
                    ConfigKey("azure.cosmos.database", "database", False),
                    ConfigKey("azure.cosmos.uri", "endpoint", False),
                    ConfigKey("spring.cloud.azure.cosmos.key", "key", True),
                    ConfigKey("spring.cloud.azure.cosmos.database", "database", False),
                    ConfigKey("spring.cloud.azure.cosmos.endpoint", "endpoint", False),
                ],
            },
            AUTH_WORKLOAD_IDENTITY: {"default": _COSMOS_SQL_WI, "springBoot": _COSMOS_SQL_SPRING_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _COSMOS_SQL_SP, "springBoot": _COSMOS_SQL_SPRING_SP},
        },
        secret_source="cosmos:sql",
        roles=["DocumentDB Account Contributor"],
        firewall="cosmos",
        endpoint="https://{name}.documents.azure.com:443/",
    ),
    "cosmos-mongo": Target(
        name="cosmos-mongo",
        display="Cosmos DB for MongoDB",
        resource_type="Microsoft.DocumentDB/databaseAccounts",
        api_version="2024-11-15",
        id_template=_rid("Microsoft.DocumentDB/databaseAccounts/mongodbDatabases", "account", "database"),
        name_args=_COSMOS_NAME_ARGS + [NameArg("database", ["--database"], "Name of the database.", "MyDB")],
        auth_types=_IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "nodejs", "go", "springBoot", "none"],
        # Keys: how-to-integrate-cosmos-db.md (Azure Cosmos DB for MongoDB).
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_COSMOS_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [ConfigKey("spring.data.mongodb.database", "database", False),
                               ConfigKey("spring.data.mongodb.uri", "connection_string", True)],
            },
            AUTH_WORKLOAD_IDENTITY: {"default": _COSMOS_SQL_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _COSMOS_SQL_SP},
        },
        secret_source="cosmos:mongo",
        roles=["DocumentDB Account Contributor"],
        firewall="cosmos",
        endpoint="https://{name}.documents.azure.com:443/",
    ),
    "cosmos-cassandra": Target(
        name="cosmos-cassandra",
        display="Cosmos DB for Apache Cassandra",
        resource_type="Microsoft.DocumentDB/databaseAccounts",
        api_version="2024-11-15",
        id_template=_rid("Microsoft.DocumentDB/databaseAccounts/cassandraKeyspaces", "account", "key_space"),
        name_args=_COSMOS_NAME_ARGS + [NameArg("key_space", ["--key-space"], "Name of the keyspace.", "MyKeySpace")],
        auth_types=_IDENTITY_AUTHS,
        client_types=CLIENT_TYPES_REDIS,
        # Keys: how-to-integrate-cosmos-cassandra.md.
        config_keys={
            AUTH_SECRET: {
                "default": _CASSANDRA_INFO + [ConfigKey("AZURE_COSMOS_PASSWORD", "key", True)],
                "springBoot": [
                    ConfigKey("spring.data.cassandra.contact-points", "contact_point", False),
                    ConfigKey("spring.data.cassandra.port", "=10350", False),
                    ConfigKey("spring.data.cassandra.keyspace-name", "key_space", False),
                    ConfigKey("spring.data.cassandra.username", "name", False),
                    ConfigKey("spring.data.cassandra.password", "key", True),
                    ConfigKey("spring.data.cassandra.local-datacenter", "location_name", False),
                    ConfigKey("spring.data.cassandra.ssl", "=true", False),
                ],
            },
            AUTH_WORKLOAD_IDENTITY: {"default": _COSMOS_CASSANDRA_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _COSMOS_CASSANDRA_SP},
        },
        secret_source="cosmos:cassandra",
        roles=["DocumentDB Account Contributor"],
        firewall="cosmos",
        endpoint="https://{name}.documents.azure.com:443/",
    ),
    "cosmos-gremlin": Target(
        name="cosmos-gremlin",
        display="Cosmos DB for Apache Gremlin",
        resource_type="Microsoft.DocumentDB/databaseAccounts",
        api_version="2024-11-15",
        id_template=_rid("Microsoft.DocumentDB/databaseAccounts/gremlinDatabases/graphs", "account", "database",
                         "graph"),
        name_args=_COSMOS_NAME_ARGS + [NameArg("database", ["--database"], "Name of the database.", "MyDB"),
                                       NameArg("graph", ["--graph"], "Name of the graph.", "MyGraph")],
        auth_types=_IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "php", "none"],
        # Keys: how-to-integrate-cosmos-gremlin.md. (Its user-assigned identity table names the client id
        # AZURE_CLIENTID, every other table AZURE_COSMOS_CLIENTID: the prefixed name is used for both.)
        config_keys={
            AUTH_SECRET: {"default": _GREMLIN_INFO + [ConfigKey("AZURE_COSMOS_PASSWORD", "key", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _COSMOS_GREMLIN_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _COSMOS_GREMLIN_SP},
        },
        secret_source="cosmos:gremlin",
        roles=["DocumentDB Account Contributor"],
        firewall="cosmos",
        endpoint="https://{name}.documents.azure.com:443/",
    ),
    "cosmos-table": Target(
        name="cosmos-table",
        display="Cosmos DB for Table",
        resource_type="Microsoft.DocumentDB/databaseAccounts",
        api_version="2024-11-15",
        id_template=_rid("Microsoft.DocumentDB/databaseAccounts/tables", "account", "table"),
        name_args=_COSMOS_NAME_ARGS + [NameArg("table", ["--table"], "Name of the table.", "MyTable")],
        auth_types=_IDENTITY_AUTHS,
        client_types=CLIENT_TYPES_STORAGE,
        # Keys: how-to-integrate-cosmos-table.md.
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey(
                "AZURE_COSMOS_CONNECTIONSTRING",
                "DefaultEndpointsProtocol=https;AccountName={name};AccountKey={key};TableEndpoint={table_endpoint};",
                True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _COSMOS_SQL_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _COSMOS_SQL_SP},
        },
        secret_source="cosmos:table",
        roles=["DocumentDB Account Contributor"],
        firewall="cosmos",
        endpoint="https://{name}.documents.azure.com:443/",
    ),
    # ---------------------------------------------------------------- Redis
    "redis": Target(
        name="redis",
        display="Azure Cache for Redis",
        resource_type="Microsoft.Cache/redis",
        api_version="2024-11-01",
        id_template=_rid("Microsoft.Cache/redis/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of the redis server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of the redis database.", "MyDB")],
        auth_types=_IDENTITY_AUTHS,
        client_types=CLIENT_TYPES_REDIS,
        # Keys: how-to-integrate-redis-cache.md.
        config_keys={
            AUTH_SECRET: _redis_secret_keys(),
            AUTH_WORKLOAD_IDENTITY: {"default": _REDIS_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _REDIS_SP},
        },
        secret_source="redis",
        data_access_policy="Data Owner",
        logical_child=True,
        firewall="redis",
        endpoint="{name}.redis.cache.windows.net",
    ),
    "redis-enterprise": Target(
        name="redis-enterprise",
        display="Azure Cache for Redis Enterprise",
        resource_type="Microsoft.Cache/redisEnterprise",
        api_version="2024-10-01",
        id_template=_rid("Microsoft.Cache/redisEnterprise/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of the redis enterprise server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of the redis enterprise database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_REDIS,
        config_keys={AUTH_SECRET: _redis_secret_keys()},
        secret_source="redis-enterprise",
        firewall="no-ip-rules",
        endpoint="{name}.{location}.redisenterprise.cache.azure.net",
    ),
    # ---------------------------------------------------------------- databases (the user's secret)
    "postgres-flexible": Target(
        name="postgres-flexible",
        display="Azure Database for PostgreSQL flexible server",
        resource_type="Microsoft.DBforPostgreSQL/flexibleServers",
        api_version="2024-08-01",
        id_template=_rid("Microsoft.DBforPostgreSQL/flexibleServers/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of postgres flexible server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of postgres flexible database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        config_keys=_secret_only(_postgres_keys("AZURE_POSTGRESQL")),
        secret_source="database-server",
        user_values=_DB_USER_VALUES,
        firewall="server-rules",
        endpoint="{name}.postgres.database.azure.com",
    ),
    "postgres": Target(
        name="postgres",
        display="Azure Database for PostgreSQL single server",
        resource_type="Microsoft.DBforPostgreSQL/servers",
        api_version="2017-12-01",
        id_template=_rid("Microsoft.DBforPostgreSQL/servers/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of postgres server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of postgres database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        # Single servers log in as <user>@<server> (how-to-integrate-postgres.md, 2022 revision).
        config_keys=_secret_only(_postgres_keys("AZURE_POSTGRESQL", login="{user}@{server}", login_c="{user}@{server}",
                                                login_u="{user!u}%40{server}", login_q="{user}@{server}")),
        secret_source="database-server",
        user_values=_DB_USER_VALUES,
        firewall="server-rules",
        endpoint="{name}.postgres.database.azure.com",
        deprecated=True,
    ),
    "mysql-flexible": Target(
        name="mysql-flexible",
        display="Azure Database for MySQL flexible server",
        resource_type="Microsoft.DBforMySQL/flexibleServers",
        api_version="2023-12-30",
        id_template=_rid("Microsoft.DBforMySQL/flexibleServers/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of the mysql flexible server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of the mysql flexible database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        config_keys=_secret_only(_mysql_keys()),
        secret_source="database-server",
        user_values=_DB_USER_VALUES,
        firewall="server-rules",
        endpoint="{name}.mysql.database.azure.com",
    ),
    "mysql": Target(
        name="mysql",
        display="Azure Database for MySQL single server",
        resource_type="Microsoft.DBforMySQL/servers",
        api_version="2017-12-01",
        # The built-in spells the namespace Microsoft.DBForMySQL here; ARM ids are case-insensitive.
        id_template=_rid("Microsoft.DBForMySQL/servers/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of the mysql server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of the mysql database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        config_keys=_secret_only(_mysql_keys(login="{user}@{server}", login_c="{user}@{server}",
                                             login_u="{user!u}%40{server}")),
        secret_source="database-server",
        user_values=_DB_USER_VALUES,
        firewall="server-rules",
        endpoint="{name}.mysql.database.azure.com",
        deprecated=True,
    ),
    "sql": Target(
        name="sql",
        display="Azure SQL Database",
        resource_type="Microsoft.Sql/servers",
        api_version="2023-08-01",
        id_template=_rid("Microsoft.Sql/servers/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of the sql server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of the sql database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        config_keys=_secret_only(_SQL_KEYS),
        secret_source="database-server",
        user_values=_DB_USER_VALUES,
        firewall="server-rules",
        endpoint="{name}.database.windows.net",
    ),
    "neon-postgres": Target(
        name="neon-postgres",
        display="Neon Serverless Postgres",
        resource_type="Neon.Postgres/organizations",
        api_version="2025-03-01",
        # The built-in's template is one fixed test id (subscription, group and organization spelled out)
        # with --server/--database that are not in it: they only go into the connection string. Here the
        # organization is named like every other target; --server (the Neon endpoint host) and --database
        # are user values.
        id_template=_rid("Neon.Postgres/organizations", "organization"),
        name_args=[NameArg("organization", ["--organization"], "Name of the Neon organization resource.",
                           "MyOrganization")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        # Keys: how-to-integrate-neon-postgres.md (same shapes as PostgreSQL, NEON_POSTGRESQL_ prefix).
        config_keys=_secret_only(_postgres_keys("NEON_POSTGRESQL")),
        secret_source="arm-resource",
        user_values=[UserValue("host", "--server", None,
                               "Host of the Neon compute endpoint, e.g. ep-cool-name-a1b2c3.eastus2.azure.neon.tech.",
                               False),
                     UserValue("database", "--database", None, "Name of the Neon database.", False)]
        + _DB_USER_VALUES,
        firewall="no-ip-rules",
    ),
    "mongodb-atlas": Target(
        name="mongodb-atlas",
        display="MongoDB Atlas",
        resource_type="MongoDB.Atlas/organizations",
        api_version="2025-06-01",
        id_template=_rid("MongoDB.Atlas/organizations", "server"),
        name_args=[NameArg("server", ["--server"], "Name of the MongoDB Atlas server.", "MongoDBAtlasServer")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        # Keys: how-to-integrate-mongodb-atlas.md (Java adds the jdbc: scheme). The built-in takes
        # --secret secret=<connection string> and sends name "NA".
        config_keys=_secret_only({
            "java": [ConfigKey("MONGODBATLAS_CLUSTER_CONNECTIONSTRING", "jdbc:{connection_string}", True)],
            "default": [ConfigKey("MONGODBATLAS_CLUSTER_CONNECTIONSTRING", "connection_string", True)],
        }),
        secret_source="arm-resource",
        user_values=[UserValue("connection_string", "--secret", "secret",
                               "The cluster's connection string, mongodb+srv://USER:PASSWORD@CLUSTER/….", True)],
        firewall="no-ip-rules",
    ),
    # ---------------------------------------------------------------- messaging
    "eventhub": Target(
        name="eventhub",
        display="Event Hubs",
        resource_type="Microsoft.EventHub/namespaces",
        api_version="2024-01-01",
        id_template=_rid("Microsoft.EventHub/namespaces", "namespace"),
        name_args=[NameArg("namespace", ["--namespace"], "Name of the eventhub namespace.", "MyNamespace")],
        auth_types=_IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "springBoot", "kafka-springBoot",
                      "none"],
        # Keys: how-to-integrate-event-hubs.md.
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_EVENTHUB_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [ConfigKey("spring.cloud.azure.storage.connection-string", "connection_string", True),
                               ConfigKey("spring.cloud.azure.eventhubs.connection-string", "connection_string", True)],
                "kafka-springBoot": [ConfigKey("spring.cloud.azure.eventhubs.connection-string", "connection_string",
                                               True)],
            },
            AUTH_WORKLOAD_IDENTITY: {
                "default": _EVENTHUB_WI,
                "springBoot": [
                    ConfigKey("spring.cloud.azure.eventhub.namespace", "endpoint", False),
                    ConfigKey("spring.cloud.azure.client-id", _CLIENT_ID, False),
                    ConfigKey("spring.cloud.azure.eventhubs.namespace", "endpoint", False),
                    ConfigKey("spring.cloud.azure.eventhubs.credential.client-id", _CLIENT_ID, False),
                    ConfigKey("spring.cloud.azure.eventhubs.credential.managed-identity-enabled", "=true", False),
                ],
                "kafka-springBoot": [
                    ConfigKey("spring.kafka.bootstrap-servers", "endpoint", False),
                    ConfigKey("spring.kafka.properties.azure.credential.managed-identity-enabled", "=true", False),
                    ConfigKey("spring.kafka.properties.azure.credential.client-id", _CLIENT_ID, False),
                ],
            },
            AUTH_SERVICE_PRINCIPAL: {
                "default": _EVENTHUB_SP,
                "springBoot": [
                    ConfigKey("spring.cloud.azure.eventhub.namespace", "endpoint", False),
                    ConfigKey("spring.cloud.azure.client-id", _CLIENT_ID, False),
                    ConfigKey("spring.cloud.azure.tenant-id", "tenant_id", False),
                    ConfigKey("spring.cloud.azure.client-secret", "client_secret", True),
                    ConfigKey("spring.cloud.azure.eventhubs.namespace", "endpoint", False),
                    ConfigKey("spring.cloud.azure.eventhubs.credential.client-id", _CLIENT_ID, False),
                    ConfigKey("spring.cloud.azure.eventhubs.credential.client-secret", "client_secret", True),
                    ConfigKey("spring.cloud.azure.eventhubs.profile.tenant-id", "tenant_id", False),
                ],
                "kafka-springBoot": [
                    ConfigKey("spring.kafka.bootstrap-servers", "endpoint", False),
                    ConfigKey("spring.kafka.properties.azure.credential.client-id", _CLIENT_ID, False),
                    ConfigKey("spring.kafka.properties.azure.credential.client-secret", "client_secret", True),
                    ConfigKey("spring.kafka.properties.azure.profile.tenant-id", "tenant_id", False),
                ],
            },
        },
        secret_source="messaging",
        roles=["Azure Event Hubs Data Receiver", "Azure Event Hubs Data Sender"],
        firewall="messaging",
        endpoint="{name}.servicebus.windows.net",
    ),
    "servicebus": Target(
        name="servicebus",
        display="Service Bus",
        resource_type="Microsoft.ServiceBus/namespaces",
        api_version="2024-01-01",
        id_template=_rid("Microsoft.ServiceBus/namespaces", "namespace"),
        name_args=[NameArg("namespace", ["--namespace"], "Name of the servicebus namespace.", "MyNamespace")],
        auth_types=_IDENTITY_AUTHS,
        client_types=CLIENT_TYPES_REDIS,
        # Keys: how-to-integrate-service-bus.md.
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_SERVICEBUS_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [ConfigKey("spring.cloud.azure.servicebus.connection-string", "connection_string", True)],
            },
            AUTH_WORKLOAD_IDENTITY: {
                "default": _SERVICEBUS_WI,
                "springBoot": [ConfigKey("spring.cloud.azure.servicebus.namespace", "endpoint", False),
                               ConfigKey("spring.cloud.azure.client-id", _CLIENT_ID, False)],
            },
            AUTH_SERVICE_PRINCIPAL: {
                "default": _SERVICEBUS_SP,
                "springBoot": [ConfigKey("spring.cloud.azure.servicebus.namespace", "endpoint", False),
                               ConfigKey("spring.cloud.azure.client-id", _CLIENT_ID, False),
                               ConfigKey("spring.cloud.azure.tenant-id", "tenant_id", False),
                               ConfigKey("spring.cloud.azure.client-secret", "client_secret", True)],
            },
        },
        secret_source="messaging",
        roles=["Azure Service Bus Data Receiver", "Azure Service Bus Data Sender"],
        firewall="messaging",
        endpoint="{name}.servicebus.windows.net",
    ),
    "confluent-cloud": Target(
        name="confluent-cloud",
        display="Apache Kafka on Confluent Cloud",
        resource_type=None,            # not an Azure resource: nothing to read, no keys API, no firewall
        api_version=None,
        # Not an ARM id: the target is its bootstrap server endpoint (what the built-in sends as
        # targetService {type: ConfluentBootstrapServer, endpoint}), as the built-in's fabric-sql template is
        # an endpoint URL. No resource group.
        id_template="{bootstrap_server}",
        name_args=[NameArg("bootstrap_server", ["--bootstrap-server"],
                           "Kafka bootstrap server url, e.g. pkc-xxxx.eastus.azure.confluent.cloud:9092.",
                           "pkc-xxxx.eastus.azure.confluent.cloud:9092")],
        auth_types=[AUTH_SECRET],
        client_types=["dotnet", "dotnet-internal", "java", "python", "go", "springBoot", "none"],
        # Keys: how-to-integrate-confluent-kafka.md. The built-in records two connections: <name> (type
        # ConfluentBootstrapServer: the KAFKA keys) and <name>_schema (ConfluentSchemaRegistry: the
        # SCHEMAREGISTRY keys).
        config_keys=_secret_only({
            "springBoot": [
                ConfigKey("spring.kafka.properties.bootstrap.servers", "bootstrap_server", False),
                ConfigKey("spring.kafka.properties.sasl.jaas.config",
                          "org.apache.kafka.common.security.plain.PlainLoginModule required "
                          "username='{kafka_key}' password='{kafka_secret}';", True),
                ConfigKey("spring.kafka.properties.schema.registry.url", "schema_registry", False),
                ConfigKey("spring.kafka.properties.schema.registry.basic.auth.user.info",
                          "{schema_key}:{schema_secret}", True),
            ],
            "default": [
                ConfigKey("AZURE_CONFLUENTCLOUDKAFKA_BOOTSTRAPSERVER", "bootstrap_server", False),
                ConfigKey("AZURE_CONFLUENTCLOUDKAFKA_KAFKASASLCONFIG",
                          "org.apache.kafka.common.security.plain.PlainLoginModule required "
                          "username='{kafka_key}' password='{kafka_secret}';", True),
                ConfigKey("AZURE_CONFLUENTCLOUDSCHEMAREGISTRY_URL", "schema_registry", False),
                ConfigKey("AZURE_CONFLUENTCLOUDSCHEMAREGISTRY_USERINFO", "{schema_key}:{schema_secret}", True),
            ],
        }),
        secret_source="none",
        # The built-in's own arguments for this target (all required, with --bootstrap-server), in place
        # of --secret.
        user_values=[
            UserValue("kafka_key", "--kafka-key", None, "Kafka API key (the SASL user name).", False),
            UserValue("kafka_secret", "--kafka-secret", None, "Kafka API secret.", True),
            UserValue("schema_registry", "--schema-registry", None,
                      "Schema registry url, e.g. https://psrc-xxxx.westus2.azure.confluent.cloud.", False),
            UserValue("schema_key", "--schema-key", None, "Schema registry API key.", False),
            UserValue("schema_secret", "--schema-secret", None, "Schema registry API secret.", True),
        ],
        service_type="ConfluentBootstrapServer",
        firewall="no-ip-rules",
    ),
    # ---------------------------------------------------------------- configuration, real-time, AI, monitoring
    "appconfig": Target(
        name="appconfig",
        display="App Configuration",
        resource_type="Microsoft.AppConfiguration/configurationStores",
        api_version="2024-05-01",
        id_template=_rid("Microsoft.AppConfiguration/configurationStores", "config_store"),
        name_args=[NameArg("config_store", ["--app-config"], "Name of the app configuration.", "MyConfigStore")],
        auth_types=_IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "none"],
        # Keys: how-to-integrate-app-configuration.md.
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey("AZURE_APPCONFIGURATION_CONNECTIONSTRING", "connection_string", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _APPCONFIG_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _APPCONFIG_SP},
        },
        secret_source="appconfig",
        roles=["App Configuration Data Reader"],
        firewall="no-ip-rules",
        endpoint="https://{name}.azconfig.io",
    ),
    "signalr": Target(
        name="signalr",
        display="SignalR Service",
        resource_type="Microsoft.SignalRService/SignalR",
        api_version="2024-03-01",
        id_template=_rid("Microsoft.SignalRService/SignalR", "signalr"),
        name_args=[NameArg("signalr", ["--signalr"], "Name of the signalr service.", "MySignalR")],
        auth_types=_IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "none"],
        # Keys: how-to-integrate-signalr.md: one connection string for every auth type.
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey("AZURE_SIGNALR_CONNECTIONSTRING", "connection_string", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": [ConfigKey(
                "AZURE_SIGNALR_CONNECTIONSTRING",
                "Endpoint=https://{host};AuthType=aad;ClientId={client_id};Version=1.0;", False)]},
            AUTH_SERVICE_PRINCIPAL: {"default": [ConfigKey(
                "AZURE_SIGNALR_CONNECTIONSTRING",
                "Endpoint=https://{host};AuthType=aad;ClientId={client_id};ClientSecret={client_secret};"
                "TenantId={tenant_id};Version=1.0;", True)]},
        },
        secret_source="signalr",
        roles=["SignalR Service Owner"],
        firewall="signalr",
        endpoint="{name}.service.signalr.net",
    ),
    "webpubsub": Target(
        name="webpubsub",
        display="Web PubSub",
        resource_type="Microsoft.SignalRService/WebPubSub",
        api_version="2024-03-01",
        id_template=_rid("Microsoft.SignalRService/WebPubSub", "webpubsub"),
        name_args=[NameArg("webpubsub", ["--webpubsub"], "Name of the webpubsub service.", "MyWebPubSub")],
        auth_types=_IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "none"],
        # Keys: how-to-integrate-web-pubsub.md.
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey("AZURE_WEBPUBSUB_CONNECTIONSTRING", "connection_string", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _WEBPUBSUB_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _WEBPUBSUB_SP},
        },
        secret_source="signalr",
        # concept-microsoft-entra-roles.md lists SignalR/Web PubSub Contributor for Web PubSub.
        roles=["SignalR/Web PubSub Contributor"],
        firewall="signalr",
        endpoint="{name}.webpubsub.azure.com",
    ),
    "cognitiveservices": Target(
        name="cognitiveservices",
        display="Azure AI services (Cognitive Services)",
        resource_type="Microsoft.CognitiveServices/accounts",
        api_version="2024-10-01",
        id_template=_rid("Microsoft.CognitiveServices/accounts", "account"),
        name_args=[NameArg("account", ["--account"], "Name of the cognitive services account.", "MyAccount")],
        auth_types=_IDENTITY_AUTHS,
        client_types=["dotnet", "python", "none"],
        # Keys: how-to-integrate-cognitive-services.md (Azure AI multi-service resource).
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey("AZURE_COGNITIVESERVICES_ENDPOINT", "endpoint", False),
                                      ConfigKey("AZURE_COGNITIVESERVICES_KEY", "key", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _COGNITIVE_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _COGNITIVE_SP},
        },
        secret_source="cognitiveservices",
        roles=["Cognitive Services User"],
        firewall="cognitive",
        endpoint="https://{name}.cognitiveservices.azure.com/",
    ),
    "app-insights": Target(
        name="app-insights",
        display="Application Insights",
        resource_type="Microsoft.Insights/components",
        api_version="2020-02-02",
        # The built-in spells the namespace microsoft.insights; ARM ids are case-insensitive.
        id_template=_rid("microsoft.insights/components", "appinsights"),
        name_args=[NameArg("appinsights", ["--app-insights"], "Name of the app insights.", "MyAppInsights")],
        auth_types=[AUTH_SECRET],
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "none"],
        # The variable every Application Insights / Azure Monitor SDK reads. Service Connector has no
        # how-to-integrate page for Application Insights: this name is not confirmed from its docs.
        config_keys=_secret_only({"default": [ConfigKey("APPLICATIONINSIGHTS_CONNECTION_STRING", "connection_string",
                                                        True)]}),
        secret_source="app-insights",
        secret_in_resource=True,
        firewall="no-ip-rules",
    ),
}

# Auth types the provider layer implements today; an auth type of the table that is not here is
# not offered as an argument (so nobody can call a half-built path).
IMPLEMENTED_AUTH = (AUTH_SECRET, AUTH_WORKLOAD_IDENTITY, AUTH_SERVICE_PRINCIPAL)


def auth_of(connection):
    """The AUTH_* of a connection record or LinkerResource: Key Vault CSI and workload identity are both
    userAssignedIdentity on the wire; CSI is told apart by its target's connectAsKubernetesCsiDriver."""
    if ((connection.get("targetService") or {}).get("resourceProperties") or {}).get("connectAsKubernetesCsiDriver"):
        return AUTH_CSI
    wire = (connection.get("authInfo") or {}).get("authType")
    return {v: k for k, v in WIRE_AUTH_TYPE.items() if k != AUTH_CSI}.get(wire, AUTH_SECRET)


def target_of_resource_id(resource_id):
    """The table's target name for an ARM target id (a Service Connector linker's targetService.id), or None."""
    import re
    best, best_length = None, -1          # the most specific template that matches
    for name, target in TARGETS.items():
        template = target.id_template or ""
        if not template.startswith("/subscriptions/"):
            continue
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + r"\Z"
        if re.match(pattern, resource_id or "", re.IGNORECASE) and len(template) > best_length:
            best, best_length = name, len(template)
    return best


def offered_auth_types(target):
    return [a for a in target.auth_types if a in IMPLEMENTED_AUTH]


def default_auth_type(target):
    """The auth used when none is given: the first one that needs no value from the user (the secret the
    target gives). None when every auth type needs a value (an identity, a service principal, or a secret
    the user passes with --secret KEY=VALUE). Confluent Cloud's values come with their own options, so
    its secret auth is implied."""
    offered = offered_auth_types(target)
    if AUTH_SECRET not in offered or any(v.option == "--secret" for v in target.user_values):
        return None
    return AUTH_SECRET


# --------------------------------------------------------------------------- configuration values

class _ValueFormatter(string.Formatter):
    """str.format with quoting conversions that leave a value alone unless it needs quoting."""

    def convert_field(self, value, conversion):  # pylint: disable=too-many-return-statements  # one per conversion
        value = "" if value is None else str(value)
        if conversion == "u":                    # URL query / userinfo component
            return quote(value, safe="")
        if conversion == "q":                    # libpq keyword=value (psycopg, lib/pq, PHP pg, ruby-pg)
            if value and not any(c in value for c in " \t\n'\\"):
                return value
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        if conversion == "c":                    # ADO.NET / ODBC / go-mssqldb key=value;
            if value == value.strip() and not any(c in value for c in ';"\'{}='):
                return value
            return '"' + value.replace('"', '""') + '"'
        if conversion == "b":                    # JDBC SQL Server: {value} with } doubled
            if not any(c in value for c in ";{}="):
                return value
            return "{" + value.replace("}", "}}") + "}"
        return super().convert_field(value, conversion)


_FORMATTER = _ValueFormatter()


def fields_of(field):
    """The value names a ConfigKey field reads: [] for a literal, [field] for a plain field, the
    placeholders of a template."""
    if field.startswith("="):
        return []
    if "{" not in field:
        return [field]
    return [name for _, name, _, _ in _FORMATTER.parse(field) if name]


def config_value(key, values):
    """The value of ConfigKey ``key`` from ``values`` (fetcher output, target id fields, auth and user
    values). KeyError names the missing field."""
    field = key.field
    if field.startswith("="):
        return field[1:]
    if "{" not in field:
        return values[field]
    missing = [f for f in fields_of(field) if f not in values]
    if missing:
        raise KeyError(f"{key.key}: no value for {', '.join(missing)}")
    return _FORMATTER.vformat(field, (), values)


def configurations(target, auth, client_type, values):
    """[{name, value, credential}] of the target's keys for (auth, client type), values filled in."""
    return [{"name": k.key, "value": config_value(k, values), "credential": k.credential}
            for k in target.keys_for(auth, client_type)]
