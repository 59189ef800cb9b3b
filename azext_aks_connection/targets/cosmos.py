# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Cosmos DB (NoSQL, MongoDB, Cassandra, Gremlin, Table): the records and the family's behaviour.

Values (``fetch``): name, endpoint, list_connection_strings_url, list_keys_url, location_name, contact_point
(cassandra), gremlin_host (gremlin), table_endpoint (table) | secret: key; mongo: connection_string.

Network rule: the account's properties.ipRules [{ipAddressOrRange}] (PATCH of the account, long-running); no rules
and no virtual network filter admit every network; 0.0.0.0 admits all Azure datacenters; private addresses are
refused, and a subnet with a Microsoft.AzureCosmosDB service endpoint no longer comes from its public address.
Source: "Configure IP firewall in Azure Cosmos DB" (learn.microsoft.com/azure/cosmos-db/how-to-configure-firewall);
reference-network.md S8.
"""
from urllib.parse import urlparse

from azext_aks_connection.targets.base import (AUTH_SECRET, AUTH_SERVICE_PRINCIPAL, AUTH_WORKLOAD_IDENTITY, CLIENT_ID,
                                               CLIENT_TYPES_REDIS, CLIENT_TYPES_STORAGE, IDENTITY_AUTHS,
                                               MANAGEMENT_SCOPE, ConfigKey, Family, NameArg, RuleList, Target, fw,
                                               id_parts, ops, props, rid)

ROLES = {"DocumentDB Account Contributor": "5bd9cd88-fe45-4216-938b-f97437e15450"}

# api-version of the listConnectionStrings / listKeys URL Service Connector writes for Cosmos DB identity
# connections (how-to-integrate-cosmos-*.md: AZURE_COSMOS_LISTCONNECTIONSTRINGURL / _LISTKEYURL).
COSMOS_LIST_API_VERSION = "2021-04-15"


class Cosmos(Family):
    """A Cosmos DB account of API ``variant`` (sql, mongo, cassandra, gremlin, table); its rules are written with
    azure-mgmt-cosmosdb."""
    name = "cosmos"
    firewall = "cosmos"
    key_auth = ("disableLocalAuth", True, "local (key) authentication is disabled")
    rule_list = RuleList("", None, "ipAddressOrRange")
    service_endpoint = "Microsoft.AzureCosmosDB"

    def fetch(self, arm, target, target_id, resource, with_secret):
        """The API endpoints are the account's DNS name under the API's zone in the account's cloud
        (documents.azure.com -> cassandra.cosmos.azure.com)."""
        api, rid_ = self.variant, ops().resource_id(target, target_id)
        p, name = props(resource), resource["name"]
        endpoint = p.get("documentEndpoint") or f"https://{name}.documents.azure.com:443/"
        host = urlparse(endpoint).hostname or ""
        zone = host.split(".documents.", 1)[1] if ".documents." in host else "azure.com"
        base = ops().management_base(arm)
        locations = p.get("writeLocations") or p.get("locations") or []
        query = f"?api-version={COSMOS_LIST_API_VERSION}"
        values = {"name": name, "endpoint": endpoint,
                  "list_connection_strings_url": f"{base}{rid_}/listConnectionStrings{query}",
                  "list_keys_url": f"{base}{rid_}/listKeys{query}",
                  "location_name": (locations[0].get("locationName") if locations else None)
                  or resource.get("location")}
        extra = {"cassandra": ("contact_point", f"{name}.cassandra.cosmos.{zone}"),
                 "gremlin": ("gremlin_host", f"{name}.gremlin.cosmos.{zone}"),
                 "table": ("table_endpoint", f"https://{name}.table.cosmos.{zone}:443/")}.get(api)
        if extra:
            values[extra[0]] = extra[1]
        if not with_secret:
            return values
        if api == "mongo":
            strings = ops().post(arm, rid_, "listConnectionStrings", target,
                                 f"Listing the connection strings of Cosmos DB account '{name}'")
            strings = strings.get("connectionStrings") or []
            primary = [s for s in strings if "primary" in (s.get("description") or "").lower()
                       and "mongo" in (s.get("description") or "").lower()]
            values["connection_string"] = (primary or strings)[0]["connectionString"]
        else:
            keys = ops().post(arm, rid_, "listKeys", target, f"Listing the keys of Cosmos DB account '{name}'")
            values["key"] = keys["primaryMasterKey"]
        return values

    def read_firewall(self, arm, target, resource_id, resource_body):
        f, p = fw(), props(resource_body)
        if f.disabled(p.get("publicNetworkAccess")):
            return f.Rules(f.CLOSED, f.public_disabled(target))
        _, rules = f.ip_rules(self, p)
        if not rules and not p.get("isVirtualNetworkFilterEnabled"):
            return f.Rules(f.OPEN, "no IP rules and no virtual network filter")
        azure = any(str(r.get("ipAddressOrRange") or "").strip() == f.AZURE_SERVICES for r in rules)
        return f.Rules(f.OPEN if azure else f.CHECKED,
                       "the 0.0.0.0 rule admits Azure datacenters, the cluster's egress among them" if azure else None,
                       lambda ip: any(f.covers(r.get("ipAddressOrRange"), ip) for r in rules),
                       f.list_adder(arm, target, resource_id, p,
                                    lambda ips: rules + [{"ipAddressOrRange": ip} for ip in ips]))

    # pylint: disable-next=too-many-positional-arguments  # Family.write_rules's signature
    def write_rules(self, arm, target, resource_id, read, rules, what):
        """``database_accounts.begin_update`` (a PATCH of the account, long-running) with ``rules`` as its ipRules, at
        the api-version they were read with; polled with firewall.sdk_polling."""
        _, group, name = id_parts(resource_id)
        client = fw().sdk_client(arm, "azure.mgmt.cosmosdb:CosmosDBManagementClient", resource_id,
                                 api_version=target.api_version)
        fw().sdk_write(arm, what, "PATCH", resource_id, lambda: client.database_accounts.begin_update(
            group, name, {"properties": {"ipRules": rules}}, polling=fw().sdk_polling()).result())

    def rule_command(self, target, resource_id, ip, resource_body=None):
        sub, group, name = id_parts(resource_id)
        rules = [r.get("ipAddressOrRange") for r in props(resource_body).get("ipRules") or []
                 if r.get("ipAddressOrRange")]
        return f"az cosmosdb update --subscription {sub} -g {group} -n {name} --ip-range-filter " \
               f"{','.join(rules + [ip])}"


# Keys: how-to-integrate-cosmos-sql/-db (MongoDB)/-cassandra/-gremlin/-table.md.
# Identity auth: Cosmos DB keys are read with the identity through the management API (the identity gets
# DocumentDB Account Contributor), so the keys name that URL and the management scope.
_COSMOS_LIST_CS = ConfigKey("AZURE_COSMOS_LISTCONNECTIONSTRINGURL", "list_connection_strings_url", False)
_COSMOS_LIST_KEYS = ConfigKey("AZURE_COSMOS_LISTKEYURL", "list_keys_url", False)
_COSMOS_SCOPE = ConfigKey("AZURE_COSMOS_SCOPE", MANAGEMENT_SCOPE, False)
_COSMOS_ENDPOINT = ConfigKey("AZURE_COSMOS_RESOURCEENDPOINT", "endpoint", False)


def _cosmos_identity(first, extra=()):
    """(workload identity, service principal) keys: the list URL, scope, endpoint, API extras, identity."""
    wi = [first, _COSMOS_SCOPE, _COSMOS_ENDPOINT] + list(extra) + \
        [ConfigKey("AZURE_COSMOS_CLIENTID", CLIENT_ID, False)]
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
          ConfigKey(f"{p}.credential.client-id", CLIENT_ID, False)] + list(extra)
    sp = [ConfigKey(f"{p}.credential.client-id", CLIENT_ID, False),
          ConfigKey(f"{p}.credential.client-secret", "client_secret", True),
          ConfigKey(f"{p}.profile.tenant-id", "tenant_id", False),
          ConfigKey(f"{p}.database", "database", False), ConfigKey(f"{p}.endpoint", "endpoint", False)] + list(extra)
    return wi, sp


_COSMOS_SQL_SPRING_WI, _COSMOS_SQL_SPRING_SP = _cosmos_spring_identity()
_COSMOS_NAME_ARGS = [NameArg("account", ["--account"], "Name of the cosmos database account.", "MyAccount")]

TARGETS = {
    "cosmos-sql": Target(
        name="cosmos-sql",
        display="Cosmos DB for NoSQL",
        resource_type="Microsoft.DocumentDB/databaseAccounts",
        api_version="2024-11-15",
        id_template=rid("Microsoft.DocumentDB/databaseAccounts/sqlDatabases", "account", "database"),
        name_args=_COSMOS_NAME_ARGS + [NameArg("database", ["--database"], "Name of the database.", "MyDB")],
        auth_types=IDENTITY_AUTHS,
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
        family=Cosmos("sql"),
        roles=["DocumentDB Account Contributor"],
        endpoint="https://{name}.documents.azure.com:443/",
    ),
    "cosmos-mongo": Target(
        name="cosmos-mongo",
        display="Cosmos DB for MongoDB",
        resource_type="Microsoft.DocumentDB/databaseAccounts",
        api_version="2024-11-15",
        id_template=rid("Microsoft.DocumentDB/databaseAccounts/mongodbDatabases", "account", "database"),
        name_args=_COSMOS_NAME_ARGS + [NameArg("database", ["--database"], "Name of the database.", "MyDB")],
        auth_types=IDENTITY_AUTHS,
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
        family=Cosmos("mongo"),
        roles=["DocumentDB Account Contributor"],
        endpoint="https://{name}.documents.azure.com:443/",
    ),
    "cosmos-cassandra": Target(
        name="cosmos-cassandra",
        display="Cosmos DB for Apache Cassandra",
        resource_type="Microsoft.DocumentDB/databaseAccounts",
        api_version="2024-11-15",
        id_template=rid("Microsoft.DocumentDB/databaseAccounts/cassandraKeyspaces", "account", "key_space"),
        name_args=_COSMOS_NAME_ARGS + [NameArg("key_space", ["--key-space"], "Name of the keyspace.", "MyKeySpace")],
        auth_types=IDENTITY_AUTHS,
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
        family=Cosmos("cassandra"),
        roles=["DocumentDB Account Contributor"],
        endpoint="https://{name}.documents.azure.com:443/",
    ),
    "cosmos-gremlin": Target(
        name="cosmos-gremlin",
        display="Cosmos DB for Apache Gremlin",
        resource_type="Microsoft.DocumentDB/databaseAccounts",
        api_version="2024-11-15",
        id_template=rid("Microsoft.DocumentDB/databaseAccounts/gremlinDatabases/graphs", "account", "database",
                        "graph"),
        name_args=_COSMOS_NAME_ARGS + [NameArg("database", ["--database"], "Name of the database.", "MyDB"),
                                       NameArg("graph", ["--graph"], "Name of the graph.", "MyGraph")],
        auth_types=IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "php", "none"],
        # Keys: how-to-integrate-cosmos-gremlin.md. (Its user-assigned identity table names the client id
        # AZURE_CLIENTID, every other table AZURE_COSMOS_CLIENTID: the prefixed name is used for both.)
        config_keys={
            AUTH_SECRET: {"default": _GREMLIN_INFO + [ConfigKey("AZURE_COSMOS_PASSWORD", "key", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _COSMOS_GREMLIN_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _COSMOS_GREMLIN_SP},
        },
        family=Cosmos("gremlin"),
        roles=["DocumentDB Account Contributor"],
        endpoint="https://{name}.documents.azure.com:443/",
    ),
    "cosmos-table": Target(
        name="cosmos-table",
        display="Cosmos DB for Table",
        resource_type="Microsoft.DocumentDB/databaseAccounts",
        api_version="2024-11-15",
        id_template=rid("Microsoft.DocumentDB/databaseAccounts/tables", "account", "table"),
        name_args=_COSMOS_NAME_ARGS + [NameArg("table", ["--table"], "Name of the table.", "MyTable")],
        auth_types=IDENTITY_AUTHS,
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
        family=Cosmos("table"),
        roles=["DocumentDB Account Contributor"],
        endpoint="https://{name}.documents.azure.com:443/",
    ),
}
