# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`az aks connection validate`, identity checks: each broken the way it breaks in real life, then repaired by
running the recommendation the check gives; and one healthy run per auth type where every check passes.

Every test makes its own cluster (its OIDC issuer, add-on identity and Kubernetes store are its own) and,
for workload identity, its own user-assigned identity (an identity holds at most 20 federated credentials,
and some tests delete theirs).
"""
import json
import shlex
import uuid

import pytest

from tests.conftest import az_subprocess
# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.helpers import by_name, new_identity, quick_extensions, run, writes  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("quick_extensions")]


def xdist_group_of(item):
    """make test: every test here works on a cluster of its own (fresh_cluster): each may run on any worker
    (tests/conftest.py)."""
    return item.name


TARGET = "Target resource"
SECRET = "Kubernetes Secret"
VALUES = "Configuration values"
IDENT = "User-assigned identity"
FEATURES = "Cluster features"
FIC = "Federated identity credential"
PERMS = "Identity permissions"
SA = "Kubernetes ServiceAccount"
FIREWALL = "Target firewall"
WI_CHECKS = [TARGET, SECRET, VALUES, IDENT, FEATURES, FIC, PERMS, SA, FIREWALL]
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ID_API = "2023-01-31"


def conn_id(cluster, name):
    return cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + name


def validate(az, cluster, name):
    return run(az, "aks", "connection", "validate", "--id", conn_id(cluster, name), "-o", "json")


def account_id(sandbox):
    return sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices/", 1)[0]


def create_wi(az, sandbox, cluster, name, identity_id, *extra, namespace="apps"):
    s = sandbox["seeds"]["storage"]["storage-blob"]
    res = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
              s["resourceGroup"], "--account", s["account"], "--connection", name, "--kube-namespace", namespace,
              "--workload-identity", identity_id, "-o", "json", *extra)
    assert res.rc == 0, res
    return res.json


def run_fix(az, recommendation):
    """Run the az command(s) after the recommendation's first ': ' (several joined by ' && '; an alternative
    after '; or ' is not run). Returns the results."""
    commands = recommendation.split(": ", 1)[1].split("; or ")[0]
    results = []
    for command in commands.split(" && "):
        args = shlex.split(command)
        assert args[0] == "az", command
        res = run(az, *args[1:])
        assert res.rc == 0, (command, res)
        results.append(res)
    return results


def failed(res, name, code):
    """The check ``name`` failed with ``code``, and validate exited 1."""
    assert res.rc == 1, res
    item = by_name(res.json)[name]
    assert item["result"] == "failure" and item["errorCode"] == code, item
    assert item["recommendation"], item
    assert f"checks failed: {name.rstrip('.')}" in res.log or f", {name.rstrip('.')}" in res.log, res.log
    return item


def all_success(res, names=None):
    assert res.rc == 0, res
    if names is not None:
        assert [r["name"] for r in res.json] == names
    for r in res.json:
        assert (r["result"], r["errorMessage"], r["recommendation"]) == ("success", None, None), r


def role_assignments(az, scope, principal):
    res = az("rest", "--method", "get", "--url", f"{scope}/providers/Microsoft.Authorization/roleAssignments"
             f"?api-version=2022-04-01&$filter=principalId eq '{principal}'")
    assert res.rc == 0, res
    return res.json["value"]


def raw_patch(sbc, rid, body):
    return sbc.arm("PATCH", "resource?id=" + rid, body)


# --------------------------------------------------------------------------- healthy, one per auth type

def test_healthy_workload_identity_passes_every_check_and_only_reads(az, sandbox, sbc, fresh_cluster):
    ident = new_identity(az, "val-wi")
    create_wi(az, sandbox, fresh_cluster, "ok_wi", ident["id"])
    mark = sbc.mark()
    res = validate(az, fresh_cluster, "ok_wi")
    all_success(res, WI_CHECKS)
    assert writes(sbc, mark) == []
    # The same from a real az process (exit code 0).
    proc = az_subprocess("aks", "connection", "validate", "--id", conn_id(fresh_cluster, "ok_wi"), "-o", "table")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sum(" success" in line for line in proc.stdout.splitlines()) == len(WI_CHECKS)


def test_healthy_service_principal_passes_every_check_and_shows_no_secret(az, sandbox, fresh_cluster, tmp_path):
    s = sandbox["seeds"]["storage"]["storage-blob"]
    secret = "Sp-" + uuid.uuid4().hex
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret)
    base = ["aks", "connection", "create", "storage-blob", "--source-id", fresh_cluster["id"], "--tg",
            s["resourceGroup"], "--account", s["account"], "-o", "json"]
    res = run(az, *base, "--connection", "ok_sp", "--service-principal", f"client-id={uuid.uuid4()}",
              f"secret=@{secret_file}", f"object-id={uuid.uuid4()}")
    assert res.rc == 0, res
    # Without an object id no role is granted: the permission check does not apply.
    res = run(az, *base, "--connection", "ok_sp_noobj", "--service-principal", f"client-id={uuid.uuid4()}",
              f"secret=@{secret_file}")
    assert res.rc == 0, res
    proc = az_subprocess("aks", "connection", "validate", "--id", conn_id(fresh_cluster, "ok_sp"), "-o", "json",
                         "--debug")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert secret not in proc.stdout and secret not in proc.stderr
    out = json.loads(proc.stdout)
    assert [r["name"] for r in out] == [TARGET, SECRET, VALUES, PERMS, FIREWALL]
    assert all(r["result"] == "success" for r in out), out
    all_success(validate(az, fresh_cluster, "ok_sp_noobj"), [TARGET, SECRET, VALUES, FIREWALL])


@pytest.mark.parametrize("vault", ["rbac", "policy"])
def test_healthy_keyvault_csi_passes_every_check(az, sandbox, fresh_cluster, vault):
    res = run(az, "aks", "connection", "create", "keyvault", "--source-id", fresh_cluster["id"], "--target-id",
              sandbox["seeds"]["keyvaults"][vault], "--connection", "ok_csi", "--enable-csi", "-o", "json")
    assert res.rc == 0, res
    # The CSI Secret holds names, no credential: the Secret-values check (secret auth only) does not run.
    all_success(validate(az, fresh_cluster, "ok_csi"), [TARGET, SECRET, VALUES, FEATURES, PERMS, FIREWALL])


# --------------------------------------------------------------------------- identity

def test_deleted_identity_fails_and_the_recommendation_repairs_it(az, sandbox, sbc, fresh_cluster):
    ident = new_identity(az, "val-wi")
    create_wi(az, sandbox, fresh_cluster, "gone_wi", ident["id"])
    assert run(az, "identity", "delete", "--ids", ident["id"]).rc == 0
    res = validate(az, fresh_cluster, "gone_wi")
    item = failed(res, IDENT, "IdentityNotFound")
    assert ident["id"] in item["errorMessage"] and "does not exist" in item["errorMessage"]
    assert f"sc-account-{ident['clientId']}" in item["errorMessage"]
    assert f"az identity create --subscription {sandbox['seeds']['subscription']} -g sandbox-rg -n " \
           f"{ident['name']} && az aks connection update storage-blob --id {conn_id(fresh_cluster, 'gone_wi')}" \
           in item["recommendation"]
    found = by_name(res.json)
    # What needs the identity is not checked (a warning each), not reported as more failures.
    for name in (FIC, PERMS):
        assert found[name]["result"] == "warning" and "see the identity check" in found[name]["errorMessage"]
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "gone_wi"), WI_CHECKS)


def test_recreated_identity_with_another_client_id_fails(az, sandbox, sbc, fresh_cluster):
    """The identity was deleted and created again under the same name: same id, new client id."""
    ident = new_identity(az, "val-wi")
    create_wi(az, sandbox, fresh_cluster, "new_wi", ident["id"])
    new_client = str(uuid.uuid4())
    raw_patch(sbc, ident["id"], {"properties": {"clientId": new_client}})
    res = validate(az, fresh_cluster, "new_wi")
    item = failed(res, IDENT, "IdentityClientIdChanged")
    assert new_client in item["errorMessage"] and ident["clientId"] in item["errorMessage"]
    assert item["recommendation"].split(": ", 1)[1] == (
        f"az aks connection update storage-blob --id {conn_id(fresh_cluster, 'new_wi')} --client-type none "
        f"--workload-identity {ident['id']}")
    run_fix(az, item["recommendation"])
    res = validate(az, fresh_cluster, "new_wi")
    all_success(res, WI_CHECKS)
    # The connection now uses the new client id, and its ServiceAccount is the one for it.
    shown = az("aks", "connection", "show", "--id", conn_id(fresh_cluster, "new_wi"), "-o", "json").json
    assert shown["authInfo"]["clientId"] == new_client
    assert shown["kubernetesResourceName"]["serviceAccount"] == f"sc-account-{new_client}"


# --------------------------------------------------------------------------- federated credential

def _fics(az, identity_id):
    res = az("rest", "--method", "get", "--url", f"{identity_id}/federatedIdentityCredentials?api-version={ID_API}")
    assert res.rc == 0, res
    return res.json["value"]


def test_deleted_federated_credential_fails_and_the_recommendation_repairs_it(az, sandbox, sbc, fresh_cluster):
    ident = new_identity(az, "val-wi")
    create_wi(az, sandbox, fresh_cluster, "fic_wi", ident["id"])
    (fic,) = _fics(az, ident["id"])
    assert run(az, "identity", "federated-credential", "delete", "-g", "sandbox-rg", "--identity-name", ident["name"],
               "-n", fic["name"], "--yes").rc == 0
    res = validate(az, fresh_cluster, "fic_wi")
    item = failed(res, FIC, "FederatedCredentialNotFound")
    issuer = fic["properties"]["issuer"]
    subject = f"system:serviceaccount:apps:sc-account-{ident['clientId']}"
    assert issuer in item["errorMessage"] and subject in item["errorMessage"]
    assert item["recommendation"].startswith("Create it: az identity federated-credential create ")
    assert f"--issuer {issuer} --subject {subject} --audiences api://AzureADTokenExchange" in item["recommendation"]
    assert [r["result"] for r in res.json].count("failure") == 1
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "fic_wi"), WI_CHECKS)


def test_changed_oidc_issuer_fails_naming_both_issuers(az, sandbox, sbc, fresh_cluster):
    """The cluster's issuer URL is not the one the credential trusts (a re-created cluster of the same name)."""
    ident = new_identity(az, "val-wi")
    create_wi(az, sandbox, fresh_cluster, "iss_wi", ident["id"])
    (fic,) = _fics(az, ident["id"])
    new_issuer = "https://eastus.oic.sandbox.local/rotated-" + uuid.uuid4().hex[:8] + "/"
    raw_patch(sbc, fresh_cluster["id"],
              {"properties": {"oidcIssuerProfile": {"enabled": True, "issuerURL": new_issuer}}})
    res = validate(az, fresh_cluster, "iss_wi")
    item = failed(res, FIC, "FederatedCredentialIssuerChanged")
    assert "issuer of AKS cluster" in item["errorMessage"] and "changed" in item["errorMessage"]
    assert fic["properties"]["issuer"] in item["errorMessage"] and new_issuer in item["errorMessage"]
    assert f"--issuer {new_issuer} " in item["recommendation"]
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "iss_wi"), WI_CHECKS)


