# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""M-T2 through create: the cluster's egress IPs are admitted on the target's firewall, once; an egress
change adds the new address; user-defined routing and --opt-out publicnetwork make no firewall write.

Network truth (issue 23): Azure Storage ignores IP rules for requests from its own region, so an account that
admits the cluster by its egress IP is in another region (OTHER_REGION). In the cluster's region, a cluster on
subnets of the user's own VNet with the Microsoft.Storage service endpoint gets a virtual network rule; one without
the endpoint, or on the AKS-managed VNet, is refused before any write (both planes), with the cause and the ways
out; a service endpoint for another service on the node subnet makes its IP rules useless: refused too."""
import uuid

import pytest

from sandbox.arm.targets import OTHER_REGION
from tests.e2e.helpers import run, writes

pytestmark = pytest.mark.e2e
DENY_ALL = '{"properties": {"networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": []}}}'


def _closed(az, sbc, location):
    name = "fw" + uuid.uuid4().hex[:10]
    created = sbc.new_storage_account("sandbox-data-rg", name, location=location)
    res = az("rest", "--method", "patch", "--url", created["id"] + "?api-version=2023-05-01", "--body", DENY_ALL)
    assert res.rc == 0, res
    return created


@pytest.fixture
def closed_account(az, sbc):
    """A storage account in another region than the clusters' that admits no network (defaultAction Deny), of this
    test's own: the cluster's egress IP reaches it (Storage ignores IP rules from its own region only)."""
    return _closed(az, sbc, OTHER_REGION)


@pytest.fixture
def same_region_account(az, sbc):
    """A closed storage account in the clusters' own region: IP rules never admit them."""
    return _closed(az, sbc, None)


def _rules(az, account_id):
    res = az("rest", "--method", "get", "--url", account_id + "?api-version=2023-05-01")
    assert res.rc == 0, res
    return [r["value"] for r in res.json["properties"]["networkAcls"]["ipRules"]]


def _create(az, cluster, account, name, *extra):
    return az("aks", "connection", "create", "storage-blob", "-g", cluster["resourceGroup"], "-n", cluster["name"],
              "--target-id", account["id"] + "/blobServices/default", "--connection", name, "--secret",
              "-o", "json", *extra)


def _account_writes(sbc, mark, account_id):
    return [(e["method"], e["path"].split("?")[0]) for e in sbc.requests(since=mark) if e["mutating"]
            and e["path"].split("?")[0].lower() == account_id.lower()]


def test_egress_ip_admitted_once_and_a_new_one_after_an_egress_change(az, sbc, fresh_cluster, closed_account):
    cluster = fresh_cluster
    ip = sbc.egress(cluster["resourceGroup"], cluster["name"])["ips"][0]
    mark = sbc.mark()
    res = _create(az, cluster, closed_account, "fw_blob")
    assert res.rc == 0, res
    assert f"Added firewall rule(s) for {ip}" in res.log
    assert _rules(az, closed_account["id"]) == [ip]
    assert res.json["publicNetworkSolution"]["firewallRules"]["ipRanges"] == [ip]
    assert len(_account_writes(sbc, mark, closed_account["id"])) == 1

    # Again: the rule is there, nothing is written.
    mark = sbc.mark()
    assert _create(az, cluster, closed_account, "fw_blob").rc == 0
    assert [e for e in sbc.requests(since=mark) if e["mutating"]] == []

    # The cluster's egress moves to another address: the next create (or update) admits it.
    sbc.set_egress(cluster["resourceGroup"], cluster["name"], "loadBalancer", ["20.99.1.7"])
    mark = sbc.mark()
    upd = az("aks", "connection", "update", "storage-blob", "-g", cluster["resourceGroup"], "-n", cluster["name"],
             "--connection", "fw_blob", "--client-type", "python", "-o", "json")
    assert upd.rc == 0, upd
    assert sorted(_rules(az, closed_account["id"])) == sorted([ip, "20.99.1.7"])
    assert upd.json["publicNetworkSolution"]["firewallRules"]["ipRanges"] == ["20.99.1.7"]
    assert len(_account_writes(sbc, mark, closed_account["id"])) == 1


def test_nat_gateway_egress_is_admitted(az, sbc, fresh_cluster, closed_account):
    cluster = fresh_cluster
    sbc.set_egress(cluster["resourceGroup"], cluster["name"], "managedNATGateway", ["20.98.2.3", "20.98.2.4"])
    res = _create(az, cluster, closed_account, "fw_nat")
    assert res.rc == 0, res
    assert sorted(_rules(az, closed_account["id"])) == ["20.98.2.3", "20.98.2.4"]


