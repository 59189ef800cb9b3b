# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Kills (issue 13 item 8): an az process SIGKILLed while the sandbox holds its N-th mutating request (either plane),
N = 1 … 10 of a workload-identity create that writes ten times (the cluster update, two role assignments, the
firewall rule, the federated credential, the connection's namespace, ServiceAccount and Secret, the store's
namespace and the record). The held request then either reaches the service after the kill (*lands*: the process
died before it saw the answer) or never does (*lost*: the connection is reset). A re-run of the same command must
reach a clean run's end state: the same objects on both planes, none twice.

And what the user sees of a killed command before re-running it (issue 13 item 4): a killed create leaves a record
(Creating or Failed) that `show` shows, and `delete` then finds — names or removes — everything it made; a killed
delete can be re-run and still names what is left."""
import re

import pytest

from tests.conftest import run_az
from tests.reliability.conftest import quiesce
from tests.reliability.world import conn_id, create_args, delete_args, new_world, snapshot, duplicates

pytestmark = pytest.mark.e2e

POINTS = list(range(1, 11))
# The killed command's lease on its record (plan.py) runs out after a second: the re-run may take over then.
LEASE = {"AZURE_AKS_CONNECTION_LEASE_SECONDS": "1"}


def rerun(*args):
    """Re-run ``args`` as a user told 'being changed by another command … re-run after <lease>' does: again once the
    killed command's lease has run out (a second, polled at a short explicit interval, bounded)."""
    import threading
    for _ in range(20):
        res = run_az(*args)
        if res.rc == 0 or "is being changed by another command" not in res.log:
            return res
        threading.Event().wait(0.25)
    return res


CASES = [(n, "lands") for n in POINTS] + [(n, "lost") for n in (1, 5, 9)]


def xdist_group_of(item):
    params = getattr(item, "callspec", None)
    point = params.params.get("point", 0) if params else 0
    return f"kills-{point % 2}"


@pytest.fixture(scope="module")
def reference(az, sbc, kube_reader):
    world = new_world(sbc, "kref")
    mark = sbc.mark()
    res = az(*create_args(world))
    assert res.rc == 0, res
    writes = [e for e in sbc.requests(since=mark) if e["mutating"]]
    assert len(writes) >= len(POINTS), [(e["method"], e["path"]) for e in writes]
    return snapshot(sbc, kube_reader, world)


def _scope(world):
    """The requests of this world's command: its cluster (both planes), its account, its identity."""
    return "(" + "|".join(re.escape(n) for n in (world["cluster"]["name"], world["account"]["name"],
                                                 world["identity"]["name"])) + ")"


def kill_at(zygote, sbc, world, args, point, variant):
    """Run ``args`` in an az process, SIGKILL it while the sandbox holds its ``point``-th mutating request, then let
    that request land or drop it (``variant``). Returns (killed, the mutating requests that landed, the child)."""
    rule = sbc.add_fault(plane="*", mutating=True, path=_scope(world), skip=point - 1, times=1, hold=120,
                         reset=variant == "lost")
    mark = sbc.mark()
    child = zygote.start(args, env=LEASE)
    killed = False
    try:
        while child.poll() is None:
            if (sbc.fault(rule) or {}).get("held"):
                child.kill()
                killed = True
                child.wait(30)
                break
            threading_wait(0.02)
    finally:
        sbc.remove_fault(rule)       # the held request goes on (lands, or is dropped)
    quiesce(sbc)
    landed = [e for e in sbc.requests(since=mark) if e["mutating"] and 200 <= e["status"] < 300]
    return killed, landed, child


def threading_wait(seconds):
    import threading
    threading.Event().wait(seconds)       # polling the sandbox for the held request: a short explicit interval


@pytest.mark.parametrize("point, variant", CASES, ids=[f"{n}-{v}" for n, v in CASES])
def test_killed_create_rerun_reaches_the_clean_end_state(az, sbc, zygote, kube_reader, reference, point, variant,
                                                         tally):
    world = new_world(sbc, "kill")
    killed, landed, child = kill_at(zygote, sbc, world, create_args(world), point, variant)
    assert killed, f"the create ended before its {point}th write: {child}"
    again = rerun(*create_args(world))
    snap = snapshot(sbc, kube_reader, world)
    dupes = duplicates(snap)
    converged = again.rc == 0 and snap == reference
    tally("kill", command="a workload-identity create", point=point, variant=variant, converged=converged,
          duplicates=dupes, landed=len(landed),
          why="" if converged else f"re-run rc {again.rc}: {again.log.strip().splitlines()[-1:]}")
    assert again.rc == 0, again
    assert not dupes, dupes
    assert snap == reference


