# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Every Azure-resource-backed target's fetcher and every firewall mechanism, against the running sandbox,
through provider/arm.Arm on the logged-in az (the same pipeline the commands use).

Fetchers: the values (endpoint, host, ...) match the resource, the credential is the one the service's own
keys API answers (read separately with `az rest`), and without the secret no keys API is called.
Firewall: the cluster's egress IPs are added once; a second run writes nothing (the sandbox request log)."""
from urllib.parse import quote

from urllib.error import HTTPError

import pytest

from azext_aks_connection import targets as t
from azext_aks_connection.provider import firewall
from azext_aks_connection.provider import target as target_ops

pytestmark = pytest.mark.e2e

# Not seeded by the sandbox: no Azure resource (confluent-cloud) or a Marketplace one it does not serve.
NOT_SEEDED = {"confluent-cloud"}          # an endpoint, not an Azure resource
ARM_TARGETS = sorted(n for n in t.TARGETS if n not in NOT_SEEDED)
AUTH_VALUES = {"client_id": "cid", "tenant_id": "tid", "client_secret": "csecret"}
USER_VALUES = {"user": "sandboxadmin", "password": "pw;d", "host": "ep-sandbox.eastus2.azure.neon.tech",
               "database": "neondb", "connection_string": "mongodb+srv://u:p@sandbox-atlas.x.mongodb.net/"}


@pytest.fixture(scope="module")
def arm(az, sandbox):  # pylint: disable=unused-argument
    from azure.cli.core import get_default_cli
    from azext_aks_connection.provider.arm import Arm
    return Arm(get_default_cli(), subscription_id=sandbox["seeds"]["subscription"])


def _rest(az, method, url):
    res = az("rest", "--method", method, "--url", url, "-o", "json")
    assert res.rc == 0, res
    return res.json


def _raw_secret(az, name, tid, rid, body):
    """The credential as the service's keys API (or GET) answers it: what the fetcher must hand on."""
    target = t.TARGETS[name]
    api = f"?api-version={target.api_version}"
    if name.startswith("storage-"):
        return _rest(az, "post", f"{rid}/listKeys{api}")["keys"][0]["value"]
    if name == "cosmos-mongo":
        strings = _rest(az, "post", f"{rid}/listConnectionStrings{api}")["connectionStrings"]
        return next(s["connectionString"] for s in strings if s["description"].startswith("Primary MongoDB"))
    if name.startswith("cosmos-"):
        return _rest(az, "post", f"{rid}/listKeys{api}")["primaryMasterKey"]
    if name in ("eventhub", "servicebus"):
        return _rest(az, "post", f"{rid}/authorizationRules/RootManageSharedAccessKey/listKeys{api}")[
            "primaryConnectionString"]
    if name == "redis":
        return _rest(az, "post", f"{rid}/listKeys{api}")["primaryKey"]
    if name == "redis-enterprise":
        return _rest(az, "post", f"{tid}/listKeys{api}")["primaryKey"]
    if name == "appconfig":
        return next(k["connectionString"] for k in _rest(az, "post", f"{rid}/listKeys{api}")["value"]
                    if not k["readOnly"])
    if name in ("signalr", "webpubsub"):
        return _rest(az, "post", f"{rid}/listKeys{api}")["primaryConnectionString"]
    if name == "cognitiveservices":
        return _rest(az, "post", f"{rid}/listKeys{api}")["key1"]
    if name == "app-insights":
        return body["properties"]["ConnectionString"]
    return None         # databases: the password is the user's; key vault: none


