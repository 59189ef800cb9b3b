# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The operations on the targets: reads of the resource and its keys, firewall rules, access policies, and the
status polls of their long-running writes. Where other engineers move a REST call to an SDK call (storage network
rules, SQL / PostgreSQL / MySQL firewall rules, Key Vault access policies, Redis access policy assignments), both
forms are here: the SDK's api-version (and path spelling where it differs)."""
from tests.conformance.ops import Op, bad_version, ex, missing, sibling, t, under

ST = "storage/resource-manager/Microsoft.Storage/stable/2023-05-01/examples/"
KV = "keyvault/resource-manager/Microsoft.KeyVault/stable/2023-07-01/examples/"
AC = "appconfiguration/resource-manager/Microsoft.AppConfiguration/stable/2023-03-01/examples/"
CS = "cognitiveservices/resource-manager/Microsoft.CognitiveServices/stable/2024-10-01/examples/"
DB = "cosmos-db/resource-manager/Microsoft.DocumentDB/stable/2024-11-15/examples/"
SB = "servicebus/resource-manager/Microsoft.ServiceBus/stable/2024-01-01/examples/NameSpaces/"
PG = "postgresql/resource-manager/Microsoft.DBforPostgreSQL/stable/2024-08-01/examples/"
PG1 = "postgresql/resource-manager/Microsoft.DBforPostgreSQL/stable/2017-12-01/examples/"
MY = "mysql/resource-manager/Microsoft.DBforMySQL/FlexibleServers/stable/2023-12-30/examples/"
MY1 = "mysql/resource-manager/Microsoft.DBforMySQL/legacy/stable/2017-12-01/examples/"
SQL = "sql/resource-manager/Microsoft.Sql/stable/2023-08-01/examples/"
RD = "redis/resource-manager/Microsoft.Cache/stable/2024-11-01/examples/"
RE = "redisenterprise/resource-manager/Microsoft.Cache/stable/2024-10-01/examples/"
SR = "signalr/resource-manager/Microsoft.SignalRService/stable/2024-03-01/examples/"
WP = "webpubsub/resource-manager/Microsoft.SignalRService/stable/2024-03-01/examples/"
AI = "applicationinsights/resource-manager/Microsoft.Insights/stable/2020-02-02/examples/"
NONE = "none: no recording or example found; "

account = under("storage-blob", "", strip="/blobServices")
vault = t("keyvault")
redis = under("redis", "", strip="/databases")
redis_ent = under("redis-enterprise", "", strip="/databases")


def policy_vault(env, ctx):
    return env.seeds["keyvaults"]["policy"]


def acls(*ips):
    return {"properties": {"networkAcls": {"defaultAction": "Allow", "bypass": "AzureServices",
                                           "ipRules": [{"value": ip, "action": "Allow"} for ip in ips]}}}


def vnet_rules(subnet_id):
    return {"properties": {"networkAcls": {"defaultAction": "Allow", "bypass": "AzureServices", "ipRules": [],
                                           "virtualNetworkRules": [{"id": subnet_id, "action": "Allow"}]}}}


def vnet_rule_bodies(env):
    """A rule for a node subnet with the Microsoft.Storage endpoint (the body) and one for a subnet without it (the
    refusal): two seeded clusters' node pools on subnets of the user's own VNet."""
    from tests.conformance.ops_cluster import node_subnet
    other = next(k for k in sorted(env.seeds["clusters"]) if k != "local-accounts")
    return {"body": vnet_rules(node_subnet(env, "local-accounts", ["Microsoft.Storage"])["subnetId"]),
            "refused": vnet_rules(node_subnet(env, other, [])["subnetId"])}


def fw(ip):
    return {"properties": {"startIpAddress": ip, "endIpAddress": ip}}


POLICY = {"properties": {"accessPolicies": [{"tenantId": "72f988bf-0000-0000-0000-000000000001",
                                             "objectId": "11111111-2222-3333-4444-555555555555",
                                             "permissions": {"secrets": ["get"], "certificates": ["get"]}}]}}
REDIS_ASSIGNMENT = {"properties": {"accessPolicyName": "Data Contributor",
                                   "objectId": "11111111-2222-3333-4444-555555555555",
                                   "objectIdAlias": "conformance"}}
REDIS_SDK_ASSIGNMENT = {"properties": dict(REDIS_ASSIGNMENT["properties"], objectIdAlias="conformance-sdk",
                                           objectId="66666666-7777-8888-9999-000000000000")}


