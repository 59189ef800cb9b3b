# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The targets of `az aks connection` in the sandbox's ARM emulator, driven by the real Azure SDK clients (raw
requests where azure-cli ships no client): each seeded resource, its keys, its firewall (a write shows up in a
GET; a duplicate write changes nothing), ARM errors, and the cluster's egress shapes.

One server for the module, seeded by the same ``sandbox.server.seed`` as ``python -m sandbox up``.
"""
import json
import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from sandbox import server
from sandbox.client import SandboxClient
from sandbox.arm import targets as target_table
from tests.sandbox.armenv import arm_server

RG = server.TARGET_RG
CLUSTER_RG, CLUSTER = server.CLUSTER_RG, server.CLUSTER_NAME
NAMES = server.TARGET_NAMES
EGRESS = "20.30.40.50"


@pytest.fixture(scope="module")
def env():
    seeds = {}
    with arm_server("arm-targets-", 0.3, 50, lambda arm: seeds.update(server.seed(arm.sb, {}, None))) as ns:
        ns.seeds = seeds
        ns.targets = seeds["targets"]
        yield ns


def raw(env, method, path, body=None, api_version=None, headers=None):
    url = env.sb.arm_url + path
    if api_version:
        url += ("&" if "?" in url else "?") + f"api-version={api_version}"
    return requests.request(method, url, json=body, headers=dict({"Authorization": "Bearer x"}, **(headers or {})),
                            verify=env.ca, timeout=10)


def control(env, method, path, body=None):
    r = requests.request(method, env.sb.arm_url + "/_sandbox/arm" + path, json=body, verify=env.ca, timeout=10)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def wait_done(env, resp, timeout=10.0):
    """Poll an LRO's Azure-AsyncOperation URL (as a client would: with its retry-after-ms) until it ends."""
    url = resp.headers["Azure-AsyncOperation"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(url, headers={"Authorization": "Bearer x"}, verify=env.ca, timeout=10).json()
        if body["status"] != "InProgress":
            return body
        time.sleep(int(resp.headers.get("retry-after-ms", "50")) / 1000.0)
    raise AssertionError("operation did not end")


def error_code(exc):
    return exc.value.error.code if exc.value.error else json.loads(exc.value.response.text())["error"]["code"]


def mutations(env, since):
    return [(e["method"], e["path"]) for e in env.sb.log.entries(since) if e["mutating"]]


# --------------------------------------------------------------------------- the seeds and the target ids

def test_seeds_name_every_target_by_the_builtin_template(env):
    expected = set(target_table.TARGET_TEMPLATES)
    assert set(env.targets) == expected
    assert not expected & set(target_table.NO_ARM_RESOURCE)
    for target, tid in env.targets.items():
        template = target_table.TARGET_TEMPLATES[target]
        # the id is the template filled in, spelt as the built-in spells it
        prefix = template.split("{target_resource_group}")[1].split("{")[0]
        assert tid.startswith(f"/subscriptions/{env.sub}/resourceGroups/") and prefix in tid, (target, tid)
    assert env.targets["redis"].endswith("/providers/Microsoft.Cache/redis/sandbox-redis/databases/0")
    assert env.targets["cosmos-gremlin"].endswith("/gremlinDatabases/orders/graphs/orders")
    assert env.targets["storage-file"].endswith("/storageAccounts/sandboxstore/fileServices/default")
    assert env.seeds["databaseLogins"]["postgres-flexible"] == "sandboxadmin"


def test_targets_are_seeded_in_the_clusters_region_and_in_another(env):
    """Azure Storage ignores IP rules for requests from its own region: the seed has targets in both."""
    here = _get(env, env.seeds["cluster"]["id"], "2024-05-01")["location"]
    other = env.seeds["otherRegion"]
    assert other["region"] == target_table.OTHER_REGION != here
    for target, tid in other["targets"].items():
        rid = tid.split("/blobServices/")[0]
        assert _get(env, rid, VERSION[target.split("-")[0]])["location"] == other["region"], target
        assert _get(env, env.targets[target].split("/blobServices/")[0], VERSION[target.split("-")[0]])[
            "location"] == here


VERSION = {"app-insights": "2020-02-02", "appconfig": "2023-03-01", "cognitiveservices": "2023-05-01",
           "cosmos": "2024-08-15", "eventhub": "2024-01-01", "servicebus": "2021-11-01", "keyvault": "2023-07-01",
           "mysql": "2017-12-01", "postgres": "2017-12-01", "mysql-flexible": "2023-12-30",
           "postgres-flexible": "2022-12-01", "sql": "2021-11-01", "redis": "2023-08-01",
           "redis-enterprise": "2024-10-01", "signalr": "2024-03-01", "webpubsub": "2024-03-01",
           "storage": "2023-05-01", "neon-postgres": "2025-03-01", "mongodb-atlas": "2025-06-01"}


def _version(target):
    return VERSION.get(target) or VERSION[target.split("-")[0]]


@pytest.mark.parametrize("target", sorted(target_table.TARGET_TEMPLATES))
def test_every_target_id_resolves(env, target):
    tid = env.targets[target]
    read = tid.rsplit("/databases/", 1)[0] if target == "redis" else tid
    r = raw(env, "GET", read, api_version=_version(target))
    assert r.status_code == 200, r.text
    assert r.json()["id"].lower() == read.lower() and r.json()["name"] == read.rsplit("/", 1)[-1]
    if target == "redis":      # databases/0 is no ARM resource: read the cache
        r = raw(env, "GET", tid, api_version=_version(target))
        assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidResourceType"


def test_unknown_api_version_path_and_action_give_arm_errors(env):
    ns = env.targets["servicebus"]
    r = raw(env, "GET", ns, api_version="2099-01-01")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "NoRegisteredProviderFound"
    assert "API version '2099-01-01' for type 'namespaces'" in err["message"] and "2021-11-01" in err["message"]
    assert r.headers["x-ms-request-id"]
    r = raw(env, "GET", ns + "/fooRules/x", api_version="2021-11-01")
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidResourceType"
    r = raw(env, "POST", ns + "/authorizationRules/RootManageSharedAccessKey/listSecrets", api_version="2021-11-01")
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidResourceType"
    r = raw(env, "GET", ns.replace("sandbox-servicebus", "missing"), api_version="2021-11-01")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    r = raw(env, "POST", env.targets["cosmos-sql"].split("/sqlDatabases")[0].replace("cosmos-sql", "cosmos-nope")
            + "/listKeys", api_version="2024-08-15")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    r = raw(env, "DELETE", ns, api_version="2021-11-01")
    assert r.status_code == 405 and r.json()["error"]["code"] == "MethodNotAllowed"
    # Every api-version of a type is checked, list calls included.
    r = raw(env, "GET", f"/subscriptions/{env.sub}/providers/Microsoft.Cache/redis", api_version="2015-01-01")
    assert r.status_code == 400 and r.json()["error"]["code"] == "NoRegisteredProviderFound"
    r = raw(env, "GET", f"/subscriptions/{env.sub}/providers/Microsoft.Cache/redis", api_version="2023-08-01")
    assert [c["name"] for c in r.json()["value"]] == [NAMES["redis"]]


# --------------------------------------------------------------------------- Service Bus and Event Hubs

@pytest.mark.parametrize("target", ["servicebus", "eventhub"])
def test_messaging_namespace_keys_and_network_rule_set(env, target):
    if target == "servicebus":
        from azure.mgmt.servicebus import ServiceBusManagementClient as Client
        from azure.mgmt.servicebus.models import NWRuleSetIpRules as IpRule, NetworkRuleSet
    else:
        from azure.mgmt.eventhub import EventHubManagementClient as Client
        from azure.mgmt.eventhub.models import NWRuleSetIpRules as IpRule, NetworkRuleSet
    client = Client(env.cred, env.sub, **env.kw)
    name = NAMES[target]
    ns = client.namespaces.get(RG, name)
    assert ns.service_bus_endpoint == f"https://{name}.servicebus.windows.net:443/"
    # the seeded Service Bus namespace is Premium: the tier whose firewall takes IP rules
    assert ns.status == "Active" and ns.provisioning_state == "Succeeded" and \
        ns.sku.name == ("Premium" if target == "servicebus" else "Standard")
    assert ns.id == env.targets[target]
    assert [r.name for r in client.namespaces.list_authorization_rules(RG, name)] == ["RootManageSharedAccessKey"]
    keys = client.namespaces.list_keys(RG, name, "RootManageSharedAccessKey")
    assert keys.key_name == "RootManageSharedAccessKey" and len(keys.primary_key) == 44
    assert keys.primary_connection_string == (f"Endpoint=sb://{name}.servicebus.windows.net/;SharedAccessKeyName="
                                              f"RootManageSharedAccessKey;SharedAccessKey={keys.primary_key}")
    assert keys.secondary_key != keys.primary_key
    with pytest.raises(ResourceNotFoundError):
        client.namespaces.list_keys(RG, name, "NoSuchRule")

    rules = client.namespaces.get_network_rule_set(RG, name)
    assert rules.default_action == "Allow" and rules.ip_rules == [] and rules.public_network_access == "Enabled"
    want = NetworkRuleSet(default_action="Deny", public_network_access="Enabled",
                          ip_rules=[IpRule(ip_mask=EGRESS, action="Allow")])
    seq = env.sb.log.last_seq()
    put = client.namespaces.create_or_update_network_rule_set(RG, name, want)
    assert [(r.ip_mask, r.action) for r in put.ip_rules] == [(EGRESS, "Allow")]
    got = client.namespaces.get_network_rule_set(RG, name)
    assert got.default_action == "Deny" and [r.ip_mask for r in got.ip_rules] == [EGRESS]
    assert mutations(env, seq) == [("PUT", env.targets[target] + "/networkRuleSets/default")]
    before = got.as_dict()
    client.namespaces.create_or_update_network_rule_set(RG, name, want)      # the same again
    assert client.namespaces.get_network_rule_set(RG, name).as_dict() == before
    lister = getattr(client.namespaces, "list_network_rule_sets", None) or client.namespaces.list_network_rule_set
    listed = lister(RG, name)
    assert [r.name for r in getattr(listed, "value", None) or listed] == ["default"]
    # put the namespace back as seeded for other tests
    client.namespaces.create_or_update_network_rule_set(RG, name, NetworkRuleSet(default_action="Allow"))


@pytest.mark.parametrize("provider, tier", [("Microsoft.ServiceBus", "Standard"), ("Microsoft.EventHub", "Basic")])
def test_a_namespace_tier_without_ip_rules_refuses_them(env, provider, tier):
    from sandbox.arm import messaging
    ns = messaging.seed_namespace(env.sb.arm, provider, RG, f"tier{tier.lower()}{provider[10:14].lower()}", sku=tier)
    api = messaging.PROVIDERS[provider][1]
    r = raw(env, "PUT", ns["id"] + "/networkRuleSets/default", {"properties": {
        "defaultAction": "Deny", "ipRules": [{"ipMask": EGRESS, "action": "Allow"}]}}, api_version=api)
    assert r.status_code == 400 and f"{tier} tier" in r.json()["error"]["message"], r.text
    r = raw(env, "PUT", ns["id"] + "/networkRuleSets/default", {"properties": {"defaultAction": "Allow"}},
            api_version=api)
    assert r.status_code == 200, r.text       # a rule set without rules is fine on every tier


# --------------------------------------------------------------------------- Cosmos DB

def test_cosmos_accounts_children_keys_and_connection_strings(env):
    from azure.mgmt.cosmosdb import CosmosDBManagementClient
    client = CosmosDBManagementClient(env.cred, env.sub, **env.kw)
    sql = client.database_accounts.get(RG, NAMES["cosmos-sql"])
    assert sql.document_endpoint == "https://sandbox-cosmos-sql.documents.azure.com:443/"
    assert sql.kind == "GlobalDocumentDB" and sql.capabilities == [] and sql.location == "East US"
    assert sql.ip_rules == [] and sql.provisioning_state == "Succeeded"
    mongo = client.database_accounts.get(RG, NAMES["cosmos-mongo"])
    assert mongo.kind == "MongoDB" and mongo.api_properties.server_version == "4.2"
    for target, cap in (("cosmos-cassandra", "EnableCassandra"), ("cosmos-gremlin", "EnableGremlin"),
                        ("cosmos-table", "EnableTable")):
        assert [c.name for c in client.database_accounts.get(RG, NAMES[target]).capabilities] == [cap]

    assert client.sql_resources.get_sql_database(RG, NAMES["cosmos-sql"], "orders").resource.id == "orders"
    assert client.mongo_db_resources.get_mongo_db_database(RG, NAMES["cosmos-mongo"], "orders").resource.id == "orders"
    assert client.cassandra_resources.get_cassandra_keyspace(RG, NAMES["cosmos-cassandra"], "orders").id == \
        env.targets["cosmos-cassandra"]
    graph = client.gremlin_resources.get_gremlin_graph(RG, NAMES["cosmos-gremlin"], "orders", "orders")
    assert graph.id == env.targets["cosmos-gremlin"] and graph.resource.partition_key.paths == ["/pk"]
    assert client.table_resources.get_table(RG, NAMES["cosmos-table"], "orders").resource.id == "orders"
    assert [d.name for d in client.sql_resources.list_sql_databases(RG, NAMES["cosmos-sql"])] == ["orders"]
    with pytest.raises(HttpResponseError) as exc:        # an API the account does not speak
        client.sql_resources.get_sql_database(RG, NAMES["cosmos-mongo"], "orders")
    assert exc.value.status_code == 400 and "not supported for this account" in str(exc.value)
    with pytest.raises(ResourceNotFoundError):
        client.sql_resources.get_sql_database(RG, NAMES["cosmos-sql"], "missing")

    keys = client.database_accounts.list_keys(RG, NAMES["cosmos-sql"])
    assert len(keys.primary_master_key) == 88 and keys.primary_readonly_master_key != keys.primary_master_key
    ro = client.database_accounts.list_read_only_keys(RG, NAMES["cosmos-sql"])
    assert ro.primary_readonly_master_key == keys.primary_readonly_master_key
    strings = client.database_accounts.list_connection_strings(RG, NAMES["cosmos-sql"]).connection_strings
    assert strings[0].description == "Primary SQL Connection String" and strings[0].key_kind == "Primary"
    assert strings[0].connection_string == (f"AccountEndpoint=https://sandbox-cosmos-sql.documents.azure.com:443/;"
                                            f"AccountKey={keys.primary_master_key};")
    assert [s.key_kind for s in strings] == ["Primary", "Secondary", "PrimaryReadonly", "SecondaryReadonly"]
    mongo_strings = client.database_accounts.list_connection_strings(RG, NAMES["cosmos-mongo"]).connection_strings
    assert mongo_strings[0].description == "Primary MongoDB Connection String" and mongo_strings[0].type == "MongoDB"
    assert mongo_strings[0].connection_string.startswith(
        "mongodb://sandbox-cosmos-mongo:") and "@sandbox-cosmos-mongo.mongo.cosmos.azure.com:10255/?ssl=true" in \
        mongo_strings[0].connection_string
    table_strings = client.database_accounts.list_connection_strings(RG, NAMES["cosmos-table"]).connection_strings
    assert "TableEndpoint=https://sandbox-cosmos-table.table.cosmos.azure.com:443/;" in \
        [s for s in table_strings if s.type == "Table"][0].connection_string


def test_cosmos_ip_rules_patch_is_a_long_running_operation(env, monkeypatch):
    from azure.mgmt.cosmosdb import CosmosDBManagementClient
    from azure.mgmt.cosmosdb.models import DatabaseAccountUpdateParameters, IpAddressOrRange
    client = CosmosDBManagementClient(env.cred, env.sub, **env.kw)
    name = NAMES["cosmos-sql"]
    account_id = env.targets["cosmos-sql"].split("/sqlDatabases/")[0]
    monkeypatch.setitem(env.sb.lro_seconds, "databaseAccounts", 1.0)
    seq = env.sb.log.last_seq()
    poller = client.database_accounts.begin_update(
        RG, name, DatabaseAccountUpdateParameters(ip_rules=[IpAddressOrRange(ip_address_or_range=EGRESS)]))
    during = client.database_accounts.get(RG, name)
    assert during.provisioning_state == "Updating" and during.ip_rules == []     # lands when the operation ends
    r = raw(env, "PATCH", account_id, {"properties": {"ipRules": []}}, api_version="2024-08-15")
    assert r.status_code == 412 and r.json()["error"]["code"] == "PreconditionFailed"
    assert "already an operation in progress" in r.json()["error"]["message"]
    done = poller.result(timeout=10)
    assert done.provisioning_state == "Succeeded" and [x.ip_address_or_range for x in done.ip_rules] == [EGRESS]
    assert [x.ip_address_or_range for x in client.database_accounts.get(RG, name).ip_rules] == [EGRESS]
    assert ("PATCH", account_id) in mutations(env, seq)
    # The initial response: 200, the account, Azure-AsyncOperation + Location.
    monkeypatch.setitem(env.sb.lro_seconds, "databaseAccounts", 0.2)
    r = raw(env, "PATCH", account_id, {"properties": {"ipRules": [{"ipAddressOrRange": EGRESS}]}},
            api_version="2024-08-15")
    assert r.status_code == 200 and r.json()["properties"]["provisioningState"] == "Updating"
    assert "/providers/Microsoft.DocumentDB/locations/eastus/operationsStatus/" in r.headers["Azure-AsyncOperation"]
    assert r.headers["Location"]
    before = raw(env, "GET", account_id, api_version="2024-08-15").json()
    assert wait_done(env, r)["status"] == "Succeeded"
    after = raw(env, "GET", account_id, api_version="2024-08-15").json()
    before["properties"]["provisioningState"] = "Succeeded"
    assert after == before       # the duplicate write changed nothing (systemData included)
    client.database_accounts.begin_update(RG, name, DatabaseAccountUpdateParameters(ip_rules=[])).result()


# --------------------------------------------------------------------------- database servers

FLEX = [("postgres-flexible", "azure.mgmt.rdbms.postgresql_flexibleservers", "PostgreSQLManagementClient",
         "postgres.database.azure.com", "Microsoft.DBforPostgreSQL"),
        ("mysql-flexible", "azure.mgmt.rdbms.mysql_flexibleservers", "MySQLManagementClient",
         "mysql.database.azure.com", "Microsoft.DBforMySQL"),
        ("postgres", "azure.mgmt.rdbms.postgresql", "PostgreSQLManagementClient",
         "postgres.database.azure.com", "Microsoft.DBforPostgreSQL"),
        ("mysql", "azure.mgmt.rdbms.mysql", "MySQLManagementClient", "mysql.database.azure.com",
         "Microsoft.DBforMySQL")]


@pytest.mark.parametrize("target,module,client_name,dns,ns", FLEX, ids=[f[0] for f in FLEX])
def test_database_server_firewall_rules_are_long_running(env, target, module, client_name, dns, ns):
    import importlib
    mod = importlib.import_module(module)
    client = getattr(mod, client_name)(env.cred, env.sub, **env.kw)
    name = NAMES[target]
    srv = client.servers.get(RG, name)
    assert srv.fully_qualified_domain_name == f"{name}.{dns}" and srv.administrator_login == "sandboxadmin"
    assert (srv.state if target.endswith("flexible") else srv.user_visible_state) == "Ready"
    db = client.databases.get(RG, name, "orders")
    assert db.id.lower() == env.targets[target].lower() and db.charset
    rule_model = mod.models.FirewallRule
    seq = env.sb.log.last_seq()
    poller = client.firewall_rules.begin_create_or_update(RG, name, "aks-sandbox-aks",
                                                          rule_model(start_ip_address=EGRESS, end_ip_address=EGRESS))
    rule = poller.result(timeout=10)
    assert (rule.start_ip_address, rule.end_ip_address) == (EGRESS, EGRESS)
    got = client.firewall_rules.get(RG, name, "aks-sandbox-aks")
    assert got.type == f"{ns}/{'flexibleServers' if target.endswith('flexible') else 'servers'}/firewallRules"
    assert ("PUT", f"{srv.id}/firewallRules/aks-sandbox-aks") in mutations(env, seq)
    # Raw: 202 with Azure-AsyncOperation and Location; the same rule again changes nothing.
    r = raw(env, "PUT", f"{srv.id}/firewallRules/aks-sandbox-aks",
            {"properties": {"startIpAddress": EGRESS, "endIpAddress": EGRESS}}, api_version=_version(target))
    assert r.status_code == 202 and not r.content
    assert f"/providers/{ns}/locations/" in r.headers["Azure-AsyncOperation"] and "/azureAsyncOperation/" in \
        r.headers["Azure-AsyncOperation"] and "/operationResults/" in r.headers["Location"]
    assert wait_done(env, r)["status"] == "Succeeded"
    assert client.firewall_rules.get(RG, name, "aks-sandbox-aks").as_dict() == got.as_dict()
    assert [x.name for x in client.firewall_rules.list_by_server(RG, name)] == ["aks-sandbox-aks"]
    r = raw(env, "PUT", f"{srv.id}/firewallRules/aks-sandbox-aks",
            {"properties": {"startIpAddress": "300.1.1.1", "endIpAddress": EGRESS}}, api_version=_version(target))
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidParameterValue"
    client.firewall_rules.begin_delete(RG, name, "aks-sandbox-aks").result(timeout=10)
    with pytest.raises(ResourceNotFoundError):
        client.firewall_rules.get(RG, name, "aks-sandbox-aks")


def test_sql_server_database_and_synchronous_firewall_rules(env):
    from azure.mgmt.sql import SqlManagementClient
    from azure.mgmt.sql.models import FirewallRule
    client = SqlManagementClient(env.cred, env.sub, **env.kw)
    name = NAMES["sql"]
    srv = client.servers.get(RG, name)
    assert srv.fully_qualified_domain_name == f"{name}.database.windows.net" and srv.version == "12.0"
    db = client.databases.get(RG, name, "orders")
    assert db.id == env.targets["sql"] and db.status == "Online" and db.sku.tier == "GeneralPurpose"
    assert sorted(d.name for d in client.databases.list_by_server(RG, name)) == ["master", "orders"]
    seq = env.sb.log.last_seq()
    rule = client.firewall_rules.create_or_update(RG, name, "aks-sandbox-aks",
                                                  FirewallRule(start_ip_address=EGRESS, end_ip_address=EGRESS))
    assert rule.start_ip_address == EGRESS and rule.type == "Microsoft.Sql/servers/firewallRules"
    assert [e["status"] for e in env.sb.log.entries(seq) if e["method"] == "PUT"] == [201]
    again = client.firewall_rules.create_or_update(RG, name, "aks-sandbox-aks",
                                                   FirewallRule(start_ip_address=EGRESS, end_ip_address=EGRESS))
    assert again.as_dict() == rule.as_dict() == client.firewall_rules.get(RG, name, "aks-sandbox-aks").as_dict()
    with pytest.raises(HttpResponseError) as exc:
        client.firewall_rules.create_or_update(RG, name, "bad:name", FirewallRule(start_ip_address=EGRESS,
                                                                                  end_ip_address=EGRESS))
    assert exc.value.status_code == 400
    client.firewall_rules.delete(RG, name, "aks-sandbox-aks")
    assert not list(client.firewall_rules.list_by_server(RG, name))


# --------------------------------------------------------------------------- caches

def test_redis_keys_and_firewall_rules(env):
    from azure.mgmt.redis import RedisManagementClient
    from azure.mgmt.redis.models import RedisFirewallRule
    client = RedisManagementClient(env.cred, env.sub, **env.kw)
    name = NAMES["redis"]
    cache = client.redis.get(RG, name)
    assert cache.host_name == f"{name}.redis.cache.windows.net" and cache.ssl_port == 6380 and cache.port == 6379
    assert cache.enable_non_ssl_port is False and cache.sku.name == "Standard" and cache.type == "Microsoft.Cache/Redis"
    keys = client.redis.list_keys(RG, name)
    assert len(keys.primary_key) == 44 and keys.secondary_key != keys.primary_key
    rule = client.firewall_rules.create_or_update(RG, name, "aks_sandbox_aks",
                                                  RedisFirewallRule(start_ip=EGRESS, end_ip=EGRESS))
    assert rule.name == f"{name}/aks_sandbox_aks" and rule.type == "Microsoft.Cache/Redis/firewallRules"
    again = client.firewall_rules.create_or_update(RG, name, "aks_sandbox_aks",
                                                   RedisFirewallRule(start_ip=EGRESS, end_ip=EGRESS))
    assert again.as_dict() == rule.as_dict() == client.firewall_rules.get(RG, name, "aks_sandbox_aks").as_dict()
    with pytest.raises(HttpResponseError) as exc:          # Redis rule names: letters, digits, '_'
        client.firewall_rules.create_or_update(RG, name, "aks-sandbox",
                                               RedisFirewallRule(start_ip=EGRESS, end_ip=EGRESS))
    assert exc.value.status_code == 400
    client.firewall_rules.delete(RG, name, "aks_sandbox_aks")
    assert not list(client.firewall_rules.list(RG, name))


def test_redis_enterprise_database_keys(env):
    tid = env.targets["redis-enterprise"]
    cluster = raw(env, "GET", tid.split("/databases/")[0], api_version="2024-10-01").json()
    assert cluster["properties"]["hostName"] == f"{NAMES['redis-enterprise']}.eastus.redisenterprise.cache.azure.net"
    db = raw(env, "GET", tid, api_version="2024-10-01").json()
    assert db["properties"]["port"] == 10000 and db["properties"]["clientProtocol"] == "Encrypted"
    keys = raw(env, "POST", tid + "/listKeys", api_version="2024-10-01").json()
    assert set(keys) == {"primaryKey", "secondaryKey"} and len(keys["primaryKey"]) == 44


# --------------------------------------------------------------------------- the rest

def test_app_configuration_store_and_keys(env):
    from azure.mgmt.appconfiguration import AppConfigurationManagementClient
    client = AppConfigurationManagementClient(env.cred, env.sub, **env.kw)
    store = client.configuration_stores.get(RG, NAMES["appconfig"])
    assert store.endpoint == "https://sandbox-appconfig.azconfig.io" and store.disable_local_auth is False
    keys = list(client.configuration_stores.list_keys(RG, NAMES["appconfig"]))
    assert [(k.name, k.read_only) for k in keys] == [("Primary", False), ("Secondary", False),
                                                     ("Primary Read Only", True), ("Secondary Read Only", True)]
    assert keys[0].connection_string == f"Endpoint=https://sandbox-appconfig.azconfig.io;Id={keys[0].id};" \
                                        f"Secret={keys[0].value}"


def test_cognitive_services_keys_and_network_acls(env):
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
    from azure.mgmt.cognitiveservices.models import Account, AccountProperties, IpRule, NetworkRuleSet
    client = CognitiveServicesManagementClient(env.cred, env.sub, **env.kw)
    name = NAMES["cognitiveservices"]
    acct = client.accounts.get(RG, name)
    assert acct.properties.endpoint == f"https://{name}.cognitiveservices.azure.com/"
    assert acct.kind == "CognitiveServices"
    keys = client.accounts.list_keys(RG, name)
    assert len(keys.key1) == 32 and keys.key1 != keys.key2
    update = Account(properties=AccountProperties(network_acls=NetworkRuleSet(
        default_action="Deny", ip_rules=[IpRule(value=EGRESS)])))
    poller = client.accounts.begin_update(RG, name, update)
    assert client.accounts.get(RG, name).properties.provisioning_state == "Accepted"
    r = raw(env, "PATCH", env.targets["cognitiveservices"], {"tags": {}}, api_version="2023-05-01")
    assert r.status_code == 409
    done = poller.result(timeout=10)
    assert done.properties.provisioning_state == "Succeeded"
    acls = client.accounts.get(RG, name).properties.network_acls
    assert acls.default_action == "Deny" and [x.value for x in acls.ip_rules] == [EGRESS]
    before = client.accounts.get(RG, name).properties.network_acls.as_dict()
    client.accounts.begin_update(RG, name, update).result(timeout=10)
    assert client.accounts.get(RG, name).properties.network_acls.as_dict() == before


def test_signalr_and_web_pubsub_keys_and_ip_rules(env):
    from azure.mgmt.signalr import SignalRManagementClient
    from azure.mgmt.signalr.models import SignalRResource
    client = SignalRManagementClient(env.cred, env.sub, **env.kw)
    name = NAMES["signalr"]
    res = client.signal_r.get(RG, name)
    assert res.host_name == f"{name}.service.signalr.net" and res.public_port == 443
    assert [(x.value, x.action) for x in res.network_ac_ls.ip_rules] == [("0.0.0.0/0", "Allow"), ("::/0", "Allow")]
    keys = client.signal_r.list_keys(RG, name)
    assert keys.primary_connection_string == f"Endpoint=https://{name}.service.signalr.net;AccessKey=" \
                                             f"{keys.primary_key};Version=1.0;"
    acls = res.network_ac_ls
    acls.ip_rules = acls.ip_rules + [type(acls.ip_rules[0])(value=EGRESS, action="Allow")]
    done = client.signal_r.begin_update(RG, name, SignalRResource(location=res.location, network_ac_ls=acls)).result(
        timeout=10)
    assert [x.value for x in done.network_ac_ls.ip_rules] == ["0.0.0.0/0", "::/0", EGRESS]
    assert done.network_ac_ls.public_network.allow           # kept: networkACLs merges key by key

    # Web PubSub (no SDK in azure-cli): raw calls.
    wps = env.targets["webpubsub"]
    got = raw(env, "GET", wps, api_version="2024-03-01").json()
    assert got["properties"]["hostName"] == f"{NAMES['webpubsub']}.webpubsub.azure.com" and got["kind"] == "WebPubSub"
    keys = raw(env, "POST", wps + "/listKeys", api_version="2024-03-01").json()
    assert keys["primaryConnectionString"] == f"Endpoint=https://{NAMES['webpubsub']}.webpubsub.azure.com;" \
                                              f"AccessKey={keys['primaryKey']};Version=1.0;"
    body = {"properties": {"networkACLs": {"ipRules": [{"value": EGRESS, "action": "Allow"}]}}}
    r = raw(env, "PATCH", wps, body, api_version="2024-03-01")
    assert r.status_code == 202 and r.headers["Location"] and r.headers["Azure-AsyncOperation"]
    assert raw(env, "PATCH", wps, body, api_version="2024-03-01").status_code == 409
    assert wait_done(env, r)["status"] == "Succeeded"
    result = requests.get(r.headers["Location"], headers={"Authorization": "Bearer x"}, verify=env.ca, timeout=10)
    assert result.status_code == 200 and result.json()["properties"]["networkACLs"]["ipRules"] == \
        [{"value": EGRESS, "action": "Allow"}]
    after = raw(env, "GET", wps, api_version="2024-03-01").json()
    assert after["properties"]["networkACLs"]["ipRules"] == [{"value": EGRESS, "action": "Allow"}]


def test_application_insights_connection_string_is_a_property(env):
    from azure.mgmt.applicationinsights import ApplicationInsightsManagementClient
    client = ApplicationInsightsManagementClient(env.cred, env.sub, api_version="2020-02-02-preview", **env.kw)
    comp = client.components.get(RG, NAMES["app-insights"])
    assert comp.connection_string.startswith(f"InstrumentationKey={comp.instrumentation_key};IngestionEndpoint=https://"
                                             "eastus-8.in.applicationinsights.azure.com/;")
    assert comp.type == "microsoft.insights/components" and comp.kind == "web"


def test_storage_service_targets_and_endpoints(env):
    from azure.mgmt.storage import StorageManagementClient
    client = StorageManagementClient(env.cred, env.sub, **env.kw)
    acct = server.STORAGE_ACCOUNT
    assert client.file_services.get_service_properties(RG, acct).id == env.targets["storage-file"]
    assert client.queue_services.get_service_properties(RG, acct).id == env.targets["storage-queue"]
    assert client.table_services.get_service_properties(RG, acct).id == env.targets["storage-table"]
    ep = client.storage_accounts.get_properties(RG, acct).primary_endpoints
    assert ep.file == f"https://{acct}.file.core.windows.net/" and ep.queue and ep.table and ep.dfs and ep.web
    # Storage IP rules take addresses; /31 and /32 ranges are refused.
    r = raw(env, "PATCH", env.targets["storage-file"].split("/fileServices")[0],
            {"properties": {"networkAcls": {"ipRules": [{"value": EGRESS + "/32"}]}}}, api_version="2023-05-01")
    assert r.status_code == 400 and r.json()["error"]["code"] == "NetworkAclsValidationFailure"


def test_storage_virtual_network_rule_needs_the_subnets_service_endpoint(env):
    """A virtual network rule for the cluster's node subnet: refused (as Azure refuses it) while the subnet lacks the
    Microsoft.Storage service endpoint; accepted once it has it. The subnet reads back its endpoints."""
    sandbox = SandboxClient({"armUrl": env.sb.arm_url, "ca": env.ca})
    account = env.targets["storage-file"].split("/fileServices")[0]
    subnet = sandbox.set_node_subnet(CLUSTER_RG, CLUSTER, ["Microsoft.KeyVault"])["subnetId"]
    try:
        body = {"properties": {"networkAcls": {"virtualNetworkRules": [{"id": subnet, "action": "Allow"}]}}}
        r = raw(env, "PATCH", account, body, api_version="2023-05-01")
        assert r.status_code == 400 and "SubnetsHaveNoServiceEndpointsConfigured" in r.json()["error"]["message"]
        assert "Add Microsoft.Storage to subnet's ServiceEndpoints collection" in r.json()["error"]["message"]
        sandbox.set_node_subnet(CLUSTER_RG, CLUSTER, ["Microsoft.KeyVault", "Microsoft.Storage"])
        endpoints = _get(env, subnet)["properties"]["serviceEndpoints"]
        assert [(e["service"], e["locations"]) for e in endpoints] == [
            ("Microsoft.KeyVault", ["eastus"]), ("Microsoft.Storage", ["eastus"])]
        r = raw(env, "PATCH", account, body, api_version="2023-05-01")
        assert r.status_code == 200, r.text
        assert [v["id"] for v in r.json()["properties"]["networkAcls"]["virtualNetworkRules"]] == [subnet]
        missing = {"properties": {"networkAcls": {"virtualNetworkRules": [{"id": subnet + "x"}]}}}
        assert raw(env, "PATCH", account, missing, api_version="2023-05-01").status_code == 400
    finally:
        raw(env, "PATCH", account, {"properties": {"networkAcls": {"virtualNetworkRules": []}}},
            api_version="2023-05-01")
        sandbox.set_node_subnet(CLUSTER_RG, CLUSTER, managed=True)


def test_key_vault_ip_rules_read_back_as_ranges(env):
    vault = env.targets["keyvault"]
    body = {"properties": {"networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": EGRESS}]}}}
    r = raw(env, "PATCH", vault, body, api_version="2023-07-01")
    assert r.status_code == 200 and r.json()["properties"]["networkAcls"]["ipRules"] == [{"value": EGRESS + "/32"}]
    again = raw(env, "PATCH", vault, body, api_version="2023-07-01").json()
    assert again["properties"]["networkAcls"] == r.json()["properties"]["networkAcls"]
    raw(env, "PATCH", vault, {"properties": {"networkAcls": {"defaultAction": "Allow", "ipRules": []}}},
        api_version="2023-07-01")


