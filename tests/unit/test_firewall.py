# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""provider/firewall.py against a fake ARM that keeps state: each mechanism adds a missing rule once, a second
run writes nothing, targets open to all networks or closed to the public are left alone, long-running
writes are polled at the service's Retry-After."""
import copy

import pytest

from azext_aks_connection import targets as t
from azext_aks_connection.provider import firewall, retry

IPS = ["20.1.2.3", "20.1.2.4"]


class StatefulArm:
    """Resources by id; GET, PATCH (merges properties), PUT (replaces); ``lro`` answers writes with an
    Azure-AsyncOperation URL and Retry-After 3 that reports Succeeded on the first poll: a PUT with 202, a PATCH
    with 200 and the resource (as Cosmos DB's account update does: its only documented status). The families' SDK
    writes reach it through :class:`ArmTransport`."""
    cli_ctx = None

    def __init__(self, resources, lro=False):
        self.res = {k.lower(): copy.deepcopy(v) for k, v in resources.items()}
        self.lro, self.calls, self.ops = lro, [], set()

    def send(self, method, path, api_version=None, body=None, secret=False, headers=None):  # noqa  pylint: disable=unused-argument
        self.calls.append((method, path, copy.deepcopy(body)))
        key = path.lower()
        if method == "GET":
            if key in self.ops:
                return 200, {"status": "Succeeded"}, {}
            if key.endswith("/firewallrules"):
                return 200, {"value": [copy.deepcopy(v) for k, v in self.res.items() if k.startswith(key + "/")]}, {}
            return 200, copy.deepcopy(self.res[key]), {}
        if method == "PATCH":
            self.res[key]["properties"].update(copy.deepcopy(body["properties"]))
        elif method == "PUT":
            self.res[key] = dict(copy.deepcopy(body), name=path.rsplit("/", 1)[1])
        if self.lro:
            op = f"https://management.example/operations/{len(self.calls)}?api-version=x"
            self.ops.add(op.lower())
            if method == "PATCH":
                return 200, copy.deepcopy(self.res[key]), {"Azure-AsyncOperation": op, "Retry-After": "3"}
            return 202, None, {"Azure-AsyncOperation": op, "Retry-After": "3"}
        return 200, copy.deepcopy(self.res[key]), {}

    def get(self, resource_id, api_version):
        return self.send("GET", resource_id, api_version)[1]

    def writes(self):
        return [c for c in self.calls if c[0] in ("PUT", "PATCH")]


class ArmTransport:
    """The transport of a real management SDK client whose requests go to a StatefulArm (as it would send them to
    ARM: method, resource id, api-version, JSON body) and whose polling waits go to retry.pause."""

    def __init__(self, arm):
        self.arm = arm

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def open(self):
        pass

    def close(self):
        pass

    def sleep(self, duration):
        retry.pause(duration)

    def send(self, request, **kwargs):  # pylint: disable=unused-argument
        import io
        import json
        from urllib.parse import parse_qs, urlparse
        import requests
        from azure.core.rest._requests_basic import RestRequestsTransportResponse
        url = urlparse(request.url)
        rest = hasattr(request, "content")          # azure.core.rest's request (typespec SDKs), else the legacy one
        content = request.content if rest else request.body
        body = json.loads(content) if content else None
        if request.url.lower() in self.arm.ops:         # an operation's status URL, as the service gave it
            status, answer, headers = self.arm.send(request.method, request.url)
        else:
            status, answer, headers = self.arm.send(request.method, url.path, parse_qs(url.query)["api-version"][0],
                                                    body=body)
        raw = requests.Response()
        raw.status_code, raw.url, raw.reason = status, request.url, "OK"
        raw.headers.update(dict(headers or {}, **{"Content-Type": "application/json"}))
        raw.raw = io.BytesIO(json.dumps(answer).encode() if answer is not None else b"")
        if rest:
            return RestRequestsTransportResponse(request=request, internal_response=raw)
        from azure.core.pipeline.transport import RequestsTransportResponse
        return RequestsTransportResponse(request, raw)