def server_of(name):
    return under(name, "", strip="/databases")


def firewall_ops(label, name, rest_api, sdk_api, status, lro, source, rest_path=None, sdk_path=None, note=""):
    """The firewall operations of a database server: list, PUT (REST and SDK form), and the status poll."""
    server = server_of(name)
    rule = rest_path or (lambda env, ctx: server(env, ctx) + "/firewallRules/conformance_rule")
    sdk_rule = sdk_path or (lambda env, ctx: server(env, ctx) + "/firewallRules/conformance_sdk")
    out = [
        Op(f"GET {label} firewallRules (list)", "GET", lambda env, ctx: server(env, ctx) + "/firewallRules",
           rest_api, 200, None, ["value"], bad_version(lambda env, ctx: server(env, ctx) + "/firewallRules"),
           source, what="value[] of {name, properties{startIpAddress, endIpAddress}}"),
        Op(f"PUT {label} firewallRules", "PUT", rule, rest_api, status, lro, [] if status == 202 else
           ["properties.startIpAddress"], bad_version(rule, method="PUT", body=fw("20.1.2.3")), source,
           body=fw("20.1.2.3"), what=f"{status}{' + ' + lro if lro else ''}{note}"),
    ]
    if sdk_api:
        out.append(Op(f"PUT {label} firewallRules (SDK, {sdk_api})", "PUT", sdk_rule, sdk_api, status, lro,
                      [] if status == 202 else ["properties.startIpAddress"],
                      bad_version(sdk_rule, method="PUT", body=fw("20.1.2.4")),
                      source + f"; the SDK's api-version {sdk_api} (azure-mgmt default)", body=fw("20.1.2.4"),
                      what=f"as the REST form, at the SDK's api-version {sdk_api}"))
    return out


