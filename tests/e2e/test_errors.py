# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Every message of the seed's error catalogue (mission M-E1 … M-E5), met where it surfaces, turned into an
error or finding that names the cause and the fix; and nothing half-written behind it.

aks-connection installs no cluster extension (provider/store.py): the extension-install messages (M-E1, M-E2,
M-E3 as a status) surface only from Microsoft's own sc-extension, which Service Connector's resource provider
installs — ``troubleshoot`` reads them there. The create path meets permissions (M-E4) and a busy cluster (M-E3),
and needs no Microsoft.KubernetesConfiguration registration (M-E5)."""
import os
import re
import threading
import time

import pytest

from sandbox.context import CALLER_OBJECT_ID

# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.helpers import (by_name, create, install_microsoft_extension, new_cluster,  # noqa: F401
                               quick_extensions, run, writes)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("quick_extensions")]

KC = "Microsoft.KubernetesConfiguration"
EXT_PATH = "/providers/Microsoft.KubernetesConfiguration/extensions"


def show(az, cluster, name):
    return az("aks", "connection", "show", "--id",
              cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + name, "-o", "json")


def troubleshoot(az, cluster):
    return az("aks", "connection", "troubleshoot", "-g", cluster["resourceGroup"], "-n", cluster["name"], "-o", "json")


def assert_no_extension_call(sbc, mark):
    assert not [e for e in sbc.requests(since=mark) if KC in e["path"]], "a connection command touched extensions"


# --------------------------------------------------------------------------- M-E1, M-E2 (and M-E3 as a status)

OUTCOMES = [
    # (M-E id, message sc-extension reports, what the error must name as the fix)
    ("M-E1 agent", "The extension operation failed: Unable to get a response from the agent in time.",
     ["eastus.dp.kubernetesconfiguration.azure.com", "kubectl get pods -n kube-system"]),
    ("M-E2 rendering", "Helm installation failed : Helm chart rendering failed with given values : InnerError "
     "[template: sc/templates/job.yaml:3:12: executing at <.Values.x>: nil pointer]",
     ["--query configurationSettings"]),
    ("M-E2 exists", "Helm installation failed : Resource already exists in your cluster : InnerError [rendered "
     "manifests contain a resource that already exists: ServiceAccount \"sc-operator\" in namespace \"sc-system\"]",
     ["kubectl get all,serviceaccounts,configmaps,secrets -n sc-system", "helm list -n sc-system -a"]),
    ("M-E2 helm busy", "Helm installation failed : Operation is already in progress for Helm",
     ["pending-upgrade", "helm rollback sc-extension -n sc-system"]),
    ("M-E2 readiness", "Helm installation failed : Timed out waiting for resource readiness : Last resource not "
     "ready was sc-system/sc-operator", ["az aks connection troubleshoot -g sandbox-rg -n "]),
    ("M-E3 conflict", "Operation returned an invalid status code 'Conflict'",
     ["--query provisioningState", "az provider register -n Microsoft.KubernetesConfiguration"]),
]


@pytest.mark.parametrize("case, message, fixes", OUTCOMES, ids=[o[0] for o in OUTCOMES])
def test_failed_microsoft_extension_names_cause_and_fix(az, sandbox, sbc, case, message, fixes):
    """Microsoft's sc-extension failed to install: troubleshoot names the seed's message, its cause and the fix
    for this cluster; a connection of aks-connection on the same cluster is not affected by it."""
    cluster = new_cluster(sbc, "err-ext")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.fail_extension_installs(rg, name, message, helmStatus=None if "agent" in case else "failed")
    try:
        assert install_microsoft_extension(az, cluster) == "Failed"
    finally:
        sbc.clear_extension_failure(rg, name)
    res = troubleshoot(az, cluster)
    assert res.rc == 1, res
    found = by_name(res.json)["Extension sc-extension"]
    assert found["result"] == "failure"
    assert "Microsoft's Service Connector extension sc-extension" in found["message"]
    assert message.split(" : ")[-1].split(" [")[0] in found["message"]     # the seed's message itself ...
    for fix in fixes:                                                       # ... and the fix for this cluster
        assert fix in found["recommendation"], (fix, found)
    mark = sbc.mark()
    ok = create(az, sandbox, cluster, "ext_blob")
    assert ok.rc == 0, ok
    assert show(az, cluster, "ext_blob").json["provisioningState"] == "Succeeded"
    assert not [w for w in writes(sbc, mark) if KC in w[1]]


def test_all_node_pools_critical_addons_only(az, sandbox, sbc):
    """M-E1: Microsoft's extension cannot schedule its pods while every node pool is tainted CriticalAddonsOnly;
    troubleshoot says so with the fix. aks-connection runs no pod: its create works."""
    cluster = new_cluster(sbc, "err-taint")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.set_node_taints(rg, name, ["CriticalAddonsOnly=true:NoSchedule"])
    assert install_microsoft_extension(az, cluster) == "Failed"
    res = troubleshoot(az, cluster)
    assert res.rc == 1, res
    found = by_name(res.json)["Extension sc-extension"]
    assert "Extension pods can't be scheduled if all the node pools in the cluster are \"CriticalAddonsOnly\" " \
           "tainted" in found["message"]
    assert f"az aks nodepool add -g {rg} --cluster-name {name} -n userpool --mode User" in found["recommendation"]
    assert create(az, sandbox, cluster, "taint_blob").rc == 0


def test_chart_download_blocked_names_the_fqdns_to_allow(az, sandbox, sbc):
    """M-E2: "Unable to download the Helm chart from the repo URL": allow scaksextension.azurecr.io (chart) and
    mcr.microsoft.com (the newer image)."""
    cluster = new_cluster(sbc, "err-chart")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.block_egress(rg, name, ["scaksextension.azurecr.io"])
    try:
        assert install_microsoft_extension(az, cluster) == "Failed"
        res = troubleshoot(az, cluster)
    finally:
        sbc.block_egress(rg, name, [])
    assert res.rc == 1, res
    found = by_name(res.json)["Extension sc-extension"]
    assert "Unable to download the Helm chart from the repo URL" in found["message"]
    assert "scaksextension.azurecr.io and mcr.microsoft.com and *.data.mcr.microsoft.com" in found["recommendation"]
    assert "outbound-rules-control-egress" in found["recommendation"]


# --------------------------------------------------------------------------- M-E3: the cluster is updating

def test_secret_create_on_an_updating_cluster_goes_on_without_touching_it(az, sandbox, sbc):
    """A --secret connection writes nothing to the cluster resource: an operation running on it (the API server
    serves meanwhile) does not hold the create up."""
    cluster = new_cluster(sbc, "err-upd")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.set_cluster_state(rg, name, "Updating")
    mark = sbc.mark()
    try:
        started = time.monotonic()
        res = create(az, sandbox, cluster, "upd_blob")
        elapsed = time.monotonic() - started
    finally:
        sbc.release_cluster(rg, name)
    assert res.rc == 0, res
    assert elapsed < 10, elapsed
    assert not [w for w in writes(sbc, mark) if not w[1].startswith("/clusters/")], writes(sbc, mark)


def _wi_create(az, sandbox, cluster, name):
    identity = next(iter(sandbox["seeds"]["identities"].values()))
    s = sandbox["seeds"]["storage"]["storage-blob"]
    return run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"],
               "--tg", s["resourceGroup"], "--account", s["account"], "--connection", name,
               "--workload-identity", identity, "-o", "json")


def _release_after_reads(sbc, cluster, mark, reads, bound=60.0):
    """Set the cluster Succeeded once the sandbox has answered ``reads`` GETs of it since ``mark`` (or after
    ``bound`` seconds: the test then fails on its messages, not by hanging)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        seen = [e for e in sbc.requests(since=mark) if e["method"] == "GET" and e["path"] == cluster["id"]]
        if len(seen) >= reads:
            break
        time.sleep(0.05)        # polling the sandbox's request log, not waiting for a result
    sbc.release_cluster(cluster["resourceGroup"], cluster["name"])


