# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""One model of a connection (issue 14) and nothing orphaned (issue 13): `create --dry-run` lists every step the
create then performs and writes nothing; after the create it reports no change (exit 0); `delete --cleanup`
removes what the connection made on both planes and keeps what another connection shares; a create that fails
after writing leaves a Failed record naming what it made, which a re-run converges and delete finds."""
import uuid

import pytest

from sandbox.arm.targets import OTHER_REGION
from tests.e2e.helpers import run, writes

pytestmark = pytest.mark.e2e


def xdist_group_of(item):
    return item.name


@pytest.fixture
def identity(az):
    made = az("identity", "create", "-g", "sandbox-rg", "-n", f"ds-{uuid.uuid4().hex[:6]}", "-o", "json")
    assert made.rc == 0, made
    return made.json


@pytest.fixture
def closed_account(az, sbc):
    """A storage account of this test's own that admits no network (defaultAction Deny), in another region than
    the cluster's (Azure Storage ignores IP rules for requests from its own region)."""
    created = sbc.new_storage_account("sandbox-data-rg", "ds" + uuid.uuid4().hex[:10], location=OTHER_REGION)
    res = az("rest", "--method", "patch", "--url", created["id"] + "?api-version=2023-05-01", "--body",
             '{"properties": {"networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": []}}}')
    assert res.rc == 0, res
    return created


def _wi(az, cluster, account, name, identity, *extra, namespace="dry"):
    return run(az, "aks", "connection", "create", "storage-blob", "-g", cluster["resourceGroup"], "-n",
               cluster["name"], "--target-id", account["id"] + "/blobServices/default", "--connection", name,
               "--workload-identity", identity["id"], "--kube-namespace", namespace, "-o", "json", *extra)


def _step_of(method, path):
    """The plan step a mutating request belongs to (None: not a step's write)."""
    path = path.split("?")[0]
    table = [("/federatedIdentityCredentials/", "federatedCredential"), ("/roleAssignments/", "roleAssignment"),
             ("/configmaps", "record"), ("/serviceaccounts", "serviceAccount"), ("/secrets", "secret"),
             ("/selfsubjectaccessreviews", None), ("/namespaces", "namespace"),
             ("/managedClusters/", "clusterFeatures"), ("/storageAccounts/", "firewall")]
    return next((step for part, step in table if part.lower() in path.lower()), "unknown")


def _ids(res):
    return {(r["step"], r["action"]) for r in res.json["steps"]}


def test_dry_run_lists_what_the_create_then_does_and_after_it_nothing(az, sbc, fresh_cluster, closed_account,
                                                                      identity):
    cluster = fresh_cluster
    mark = sbc.mark()
    plan = _wi(az, cluster, closed_account, "ds_wi", identity, "--dry-run")
    assert plan.rc == 2, plan                             # changes pending
    assert writes(sbc, mark) == [w for w in writes(sbc, mark) if "/selfsubjectaccessreviews" in w[1]], \
        writes(sbc, mark)                                 # zero mutating calls on both planes
    steps = {r["step"]: r for r in plan.json["steps"]}
    assert steps["clusterFeatures"]["detail"]["enable"] == ["OIDC issuer", "workload identity"]
    assert steps["firewall"]["detail"]["admit"] == sbc.egress(cluster["resourceGroup"], cluster["name"])["ips"]
    assert steps["roleAssignment"]["detail"]["role"] == "Storage Blob Data Contributor"
    assert steps["roleAssignment"]["detail"]["principal"] == identity["principalId"]
    assert steps["federatedCredential"]["detail"]["issuer"] == "(known after the cluster update)"
    assert steps["federatedCredential"]["detail"]["subject"].startswith("system:serviceaccount:dry:sc-account-")
    assert {"namespace", "serviceAccount", "secret", "record"} <= set(steps)
    planned = {r["step"] for r in plan.json["steps"] if r["action"] != "none"}
    assert plan.json["pendingChanges"] == len([r for r in plan.json["steps"] if r["action"] != "none"])

    mark = sbc.mark()
    made = _wi(az, cluster, closed_account, "ds_wi", identity)
    assert made.rc == 0, made
    done = {_step_of(m, p) for m, p, _ in writes(sbc, mark)} - {None}
    assert done == planned, (done, planned)              # the dry run named every write the create made

    mark = sbc.mark()
    again = _wi(az, cluster, closed_account, "ds_wi", identity, "--dry-run")
    assert again.rc == 0, again
    assert again.json["pendingChanges"] == 0 and {a for _, a in _ids(again)} == {"none"}, again.json
    assert [w for w in writes(sbc, mark) if "/selfsubjectaccessreviews" not in w[1]] == []


