# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`az aks connection validate`, firewall check: the target's IP firewall admits the cluster's CURRENT egress IPs.

End to end: a storage account whose network rules deny by default, a connection that admitted the cluster's
egress IP, then the egress IP changes (a stale rule) and the check fails naming the new address; running
its recommendation (re-apply the connection, or the exact rule command) makes it pass again. Then what cannot
be checked (user-defined routing, public access disabled, a target without IP rules) is a warning, and
--opt-out publicnetwork leaves the check out.

Without the sandbox: the read-only verdict of provider/firewall.py agrees with what provider/firewall.py
writes, for every mechanism (a target is "missing" an address before create's rule and admits it after).
"""
import shlex
import uuid

import pytest

from azext_aks_connection import targets as t
from azext_aks_connection.provider import firewall
from sandbox.arm.targets import OTHER_REGION
# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.helpers import by_name, create, new_cluster, quick_extensions, run, writes  # noqa: F401 (a fixture)
# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.unit.test_firewall import StatefulArm, no_waiting  # noqa: F401 (a fixture)

TARGET = "Target resource"
SECRET = "Kubernetes Secret"
VALUES = "Configuration values"
FIREWALL = "Target firewall"
SUB = "00000000-0000-0000-0000-000000000001"


def conn_id(cluster, name):
    return cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + name


def validate(az, cluster, name):
    return run(az, "aks", "connection", "validate", "--id", conn_id(cluster, name), "-o", "json")


def run_command(az, command):
    args = shlex.split(command)
    assert args[0] == "az", command
    res = run(az, *args[1:])
    assert res.rc == 0, (command, res)
    return res


def firewall_item(res):
    return by_name(res.json)[FIREWALL]


@pytest.fixture
def denying_account(sbc):
    """A storage account of its own whose network rules deny every address not listed, in another region than the
    cluster's (Azure Storage ignores IP rules for requests from its own region)."""
    name = "fw" + uuid.uuid4().hex[:10]
    made = sbc.new_storage_account("sandbox-data-rg", name, location=OTHER_REGION)
    sbc.arm("PATCH", "resource?id=" + made["id"], {"properties": {"networkAcls": {"defaultAction": "Deny"}}})
    return {"name": name, "id": made["id"]}


@pytest.mark.e2e
@pytest.mark.usefixtures("quick_extensions")
def test_stale_rule_after_egress_change_fails_and_both_recommendations_repair_it(az, sandbox, sbc, tmp_path,
                                                                                 denying_account):
    cluster = new_cluster(sbc, "val-fw")
    rg, name = cluster["id"].split("/")[4], cluster["name"]
    account = denying_account["name"]
    old_ip = sbc.egress(rg, name)["ips"][0]
    assert create(az, sandbox, cluster, "fw_blob", account=account, account_rg="sandbox-data-rg").rc == 0
    # A service principal connection to the same account (its recommendation leads with the rule command).
    secret_file = tmp_path / "sp.txt"
    secret_file.write_text("Sp-" + uuid.uuid4().hex)
    sp = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
             "sandbox-data-rg", "--account", account, "--connection", "fw_sp", "-o", "json",
             "--service-principal", f"client-id={uuid.uuid4()}", f"secret=@{secret_file}")
    assert sp.rc == 0, sp
    mark = sbc.mark()
    res = validate(az, cluster, "fw_blob")
    assert res.rc == 0, res
    assert [r["name"] for r in res.json] == [TARGET, SECRET, VALUES, FIREWALL]
    assert firewall_item(res)["result"] == "success"
    assert writes(sbc, mark) == []

    # The cluster's egress address changes (a new outbound IP): the rule made at create is stale.
    sbc.set_egress(rg, name, ips=["52.10.20.30"])
    res = validate(az, cluster, "fw_blob")
    assert res.rc == 1, res
    item = firewall_item(res)
    assert (item["result"], item["errorCode"]) == ("failure", "FirewallRuleStale")
    assert f"'{account}' does not admit the cluster's egress IP(s) 52.10.20.30" in item["errorMessage"]
    assert f"for {old_ip} are stale" in item["errorMessage"]
    update = f"az aks connection update storage-blob --id {conn_id(cluster, 'fw_blob')} --client-type none"
    by_hand = (f"az storage account network-rule add --subscription {SUB} -g sandbox-data-rg --account-name "
               f"{account} --ip-address 52.10.20.30")
    assert item["recommendation"] == ("Re-apply the connection (it adds the missing rule, nothing else): "
                                      f"{update}; or add the rule yourself: {by_hand}")
    assert "1 of 4 checks failed: Target firewall" in res.log
    # The service principal's secret is the user's: its recommendation leads with the rule command.
    sp_item = firewall_item(validate(az, cluster, "fw_sp"))
    assert sp_item["recommendation"].startswith(f"Admit it: {by_hand}; or re-apply the connection")
    assert "secret=<client secret>" in sp_item["recommendation"]

    # Re-applying the connection admits the new address (and records it).
    run_command(az, update)
    assert validate(az, cluster, "fw_blob").rc == 0
    assert validate(az, cluster, "fw_sp").rc == 0
    shown = az("aks", "connection", "show", "--id", conn_id(cluster, "fw_blob"), "-o", "json").json
    assert "52.10.20.30" in shown["publicNetworkSolution"]["firewallRules"]["ipRanges"]

    # Changed again: this time the rule command of the recommendation repairs it.
    sbc.set_egress(rg, name, ips=["52.10.20.31"])
    item = firewall_item(validate(az, cluster, "fw_sp"))
    assert item["errorCode"] == "FirewallRuleStale" and "egress IP(s) 52.10.20.31" in item["errorMessage"]
    run_command(az, item["recommendation"].split(": ", 1)[1].split("; or ")[0])
    res = validate(az, cluster, "fw_blob")
    assert res.rc == 0 and firewall_item(res)["result"] == "success", res