def test_updating_cluster_is_waited_for_before_its_update(az, sandbox, sbc):
    """M-E3: a workload-identity create must update the cluster (OIDC issuer): while another operation runs on it,
    the update waits (progress in the open, growing intervals), then goes on."""
    cluster = new_cluster(sbc, "err-updwi")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.set_cluster_state(rg, name, "Updating")
    mark = sbc.mark()
    # Released once the create has read the busy cluster twice (its wait has begun), not after a fixed time: on a
    # busy machine a timer can fire before the create's first read, and the create then never sees it busy.
    releaser = threading.Thread(target=_release_after_reads, args=(sbc, cluster, mark, 2))
    releaser.start()
    try:
        res = _wi_create(az, sandbox, cluster, "updwi_blob")
    finally:
        releaser.join()
    assert res.rc == 0, res
    assert f"AKS cluster '{name}' is Updating: another operation runs on it" in res.log
    assert f"AKS cluster '{name}' is Succeeded: going on." in res.log
    puts = [e for e in sbc.requests(since=mark) if e["method"] == "PUT" and e["path"] == cluster["id"]]
    assert puts and puts[0]["status"] < 300, puts   # no PUT was tried (and refused) while the cluster was busy


def test_cluster_busy_beyond_the_bound_is_the_conflict_error_and_the_record_says_so(az, sandbox, sbc, monkeypatch):
    """The cluster stays busy past the bound: the conflict error, no cluster write and nothing in the workload's
    namespace; what was made meanwhile (the role assignment, if it was missing) is in the record, state Failed,
    which names the failing step and its error; a re-run once the cluster is free converges to Succeeded."""
    cluster = new_cluster(sbc, "err-busy")
    rg, name = cluster["resourceGroup"], cluster["name"]
    monkeypatch.setenv("AZURE_AKS_CONNECTION_CLUSTER_WAIT_TIMEOUT", "2")
    sbc.set_cluster_state(rg, name, "Updating")
    mark = sbc.mark()
    try:
        res = _wi_create(az, sandbox, cluster, "busy_blob")
    finally:
        sbc.release_cluster(rg, name)
    assert res.rc == 1, res
    assert "Conflict" not in res.log            # no 409 was received: the wait ran out
    assert f"AKS cluster '{name}' is still Updating after 2 seconds" in res.log
    assert f"az aks show -g {rg} -n {name} --query provisioningState -o tsv' says Succeeded" in res.log
    made = writes(sbc, mark)
    assert not [w for w in made if w[1] == cluster["id"] or "/namespaces/default/" in w[1]], made
    roles = [w for w in made if "/roleAssignments/" in w[1]]
    shown = show(az, cluster, "busy_blob")
    if roles:           # the identity's role on the account was missing: made, and recorded as Failed
        assert shown.rc == 0 and shown.json["provisioningState"] == "Failed", shown
    else:               # nothing was written outside the cluster: no record
        assert shown.rc == 3, shown
    again = _wi_create(az, sandbox, cluster, "busy_blob")
    assert again.rc == 0 and again.json["provisioningState"] == "Succeeded", again
    assert show(az, cluster, "busy_blob").json["provisioningState"] == "Succeeded"


