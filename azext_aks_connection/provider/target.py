"""Target operations driven by targets.py: read the target, fetch its configuration values.

Fetchers: ``fetch(arm, target, target_id, resource GET body, with_secret) -> {field: value}``. With
``with_secret=False`` (identity auth) a fetcher calls no keys API and returns no credential: the identity,
not a key, is what the workload uses. Every credential a fetcher returns (a key, a connection string
holding one) is returned only with ``with_secret=True``; targets.py's ``credential`` flags rely on that.

Fields each fetcher returns (besides the target id's own fields, added by :func:`fetch_values`):

  storage:<service>   account_name, endpoint                | secret: connection_string, account_key
  keyvault            name, endpoint, vault_tenant_id
  cosmos:<api>        name, endpoint, list_connection_strings_url, list_keys_url, location_name,
                      contact_point (cassandra), gremlin_host (gremlin), table_endpoint (table)
                                                            | secret: key; mongo: connection_string
  messaging           name, endpoint (the fully qualified namespace) | secret: connection_string
  redis               host, port (TLS)                      | secret: key
  redis-enterprise    host, port, database ("0")            | secret: key
  appconfig           endpoint                              | secret: connection_string
  signalr             host                                  | secret: connection_string
  cognitiveservices   endpoint                              | secret: key
  app-insights        name                                  | secret: connection_string
  database-server     host (fully qualified domain name)
  arm-resource        name (Neon, MongoDB Atlas: the secret is the user's)
  none                nothing (Confluent Cloud: no Azure resource)
"""
from urllib.parse import urlparse

from azext_aks_connection.provider.arm import ArmError
from azext_aks_connection.provider.errors import arm_error

# api-version of the listConnectionStrings / listKeys URL Service Connector writes for Cosmos DB identity
# connections (how-to-integrate-cosmos-*.md: AZURE_COSMOS_LISTCONNECTIONSTRINGURL / _LISTKEYURL).
COSMOS_LIST_API_VERSION = "2021-04-15"


def resource_id(target, target_id):
    """The ARM resource that holds keys and firewall rules: the first ``N`` type/name pairs after the
    target id's provider namespace, N being the number of types in ``target.resource_type`` (the storage
    account of a blob target, the server of a database, the account of a Cosmos DB database). None for a
    target that is not an ARM resource."""
    if not target.resource_type or not target_id:
        return None
    if target.resource_suffix and target_id.lower().endswith(target.resource_suffix.lower()):
        return target_id[:-len(target.resource_suffix)]
    parts = target_id.rstrip("/").split("/")
    providers = [i for i, p in enumerate(parts) if p.lower() == "providers"]
    if not providers:
        return target_id
    depth = target.resource_type.count("/")
    return "/".join(parts[:providers[-1] + 2 + 2 * depth])


def get_target(arm, target, target_id):
    """The resource holding keys and firewall rules (GET body). A target id naming a child of it (a database,
    a Cosmos DB keyspace, graph or table) is read too: a child that does not exist, or one of another API
    (a sqlDatabases id on a MongoDB account), is refused here, before anything is written."""
    rid = resource_id(target, target_id)
    if rid is None:
        return {}
    try:  # raw: a generic call by id with the target's api-version (targets.py), as every target call here
        body = arm.send("GET", rid, target.api_version, secret=target.secret_in_resource)[1]
    except ArmError as exc:
        raise arm_error(exc, f"Reading the {target.display} target '{rid}'") from exc
    if target_id.rstrip("/").lower() != rid.lower() and not target.resource_suffix and not target.logical_child \
            and target.secret_source != "redis-enterprise":          # (its fetcher reads the database)
        try:  # raw: a generic call by id with the target's api-version (targets.py)
            arm.get(target_id, target.api_version)
        except ArmError as exc:
            raise arm_error(exc, f"Reading the {target.display} target '{target_id}'") from exc
    return body


def _post(arm, rid, action, target, what, *, body=None):
    """A keys action on ``rid`` (its answer holds credentials: kept out of the debug log)."""
    try:  # raw: a generic call by id with the target's api-version (targets.py)
        return arm.post(rid, action, target.api_version, body=body, secret=True) or {}
    except ArmError as exc:
        raise arm_error(exc, what) from exc