@pytest.mark.e2e
@pytest.mark.usefixtures("quick_extensions")
def test_what_cannot_be_checked_is_a_warning_and_opt_out_skips_the_check(az, sandbox, sbc, denying_account):
    cluster = new_cluster(sbc, "val-fw2")
    rg, name = cluster["id"].split("/")[4], cluster["name"]
    account = denying_account["name"]
    assert create(az, sandbox, cluster, "warn_blob", account=account, account_rg="sandbox-data-rg").rc == 0
    # --opt-out publicnetwork: no rule is made, and validate does not look at the firewall.
    assert create(az, sandbox, cluster, "optout_blob", "--opt-out", "publicnetwork", account=account,
                  account_rg="sandbox-data-rg").rc == 0
    res = validate(az, cluster, "optout_blob")
    assert res.rc == 0 and FIREWALL not in by_name(res.json), res

    # Public network access disabled: IP rules do not apply (private endpoints): not checked.
    sbc.arm("PATCH", "resource?id=" + denying_account["id"], {"properties": {"publicNetworkAccess": "Disabled"}})
    res = validate(az, cluster, "warn_blob")
    assert res.rc == 0, res
    item = firewall_item(res)
    assert (item["result"], item["errorCode"]) == ("warning", "PublicAccessDisabled")
    assert "Public network access is disabled" in item["errorMessage"]
    sbc.arm("PATCH", "resource?id=" + denying_account["id"], {"properties": {"publicNetworkAccess": "Enabled"}})

    # User-defined routing: the egress address is not in ARM: not checked, and said so.
    sbc.set_egress(rg, name, outbound_type="userDefinedRouting")
    res = validate(az, cluster, "warn_blob")
    assert res.rc == 0, res
    item = firewall_item(res)
    assert (item["result"], item["errorCode"]) == ("warning", "EgressUnknown")
    assert "userDefinedRouting" in item["errorMessage"] and item["errorMessage"].startswith("Not checked")

    # A target without IP rules (App Configuration): not checked, with the reason.
    res = run(az, "aks", "connection", "create", "appconfig", "--source-id", cluster["id"], "--target-id",
              sandbox["seeds"]["targets"]["appconfig"], "--connection", "cfg", "--secret", "-o", "json")
    assert res.rc == 0, res
    res = validate(az, cluster, "cfg")
    assert res.rc == 0, res
    item = firewall_item(res)
    assert (item["result"], item["errorCode"]) == ("warning", "NoIpRules")
    assert firewall.NO_IP_RULES["appconfig"] in item["errorMessage"]


