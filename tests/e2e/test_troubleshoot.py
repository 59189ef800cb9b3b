# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`az aks connection troubleshoot`: one finding per step of the seed's troubleshooting guide (M-D1, M-D2),
each on a cluster of its own that the sandbox breaks the way real clusters break."""
import pytest

# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.helpers import (by_name, create, install_microsoft_extension, kube_for, new_cluster,  # noqa: F401
                               quick_extensions, writes)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("quick_extensions")]

KC = "Microsoft.KubernetesConfiguration"
NAMES = ["Resource provider Microsoft.ContainerService", f"Resource provider {KC}", "AKS cluster state",
         "Node pools", "Extension sc-extension", "Connection store", "Namespace sc-system",
         "Helm release sc-extension", "Job sc-job", "Image pulls in sc-system"]


def troubleshoot(az, cluster, *extra):
    return az("aks", "connection", "troubleshoot", "-g", cluster["resourceGroup"], "-n", cluster["name"],
              "-o", "json", *extra)


def test_healthy_cluster_every_step_succeeds(az, sandbox, sbc):
    cluster = new_cluster(sbc, "ts-ok")
    assert install_microsoft_extension(az, cluster) == "Succeeded"
    assert create(az, sandbox, cluster, "ok_blob").rc == 0
    mark = sbc.mark()
    res = troubleshoot(az, cluster)
    assert res.rc == 0, res
    assert [f["name"] for f in res.json] == NAMES
    assert {f["result"] for f in res.json} == {"success"}, res.json
    assert all(set(f) == {"name", "result", "message", "recommendation"} for f in res.json)
    found = by_name(res.json)
    helm = found["Helm release sc-extension"]
    assert "Helm release sc-extension revision 1 is deployed" in helm["message"]
    assert "Microsoft's Service Connector extension sc-extension (type microsoft.servicelinker.connection" in \
        found["Extension sc-extension"]["message"]
    assert found["Connection store"]["message"] == "1 connection record(s) in namespace aks-connection."
    assert writes(sbc, mark) == []                      # it only reads
    assert "AccountKey" not in res.out                  # it read the Helm release Secret: nothing of it leaks
    table = troubleshoot(az, cluster, "-o", "table")
    assert table.rc == 0
    assert "Fix" in table.out and "Job sc-job" in table.out and "success" in table.out


def test_cluster_without_microsoft_extension_needs_none(az, sandbox, sbc):
    """aks-connection's own connections need no cluster extension: no sc-system step is run or reported."""
    cluster = new_cluster(sbc, "ts-empty")
    res = troubleshoot(az, cluster)
    assert res.rc == 0, res
    found = by_name(res.json)
    assert found["Extension sc-extension"]["result"] == "success"
    assert "needs no cluster extension" in found["Extension sc-extension"]["message"]
    assert found["Connection store"]["message"] == "0 connection record(s) in namespace aks-connection."
    assert create(az, sandbox, cluster, "lone_blob").rc == 0
    mark = sbc.mark()
    res = troubleshoot(az, cluster)
    assert res.rc == 0, res
    assert [f["name"] for f in res.json] == NAMES[:6]   # nothing looked for in sc-system
    assert not [e for e in sbc.requests(since=mark, plane="kube") if "sc-system" in e["path"]]
    assert by_name(res.json)["Connection store"]["message"] == "1 connection record(s) in namespace aks-connection."


