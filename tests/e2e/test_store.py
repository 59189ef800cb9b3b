# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
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
    # Someone else (another az, a GitOps controller) changes the ConfigMap's labels after the update recorded its
    # intent and before it writes the record: while the update's Secret write is held up by the sandbox.
    fault = sbc.add_fault(plane="kube", method="PUT", path=f"/clusters/{cluster['name']}/api/v1/namespaces/default/"
                          "secrets/sc-casblob-secret$", latency=2.0, times=1)

    def other_writer():
        deadline = time.monotonic() + 20       # until the update has recorded its intent (the record's first write)
        while time.monotonic() < deadline and not [e for e in sbc.requests(since=mark) if e["method"] == "PUT"
                                                   and e["path"].endswith("/" + cm.metadata.name)]:
            time.sleep(0.05)
        fresh = core.read_namespaced_config_map(cm.metadata.name, "aks-connection")
        fresh.metadata.labels["team"] = "orders"
        core.replace_namespaced_config_map(cm.metadata.name, "aks-connection", fresh)

    mark = sbc.mark()
    timer = threading.Thread(target=other_writer)
    try:
        timer.start()
        res = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "cas_blob"),
                  "--client-type", "springBoot")      # other keys: the Secret is rewritten, under an intent
    finally:
        timer.join()
        sbc.call("DELETE", f"/_sandbox/faults?id={fault}")
    assert res.rc == 0, res
    puts = [w for w in writes(sbc, mark) if w[0] == "PUT" and "/configmaps/" in w[1]]
    # our intent, the other writer's, our final write refused (stale version), ours again on top of the other's
    assert [w[2] for w in puts] == [200, 200, 409, 200], puts
    after = core.read_namespaced_config_map(cm.metadata.name, "aks-connection")
    assert json.loads(after.data["connection.json"])["clientType"] == "springBoot"
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


def _update_interleaved(sbc, cluster, conn, held, seen, other, *update_args):
    """A real az process runs ``update``; the sandbox holds up its first request matching ``held`` (method, path
    regex); once the request log shows one matching ``seen`` (method, path suffix), ``other()`` runs here.
    Returns (the process's exit code, its stderr)."""
    import os
    import subprocess
    from tests.conftest import AZ
    # Held long enough for the other command to run to its end even on a loaded machine (parallel test workers).
    fault = sbc.add_fault(plane="kube", method=held[0], path=held[1], latency=10.0, times=1)
    mark = sbc.mark()
    try:
        proc = subprocess.Popen([AZ, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, conn),
                                 *update_args, "-o", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=dict(os.environ))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [e for e in sbc.requests(since=mark) if e["method"] == seen[0]
                                                   and e["path"].endswith(seen[1])]:
            time.sleep(0.05)
        other()
        _, err = proc.communicate(timeout=300)
    finally:
        sbc.call("DELETE", f"/_sandbox/faults?id={fault}")
    return proc.returncode, err


def _record_path(cluster, conn):
    from azext_aks_connection.provider.store import configmap_name
    return f"/clusters/{cluster['name']}/api/v1/namespaces/aks-connection/configmaps/{configmap_name(conn)}"


def _secret_path(cluster, secret):
    return f"/clusters/{cluster['name']}/api/v1/namespaces/default/secrets/{secret}"


def _core_of(az, cluster):
    import tempfile
    from kubernetes import client, config
    path = tempfile.mktemp(suffix=".kubeconfig")
    assert az("aks", "get-credentials", "-g", cluster["resourceGroup"], "-n", cluster["name"], "--file", path,
              "-o", "none").rc == 0
    return client.CoreV1Api(config.new_client_from_config(config_file=path))


def test_update_racing_another_update_does_not_overwrite_it(az, sandbox, sbc):
    """Another command rewrites the record while an update runs: the update fails clearly and the other's record
    stays; re-running the update then applies on top of it."""
    cluster = new_cluster(sbc, "st-uu")
    assert create(az, sandbox, cluster, "uu_blob").rc == 0
    other = {}
    # Its intent (the record's first write) is held: the other update runs to its end meanwhile.
    rc, err = _update_interleaved(sbc, cluster, "uu_blob", ("PUT", _record_path(cluster, "uu_blob") + "$"),
                                  ("GET", "/sc-uublob-secret"), lambda: other.update(res=run(
                                      az, "aks", "connection", "update", "storage-blob", "--id",
                                      conn_id(cluster, "uu_blob"), "--client-type", "java")),
                                  "--client-type", "springBoot")      # springBoot: other keys than java's
    assert other["res"].rc == 0, other["res"]
    assert rc == 1, err
    assert "was changed by another command while this one ran" in err and "re-run this command" in err
    shown = run(az, "aks", "connection", "show", "--id", conn_id(cluster, "uu_blob"), "-o", "json")
    assert shown.json["clientType"] == "java"
    # Record and Secret come from one run: the Secret holds the keys the record lists (java's, not springBoot's).
    listed = run(az, "aks", "connection", "list-configuration", "--id", conn_id(cluster, "uu_blob"), "-o", "json")
    core = _core_of(az, cluster)
    keys = set((core.read_namespaced_secret("sc-uublob-secret", "default").data or {}))
    assert keys == {c["name"] for c in listed.json["configurations"]}, (keys, listed.json)
    again = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "uu_blob"),
                "--client-type", "python")
    assert again.rc == 0, again
    assert run(az, "aks", "connection", "show", "--id", conn_id(cluster, "uu_blob"), "-o", "json").json[
        "clientType"] == "python"