OPS = [
    # ---------------------------------------------------------------- Storage
    Op("GET storageAccounts", "GET", account, "2023-05-01", 200, None,
       ["properties.primaryEndpoints.blob", "properties.networkAcls.defaultAction", "properties.allowSharedKeyAccess"],
       bad_version(account), ex(ST + "StorageAccountGetProperties.json"), what="primaryEndpoints, networkAcls"),
    Op("POST storageAccounts listKeys", "POST", under("storage-blob", "/listKeys", strip="/blobServices"),
       "2023-05-01", 200, None, ["keys.0.keyName", "keys.0.value", "keys.0.permissions"],
       missing(lambda env, ctx: account(env, ctx).rsplit("/", 1)[0] + "/nosuchaccount/listKeys", method="POST"),
       ex(ST + "StorageAccountListKeys.json"), what="keys[{keyName, permissions, value}]; a missing account: 404"),
    Op("PATCH storageAccounts networkAcls", "PATCH", account, "2023-05-01", 200, None,
       ["properties.networkAcls.ipRules.0.value"],
       ("PATCH", account, "2023-05-01", acls("20.30.40.50", "10.1.2.3"), 400, "InvalidValuesForRequestParameters"),
       ex(ST + "StorageAccountUpdate.json") + "; azure-cli issues #7417, #13828 (private ranges refused)",
       body=acls("20.30.40.50"), what="200 with the rules; a private or malformed IP rule: 400"),
    Op("PATCH storageAccounts networkAcls (SDK, 2025-08-01)", "PATCH", account, "2025-08-01", 200, None,
       ["properties.networkAcls.ipRules.0.value"],
       ("PATCH", account, "2025-08-01", acls("not-an-ip"), 400, "InvalidValuesForRequestParameters"),
       ex(ST + "StorageAccountUpdate.json") + "; the SDK's api-version 2025-08-01", body=acls("20.30.40.51"),
       what="as the REST form, at azure-mgmt-storage's api-version"),
    Op("PATCH storageAccounts virtualNetworkRules", "PATCH", account, "2025-08-01", 200, None,
       ["properties.networkAcls.virtualNetworkRules.0.id"],
       ("PATCH", account, "2025-08-01", "ctx:refused", 400, "NetworkAclsValidationFailure"),
       ex(ST + "StorageAccountUpdate.json") + " (networkAcls.virtualNetworkRules); the refusal: Azure's "
       "answer quoted in Azure/azure-cli#32434 and hashicorp/terraform-provider-azurerm#16547",
       body="ctx:body", setup=vnet_rule_bodies,
       what="200 with the rule; a subnet without the Microsoft.Storage endpoint: 400 NetworkAclsValidationFailure"),
    # ---------------------------------------------------------------- Key Vault
    Op("GET vaults", "GET", vault, "2023-07-01", 200, None,
       ["properties.vaultUri", "properties.tenantId", "properties.enableRbacAuthorization"], bad_version(vault),
       ex(KV + "getVault.json"), what="vaultUri, tenantId, enableRbacAuthorization"),
    Op("PUT vaults accessPolicies/add", "PUT", lambda env, ctx: policy_vault(env, ctx) + "/accessPolicies/add",
       "2023-07-01", 200, None, ["properties.accessPolicies"],
       bad_version(lambda env, ctx: policy_vault(env, ctx) + "/accessPolicies/add", method="PUT", body=POLICY),
       NONE + "checked against keyvault.json's VaultAccessPolicyParameters (properties.accessPolicies[])",
       body=POLICY, what="the policies as merged"),
    Op("PUT vaults accessPolicies/add (SDK, 2026-02-01)", "PUT",
       lambda env, ctx: policy_vault(env, ctx) + "/accessPolicies/add", "2026-02-01", 200, None,
       ["properties.accessPolicies"],
       bad_version(lambda env, ctx: policy_vault(env, ctx) + "/accessPolicies/add", method="PUT", body=POLICY),
       NONE + "as the REST form, at azure-mgmt-keyvault's api-version (vaults.update_access_policy)", body=POLICY,
       what="as the REST form, at the SDK's api-version"),
    # ---------------------------------------------------------------- App Configuration, Cognitive Services, Insights
    Op("GET configurationStores", "GET", t("appconfig"), "2024-05-01", 200, None,
       ["properties.endpoint", "properties.disableLocalAuth"], bad_version(t("appconfig")),
       ex(AC + "ConfigurationStoresGet.json") + " (2023-03-01; no 2024-05-01 GET example)", what="endpoint"),
    Op("POST configurationStores listKeys", "POST", under("appconfig", "/listKeys"), "2024-05-01", 200, None,
       ["value.0.connectionString", "value.0.readOnly"], bad_version(under("appconfig", "/listKeys"), method="POST"),
       ex(AC + "ConfigurationStoresListKeys.json"), what="value[{connectionString, readOnly}]"),
    Op("GET cognitiveservices accounts", "GET", t("cognitiveservices"), "2024-10-01", 200, None,
       ["properties.endpoint"], bad_version(t("cognitiveservices")), ex(CS + "GetAccount.json"), what="endpoint"),
    Op("POST cognitiveservices listKeys", "POST", under("cognitiveservices", "/listKeys"), "2024-10-01", 200, None,
       ["key1", "key2"], bad_version(under("cognitiveservices", "/listKeys"), method="POST"),
       ex(CS + "ListKeys.json"), what="{key1, key2}"),
    Op("GET insights components", "GET", t("app-insights"), "2020-02-02", 200, None,
       ["properties.ConnectionString", "properties.InstrumentationKey"], bad_version(t("app-insights")),
       ex(AI + "ComponentsGet.json"), what="ConnectionString, InstrumentationKey"),
]

for _name, _key, _example in (("cosmos-sql", "sqlDatabases", "CosmosDBSqlDatabaseGet.json"),
                              ("cosmos-mongo", "mongodbDatabases", "CosmosDBMongoDBDatabaseGet.json"),
                              ("cosmos-table", "tables", "CosmosDBTableGet.json"),
                              ("cosmos-cassandra", "cassandraKeyspaces", "CosmosDBCassandraKeyspaceGet.json"),
                              ("cosmos-gremlin", "gremlinDatabases/graphs", "CosmosDBGremlinGraphGet.json")):
    OPS.append(Op(f"GET databaseAccounts/{_key}", "GET", t(_name), "2024-11-15", 200, None, ["id", "name"],
                  missing(sibling(t(_name), "nosuch")), ex(DB + _example),
                  what="the child exists (its id, name); a missing one: 404"))