# --------------------------------------------------------------------------- cluster features

def test_oidc_issuer_and_workload_identity_off_fail_and_the_recommendations_repair_them(az, sandbox, sbc,
                                                                                        fresh_cluster):
    ident = new_identity(az, "val-wi")
    create_wi(az, sandbox, fresh_cluster, "oidc_wi", ident["id"])
    off = {"properties": {"oidcIssuerProfile": {"enabled": False, "issuerURL": None},
                          "securityProfile": {"workloadIdentity": {"enabled": False}}}}
    raw_patch(sbc, fresh_cluster["id"], off)
    res = validate(az, fresh_cluster, "oidc_wi")
    assert res.rc == 1, res
    item = failed(res, FEATURES, "ClusterFeatureDisabled")
    assert "OIDC issuer and workload identity are off" in item["errorMessage"]
    assert item["recommendation"] == (
        f"Enable them: az aks update --subscription {sandbox['seeds']['subscription']} -g sandbox-rg -n "
        f"{fresh_cluster['name']} --enable-oidc-issuer --enable-workload-identity")
    fic = failed(res, FIC, "OidcIssuerDisabled")
    assert "OIDC issuer" in fic["errorMessage"] and "is off" in fic["errorMessage"]
    assert "2 of 9 checks failed" in res.log
    # The cluster's recommendation turns both back on; the credential matches again (same issuer URL).
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "oidc_wi"), WI_CHECKS)
    # Off again: the federated-credential check's recommendation (re-apply the connection) repairs all of it.
    raw_patch(sbc, fresh_cluster["id"], off)
    res = validate(az, fresh_cluster, "oidc_wi")
    fic = failed(res, FIC, "OidcIssuerDisabled")
    assert fic["recommendation"].split(": ", 1)[1].startswith("az aks connection update storage-blob --id ")
    run_fix(az, fic["recommendation"])
    all_success(validate(az, fresh_cluster, "oidc_wi"), WI_CHECKS)


