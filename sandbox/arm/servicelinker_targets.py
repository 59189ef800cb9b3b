# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The targets of the sandbox's Service Connector RP (sandbox/arm/servicelinker.py), the built-in's 27 for AKS: what
the service writes for each, per auth type. The sandbox's own table, from Microsoft's docs (MicrosoftDocs azure-docs
``articles/service-connector/how-to-integrate-*.md``: "Default environment variable names") and recordings, never
from the extension's table, so that the two can disagree.

A record: ``name``, ``prefix`` (of the keys), ``kind``, ``roles`` (the defaults Service Connector grants,
concept-microsoft-entra-roles.md), ``auth`` (authInfo.authType values emulated), ``suffix`` (a child of the resource
holding keys / roles; ``depth``: instead, the first ``depth`` levels of the target id),
``values(state, resource, auth_type, client_type, link) -> {key suffix: value}`` (``link``: the linker's
``props``, the user's ``user`` and ``password`` for the targets whose secret is the user's) and ``keys``
({authType: [key suffixes in order]}), or ``pairs(spec, values, client_type, auth_type) -> [(name, value)]`` where
the keys depend on the client type. ``CLIENTID``, ``TENANTID`` and ``CLIENTSECRET`` are filled by the RP. Flags:
``user_secret`` (secret auth carries the user's name and secret), ``unchecked`` (the target id is not read: the
built-in's placeholder ids of the partners), ``no_resource`` (no ARM resource: keyed by the targetService type),
``redis_access`` (an access policy instead of a role), ``pseudo_child`` (the id's last level is no ARM resource).
The databases and partners are in servicelinker_databases.py.
"""
from sandbox.arm import common, servicelinker_databases

SUPPORTED_AUTH = ("secret", "userAssignedIdentity", "servicePrincipalSecret")
CREDENTIAL_NAMES = ("CONNECTIONSTRING", "CLIENTSECRET", "ACCOUNTKEY", "PASSWORD", "KAFKASASLCONFIG", "USERINFO")
# Spring properties holding a credential
CREDENTIAL_PROPERTIES = ("account-key", ".password", "jaas.config", "user.info", "mongodb.uri")


def _messaging_values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
    """Service Bus / Event Hubs: the namespace's FQDN (no scheme, no port: a real linker's configurations show
    ``<ns>.servicebus.windows.net``) and, for secret auth, the root rule's connection string."""
    fqdn = f"{resource['name']}.servicebus.windows.net"
    out = {"FULLYQUALIFIEDNAMESPACE": fqdn}
    if auth_type == "secret":
        keys = state.meta_of(f"{resource['id']}/authorizationRules/RootManageSharedAccessKey").get("keys") or [""]
        out["CONNECTIONSTRING"] = (f"Endpoint=sb://{fqdn}/;SharedAccessKeyName=RootManageSharedAccessKey;"
                                   f"SharedAccessKey={keys[0]}")
    return out


def _appconfig_values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
    """App Configuration (how-to-integrate-app-configuration): the endpoint; secret: the first read-write key's
    connection string ``Endpoint=…;Id=…;Secret=…``."""
    endpoint = (resource.get("properties") or {}).get("endpoint") or f"https://{resource['name']}.azconfig.io"
    out = {"ENDPOINT": endpoint}
    if auth_type == "secret":
        key = next((k for k in state.meta_of(resource["id"]).get("keys") or [] if not k.get("readOnly")), {})
        out["CONNECTIONSTRING"] = f"Endpoint={endpoint};Id={key.get('id', '')};Secret={key.get('value', '')}"
    return out


def _cognitive_values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
    """Azure AI services (how-to-integrate-cognitive-services): the endpoint; secret: it and key1."""
    endpoint = (resource.get("properties") or {}).get("endpoint") or \
        f"https://{resource['name']}.cognitiveservices.azure.com/"
    out = {"ENDPOINT": endpoint}
    if auth_type == "secret":
        out["KEY"] = (state.meta_of(resource["id"]).get("keys") or {}).get("key1", "")
    return out


def _signalr_values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
    """SignalR (how-to-integrate-signalr): one connection string for every auth type; with an identity it names the
    client (``AuthType=aad;ClientId=…``), with a service principal its secret and tenant too. The RP fills in the
    identity's values (``{CLIENTID}`` …) after this."""
    host = (resource.get("properties") or {}).get("hostName") or f"{resource['name']}.service.signalr.net"
    if auth_type == "secret":
        keys = state.meta_of(resource["id"]).get("keys") or [""]
        return {"CONNECTIONSTRING": f"Endpoint=https://{host};AccessKey={keys[0]};Version=1.0;"}
    if auth_type == "servicePrincipalSecret":
        return {"CONNECTIONSTRING": f"Endpoint=https://{host};AuthType=aad;ClientId={{CLIENTID}};"
                                    "ClientSecret={CLIENTSECRET};TenantId={TENANTID};Version=1.0;"}
    return {"CONNECTIONSTRING": f"Endpoint=https://{host};AuthType=aad;ClientId={{CLIENTID}};Version=1.0;"}


def _webpubsub_values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
    """Web PubSub (how-to-integrate-web-pubsub): the host; secret: its connection string."""
    host = (resource.get("properties") or {}).get("hostName") or f"{resource['name']}.webpubsub.azure.com"
    out = {"HOST": host}
    if auth_type == "secret":
        keys = state.meta_of(resource["id"]).get("keys") or [""]
        out["CONNECTIONSTRING"] = f"Endpoint=https://{host};AccessKey={keys[0]};Version=1.0;"
    return out


def _cosmos_values(kind):
    """Cosmos DB for NoSQL / MongoDB / Table (how-to-integrate-cosmos-sql / -db / -table): with an identity the URL
    of the account's listConnectionStrings, the ARM scope and the document endpoint; secret: the account's primary
    connection string of the API (SQL ``AccountEndpoint=…``, ``mongodb://…``, the Table one)."""
    def values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
        from sandbox.arm import documentdb
        name = resource["name"]
        out = {"LISTCONNECTIONSTRINGURL": f"https://management.azure.com{resource['id']}/listConnectionStrings"
                                          "?api-version=2021-04-15",
               "SCOPE": "https://management.azure.com/.default",
               "RESOURCEENDPOINT": f"https://{name}.documents.azure.com:443/"}
        if auth_type == "secret":
            strings = documentdb.connection_strings(name, documentdb.api_of(resource),
                                                    state.meta_of(resource["id"]).get("keys") or {})
            want = {"sql": "Sql", "mongo": "MongoDB", "table": "Table"}[kind]
            out["CONNECTIONSTRING"] = next((c["connectionString"] for c in strings if c["type"] == want), "")
        return out
    return values


def _cosmos_key_values(kind):
    """Cosmos DB for Apache Cassandra / for Apache Gremlin (how-to-integrate-cosmos-cassandra / -gremlin): with an
    identity the URL of the account's listKeys (the app reads the key with its token), the ARM scope, the document
    endpoint and the API's own endpoint; secret: the API's endpoint, user name and the account's primary key.
    Cassandra: contact point ``<account>.cassandra.cosmos.azure.com``, port 10350, the keyspace, the account as
    user name. Gremlin: host ``<account>.gremlin.cosmos.azure.com``, port 443, user name
    ``/dbs/<database>/colls/<graph>``."""
    def values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
        name = resource["name"]
        parts = (link["props"]["targetService"].get("id") or "").split("/")
        out = {"LISTKEYURL": f"https://management.azure.com{resource['id']}/listKeys?api-version=2021-04-15",
               "SCOPE": "https://management.azure.com/.default",
               "RESOURCEENDPOINT": f"https://{name}.documents.azure.com:443/",
               "PASSWORD": (state.meta_of(resource["id"]).get("keys") or {}).get("primaryMasterKey", "")}
        if kind == "cassandra":
            out.update(CONTACTPOINT=f"{name}.cassandra.cosmos.azure.com", PORT="10350", KEYSPACE=parts[-1],
                       USERNAME=name)
        else:
            out.update(HOSTNAME=f"{name}.gremlin.cosmos.azure.com", PORT="443",
                       USERNAME=f"/dbs/{parts[-3]}/colls/{parts[-1]}")
        return out
    return values


def _redis_values(state, resource, auth_type, client_type, link):
    """Azure Cache for Redis (how-to-integrate-redis-cache): the host; secret: the client library's connection
    string (StackExchange.Redis for .NET, a ``rediss://`` URL for the others)."""
    host = (resource.get("properties") or {}).get("hostName") or f"{resource['name']}.redis.cache.windows.net"
    out = {"HOST": host}
    if auth_type == "secret":
        key = (state.meta_of(resource["id"]).get("keys") or {}).get("primaryKey", "")
        out["CONNECTIONSTRING"] = f"{host}:6380,password={key},ssl=True,defaultDatabase=0" \
            if client_type in ("dotnet", "dotnet-connectionstring") else f"rediss://:{key}@{host}:6380/0"
    return out


def _redis_enterprise_values(state, resource, auth_type, client_type, link):
    """Azure Managed Redis / Redis Enterprise (how-to-integrate-redis-cache, the Enterprise tier): the database's
    connection string on the cluster's host and the database's port (the cache tier's formats, at that port)."""
    cluster = state.raw(resource["id"].rsplit("/databases/", 1)[0]) or {"properties": {}}
    host = cluster["properties"].get("hostName") or ""
    port = (resource.get("properties") or {}).get("port") or 10000
    key = (state.meta_of(resource["id"]).get("keys") or {}).get("primaryKey", "")
    conn = f"{host}:{port},password={key},ssl=True,defaultDatabase=0" \
        if client_type in ("dotnet", "dotnet-connectionstring") else f"rediss://:{key}@{host}:{port}/0"
    return {"CONNECTIONSTRING": conn}


def _insights_values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
    """Application Insights (how-to-integrate-app-insights): the component's connection string."""
    return {"CONNECTION_STRING": (resource.get("properties") or {}).get("ConnectionString") or ""}


def _identity_keys(primary, secret_keys):
    return {"secret": secret_keys, "userAssignedIdentity": [primary, "CLIENTID"],
            "servicePrincipalSecret": [primary, "CLIENTID", "CLIENTSECRET", "TENANTID"]}


def more_targets(supported_auth):
    """{lower-case full type of the target id: record} of the targets beyond storage and Key Vault."""
    out = {
        # how-to-integrate-service-bus; a real linker's configurations (UAMI): FULLYQUALIFIEDNAMESPACE, CLIENTID
        "microsoft.servicebus/namespaces": {
            "name": "servicebus", "prefix": "AZURE_SERVICEBUS", "kind": "messaging", "suffix": "",
            "roles": ["Azure Service Bus Data Owner"], "auth": supported_auth, "values": _messaging_values,
            "keys": _identity_keys("FULLYQUALIFIEDNAMESPACE", ["CONNECTIONSTRING"])},
        # how-to-integrate-event-hubs
        "microsoft.eventhub/namespaces": {
            "name": "eventhub", "prefix": "AZURE_EVENTHUB", "kind": "messaging", "suffix": "",
            "roles": ["Azure Event Hubs Data Owner"], "auth": supported_auth, "values": _messaging_values,
            "keys": _identity_keys("FULLYQUALIFIEDNAMESPACE", ["CONNECTIONSTRING"])},
        # how-to-integrate-app-configuration
        "microsoft.appconfiguration/configurationstores": {
            "name": "appconfig", "prefix": "AZURE_APPCONFIGURATION", "kind": "appconfig", "suffix": "",
            "roles": ["App Configuration Data Reader"], "auth": supported_auth, "values": _appconfig_values,
            "keys": _identity_keys("ENDPOINT", ["CONNECTIONSTRING"])},
        # how-to-integrate-cognitive-services
        "microsoft.cognitiveservices/accounts": {
            "name": "cognitiveservices", "prefix": "AZURE_COGNITIVESERVICES", "kind": "cognitive", "suffix": "",
            "roles": ["Cognitive Services User"], "auth": supported_auth, "values": _cognitive_values,
            "keys": _identity_keys("ENDPOINT", ["ENDPOINT", "KEY"])},
        # how-to-integrate-web-pubsub
        "microsoft.signalrservice/webpubsub": {
            "name": "webpubsub", "prefix": "AZURE_WEBPUBSUB", "kind": "webpubsub", "suffix": "",
            "roles": ["SignalR/Web PubSub Contributor"], "auth": supported_auth, "values": _webpubsub_values,
            "keys": _identity_keys("HOST", ["CONNECTIONSTRING"])},
        # how-to-integrate-signalr
        "microsoft.signalrservice/signalr": {
            "name": "signalr", "prefix": "AZURE_SIGNALR", "kind": "signalr", "suffix": "",
            "roles": ["SignalR Service Owner"], "auth": supported_auth, "values": _signalr_values,
            "keys": {a: ["CONNECTIONSTRING"] for a in supported_auth}},
    }
    # how-to-integrate-redis-cache: secret for every client; workload identity (HOST, CLIENTID) and service
    # principal with Microsoft Entra authentication: no Azure role but a Redis access policy ("redis_access":
    # servicelinker_provision.py).
    out["microsoft.cache/redis/databases"] = {
        "name": "redis", "prefix": "AZURE_REDIS", "kind": "redis", "suffix": "", "depth": 1, "roles": [],
        "pseudo_child": True,      # databases/0 names the cache's database 0: no ARM resource of its own
        "redis_access": "Data Owner", "auth": supported_auth, "values": _redis_values,
        "keys": _identity_keys("HOST", ["CONNECTIONSTRING"])}
    out["microsoft.cache/redisenterprise/databases"] = {
        "name": "redis-enterprise", "prefix": "AZURE_REDIS", "kind": "redis", "suffix": "", "roles": [],
        "auth": ("secret",), "values": _redis_enterprise_values, "keys": {"secret": ["CONNECTIONSTRING"]}}
    # how-to-integrate-app-insights: secret only, one key for every client type
    out["microsoft.insights/components"] = {
        "name": "app-insights", "prefix": "APPLICATIONINSIGHTS", "kind": "insights", "suffix": "", "roles": [],
        "auth": ("secret",), "values": _insights_values, "keys": {"secret": ["CONNECTION_STRING"]}}
    cosmos_keys = {"secret": ["CONNECTIONSTRING"],
                   "userAssignedIdentity": ["LISTCONNECTIONSTRINGURL", "SCOPE", "RESOURCEENDPOINT", "CLIENTID"],
                   "servicePrincipalSecret": ["LISTCONNECTIONSTRINGURL", "SCOPE", "RESOURCEENDPOINT", "CLIENTID",
                                              "CLIENTSECRET", "TENANTID"]}
    for child, kind in (("sqldatabases", "sql"), ("mongodbdatabases", "mongo"), ("tables", "table")):
        out[f"microsoft.documentdb/databaseaccounts/{child}"] = {
            "name": f"cosmos-{kind}", "prefix": "AZURE_COSMOS", "kind": "cosmos", "suffix": "", "depth": 1,
            "roles": ["DocumentDB Account Contributor"], "auth": supported_auth, "values": _cosmos_values(kind),
            "keys": cosmos_keys}
    for child, kind, api_keys in (
            ("cassandrakeyspaces", "cassandra", ["CONTACTPOINT", "KEYSPACE", "PORT", "USERNAME"]),
            ("gremlindatabases/graphs", "gremlin", ["HOSTNAME", "PORT", "USERNAME"])):
        ident = ["LISTKEYURL", "SCOPE", "RESOURCEENDPOINT"] + api_keys
        out[f"microsoft.documentdb/databaseaccounts/{child}"] = {
            "name": f"cosmos-{kind}", "prefix": "AZURE_COSMOS", "kind": "cosmos", "suffix": "", "depth": 1,
            "roles": ["DocumentDB Account Contributor"], "auth": supported_auth, "values": _cosmos_key_values(kind),
            "keys": {"secret": api_keys + ["PASSWORD"], "userAssignedIdentity": ident + ["CLIENTID"],
                     "servicePrincipalSecret": ident + ["CLIENTID", "CLIENTSECRET", "TENANTID"]}}
    out.update(servicelinker_databases.database_targets())
    return out


def _storage_values(service):
    def values(state, resource, auth_type, client_type, link):
        props = resource.get("properties") or {}
        endpoint = (props.get("primaryEndpoints") or {}).get(service) or \
            f"https://{resource['name']}.{service}.core.windows.net/"
        out = {"RESOURCEENDPOINT": endpoint, "_endpoint": endpoint}
        if auth_type == "secret":
            key = ((state.meta_of(resource["id"]).get("keys") or [{}])[0]).get("value") or ""
            if endpoint.startswith(f"https://{resource['name']}.{service}.core.windows.net"):
                conn = (f"DefaultEndpointsProtocol=https;AccountName={resource['name']};AccountKey={key};"
                        "EndpointSuffix=core.windows.net")
            else:      # Azurite / a sovereign cloud: name the endpoint
                scheme = "http" if endpoint.startswith("http://") else "https"
                conn = (f"DefaultEndpointsProtocol={scheme};AccountName={resource['name']};AccountKey={key};"
                        f"{service.capitalize()}Endpoint={endpoint}")
            out.update(CONNECTIONSTRING=conn, _account=resource["name"], _key=key)
        return out
    return values


def _vault_values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
    uri = (resource.get("properties") or {}).get("vaultUri") or f"https://{resource['name']}.vault.azure.net/"
    return {"RESOURCEENDPOINT": uri, "SCOPE": "https://management.azure.com/.default"}


def _springboot_blob(v):
    return [("azure.storage.account-name", v["_account"]), ("azure.storage.account-key", v["_key"]),
            ("azure.storage.blob-endpoint", v["_endpoint"]),
            ("spring.cloud.azure.storage.blob.account-name", v["_account"]),
            ("spring.cloud.azure.storage.blob.account-key", v["_key"]),
            ("spring.cloud.azure.storage.blob.endpoint", v["_endpoint"])]


def _storage_target(name, service, roles, auth):
    return {"name": name, "prefix": f"AZURE_STORAGE{service.upper()}", "kind": "storage", "roles": roles,
            "auth": auth, "suffix": f"/{service}Services/default", "values": _storage_values(service),
            # key order per auth type (reference §6)
            "keys": {"secret": ["CONNECTIONSTRING"], "userAssignedIdentity": ["RESOURCEENDPOINT", "CLIENTID"],
                     "servicePrincipalSecret": ["RESOURCEENDPOINT", "CLIENTID", "CLIENTSECRET", "TENANTID"]}}


# lower-case full type of the target id -> what Service Connector does for it. The sandbox's own table, from
# Microsoft's docs and recordings, never from the extension's (so that the two can disagree).
TARGETS = {
    "microsoft.storage/storageaccounts/blobservices": dict(
        _storage_target("storage-blob", "blob", ["Storage Blob Data Contributor"], SUPPORTED_AUTH),
        springboot=_springboot_blob),
    "microsoft.storage/storageaccounts/queueservices":
        _storage_target("storage-queue", "queue", ["Storage Queue Data Contributor"], SUPPORTED_AUTH),
    "microsoft.storage/storageaccounts/tableservices":
        _storage_target("storage-table", "table", ["Storage Table Data Contributor"], SUPPORTED_AUTH),
    "microsoft.storage/storageaccounts/fileservices":
        _storage_target("storage-file", "file", [], ("secret",)),
    "microsoft.keyvault/vaults": {
        "name": "keyvault", "prefix": "AZURE_KEYVAULT", "kind": "keyvault", "suffix": "",
        "roles": ["Key Vault Secrets User", "Key Vault Certificate User"],
        "auth": ("userAssignedIdentity", "servicePrincipalSecret"), "values": _vault_values,
        "keys": {"userAssignedIdentity": ["SCOPE", "RESOURCEENDPOINT", "CLIENTID"],
                 "csi": ["RESOURCEENDPOINT", "CLIENTID", "SCOPE"],
                 "servicePrincipalSecret": ["RESOURCEENDPOINT", "CLIENTID", "CLIENTSECRET", "TENANTID"]}},
}
TARGETS.update(more_targets(SUPPORTED_AUTH))


def target_of(target_id):
    """(spec, ARM id of the resource holding keys / roles / firewall) of a target id, or (None, None)."""
    ref = common.parse_path(target_id or "")
    if ref is None or not ref.is_resource:
        return None, None
    spec = TARGETS.get(ref.full_type.lower())
    if spec is None:
        return None, None
    if spec.get("depth"):      # a child target (a Cosmos DB database): keys and roles are its account's
        return spec, common.ResourceRef(ref.subscription, ref.resource_group, ref.scope, ref.namespace,
                                        ref.types[:spec["depth"]], ref.names[:spec["depth"]], None).id
    rid = ref.id[:-len(spec["suffix"])] if spec["suffix"] and ref.id.lower().endswith(spec["suffix"].lower()) \
        else ref.id
    return spec, rid


def target_of_service(target_service):
    """(spec, ARM id of the resource or None) of a linker's targetService: an AzureResource by its id, a target
    with no ARM resource (Confluent's) by its type; (None, None) when not emulated."""
    target_service = target_service or {}
    if (target_service.get("type") or "") == "AzureResource":
        return target_of(target_service.get("id"))
    spec = TARGETS.get((target_service.get("type") or "").lower())
    return (spec, None) if spec is not None and spec.get("no_resource") else (None, None)


def emulated_targets():
    return sorted({t["name"].split(" ")[0] for t in TARGETS.values()})


def is_credential(name):
    """A configuration whose value is a credential: list-configuration answers "" for it (Service Connector for
    AKS); its default name's last part says so."""
    return name.split("_")[-1] in CREDENTIAL_NAMES or name.endswith(CREDENTIAL_PROPERTIES)