_cosmos = under("cosmos-sql", "", strip="/sqlDatabases")
OPS += [
    Op("GET databaseAccounts", "GET", _cosmos, "2024-11-15", 200, None,
       ["properties.documentEndpoint", "properties.disableLocalAuth"], bad_version(_cosmos),
       ex(DB + "CosmosDBDatabaseAccountGet.json"), what="documentEndpoint"),
    Op("POST databaseAccounts listKeys", "POST", lambda env, ctx: _cosmos(env, ctx) + "/listKeys", "2024-11-15",
       200, None, ["primaryMasterKey"], bad_version(lambda env, ctx: _cosmos(env, ctx) + "/listKeys", method="POST"),
       ex(DB + "CosmosDBDatabaseAccountListKeys.json"), what="primaryMasterKey, ..."),
    Op("POST databaseAccounts listConnectionStrings", "POST",
       lambda env, ctx: _cosmos(env, ctx) + "/listConnectionStrings", "2024-11-15", 200, None,
       ["connectionStrings.0.connectionString"],
       bad_version(lambda env, ctx: _cosmos(env, ctx) + "/listConnectionStrings", method="POST"),
       ex(DB + "CosmosDBDatabaseAccountListConnectionStrings.json"), what="connectionStrings[{connectionString}]"),
]

for _label, _name, _ns in (("servicebus", "servicebus", "ServiceBus"), ("eventhub", "eventhub", "EventHub")):
    _src = "" if _ns == "ServiceBus" else "none for Event Hubs in the stored specs; same definitions as "
    OPS += [
        Op(f"GET {_ns} namespaces", "GET", t(_name), "2024-01-01", 200, None, ["properties.serviceBusEndpoint"],
           bad_version(t(_name)), _src + ex(SB + "SBNameSpaceCreate.json") + " (its answer: no GET example)",
           what="serviceBusEndpoint"),
        Op(f"POST {_ns} authorizationRules listKeys", "POST",
           under(_name, "/authorizationRules/RootManageSharedAccessKey/listKeys"), "2024-01-01", 200, None,
           ["primaryConnectionString", "primaryKey", "keyName"],
           missing(under(_name, "/authorizationRules/NoSuchRule/listKeys"), method="POST"),
           _src + ex(SB + "SBNameSpaceAuthorizationRuleListKey.json"),
           what="primaryConnectionString, primaryKey, keyName; a missing rule: 404"),
        Op(f"GET {_ns} networkRuleSets/default", "GET", under(_name, "/networkRuleSets/default"), "2024-01-01", 200,
           None, ["properties.defaultAction", "properties.publicNetworkAccess"],
           bad_version(under(_name, "/networkRuleSets/default")),
           _src + ex(SB + "VirtualNetworkRule/SBNetworkRuleSetList.json") + " (the list's item)",
           what="defaultAction, publicNetworkAccess, ipRules"),
    ]

for _label, _name, _api, _server_ex, _db_ex in (
        ("postgres-flexible", "postgres-flexible", "2024-08-01", PG + "ServerGet.json", PG + "DatabaseGet.json"),
        ("mysql-flexible", "mysql-flexible", "2023-12-30", MY + "ServerGet.json", MY + "ServerGet.json"),
        ("postgres", "postgres", "2017-12-01", PG1 + "FirewallRuleCreate.json", PG1 + "FirewallRuleCreate.json"),
        ("mysql", "mysql", "2017-12-01", MY1 + "FirewallRuleCreate.json", MY1 + "FirewallRuleCreate.json"),
        ("sql", "sql", "2023-08-01", SQL + "ServerGet.json", SQL + "ServerGet.json")):
    OPS += [
        Op(f"GET {_label} server", "GET", server_of(_name), _api, 200, None,
           ["properties.fullyQualifiedDomainName"], bad_version(server_of(_name)), ex(_server_ex),
           what="fullyQualifiedDomainName"),
        Op(f"GET {_label} database", "GET", t(_name), _api, 200, None, ["name"],
           missing(sibling(t(_name), "nosuchdb")), ex(_db_ex) + " (the server's example where no database one)",
           what="the database exists; a missing one: 404"),
    ]
OPS += firewall_ops("postgres-flexible", "postgres-flexible", "2024-08-01", "2026-04-01-preview", 202,
                    "async+location+retry", ex(PG + "FirewallRuleCreate.json"))
OPS += firewall_ops("mysql-flexible", "mysql-flexible", "2023-12-30", "2025-12-01-preview", 202,
                    "async+location+retry", ex(MY + "FirewallRuleCreate.json"))
OPS += firewall_ops("postgres", "postgres", "2017-12-01", None, 202, "async+location+retry",
                    ex(PG1 + "FirewallRuleCreate.json"), note=" (the SDK, azure-mgmt-rdbms, sends 2017-12-01 too)")
