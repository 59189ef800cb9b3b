"""Every message of the seed's error catalogue (mission M-E1 … M-E5), met where it surfaces, turned into an
error that names the cause and the fix; and nothing half-written behind it."""
import os
import threading
import time

import pytest

from tests.e2e.helpers import create, new_cluster, quick_extensions, run, writes  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("quick_extensions")]

KC = "Microsoft.KubernetesConfiguration"
EXT_PUT = "/providers/Microsoft.KubernetesConfiguration/extensions/sc-extension"


def show(az, cluster, name):
    return az("aks", "connection", "show", "--id",
              cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + name, "-o", "json")


def assert_nothing_after(sbc, mark, last_path_end, status):
    """The last write since ``mark`` is the failed one (``last_path_end`` answered ``status``)."""
    done = writes(sbc, mark)
    assert done, "expected the failing write in the log"
    method, path, code = done[-1]
    assert path.endswith(last_path_end) and code == status, done


def assert_failed_install_then_fix_converges(az, sandbox, sbc, cluster, name, mark, clear):
    """After a failed install: no write after the failed one; the connection shows Failed (the record sits in
    the Failed extension, as a Failed linker would); once the cause is gone, re-running create converges."""
    writes_after = [w for w in writes(sbc, mark) if w[1].endswith(EXT_PUT)]
    assert writes_after and writes_after[-1][0] in ("PUT", "PATCH"), writes(sbc, mark)
    last_ext_write = max(i for i, w in enumerate(writes(sbc, mark)) if w[1].endswith(EXT_PUT))
    assert last_ext_write == len(writes(sbc, mark)) - 1, writes(sbc, mark)
    shown = show(az, cluster, name)
    assert shown.rc == 0 and shown.json["provisioningState"] == "Failed", shown
    clear()
    again = create(az, sandbox, cluster, name)
    assert again.rc == 0, again
    assert show(az, cluster, name).json["provisioningState"] == "Succeeded"


# --------------------------------------------------------------------------- M-E1, M-E2 (and M-E3 as a status)

OUTCOMES = [
    # (M-E id, message sc-extension reports, what the error must name as the fix)
    ("M-E1 agent", "The extension operation failed: Unable to get a response from the agent in time.",
     ["eastus.dp.kubernetesconfiguration.azure.com", "kubectl get pods -n kube-system"]),
    ("M-E2 rendering", "Helm installation failed : Helm chart rendering failed with given values : InnerError "
     "[template: sc/templates/job.yaml:3:12: executing at <.Values.x>: nil pointer]",
     ["--query configurationSettings", "az config unset aks_connection.extension_type"]),
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
def test_failed_install_names_cause_and_fix(az, sandbox, sbc, case, message, fixes):
    cluster = new_cluster(sbc, "err-ext")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.fail_extension_installs(rg, name, message, helmStatus=None if "agent" in case else "failed")
    mark = sbc.mark()
    try:
        res = create(az, sandbox, cluster, "ext_blob")
    except BaseException:
        sbc.clear_extension_failure(rg, name)
        raise
    assert res.rc == 1, res
    assert f"sc-extension on cluster '{name}' is in state Failed" in res.log
    assert message.split(" : ")[-1].split(" [")[0] in res.log          # the seed's message itself ...
    assert "Cause:" in res.log                                          # ... its cause ...
    for fix in fixes:                                                   # ... and the fix for this cluster
        assert fix in res.log, (fix, res.log)
    assert_failed_install_then_fix_converges(az, sandbox, sbc, cluster, "ext_blob", mark,
                                             lambda: sbc.clear_extension_failure(rg, name))


def test_all_node_pools_critical_addons_only(az, sandbox, sbc):
    """M-E1: the install is refused while every node pool is tainted CriticalAddonsOnly."""
    cluster = new_cluster(sbc, "err-taint")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.set_node_taints(rg, name, ["CriticalAddonsOnly=true:NoSchedule"])
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "taint_blob")
    assert res.rc == 1, res
    assert "Extension pods can't be scheduled if all the node pools in the cluster are \"CriticalAddonsOnly\" " \
           "tainted" in res.log
    assert f"az aks nodepool add -g {rg} --cluster-name {name} -n userpool --mode User" in res.log
    assert f"az aks nodepool update -g {rg} --cluster-name {name} -n <pool> --node-taints" in res.log
    assert_failed_install_then_fix_converges(az, sandbox, sbc, cluster, "taint_blob", mark,
                                             lambda: sbc.set_node_taints(rg, name, []))