def test_user_defined_routing_says_what_was_not_done_and_writes_nothing(az, sbc, fresh_cluster, closed_account):
    cluster = fresh_cluster
    sbc.set_egress(cluster["resourceGroup"], cluster["name"], "userDefinedRouting")
    mark = sbc.mark()
    res = _create(az, cluster, closed_account, "fw_udr")
    assert res.rc == 0, res
    assert "No firewall rule was added" in res.log and "userDefinedRouting" in res.log
    assert _rules(az, closed_account["id"]) == []
    assert _account_writes(sbc, mark, closed_account["id"]) == []


def test_opt_out_publicnetwork_reads_no_egress_and_writes_no_rule(az, sbc, fresh_cluster, closed_account):
    cluster = fresh_cluster
    mark = sbc.mark()
    res = _create(az, cluster, closed_account, "fw_optout", "--opt-out", "publicnetwork")
    assert res.rc == 0, res
    assert res.json["publicNetworkSolution"]["action"] == "optOut"
    assert _rules(az, closed_account["id"]) == []
    assert not [e for e in sbc.requests(since=mark) if "publicIPAddresses" in e["path"]]


def test_open_target_gets_no_rule(az, sandbox, sbc, fresh_cluster):
    s = sandbox["seeds"]["storage"]["storage-blob"]
    account_id = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices/", 1)[0]
    before = _rules(az, account_id)
    mark = sbc.mark()
    res = az("aks", "connection", "create", "storage-blob", "-g", fresh_cluster["resourceGroup"], "-n",
             fresh_cluster["name"], "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "fw_open",
             "--secret", "-o", "json")
    assert res.rc == 0, res
    assert _rules(az, account_id) == before
    assert _account_writes(sbc, mark, account_id) == []
    assert res.json["publicNetworkSolution"] is None