def test_opt_out_auth_reports_what_is_missing_as_warnings(az, sandbox, fresh_cluster):
    """--opt-out auth: the cluster features, credential and role are the user's; validate says what is
    missing without failing."""
    ident = new_identity(az, "val-wi")
    create_wi(az, sandbox, fresh_cluster, "optout_wi", ident["id"], "--opt-out", "auth")
    res = validate(az, fresh_cluster, "optout_wi")
    assert res.rc == 0, res
    found = by_name(res.json)
    for name in (FEATURES, FIC, PERMS):
        assert found[name]["result"] == "warning", found[name]
        assert "--opt-out auth" in found[name]["errorMessage"]
    for name in (IDENT, SA, SECRET):
        assert found[name]["result"] == "success", found[name]


# --------------------------------------------------------------------------- role assignment / access policy

def test_deleted_role_assignment_fails_and_the_recommendation_repairs_it(az, sandbox, sbc, fresh_cluster):
    ident = new_identity(az, "val-wi")
    create_wi(az, sandbox, fresh_cluster, "role_wi", ident["id"])
    scope = account_id(sandbox)
    (assignment,) = [a for a in role_assignments(az, scope, ident["principalId"])
                     if a["properties"]["scope"].lower() == scope.lower()]
    assert run(az, "role", "assignment", "delete", "--ids", assignment["id"]).rc == 0
    res = validate(az, fresh_cluster, "role_wi")
    item = failed(res, PERMS, "RoleAssignmentMissing")
    assert "'Storage Blob Data Contributor'" in item["errorMessage"] and ident["principalId"] in item["errorMessage"]
    assert item["recommendation"] == (
        f"Grant it: az role assignment create --assignee-object-id {ident['principalId']} --assignee-principal-type "
        f"ServicePrincipal --role \"Storage Blob Data Contributor\" --scope {scope}")
    created = run_fix(az, item["recommendation"])[0].json
    all_success(validate(az, fresh_cluster, "role_wi"), WI_CHECKS)
    # A role held at a scope above the target (the resource group) counts too.
    assert run(az, "role", "assignment", "delete", "--ids", created["id"]).rc == 0
    failed(validate(az, fresh_cluster, "role_wi"), PERMS, "RoleAssignmentMissing")
    group = scope.split("/providers/")[0]
    granted = run(az, "role", "assignment", "create", "--assignee-object-id", ident["principalId"],
                  "--assignee-principal-type", "ServicePrincipal", "--role", BLOB_CONTRIBUTOR, "--scope", group,
                  "-o", "json")
    assert granted.rc == 0, granted
    try:
        all_success(validate(az, fresh_cluster, "role_wi"), WI_CHECKS)
    finally:
        run(az, "role", "assignment", "delete", "--ids", granted.json["id"])