def test_chart_download_blocked_names_the_fqdns_to_allow(az, sandbox, sbc):
    """M-E2: "Unable to download the Helm chart from the repo URL": allow scaksextension.azurecr.io (chart) and
    mcr.microsoft.com (the newer image)."""
    cluster = new_cluster(sbc, "err-chart")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.block_egress(rg, name, ["scaksextension.azurecr.io"])
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "chart_blob")
    assert res.rc == 1, res
    assert "Unable to download the Helm chart from the repo URL" in res.log
    assert "scaksextension.azurecr.io and mcr.microsoft.com and *.data.mcr.microsoft.com" in res.log
    assert "outbound-rules-control-egress" in res.log
    assert_failed_install_then_fix_converges(az, sandbox, sbc, cluster, "chart_blob", mark,
                                             lambda: sbc.block_egress(rg, name, []))


def test_readiness_timeout_shows_the_image_pull_behind_it(az, sandbox, sbc):
    """M-E2: "Timed out waiting for resource readiness" — the create itself looks into sc-system and names the
    image the cluster cannot pull, and the registry to allow (not only a timeout, azure/AKS#5493)."""
    cluster = new_cluster(sbc, "err-pull")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.block_egress(rg, name, ["mcr.microsoft.com"])
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "pull_blob")
    assert res.rc == 1, res
    assert "Timed out waiting for resource readiness" in res.log
    assert "In the cluster:" in res.log and "ImagePullBackOff" in res.log
    assert "mcr.microsoft.com/service-connector/prod/image/sc-operator:20251203.5" in res.log
    assert "Allow HTTPS (443) egress from the cluster's nodes to mcr.microsoft.com and *.data.mcr.microsoft.com" \
        in res.log
    assert_failed_install_then_fix_converges(az, sandbox, sbc, cluster, "pull_blob", mark,
                                             lambda: sbc.block_egress(rg, name, []))


def test_sc_job_log_message_is_recognised(az, sandbox, sbc):
    """A seed message that surfaces only in the logs of sc-job (here M-E4's permission message) is found by
    the create and turned into its fix."""
    cluster = new_cluster(sbc, "err-job")
    rg, name = cluster["resourceGroup"], cluster["name"]
    scope = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices", 1)[0]
    log = ("starting sc-job\nerror: You do not have permission to perform action "
           f"'Microsoft.Storage/storageAccounts/listKeys/action' on scope '{scope}'. If access was recently granted, "
           "please refresh your credentials.\n")
    sbc.fail_extension_installs(rg, name, "Helm installation failed : Timed out waiting for resource readiness",
                                scJob={"log": log})
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "job_blob")
    assert res.rc == 1, res
    assert "Job sc-job in sc-system failed (BackoffLimitExceeded)" in res.log
    assert "You do not have permission to perform action 'Microsoft.Storage/storageAccounts/listKeys/action'" in res.log
    assert "Storage Account Key Operator Service Role" in res.log and f"--scope {scope}" in res.log
    assert_failed_install_then_fix_converges(az, sandbox, sbc, cluster, "job_blob", mark,
                                             lambda: sbc.clear_extension_failure(rg, name))


# --------------------------------------------------------------------------- M-E3: the cluster is updating

def test_updating_cluster_is_waited_for_then_create_goes_on(az, sandbox, sbc):
    cluster = new_cluster(sbc, "err-upd")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.set_cluster_state(rg, name, "Updating")
    timer = threading.Timer(2.5, sbc.release_cluster, (rg, name))
    timer.start()
    mark = sbc.mark()
    try:
        started = time.monotonic()
        res = create(az, sandbox, cluster, "upd_blob")
        elapsed = time.monotonic() - started
    finally:
        timer.join()
    assert res.rc == 0, res
    assert f"AKS cluster '{name}' is Updating: another operation runs on it" in res.log
    assert f"AKS cluster '{name}' is Succeeded: going on." in res.log
    assert elapsed >= 2.5
    # Nothing was written while the cluster was busy: the first write came after the cluster was released.
    first_write = min(e["time"] for e in sbc.requests(since=mark) if e["mutating"])
    assert first_write >= started + 2.5
    polls = [e for e in sbc.requests(since=mark) if e["method"] == "GET" and e["path"] == cluster["id"]]
    assert 2 <= len(polls) <= 6, polls        # polled, with growing intervals: no busy loop