def test_dry_run_masks_credentials_and_prints_a_table(az, sandbox, sbc, fresh_cluster):
    s = sandbox["seeds"]["storage"]["storage-blob"]
    args = ["aks", "connection", "create", "storage-blob", "-g", fresh_cluster["resourceGroup"], "-n",
            fresh_cluster["name"], "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "ds_key",
            "--secret", "--dry-run"]
    plan = run(az, *args, "-o", "json")
    assert plan.rc == 2, plan
    secret = next(r for r in plan.json["steps"] if r["step"] == "secret")
    assert secret["action"] == "create"
    assert secret["detail"]["data"]["AZURE_STORAGEBLOB_CONNECTIONSTRING"] == "(masked)"
    assert "AccountKey=" not in plan.out and "AccountKey=" not in plan.log
    table = run(az, *args, "-o", "table")
    assert table.rc == 2, table
    assert "Step" in table.out and "AZURE_STORAGEBLOB_CONNECTIONSTRING" in table.out and "AccountKey=" not in table.out
    assert max(len(line) for line in table.out.splitlines()) < 200, table.out


def _fics(az, identity):
    res = az("identity", "federated-credential", "list", "-g", "sandbox-rg", "--identity-name", identity["name"],
             "-o", "json")
    assert res.rc == 0, res
    return res.json


def _roles(az, scope, principal):
    res = az("role", "assignment", "list", "--scope", scope, "--assignee", principal, "-o", "json")
    assert res.rc == 0, res
    return res.json


def _ip_rules(az, account):
    res = az("rest", "--method", "get", "--url", account["id"] + "?api-version=2023-05-01")
    return [r["value"] for r in res.json["properties"]["networkAcls"]["ipRules"]]


def _delete(az, cluster, name, *extra):
    return run(az, "aks", "connection", "delete", "-g", cluster["resourceGroup"], "-n", cluster["name"],
               "--connection", name, "--yes", *extra)


