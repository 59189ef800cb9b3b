# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Interop (issue 12, reads): a cluster holding connections of both engines — Microsoft's Service Connector (made
here by azure-cli's own built-in command, this extension not installed) and aks-connection's own — is seen whole
by list, show, list-configuration and validate, each connection marked with its engine; a side that cannot be
read is named, not fatal."""
import pytest

from sandbox.context import CALLER_OBJECT_ID
from tests.e2e.helpers import create, new_cluster, run, writes
# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.test_builtin_cli import builtin, ok, quick_service_connector  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


@pytest.fixture
def both(builtin, az, sbc, sandbox, quick_service_connector):  # noqa: F811  pylint: disable=redefined-outer-name
    cluster = dict(new_cluster(sbc, "interop"), resourceGroup="sandbox-rg")
    ok(builtin("aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--target-id",
               sandbox["seeds"]["targets"]["storage-blob"], "--secret", "--client-type", "python",
               "--connection", "sc_blob", "-o", "json"))
    assert create(az, sandbox, cluster, "local_blob").rc == 0
    return cluster


def conn(cluster, name):
    return cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + name


def test_list_shows_both_engines(az, both):
    res = run(az, "aks", "connection", "list", "--source-id", both["id"], "-o", "json")
    assert res.rc == 0, res
    assert [(c["name"], c["engine"]) for c in res.json] == [("local_blob", "local"), ("sc_blob", "service-connector")]
    local, sc = res.json
    assert set(local) == set(sc)                       # one shape for both engines: the SDK's LinkerResource
    assert set(local["authInfo"]) == set(sc["authInfo"]) and set(local["targetService"]) == set(sc["targetService"])
    assert sc["kubernetesResourceName"] == {"secret": "sc-scblob-secret"}
    assert sc["authInfo"]["authType"] == "secret" and sc["clientType"] == "python"
    assert sc["id"].lower() == conn(both, "sc_blob").lower()
    table = run(az, "aks", "connection", "list", "--source-id", both["id"], "-o", "table")
    assert "sc_blob" in table.out and "local_blob" in table.out and "service-connector" in table.out


def test_show_and_list_configuration_of_a_service_connector_connection(az, both):
    shown = run(az, "aks", "connection", "show", "--id", conn(both, "sc_blob"), "-o", "json")
    assert shown.rc == 0, shown
    assert shown.json["engine"] == "service-connector" and shown.json["name"] == "sc_blob"
    cfg = run(az, "aks", "connection", "list-configuration", "--id", conn(both, "sc_blob"), "-o", "json")
    assert cfg.rc == 0, cfg
    assert [(c["name"], c["value"]) for c in cfg.json["configurations"]] == [("AZURE_STORAGEBLOB_CONNECTIONSTRING", "")]
    local = run(az, "aks", "connection", "show", "--id", conn(both, "local_blob"), "-o", "json")
    assert local.json["engine"] == "local"


def test_validate_of_a_service_connector_connection_is_truthful(az, both, tmp_path):
    """Our checks on the linker's end state (its Secret in the cluster, the target) plus the resource provider's own
    verdict; a Secret deleted behind Service Connector's back fails, though the RP still says success."""
    from tests.e2e.helpers import kube_for
    res = run(az, "aks", "connection", "validate", "--id", conn(both, "sc_blob"), "-o", "json")
    assert res.rc == 0, res
    names = [r["name"] for r in res.json]
    assert "Kubernetes Secret" in names
    assert any(n.startswith("Service Connector: ") for n in names), names
    core, _ = kube_for(az, both, tmp_path)
    import base64
    core.patch_namespaced_secret("sc-scblob-secret", "default", {"data": {
        "AZURE_STORAGEBLOB_CONNECTIONSTRING": base64.b64encode(b"AccountName=x;AccountKey=ZmFrZWtleTQy").decode()}})
    res = run(az, "aks", "connection", "validate", "--id", conn(both, "sc_blob"), "-o", "json")
    assert res.rc == 1, res
    drift = {r["name"]: r for r in res.json}["Configuration values"]
    assert drift["result"] == "failure" and "AZURE_STORAGEBLOB_CONNECTIONSTRING" in drift["errorMessage"]
    assert "ZmFrZWtleTQy" not in res.out                 # a drifted value is named by its key, never shown
    assert "through Service Connector" in drift["recommendation"]        # not a local create that would shadow it
    assert "az aks connection create" not in drift["recommendation"]
    core.delete_namespaced_secret("sc-scblob-secret", "default")
    res = run(az, "aks", "connection", "validate", "--id", conn(both, "sc_blob"), "-o", "json")
    assert res.rc == 1, res
    found = {r["name"]: r for r in res.json}
    assert found["Kubernetes Secret"]["result"] == "failure"
    assert all(r["result"] == "success" for n, r in found.items() if n.startswith("Service Connector: "))