def _made(sbc, world, landed):
    """What the killed command made, from what landed: [(what, the name a user would see, still there?)]."""
    from urllib.parse import quote
    made = []
    assignments = {a["id"].lower() for a in sbc.arm("GET", "role-assignments")["value"]}
    for e in landed:
        path = e["path"]
        if "/roleAssignments/" in path:
            made.append(("role assignment", path.rsplit("/", 1)[-1], path.lower() in assignments))
        elif "/federatedIdentityCredentials/" in path:
            try:
                there = sbc.arm("GET", "resource?id=" + quote(path, safe="")) is not None
            except Exception:  # pylint: disable=broad-except
                there = False
            made.append(("federated credential", path.rsplit("/", 1)[-1], there))
        elif e["method"] == "PATCH" and "/storageAccounts/" in path:
            rules = [r["value"] for r in ((sbc.arm("GET", "resource?id=" + quote(world["account"]["id"], safe=""))
                                           .get("properties") or {}).get("networkAcls") or {}).get("ipRules") or []]
            made += [("firewall rule", ip, ip in rules) for ip in world["egress"]]
        elif e["method"] == "PUT" and path.lower() == world["cluster"]["id"].lower():
            made.append(("cluster feature", "OIDC issuer", True))
    return made


def _kube_made(kube_reader, world, landed):
    from kubernetes.client.rest import ApiException
    core = kube_reader.core(world["cluster"]["name"])
    made = []
    for e in landed:
        if e["plane"] != "kube":
            continue
        if e["path"].endswith(f"/namespaces/{world['namespace']}/serviceaccounts"):
            name = "sc-account-" + world["identity"]["clientId"]
            reader = core.read_namespaced_service_account
        elif e["path"].endswith(f"/namespaces/{world['namespace']}/secrets"):
            name = "sc-" + world["connection"].replace("_", "") + "-secret"
            reader = core.read_namespaced_secret
        else:
            continue
        try:
            reader(name, world["namespace"])
            there = True
        except ApiException:
            there = False
        made.append(("Kubernetes object", name, there))
    return made


def _unaccounted(made, text):
    """What is still there and not named in ``text``."""
    return [(what, name) for what, name, there in made if there and name not in text]


@pytest.mark.parametrize("point", [3, 6, 9])     # after the store's namespace and the intent record (1, 2)
def test_killed_create_is_visible_and_delete_finds_what_it_made(az, sbc, zygote, kube_reader, point, tally):
    """Issue 13 item 4: after the kill, `show` shows the connection (Creating or Failed) and `delete` removes or
    names every object the killed run made (role assignments, federated credential, firewall rule, cluster features,
    ServiceAccount, Secret)."""
    world = new_world(sbc, "kvis")
    killed, landed, child = kill_at(zygote, sbc, world, create_args(world), point, "lands")
    assert killed, child
    made = _made(sbc, world, landed) + _kube_made(kube_reader, world, landed)
    shown = run_az("aks", "connection", "show", "--id", conn_id(world), "-o", "json")
    deleted = rerun(*delete_args(world))
    left = _unaccounted(_made(sbc, world, landed) + _kube_made(kube_reader, world, landed), deleted.out + deleted.log)
    visible = shown.rc == 0 and (shown.json or {}).get("provisioningState") in ("Creating", "Failed")
    tally("kill-visible", point=point, made=len(made), visible=visible, accounted=deleted.rc == 0 and not left,
          why="" if visible and not left else f"show rc {shown.rc}; delete rc {deleted.rc}; not named: {left}")
    assert made, landed
    assert shown.rc == 0, shown
    assert shown.json["provisioningState"] in ("Creating", "Failed"), shown.json
    assert deleted.rc == 0, deleted
    assert not left, f"neither removed nor named by delete: {left}"


@pytest.mark.parametrize("point, variant", [(1, "lands"), (1, "lost"), (2, "lands")],
                         ids=["1-lands", "1-lost", "2-lands"])
def test_killed_delete_can_be_rerun_and_names_what_is_left(az, sbc, zygote, kube_reader, point, variant, tally):
    """A delete killed at its N-th write: a re-run ends with no connection and names (or has removed) everything the
    create made. A delete that was not killed (it made fewer writes) must have named it itself."""
    world = new_world(sbc, "kdel")
    mark = sbc.mark()
    assert run_az(*create_args(world)).rc == 0
    made_by_create = [e for e in sbc.requests(since=mark) if e["mutating"] and 200 <= e["status"] < 300]
    killed, _, child = kill_at(zygote, sbc, world, delete_args(world), point, variant)
    again = rerun(*delete_args(world))
    # What the user saw: the killed delete names what it leaves before it removes the record, and the re-run.
    said = child.out + child.err + again.out + again.log
    made = [m for m in _made(sbc, world, made_by_create) + _kube_made(kube_reader, world, made_by_create)
            if m[0] != "cluster feature"]          # the cluster's OIDC issuer and workload identity are not garbage
    left = _unaccounted(made, said)
    listed = run_az("aks", "connection", "list", "--source-id", world["cluster"]["id"], "-o", "json")
    tally("kill", command="a delete", point=point, variant=variant, converged=again.rc == 0 and not left and
          listed.json == [], duplicates=[], landed=0,
          why=f"not named: {left}" if left else ("" if killed else "not killed: the delete made fewer writes"))
    assert again.rc == 0, again
    assert listed.json == [], listed
    assert not left, f"left in place and not named by the {'re-run' if killed else 'delete'}: {left}"