def test_delete_cleanup_removes_what_it_made_and_keeps_what_another_uses(az, sbc, fresh_cluster, closed_account,
                                                                         identity):
    cluster, core = fresh_cluster, fresh_cluster["core"]
    assert _wi(az, cluster, closed_account, "ds_one", identity).rc == 0
    two = _wi(az, cluster, closed_account, "ds_two", identity)
    assert two.rc == 0, two
    sa = two.json["kubernetesResourceName"]["serviceAccount"]
    ip = sbc.egress(cluster["resourceGroup"], cluster["name"])["ips"][0]
    assert ip in _ip_rules(az, closed_account) and len(_fics(az, identity)) == 1

    mark = sbc.mark()
    plan = _delete(az, cluster, "ds_one", "--cleanup", "--dry-run", "-o", "json")
    assert plan.rc == 2, plan
    assert [w for w in writes(sbc, mark) if "/selfsubjectaccessreviews" not in w[1]] == []
    actions = {(r["step"], r["action"]) for r in plan.json["steps"]}
    assert ("secret", "remove") in actions and ("serviceAccount", "keep") in actions and ("record", "remove") in actions

    first = _delete(az, cluster, "ds_one", "--cleanup")
    assert first.rc == 0, first
    secrets = {x.metadata.name for x in core.list_namespaced_secret("dry").items}
    assert "sc-dsone-secret" not in secrets and "sc-dstwo-secret" in secrets
    assert sa in {x.metadata.name for x in core.list_namespaced_service_account("dry").items}
    assert len(_fics(az, identity)) == 1 and ip in _ip_rules(az, closed_account)       # ds_two uses them
    assert _roles(az, closed_account["id"], identity["principalId"])
    assert "Kept:" in first.log and "used by another connection" in first.log

    second = _delete(az, cluster, "ds_two", "--cleanup")
    assert second.rc == 0, second
    assert "sc-dstwo-secret" not in {x.metadata.name for x in core.list_namespaced_secret("dry").items}
    assert sa not in {x.metadata.name for x in core.list_namespaced_service_account("dry").items}
    assert _fics(az, identity) == [] and ip not in _ip_rules(az, closed_account)
    assert _roles(az, closed_account["id"], identity["principalId"]) == []
    listed = run(az, "aks", "connection", "list", "-g", cluster["resourceGroup"], "-n", cluster["name"], "-o", "json")
    assert listed.json == []
    assert _delete(az, cluster, "ds_two", "--cleanup").rc == 0                          # re-run: nothing left


def test_failed_create_is_recorded_with_what_it_made_and_delete_cleanup_finds_it(
        az, sbc, fresh_cluster, closed_account, identity):
    cluster = fresh_cluster
    rule = sbc.add_fault(plane="arm", method="PUT", path=r"/federatedIdentityCredentials/", status=500,
                         code="InternalServerError", message="injected")
    try:
        failed = _wi(az, cluster, closed_account, "ds_fail", identity)
    finally:
        sbc.clear_faults()
    del rule
    assert failed.rc == 1, failed
    shown = run(az, "aks", "connection", "show", "-g", cluster["resourceGroup"], "-n", cluster["name"],
                "--connection", "ds_fail", "-o", "json")
    assert shown.rc == 0 and shown.json["provisioningState"] == "Failed", shown
    assert "federatedCredential" in shown.log and "injected" in shown.log          # the failing step and its error
    assert _roles(az, closed_account["id"], identity["principalId"])               # made before the failure

    plan = _delete(az, cluster, "ds_fail", "--cleanup", "--dry-run", "-o", "json")
    assert plan.rc == 2, plan
    steps = {r["step"] for r in plan.json["steps"] if r["action"] == "remove"}
    assert {"roleAssignment", "firewall", "record"} <= steps, plan.json
    gone = _delete(az, cluster, "ds_fail", "--cleanup")
    assert gone.rc == 0, gone
    assert _roles(az, closed_account["id"], identity["principalId"]) == []
    assert _ip_rules(az, closed_account) == [] and _fics(az, identity) == []


def test_rerun_of_a_failed_create_converges_and_counts_what_the_first_run_made(
        az, sbc, fresh_cluster, closed_account, identity):
    cluster = fresh_cluster
    sbc.add_fault(plane="arm", method="PUT", path=r"/federatedIdentityCredentials/", status=500,
                  code="InternalServerError", message="injected")     # past az's own retries of a 500
    try:
        assert _wi(az, cluster, closed_account, "ds_rerun", identity).rc == 1
    finally:
        sbc.clear_faults()
    again = _wi(az, cluster, closed_account, "ds_rerun", identity)
    assert again.rc == 0 and again.json["provisioningState"] == "Succeeded", again
    assert len(_roles(az, closed_account["id"], identity["principalId"])) == 1 and len(_fics(az, identity)) == 1
    gone = _delete(az, cluster, "ds_rerun", "--cleanup")
    assert gone.rc == 0, gone
    # The role assignment and the firewall rule the failed run made are the connection's own: removed too.
    assert _roles(az, closed_account["id"], identity["principalId"]) == [] and _ip_rules(az, closed_account) == []