@pytest.mark.parametrize("namespace", [KC, "Microsoft.ContainerService"])
def test_unregistered_provider_is_reported_with_the_register_command(az, sandbox, sbc, namespace):
    cluster = new_cluster(sbc, "ts-reg")
    assert create(az, sandbox, cluster, "reg_blob").rc == 0
    sbc.set_provider(namespace, "NotRegistered")
    try:
        mark = sbc.mark()
        res = troubleshoot(az, cluster)
        assert writes(sbc, mark) == []                  # reported, not registered behind the user's back
    finally:
        sbc.set_provider(namespace, "Registered")
    found = by_name(res.json)[f"Resource provider {namespace}"]
    assert f"not registered to use namespace '{namespace}'" in found["message"]
    assert f"az provider register -n {namespace}" in found["recommendation"]
    if namespace == KC:     # only Microsoft's sc-extension needs it: a warning, the command passes
        assert res.rc == 0, res
        assert found["result"] == "warning" and "aks-connection does not need it" in found["message"]
        return
    assert res.rc == 1, res
    assert found["result"] == "failure"
    assert "1 of" in res.log or "failed:" in res.log


def test_updating_cluster_is_a_warning_failed_cluster_a_failure(az, sandbox, sbc):
    cluster = new_cluster(sbc, "ts-state")
    assert create(az, sandbox, cluster, "state_blob").rc == 0
    try:
        sbc.set_cluster_state(cluster["resourceGroup"], cluster["name"], "Updating")
        res = troubleshoot(az, cluster)
        assert res.rc == 0, res
        found = by_name(res.json)["AKS cluster state"]
        assert found["result"] == "warning" and "is Updating" in found["message"]
        assert "provisioningState" in found["recommendation"]
        sbc.set_cluster_state(cluster["resourceGroup"], cluster["name"], "Failed")
        res = troubleshoot(az, cluster)
        assert res.rc == 1, res
        found = by_name(res.json)["AKS cluster state"]
        assert found["result"] == "failure"
        assert f"az aks update -g {cluster['resourceGroup']} -n {cluster['name']}" in found["recommendation"]
    finally:
        sbc.release_cluster(cluster["resourceGroup"], cluster["name"])


def test_node_pools_all_critical_addons_only(az, sbc):
    cluster = new_cluster(sbc, "ts-taint")
    sbc.set_node_taints(cluster["resourceGroup"], cluster["name"], ["CriticalAddonsOnly=true:NoSchedule"])
    res = troubleshoot(az, cluster)
    assert res.rc == 1, res
    found = by_name(res.json)["Node pools"]
    assert found["result"] == "failure"
    assert "tainted CriticalAddonsOnly" in found["message"]
    assert f"az aks nodepool add -g {cluster['resourceGroup']} --cluster-name {cluster['name']}" in \
        found["recommendation"]
    assert "--node-taints" in found["recommendation"]


def test_failed_extension_statuses_name_the_fix(az, sandbox, sbc):
    cluster = new_cluster(sbc, "ts-ext")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.fail_extension_installs(rg, name, "Helm installation failed : Helm chart rendering failed with given values "
                                "InnerError [template: sc-operator/templates/job.yaml:12: nil pointer]")
    try:
        assert install_microsoft_extension(az, cluster) == "Failed"
    finally:
        sbc.clear_extension_failure(rg, name)
    res = troubleshoot(az, cluster)
    assert res.rc == 1, res
    found = by_name(res.json)
    ext = found["Extension sc-extension"]
    assert ext["result"] == "failure"
    assert "Helm chart rendering failed with given values" in ext["message"]
    assert "configurationSettings" in ext["recommendation"]
    helm = found["Helm release sc-extension"]
    assert helm["result"] == "failure" and "revision 1 is failed" in helm["message"]


def test_pending_helm_release_is_reported(az, sandbox, sbc):
    cluster = new_cluster(sbc, "ts-helm")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.fail_extension_installs(rg, name, "Helm installation failed : Operation is already in progress for Helm",
                                helmStatus="pending-upgrade")
    try:
        assert install_microsoft_extension(az, cluster) == "Failed"
    finally:
        sbc.clear_extension_failure(rg, name)
    res = troubleshoot(az, cluster)
    assert res.rc == 1, res
    helm = by_name(res.json)["Helm release sc-extension"]
    assert helm["result"] == "warning" and "pending-upgrade" in helm["message"]
    assert "helm rollback sc-extension -n sc-system" in helm["recommendation"]