def _expected_values(name, body, rid):
    """Fields the fetcher reads from the resource GET, as the resource states them."""
    p = body.get("properties") or {}
    if name.startswith("storage-"):
        svc = name.split("-")[1]
        return {"account_name": body["name"], "endpoint": p["primaryEndpoints"][svc]}
    if name == "keyvault":
        return {"name": body["name"], "endpoint": p["vaultUri"]}
    if name.startswith("cosmos-"):
        return {"name": body["name"], "endpoint": p["documentEndpoint"]}
    if name in ("eventhub", "servicebus"):
        return {"endpoint": f"{body['name']}.servicebus.windows.net"}
    if name == "redis":
        return {"host": p["hostName"], "port": str(p["sslPort"])}
    if name == "redis-enterprise":
        return {"host": p["hostName"], "port": "10000", "database": "0"}
    if name in ("appconfig", "cognitiveservices"):
        return {"endpoint": p["endpoint"]}
    if name in ("signalr", "webpubsub"):
        return {"host": p["hostName"]}
    if name == "app-insights":
        return {"name": body["name"]}
    if name in ("neon-postgres", "mongodb-atlas"):
        return {"name": body["name"]}       # an organization: the connection values come from the user
    assert name in ("mysql", "mysql-flexible", "postgres", "postgres-flexible", "sql"), name
    assert rid.lower().rsplit("/", 2)[-2] in ("servers", "flexibleservers")
    return {"host": p["fullyQualifiedDomainName"]}


@pytest.mark.parametrize("name", ARM_TARGETS)
def test_fetcher_reads_the_seeded_target(name, az, arm, sandbox, sbc):
    target = t.TARGETS[name]
    tid = sandbox["seeds"]["targets"][name]
    rid = target_ops.resource_id(target, tid)
    body = target_ops.get_target(arm, target, tid)
    assert body["id"].lower() == rid.lower()

    # Identity auth: the values a client needs besides its identity, and no keys API called.
    mark = sbc.mark()
    without = target_ops.fetch_values(arm, target, tid, body, with_secret=False)
    calls = sbc.requests(since=mark, plane="arm")
    assert all(c["method"] == "GET" for c in calls), calls

    mark = sbc.mark()
    values = target_ops.fetch_values(arm, target, tid, body, with_secret=True)
    posts = [c for c in sbc.requests(since=mark, plane="arm") if c["method"] == "POST"]
    expected = _expected_values(name, body, rid)
    for field, value in expected.items():
        assert values[field] == value == without[field], (field, values)
    # The target id's fields are there too, unless the fetcher knows better (Redis Enterprise's ARM
    # database "default" is logical database 0).
    assert {k: v for k, v in target_ops.id_fields(target, tid).items() if k not in expected}.items() <= values.items()

    secret = _raw_secret(az, name, tid, rid, body)
    credentials = set(values) - set(without)
    if secret is None:
        assert not credentials and not posts
    else:
        assert credentials and len(posts) <= 1, posts
        assert any(secret in str(values[f]) for f in credentials), "the fetched credential is the service's"
        assert all(secret not in str(v) for v in without.values())

    # Every configuration key of every auth x client type renders, and credentials land only in keys
    # flagged as credentials.
    for auth in target.auth_types + ([t.AUTH_CSI] if target.csi else []):
        given = dict(values if auth == t.AUTH_SECRET else without, **AUTH_VALUES)
        given.update({v.field: USER_VALUES[v.field] for v in target.user_values if auth == t.AUTH_SECRET})
        for client in target.client_types:
            for row in t.configurations(target, auth, client, given):
                if not row["credential"]:
                    assert secret is None or secret not in row["value"], (auth, client, row["name"])


def test_connection_strings_hold_the_seeded_keys(az, arm, sandbox):
    """The keys a Secret would carry, for a few client types, built from the service's key."""
    cases = [("storage-queue", "none", "AZURE_STORAGEQUEUE_CONNECTIONSTRING"),
             ("cosmos-sql", "python", "AZURE_COSMOS_CONNECTIONSTRING"),
             ("cosmos-cassandra", "none", "AZURE_COSMOS_PASSWORD"),
             ("redis", "python", "AZURE_REDIS_CONNECTIONSTRING"),
             ("redis-enterprise", "dotnet", "AZURE_REDIS_CONNECTIONSTRING"),
             ("servicebus", "springBoot", "spring.cloud.azure.servicebus.connection-string"),
             ("cognitiveservices", "python", "AZURE_COGNITIVESERVICES_KEY")]
    for name, client, key in cases:
        target = t.TARGETS[name]
        tid = sandbox["seeds"]["targets"][name]
        rid = target_ops.resource_id(target, tid)
        body = target_ops.get_target(arm, target, tid)
        values = target_ops.fetch_values(arm, target, tid, body)
        rows = {r["name"]: r for r in t.configurations(target, t.AUTH_SECRET, client, values)}
        secret = _raw_secret(az, name, tid, rid, body)
        assert rows[key]["credential"] is True
        assert secret in rows[key]["value"] or quote(secret, safe="") in rows[key]["value"], (name, rows[key])