class _Token:  # pylint: disable=too-few-public-methods
    def get_token(self, *scopes, **kwargs):  # pylint: disable=unused-argument
        from azure.core.credentials import AccessToken
        return AccessToken("token", 4102444800)


_REAL_SDK_CLIENT = firewall.sdk_client


def _sdk_client(arm, client, resource_id, api_version=None):
    """What firewall.sdk_client builds, over the fake ARM (a real Arm: the real client; the fixture below is
    imported by an end-to-end module too)."""
    import importlib
    if not isinstance(arm, StatefulArm):
        return _REAL_SDK_CLIENT(arm, client, resource_id, api_version)
    module, name = client.split(":")
    return getattr(importlib.import_module(module), name)(
        _Token(), resource_id.split("/")[2], base_url="https://management.example", transport=ArmTransport(arm),
        **({"api_version": api_version} if api_version else {}))


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    waits = []
    monkeypatch.setattr(retry, "pause", waits.append)
    monkeypatch.setattr(firewall, "sdk_client", _sdk_client)
    return waits


def _run_twice(arm, name, rid, ips=None):
    target, ips = t.TARGETS[name], IPS if ips is None else ips
    first = firewall.ensure_rules(arm, target, rid, arm.get(rid, target.api_version), ips)
    writes = len(arm.writes())
    second = firewall.ensure_rules(arm, target, rid, arm.get(rid, target.api_version), ips)
    assert len(arm.writes()) == writes, "a second run writes nothing"
    assert second == {"added": [], "present": list(ips), "skipped_reason": None}
    return first


SA = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"


def test_storage_adds_bare_addresses_once():
    arm = StatefulArm({SA: {"name": "st", "properties": {"publicNetworkAccess": "Enabled", "networkAcls": {
        "defaultAction": "Deny", "bypass": "AzureServices", "ipRules": [{"value": "20.1.2.4", "action": "Allow"}]}}}})
    expected = {"added": ["20.1.2.3"], "present": ["20.1.2.4"], "skipped_reason": None}
    assert _run_twice(arm, "storage-queue", SA) == expected
    (_, path, body), = arm.writes()
    assert path == SA and body == {"properties": {"networkAcls": {
        "defaultAction": "Deny", "bypass": "AzureServices",
        "ipRules": [{"value": "20.1.2.4", "action": "Allow"}, {"value": "20.1.2.3", "action": "Allow"}]}}}


@pytest.mark.parametrize("props, reason", [
    ({"networkAcls": {"defaultAction": "Allow"}}, "admits all networks"),
    ({"publicNetworkAccess": "Disabled", "networkAcls": {"defaultAction": "Deny"}},
     "Public network access is disabled"),
])
def test_storage_open_or_closed_is_left_alone(props, reason):
    arm = StatefulArm({SA: {"name": "st", "properties": props}})
    out = firewall.ensure_rules(arm, t.TARGETS["storage-blob"], SA, arm.get(SA, "v"), IPS)
    assert reason in out["skipped_reason"] and not out["added"] and not arm.writes()


def test_keyvault_writes_slash_32_and_sees_its_own_rules():
    kv = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv"
    arm = StatefulArm({kv: {"name": "kv", "properties": {"networkAcls": {"defaultAction": "Deny", "ipRules": []}}}})
    assert _run_twice(arm, "keyvault", kv)["added"] == IPS
    rules = arm.res[kv.lower()]["properties"]["networkAcls"]["ipRules"]
    assert rules == [{"value": "20.1.2.3/32"}, {"value": "20.1.2.4/32"}]