def test_failed_sc_job_shows_its_logs_events_and_the_fix(az, sandbox, sbc):
    cluster = new_cluster(sbc, "ts-job")
    rg, name = cluster["resourceGroup"], cluster["name"]
    scope = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices", 1)[0]
    log = ("2026-01-12T10:00:01Z creating secret sc-jobblob-secret\n"
           "2026-01-12T10:00:02Z error: The client 'sc-operator' with object id '1234' does not have authorization to "
           "perform action 'Microsoft.Storage/storageAccounts/listKeys/action' over scope '" + scope + "' or the "
           "scope is invalid. If access was recently granted, please refresh your credentials.\n")
    sbc.fail_extension_installs(rg, name, "Helm installation failed : Timed out waiting for resource readiness",
                                scJob={"log": log})
    try:
        assert install_microsoft_extension(az, cluster) == "Failed"
    finally:
        sbc.clear_extension_failure(rg, name)
    mark = sbc.mark()
    res = troubleshoot(az, cluster)
    assert res.rc == 1, res
    job = by_name(res.json)["Job sc-job"]
    assert job["result"] == "failure"
    assert "failed (BackoffLimitExceeded)" in job["message"]
    assert "Last log lines of pod sc-job-" in job["message"] and "listKeys/action" in job["message"]
    assert "Storage Account Key Operator Service Role" in job["recommendation"] and scope in job["recommendation"]
    # It read the pod's log and the events (as kubectl logs / get events would), and wrote nothing.
    paths = [e["path"] for e in sbc.requests(since=mark, plane="kube")]
    assert any(p.endswith("/log") for p in paths) and any("/events" in p for p in paths)
    assert writes(sbc, mark) == []


def test_troubleshoot_reads_the_cluster_without_the_kubernetes_package(az, sandbox, sbc, tmp_path):
    """One Kubernetes client: a real az process whose ``kubernetes`` package fails on import reads all of sc-system
    (namespace, Helm release, Job, its pods, their logs and events) through the extension's own client."""
    import json
    import os
    from tests.conftest import az_subprocess
    stub = tmp_path / "stub" / "kubernetes"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('the kubernetes package was imported')\n")
    cluster = new_cluster(sbc, "ts-nokube")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.fail_extension_installs(rg, name, "Helm installation failed : Timed out waiting for resource readiness",
                                scJob={"log": "2026-01-12T10:00:02Z error: something the catalogue knows not\n"})
    try:
        assert install_microsoft_extension(az, cluster) == "Failed"
    finally:
        sbc.clear_extension_failure(rg, name)
    proc = az_subprocess("aks", "connection", "troubleshoot", "-g", rg, "-n", name, "-o", "json",
                         env=dict(os.environ, PYTHONPATH=str(tmp_path / "stub")))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "kubernetes package was imported" not in proc.stdout + proc.stderr
    found = by_name(json.loads(proc.stdout))
    assert [f for f in NAMES if f not in found] == []
    assert found["Namespace sc-system"]["result"] == "success"
    assert "Helm release sc-extension revision 1" in found["Helm release sc-extension"]["message"]
    job = found["Job sc-job"]
    assert "failed (BackoffLimitExceeded)" in job["message"] and "something the catalogue knows not" in job["message"]