def test_service_principal_role_removed_fails(az, sandbox, fresh_cluster):
    s = sandbox["seeds"]["storage"]["storage-blob"]
    object_id = str(uuid.uuid4())
    res = run(az, "aks", "connection", "create", "storage-blob", "--source-id", fresh_cluster["id"], "--tg",
              s["resourceGroup"], "--account", s["account"], "--connection", "role_sp", "-o", "json",
              "--service-principal", f"client-id={uuid.uuid4()}", "secret=Sp-not-shown-anywhere",
              f"object-id={object_id}")
    assert res.rc == 0, res
    for a in role_assignments(az, account_id(sandbox), object_id):
        assert run(az, "role", "assignment", "delete", "--ids", a["id"]).rc == 0
    res = validate(az, fresh_cluster, "role_sp")
    item = failed(res, PERMS, "RoleAssignmentMissing")
    assert "Service principal" in item["errorMessage"] and object_id in item["errorMessage"]
    assert "Sp-not-shown-anywhere" not in res.out + res.log
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "role_sp"))


def test_keyvault_csi_addon_off_and_access_policy_removed(az, sandbox, sbc, fresh_cluster):
    vault = sandbox["seeds"]["keyvaults"]["policy"]
    res = run(az, "aks", "connection", "create", "keyvault", "--source-id", fresh_cluster["id"], "--target-id",
              vault, "--connection", "csi_kv", "--enable-csi", "-o", "json")
    assert res.rc == 0, res
    addon = az("aks", "show", "-g", "sandbox-rg", "-n", fresh_cluster["name"], "-o", "json").json[
        "addonProfiles"]["azureKeyvaultSecretsProvider"]["identity"]
    # The access policy of the add-on identity is removed.
    assert run(az, "keyvault", "delete-policy", "-n", vault.split("/")[-1], "-g", vault.split("/")[4],
               "--object-id", addon["objectId"]).rc == 0
    res = validate(az, fresh_cluster, "csi_kv")
    item = failed(res, PERMS, "AccessPolicyMissing")
    assert addon["objectId"] in item["errorMessage"] and "get secrets" in item["errorMessage"]
    assert f"az keyvault set-policy --subscription {sandbox['seeds']['subscription']} -g {vault.split('/')[4]} -n " \
           f"{vault.split('/')[-1]} --object-id {addon['objectId']} --secret-permissions get" in item["recommendation"]
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "csi_kv"))
    # The add-on is switched off.
    raw_patch(sbc, fresh_cluster["id"], {"properties": {"addonProfiles": {"azureKeyvaultSecretsProvider": {
        "enabled": False, "identity": None}}}})
    res = validate(az, fresh_cluster, "csi_kv")
    item = failed(res, FEATURES, "KeyVaultAddonDisabled")
    assert "azureKeyvaultSecretsProvider add-on is off" in item["errorMessage"]
    assert by_name(res.json)[PERMS]["result"] == "warning"
    assert item["recommendation"].endswith("--addons azure-keyvault-secrets-provider")
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "csi_kv"))