# --------------------------------------------------------------------------- the verdict agrees with what is written

IPS = ["20.1.2.3", "20.1.2.4"]
_RG = "/subscriptions/s/resourceGroups/rg/providers/"


def _mechanisms():
    ns = _RG + "Microsoft.ServiceBus/namespaces/ns"
    pg = _RG + "Microsoft.DBforPostgreSQL/flexibleServers/pg"
    cache = _RG + "Microsoft.Cache/redis/cache"
    return [
        ("storage-blob", _RG + "Microsoft.Storage/storageAccounts/st", {
            _RG + "Microsoft.Storage/storageAccounts/st": {"name": "st", "properties": {"networkAcls": {
                "defaultAction": "Deny", "ipRules": [{"value": "20.1.2.4", "action": "Allow"}]}}}},
         "az storage account network-rule add --subscription s -g rg --account-name st --ip-address 20.1.2.3"),
        ("keyvault", _RG + "Microsoft.KeyVault/vaults/kv", {
            _RG + "Microsoft.KeyVault/vaults/kv": {"name": "kv", "properties": {"networkAcls": {
                "defaultAction": "Deny", "ipRules": []}}}},
         "az keyvault network-rule add --subscription s -g rg -n kv --ip-address 20.1.2.3/32"),
        ("servicebus", ns, {ns: {"name": "ns", "properties": {}}, ns + "/networkRuleSets/default": {"properties": {
            "defaultAction": "Deny", "ipRules": [{"ipMask": "20.1.0.0/30", "action": "Allow"}]}}},
         "az servicebus namespace network-rule-set ip-rule add --subscription s -g rg --namespace-name ns "
         "--ip-rule ip-address=20.1.2.3 action=Allow"),
        ("postgres-flexible", pg, {pg: {"name": "pg", "properties": {}}},
         "az postgres flexible-server firewall-rule create --subscription s -g rg -s pg -n aksconnection_20_1_2_3 "
         "--start-ip-address 20.1.2.3 --end-ip-address 20.1.2.3"),
        ("redis", cache, {cache: {"name": "cache", "properties": {}}, cache + "/firewallRules/office": {
            "properties": {"startIP": "10.0.0.1", "endIP": "10.0.0.9"}}},
         "az redis firewall-rules create --subscription s -g rg -n cache --rule-name aksconnection_20_1_2_3 "
         "--start-ip 20.1.2.3 --end-ip 20.1.2.3"),
        ("cosmos-sql", _RG + "Microsoft.DocumentDB/databaseAccounts/acct", {
            _RG + "Microsoft.DocumentDB/databaseAccounts/acct": {"name": "acct", "properties": {
                "ipRules": [{"ipAddressOrRange": "104.42.195.92"}]}}},
         "az cosmosdb update --subscription s -g rg -n acct --ip-range-filter 104.42.195.92,20.1.2.3"),
        ("webpubsub", _RG + "Microsoft.SignalRService/WebPubSub/wps", {
            _RG + "Microsoft.SignalRService/WebPubSub/wps": {"name": "wps", "properties": {"networkACLs": {
                "ipRules": [{"value": "20.1.2.4/32", "action": "Allow"}, {"value": "0.0.0.0/0", "action": "Deny"}]}}}},
         None),
        ("cognitiveservices", _RG + "Microsoft.CognitiveServices/accounts/cog", {
            _RG + "Microsoft.CognitiveServices/accounts/cog": {"name": "cog", "properties": {"networkAcls": {
                "defaultAction": "Deny", "ipRules": []}}}},
         "az cognitiveservices account network-rule add --subscription s -g rg -n cog --ip-address 20.1.2.3"),
    ]