def test_credentials_in_sc_job_logs_are_never_shown(az, sandbox, sbc):
    """sc-job may log a connection string; troubleshoot shows the line with the credential replaced."""
    import base64
    import os
    cluster = new_cluster(sbc, "ts-cred")
    rg, name = cluster["resourceGroup"], cluster["name"]
    key = base64.b64encode(os.urandom(64)).decode()
    log = (f"writing AZURE_STORAGEBLOB_CONNECTIONSTRING=DefaultEndpointsProtocol=https;AccountName=a;AccountKey={key};"
           "EndpointSuffix=core.windows.net\nerror: connection refused\n")
    sbc.fail_extension_installs(rg, name, "Helm installation failed : Timed out waiting for resource readiness",
                                scJob={"log": log})
    try:
        assert install_microsoft_extension(az, cluster) == "Failed"
    finally:
        sbc.clear_extension_failure(rg, name)
    res = troubleshoot(az, cluster)
    assert res.rc == 1, res
    job = by_name(res.json)["Job sc-job"]
    assert "AccountKey=***" in job["message"] and "error: connection refused" in job["message"]
    for text in (res.out, res.log):
        assert key not in text and key[:20] not in text


def test_image_pull_failure_names_the_registry_to_allow(az, sandbox, sbc):
    cluster = new_cluster(sbc, "ts-pull")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.block_egress(rg, name, ["mcr.microsoft.com"])
    try:
        assert install_microsoft_extension(az, cluster) == "Failed"
        res = troubleshoot(az, cluster)
    finally:
        sbc.block_egress(rg, name, [])
    assert res.rc == 1, res
    found = by_name(res.json)
    pulls = found["Image pulls in sc-system"]
    assert pulls["result"] == "failure"
    assert "ImagePullBackOff" in pulls["message"]
    assert "mcr.microsoft.com/service-connector/prod/image/sc-operator" in pulls["message"]
    assert "mcr.microsoft.com and *.data.mcr.microsoft.com" in pulls["recommendation"]
    assert found["Job sc-job"]["result"] == "warning"          # still running: its pod cannot start
    assert "Timed out waiting for resource readiness" in found["Extension sc-extension"]["message"]


def test_deleted_sc_system_namespace_is_a_failure(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "ts-ns")
    assert install_microsoft_extension(az, cluster) == "Succeeded"
    core, _ = kube_for(az, cluster, tmp_path)
    core.delete_namespace("sc-system")
    res = troubleshoot(az, cluster)
    assert res.rc == 1, res
    found = by_name(res.json)["Namespace sc-system"]
    assert found["result"] == "failure" and "does not exist, though sc-extension is installed" in found["message"]


def test_cluster_user_without_read_access_to_sc_system(az, sandbox, sbc):
    cluster = new_cluster(sbc, "ts-rbac")
    assert install_microsoft_extension(az, cluster) == "Succeeded"
    fault = sbc.add_fault(plane="kube", method="GET", path=f"/clusters/{cluster['name']}/api/v1/namespaces/sc-system$",
                          status=403, code="Forbidden",
                          message='namespaces "sc-system" is forbidden: User "dev@contoso.com" cannot get resource '
                                  '"namespaces" in API group "" in the namespace "sc-system"')
    try:
        res = troubleshoot(az, cluster)
    finally:
        sbc.call("DELETE", f"/_sandbox/faults?id={fault}")
    assert res.rc == 1, res
    found = by_name(res.json)["Namespace sc-system"]
    assert found["result"] == "failure" and "forbidden for your cluster user" in found["message"]
    assert "read access to namespace sc-system" in found["recommendation"]


def test_missing_cluster_is_a_failure(az, sbc):
    res = az("aks", "connection", "troubleshoot", "-g", "sandbox-rg", "-n", "nosuchcluster", "-o", "json")
    assert res.rc == 1, res
    found = by_name(res.json)["AKS cluster state"]
    assert found["result"] == "failure" and "nosuchcluster" in found["message"]


@pytest.mark.parametrize("args, error", [
    (["-g", "sandbox-rg"], "Required argument is missing: -n/--name"),
    (["--source-id", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/app"], "Resource id is invalid"),
])
def test_bad_input_fails_before_any_request(az, sbc, args, error):
    mark = sbc.mark()
    res = az("aks", "connection", "troubleshoot", *args)
    assert res.rc in (1, 2), res
    assert error in res.log, res
    assert sbc.requests(since=mark) == []
