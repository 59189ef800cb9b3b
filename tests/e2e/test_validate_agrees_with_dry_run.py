# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`validate` and `update --dry-run` are two views of one plan (each step's explain() is made from its own diff,
provider/steps/base.py): for every drift the validate tests plant, validate fails exactly the checks of what
drifted (exit 1) AND the dry run of the connection's own update has changes pending (exit 2); then the update
itself repairs it: validate passes and the dry run exits 0 again, as on the clean connection before any drift.

Three connections, each on a cluster of its own: secret auth on a storage account whose firewall admits no
network, workload identity on such an account, and the Key Vault CSI driver on a vault in access-policy mode.
"""
import uuid

import pytest

from sandbox.arm.targets import OTHER_REGION
# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.helpers import quick_extensions, run, secret_values  # noqa: F401 (a fixture)
from tests.e2e.test_validate_identity import (FEATURES, FIC, FIREWALL, IDENT, PERMS, SA, SECRET, VALUES,
                                              conn_id, validate)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("quick_extensions")]


def xdist_group_of(item):
    """Each test works on a cluster of its own (fresh_cluster): each may run on any worker."""
    return item.name


KEY = "AZURE_STORAGEBLOB_CONNECTIONSTRING"
ACCOUNT_API = "2023-05-01"
DENY_ALL = '{"properties": {"networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": []}}}'


def _validate(az, cluster, name):
    res = validate(az, cluster, name)
    assert res.rc in (0, 1), res
    return res


def _dry_run(az, cluster, target, name):
    res = run(az, "aks", "connection", "update", target, "--id", conn_id(cluster, name), "--client-type", "none",
              "--dry-run", "-o", "json")
    assert res.rc in (0, 2), res
    return res


def _failing(res):
    return {r["name"]: r["errorCode"] for r in res.json if r["result"] == "failure"}


def _judged(az, cluster, target, name, drift, failing):
    """validate fails exactly the checks ``failing`` names (check -> errorCode; exit 1, or 0 when none); the dry
    run has changes pending exactly when something failed (exit 2, or 0)."""
    checks, plan = _validate(az, cluster, name), _dry_run(az, cluster, target, name)
    assert _failing(checks) == failing, (drift, checks.json)
    assert checks.rc == (1 if failing else 0), (drift, checks)
    assert plan.rc == (2 if failing else 0) and bool(plan.json["pendingChanges"]) == bool(failing), (drift, plan)


def agree(az, cluster, target, name, drift, failing):
    """After ``drift``, validate and the dry run agree (:func:`_judged`); the update itself repairs it, and then
    they agree it is clean."""
    _judged(az, cluster, target, name, drift, failing)
    if failing:
        repaired = run(az, "aks", "connection", "update", target, "--id", conn_id(cluster, name), "--client-type",
                       "none", "-o", "json")
        assert repaired.rc == 0, (drift, repaired)
        _judged(az, cluster, target, name, f"{drift}, then the update", {})


def _deny_all(az, account):
    """The account's firewall admits no network: defaultAction Deny, no IP rule."""
    res = az("rest", "--method", "patch", "--url", f"{account['id']}?api-version={ACCOUNT_API}", "--body", DENY_ALL)
    assert res.rc == 0, res


@pytest.fixture
def closed_account(az, sbc):
    """A storage account of this test's own that admits no network, in another region than the cluster's (Azure
    Storage ignores IP rules for requests from its own region)."""
    created = sbc.new_storage_account("sandbox-data-rg", "ag" + uuid.uuid4().hex[:10], location=OTHER_REGION)
    _deny_all(az, created)
    return created


def _create(az, cluster, target, name, *args):
    res = run(az, "aks", "connection", "create", target, "--source-id", cluster["id"], "--connection", name,
              "-o", "json", *args)
    assert res.rc == 0, res
    return res.json


