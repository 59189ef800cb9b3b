# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""M-T2 through create: the cluster's egress IPs are admitted on the target's firewall, once; an egress
change adds the new address; user-defined routing and --opt-out publicnetwork make no firewall write."""
import uuid

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def closed_account(az, sbc):
    """A storage account that admits no network (defaultAction Deny), of this test's own."""
    name = "fw" + uuid.uuid4().hex[:10]
    created = sbc.new_storage_account("sandbox-data-rg", name)
    res = az("rest", "--method", "patch", "--url", created["id"] + "?api-version=2023-05-01", "--body",
             '{"properties": {"networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": []}}}')
    assert res.rc == 0, res
    return created


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