def test_messaging_rule_set_put_whole():
    ns = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/ns"
    arm = StatefulArm({ns: {"name": "ns", "properties": {"publicNetworkAccess": "Enabled"}},
                       ns + "/networkRuleSets/default": {"properties": {
                           "publicNetworkAccess": "Enabled", "defaultAction": "Deny", "virtualNetworkRules": [],
                           "ipRules": [{"ipMask": "20.1.0.0/16", "action": "Allow"}],
                           "trustedServiceAccessEnabled": False}}})
    assert _run_twice(arm, "servicebus", ns, ["20.1.2.3", "40.0.0.1"])["added"] == ["40.0.0.1"]
    (method, path, body), = arm.writes()
    assert (method, path) == ("PUT", ns + "/networkRuleSets/default")
    assert body["properties"]["ipRules"][-1] == {"ipMask": "40.0.0.1/32", "action": "Allow"}
    assert body["properties"]["defaultAction"] == "Deny"


def test_messaging_default_allow_is_all_networks():
    ns = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns"
    arm = StatefulArm({ns: {"name": "ns", "properties": {}},
                       ns + "/networkRuleSets/default": {"properties": {"defaultAction": "Allow", "ipRules": []}}})
    out = firewall.ensure_rules(arm, t.TARGETS["eventhub"], ns, arm.get(ns, "v"), IPS)
    assert "admits all networks" in out["skipped_reason"] and arm.writes() == []


@pytest.mark.parametrize("name, namespace, tier", [
    ("servicebus", "Microsoft.ServiceBus", "Standard"), ("servicebus", "Microsoft.ServiceBus", "Basic"),
    ("eventhub", "Microsoft.EventHub", "Basic")])
def test_a_namespace_tier_without_ip_rules_is_a_statement_not_a_claim(name, namespace, tier):
    """Service Bus has IP rules on Premium only, Event Hubs not on Basic: even with defaultAction Deny in its rule
    set, such a namespace gets no rule and no verdict of admitted addresses, but a statement of why."""
    ns = f"/subscriptions/s/resourceGroups/rg/providers/{namespace}/namespaces/ns"
    arm = StatefulArm({ns: {"name": "ns", "sku": {"name": tier, "tier": tier}, "properties": {}},
                       ns + "/networkRuleSets/default": {"properties": {"defaultAction": "Deny", "ipRules": []}}})
    seen = firewall.admits(arm, t.TARGETS[name], ns, arm.get(ns, "v"), IPS)
    assert seen["state"] == firewall.NO_RULES and not seen["admitted"] and f"{tier} tier" in seen["reason"]
    out = firewall.ensure_rules(arm, t.TARGETS[name], ns, arm.get(ns, "v"), IPS)
    assert not out["added"] and "no rule is added or claimed" in out["skipped_reason"] and not arm.writes()


def test_server_rules_one_named_rule_per_address_polled_at_retry_after(no_waiting):
    pg = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg"
    arm = StatefulArm({pg: {"name": "pg", "properties": {"network": {"publicNetworkAccess": "Enabled"}}},
                       pg + "/firewallRules/AllowAllAzureServicesAndResourcesWithinAzureIps": {
                           "properties": {"startIpAddress": "0.0.0.0", "endIpAddress": "0.0.0.0"}}}, lro=True)
    assert _run_twice(arm, "postgres-flexible", pg)["added"] == IPS
    assert [p for _, p, _ in arm.writes()] == [
        pg + "/firewallRules/aksconnection_20_1_2_3", pg + "/firewallRules/aksconnection_20_1_2_4"]
    assert arm.writes()[0][2] == {"properties": {"startIpAddress": "20.1.2.3", "endIpAddress": "20.1.2.3"}}
    assert no_waiting == [3.0, 3.0], "each write polled once, after the Retry-After the service asked for"


def test_server_rules_range_covers_and_private_server_skips():
    sql = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/sql"
    arm = StatefulArm({sql: {"name": "sql", "properties": {"publicNetworkAccess": "Enabled"}},
                       sql + "/firewallRules/office": {"properties": {"startIpAddress": "20.1.2.0",
                                                                      "endIpAddress": "20.1.2.255"}}})
    out = firewall.ensure_rules(arm, t.TARGETS["sql"], sql, arm.get(sql, "v"), IPS)
    assert out == {"added": [], "present": IPS, "skipped_reason": None} and arm.writes() == []
    arm.res[sql.lower()]["properties"]["publicNetworkAccess"] = "Disabled"
    out = firewall.ensure_rules(arm, t.TARGETS["sql"], sql, arm.get(sql, "v"), IPS)
    assert "firewall rules do not apply" in out["skipped_reason"]


