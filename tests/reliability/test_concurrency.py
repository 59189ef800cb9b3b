# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Concurrent writers (issue 13 item 8), each an az process of its own, with nothing lost — asserted on what is there
afterwards: ten creates on one cluster; three clusters connected at once to one storage account whose firewall admits
no network; update ∥ update of one connection; update ∥ delete."""
import threading
import time

import pytest

from azext_aks_connection import targets as t
from tests.conftest import run_az
from tests.reliability.conftest import quiesce
from tests.reliability.world import ROLES, arm_state, conn_id, create_args, delete_args, kube_state, new_world

pytestmark = pytest.mark.e2e


def xdist_group_of(item):
    return "concurrency-many" if "ten" in item.name or "three" in item.name else "concurrency-races"


def _wait_all(children, timeout=300):
    for child in children:
        child.wait(timeout)
    return [c.returncode for c in children]


def test_ten_creates_on_one_cluster_all_land(az, sbc, zygote, kube_reader, tally):
    """Ten workload-identity connections of one identity, in ten namespaces, on a cluster whose OIDC issuer is off:
    ten cluster updates, twenty role-assignment writes of the same two assignments and ten federated credentials
    on one identity race. Every create ends well and every connection is there, whole, once."""
    world = new_world(sbc, "many")
    worlds = [dict(world, connection=f"many_{i}", namespace=f"many-{i}") for i in range(10)]
    children = [zygote.start(create_args(w)) for w in worlds]
    codes = _wait_all(children)
    quiesce(sbc)
    arm = arm_state(sbc, world)
    kube = kube_state(kube_reader, world)
    subjects = sorted(f[1] for f in arm["federatedCredentials"])
    wanted = sorted(f"system:serviceaccount:many-{i}:sc-account-{world['identity']['clientId']}" for i in range(10))
    problems = []
    if codes != [0] * 10:
        problems.append(f"exit codes {codes}: " + "; ".join(c.err.strip().splitlines()[-1][:1000] for c in children
                                                            if c.returncode))
    if sorted(kube["records"]) != sorted(w["connection"] for w in worlds):
        problems.append(f"records {sorted(kube['records'])}")
    if subjects != wanted:
        problems.append(f"federated credentials {subjects}")
    if len(arm["roleAssignments"]) != len(ROLES):
        problems.append(f"{len(arm['roleAssignments'])} role assignments")
    if arm["firewall"] != sorted(world["egress"]):
        problems.append(f"firewall {arm['firewall']}")
    secrets = sorted(k for k in kube["secrets"] if k.startswith("many-"))
    if secrets != sorted(f"many-{i}/sc-many{i}-secret" for i in range(10)):
        problems.append(f"secrets {secrets}")
    if not (arm["oidcIssuer"] and arm["workloadIdentity"]):
        problems.append("cluster features off")
    tally("concurrency", scenario="10 workload-identity creates on one cluster (one identity, ten namespaces)",
          ok=not problems, detail="; ".join(problems) or
          f"10 exit 0; 10 records, 10 Secrets, {len(subjects)} federated credentials, "
          f"{len(arm['roleAssignments'])} role assignments, firewall {len(arm['firewall'])} rule")
    assert not problems, problems


def test_three_clusters_on_one_firewalled_target_keep_every_rule(az, sbc, zygote, tally):
    target = new_world(sbc, "fw3")
    worlds = [dict(new_world(sbc, "fw3", firewall=False), account=target["account"]) for _ in range(3)]
    children = [zygote.start(create_args(w, auth="secret")) for w in worlds]
    codes = _wait_all(children)
    quiesce(sbc)
    rules = arm_state(sbc, target)["firewall"]
    wanted = sorted(ip for w in worlds for ip in w["egress"])
    said = [ip for w, c in zip(worlds, children) for ip in w["egress"] if f"Added firewall rule(s) for {ip}" in c.err]
    lost = [ip for ip in said if ip not in rules]
    ok = codes == [0, 0, 0] and rules == wanted and not lost
    tally("concurrency", scenario="3 clusters at once on one storage account that denies every network", ok=ok,
          detail=f"exit codes {codes}; {len(rules)} of {len(wanted)} egress IPs admitted, each once"
          + (f"; said 'Added' but missing: {lost}" if lost else ""))
    assert codes == [0, 0, 0], [c.err[-500:] for c in children]
    assert rules == wanted, (rules, wanted)


def _secret_keys(kube_reader, world):
    core = kube_reader.core(world["cluster"]["name"])
    secret = core.read_namespaced_secret("sc-" + world["connection"].replace("_", "") + "-secret",
                                         world["namespace"])
    return sorted((secret.data or {}).keys())


def _keys_of(client_type):
    target = t.TARGETS["storage-blob"]
    return sorted(k.key for k in target.keys_for(t.AUTH_WORKLOAD_IDENTITY, client_type))


def _held(zygote, sbc, world, args, method, path_end):
    """Start ``args`` in an az process whose ``method`` request ending in ``path_end`` is held by the sandbox until
    the returned release() is called; returns (child, release) once the request is held."""
    rule = sbc.add_fault(plane="kube", method=method, path=f"/clusters/{world['cluster']['name']}/.*{path_end}$",
                         hold=120, times=1)
    child = zygote.start(args)
    deadline = time.monotonic() + 120
    while not (sbc.fault(rule) or {}).get("held"):
        assert child.poll() is None, f"it ended before its write: {child}"
        assert time.monotonic() < deadline
        threading.Event().wait(0.02)
    return child, lambda: sbc.remove_fault(rule)


def test_update_racing_update_ends_with_record_and_secret_of_one_run(az, sbc, zygote, kube_reader, tally):
    """Update A (to springBoot) is held at its Secret write while update B (to java) runs to its end; then A goes on.
    Afterwards the record and the Secret are from the same run: A holds the connection's lease (its intent is
    recorded before its Secret write), so B is refused with nothing written and A ends; or, had B come first, A
    fails clearly and what is there is B's."""
    world = new_world(sbc, "uu", firewall=False)
    assert run_az(*create_args(world)).rc == 0
    update = ["aks", "connection", "update", "storage-blob", "--id", conn_id(world), "-o", "json"]
    a, release = _held(zygote, sbc, world, update + ["--client-type", "springBoot"], "PUT",
                       "/secrets/sc-" + world["connection"].replace("_", "") + "-secret")
    try:
        b = run_az(*update, "--client-type", "java")
    finally:
        release()
    a.wait()
    quiesce(sbc)
    record = run_az("aks", "connection", "show", "--id", conn_id(world), "-o", "json").json or {}
    keys = _secret_keys(kube_reader, world)
    same_run = keys == _keys_of(record.get("clientType"))
    refused = b.rc != 0 and "is being changed by another command" in b.log and "nothing was written" in b.log
    ok = same_run and ((refused and a.returncode == 0) or (b.rc == 0 and (a.returncode == 0 or "re-run" in a.err)))
    tally("concurrency", scenario="update ∥ update of one connection", ok=ok,
          detail=f"A (springBoot) exit {a.returncode}, B (java) exit {b.rc}; record says {record.get('clientType')}, "
          f"the Secret holds {'its' if same_run else 'other'} keys {keys}")
    assert (refused and a.returncode == 0) or (b.rc == 0 and (a.returncode == 0 or "re-run" in a.err)), (a, b)
    assert same_run, (record.get("clientType"), keys)