def test_keyvault_csi_rbac_role_removed(az, sandbox, fresh_cluster):
    vault = sandbox["seeds"]["keyvaults"]["rbac"]
    res = run(az, "aks", "connection", "create", "keyvault", "--source-id", fresh_cluster["id"], "--target-id",
              vault, "--connection", "csi_rbac", "--enable-csi", "-o", "json")
    assert res.rc == 0, res
    object_id = az("aks", "show", "-g", "sandbox-rg", "-n", fresh_cluster["name"], "-o", "json").json[
        "addonProfiles"]["azureKeyvaultSecretsProvider"]["identity"]["objectId"]
    for a in role_assignments(az, vault, object_id):
        assert run(az, "role", "assignment", "delete", "--ids", a["id"]).rc == 0
    item = failed(validate(az, fresh_cluster, "csi_rbac"), PERMS, "RoleAssignmentMissing")
    assert "'Key Vault Secrets User'" in item["errorMessage"] and "add-on identity" in item["errorMessage"]
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "csi_rbac"))


# --------------------------------------------------------------------------- ServiceAccount

def test_service_account_deleted_or_reannotated_fails_and_the_recommendation_repairs_it(az, sandbox, fresh_cluster):
    core = fresh_cluster["core"]
    ident = new_identity(az, "val-wi")
    out = create_wi(az, sandbox, fresh_cluster, "sa_wi", ident["id"])
    sa = out["kubernetesResourceName"]["serviceAccount"]
    fix = ("Write it again (the command writes only what is missing or differs): az aks connection update "
           f"storage-blob --id {conn_id(fresh_cluster, 'sa_wi')} --client-type none --workload-identity {ident['id']}")

    core.delete_namespaced_service_account(sa, "apps")
    item = failed(validate(az, fresh_cluster, "sa_wi"), SA, "ServiceAccountNotFound")
    assert f"ServiceAccount '{sa}' does not exist in namespace 'apps'" in item["errorMessage"]
    assert item["recommendation"] == fix
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "sa_wi"), WI_CHECKS)

    other = str(uuid.uuid4())
    core.patch_namespaced_service_account(sa, "apps", {"metadata": {"annotations": {
        "azure.workload.identity/client-id": other}}})
    item = failed(validate(az, fresh_cluster, "sa_wi"), SA, "ServiceAccountAnnotation")
    assert f"azure.workload.identity/client-id={other}" in item["errorMessage"]
    assert ident["clientId"] in item["errorMessage"]
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "sa_wi"), WI_CHECKS)
    assert core.read_namespaced_service_account(sa, "apps").metadata.annotations[
        "azure.workload.identity/client-id"] == ident["clientId"]

    core.patch_namespaced_service_account(sa, "apps", {"metadata": {"annotations": {
        "azure.workload.identity/tenant-id": "11111111-1111-1111-1111-111111111111"}}})
    item = failed(validate(az, fresh_cluster, "sa_wi"), SA, "ServiceAccountAnnotation")
    assert "tenant-id=11111111-1111-1111-1111-111111111111" in item["errorMessage"]
    assert sandbox["seeds"]["tenant"] in item["errorMessage"]
    run_fix(az, item["recommendation"])
    all_success(validate(az, fresh_cluster, "sa_wi"), WI_CHECKS)