def test_secret_on_a_firewalled_account(az, sbc, fresh_cluster, closed_account):
    cluster, core = fresh_cluster, fresh_cluster["core"]
    _create(az, cluster, "storage-blob", "ag_key", "--target-id", closed_account["id"] + "/blobServices/default",
            "--secret")
    agree(az, cluster, "storage-blob", "ag_key", "clean", {})

    _deny_all(az, closed_account)
    agree(az, cluster, "storage-blob", "ag_key", "firewall rule removed", {FIREWALL: "FirewallRuleMissing"})
    sbc.set_egress(cluster["resourceGroup"], cluster["name"], ips=["52.10.20.50"])
    agree(az, cluster, "storage-blob", "ag_key", "egress IP changed", {FIREWALL: "FirewallRuleStale"})

    secret = "sc-agkey-secret"
    value = secret_values(core, "default", secret)[KEY]
    core.patch_namespaced_secret(secret, "default", {"stringData": {KEY: value.replace("AccountKey=", "AccountKey=x")}})
    agree(az, cluster, "storage-blob", "ag_key", "Secret value edited", {VALUES: "ConfigurationDrift"})
    core.patch_namespaced_secret(secret, "default", {"data": {KEY: None}})
    agree(az, cluster, "storage-blob", "ag_key", "Secret key deleted", {VALUES: "ConfigurationDrift"})
    core.delete_namespaced_secret(secret, "default")
    agree(az, cluster, "storage-blob", "ag_key", "Secret deleted", {SECRET: "SecretNotFound"})
    renewed = run(az, "storage", "account", "keys", "renew", "-g", "sandbox-data-rg", "-n", closed_account["name"],
                  "--key", "primary", "-o", "none")
    assert renewed.rc == 0, renewed
    agree(az, cluster, "storage-blob", "ag_key", "storage key rotated", {VALUES: "ConfigurationDrift"})


def _raw_patch(sbc, rid, body):
    return sbc.arm("PATCH", "resource?id=" + rid, body)


def _az_ok(az, *args):
    res = run(az, *args)
    assert res.rc == 0, (args, res)
    return res


def test_workload_identity(az, sbc, fresh_cluster, closed_account):
    cluster, core = fresh_cluster, fresh_cluster["core"]
    ident = _az_ok(az, "identity", "create", "-g", "sandbox-rg", "-n", "ag-wi-" + uuid.uuid4().hex[:6],
                   "-o", "json").json
    made = _create(az, cluster, "storage-blob", "ag_wi", "--target-id", closed_account["id"] + "/blobServices/default",
                   "--workload-identity", ident["id"], "--kube-namespace", "apps")
    sa = made["kubernetesResourceName"]["serviceAccount"]
    agree(az, cluster, "storage-blob", "ag_wi", "clean", {})

    assignments = _az_ok(az, "role", "assignment", "list", "--scope", closed_account["id"], "--assignee",
                         ident["principalId"], "-o", "json").json
    for a in assignments:
        _az_ok(az, "role", "assignment", "delete", "--ids", a["id"])
    agree(az, cluster, "storage-blob", "ag_wi", "role assignment removed", {PERMS: "RoleAssignmentMissing"})

    (fic,) = _az_ok(az, "identity", "federated-credential", "list", "-g", "sandbox-rg", "--identity-name",
                    ident["name"], "-o", "json").json
    _az_ok(az, "identity", "federated-credential", "delete", "-g", "sandbox-rg", "--identity-name", ident["name"],
           "-n", fic["name"], "--yes")
    agree(az, cluster, "storage-blob", "ag_wi", "federated credential deleted", {FIC: "FederatedCredentialNotFound"})

    core.patch_namespaced_service_account(sa, "apps", {"metadata": {"annotations": {
        "azure.workload.identity/client-id": str(uuid.uuid4())}}})
    agree(az, cluster, "storage-blob", "ag_wi", "ServiceAccount annotation changed",
          {SA: "ServiceAccountAnnotation"})
    core.delete_namespaced_service_account(sa, "apps")
    agree(az, cluster, "storage-blob", "ag_wi", "ServiceAccount deleted", {SA: "ServiceAccountNotFound"})

    _raw_patch(sbc, cluster["id"], {"properties": {"oidcIssuerProfile": {"enabled": False, "issuerURL": None},
                                                   "securityProfile": {"workloadIdentity": {"enabled": False}}}})
    agree(az, cluster, "storage-blob", "ag_wi", "OIDC issuer and workload identity off",
          {FEATURES: "ClusterFeatureDisabled", FIC: "OidcIssuerDisabled"})
    _raw_patch(sbc, ident["id"], {"properties": {"clientId": str(uuid.uuid4())}})
    agree(az, cluster, "storage-blob", "ag_wi", "identity re-created (a new client id)",
          {IDENT: "IdentityClientIdChanged"})
    new_issuer = "https://eastus.oic.sandbox.local/rotated-" + uuid.uuid4().hex[:8] + "/"
    _raw_patch(sbc, cluster["id"], {"properties": {"oidcIssuerProfile": {"enabled": True, "issuerURL": new_issuer}}})
    agree(az, cluster, "storage-blob", "ag_wi", "OIDC issuer changed", {FIC: "FederatedCredentialIssuerChanged"})