OPS += firewall_ops("mysql", "mysql", "2017-12-01", None, 202, "async+location+retry",
                    ex(MY1 + "FirewallRuleCreate.json"), note=" (the SDK, azure-mgmt-rdbms, sends 2017-12-01 too)")
OPS += firewall_ops("sql", "sql", "2023-08-01", "2024-11-01-preview", 201, None, ex(SQL + "FirewallRuleCreate.json"))

OPS += [
    # ---------------------------------------------------------------- Redis, Redis Enterprise
    Op("GET Redis", "GET", redis, "2024-11-01", 200, None,
       ["properties.hostName", "properties.sslPort", "properties.redisConfiguration"], bad_version(redis),
       ex(RD + "RedisCacheGet.json"), what="hostName, sslPort, redisConfiguration"),
    Op("POST Redis listKeys", "POST", lambda env, ctx: redis(env, ctx) + "/listKeys", "2024-11-01", 200, None,
       ["primaryKey", "secondaryKey"], bad_version(lambda env, ctx: redis(env, ctx) + "/listKeys", method="POST"),
       ex(RD + "RedisCacheListKeys.json"), what="{primaryKey, secondaryKey}"),
    Op("GET Redis firewallRules (list)", "GET", lambda env, ctx: redis(env, ctx) + "/firewallRules", "2024-11-01",
       200, None, ["value"], bad_version(lambda env, ctx: redis(env, ctx) + "/firewallRules"),
       ex(RD + "RedisCacheFirewallRulesList.json"), what="value[]"),
    Op("PATCH Redis (Entra ID auth on)", "PATCH", redis, "2024-11-01", 202, "location+retry",
       [], bad_version(redis, method="PATCH", body={}), ex(RD + "RedisCacheUpdate.json"),
       body={"properties": {"redisConfiguration": {"aad-enabled": "true"}}},
       what="202 + Location (…/asyncOperations/…) while the cache updates"),
    Op("GET Redis accessPolicyAssignments (list)", "GET",
       lambda env, ctx: redis(env, ctx) + "/accessPolicyAssignments", "2024-11-01", 200, None, ["value"],
       bad_version(lambda env, ctx: redis(env, ctx) + "/accessPolicyAssignments"),
       ex(RD + "RedisCacheAccessPolicyAssignmentList.json"), what="value[]"),
    Op("PUT Redis accessPolicyAssignments", "PUT",
       lambda env, ctx: redis(env, ctx).replace("/redis/", "/Redis/") + "/accessPolicyAssignments/conformance",
       "2024-11-01", 201, "async+retry", ["properties.accessPolicyName", "properties.objectId"],
       bad_version(lambda env, ctx: redis(env, ctx) + "/accessPolicyAssignments/conformance", method="PUT",
                   body=REDIS_ASSIGNMENT),
       ex(RD + "RedisCacheAccessPolicyAssignmentCreateUpdate.json"), body=REDIS_ASSIGNMENT,
       what="201 + Azure-AsyncOperation + Retry-After (path as the extension spells it, …/Redis/…)"),
    Op("PUT Redis accessPolicyAssignments (SDK)", "PUT",
       lambda env, ctx: redis(env, ctx) + "/accessPolicyAssignments/conformance-sdk", "2024-11-01", 201, "async+retry",
       ["properties.accessPolicyName", "properties.objectId"],
       bad_version(lambda env, ctx: redis(env, ctx) + "/accessPolicyAssignments/conformance-sdk", method="PUT",
                   body=REDIS_SDK_ASSIGNMENT),
       ex(RD + "RedisCacheAccessPolicyAssignmentCreateUpdate.json")
       + "; azure-mgmt-redis's path spelling …/redis/…",
       body=REDIS_SDK_ASSIGNMENT, what="as the REST form, with the SDK's lower-case …/redis/…"),
    Op("GET redisEnterprise", "GET", redis_ent, "2024-10-01", 200, None, ["properties.hostName"],
       bad_version(redis_ent), ex(RE + "RedisEnterpriseGet.json"), what="hostName"),
    Op("GET redisEnterprise databases", "GET", t("redis-enterprise"), "2024-10-01", 200, None, ["properties.port"],
       bad_version(t("redis-enterprise")), ex(RE + "RedisEnterpriseDatabasesGet.json"), what="port"),
    Op("POST redisEnterprise databases listKeys", "POST", under("redis-enterprise", "/listKeys"), "2024-10-01",
       200, None, ["primaryKey"], bad_version(under("redis-enterprise", "/listKeys"), method="POST"),
       ex(RE + "RedisEnterpriseDatabasesListKeys.json"), what="primaryKey, secondaryKey"),
    # ---------------------------------------------------------------- SignalR, Web PubSub
    Op("GET SignalR", "GET", t("signalr"), "2024-03-01", 200, None, ["properties.hostName"], bad_version(t("signalr")),
       ex(SR + "SignalR_Update.json") + " (its answer: no GET example in the stored specs)", what="hostName"),
    Op("POST SignalR listKeys", "POST", under("signalr", "/listKeys"), "2024-03-01", 200, None,
       ["primaryConnectionString", "primaryKey"], bad_version(under("signalr", "/listKeys"), method="POST"),
       ex(SR + "SignalR_ListKeys.json"), what="primaryConnectionString, primaryKey"),
    Op("GET WebPubSub", "GET", t("webpubsub"), "2024-03-01", 200, None, ["properties.hostName"],
       bad_version(t("webpubsub")), NONE + "checked against webpubsub.json's WebPubSubResource (properties.hostName)",
       what="hostName"),
    Op("POST WebPubSub listKeys", "POST", under("webpubsub", "/listKeys"), "2024-03-01", 200, None,
       ["primaryConnectionString", "primaryKey"], bad_version(under("webpubsub", "/listKeys"), method="POST"),
       ex(WP + "WebPubSub_ListKeys.json"), what="primaryConnectionString, primaryKey"),
    # ---------------------------------------------------------------- Marketplace partners
    Op("GET MongoDB.Atlas organizations", "GET", t("mongodb-atlas"), "2025-06-01", 200, None, ["properties"],
       bad_version(t("mongodb-atlas")), NONE + "the sandbox's shape is unchecked (the extension reads only that it "
       "exists)", what="the organization exists"),
    Op("GET Neon.Postgres organizations", "GET", t("neon-postgres"), "2025-03-01", 200, None, ["properties"],
       bad_version(t("neon-postgres")), NONE + "the sandbox's shape is unchecked (the extension reads only that it "
       "exists)", what="the organization exists"),
]


