"""The connection store: one ConfigMap per connection in the cluster (provider/store.py), and Microsoft's
sc-extension left alone."""
import json
import threading
import time

import pytest

from tests.e2e.helpers import create, install_microsoft_extension, kube_for, new_cluster, run, writes

pytestmark = pytest.mark.e2e

SELECTOR = "aks-connection/record=v1"


def conn_id(cluster, name):
    return cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + name


def test_microsoft_sc_extension_is_never_written(az, sandbox, sbc):
    cluster = new_cluster(sbc, "st-ms")
    assert install_microsoft_extension(az, cluster) == "Succeeded"
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "ms_blob")
    assert res.rc == 0, res
    upd = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "ms_blob"),
              "--client-type", "python")
    assert upd.rc == 0, upd
    listed = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    deleted = run(az, "aks", "connection", "delete", "--id", conn_id(cluster, "ms_blob"), "--yes")
    assert deleted.rc == 0, deleted
    assert not [w for w in writes(sbc, mark) if "Microsoft.KubernetesConfiguration" in w[1]]
    assert listed.rc == 0 and [(c["name"], c["engine"]) for c in listed.json] == [("ms_blob", "local")]


def test_a_cluster_extension_of_an_unregistered_type_is_refused_as_azure_refuses_it(az, sbc):
    """The sandbox is as strict as Azure: the type the old local path used was never registered by a publisher."""
    cluster = new_cluster(sbc, "st-type")
    url = f"{cluster['id']}/providers/Microsoft.KubernetesConfiguration/extensions/sc-extension?api-version=2023-05-01"
    res = run(az, "rest", "--method", "put", "--url", url, "--body",
              json.dumps({"properties": {"extensionType": "microsoft.serviceconnector.kubernetes"}}))
    assert res.rc == 1, res
    assert "ExtensionTypeRegistrationGetFailed" in res.log
    assert "Extension type microsoft.serviceconnector.kubernetes is not registered in region" in res.log


def test_store_namespace_is_configurable(az, sandbox, sbc, monkeypatch, tmp_path):
    cluster = new_cluster(sbc, "st-ns")
    monkeypatch.setenv("AZURE_AKS_CONNECTION_STORE_NAMESPACE", "team-connections")
    assert create(az, sandbox, cluster, "ns_blob").rc == 0
    listed = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    assert [c["name"] for c in listed.json] == ["ns_blob"]
    core, _ = kube_for(az, cluster, tmp_path)
    names = [cm.metadata.annotations["aks-connection/connection-name"]
             for cm in core.list_namespaced_config_map("team-connections", label_selector=SELECTOR).items]
    assert names == ["ns_blob"]
    assert core.list_namespaced_config_map("aks-connection", label_selector=SELECTOR).items == []
    monkeypatch.delenv("AZURE_AKS_CONNECTION_STORE_NAMESPACE")
    assert run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json").json == []


def test_invalid_store_namespace_fails_before_any_write(az, sandbox, sbc, monkeypatch):
    cluster = new_cluster(sbc, "st-bad")
    monkeypatch.setenv("AZURE_AKS_CONNECTION_STORE_NAMESPACE", "Not_A_Namespace")
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "bad_blob")
    assert res.rc != 0, res
    assert "is not a valid Kubernetes namespace name" in res.log
    assert "az config set aks_connection.store_namespace=aks-connection" in res.log
    assert writes(sbc, mark) == []


def test_record_changed_meanwhile_is_read_again_not_overwritten_blindly(az, sandbox, sbc, tmp_path):
    """An update whose record ConfigMap changed after it was read gets 409 Conflict (stale resourceVersion) from
    the API server: it reads the record again and writes on top of the new version."""
    cluster = new_cluster(sbc, "st-cas")
    assert create(az, sandbox, cluster, "cas_blob").rc == 0
    core, _ = kube_for(az, cluster, tmp_path)
    cm = core.list_namespaced_config_map("aks-connection", label_selector=SELECTOR).items[0]
    # Someone else (another az, a GitOps controller) changes the ConfigMap after the update read the store and
    # before its record write lands: while that write (carrying the version it read) is held up by the sandbox.
    fault = sbc.add_fault(plane="kube", method="PUT", path=f"/clusters/{cluster['name']}/api/v1/namespaces/"
                          f"aks-connection/configmaps/{cm.metadata.name}$", latency=2.0, times=1)

    def other_writer():
        deadline = time.monotonic() + 20       # until the update's record write has arrived (and is held)
        while time.monotonic() < deadline and [f for f in sbc.call("GET", "/_sandbox/faults")["value"]
                                               if f["id"] == fault and f["times"]]:
            time.sleep(0.05)
        fresh = core.read_namespaced_config_map(cm.metadata.name, "aks-connection")
        fresh.metadata.labels["team"] = "orders"
        core.replace_namespaced_config_map(cm.metadata.name, "aks-connection", fresh)

    mark = sbc.mark()
    timer = threading.Thread(target=other_writer)
    try:
        timer.start()
        res = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "cas_blob"),
                  "--client-type", "python")
    finally:
        timer.join()
        sbc.call("DELETE", f"/_sandbox/faults?id={fault}")
    assert res.rc == 0, res
    puts = [w for w in writes(sbc, mark) if w[0] == "PUT" and "/configmaps/" in w[1]]
    assert [w[2] for w in puts] == [200, 409, 200], puts       # the other writer's, ours refused, ours again
    after = core.read_namespaced_config_map(cm.metadata.name, "aks-connection")
    assert json.loads(after.data["connection.json"])["clientType"] == "python"
    assert after.metadata.labels["team"] == "orders"          # the other writer's change survived