def test_delete_without_a_record_finds_the_objects_by_their_annotation(az, sandbox, sbc, fresh_cluster):
    """The record is gone (removed by hand, or a store namespace wiped): delete still finds the connection's
    Secret by its connection-id annotation, names it, and removes it with --cleanup."""
    from azext_aks_connection.provider.store import configmap_name
    cluster, core = fresh_cluster, fresh_cluster["core"]
    s = sandbox["seeds"]["storage"]["storage-blob"]
    made = run(az, "aks", "connection", "create", "storage-blob", "-g", cluster["resourceGroup"], "-n",
               cluster["name"], "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "ds_orphan",
               "--secret", "-o", "json")
    assert made.rc == 0, made
    core.delete_namespaced_config_map(configmap_name("ds_orphan"), "aks-connection")
    assert "sc-dsorphan-secret" in {x.metadata.name for x in core.list_namespaced_secret("default").items}
    named = _delete(az, cluster, "ds_orphan")
    assert named.rc == 0, named
    assert "does not exist (it has no record)" in named.log
    assert "kubectl delete secret sc-dsorphan-secret -n default" in named.log, named.log
    mark = sbc.mark()
    plan = _delete(az, cluster, "ds_orphan", "--cleanup", "--dry-run", "-o", "json")
    assert plan.rc == 2 and [(r["step"], r["action"]) for r in plan.json["steps"]] == [("secret", "remove")], plan
    assert [w for w in writes(sbc, mark) if "/selfsubjectaccessreviews" not in w[1]] == []
    removed = _delete(az, cluster, "ds_orphan", "--cleanup")
    assert removed.rc == 0, removed
    assert "sc-dsorphan-secret" not in {x.metadata.name for x in core.list_namespaced_secret("default").items}
    assert "nothing to delete" in _delete(az, cluster, "ds_orphan").log


def _show(az, cluster, name, *extra):
    return run(az, "aks", "connection", "show", "-g", cluster["resourceGroup"], "-n", cluster["name"], "--connection",
               name, "-o", "json", *extra)


def test_manifest_gives_the_workload_pieces_and_the_objects_masked(az, sandbox, sbc, fresh_cluster, closed_account,
                                                                   identity, tmp_path):
    import json
    import subprocess
    import sys
    cluster = fresh_cluster
    made = _wi(az, cluster, closed_account, "ds_man", identity)
    assert made.rc == 0, made
    names = made.json["kubernetesResourceName"]
    out = _show(az, cluster, "ds_man", "--manifest")
    assert out.rc == 0, out
    pod = out.json["workload"]
    assert pod["metadata"]["labels"] == {"azure.workload.identity/use": "true"}
    assert pod["spec"]["serviceAccountName"] == names["serviceAccount"]
    assert pod["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": names["secret"]}}]
    assert out.json["objects"]["items"] == []
    objects = _show(az, cluster, "ds_man", "--manifest", "--objects")
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects.json["objects"]["items"]}
    assert kinds == {("ServiceAccount", names["serviceAccount"]), ("Secret", names["secret"])}
    assert all("resourceVersion" not in o["metadata"] for o in objects.json["objects"]["items"])
    path = tmp_path / "objects.json"
    path.write_text(json.dumps(objects.json["objects"]))
    kubectl = subprocess.run([sys.executable.rsplit("/", 1)[0] + "/kubectl", "--kubeconfig",
                              cluster["core"].kubeconfig_path, "apply", "--dry-run=client", "--validate=false", "-o",
                              "name", "-f", str(path)], capture_output=True, text=True, check=False)
    assert kubectl.returncode == 0, kubectl.stderr
    assert sorted(kubectl.stdout.split()) == sorted([f"secret/{names['secret']}",
                                                     f"serviceaccount/{names['serviceAccount']}"])

    s = sandbox["seeds"]["storage"]["storage-blob"]
    key = run(az, "aks", "connection", "create", "storage-blob", "-g", cluster["resourceGroup"], "-n",
              cluster["name"], "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "ds_mankey",
              "--secret", "-o", "json")
    assert key.rc == 0, key
    masked = _show(az, cluster, "ds_mankey", "--manifest", "--objects")
    secret = next(o for o in masked.json["objects"]["items"] if o["kind"] == "Secret")
    import base64
    assert base64.b64decode(secret["data"]["AZURE_STORAGEBLOB_CONNECTIONSTRING"]) == b"(masked)"
    assert "AccountKey" not in masked.out
    shown = _show(az, cluster, "ds_mankey", "--manifest", "--objects", "--include-secrets")
    secret = next(o for o in shown.json["objects"]["items"] if o["kind"] == "Secret")
    assert b"AccountKey=" in base64.b64decode(secret["data"]["AZURE_STORAGEBLOB_CONNECTIONSTRING"])
    assert "holds the connection's credentials" in shown.log