def test_three_clusters_admitted_at_once_all_keep_their_rule(az, sbc, closed_account):
    """Three real az processes connect three clusters to one closed storage account at the same time. The account's
    PATCH replaces the whole ipRules list and takes no ETag: the sandbox holds each write so that all three read
    the same list first. Each create reads its rule back and re-adds it when another writer dropped it: the account
    ends with all three addresses, and every create that says it added a rule has it."""
    import os
    import subprocess
    from tests.conftest import KUBECTL
    clusters = [sbc.new_cluster(f"fw3-{i}-{uuid.uuid4().hex[:5]}", "sandbox-rg") for i in range(3)]
    ips = {sbc.egress(c["resourceGroup"], c["name"])["ips"][0] for c in clusters}
    assert len(ips) == 3
    fault = sbc.add_fault(plane="arm", method="PATCH", path=closed_account["id"].split("/providers/")[1],
                          latency=1.0, times=3)
    mark = sbc.mark()
    try:
        procs = [subprocess.Popen([os.path.join(os.path.dirname(KUBECTL), "az"), "aks", "connection", "create",
                                   "storage-blob", "--source-id", c["id"], "--target-id",
                                   closed_account["id"] + "/blobServices/default", "--connection", "fw3_blob",
                                   "--secret", "-o", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for c in clusters]
        errs = [p.communicate(timeout=300)[1] for p in procs]
    finally:
        sbc.call("DELETE", f"/_sandbox/faults?id={fault}")
    assert [p.returncode for p in procs] == [0, 0, 0], errs
    assert sorted(_rules(az, closed_account["id"])) == sorted(ips), _account_writes(sbc, mark, closed_account["id"])
    patches = [w for w in _account_writes(sbc, mark, closed_account["id"]) if w[0] == "PATCH"]
    assert len(patches) > 3, patches          # at least one writer found its rule dropped and wrote it again
    for err in errs:
        assert "Added firewall rule(s) for" in err


def _vnet_rules(az, account_id):
    res = az("rest", "--method", "get", "--url", account_id + "?api-version=2023-05-01")
    assert res.rc == 0, res
    return [r["id"] for r in res.json["properties"]["networkAcls"]["virtualNetworkRules"]]


def test_same_region_storage_on_the_managed_vnet_is_refused_before_any_write(
        az, sbc, fresh_cluster, same_region_account):
    cluster = fresh_cluster
    for extra in (("--dry-run",), ()):
        mark = sbc.mark()
        res = run(az, "aks", "connection", "create", "storage-blob", "-g", cluster["resourceGroup"], "-n",
                  cluster["name"], "--target-id", same_region_account["id"] + "/blobServices/default",
                  "--connection", "fw_same", "--secret", "-o", "json", *extra)
        assert res.rc != 0, res
        assert "is in the cluster's region (eastus): Azure Storage ignores IP rules" in res.log, res.log
        assert "AKS-managed virtual network" in res.log and "Nothing was written" in res.log
        for way_out in ("Microsoft.Storage service endpoint", "private endpoint", "--opt-out publicnetwork"):
            assert way_out in res.log, (way_out, res.log)
        assert "Added firewall rule" not in res.log and "Traceback" not in res.log
        assert writes(sbc, mark) == []          # neither plane: no rule, no Secret, no record
    assert _rules(az, same_region_account["id"]) == []


def test_same_region_storage_without_the_service_endpoint_names_the_az_line_and_writes_nothing(
        az, sbc, fresh_cluster, same_region_account):
    cluster = fresh_cluster
    subnet = sbc.set_node_subnet(cluster["resourceGroup"], cluster["name"], ["Microsoft.KeyVault"])["subnetId"]
    mark = sbc.mark()
    res = run(az, "aks", "connection", "create", "storage-blob", "-g", cluster["resourceGroup"], "-n",
              cluster["name"], "--target-id", same_region_account["id"] + "/blobServices/default",
              "--connection", "fw_noep", "--secret", "-o", "json")
    assert res.rc != 0, res
    assert "The node subnet(s) nodes lack the Microsoft.Storage service endpoint" in res.log, res.log
    sub = subnet.split("/")[2]
    assert (f"az network vnet subnet update --subscription {sub} -g {cluster['resourceGroup']} --vnet-name "
            f"{cluster['name']}-vnet -n nodes --service-endpoints Microsoft.KeyVault,Microsoft.Storage") in res.log
    assert writes(sbc, mark) == []
    assert _rules(az, same_region_account["id"]) == [] and _vnet_rules(az, same_region_account["id"]) == []


def test_same_region_storage_admits_the_node_subnet_with_a_virtual_network_rule(az, sbc, fresh_cluster,
                                                                                same_region_account):
    cluster = fresh_cluster
    subnet = sbc.set_node_subnet(cluster["resourceGroup"], cluster["name"], ["Microsoft.Storage"])["subnetId"]
    res = _create(az, cluster, same_region_account, "fw_vnet")
    assert res.rc == 0, res
    assert _vnet_rules(az, same_region_account["id"]) == [subnet]
    assert _rules(az, same_region_account["id"]) == []              # no egress-IP rule: it could not admit
    assert f"node subnet(s) {subnet} (virtual network rule)" in res.log
    assert res.json["publicNetworkSolution"] is None                # no IP range is claimed
    conn = cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/fw_vnet"
    val = run(az, "aks", "connection", "validate", "--id", conn, "-o", "json")
    assert val.rc == 0 and {r["name"]: r["result"] for r in val.json}["Target firewall"] == "success", val
    # Again: in place, nothing is written.
    mark = sbc.mark()
    assert _create(az, cluster, same_region_account, "fw_vnet").rc == 0
    assert [e for e in sbc.requests(since=mark) if e["mutating"]] == []
    # delete --cleanup removes the rule it made.
    res = az("aks", "connection", "delete", "--id", conn, "--cleanup", "--yes")
    assert res.rc == 0, res
    assert _vnet_rules(az, same_region_account["id"]) == []


def test_a_connection_whose_ip_rule_cannot_admit_fails_validate(az, sbc, fresh_cluster):
    """A connection made while a same-region account admitted all networks; then the account is closed with the
    cluster's egress IP listed (what earlier versions added): validate fails, it never says the rule admits."""
    cluster = fresh_cluster
    account = sbc.new_storage_account("sandbox-data-rg", "fw" + uuid.uuid4().hex[:10])
    assert _create(az, cluster, account, "fw_old").rc == 0
    ip = sbc.egress(cluster["resourceGroup"], cluster["name"])["ips"][0]
    sbc.arm("PATCH", "resource?id=" + account["id"], {"properties": {"networkAcls": {
        "defaultAction": "Deny", "ipRules": [{"value": ip, "action": "Allow"}]}}})
    conn = cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/fw_old"
    res = run(az, "aks", "connection", "validate", "--id", conn, "-o", "json")
    assert res.rc == 1, res
    item = {r["name"]: r for r in res.json}["Target firewall"]
    assert (item["result"], item["errorCode"]) == ("failure", "SameRegionStorage"), item
    assert "Azure Storage ignores IP rules" in item["errorMessage"]
    assert "--opt-out publicnetwork" in item["recommendation"]


def test_a_service_endpoint_on_the_node_subnet_makes_ip_rules_useless(az, sbc, sandbox, fresh_cluster):
    """Key Vault (no same-region caveat): the Microsoft.KeyVault endpoint on the node subnet sends the pods'
    requests from private addresses: create refuses before any write; without the endpoint the IP rule is added."""
    cluster = fresh_cluster
    seeded = sandbox["seeds"]["keyvaults"]["rbac"]
    vault = seeded.rsplit("/", 1)[0] + "/kv" + uuid.uuid4().hex[:8]
    body = sbc.arm("GET", "resource?id=" + seeded)
    body.update(id=vault, name=vault.rsplit("/", 1)[1])
    body["properties"]["networkAcls"] = {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": [],
                                         "virtualNetworkRules": []}
    sbc.arm("PUT", "resource?id=" + vault, body)
    sbc.set_node_subnet(cluster["resourceGroup"], cluster["name"], ["Microsoft.KeyVault"])
    args = ("aks", "connection", "create", "keyvault", "-g", cluster["resourceGroup"], "-n", cluster["name"],
            "--target-id", vault, "--connection", "fw_kv", "--enable-csi", "-o", "json")
    mark = sbc.mark()
    res = run(az, *args)
    assert res.rc != 0, res
    assert "have the Microsoft.KeyVault service endpoint" in res.log and "no IP rule" in res.log, res.log
    assert writes(sbc, mark) == []
    sbc.set_node_subnet(cluster["resourceGroup"], cluster["name"], [])
    res = run(az, *args)
    assert res.rc == 0, res
    assert "Added firewall rule(s) for" in res.log


def test_a_caller_who_may_not_join_the_subnet_is_refused_before_any_write(
        az, sbc, fresh_cluster, same_region_account):
    """A virtual network rule needs joinViaServiceEndpoint on the subnet (Azure: LinkedAuthorizationFailed): the
    permission preflight names it, with a role that grants it, before anything is written."""
    cluster = fresh_cluster
    subnet = sbc.set_node_subnet(cluster["resourceGroup"], cluster["name"], ["Microsoft.Storage"])["subnetId"]
    action = "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action"
    rule = sbc.deny(action, subnet)
    try:
        mark = sbc.mark()
        res = run(az, "aks", "connection", "create", "storage-blob", "-g", cluster["resourceGroup"], "-n",
                  cluster["name"], "--target-id", same_region_account["id"] + "/blobServices/default",
                  "--connection", "fw_join", "--secret", "-o", "json")
        assert res.rc != 0, res
        assert action in res.log and subnet in res.log and "Network Contributor" in res.log, res.log
        assert writes(sbc, mark) == []
    finally:
        sbc.call("DELETE", f"/_sandbox/arm/denials?id={rule}")
    assert _vnet_rules(az, same_region_account["id"]) == []


def test_an_unreadable_node_subnet_is_said_not_proven(az, sbc, fresh_cluster, closed_account):
    """Another region: the egress IP is admitted; but the node subnet cannot be read (no read right on the VNet),
    so whether a Storage service endpoint there bypasses that rule is not known: create says so, validate warns."""
    cluster = fresh_cluster
    subnet = sbc.set_node_subnet(cluster["resourceGroup"], cluster["name"], [])["subnetId"]
    rule = sbc.deny("Microsoft.Network/virtualNetworks/subnets/read", subnet)
    try:
        res = run(az, "aks", "connection", "create", "storage-blob", "-g", cluster["resourceGroup"], "-n",
                  cluster["name"], "--target-id", closed_account["id"] + "/blobServices/default",
                  "--connection", "fw_unread", "--secret", "-o", "json")
        assert res.rc == 0, res
        assert "could not read the node subnet(s) nodes (AuthorizationFailed)" in res.log, res.log
        val = run(az, "aks", "connection", "validate", "--id",
                  cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/fw_unread", "-o", "json")
        item = {r["name"]: r for r in val.json}["Target firewall"]
        assert (val.rc, item["result"], item["errorCode"]) == (0, "warning", "SubnetUnreadable"), val
    finally:
        sbc.call("DELETE", f"/_sandbox/arm/denials?id={rule}")
