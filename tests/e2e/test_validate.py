# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`az aks connection validate`: one result per check, each check proved to fail when what it checks breaks."""
import json

import pytest

from tests.conftest import az_subprocess
# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.helpers import (by_name, create, kube_for, new_cluster, quick_extensions,  # noqa: F401 (a fixture)
                               run, secret_values, writes)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("quick_extensions")]

TARGET = "Target resource"
SECRET = "Kubernetes Secret"
VALUES = "Configuration values"
FIREWALL = "Target firewall"
KEY = "AZURE_STORAGEBLOB_CONNECTIONSTRING"


def conn_id(cluster, name):
    return cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + name


def validate(az, cluster, name, *extra):
    return run(az, "aks", "connection", "validate", "--id", conn_id(cluster, name), "-o", "json", *extra)


@pytest.fixture(scope="module")
def healthy(az, sandbox, sbc):
    """One cluster with one good connection, for the checks that only read."""
    cluster = new_cluster(sbc, "val-ok")
    assert create(az, sandbox, cluster, "ok_blob").rc == 0
    return cluster


def test_healthy_connection_passes_every_check(az, sbc, healthy):
    mark = sbc.mark()
    res = validate(az, healthy, "ok_blob")
    assert res.rc == 0, res
    assert [r["name"] for r in res.json] == [TARGET, SECRET, VALUES, FIREWALL]
    for r in res.json:
        assert set(r) == {"name", "description", "result", "errorMessage", "errorCode", "recommendation"}
        assert (r["result"], r["errorMessage"], r["recommendation"]) == ("success", None, None), r
    assert writes(sbc, mark) == []                                   # validate only reads


def test_group_name_connection_form_and_table(az, healthy):
    res = run(az, "aks", "connection", "validate", "-g", healthy["resourceGroup"], "-n", healthy["name"],
              "--connection", "ok_blob", "-o", "table")
    assert res.rc == 0, res
    lines = res.out.splitlines()
    assert lines[0].split() == ["Name", "Result", "ErrorMessage", "Fix"]
    assert sum(" success" in line for line in lines) == 4


def test_missing_connection_exits_3(az, sbc, healthy):
    res = validate(az, healthy, "nosuch_blob")
    assert res.rc == 3, res
    assert "Connection 'nosuch_blob' was not found" in res.log