# --------------------------------------------------------------------------- firewall

def _control(sbc, method, rid, body=None):
    return sbc.arm(method, "resource?id=" + quote(rid, safe="/"), body)


@pytest.fixture
def restore(sbc):
    """Put back, after the test, the raw resources a test reshapes; delete what it created."""
    saved, created = {}, []

    def keep(rid):
        saved.setdefault(rid, _control(sbc, "GET", rid))

    yield keep, created
    for rid in created:
        try:
            _control(sbc, "DELETE", rid)
        except HTTPError as exc:
            assert exc.code == 404, exc        # the test removed it already
    for rid, body in saved.items():
        _control(sbc, "PUT", rid, body)


def _egress(sbc, sandbox):
    c = sandbox["seeds"]["cluster"]
    ips = sbc.egress(c["resourceGroup"], c["name"])["ips"]
    assert ips
    return ips


# target -> (merge patch on the raw resource making it admit only listed networks, or None)
RESTRICT = {
    "storage-queue": {"properties": {"networkAcls": {"defaultAction": "Deny", "ipRules": []}}},
    "keyvault": {"properties": {"networkAcls": {"defaultAction": "Deny", "ipRules": []}}},
    "servicebus": ("/networkRuleSets/default", {"properties": {"defaultAction": "Deny"}}),
    "eventhub": ("/networkRuleSets/default", {"properties": {"defaultAction": "Deny"}}),
    "cosmos-sql": {"properties": {"ipRules": [{"ipAddressOrRange": "10.9.8.7"}]}},
    "cognitiveservices": {"properties": {"networkAcls": {"defaultAction": "Deny", "ipRules": []}}},
    "signalr": {"properties": {"networkACLs": {"ipRules": [{"value": "0.0.0.0/0", "action": "Deny"}]}}},
    "webpubsub": {"properties": {"networkACLs": {"ipRules": [{"value": "0.0.0.0/0", "action": "Deny"}]}}},
    "postgres-flexible": None, "mysql-flexible": None, "postgres": None, "mysql": None, "sql": None,
    "redis": "office-rule",
}


def _restricted(name, arm, sandbox, sbc, restore):
    """(target, target id, resource id, the cluster's egress IPs) of the seeded target ``name``, made to admit only
    listed networks (RESTRICT) and without a rule of ours; ``restore`` puts it back after the test."""
    keep, created = restore
    target = t.TARGETS[name]
    tid = sandbox["seeds"]["targets"][name]
    rid = target_ops.resource_id(target, tid)
    ips = _egress(sbc, sandbox)
    how = RESTRICT[name]
    if isinstance(how, tuple):
        keep(rid + how[0])
        _control(sbc, "PATCH", rid + how[0], how[1])
    elif isinstance(how, dict):
        keep(rid)
        _control(sbc, "PATCH", rid, how)
    elif how == "office-rule":        # a cache with no rule admits all: give it one first
        office = rid + "/firewallRules/office"
        arm.send("PUT", office, target.api_version, body={"properties": {"startIP": "10.0.0.1", "endIP": "10.0.0.1"}})
        created.append(office)
    if target.firewall in ("server-rules", "redis"):
        rules = [f"{rid}/firewallRules/{firewall.rule_name(ip)}" for ip in ips]
        for rule in rules:          # a connection of another test on the same server may have made it
            try:
                _control(sbc, "DELETE", rule)
            except HTTPError as exc:
                assert exc.code == 404, exc
        created.extend(rules)
    return target, tid, rid, ips


@pytest.mark.parametrize("name", sorted(RESTRICT))
def test_firewall_rule_added_once(name, arm, sandbox, sbc, restore):
    target, tid, rid, ips = _restricted(name, arm, sandbox, sbc, restore)

    body = target_ops.get_target(arm, target, tid)
    mark = sbc.mark()
    first = firewall.ensure_rules(arm, target, rid, body, ips)
    assert first == {"added": ips, "present": [], "skipped_reason": None}
    writes = sbc.requests(since=mark, plane="arm", mutating=True)
    per_address = target.firewall in ("server-rules", "redis")
    assert len(writes) == (len(ips) if per_address else 1), writes
    assert all(w["method"] in ("PUT", "PATCH") for w in writes)

    body = target_ops.get_target(arm, target, tid)
    mark = sbc.mark()
    second = firewall.ensure_rules(arm, target, rid, body, ips)
    assert second == {"added": [], "present": ips, "skipped_reason": None}
    assert sbc.requests(since=mark, plane="arm", mutating=True) == []