def test_cluster_busy_beyond_the_bound_is_the_conflict_error_and_writes_nothing(az, sandbox, sbc, monkeypatch):
    cluster = new_cluster(sbc, "err-busy")
    rg, name = cluster["resourceGroup"], cluster["name"]
    monkeypatch.setenv("AZURE_AKS_CONNECTION_CLUSTER_WAIT_TIMEOUT", "2")
    sbc.set_cluster_state(rg, name, "Updating")
    mark = sbc.mark()
    try:
        res = create(az, sandbox, cluster, "busy_blob")
    finally:
        sbc.release_cluster(rg, name)
    assert res.rc == 1, res
    assert "Operation returned an invalid status code 'Conflict'" in res.log
    assert f"AKS cluster '{name}' is still Updating after 2 seconds" in res.log
    assert f"az aks show -g {rg} -n {name} --query provisioningState -o tsv' says Succeeded" in res.log
    assert writes(sbc, mark) == []                 # not even the Secret
    assert show(az, cluster, "busy_blob").rc == 3


def test_conflict_on_the_extension_write_waits_for_the_cluster_and_retries(az, sandbox, sbc):
    """The cluster turns busy between our read and our write: AKS answers 409 OperationNotAllowed (no
    Retry-After); we wait for the cluster and write again."""
    cluster = new_cluster(sbc, "err-409")
    fault = sbc.add_fault(plane="arm", method="PUT", path=cluster["name"] + EXT_PUT, status=409,
                          code="OperationNotAllowed", times=1,
                          message="Operation is not allowed because there's an in progress update managed cluster "
                                  "operation on the managed cluster started at 2026-01-12T10:00:00Z.")
    mark = sbc.mark()
    try:
        res = create(az, sandbox, cluster, "c409_blob")
    finally:
        sbc.call("DELETE", f"/_sandbox/faults?id={fault}")
    assert res.rc == 0, res
    puts = [w for w in writes(sbc, mark) if w[1].endswith(EXT_PUT)]
    assert [w[2] for w in puts] == [409, 201], puts


def test_bare_conflict_in_an_arm_error_body_names_both_causes(az, sandbox, sbc):
    """M-E3 as an ARM error body, with neither the cluster nor the extension busy: a few bounded retries, then
    the error with both causes and their fixes."""
    cluster = new_cluster(sbc, "err-cfl")
    fault = sbc.add_fault(plane="arm", method="PUT", path=cluster["name"] + EXT_PUT, status=409, code="Conflict",
                          message="Operation returned an invalid status code 'Conflict'")
    mark = sbc.mark()
    try:
        res = create(az, sandbox, cluster, "cfl_blob")
    finally:
        sbc.call("DELETE", f"/_sandbox/faults?id={fault}")
    assert res.rc == 1, res
    assert "Operation returned an invalid status code 'Conflict'" in res.log
    assert f"either AKS cluster '{cluster['name']}' is updating, or the subscription is not registered" in res.log
    assert "az provider register -n Microsoft.KubernetesConfiguration" in res.log
    puts = [w for w in writes(sbc, mark) if w[1].endswith(EXT_PUT)]
    assert [w[2] for w in puts] == [409, 409, 409], puts
    assert_nothing_after(sbc, mark, EXT_PUT, 409)
    assert show(az, cluster, "cfl_blob").rc == 3


# --------------------------------------------------------------------------- M-E4: permissions

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
    assert f"--role \"Storage Account Key Operator Service Role\" --scope {scope}" in res.log
    assert "run 'az login' again" in res.log
    assert writes(sbc, mark) == []
    assert show(az, cluster, "deny_blob").rc == 3


def test_forbidden_extension_write_names_the_action(az, sandbox, sbc):
    cluster = new_cluster(sbc, "err-403x")
    sbc.deny("Microsoft.KubernetesConfiguration/extensions/write", cluster["id"])
    mark = sbc.mark()
    try:
        res = create(az, sandbox, cluster, "denyx_blob")
    finally:
        sbc.clear_denials()
    assert res.rc == 1, res
    assert "action 'Microsoft.KubernetesConfiguration/extensions/write'" in res.log
    assert "Kubernetes Extension Contributor" in res.log
    assert_nothing_after(sbc, mark, EXT_PUT, 403)