def _started(name, tail, api, body, method="PUT", header="Azure-AsyncOperation"):
    """setup: a long-running write on a seeded target; ctx["url"] = its status URL, ctx["unknown"] = the same URL
    with an operation id nobody started."""
    def setup(env):
        base = env.seeds["targets"][name]
        for cut in ("/databases", "/blobServices"):
            base = base.split(cut, 1)[0]
        resp = env.call(method, base + tail, api, body)
        url = resp.headers[header]
        rel = "/subscriptions/" + url.split("?")[0].split("/subscriptions/", 1)[1]
        return {"url": url, "unknown": rel.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-0000000000aa"}
    return setup


for _label, _name, _api, _src in (("postgres-flexible", "postgres-flexible", "2024-08-01",
                                   PG + "FirewallRuleCreate.json"),
                                  ("mysql-flexible", "mysql-flexible", "2023-12-30", MY + "FirewallRuleCreate.json"),
                                  ("postgres", "postgres", "2017-12-01", PG1 + "FirewallRuleCreate.json"),
                                  ("mysql", "mysql", "2017-12-01", MY1 + "FirewallRuleCreate.json")):
    OPS.append(Op(f"GET {_label} azureAsyncOperation status", "GET", lambda env, ctx: ctx["url"], None, 200, None,
                  ["status"], ("GET", lambda env, ctx: ctx["unknown"], _api, None, 404, "OperationNotFound"),
                  ex(_src) + " (its Azure-AsyncOperation header: …/azureAsyncOperation/{id})",
                  setup=_started(_name, "/firewallRules/conformance_poll", _api, fw("20.1.2.9")),
                  what="{status, ...}; an operation id nobody started: 404"))
OPS.append(Op("GET Redis asyncOperations status", "GET", lambda env, ctx: ctx["url"], None, 200, None, ["status"],
              ("GET", lambda env, ctx: ctx["unknown"], "2024-11-01", None, 404, "OperationNotFound"),
              ex(RD + "RedisCacheAsyncOperationStatus.json"),
              setup=_started("redis", "/accessPolicyAssignments/conformance-poll", "2024-11-01",
                             {"properties": dict(REDIS_ASSIGNMENT["properties"], objectIdAlias="poll",
                                                 objectId="99999999-8888-7777-6666-555555555555")}),
              what="{status, ...}; an operation id nobody started: 404"))