def test_commands_during_an_update_are_refused_by_its_lease(az, sandbox, sbc):
    """An update has recorded its intent (under a lease) and is writing the Secret: another update, and a delete,
    of the same connection are refused with nothing written; the first update ends with record and Secret its
    own. A lease that has run out (its command was killed) does not block a re-run."""
    cluster = new_cluster(sbc, "st-lease")
    assert create(az, sandbox, cluster, "ls_blob").rc == 0
    others = {}

    def meanwhile():
        mark = sbc.mark()
        others["update"] = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "ls_blob"),
                               "--client-type", "java")
        others["delete"] = run(az, "aks", "connection", "delete", "--id", conn_id(cluster, "ls_blob"), "--yes")
        others["writes"] = [w for w in writes(sbc, mark) if "/selfsubjectaccessreviews" not in w[1]
                            and not w[1].endswith("/sc-lsblob-secret")]
    rc, err = _update_interleaved(sbc, cluster, "ls_blob", ("PUT", _secret_path(cluster, "sc-lsblob-secret") + "$"),
                                  ("PUT", _record_path(cluster, "ls_blob")), meanwhile, "--client-type", "springBoot")
    assert rc == 0, err
    for what in ("update", "delete"):
        assert others[what].rc == 1, others[what]
        assert "is being changed by another command" in others[what].log and "lease until" in others[what].log
    assert others["writes"] == [], others["writes"]
    shown = run(az, "aks", "connection", "show", "--id", conn_id(cluster, "ls_blob"), "-o", "json")
    assert shown.json["clientType"] == "springBoot" and shown.json["provisioningState"] == "Succeeded"
    keys = set(_core_of(az, cluster).read_namespaced_secret("sc-lsblob-secret", "default").data or {})
    listed = run(az, "aks", "connection", "list-configuration", "--id", conn_id(cluster, "ls_blob"), "-o", "json")
    assert keys == {c["name"] for c in listed.json["configurations"]}
    # A record left Updating by a killed command, its lease run out: a re-run takes over.
    from azext_aks_connection.provider.store import configmap_name
    core = _core_of(az, cluster)
    cm = core.read_namespaced_config_map(configmap_name("ls_blob"), "aks-connection")
    record = json.loads(cm.data["connection.json"])
    record.update(provisioningState="Updating", lease={"until": "2000-01-01T00:00:00.000000Z"})
    cm.data["connection.json"] = json.dumps(record)
    core.replace_namespaced_config_map(cm.metadata.name, "aks-connection", cm)
    again = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "ls_blob"),
                "--client-type", "java", "-o", "json")
    assert again.rc == 0 and again.json["provisioningState"] == "Succeeded", again


def _hold(az, cluster, name, holder):
    """The connection's record as a command left it that holds its lease for an hour: Updating, ``holder``."""
    from azext_aks_connection.provider.store import configmap_name
    core = _core_of(az, cluster)
    cm = core.read_namespaced_config_map(configmap_name(name), "aks-connection")
    record = json.loads(cm.data["connection.json"])
    record.update(provisioningState="Updating", lease={"until": "2999-01-01T00:00:00.000000Z", "holder": holder})
    cm.data["connection.json"] = json.dumps(record)
    core.replace_namespaced_config_map(cm.metadata.name, "aks-connection", cm)


def test_a_lease_whose_holder_has_ended_on_this_machine_is_taken_over_at_once(az, sandbox, sbc):
    """A command killed on this machine leaves its lease to nobody: the re-run takes over at once (it used to be
    refused until the lease ran out). A holder on another machine is not judged: refused, saying until when and
    how to take over; --break-lease takes over, naming the risk."""
    import socket
    cluster = new_cluster(sbc, "st-holder")
    assert create(az, sandbox, cluster, "hd_blob").rc == 0
    # a process that has ended: its pid names no process now
    _hold(az, cluster, "hd_blob", {"host": socket.gethostname(), "pid": _ended_pid(), "started": 1})
    again = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "hd_blob"),
                "--client-type", "java", "-o", "json")
    assert again.rc == 0 and again.json["provisioningState"] == "Succeeded", again
    assert "which has ended: taking over" in again.log, again.log
    _hold(az, cluster, "hd_blob", {"host": "build-agent-7", "pid": 4242, "started": 1})
    mark = sbc.mark()
    refused = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "hd_blob"),
                  "--client-type", "python")
    assert refused.rc == 1, refused
    assert "process 4242 on build-agent-7" in refused.log and "lease until 2999-01-01" in refused.log
    assert "--break-lease" in refused.log and writes(sbc, mark) == []
    taken = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "hd_blob"),
                "--client-type", "python", "--break-lease", "-o", "json")
    assert taken.rc == 0 and taken.json["clientType"] == "python", taken
    assert "taking over (--break-lease)" in taken.log and "different runs" in taken.log


def _ended_pid():
    import subprocess
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_update_racing_delete_does_not_bring_the_connection_back(az, sandbox, sbc):
    cluster = new_cluster(sbc, "st-ud")
    assert create(az, sandbox, cluster, "ud_blob").rc == 0
    deleted = {}
    rc, err = _update_interleaved(sbc, cluster, "ud_blob", ("PUT", _record_path(cluster, "ud_blob") + "$"),
                                  ("GET", "/sc-udblob-secret"), lambda: deleted.update(res=run(
                                      az, "aks", "connection", "delete", "--id", conn_id(cluster, "ud_blob"),
                                      "--yes")), "--client-type", "springBoot")
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