# --------------------------------------------------------------------------- M-E5: registration

def test_missing_registration_is_registered_and_waited_for_in_the_open(az, sandbox, sbc):
    cluster = new_cluster(sbc, "err-reg")
    sbc.set_provider(KC, "NotRegistered")
    mark = sbc.mark()
    try:
        started = time.monotonic()
        res = create(az, sandbox, cluster, "reg_blob")
        elapsed = time.monotonic() - started
    finally:
        sbc.set_provider(KC, "Registered")
    assert res.rc == 0, res
    assert f"Resource provider '{KC}' is not registered on subscription" in res.log
    assert f"'az provider register -n {KC}' does" in res.log and f"Resource provider '{KC}' is registered." in res.log
    calls = sbc.requests(since=mark)
    registers = [e for e in calls if e["method"] == "POST" and e["path"].endswith(f"/providers/{KC}/register")]
    assert len(registers) == 1
    # azure-mgmt-core's own policy would have slept a fixed 10 s; we poll as the service allows.
    assert elapsed < 9, elapsed
    first_secret_write = min(e["seq"] for e in calls if e["mutating"] and e["plane"] == "kube")
    assert registers[0]["seq"] < first_secret_write           # registered before anything was written


def test_registration_that_does_not_finish_in_time_says_how_to_register(az, sandbox, sbc, monkeypatch):
    cluster = new_cluster(sbc, "err-regt")
    monkeypatch.setenv("AZURE_AKS_CONNECTION_REGISTRATION_TIMEOUT", "1")
    sbc.set_lro(providers=6.0)
    sbc.set_provider(KC, "NotRegistered")
    mark = sbc.mark()
    try:
        res = create(az, sandbox, cluster, "regt_blob")
    finally:
        sbc.set_lro(providers=1.0)
        sbc.set_provider(KC, "Registered")
    assert res.rc == 1, res
    assert f"Resource provider '{KC}' is still Registering" in res.log
    assert f"not registered to use namespace '{KC}'" in res.log
    assert f"Run 'az provider register -n {KC}'" in res.log
    assert [w for w in writes(sbc, mark) if not w[1].endswith("/register")] == []


def test_no_permission_to_register_names_the_register_action(az, sandbox, sbc):
    cluster = new_cluster(sbc, "err-regf")
    sbc.set_provider(KC, "NotRegistered")
    sbc.deny(f"{KC}/register/action")
    mark = sbc.mark()
    try:
        res = create(az, sandbox, cluster, "regf_blob")
    finally:
        sbc.clear_denials()
        sbc.set_provider(KC, "Registered")
    assert res.rc == 1, res
    assert f"action '{KC}/register/action'" in res.log
    assert f"ask someone who may to run 'az provider register -n {KC}'" in res.log
    assert [(m, p.rsplit("/", 2)[-2:]) for m, p, _ in writes(sbc, mark)] == [("POST", [KC, "register"])]


def test_read_commands_never_register_they_say_how(az, sandbox, sbc):
    cluster = new_cluster(sbc, "err-regr")
    sbc.set_provider(KC, "NotRegistered")
    mark = sbc.mark()
    try:
        res = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    finally:
        sbc.set_provider(KC, "Registered")
    assert res.rc == 1, res
    assert f"The subscription is not registered to use namespace '{KC}'" in res.log
    assert f"Run 'az provider register -n {KC}' and wait until" in res.log
    assert writes(sbc, mark) == []


def test_debug_log_of_a_failed_create_carries_no_credential(sandbox, sbc):
    """A real az process, --debug, on a failing install: the account key appears nowhere."""
    from tests.conftest import az_subprocess
    cluster = new_cluster(sbc, "err-dbg")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.fail_extension_installs(rg, name, "Unable to get a response from the agent in time")
    s = sandbox["seeds"]["storage"]["storage-blob"]
    try:
        proc = az_subprocess("aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
                             s["resourceGroup"], "--account", s["account"], "--connection", "dbg_blob", "--secret",
                             "--debug", env=dict(os.environ))
    finally:
        sbc.clear_extension_failure(rg, name)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Unable to get a response from the agent in time" in proc.stderr
    keys = sbc.arm("GET", "resource?id=" + sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices", 1)[0])
    assert keys["name"] == s["account"]
    text = proc.stdout + proc.stderr
    assert "AccountKey=" not in text