def test_server_rules_are_read_to_the_last_page():
    """A server whose rules span two pages (nextLink): the rule on the second page admits the addresses, so nothing
    is written."""
    sql = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/sql"
    arm = StatefulArm({sql: {"name": "sql", "properties": {"publicNetworkAccess": "Enabled"}}})
    inner, page2 = arm.send, "https://management.example/next/page2?api-version=x&$skiptoken=2"

    def send(method, path, api_version=None, body=None, **kw):
        if method == "GET" and path.lower().endswith("/firewallrules"):
            return 200, {"value": [{"name": "a", "properties": {"startIpAddress": "9.9.9.9",
                                                                "endIpAddress": "9.9.9.9"}}], "nextLink": page2}, {}
        if method == "GET" and path == page2:
            return 200, {"value": [{"name": "b", "properties": {"startIpAddress": "20.1.2.0",
                                                                "endIpAddress": "20.1.2.255"}}]}, {}
        return inner(method, path, api_version, body=body, **kw)
    arm.send = send
    out = firewall.ensure_rules(arm, t.TARGETS["sql"], sql, arm.get(sql, "v"), IPS)
    assert out == {"added": [], "present": IPS, "skipped_reason": None} and arm.writes() == []


def test_redis_without_rules_admits_all_and_gets_none():
    cache = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Cache/redis/cache"
    arm = StatefulArm({cache: {"name": "cache", "properties": {"publicNetworkAccess": "Enabled"}}})
    out = firewall.ensure_rules(arm, t.TARGETS["redis"], cache, arm.get(cache, "v"), IPS)
    assert "no firewall rules" in out["skipped_reason"] and arm.writes() == []
    arm.res[(cache + "/firewallRules/office").lower()] = {"properties": {"startIP": "10.0.0.1", "endIP": "10.0.0.9"}}
    assert _run_twice(arm, "redis", cache)["added"] == IPS
    assert arm.writes()[0][2] == {"properties": {"startIP": "20.1.2.3", "endIP": "20.1.2.3"}}


def test_cosmos_patch_is_long_running_and_empty_rules_mean_all_networks(no_waiting):
    acct = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/acct"
    arm = StatefulArm({acct: {"name": "acct", "properties": {"ipRules": [], "isVirtualNetworkFilterEnabled": False}}},
                      lro=True)
    out = firewall.ensure_rules(arm, t.TARGETS["cosmos-sql"], acct, arm.get(acct, "v"), IPS)
    assert "admits all networks" in out["skipped_reason"]
    arm.res[acct.lower()]["properties"]["ipRules"] = [{"ipAddressOrRange": "104.42.195.92"}]
    import azure.mgmt.cosmosdb  # noqa: F401  pylint: disable=unused-import  # its first import is no write's time
    assert _run_twice(arm, "cosmos-mongo", acct)["added"] == IPS
    (_, _, body), = arm.writes()
    assert body == {"properties": {"ipRules": [{"ipAddressOrRange": "104.42.195.92"},
                                               {"ipAddressOrRange": "20.1.2.3"}, {"ipAddressOrRange": "20.1.2.4"}]}}
    # The write polled once at the service's Retry-After, then the rules read back once more after about as long
    # as the write took (here: no time at all), for a concurrent writer's late replace.
    assert no_waiting[0] == 3.0 and len(no_waiting) == 2 and no_waiting[1] < 1.0


