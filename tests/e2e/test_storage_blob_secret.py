# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`az aks connection create storage-blob --secret` and friends, end to end against the sandbox."""
import base64
import json
import os
import subprocess
import uuid

import pytest

from tests.conftest import KUBECTL, az_subprocess

pytestmark = pytest.mark.e2e


def _seed(sandbox):
    c = sandbox["seeds"]["cluster"]
    s = sandbox["seeds"]["storage"]["storage-blob"]
    return c, s


# Called as az is: the namespace, then the extra arguments. pylint: disable-next=keyword-arg-before-vararg
def _create(az, sandbox, name, namespace="default", *extra, cluster=None):
    c, s = _seed(sandbox)
    c = cluster or c
    return az("aks", "connection", "create", "storage-blob", "-g", c["resourceGroup"], "-n", c["name"],
              "--tg", s["resourceGroup"], "--account", s["account"], "--connection", name,
              "--kube-namespace", namespace, "--secret", "-o", "json", *extra)


def _secret(kube, namespace, name):
    sec = kube.read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (sec.data or {}).items()}


def test_create_writes_secret_that_opens_the_container(az, sandbox, fresh_cluster, sbc):
    kube = fresh_cluster["core"]
    mark = sbc.mark()
    res = _create(az, sandbox, "orders_blob", "orders", cluster=fresh_cluster)
    assert res.rc == 0, res
    out = res.json
    _, s = _seed(sandbox)
    c = fresh_cluster
    assert out["name"] == "orders_blob"
    assert out["id"] == c["id"] + "/providers/Microsoft.ServiceLinker/linkers/orders_blob"
    assert out["type"] == "microsoft.servicelinker/linkers"
    assert out["provisioningState"] == "Succeeded"
    assert out["scope"] == "orders"
    assert out["authInfo"]["authType"] == "secret"
    assert out["clientType"] == "none"
    assert out["targetService"] == {"type": "AzureResource", "id": sandbox["seeds"]["targets"]["storage-blob"],
                                    "resourceProperties": None, "resourceGroup": s["resourceGroup"],
                                    "additionalProperties": {}}      # the SDK model, as azure-cli prints it
    assert out["kubernetesResourceName"] == {"secret": "sc-ordersblob-secret"}
    assert out["configurations"] == [{"name": "AZURE_STORAGEBLOB_CONNECTIONSTRING", "value": "",
                                      "configType": "Default", "keyVaultReferenceIdentity": None,
                                      "description": None}]

    # The Secret is in the namespace (which the create made), with exactly the client type's key ...
    values = _secret(kube, "orders", "sc-ordersblob-secret")
    assert list(values) == ["AZURE_STORAGEBLOB_CONNECTIONSTRING"]
    # ... and its value opens the real (Azurite) container.
    from azure.storage.blob import BlobServiceClient
    service = BlobServiceClient.from_connection_string(values["AZURE_STORAGEBLOB_CONNECTIONSTRING"])
    container = service.get_container_client(s["container"])
    blob = "probe-" + uuid.uuid4().hex
    container.upload_blob(blob, b"hello")
    assert blob in [b.name for b in container.list_blobs()]

    # The record is one ConfigMap in the store namespace (made with the first connection), holding no credential;
    # no cluster extension was read or written on the way.
    calls = sbc.requests(since=mark)
    writes = [(e["method"], e["path"]) for e in calls if e["mutating"]]
    assert not [e for e in calls if "Microsoft.KubernetesConfiguration" in e["path"]], writes
    assert any(m == "POST" and p.endswith("/api/v1/namespaces") for m, p in writes), writes
    assert any(m == "POST" and p.endswith("/namespaces/orders/secrets") for m, p in writes), writes
    assert any(m == "POST" and p.endswith("/namespaces/aks-connection/configmaps") for m, p in writes), writes
    stored = kube.list_namespaced_config_map("aks-connection", label_selector="aks-connection/record=v1").items
    assert [cm.metadata.annotations["aks-connection/connection-name"] for cm in stored] == ["orders_blob"]
    record = json.loads(stored[0].data["connection.json"])
    assert record["name"] == "orders_blob" and record["scope"] == "orders"
    assert values["AZURE_STORAGEBLOB_CONNECTIONSTRING"] not in stored[0].data["connection.json"]
    assert "AccountKey" not in stored[0].data["connection.json"]