def test_manifest_of_a_csi_connection_is_a_filled_secret_provider_class(az, sandbox, fresh_cluster):
    cluster = fresh_cluster
    vault = sandbox["seeds"]["keyvaults"]["rbac"]
    made = run(az, "aks", "connection", "create", "keyvault", "-g", cluster["resourceGroup"], "-n", cluster["name"],
               "--target-id", vault, "--connection", "ds_csi", "--enable-csi", "-o", "json")
    assert made.rc == 0, made
    out = _show(az, cluster, "ds_csi", "--manifest")
    spc = out.json["objects"]["items"][0]
    assert spc["kind"] == "SecretProviderClass" and spc["spec"]["provider"] == "azure"
    params = spc["spec"]["parameters"]
    values = {c["name"]: c["value"] for c in made.json["configurations"]}
    assert params["keyvaultName"] == vault.split("/")[-1]
    assert params["userAssignedIdentityID"] == values["AZURE_KEYVAULT_CLIENTID"] and params["tenantId"]
    volume = out.json["workload"]["spec"]["volumes"][0]
    assert volume["csi"]["volumeAttributes"]["secretProviderClass"] == spc["metadata"]["name"]
    # objects: an example the user edits (the provider parses each entry as YAML: its comments say what goes where)
    import yaml
    entries = yaml.safe_load(params["objects"])["array"]
    assert [yaml.safe_load(e) for e in entries] == [{"objectName": "my-secret", "objectType": "secret",
                                                     "objectAlias": "my-secret"}]
    assert "# edit:" in params["objects"] and "objects is an example" in spc["metadata"]["annotations"][
        "aks-connection/edit"]
    # the create said, on one line, where to look next
    assert f"Next: 'az aks connection show --id {cluster['id']}/providers/Microsoft.ServiceLinker/linkers/ds_csi " \
           "--manifest'" in made.log and "SecretProviderClass" in made.log


def test_delete_cleanup_features_turns_off_workload_identity_but_not_the_oidc_issuer(
        az, fresh_cluster, closed_account, identity):
    cluster = fresh_cluster
    assert _wi(az, cluster, closed_account, "ds_feat", identity).rc == 0

    def security():
        res = az("aks", "show", "-g", cluster["resourceGroup"], "-n", cluster["name"], "-o", "json")
        assert res.rc == 0, res
        return (res.json["oidcIssuerProfile"]["enabled"],
                bool(((res.json.get("securityProfile") or {}).get("workloadIdentity") or {}).get("enabled")))
    assert security() == (True, True)
    kept = _delete(az, cluster, "ds_feat", "--cleanup-features")
    assert kept.rc != 0 and "--cleanup-features works with --cleanup" in kept.log, kept
    gone = _delete(az, cluster, "ds_feat", "--cleanup", "--cleanup-features")
    assert gone.rc == 0, gone
    assert security() == (True, False)          # AKS cannot turn the OIDC issuer off: it stays