def _props(resource):
    return (resource or {}).get("properties") or {}


# Key (local) auth switched off on a target, by fetcher: (property, value meaning "off", how the portal names it).
# Azure still answers listKeys on such a resource, but its data plane refuses every key: a --secret connection
# would be written and never work.
KEY_AUTH_OFF = {
    "storage": ("allowSharedKeyAccess", False, "shared key access is disabled"),
    "cosmos": ("disableLocalAuth", True, "local (key) authentication is disabled"),
    "messaging": ("disableLocalAuth", True, "local (SAS key) authentication is disabled"),
    "redis": ("disableAccessKeyAuthentication", True, "access key authentication is disabled"),
    "appconfig": ("disableLocalAuth", True, "local auth is disabled"),
    "signalr": ("disableLocalAuth", True, "local auth is disabled"),
    "cognitiveservices": ("disableLocalAuth", True, "local auth is disabled"),
}


def key_auth_off(target, resource):
    """(property, value) when the target's keys are switched off, else None."""
    rule = KEY_AUTH_OFF.get(target.secret_source) or KEY_AUTH_OFF.get(target.secret_source.split(":")[0])
    if rule and _props(resource).get(rule[0]) is rule[1]:
        return rule
    return None


def refuse_key_auth_disabled(target, resource, auth="secret"):
    """Secret auth on a resource whose keys are switched off cannot work: refused before anything is written."""
    rule = key_auth_off(target, resource) if auth == "secret" else None
    if rule is None:
        return
    from azure.cli.core.azclierror import ValidationError
    prop, value, said = rule
    raise ValidationError(
        f"Secret as auth type is not allowed: {said} for the {target.display} '{resource.get('name')}' "
        f"({prop}: {str(value).lower()}), so its data plane refuses every key.",
        recommendation="Use --workload-identity (or --service-principal) instead of --secret; or allow key auth on "
        f"'{resource.get('name')}' ({prop}: {str(not value).lower()}) if your policy permits it.")


def _management_base(arm):
    # The ARM endpoint of the cloud az is logged in to (Arm keeps it to resolve ids); Cosmos DB identity
    # connections carry a management URL the workload calls.
    return getattr(arm, "_base", None) or "https://management.azure.com"


def _storage(service):
    def fetch(arm, target, target_id, resource, with_secret):
        rid = resource_id(target, target_id)
        endpoints = _props(resource).get("primaryEndpoints") or {}
        endpoint = endpoints.get(service) or f"https://{resource['name']}.{service}.core.windows.net/"
        values = {"account_name": resource["name"], "endpoint": endpoint}
        if not with_secret:
            return values
        keys = _post(arm, rid, "listKeys", target,
                     f"Listing the keys of storage account '{resource['name']}'").get("keys") or []
        key = keys[0]["value"]
        scheme = "http" if endpoint.startswith("http://") else "https"
        # Name the service endpoint explicitly: right for every cloud, sovereign or local (Azurite).
        conn = (f"DefaultEndpointsProtocol={scheme};AccountName={resource['name']};AccountKey={key};"
                f"{service.capitalize()}Endpoint={endpoint}")
        values.update(connection_string=conn, account_key=key)
        return values
    return fetch


def _keyvault(arm, target, target_id, resource, with_secret):  # pylint: disable=unused-argument
    """A vault has no key to hand out: its endpoint and name are all a client needs besides an identity."""
    props = resource.get("properties") or {}
    return {"name": resource["name"],
            "endpoint": props.get("vaultUri") or f"https://{resource['name']}.vault.azure.net/",
            "vault_tenant_id": props.get("tenantId")}