# --------------------------------------------------------------------------- cluster egress

def _get(env, rid, version="2024-05-01"):
    r = raw(env, "GET", rid, api_version=version)
    assert r.status_code == 200, r.text
    return r.json()


def test_cluster_egress_shapes_and_a_stale_firewall_rule(env):
    from azure.mgmt.containerservice import ContainerServiceClient
    aks = ContainerServiceClient(env.cred, env.sub, polling_interval=0.1, **env.kw)   # AKS sends no Retry-After
    base = f"/clusters/{CLUSTER_RG}/{CLUSTER}/egress"
    first = control(env, "GET", base)
    assert first["outboundType"] == "loadBalancer" and len(first["ips"]) == 1 and first["ips"][0].startswith("20.")
    lb_pip = first["publicIpIds"][0]
    # A firewall rule for the egress address, as a connector writes it...
    rule = f"{env.targets['sql'].split('/databases/')[0]}/firewallRules/aks-egress"
    ip = first["ips"][0]
    assert raw(env, "PUT", rule, {"properties": {"startIpAddress": ip, "endIpAddress": ip}},
               api_version="2021-11-01").status_code == 201

    # ...goes stale when the address changes: the same public IP resource, another address.
    sandbox = SandboxClient({"armUrl": env.sb.arm_url, "ca": env.ca})
    moved = sandbox.set_egress(CLUSTER_RG, CLUSTER, "loadBalancer", ["20.9.9.9"])
    assert moved["publicIpIds"] == [lb_pip] and _get(env, lb_pip)["properties"]["ipAddress"] == "20.9.9.9"
    np = aks.managed_clusters.get(CLUSTER_RG, CLUSTER).network_profile
    assert [x.id for x in np.load_balancer_profile.effective_outbound_i_ps] == [lb_pip]
    stale = _get(env, rule, "2021-11-01")["properties"]["startIpAddress"]
    assert stale == ip and stale not in sandbox.egress(CLUSTER_RG, CLUSTER)["ips"]
    raw(env, "DELETE", rule, api_version="2021-11-01")

    # A managed NAT gateway with two addresses.
    nat = control(env, "PUT", base, {"outboundType": "natGateway", "ips": ["52.1.1.1", "52.1.1.2"]})
    assert nat["outboundType"] == "managedNATGateway" and nat["ips"] == ["52.1.1.1", "52.1.1.2"]
    np = aks.managed_clusters.get(CLUSTER_RG, CLUSTER).network_profile
    assert np.outbound_type == "managedNATGateway" and np.load_balancer_profile is None
    assert [x.id for x in np.nat_gateway_profile.effective_outbound_i_ps] == nat["publicIpIds"]
    assert [_get(env, i)["properties"]["ipAddress"] for i in nat["publicIpIds"]] == ["52.1.1.1", "52.1.1.2"]
    assert raw(env, "GET", lb_pip, api_version="2024-05-01").status_code == 404       # no longer used: gone

    # A user-assigned NAT gateway on the node subnet.
    uan = control(env, "PUT", base, {"outboundType": "userAssignedNATGateway", "ips": ["52.2.2.2"]})
    cluster = aks.managed_clusters.get(CLUSTER_RG, CLUSTER)
    assert cluster.network_profile.nat_gateway_profile is None
    subnet = _get(env, cluster.agent_pool_profiles[0].vnet_subnet_id)
    natgw = _get(env, subnet["properties"]["natGateway"]["id"])
    assert [x["id"] for x in natgw["properties"]["publicIpAddresses"]] == uan["publicIpIds"]
    assert _get(env, uan["publicIpIds"][0])["properties"]["ipAddress"] == "52.2.2.2"

    # User-defined routing: no outbound IP in ARM.
    udr = control(env, "PUT", base, {"outboundType": "userDefinedRouting"})
    assert udr == {"id": first["id"], "outboundType": "userDefinedRouting", "publicIpIds": [], "ips": []}
    np = aks.managed_clusters.get(CLUSTER_RG, CLUSTER).network_profile
    assert np.outbound_type == "userDefinedRouting" and np.load_balancer_profile is None \
        and np.nat_gateway_profile is None

    # Back to the load balancer with the first address.
    back = control(env, "PUT", base, {"outboundType": "loadBalancer", "ips": first["ips"]})
    assert back["ips"] == first["ips"] and back["publicIpIds"] == [lb_pip]
    r = requests.put(env.sb.arm_url + "/_sandbox/arm" + base, json={"outboundType": "sideways"}, verify=env.ca,
                     timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"
