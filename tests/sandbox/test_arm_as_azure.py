# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Where Azure refuses, the sandbox refuses in Azure's words (issue 24): api-versions a provider does not have,
storage IP rules that are private or malformed, role assignments to a principal the directory does not know,
federated credential names, and the lower-case ``/resourcegroups/`` of AKS and Managed Identity ids."""
import uuid

import pytest
import requests

from tests.sandbox.armenv import arm_server

RG = "rg"
CLUSTER = "asazure"
ACCOUNT = "asazureacct"
VAULT = "asazure-kv"
ISSUER = "https://eastus.oic.prod-aks.azure.com/tenant/asazure/"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
UNKNOWN_VERSION = "2019-01-01"


def _seed(arm):
    arm.add_resource_group(RG)
    arm.add_managed_cluster(RG, CLUSTER)
    arm.add_storage_account(RG, ACCOUNT, None, {"blob": f"https://{ACCOUNT}.blob.core.windows.net/"})
    arm.add_user_assigned_identity(RG, "seeded-id")
    arm.add_key_vault(RG, VAULT)


@pytest.fixture(scope="module")
def env():
    with arm_server("arm-asazure-", 0.05, 50, _seed) as ns:
        ns.rg_id = f"/subscriptions/{ns.sub}/resourceGroups/{RG}"
        ns.cluster_id = ns.sb.arm.cluster_id(RG, CLUSTER)
        ns.account_id = ns.sb.arm.storage_account_id(RG, ACCOUNT)
        ns.identity_id = f"{ns.rg_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/seeded-id"
        ns.vault_id = f"{ns.rg_id}/providers/Microsoft.KeyVault/vaults/{VAULT}"
        yield ns


def raw(env, method, path, body=None):
    return requests.request(method, env.sb.arm_url + path, json=body, headers={"Authorization": "Bearer x"},
                            verify=env.ca, timeout=30)


# --------------------------------------------------------------------------- api-versions

# (what, path below the fixture's ids, the version the shipped SDK sends): azure-mgmt-containerservice 2026-06-01,
# azure-mgmt-storage 2025-08-01 (the extension's REST calls 2023-05-01), azure-mgmt-msi 2024-11-30,
# azure-mgmt-keyvault 2026-02-01, azure-mgmt-authorization 2022-04-01 / 2022-05-01-preview.
VERSIONED = [
    ("managedClusters", lambda e: e.cluster_id, "2026-06-01", "managedClusters"),
    ("agentPools", lambda e: e.cluster_id + "/agentPools", "2026-06-01", "managedClusters/agentPools"),
    ("storageAccounts", lambda e: e.account_id, "2025-08-01", "storageAccounts"),
    ("storageAccounts (extension REST)", lambda e: e.account_id, "2023-05-01", "storageAccounts"),
    ("userAssignedIdentities", lambda e: e.identity_id, "2024-11-30", "userAssignedIdentities"),
    ("federatedIdentityCredentials", lambda e: e.identity_id + "/federatedIdentityCredentials", "2024-11-30",
     "userAssignedIdentities/federatedIdentityCredentials"),
    ("vaults", lambda e: e.vault_id, "2026-02-01", "vaults"),
    ("roleAssignments", lambda e: e.account_id + "/providers/Microsoft.Authorization/roleAssignments", "2022-04-01",
     "roleAssignments"),
    ("roleDefinitions", lambda e: e.account_id + "/providers/Microsoft.Authorization/roleDefinitions/" + READER,
     "2022-05-01-preview", "roleDefinitions"),
    ("permissions", lambda e: e.account_id + "/providers/Microsoft.Authorization/permissions", "2022-05-01-preview",
     "permissions"),
]


@pytest.mark.parametrize("what, path, good, type_name", VERSIONED, ids=[v[0] for v in VERSIONED])
def test_an_api_version_the_provider_does_not_have_is_refused(env, what, path, good, type_name):
    # ARM's answer (as for Service Bus, Cosmos DB, ... in sandbox/arm/targetkit.py): 400 NoRegisteredProviderFound,
    # "No registered resource provider found for location '<loc>' and API version '<v>' for type '<type>'. The
    # supported api-versions are '...'. The supported locations are '...'."
    assert raw(env, "GET", f"{path(env)}?api-version={good}").status_code == 200, what
    bad = raw(env, "GET", f"{path(env)}?api-version={UNKNOWN_VERSION}")
    assert bad.status_code == 400, (what, bad.status_code, bad.text)
    err = bad.json()["error"]
    assert err["code"] == "NoRegisteredProviderFound"
    assert err["message"].startswith("No registered resource provider found for location 'eastus' and API version "
                                     f"'{UNKNOWN_VERSION}' for type '{type_name}'. The supported api-versions are '")
    assert good in err["message"]


# --------------------------------------------------------------------------- storage IP rules

def _ip_rules(env, *values):
    return raw(env, "PATCH", f"{env.account_id}?api-version=2023-05-01",
               {"properties": {"networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": v, "action": "Allow"}
                                                                                    for v in values]}}})


@pytest.mark.parametrize("value", ["10.1.2.3", "192.168.1.1", "172.20.0.0/16", "10.0.0.0/8", "not-an-ip",
                                   "1.2.3.4/33", "2001:db8::1"])
def test_storage_refuses_private_and_malformed_ip_rules(env, value):
    # azure-cli issues #7417 (10.0.0.0/8) and #13828 (192.168.1.0/24): Azure's answer to a private range; Microsoft
    # Learn (storage network security): IP rules take public IPv4 addresses and ranges only.
    res = _ip_rules(env, "20.30.40.50", value)
    assert res.status_code == 400, (value, res.text)
    assert res.json()["error"] == {
        "code": "InvalidValuesForRequestParameters",
        "message": "Values for request parameters are invalid: networkAcls.ipRule[*].value. For more information, "
                   "see - https://aka.ms/storagenetworkruleset"}
    acls = raw(env, "GET", f"{env.account_id}?api-version=2023-05-01").json()["properties"]["networkAcls"]
    assert value not in [r["value"] for r in acls["ipRules"]]       # nothing stored


def test_storage_takes_public_addresses_and_ranges(env):
    res = _ip_rules(env, "20.30.40.50", "52.0.0.0/16")
    assert res.status_code == 200, res.text
    assert [r["value"] for r in res.json()["properties"]["networkAcls"]["ipRules"]] == ["20.30.40.50", "52.0.0.0/16"]


# --------------------------------------------------------------------------- PrincipalNotFound

def _assign(env, principal, principal_type=None):
    props = {"roleDefinitionId": f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions/{READER}",
             "principalId": principal}
    if principal_type:
        props["principalType"] = principal_type
    return raw(env, "PUT", f"{env.account_id}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
                           "?api-version=2022-04-01", {"properties": props})


def test_a_role_assignment_to_a_principal_nobody_knows_is_principal_not_found(env):
    nobody = str(uuid.uuid4())
    res = _assign(env, nobody)
    assert res.status_code == 400, res.text
    err = res.json()["error"]
    assert err["code"] == "PrincipalNotFound"
    assert err["message"].startswith(f"Principal {nobody.replace('-', '')} does not exist in the directory "
                                     f"{env.sb.tenant_id}.")
    # principalType set: ARM skips the directory lookup (https://aka.ms/docs-principaltype).
    assert _assign(env, nobody, "ServicePrincipal").status_code == 201


def test_a_known_principal_needs_no_principal_type(env):
    seeded = raw(env, "GET", f"{env.identity_id}?api-version=2024-11-30").json()["properties"]["principalId"]
    assert _assign(env, seeded).status_code == 201
    kubelet = raw(env, "GET", f"{env.cluster_id}?api-version=2026-06-01").json()["properties"]["identityProfile"]
    assert _assign(env, kubelet["kubeletidentity"]["objectId"]).status_code == 201
    someone = str(uuid.uuid4())
    assert requests.post(env.sb.arm_url + "/_sandbox/arm/principals", json={"principalId": someone}, verify=env.ca,
                         timeout=10).status_code == 201
    assert _assign(env, someone).status_code == 201


# --------------------------------------------------------------------------- federated credential names

def _fic(env, name, subject):
    return raw(env, "PUT", f"{env.identity_id}/federatedIdentityCredentials/{name}?api-version=2024-11-30",
               {"properties": {"issuer": ISSUER, "subject": subject, "audiences": ["api://AzureADTokenExchange"]}})


@pytest.mark.parametrize("name", ["ab", "-starts-with-dash", "_underscore-first", "has.dot", "x" * 121])
def test_federated_credential_names_outside_the_rules_are_refused(env, name):
    # MicrosoftDocs entra-docs workload-identity-federation-considerations.md: 3-120 characters, alphanumeric, '-'
    # or '_', the first alphanumeric.
    res = _fic(env, name, f"system:serviceaccount:ns:{uuid.uuid4().hex[:8]}")
    assert res.status_code == 400, (name, res.text)
    assert res.json()["error"]["code"] == "BadRequest"
    assert "3 to 120 characters" in res.json()["error"]["message"]


@pytest.mark.parametrize("name", ["abc", "0-starts_with-digit", "y" * 120])
def test_federated_credential_names_inside_the_rules_are_taken(env, name):
    res = _fic(env, name, f"system:serviceaccount:ns:{uuid.uuid4().hex[:8]}")
    assert res.status_code == 201, (name, res.text)
    raw(env, "DELETE", f"{env.identity_id}/federatedIdentityCredentials/{name}?api-version=2024-11-30")


# --------------------------------------------------------------------------- id casing

def test_aks_and_managed_identity_answer_ids_with_lower_case_resourcegroups(env):
    # acs/tests/latest/recordings/test_aks_update_with_oidc_issuer_enabled.yaml (GET managedClusters) and
    # serviceconnector/tests/latest/recordings/test_kubernetes_storageblob_workload_identity_e2e.yaml (GET
    # userAssignedIdentities): "/resourcegroups/" in the id the provider answers.
    cluster = raw(env, "GET", f"{env.cluster_id}?api-version=2026-06-01").json()
    assert cluster["id"] == env.cluster_id.replace("/resourceGroups/", "/resourcegroups/")
    listed = raw(env, "GET", f"{env.rg_id}/providers/Microsoft.ContainerService/managedClusters"
                             "?api-version=2026-06-01").json()["value"]
    assert [c["id"] for c in listed] == [cluster["id"]]
    identity = raw(env, "GET", f"{env.identity_id}?api-version=2024-11-30").json()
    assert identity["id"] == env.identity_id.replace("/resourceGroups/", "/resourcegroups/")
    # Storage keeps the id as it was written (its recordings answer /resourceGroups/).
    assert raw(env, "GET", f"{env.account_id}?api-version=2023-05-01").json()["id"] == env.account_id