def _cosmos(api):
    """Cosmos DB account of API ``api`` (sql, mongo, cassandra, gremlin, table). The API endpoints are the
    account's DNS name under the API's zone in the account's cloud (documents.azure.com ->
    cassandra.cosmos.azure.com)."""
    def fetch(arm, target, target_id, resource, with_secret):
        rid = resource_id(target, target_id)
        props, name = _props(resource), resource["name"]
        endpoint = props.get("documentEndpoint") or f"https://{name}.documents.azure.com:443/"
        host = urlparse(endpoint).hostname or ""
        zone = host.split(".documents.", 1)[1] if ".documents." in host else "azure.com"
        base = _management_base(arm)
        locations = props.get("writeLocations") or props.get("locations") or []
        query = f"?api-version={COSMOS_LIST_API_VERSION}"
        values = {"name": name, "endpoint": endpoint,
                  "list_connection_strings_url": f"{base}{rid}/listConnectionStrings{query}",
                  "list_keys_url": f"{base}{rid}/listKeys{query}",
                  "location_name": (locations[0].get("locationName") if locations else None)
                  or resource.get("location")}
        if api == "cassandra":
            values["contact_point"] = f"{name}.cassandra.cosmos.{zone}"
        elif api == "gremlin":
            values["gremlin_host"] = f"{name}.gremlin.cosmos.{zone}"
        elif api == "table":
            values["table_endpoint"] = f"https://{name}.table.cosmos.{zone}:443/"
        if not with_secret:
            return values
        if api == "mongo":
            strings = _post(arm, rid, "listConnectionStrings", target,
                            f"Listing the connection strings of Cosmos DB account '{name}'")
            strings = strings.get("connectionStrings") or []
            primary = [s for s in strings if "primary" in (s.get("description") or "").lower()
                       and "mongo" in (s.get("description") or "").lower()]
            values["connection_string"] = (primary or strings)[0]["connectionString"]
        else:
            keys = _post(arm, rid, "listKeys", target, f"Listing the keys of Cosmos DB account '{name}'")
            values["key"] = keys["primaryMasterKey"]
        return values
    return fetch


def _messaging(arm, target, target_id, resource, with_secret):
    """Service Bus / Event Hubs namespace: its fully qualified name; the RootManageSharedAccessKey rule's
    primary connection string (the rule every namespace has)."""
    rid = resource_id(target, target_id)
    name = resource["name"]
    sb_endpoint = _props(resource).get("serviceBusEndpoint") or f"https://{name}.servicebus.windows.net:443/"
    values = {"name": name, "endpoint": urlparse(sb_endpoint).hostname}
    if with_secret:
        keys = _post(arm, rid + "/authorizationRules/RootManageSharedAccessKey", "listKeys", target,
                     f"Listing the keys of {target.display} namespace '{name}'")
        values["connection_string"] = keys["primaryConnectionString"]
    return values


def _redis(arm, target, target_id, resource, with_secret):
    rid = resource_id(target, target_id)
    props = _props(resource)
    values = {"host": props.get("hostName") or f"{resource['name']}.redis.cache.windows.net",
              "port": str(props.get("sslPort") or 6380)}
    if with_secret:
        values["key"] = _post(arm, rid, "listKeys", target,
                              f"Listing the keys of Redis cache '{resource['name']}'")["primaryKey"]
    return values


def _redis_enterprise(arm, target, target_id, resource, with_secret):
    """Host from the cluster, port from the database (target id); keys belong to the database. Redis
    Enterprise serves logical database 0 only, whatever the ARM database is named."""
    try:  # raw: a generic call by id with the target's api-version (targets.py)
        database = arm.get(target_id, target.api_version)
    except ArmError as exc:
        raise arm_error(exc, f"Reading the Redis Enterprise database '{target_id}'") from exc
    values = {"host": _props(resource).get("hostName"), "port": str(_props(database).get("port") or 10000),
              "database": "0"}
    if with_secret:
        values["key"] = _post(arm, target_id, "listKeys", target,
                              f"Listing the keys of Redis Enterprise database '{target_id}'")["primaryKey"]
    return values


def _appconfig(arm, target, target_id, resource, with_secret):
    rid = resource_id(target, target_id)
    values = {"endpoint": _props(resource).get("endpoint") or f"https://{resource['name']}.azconfig.io"}
    if with_secret:
        keys = _post(arm, rid, "listKeys", target,
                     f"Listing the access keys of App Configuration store '{resource['name']}'").get("value") or []
        writable = [k for k in keys if not k.get("readOnly")]
        values["connection_string"] = (writable or keys)[0]["connectionString"]
    return values