@pytest.mark.parametrize("name", ["storage-table", "redis", "cosmos-table", "signalr", "servicebus"])
def test_firewall_leaves_open_targets_alone(name, arm, sandbox, sbc):
    """As seeded, these admit every network: a rule would shut every other client out."""
    target = t.TARGETS[name]
    tid = sandbox["seeds"]["targets"][name]
    rid = target_ops.resource_id(target, tid)
    body = target_ops.get_target(arm, target, tid)
    mark = sbc.mark()
    out = firewall.ensure_rules(arm, target, rid, body, _egress(sbc, sandbox))
    assert not out["added"] and "admits all networks" in out["skipped_reason"]
    assert sbc.requests(since=mark, plane="arm", mutating=True) == []


@pytest.mark.parametrize("name", ["appconfig", "redis-enterprise", "app-insights"])
def test_targets_without_ip_rules_are_not_touched(name, arm, sandbox, sbc):
    target = t.TARGETS[name]
    tid = sandbox["seeds"]["targets"][name]
    mark = sbc.mark()
    out = firewall.ensure_rules(arm, target, target_ops.resource_id(target, tid), {}, _egress(sbc, sandbox))
    assert out == {"added": [], "present": [], "skipped_reason": firewall.NO_IP_RULES[name]}
    assert sbc.requests(since=mark, plane="arm") == []


# target -> (the write, the api-version) of the SDK azure-cli ships that writes its rules: the SDK's own for the
# per-address rules; for a list written whole, the one it was read with (the write carries no field the read did
# not show).
SDK_WRITES = {"postgres-flexible": ("PUT", "2023-12-01-preview"), "mysql-flexible": ("PUT", "2023-06-01-preview"),
              "sql": ("PUT", "2024-11-01-preview"), "redis": ("PUT", "2024-11-01"),
              "storage-queue": ("PATCH", "2023-05-01"), "keyvault": ("PATCH", "2023-07-01"),
              "cosmos-sql": ("PATCH", "2024-11-15"), "cognitiveservices": ("PATCH", "2024-10-01"),
              "servicebus": ("PUT", "2024-01-01"), "eventhub": ("PUT", "2024-01-01")}


@pytest.mark.parametrize("name", sorted(SDK_WRITES))
def test_rules_written_and_removed_through_the_shipped_sdk(name, arm, sandbox, sbc, restore):
    """Per-address rules (SQL, PostgreSQL, MySQL, Redis) and rule lists (Storage, Key Vault, Cosmos DB, Cognitive
    Services, Service Bus, Event Hubs) are written through the SDK azure-cli ships (its write in the sandbox's log);
    delete --cleanup's removal takes them away, and a second removal (nothing left) fails nothing."""
    target, tid, rid, ips = _restricted(name, arm, sandbox, sbc, restore)
    mark = sbc.mark()
    assert firewall.ensure_rules(arm, target, rid, target_ops.get_target(arm, target, tid), ips)["added"] == ips
    writes = sbc.requests(since=mark, plane="arm", mutating=True)
    assert writes and {(w["method"], w["apiVersion"]) for w in writes} == {SDK_WRITES[name]}, writes

    mark = sbc.mark()
    assert firewall.remove_rules(arm, target, rid, ips) == ips
    removals = sbc.requests(since=mark, plane="arm", mutating=True)
    assert removals and {w["apiVersion"] for w in removals} == {SDK_WRITES[name][1]}, removals
    assert firewall.admits(arm, target, rid, target_ops.get_target(arm, target, tid), ips)["missing"] == ips
    mark = sbc.mark()
    assert firewall.remove_rules(arm, target, rid, ips) == ips
    again = sbc.requests(since=mark, plane="arm", mutating=True)
    assert all(w["method"] == "DELETE" for w in again) if target.family.per_address else again == [], again