@pytest.mark.parametrize("name, rid, resources, command", _mechanisms(), ids=lambda v: v if isinstance(v, str)
                         and not v.startswith(("/", "az ")) else "")
def test_read_verdict_agrees_with_what_create_writes(name, rid, resources, command):
    target = t.TARGETS[name]
    arm = StatefulArm(resources)
    before = firewall.admits(arm, target, rid, arm.get(rid, "v"), IPS)
    assert before["state"] == firewall.CHECKED and before["missing"], before
    assert firewall.rule_command(target, rid, before["missing"][0], arm.get(rid, "v")) == command
    writes_before = len(arm.writes())
    firewall.ensure_rules(arm, target, rid, arm.get(rid, "v"), IPS)
    after = firewall.admits(arm, target, rid, arm.get(rid, "v"), IPS)
    assert after == firewall.verdict(firewall.CHECKED, IPS), after
    assert len(arm.writes()) > writes_before
    # Reading never writes.
    writes_now = len(arm.writes())
    firewall.admits(arm, target, rid, arm.get(rid, "v"), IPS)
    assert len(arm.writes()) == writes_now


@pytest.mark.parametrize("name, props, state", [
    ("storage-blob", {"networkAcls": {"defaultAction": "Allow"}}, firewall.OPEN),
    ("storage-blob", {"publicNetworkAccess": "Disabled", "networkAcls": {"defaultAction": "Deny"}},
     firewall.CLOSED),
    ("cosmos-sql", {"ipRules": [], "isVirtualNetworkFilterEnabled": False}, firewall.OPEN),
    ("cosmos-sql", {"ipRules": [{"ipAddressOrRange": "0.0.0.0"}]}, firewall.OPEN),
    ("signalr", {"networkACLs": {"ipRules": []}}, firewall.OPEN),
    ("signalr", {"networkACLs": {"ipRules": [{"value": "0.0.0.0/0", "action": "Allow"}]}}, firewall.OPEN),
    ("appconfig", {}, firewall.NO_RULES),
])
def test_open_closed_and_ruleless_targets(name, props, state):
    rid = _RG + "Some.Provider/things/x"
    arm = StatefulArm({rid: {"name": "x", "properties": props}})
    assert firewall.admits(arm, t.TARGETS[name], rid, arm.get(rid, "v"), IPS)["state"] == state


def test_sql_allow_azure_services_rule_admits_the_cluster():
    sql = _RG + "Microsoft.Sql/servers/sql"
    arm = StatefulArm({sql: {"name": "sql", "properties": {}},
                       sql + "/firewallRules/AllowAllWindowsAzureIps": {"properties": {
                           "startIpAddress": "0.0.0.0", "endIpAddress": "0.0.0.0"}}})
    before = firewall.admits(arm, t.TARGETS["sql"], sql, arm.get(sql, "v"), IPS)
    # Open for validate; still missing a rule of its own (the 0.0.0.0 rule is the user's): what create adds, and
    # what --dry-run lists.
    assert (before["state"], before["missing"]) == (firewall.OPEN, IPS), before
    assert firewall.ensure_rules(arm, t.TARGETS["sql"], sql, arm.get(sql, "v"), IPS)["added"] == IPS
    after = firewall.admits(arm, t.TARGETS["sql"], sql, arm.get(sql, "v"), IPS)
    assert (after["state"], after["admitted"], after["missing"]) == (firewall.OPEN, IPS, []), after