def test_forbidden_list_keys_names_the_action_the_scope_and_a_role(az, sandbox, sbc):
    cluster = new_cluster(sbc, "err-403")
    scope = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices", 1)[0]
    sbc.deny("Microsoft.Storage/storageAccounts/listKeys/action", scope)
    mark = sbc.mark()
    try:
        res = create(az, sandbox, cluster, "deny_blob")
    finally:
        sbc.clear_denials()
    assert res.rc == 1, res
    assert "(AuthorizationFailed)" in res.log
    assert "If access was recently granted, please refresh your credentials" in res.log
    assert f"You do not have permission to perform action 'Microsoft.Storage/storageAccounts/listKeys/action' on " \
           f"'{scope}'" in res.log
    assert f"az role assignment create --assignee {CALLER_OBJECT_ID} --role \"Storage Account Key Operator Service " \
           f"Role\" --scope {scope}" in res.log        # the object id Azure's answer names: a real name, no placeholder
    assert "run 'az login' again" in res.log
    assert writes(sbc, mark) == []
    assert show(az, cluster, "deny_blob").rc == 3


def test_no_extension_permission_is_needed(az, sandbox, sbc):
    """Denied every Microsoft.KubernetesConfiguration action, a create, list, show and delete all work: none of
    them reads or writes a cluster extension but list (which only notes Microsoft's, best effort)."""
    cluster = new_cluster(sbc, "err-403x")
    sbc.deny(f"{KC}/extensions/write", cluster["id"])
    sbc.deny(f"{KC}/extensions/read", cluster["id"])
    mark = sbc.mark()
    try:
        res = create(az, sandbox, cluster, "denyx_blob")
        listed = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
        deleted = run(az, "aks", "connection", "delete", "--id", cluster["id"] +
                      "/providers/Microsoft.ServiceLinker/linkers/denyx_blob", "--yes")
    finally:
        sbc.clear_denials()
    assert res.rc == 0, res
    assert listed.rc == 0 and [c["name"] for c in listed.json] == ["denyx_blob"], listed
    assert deleted.rc == 0, deleted
    assert not [w for w in writes(sbc, mark) if KC in w[1]]


# --------------------------------------------------------------------------- M-E5: registration