def test_rerun_is_idempotent_and_writes_nothing(az, sandbox, kube, sbc):
    assert _create(az, sandbox, "idem_blob").rc == 0
    before = kube.read_namespaced_secret("sc-idemblob-secret", "default").metadata.resource_version
    mark = sbc.mark()
    res = _create(az, sandbox, "idem_blob")
    assert res.rc == 0, res
    assert [e for e in sbc.requests(since=mark) if e["mutating"]] == []
    assert kube.read_namespaced_secret("sc-idemblob-secret", "default").metadata.resource_version == before


def test_list_configuration_hides_the_credential(az, sandbox):
    assert _create(az, sandbox, "cfg_blob").rc == 0
    c, _ = _seed(sandbox)
    res = az("aks", "connection", "list-configuration", "-g", c["resourceGroup"], "-n", c["name"],
             "--connection", "cfg_blob", "-o", "json")
    assert res.rc == 0, res
    assert res.json == {"configurations": [{"name": "AZURE_STORAGEBLOB_CONNECTIONSTRING", "value": "",
                                            "configType": "Default", "keyVaultReferenceIdentity": None,
                                            "description": None}]}
    table = az("aks", "connection", "list-configuration", "-g", c["resourceGroup"], "-n", c["name"],
               "--connection", "cfg_blob", "-o", "table")
    assert "AZURE_STORAGEBLOB_CONNECTIONSTRING" in table.out and "AccountKey" not in table.out


def test_springboot_keys_blank_only_the_credentials(az, sandbox, kube):
    _, s = _seed(sandbox)
    res = _create(az, sandbox, "spring_blob", "default", "--client-type", "springBoot")
    assert res.rc == 0, res
    cfg = {i["name"]: i["value"] for i in res.json["configurations"]}
    assert cfg["spring.cloud.azure.storage.blob.account-name"] == s["account"]
    assert cfg["spring.cloud.azure.storage.blob.account-key"] == ""
    assert cfg["azure.storage.account-key"] == ""
    values = _secret(kube, "default", "sc-springblob-secret")
    assert set(values) == set(cfg)
    assert values["spring.cloud.azure.storage.blob.account-key"]


def test_show_list_and_delete_keeps_the_secret(az, sandbox, kube, sbc):
    c, _ = _seed(sandbox)
    assert _create(az, sandbox, "del_blob", "default").rc == 0
    conn_id = c["id"] + "/providers/Microsoft.ServiceLinker/linkers/del_blob"

    shown = az("aks", "connection", "show", "--id", conn_id, "-o", "json")
    assert shown.rc == 0, shown
    assert shown.json["kubernetesResourceName"] == {"secret": "sc-delblob-secret"}

    listed = az("aks", "connection", "list", "-g", c["resourceGroup"], "-n", c["name"], "-o", "json")
    assert listed.rc == 0, listed
    assert "del_blob" in [i["name"] for i in listed.json]
    table = az("aks", "connection", "list", "-g", c["resourceGroup"], "-n", c["name"], "-o", "table")
    assert "del_blob" in table.out and "sc-delblob-secret" in table.out

    deleted = az("aks", "connection", "delete", "--id", conn_id, "--yes")
    assert deleted.rc == 0, deleted
    assert "kubectl delete secret sc-delblob-secret -n default" in deleted.log
    gone = az("aks", "connection", "show", "--id", conn_id)
    assert gone.rc == 3, gone
    assert "del_blob" not in [i["name"] for i in az("aks", "connection", "list", "-g", c["resourceGroup"],
                                                    "-n", c["name"], "-o", "json").json]
    # The Kubernetes Secret stays (as the built-in does: M-K3).
    assert "AZURE_STORAGEBLOB_CONNECTIONSTRING" in _secret(kube, "default", "sc-delblob-secret")
    # Deleting again converges: no error, no write.
    mark = sbc.mark()
    again = az("aks", "connection", "delete", "--id", conn_id, "--yes")
    assert again.rc == 0 and "does not exist" in again.log
    assert [e for e in sbc.requests(since=mark) if e["mutating"]] == []