def test_key_vault_csi_in_access_policy_mode(az, sandbox, sbc, fresh_cluster):
    cluster = fresh_cluster
    vault = sandbox["seeds"]["keyvaults"]["policy"]
    _create(az, cluster, "keyvault", "ag_csi", "--target-id", vault, "--enable-csi")
    agree(az, cluster, "keyvault", "ag_csi", "clean", {})

    addon = _az_ok(az, "aks", "show", "-g", cluster["resourceGroup"], "-n", cluster["name"], "-o", "json").json[
        "addonProfiles"]["azureKeyvaultSecretsProvider"]["identity"]
    _az_ok(az, "keyvault", "delete-policy", "-n", vault.split("/")[-1], "-g", vault.split("/")[4], "--object-id",
           addon["objectId"])
    agree(az, cluster, "keyvault", "ag_csi", "access policy removed", {PERMS: "AccessPolicyMissing"})
    off = {"properties": {"addonProfiles": {"azureKeyvaultSecretsProvider": {"enabled": False, "identity": None}}}}
    _raw_patch(sbc, cluster["id"], off)
    agree(az, cluster, "keyvault", "ag_csi", "Key Vault add-on off", {FEATURES: "KeyVaultAddonDisabled"})
    # AKS gave the add-on another identity (re-created: a new client and object id): the Secret's client id and
    # the access policy are the old identity's.
    client, principal = str(uuid.uuid4()), str(uuid.uuid4())
    _raw_patch(sbc, addon["resourceId"], {"properties": {"clientId": client, "principalId": principal}})
    _raw_patch(sbc, cluster["id"], {"properties": {"addonProfiles": {"azureKeyvaultSecretsProvider": {
        "identity": dict(addon, clientId=client, objectId=principal)}}}})
    agree(az, cluster, "keyvault", "ag_csi", "Key Vault add-on identity replaced",
          {VALUES: "ConfigurationDrift", PERMS: "AccessPolicyMissing"})


def test_virtual_network_rule_of_a_same_region_account(az, sbc, fresh_cluster):
    """Storage in the cluster's region, node pools on a subnet of the user's VNet with the Microsoft.Storage endpoint:
    the connection's rule is a virtual network rule; removed, validate fails and the dry run lists it; the update
    writes it back. The subnet loses its endpoint: both refuse (validate fails with the cause, the dry run exits 1
    with the same words)."""
    cluster = fresh_cluster
    subnet = sbc.set_node_subnet(cluster["resourceGroup"], cluster["name"], ["Microsoft.Storage"])["subnetId"]
    account = sbc.new_storage_account("sandbox-data-rg", "ag" + uuid.uuid4().hex[:10])
    _deny_all(az, account)
    _create(az, cluster, "storage-blob", "ag_vnet", "--target-id", account["id"] + "/blobServices/default",
            "--secret")
    agree(az, cluster, "storage-blob", "ag_vnet", "clean", {})
    _raw_patch(sbc, account["id"], {"properties": {"networkAcls": {"virtualNetworkRules": []}}})
    checks = _validate(az, cluster, "ag_vnet")
    assert f"node subnet(s) {subnet}" in {r["name"]: r for r in checks.json}[FIREWALL]["errorMessage"]
    agree(az, cluster, "storage-blob", "ag_vnet", "virtual network rule removed", {FIREWALL: "FirewallRuleMissing"})

    sbc.set_node_subnet(cluster["resourceGroup"], cluster["name"], [])
    checks = _validate(az, cluster, "ag_vnet")
    item = {r["name"]: r for r in checks.json}[FIREWALL]
    assert (checks.rc, item["errorCode"]) == (1, "ServiceEndpointMissing"), checks
    plan = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "ag_vnet"),
               "--client-type", "none", "--dry-run", "-o", "json")
    assert plan.rc == 1 and item["errorMessage"] in plan.log.replace("\n", " "), (item, plan.log)