def test_unregistered_kubernetes_configuration_is_not_needed_and_never_registered(az, sandbox, sbc):
    """M-E5 is Microsoft's extension's need: with Microsoft.KubernetesConfiguration not registered, create, list,
    validate and delete work, and nothing registers it behind the user's back."""
    cluster = new_cluster(sbc, "err-reg")
    sbc.set_provider(KC, "NotRegistered")
    mark = sbc.mark()
    conn = cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/reg_blob"
    try:
        res = create(az, sandbox, cluster, "reg_blob")
        listed = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
        validated = run(az, "aks", "connection", "validate", "--id", conn, "-o", "json")
        deleted = run(az, "aks", "connection", "delete", "--id", conn, "--yes")
    finally:
        sbc.set_provider(KC, "Registered")
    assert res.rc == 0, res
    assert listed.rc == 0 and [c["name"] for c in listed.json] == ["reg_blob"], listed
    assert validated.rc == 0, validated
    assert deleted.rc == 0, deleted
    assert not [e for e in sbc.requests(since=mark) if e["path"].endswith("/register")]


def test_debug_log_of_a_failed_create_carries_no_credential(sandbox, sbc):
    """A real az process, --debug, on a create that fails at the Secret write: the account key appears nowhere."""
    from tests.conftest import az_subprocess
    cluster = new_cluster(sbc, "err-dbg")
    fault = sbc.add_fault(plane="kube", method="POST", path=f"/clusters/{cluster['name']}/api/v1/namespaces/default/"
                          "secrets$", status=422, code="Invalid", message="Secret is invalid (injected)")
    s = sandbox["seeds"]["storage"]["storage-blob"]
    try:
        proc = az_subprocess("aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
                             s["resourceGroup"], "--account", s["account"], "--connection", "dbg_blob", "--secret",
                             "--debug", env=dict(os.environ))
    finally:
        sbc.call("DELETE", f"/_sandbox/faults?id={fault}")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Secret is invalid (injected)" in proc.stderr
    text = proc.stdout + proc.stderr
    assert "AccountKey=" not in text


MALFORMED = [{"bare": True}, {"body": "<html><body>502 Bad Gateway</body></html>", "content_type": "text/html"},
             {"body": '{"id": "/subscriptions/00000000-0000-0000-'}]


@pytest.mark.parametrize("answer", MALFORMED)
def test_a_malformed_answer_to_the_cluster_read_is_a_clear_error(az, sandbox, sbc, answer):
    """A 200 that is not the cluster (empty, a proxy's HTML page, JSON cut short) names the call and what came
    back, and suggests a re-run: never a traceback."""
    cluster = new_cluster(sbc, "err-malformed")
    sbc.add_fault(plane="arm", method="GET", path=re.escape(cluster["id"]) + "$", status=200, times=1, **answer)
    try:
        res = create(az, sandbox, cluster, "bad_answer")
    finally:
        sbc.clear_faults()
    assert res.rc == 1, res
    assert f"answered GET {cluster['id']} with " in res.log and "Re-run the command" in res.log, res.log
    assert "Traceback" not in res.log and "JSONDecodeError" not in res.log
    assert create(az, sandbox, cluster, "bad_answer").rc == 0


def test_a_failing_token_endpoint_is_named_with_the_sign_in_fix(az, sandbox, sbc):  # az: logged in
    """The login's token endpoint answers 500 (a managed identity's endpoint down): what failed and the az login
    fix, never azure-cli's bare 'None, None'; nothing written."""
    from tests.conftest import az_subprocess
    cluster = new_cluster(sbc, "err-token")
    s = sandbox["seeds"]["storage"]["storage-blob"]
    sbc.add_fault(plane="arm", path=r"^/msi/token", status=500, code="InternalServerError", message="down")
    mark = sbc.mark()
    try:
        proc = az_subprocess("aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
                             s["resourceGroup"], "--account", s["account"], "--connection", "tok", "--secret")
    finally:
        sbc.clear_faults()
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Getting an access token for https://management" in proc.stderr and "az login --identity" in proc.stderr
    assert "None, None" not in proc.stderr and "Traceback" not in proc.stderr
    assert [e for e in sbc.requests(since=mark) if e["mutating"]] == []


def test_service_connector_refuses_a_service_principal_without_its_object_id_before_any_request(az, sandbox, sbc):
    cluster = new_cluster(sbc, "err-spobj")
    s = sandbox["seeds"]["storage"]["storage-blob"]
    mark = sbc.mark()
    res = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
              s["resourceGroup"], "--account", s["account"], "--connection", "sp_noobj", "--engine",
              "service-connector", "--service-principal", "client-id=00000000-0000-0000-0000-00000000abcd",
              "secret=not-a-real-one")
    assert res.rc not in (0, None), res
    assert "Service Connector needs the service principal's object id" in res.log, res.log
    assert "not-a-real-one" not in res.log
    assert [e for e in sbc.requests(since=mark) if e["mutating"]] == []