def test_delete_carries_the_version_it_read(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "st-del")
    assert create(az, sandbox, cluster, "del_blob").rc == 0
    mark = sbc.mark()
    res = run(az, "aks", "connection", "delete", "--id", conn_id(cluster, "del_blob"), "--yes")
    assert res.rc == 0, res
    deletes = [e for e in sbc.requests(since=mark) if e["method"] == "DELETE"]
    assert len(deletes) == 1 and "/namespaces/aks-connection/configmaps/conn-del-blob-" in deletes[0]["path"]
    core, _ = kube_for(az, cluster, tmp_path)
    assert core.list_namespaced_config_map("aks-connection", label_selector=SELECTOR).items == []
    # The sandbox refuses a delete whose precondition is stale, as the API server does.
    assert create(az, sandbox, cluster, "del_blob").rc == 0
    cm = core.list_namespaced_config_map("aks-connection", label_selector=SELECTOR).items[0]
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    with pytest.raises(ApiException) as stale:
        core.delete_namespaced_config_map(cm.metadata.name, "aks-connection", body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(resource_version="1")))
    assert stale.value.status == 409 and "Precondition failed" in stale.value.body


def _update_interleaved(sbc, cluster, conn, conn_secret, other, *update_args):
    """A real az process runs ``update``; once it has listed the store and read its Secret (its Secret write is held
    up by the sandbox meanwhile), ``other()`` runs here. Returns (the process's exit code, its stderr)."""
    import os
    import subprocess
    from tests.conftest import AZ
    # Held long enough for the other command to run to its end even on a loaded machine (parallel test workers).
    fault = sbc.add_fault(plane="kube", method="PUT", path=f"/clusters/{cluster['name']}/api/v1/namespaces/default/"
                          f"secrets/{conn_secret}$", latency=10.0, times=1)
    mark = sbc.mark()
    try:
        proc = subprocess.Popen([AZ, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, conn),
                                 *update_args, "-o", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=dict(os.environ))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [e for e in sbc.requests(since=mark) if e["method"] == "GET"
                                                   and e["path"].endswith(f"/{conn_secret}")]:
            time.sleep(0.05)
        other()
        _, err = proc.communicate(timeout=300)
    finally:
        sbc.call("DELETE", f"/_sandbox/faults?id={fault}")
    return proc.returncode, err


def test_update_racing_another_update_does_not_overwrite_it(az, sandbox, sbc):
    """Another command rewrites the record while an update runs: the update fails clearly and the other's record
    stays; re-running the update then applies on top of it."""
    cluster = new_cluster(sbc, "st-uu")
    assert create(az, sandbox, cluster, "uu_blob").rc == 0
    other = {}
    rc, err = _update_interleaved(sbc, cluster, "uu_blob", "sc-uublob-secret", lambda: other.update(res=run(
        az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "uu_blob"), "--client-type",
        "java")), "--client-type", "springBoot")      # springBoot: other keys, so the Secret is rewritten (held)
    assert other["res"].rc == 0, other["res"]
    assert rc == 1, err
    assert "was changed by another command while this one ran" in err and "re-run this command" in err
    shown = run(az, "aks", "connection", "show", "--id", conn_id(cluster, "uu_blob"), "-o", "json")
    assert shown.json["clientType"] == "java"
    again = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "uu_blob"),
                "--client-type", "python")
    assert again.rc == 0, again
    assert run(az, "aks", "connection", "show", "--id", conn_id(cluster, "uu_blob"), "-o", "json").json[
        "clientType"] == "python"


def test_update_racing_delete_does_not_bring_the_connection_back(az, sandbox, sbc):
    cluster = new_cluster(sbc, "st-ud")
    assert create(az, sandbox, cluster, "ud_blob").rc == 0
    deleted = {}
    rc, err = _update_interleaved(sbc, cluster, "ud_blob", "sc-udblob-secret", lambda: deleted.update(res=run(
        az, "aks", "connection", "delete", "--id", conn_id(cluster, "ud_blob"), "--yes")),
        "--client-type", "springBoot")
    assert deleted["res"].rc == 0, deleted["res"]
    assert rc == 3, err
    assert "was deleted by another command while this one ran: it was not brought back" in err
    assert run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json").json == []
    # An update that starts after the delete is refused before any write.
    mark = sbc.mark()
    late = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "ud_blob"),
               "--client-type", "java")
    assert late.rc == 3, late
    assert writes(sbc, mark) == []