def test_update_racing_delete_stays_deleted(az, sbc, zygote, kube_reader, tally):
    world = new_world(sbc, "ud", firewall=False)
    assert run_az(*create_args(world)).rc == 0
    update = ["aks", "connection", "update", "storage-blob", "--id", conn_id(world), "--client-type", "springBoot",
              "-o", "json"]
    a, release = _held(zygote, sbc, world, update, "PUT",
                       "/secrets/sc-" + world["connection"].replace("_", "") + "-secret")
    try:
        deleted = run_az(*delete_args(world))
    finally:
        release()
    a.wait()
    quiesce(sbc)
    listed = run_az("aks", "connection", "list", "--source-id", world["cluster"]["id"], "-o", "json").json
    # The update holds the connection's lease (its intent is recorded before its Secret write): the delete is
    # refused with nothing removed and the update ends; a delete that came first would leave it deleted (exit 3).
    refused = deleted.rc != 0 and "is being changed by another command" in deleted.log
    ok = (refused and a.returncode == 0 and [c["name"] for c in listed or []] == [world["connection"]]) or \
        (deleted.rc == 0 and listed == [] and a.returncode == 3)
    tally("concurrency", scenario="update ∥ delete of one connection", ok=ok,
          detail=f"delete exit {deleted.rc}, update exit {a.returncode}; connections afterwards: "
          f"{[c['name'] for c in listed or []]}")
    if refused:
        assert a.returncode == 0, a
        assert [c["name"] for c in listed] == [world["connection"]], listed
    else:
        assert deleted.rc == 0, deleted
        assert listed == [], listed
        assert a.returncode == 3 and "was deleted by another command" in a.err, a