@pytest.mark.parametrize("args, error", [
    (["--source-id", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/app"],
     "Resource id is invalid"),
    (["--target-id", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"],
     "Unsupported target resource id"),
    (["--kube-namespace", "Orders_NS"], "Kubernetes namespace 'Orders_NS' is invalid"),
    (["--connection", "bad name!"], "Connection name 'bad name!' is invalid"),
    (["--client-type", "cobol"], "'cobol' is not a valid value for '--client-type'"),
])
def test_bad_input_fails_before_any_write(az, sandbox, sbc, args, error):
    c, s = _seed(sandbox)
    base = {"-g": c["resourceGroup"], "-n": c["name"], "--tg": s["resourceGroup"], "--account": s["account"],
            "--connection": "bad_input", "--kube-namespace": "default"}
    if "--source-id" in args:
        del base["-g"], base["-n"]
    if "--target-id" in args:
        del base["--tg"], base["--account"]
    for k in args[::2]:
        base.pop(k, None)
    argv = [x for kv in base.items() for x in kv] + args
    mark = sbc.mark()
    res = az("aks", "connection", "create", "storage-blob", *argv, "--secret")
    assert res.rc != 0, res
    assert error in res.log, res
    assert sbc.requests(since=mark) == []      # not even a read


def test_missing_target_fails_with_clear_error_and_no_write(az, sandbox, sbc):
    c, s = _seed(sandbox)
    mark = sbc.mark()
    res = az("aks", "connection", "create", "storage-blob", "-g", c["resourceGroup"], "-n", c["name"],
             "--tg", s["resourceGroup"], "--account", "nosuchaccount", "--connection", "missing_blob", "--secret")
    assert res.rc != 0, res
    assert "nosuchaccount" in res.log and "ResourceNotFound" in res.log, res
    assert [e for e in sbc.requests(since=mark) if e["mutating"]] == []


def test_missing_cluster_fails_with_clear_error_and_no_write(az, sandbox, sbc):
    _, s = _seed(sandbox)
    mark = sbc.mark()
    res = az("aks", "connection", "create", "storage-blob", "-g", "sandbox-rg", "-n", "nosuchcluster",
             "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "nocluster", "--secret")
    assert res.rc != 0, res
    assert "nosuchcluster" in res.log, res
    assert [e for e in sbc.requests(since=mark) if e["mutating"]] == []


def test_generated_connection_name_is_the_same_on_every_run(az, sandbox, kube):
    """A create without --connection (a CI job that re-runs it) converges on one connection and one Secret: the
    name comes from the target, its resource, the namespace and the auth type (the built-in's is random)."""
    c, s = _seed(sandbox)
    args = ("aks", "connection", "create", "storage-blob", "-g", c["resourceGroup"], "-n", c["name"],
            "--tg", s["resourceGroup"], "--account", s["account"], "--kube-namespace", "gen-ns", "--secret", "-o",
            "json")
    first = az(*args)
    assert first.rc == 0, first
    name = first.json["name"]
    assert name == f"storageblob_{s['account']}_gen_ns_secret", name
    assert "use generated one: --connection " + name in first.log
    again = az(*args)
    assert again.rc == 0 and again.json["name"] == name, again
    listed = az("aks", "connection", "list", "-g", c["resourceGroup"], "-n", c["name"], "-o", "json").json
    assert [x["name"] for x in listed if x["name"].startswith("storageblob_")] == [name]
    secrets = [x.metadata.name for x in kube.list_namespaced_secret("gen-ns").items]
    assert secrets == [f"sc-storageblob{s['account']}gennssecret-secret"], secrets


def test_debug_output_carries_no_credential(sandbox, az, kube):
    """A real az process with --debug: neither the account key nor the cluster token appear."""
    c, s = _seed(sandbox)
    proc = az_subprocess("aks", "connection", "create", "storage-blob", "-g", c["resourceGroup"], "-n", c["name"],
                         "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "debug_blob",
                         "--secret", "--debug")
    assert proc.returncode == 0, proc.stderr[-3000:]
    value = _secret(kube, "default", "sc-debugblob-secret")["AZURE_STORAGEBLOB_CONNECTIONSTRING"]
    key = value.split("AccountKey=")[1].split(";")[0]
    text = proc.stdout + proc.stderr
    assert "listKeys" in text           # the call is there ...
    assert key not in text and base64.b64encode(value.encode()).decode() not in text   # ... its answer is not
    assert sandbox_token(kube) not in text


def sandbox_token(kube):
    return kube.api_client.configuration.api_key.get("authorization", "").replace("Bearer ", "") or "<none>"


def test_concurrent_first_creates_on_a_new_cluster_both_survive(sandbox, sbc, az):
    """Two real az processes create the first connections of a cluster at the same time: both records survive
    (one ConfigMap each, the store namespace made once), and no cluster extension is involved."""
    _, s = _seed(sandbox)
    cluster = sbc.new_cluster("race-aks", "sandbox-rg")
    sbc.add_fault(plane="kube", method="GET", path="/clusters/race-aks/api/v1/namespaces/aks-connection/configmaps",
                  latency=0.5, times=2)   # both processes list the (empty) store before either writes
    mark = sbc.mark()
    procs = [subprocess.Popen([os.path.join(os.path.dirname(KUBECTL), "az"), "aks", "connection", "create",
                               "storage-blob", "--source-id", cluster["id"], "--tg", s["resourceGroup"],
                               "--account", s["account"], "--connection", name, "--secret", "-o", "none"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("race_one", "race_two")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    res = az("aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    assert sorted(i["name"] for i in res.json) == ["race_one", "race_two"]
    calls = sbc.requests(since=mark)
    assert not [e for e in calls if "Microsoft.KubernetesConfiguration" in e["path"] and e["mutating"]]
    posts = [e for e in calls if e["method"] == "POST" and e["path"].endswith("/namespaces/aks-connection/configmaps")]
    assert sorted(e["status"] for e in posts) == [201, 201], posts
    made = [e for e in calls if e["method"] == "POST" and e["path"] == "/clusters/race-aks/api/v1/namespaces"
            and e["status"] == 201]
    assert len(made) == 1, made


def test_real_kubectl_sees_the_secret(az, sandbox, kube):
    assert _create(az, sandbox, "kubectl_blob").rc == 0
    out = subprocess.run([KUBECTL, "--kubeconfig", kube.kubeconfig_path, "get", "secret", "sc-kubectlblob-secret",
                          "-n", "default", "-o", "json"], capture_output=True, text=True, check=True).stdout
    assert list(json.loads(out)["data"]) == ["AZURE_STORAGEBLOB_CONNECTIONSTRING"]


def test_no_wait_then_wait_created(az, sandbox, sbc):
    c, _ = _seed(sandbox)
    before = sbc.set_lro()["lroSeconds"]["default"]
    sbc.set_lro(default=2.0)
    try:
        res = _create(az, sandbox, "nowait_blob", "default", "--no-wait")
        assert res.rc == 0, res
        conn_id = c["id"] + "/providers/Microsoft.ServiceLinker/linkers/nowait_blob"
        waited = az("aks", "connection", "wait", "--id", conn_id, "--created", "--interval", "1")
        assert waited.rc == 0, waited
        assert az("aks", "connection", "show", "--id", conn_id, "-o", "json").json["provisioningState"] == "Succeeded"
    finally:
        sbc.set_lro(default=before)