def test_delete_of_a_service_connector_connection_goes_through_it(az, sbc, both, tmp_path):
    from tests.e2e.helpers import kube_for
    res = run(az, "aks", "connection", "delete", "--id", conn(both, "sc_blob"), "--yes")
    assert res.rc == 0, res
    assert "Service Connector connection 'sc_blob' is deleted" in res.log and "secret sc-scblob-secret" in res.log
    listed = run(az, "aks", "connection", "list", "--source-id", both["id"], "-o", "json")
    assert [c["name"] for c in listed.json] == ["local_blob"]
    core, _ = kube_for(az, both, tmp_path)
    assert core.read_namespaced_secret("sc-scblob-secret", "default")     # left in place, as Service Connector does


def _sc_create(az, sandbox, cluster, name, *extra):
    s = sandbox["seeds"]["storage"]["storage-blob"]
    return run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
               s["resourceGroup"], "--account", s["account"], "--connection", name, "--engine", "service-connector",
               "-o", "json", *extra)


def test_engine_service_connector_create_update_delete(az, sbc, sandbox, tmp_path):
    """--engine service-connector: the resource provider makes the connection (it installs sc-extension, runs
    sc-job, writes the Secret); polls at 1 s though the service sends no Retry-After; update and delete go through
    it too; nothing is written to the local store."""
    import time
    from tests.e2e.helpers import kube_for
    cluster = dict(new_cluster(sbc, "sc-engine"), resourceGroup="sandbox-rg")
    sbc.set_lro(linkers=0.5, extensions=0.5)
    try:
        started = time.monotonic()
        made = _sc_create(az, sandbox, cluster, "eng_blob", "--secret", "--client-type", "python")
        elapsed = time.monotonic() - started
    finally:
        sbc.set_lro(linkers=1.0, extensions=1.0)
    assert made.rc == 0, made
    assert made.json["engine"] == "service-connector" and made.json["provisioningState"] == "Succeeded"
    assert made.json["kubernetesResourceName"] == {"secret": "sc-engblob-secret"}
    assert elapsed < 15, elapsed          # no 30 s poll: the sandbox sends no Retry-After, as the service
    core, _ = kube_for(az, cluster, tmp_path)
    assert list(core.read_namespaced_secret("sc-engblob-secret", "default").data) == \
        ["AZURE_STORAGEBLOB_CONNECTIONSTRING"]
    ext = az("rest", "--method", "get", "--url", cluster["id"] + "/providers/Microsoft.KubernetesConfiguration/"
             "extensions/sc-extension?api-version=2023-05-01", "-o", "json")
    assert ext.rc == 0 and ext.json["properties"]["extensionType"] == "microsoft.servicelinker.connection"
    assert core.list_namespaced_config_map("aks-connection").items == []      # not in the local store
    upd = run(az, "aks", "connection", "update", "storage-blob", "--id", conn(cluster, "eng_blob"), "--client-type",
              "java", "-o", "json")
    assert upd.rc == 0, upd
    assert upd.json["engine"] == "service-connector" and upd.json["clientType"] == "java"
    gone = run(az, "aks", "connection", "delete", "--id", conn(cluster, "eng_blob"), "--yes")
    assert gone.rc == 0, gone
    assert run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json").json == []


def test_one_name_one_engine(az, sbc, sandbox, both):
    """A connection name is unique across both engines: neither create shadows the other's; nothing written."""
    mark = sbc.mark()
    local = create(az, sandbox, both, "sc_blob")
    assert local.rc != 0 and "already exists on AKS cluster" in local.log and "as a Service Connector" in local.log
    sc = _sc_create(az, sandbox, both, "local_blob", "--secret")
    assert sc.rc != 0 and "as an aks-connection (local) connection" in sc.log, sc
    upper = _sc_create(az, sandbox, both, "Upper_blob", "--secret")
    assert upper.rc != 0 and "lower-case" in upper.log, upper
    import uuid
    no_object = _sc_create(az, sandbox, both, "sp_blob", "--service-principal", f"client-id={uuid.uuid4()}",
                           "secret=x")
    assert no_object.rc != 0 and "needs the service principal's object id" in no_object.log, no_object
    assert writes(sbc, mark) == []