def _endpoint_and_key(arm, target, target_id, resource, with_secret, *, names, what):
    """An endpoint from the resource (else the target's template) and, with the secret, one field of listKeys.
    ``names``: (the endpoint's property, its value's name, the listKeys field, the secret value's name)."""
    prop, endpoint_name, key_field, secret_name = names
    values = {endpoint_name: _props(resource).get(prop) or target.endpoint.format(name=resource["name"])}
    if with_secret:
        values[secret_name] = _post(arm, resource_id(target, target_id), "listKeys", target,
                                    f"Listing the keys of {what} '{resource['name']}'")[key_field]
    return values


def _signalr(arm, target, target_id, resource, with_secret):
    """SignalR and Web PubSub: the host; the primary connection string (Endpoint=…;AccessKey=…;Version=1.0;)."""
    return _endpoint_and_key(arm, target, target_id, resource, with_secret, what=target.display,
                             names=("hostName", "host", "primaryConnectionString", "connection_string"))


def _cognitive(arm, target, target_id, resource, with_secret):
    return _endpoint_and_key(arm, target, target_id, resource, with_secret, what="Cognitive Services account",
                             names=("endpoint", "endpoint", "key1", "key"))


def _app_insights(arm, target, target_id, resource, with_secret):  # pylint: disable=unused-argument
    """The connection string is a property of the component (no keys API): returned for secret auth only,
    since it carries the instrumentation key."""
    values = {"name": resource["name"]}
    if with_secret:
        props = _props(resource)
        conn = props.get("ConnectionString") or props.get("connectionString")
        if not conn:
            from azure.cli.core.azclierror import ResourceNotFoundError
            raise ResourceNotFoundError(f"Application Insights component '{resource['name']}' has no connection "
                                        "string.", recommendation="Check the component in the portal (Overview).")
        values["connection_string"] = conn
    return values


def _database_server(arm, target, target_id, resource, with_secret):  # pylint: disable=unused-argument
    """PostgreSQL / MySQL / SQL servers: the host. The user name and password are the user's."""
    return {"host": _props(resource).get("fullyQualifiedDomainName") or target.endpoint.format(name=resource["name"])}


def _arm_resource(arm, target, target_id, resource, with_secret):  # pylint: disable=unused-argument
    """A Marketplace resource (Neon, MongoDB Atlas): it exists; everything else comes from the user."""
    return {"name": resource.get("name")}


def _nothing(arm, target, target_id, resource, with_secret):  # pylint: disable=unused-argument
    return {}


# fetcher(arm, target, target_id, resource GET body, with_secret) -> {field: value}. with_secret=False
# (identity auth) must not call any keys API: the identity, not a key, is what the workload uses.
FETCHERS = {
    "storage:blob": _storage("blob"),
    "storage:queue": _storage("queue"),
    "storage:table": _storage("table"),
    "storage:file": _storage("file"),
    "keyvault": _keyvault,
    "cosmos:sql": _cosmos("sql"),
    "cosmos:mongo": _cosmos("mongo"),
    "cosmos:cassandra": _cosmos("cassandra"),
    "cosmos:gremlin": _cosmos("gremlin"),
    "cosmos:table": _cosmos("table"),
    "messaging": _messaging,
    "redis": _redis,
    "redis-enterprise": _redis_enterprise,
    "appconfig": _appconfig,
    "signalr": _signalr,
    "cognitiveservices": _cognitive,
    "app-insights": _app_insights,
    "database-server": _database_server,
    "arm-resource": _arm_resource,
    "none": _nothing,
}


def id_fields(target, target_id):
    """The fields of the target id (subscription, target_resource_group, the name arguments)."""
    m = target.id_regex().match(target_id or "")
    return {k: v for k, v in m.groupdict().items() if v is not None} if m else {}


def fetch_values(arm, target, target_id, resource, with_secret=True):
    """{field: value} for every field the target's configuration keys may use: the target id's fields,
    then what the fetcher reads (it wins on a clash)."""
    values = id_fields(target, target_id)
    if with_secret:
        refuse_key_auth_disabled(target, resource)
    values.update(FETCHERS[target.secret_source](arm, target, target_id, resource, with_secret))
    return values