@pytest.mark.parametrize("args, error", [
    (["--id", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/app"], "Resource id is invalid"),
    (["-g", "sandbox-rg", "-n", "c"], "Required argument is missing: --connection"),
    (["-g", "sandbox-rg", "-n", "c", "--connection", "bad name!"], "Connection name 'bad name!' is invalid"),
])
def test_bad_input_fails_before_any_request(az, sbc, args, error):
    mark = sbc.mark()
    res = run(az, "aks", "connection", "validate", *args)
    assert res.rc != 0, res
    assert error in res.log, res
    assert sbc.requests(since=mark) == []


def test_deleted_secret_fails_and_the_recommendation_repairs_it(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "val-del")
    assert create(az, sandbox, cluster, "del_blob", namespace="shop").rc == 0
    core, _ = kube_for(az, cluster, tmp_path)
    core.delete_namespaced_secret("sc-delblob-secret", "shop")
    res = validate(az, cluster, "del_blob")
    assert res.rc == 1, res
    found = by_name(res.json)
    assert found[SECRET]["result"] == "failure" and found[SECRET]["errorCode"] == "SecretNotFound"
    assert "Secret 'sc-delblob-secret' does not exist in namespace 'shop'" in found[SECRET]["errorMessage"]
    assert found[VALUES]["result"] == "warning" and found[VALUES]["errorMessage"].startswith("Not checked")
    assert found[TARGET]["result"] == "success"
    assert "1 of 4 checks failed: Kubernetes Secret" in res.log
    # A real az process prints the results and exits 1, so CI can gate on it.
    proc = az_subprocess("aks", "connection", "validate", "--id", conn_id(cluster, "del_blob"), "-o", "json")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert [r["result"] for r in json.loads(proc.stdout)] == ["success", "failure", "warning", "success"]
    # -o table fits a terminal: the message shortened, and its fix whole on a line of its own under the table.
    table = az_subprocess("aks", "connection", "validate", "--id", conn_id(cluster, "del_blob"), "-o", "table")
    assert table.returncode == 1, table.stderr[-2000:]
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 160, table.stdout
    row = next(line for line in lines if line.startswith("Kubernetes Secret "))
    assert "failure" in row and "Secret 'sc-delblob-secret' does not exist in namespace 'shop'" in row
    assert row.rstrip().endswith("[1]") and "--source-id" not in row
    assert f"[1] Kubernetes Secret: {found[SECRET]['recommendation']}" in table.stderr, table.stderr[-2000:]
    # The recommendation is a command; running it repairs the connection.
    fix = found[SECRET]["recommendation"].split(": ", 1)[1]
    assert fix.startswith("az aks connection create storage-blob --source-id ")
    repaired = run(az, *fix.split()[1:])
    assert repaired.rc == 0, repaired
    assert validate(az, cluster, "del_blob").rc == 0


def test_edited_value_is_named_by_key_never_shown(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "val-edit")
    assert create(az, sandbox, cluster, "edit_blob").rc == 0
    core, _ = kube_for(az, cluster, tmp_path)
    original = secret_values(core, "default", "sc-editblob-secret")[KEY]
    tampered = original.replace("AccountKey=", "AccountKey=x")
    core.patch_namespaced_secret("sc-editblob-secret", "default", {"stringData": {KEY: tampered}})
    res = validate(az, cluster, "edit_blob")
    assert res.rc == 1, res
    found = by_name(res.json)[VALUES]
    assert found["result"] == "failure" and found["errorCode"] == "ConfigurationDrift"
    assert f"The value of {KEY} in Secret 'sc-editblob-secret' differs from what the target gives now" in \
        found["errorMessage"]
    account_key = original.split("AccountKey=")[1].split(";")[0]
    for text in (res.out, res.log):
        assert account_key not in text and "AccountKey" not in text
    assert found["recommendation"].startswith("Write the current values again")


def test_missing_and_extra_keys(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "val-keys")
    assert create(az, sandbox, cluster, "keys_blob").rc == 0
    core, _ = kube_for(az, cluster, tmp_path)
    core.patch_namespaced_secret("sc-keysblob-secret", "default", {"stringData": {"MY_OWN": "1"}})
    res = validate(az, cluster, "keys_blob")
    assert res.rc == 0, res                                   # a warning does not fail the command
    found = by_name(res.json)[VALUES]
    assert found["result"] == "warning" and "MY_OWN" in found["errorMessage"]
    core.patch_namespaced_secret("sc-keysblob-secret", "default", {"data": {KEY: None}},)
    res = validate(az, cluster, "keys_blob")
    assert res.rc == 1, res
    assert f"Secret 'sc-keysblob-secret' lacks key(s) {KEY}" in by_name(res.json)[VALUES]["errorMessage"]


def test_rotated_storage_key_is_drift(az, sandbox, sbc):
    """`az storage account keys renew` on the target: the Secret still holds the old key."""
    cluster = new_cluster(sbc, "val-rot")
    account = "rot" + cluster["name"].split("-")[-1]
    sbc.new_storage_account("sandbox-data-rg", account)
    assert create(az, sandbox, cluster, "rot_blob", account=account, account_rg="sandbox-data-rg").rc == 0
    assert validate(az, cluster, "rot_blob").rc == 0
    renewed = run(az, "storage", "account", "keys", "renew", "-g", "sandbox-data-rg", "-n", account, "--key",
                  "primary", "-o", "json")
    assert renewed.rc == 0, renewed
    new_key = renewed.json[0]["value"]
    res = validate(az, cluster, "rot_blob")
    assert res.rc == 1, res
    found = by_name(res.json)[VALUES]
    assert found["result"] == "failure" and KEY in found["errorMessage"] and "rotated" in found["errorMessage"]
    assert new_key not in res.out and new_key not in res.log


def test_validate_debug_log_carries_no_credential(sandbox, sbc, healthy):
    """A real az process, --debug: the key validate reads from the target and from the Secret appears nowhere."""
    proc = az_subprocess("aks", "connection", "validate", "--id", conn_id(healthy, "ok_blob"), "--debug")
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    assert "listKeys" in text and "/secrets/sc-okblob-secret" in text       # the calls are there ...
    assert "AccountKey=" not in text and '"keys"' not in text               # ... their answers are not


def test_deleted_target_fails_the_target_check(az, sandbox, sbc):
    cluster = new_cluster(sbc, "val-tgt")
    account = "gone" + cluster["name"].split("-")[-1]
    made = sbc.new_storage_account("sandbox-data-rg", account)
    assert create(az, sandbox, cluster, "tgt_blob", account=account, account_rg="sandbox-data-rg").rc == 0
    assert run(az, "storage", "account", "delete", "--ids", made["id"], "--yes").rc == 0
    res = validate(az, cluster, "tgt_blob")
    assert res.rc == 1, res
    found = by_name(res.json)
    assert found[TARGET]["result"] == "failure" and found[TARGET]["errorCode"] == "TargetNotFound"
    assert account in found[TARGET]["errorMessage"]
    assert "az aks connection delete --id " + conn_id(cluster, "tgt_blob") in found[TARGET]["recommendation"]
    assert found[VALUES]["result"] == "warning"              # not checked: the target cannot be read
    assert found[SECRET]["result"] == "success"


def test_unreadable_target_is_a_failure_naming_the_permission(az, sandbox, sbc, healthy):
    scope = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices", 1)[0]
    sbc.deny("Microsoft.Storage/storageAccounts/listKeys/action", scope)
    try:
        res = validate(az, healthy, "ok_blob")
    finally:
        sbc.clear_denials()
    assert res.rc == 1, res
    found = by_name(res.json)[VALUES]
    assert found["result"] == "failure" and found["errorCode"] == "ForbiddenError"
    assert "listKeys/action" in found["errorMessage"]
    assert "Storage Account Key Operator Service Role" in found["recommendation"]


def test_validate_reads_no_cluster_extension(az, sandbox, sbc):
    """The record comes from the store (one LIST of ConfigMaps): no extension is read, none is checked."""
    cluster = new_cluster(sbc, "val-ext")
    assert create(az, sandbox, cluster, "ext_blob").rc == 0
    mark = sbc.mark()
    res = validate(az, cluster, "ext_blob")
    assert res.rc == 0, res
    calls = sbc.requests(since=mark)
    assert not [e for e in calls if "Microsoft.KubernetesConfiguration" in e["path"]]
    assert [e["path"] for e in calls if e["path"].endswith("/configmaps")] == \
        [f"/clusters/{cluster['name']}/api/v1/namespaces/aks-connection/configmaps"]