def test_list_with_service_connector_unreadable_names_that_side(az, sbc, sandbox):
    cluster = new_cluster(sbc, "interop-unreg")
    assert create(az, sandbox, cluster, "only_local").rc == 0
    sbc.set_provider("Microsoft.ServiceLinker", "NotRegistered")
    try:
        res = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    finally:
        sbc.set_provider("Microsoft.ServiceLinker", "Registered")
    assert res.rc == 0, res
    assert [c["name"] for c in res.json] == ["only_local"]
    assert "Service Connector connections were not listed: the subscription is not registered for " \
           "Microsoft.ServiceLinker" in res.log


def test_engine_service_connector_reaches_the_builtins_end_state(  # noqa: F811 (fixtures)
        builtin, az, sbc, sandbox, tmp_path, quick_service_connector):  # noqa: F811
    """The same workload-identity connection made by the built-in on one cluster and by --engine service-connector
    on another: the same Secret (keys, values but the cluster-specific ones), the same ServiceAccount annotations,
    the same linker body. Prints the wall time of the SC-engine create next to a local create (same run)."""
    import time
    from tests.e2e.helpers import kube_for, secret_values
    identity = sandbox["seeds"]["identities"]["sandbox-identity"]
    target = sandbox["seeds"]["targets"]["storage-blob"]
    theirs = dict(new_cluster(sbc, "same-bi"), resourceGroup="sandbox-rg")
    ours = dict(new_cluster(sbc, "same-sc"), resourceGroup="sandbox-rg")
    ok(builtin("aks", "connection", "create", "storage-blob", "--source-id", theirs["id"], "--target-id", target,
               "--workload-identity", identity, "--client-type", "python", "--connection", "same_wi", "-o", "json"))
    started = time.monotonic()
    made = run(az, "aks", "connection", "create", "storage-blob", "--source-id", ours["id"], "--target-id", target,
               "--workload-identity", identity, "--client-type", "python", "--connection", "same_wi",
               "--engine", "service-connector", "-o", "json")
    sc_seconds = time.monotonic() - started
    assert made.rc == 0, made
    local_cluster = new_cluster(sbc, "same-local")
    started = time.monotonic()
    assert run(az, "aks", "connection", "create", "storage-blob", "--source-id", local_cluster["id"], "--target-id",
               target, "--workload-identity", identity, "--client-type", "python", "--connection", "same_wi",
               "-o", "json").rc == 0
    local_seconds = time.monotonic() - started
    print(f"\nwall time, one workload-identity create: --engine service-connector {sc_seconds:.2f} s, local "
          f"{local_seconds:.2f} s (sandbox RP operation {0.2} s, sc-extension install {0.2} s)")
    views = []
    for cluster in (theirs, ours):
        core, _ = kube_for(az, cluster, tmp_path)
        shown = run(az, "aks", "connection", "show", "--id", conn(cluster, "same_wi"), "-o", "json").json
        names = shown["kubernetesResourceName"]
        sa = core.read_namespaced_service_account(names["serviceAccount"], "default")
        fields = ("authInfo", "clientType", "scope", "targetService", "kubernetesResourceName", "engine")
        views.append({"linker": {k: shown[k] for k in fields},
                      "secret": secret_values(core, "default", names["secret"]),
                      "annotations": {k: v for k, v in (sa.metadata.annotations or {}).items()
                                      if k.startswith("azure.workload.identity/")}})
    assert views[0] == views[1]
    # validate sees both as made (the linker names its identity by client id only: found by it), nothing skipped
    for cluster in (theirs, ours):
        checked = run(az, "aks", "connection", "validate", "--id", conn(cluster, "same_wi"), "-o", "json")
        assert checked.rc == 0, checked
        rows = {r["name"]: r for r in checked.json if not r["name"].startswith("Service Connector: ")}
        assert set(rows) == {"Target resource", "Kubernetes Secret", "Configuration values", "User-assigned identity",
                             "Cluster features", "Federated identity credential", "Identity permissions",
                             "Kubernetes ServiceAccount", "Target firewall"}, rows
        assert all(r["result"] == "success" for r in rows.values()), rows


def test_engine_service_connector_debug_log_carries_no_secret(az, sbc, sandbox):  # az: logged in
    """A real az process, --debug, creating a service-principal connection through Service Connector: the secret
    (read from a file, as az core itself expands key=@file) appears nowhere in the output."""
    import os
    import secrets
    import tempfile
    import uuid
    from tests.conftest import az_subprocess
    cluster = new_cluster(sbc, "sc-dbg")
    secret = "Sp" + secrets.token_urlsafe(24)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(secret)
    s = sandbox["seeds"]["storage"]["storage-blob"]
    proc = az_subprocess("aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
                         s["resourceGroup"], "--account", s["account"], "--connection", "sc_dbg", "--engine",
                         "service-connector", "--service-principal", f"client-id={uuid.uuid4()}",
                         f"object-id={uuid.uuid4()}", f"secret=@{f.name}", "--debug", env=dict(os.environ))
    os.unlink(f.name)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Microsoft.ServiceLinker/linkers/sc_dbg" in proc.stderr         # the call is there ...
    assert secret not in proc.stdout + proc.stderr                          # ... its secret is not