def test_list_rule_dropped_by_a_concurrent_writer_is_added_again():
    """A storage account whose ipRules another writer replaces right after our PATCH (no ETag on the API): the
    read-back finds our rule gone, merges it with what is there now and writes again; 'added' is true at return."""
    acct = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"
    arm = StatefulArm({acct: {"name": "st", "properties": {"networkAcls": {"defaultAction": "Deny",
                                                                           "ipRules": []}}}})
    inner = arm.send
    clobbered = []

    def send(method, path, api_version=None, body=None, **kw):
        answer = inner(method, path, api_version, body=body, **kw)
        if method == "PATCH" and not clobbered:          # the other writer's stale list lands after ours
            clobbered.append(True)
            arm.res[acct.lower()]["properties"]["networkAcls"]["ipRules"] = [{"value": "9.9.9.9", "action": "Allow"}]
        return answer
    arm.send = send
    out = firewall.ensure_rules(arm, t.TARGETS["storage-blob"], acct, arm.get(acct, "v"), IPS)
    assert out["added"] == IPS
    rules = [r["value"] for r in arm.res[acct.lower()]["properties"]["networkAcls"]["ipRules"]]
    assert rules == ["9.9.9.9", "20.1.2.3", "20.1.2.4"]
    assert len(arm.writes()) == 2


def test_signalr_rules_are_ordered_new_allows_go_first():
    sr = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.SignalRService/SignalR/sr"
    arm = StatefulArm({sr: {"name": "sr", "properties": {"networkACLs": {"defaultAction": "Deny", "ipRules": [
        {"value": "0.0.0.0/0", "action": "Allow"}, {"value": "::/0", "action": "Allow"}]}}}})
    out = firewall.ensure_rules(arm, t.TARGETS["signalr"], sr, arm.get(sr, "v"), IPS)
    assert "0.0.0.0/0" in out["skipped_reason"] and arm.writes() == []
    arm.res[sr.lower()]["properties"]["networkACLs"]["ipRules"] = [{"value": "20.1.2.4/32", "action": "Allow"},
                                                                   {"value": "0.0.0.0/0", "action": "Deny"}]
    expected = {"added": ["20.1.2.3"], "present": ["20.1.2.4"], "skipped_reason": None}
    assert _run_twice(arm, "webpubsub", sr) == expected
    first = arm.res[sr.lower()]["properties"]["networkACLs"]["ipRules"][0]
    assert first == {"value": "20.1.2.3/32", "action": "Allow"}


def test_cognitive_without_acls_admits_all():
    cog = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/cog"
    arm = StatefulArm({cog: {"name": "cog", "properties": {"publicNetworkAccess": "Enabled"}}})
    assert "admits all networks" in firewall.ensure_rules(arm, t.TARGETS["cognitiveservices"], cog,
                                                          arm.get(cog, "v"), IPS)["skipped_reason"]
    arm.res[cog.lower()]["properties"]["networkAcls"] = {"defaultAction": "Deny", "ipRules": []}
    assert _run_twice(arm, "cognitiveservices", cog)["added"] == IPS


@pytest.mark.parametrize("name", sorted(firewall.NO_IP_RULES))
def test_targets_without_ip_rules_give_a_reason(name):
    arm = StatefulArm({})
    out = firewall.ensure_rules(arm, t.TARGETS[name], None, {}, IPS)
    assert not out["added"] and out["skipped_reason"] == firewall.NO_IP_RULES[name] and not arm.calls


def test_addresses_are_normalised():
    given = ["20.1.2.3", "20.1.2.3/32", " 20.1.2.4", "2001:db8::1"]
    assert firewall._ipv4s(given) == IPS  # pylint: disable=protected-access
    out = firewall.ensure_rules(StatefulArm({}), t.TARGETS["storage-blob"], SA, {}, [])
    assert "no public egress" in out["skipped_reason"]


def test_failed_operation_raises(monkeypatch):
    from azure.cli.core.azclierror import AzureResponseError
    arm = StatefulArm({})
    monkeypatch.setattr(arm, "send", lambda *a, **k: (200, {"status": "Failed", "error": {
        "code": "Conflict", "message": "busy"}}, {}))
    with pytest.raises(AzureResponseError, match="Conflict"):
        firewall.wait(arm, 202, None, {"Azure-AsyncOperation": "https://x/op"}, "Adding rules")