def test_private_cluster_works_through_the_service_connector_engine(az, sbc, sandbox):
    """The fix a private cluster's error names: --engine service-connector makes the connection from inside the
    cluster; list then shows it, and says why aks-connection's own side could not be read."""
    cluster = sbc.new_cluster("sc-private-" + __import__("uuid").uuid4().hex[:5], "sandbox-rg", kind="private")
    local = create(az, sandbox, cluster, "priv_blob")
    assert local.rc != 0 and "--engine service-connector" in local.log, local
    sbc.set_lro(linkers=0.2, extensions=0.2)
    try:
        made = _sc_create(az, sandbox, cluster, "priv_blob", "--secret")
    finally:
        sbc.set_lro(linkers=0.05, extensions=0.05)
    assert made.rc == 0, made
    listed = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    assert listed.rc == 0 and [(c["name"], c["engine"]) for c in listed.json] == [("priv_blob", "service-connector")]
    assert "aks-connection's own connections were not listed" in listed.log and "private cluster" in listed.log


def test_engine_service_connector_no_wait_then_wait(az, sbc, sandbox):
    cluster = new_cluster(sbc, "sc-wait")
    sbc.set_lro(linkers=2.0, extensions=0.2)
    try:
        made = _sc_create(az, sandbox, cluster, "wait_blob", "--secret", "--no-wait")
        assert made.rc == 0, made
        assert (made.json or {}).get("provisioningState") in (None, "Accepted", "Creating"), made.json
        waited = run(az, "aks", "connection", "wait", "--id", conn(cluster, "wait_blob"), "--created",
                     "--interval", "1", "--timeout", "60")
        assert waited.rc == 0, waited
    finally:
        sbc.set_lro(linkers=0.05, extensions=0.05)
    shown = run(az, "aks", "connection", "show", "--id", conn(cluster, "wait_blob"), "-o", "json")
    assert shown.json["provisioningState"] == "Succeeded" and shown.json["engine"] == "service-connector"


@pytest.mark.parametrize("action, on_target, role", [
    ("Microsoft.ServiceLinker/linkers/write", False, "Contributor"),
    ("Microsoft.Storage/storageAccounts/listKeys/action", True, "Storage Account Key Operator Service Role"),
])
def test_engine_service_connector_missing_permission_is_named_before_any_write(az, sbc, sandbox, action, on_target,
                                                                               role):
    cluster = new_cluster(sbc, "sc-perm")
    scope = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices", 1)[0] if on_target else cluster["id"]
    sbc.deny(action, scope)
    mark = sbc.mark()
    try:
        res = _sc_create(az, sandbox, cluster, "perm_blob", "--secret")
    finally:
        sbc.clear_denials()
    assert res.rc != 0, res
    assert f"'{action}' on '{scope}'" in res.log and f'--role "{role}" --scope {scope}' in res.log, res.log
    # the grant names the caller's own object id (the ARM token's), not a placeholder
    assert f"az role assignment create --assignee {CALLER_OBJECT_ID} --role \"{role}\"" in res.log, res.log
    assert writes(sbc, mark) == []


def test_engine_service_connector_failed_install_names_cause_and_fix(az, sbc, sandbox):
    """Service Connector's sc-extension fails to install (M-E2, chart rendering): the create fails with the seed's
    message, the catalogue's cause and fix, and the troubleshoot line; nothing is recorded locally."""
    cluster = new_cluster(sbc, "sc-fail")
    rg, name = cluster["resourceGroup"], cluster["name"]
    sbc.fail_extension_installs(rg, name, "Helm installation failed : Helm chart rendering failed with given values "
                                "InnerError [template: sc-operator/templates/job.yaml:12: nil pointer]",
                                helmStatus="failed")
    try:
        res = _sc_create(az, sandbox, cluster, "fail_blob", "--secret")
    finally:
        sbc.clear_extension_failure(rg, name)
    assert res.rc != 0, res
    assert "Helm chart rendering failed with given values" in res.log, res.log
    assert "Cause:" in res.log and "--query configurationSettings" in res.log, res.log
