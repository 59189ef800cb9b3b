# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The sandbox's Microsoft.ManagedIdentity, Microsoft.Authorization and Microsoft.KeyVault emulation and the
AKS add-on identity, driven by the real Azure SDK clients."""
import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from sandbox.arm import ArmState
from sandbox.context import Sandbox
from sandbox.core import Faults, RequestLog
from tests.sandbox.armenv import arm_server

RG = "rg"
NODE_RG_CLUSTER = "idcluster"
ACCOUNT = "idacct"
ISSUER = "https://eastus.oic.prod-aks.azure.com/tenant/issuer/"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def _seed(arm):
    arm.add_resource_group(RG)
    arm.add_managed_cluster(RG, NODE_RG_CLUSTER)
    arm.add_storage_account(RG, ACCOUNT, None, {"blob": f"https://{ACCOUNT}.blob.core.windows.net/"},
                            containers=["orders"])


@pytest.fixture(scope="module")
def env():
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.containerservice import ContainerServiceClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.msi import ManagedServiceIdentityClient
    with arm_server("arm-identity-", 0.2, 100, _seed) as ns:
        ns.rg_id = ns.sb.arm.rg_id(RG)
        ns.account_id = ns.sb.arm.storage_account_id(RG, ACCOUNT)
        ns.msi = ManagedServiceIdentityClient(ns.cred, ns.sub, **ns.kw)
        ns.auth = AuthorizationManagementClient(ns.cred, ns.sub, **ns.kw)
        ns.kv = KeyVaultManagementClient(ns.cred, ns.sub, **ns.kw)
        # AKS sends no Retry-After (as Azure does): its pollers wait their own interval, short here.
        ns.aks = ContainerServiceClient(ns.cred, ns.sub, polling_interval=0.1, **ns.kw)
        yield ns


def raw(env, method, path, body=None):
    return requests.request(method, env.sb.arm_url + path, json=body, headers={"Authorization": "Bearer x"},
                            verify=env.ca, timeout=10)


def error_of(exc):
    return exc.value.error.code, exc.value.error.message


# --------------------------------------------------------------------------- managed identities

def test_user_assigned_identity_lifecycle(env):
    from azure.mgmt.msi.models import Identity
    uais = env.msi.user_assigned_identities
    created = uais.create_or_update(RG, "id-one", Identity(location="eastus", tags={"a": "b"}))
    assert created.type == "Microsoft.ManagedIdentity/userAssignedIdentities"
    assert created.tenant_id == env.sb.tenant_id
    for value in (created.principal_id, created.client_id):
        uuid.UUID(value)
    assert created.principal_id != created.client_id
    again = uais.create_or_update(RG, "id-one", Identity(location="eastus", tags={"c": "d"}))
    assert (again.principal_id, again.client_id) == (created.principal_id, created.client_id)
    assert again.tags == {"c": "d"}
    got = env.msi.user_assigned_identities.get(RG, "id-one")
    assert got.client_id == created.client_id and got.id == created.id
    names = {i.name for i in env.msi.user_assigned_identities.list_by_resource_group(RG)}
    assert "id-one" in names
    assert "id-one" in {i.name for i in env.msi.user_assigned_identities.list_by_subscription()}
    env.msi.user_assigned_identities.delete(RG, "id-one")
    with pytest.raises(ResourceNotFoundError):
        env.msi.user_assigned_identities.get(RG, "id-one")
    # The seed helper gives the same stable ids as an SDK-created identity of that id would.
    seeded = env.sb.arm.add_user_assigned_identity(RG, "id-seeded")
    assert env.msi.user_assigned_identities.get(RG, "id-seeded").principal_id == seeded["properties"]["principalId"]


def test_federated_identity_credentials(env):
    from azure.mgmt.msi.models import FederatedIdentityCredential
    env.sb.arm.add_user_assigned_identity(RG, "id-fic")
    fics = env.msi.federated_identity_credentials

    def fic(subject, issuer=ISSUER):
        return FederatedIdentityCredential(issuer=issuer, subject=subject, audiences=["api://AzureADTokenExchange"])

    made = fics.create_or_update(RG, "id-fic", "fic-0", fic("system:serviceaccount:ns:sa0"))
    assert made.type == "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
    assert (made.issuer, made.subject) == (ISSUER, "system:serviceaccount:ns:sa0")
    assert made.audiences == ["api://AzureADTokenExchange"]
    # Same name again (update) is fine; same issuer+subject under another name is rejected.
    fics.create_or_update(RG, "id-fic", "fic-0", fic("system:serviceaccount:ns:sa0"))
    with pytest.raises(HttpResponseError) as exc:
        fics.create_or_update(RG, "id-fic", "fic-dup", fic("system:serviceaccount:ns:sa0"))
    assert exc.value.status_code == 400
    assert "Issuer and subject combination already exists" in error_of(exc)[1]
    # Same subject, other issuer: allowed.
    fics.create_or_update(RG, "id-fic", "fic-other-issuer", fic("system:serviceaccount:ns:sa0",
                                                                issuer="https://other.example/"))
    for i in range(1, 19):
        fics.create_or_update(RG, "id-fic", f"fic-{i}", fic(f"system:serviceaccount:ns:sa{i}"))
    assert len(list(fics.list(RG, "id-fic"))) == 20
    with pytest.raises(HttpResponseError) as exc:
        fics.create_or_update(RG, "id-fic", "fic-21", fic("system:serviceaccount:ns:sa21"))
    assert exc.value.status_code == 400 and error_of(exc)[0] == "BadRequest"
    assert "maximum of 20" in error_of(exc)[1]
    # Updating an existing one at the limit still works; deleting one makes room.
    fics.create_or_update(RG, "id-fic", "fic-1", fic("system:serviceaccount:ns:sa1-renamed"))
    fics.delete(RG, "id-fic", "fic-2")
    with pytest.raises(ResourceNotFoundError):
        fics.get(RG, "id-fic", "fic-2")
    fics.create_or_update(RG, "id-fic", "fic-21", fic("system:serviceaccount:ns:sa21"))
    assert fics.get(RG, "id-fic", "fic-1").subject == "system:serviceaccount:ns:sa1-renamed"
    # Missing audiences -> 400; a missing parent identity -> 404.
    r = raw(env, "PUT", f"{env.rg_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-fic/"
                        "federatedIdentityCredentials/bad?api-version=2024-11-30",
            {"properties": {"issuer": ISSUER, "subject": "s"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"
    with pytest.raises(ResourceNotFoundError):
        fics.create_or_update(RG, "no-such-identity", "x", fic("s"))
    # Deleting the identity deletes its credentials.
    env.msi.user_assigned_identities.delete(RG, "id-fic")
    fic_type = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
    assert not [i for i in env.sb.arm.list_ids(fic_type) if "/id-fic/" in i]


# --------------------------------------------------------------------------- role definitions / assignments

def test_role_definitions(env):
    scope = f"/subscriptions/{env.sub}"
    rd = env.auth.role_definitions.get(scope, BLOB_CONTRIBUTOR)
    assert rd.role_name == "Storage Blob Data Contributor" and rd.role_type == "BuiltInRole"
    assert rd.id == f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions/{BLOB_CONTRIBUTOR}"
    # At any scope (a resource here), and by full id.
    assert env.auth.role_definitions.get(env.account_id, KV_SECRETS_USER).role_name == "Key Vault Secrets User"
    assert env.auth.role_definitions.get_by_id(rd.id).name == BLOB_CONTRIBUTOR
    found = list(env.auth.role_definitions.list(env.rg_id, filter="roleName eq 'Key Vault Secrets User'"))
    assert [d.name for d in found] == [KV_SECRETS_USER]
    names = {d.role_name: d.name for d in env.auth.role_definitions.list(scope)}
    # Every role the extension's target table names, with its real GUID, and the Azure RBAC for Kubernetes roles
    # (the fix an Entra ID cluster's 403 names); nothing else.
    from azext_aks_connection.targets import BUILTIN_ROLES
    aks = {"Azure Kubernetes Service RBAC Reader": "7f6c6a51-bcf8-42ba-9220-52d62157d7db",
           "Azure Kubernetes Service RBAC Writer": "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb",
           "Azure Kubernetes Service RBAC Admin": "3498e952-d568-435e-9b2c-8d77e338d7f7",
           "Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"}
    assert names == dict(BUILTIN_ROLES, **aks)
    with pytest.raises(HttpResponseError) as exc:
        env.auth.role_definitions.get(scope, str(uuid.uuid4()))
    assert exc.value.status_code == 404 and error_of(exc)[0] == "RoleDefinitionDoesNotExist"


def test_role_assignments(env):
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters
    ident = env.sb.arm.add_user_assigned_identity(RG, "id-ra")
    principal = ident["properties"]["principalId"]
    role_id = f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/roleDefinitions/{BLOB_CONTRIBUTOR}"
    scope = env.account_id
    params = RoleAssignmentCreateParameters(role_definition_id=role_id, principal_id=principal,
                                            principal_type="ServicePrincipal")
    name = str(uuid.uuid4())
    ra = env.auth.role_assignments.create(scope, name, params)
    assert ra.name == name and ra.type == "Microsoft.Authorization/roleAssignments"
    assert ra.id == f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    assert (ra.scope, ra.principal_id, ra.principal_type, ra.role_definition_id) == (scope, principal,
                                                                                     "ServicePrincipal", role_id)
    assert ra.created_on is not None
    # Idempotent: same name, same body.
    assert env.auth.role_assignments.create(scope, name, params).id == ra.id
    # Same (scope, principal, role) under another name: 409 RoleAssignmentExists, wire shape exactly as ARM.
    path = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}?api-version=2022-04-01"
    r = raw(env, "PUT", path, {"properties": {"roleDefinitionId": role_id, "principalId": principal}})
    assert r.status_code == 409
    assert r.json() == {"error": {"code": "RoleAssignmentExists", "message": "The role assignment already exists. "
                                  f"The ID of the existing role assignment is {name.replace('-', '')}."}}
    with pytest.raises(HttpResponseError) as exc:
        env.auth.role_assignments.create(scope, str(uuid.uuid4()), params)
    assert exc.value.status_code == 409 and error_of(exc)[0] == "RoleAssignmentExists"
    # Same name with another role: not an update ARM allows.
    other = RoleAssignmentCreateParameters(role_definition_id=role_id.replace(BLOB_CONTRIBUTOR, KV_SECRETS_USER),
                                           principal_id=principal)
    with pytest.raises(HttpResponseError) as exc:
        env.auth.role_assignments.create(scope, name, other)
    assert exc.value.status_code == 400 and error_of(exc)[0] == "RoleAssignmentUpdateNotPermitted"
    # Unknown role / non-guid name.
    bad_role = RoleAssignmentCreateParameters(role_definition_id=role_id.replace(BLOB_CONTRIBUTOR, str(uuid.uuid4())),
                                              principal_id=principal)
    with pytest.raises(HttpResponseError) as exc:
        env.auth.role_assignments.create(scope, str(uuid.uuid4()), bad_role)
    assert error_of(exc)[0] == "RoleDefinitionDoesNotExist"
    with pytest.raises(HttpResponseError) as exc:
        env.auth.role_assignments.create(scope, "not-a-guid", params)
    assert error_of(exc)[0] == "InvalidRoleAssignmentId"
    # The same principal+role at another scope (the resource group) is a different assignment.
    rg_ra = env.auth.role_assignments.create(env.rg_id, str(uuid.uuid4()), params)
    assert env.auth.role_assignments.get(scope, name).principal_id == principal
    # Listing: at the account with atScope() sees the account's and the RG's (inherited) assignment.
    at_scope = {a.id for a in env.auth.role_assignments.list_for_scope(scope, filter="atScope()")}
    assert at_scope == {ra.id, rg_ra.id}
    # At the RG: atScope() excludes the account's (below); without it, below is included.
    assert {a.id for a in env.auth.role_assignments.list_for_scope(env.rg_id, filter="atScope()")} == {rg_ra.id}
    assert {ra.id, rg_ra.id} <= {a.id for a in env.auth.role_assignments.list_for_scope(env.rg_id)}
    by_principal = list(env.auth.role_assignments.list_for_scope(
        f"/subscriptions/{env.sub}", filter=f"principalId eq '{principal}'"))
    assert {a.id for a in by_principal} == {ra.id, rg_ra.id}
    assert not list(env.auth.role_assignments.list_for_scope(scope, filter=f"principalId eq '{uuid.uuid4()}'"))
    assert {a.id for a in env.auth.role_assignments.list_for_resource_group(RG)} >= {ra.id, rg_ra.id}
    # Role assignments are not resources of the group.
    r = raw(env, "GET", f"{env.rg_id}/resources?api-version=2021-04-01")
    assert not [x for x in r.json()["value"] if "roleAssignments" in x["type"]]
    assert len(env.sb.arm.role_assignments(principal)) == 2
    # Delete: 200 with the assignment, then 404 / 204.
    deleted = env.auth.role_assignments.delete(scope, name)
    assert deleted.id == ra.id
    with pytest.raises(HttpResponseError) as exc:
        env.auth.role_assignments.get(scope, name)
    assert exc.value.status_code == 404
    assert env.auth.role_assignments.delete(scope, name) is None
    # After the delete the pair can be assigned again under a new name.
    env.auth.role_assignments.create(scope, str(uuid.uuid4()), params)


# --------------------------------------------------------------------------- key vaults

def test_key_vault_create_get_update_list(env):
    from azure.mgmt.keyvault.models import Sku, VaultCreateOrUpdateParameters, VaultProperties
    params = VaultCreateOrUpdateParameters(location="eastus", properties=VaultProperties(
        tenant_id=env.sb.tenant_id, sku=Sku(family="A", name="standard"), enable_rbac_authorization=True))
    vault = env.kv.vaults.begin_create_or_update(RG, "kvone", params).result()
    props = vault.properties
    assert vault.type == "Microsoft.KeyVault/vaults" and props.vault_uri == "https://kvone.vault.azure.net/"
    assert props.enable_rbac_authorization is True and props.access_policies == []
    assert props.provisioning_state == "Succeeded" and props.tenant_id == env.sb.tenant_id
    assert props.network_acls.default_action == "Allow" and props.public_network_access == "Enabled"
    # PATCH network rules.
    from azure.mgmt.keyvault.models import (IPRule, NetworkRuleSet, VaultPatchParameters,
                                            VaultPatchProperties)
    patched = env.kv.vaults.update(RG, "kvone", VaultPatchParameters(properties=VaultPatchProperties(
        network_acls=NetworkRuleSet(default_action="Deny", bypass="AzureServices",
                                    ip_rules=[IPRule(value="20.1.2.3")]), public_network_access="Enabled")))
    assert patched.properties.network_acls.default_action == "Deny"
    # Key Vault stores a single address as a /32 range.
    assert [r.value for r in patched.properties.network_acls.ip_rules] == ["20.1.2.3/32"]
    assert env.kv.vaults.get(RG, "kvone").properties.network_acls.ip_rules[0].value == "20.1.2.3/32"
    # Seeded vaults: RBAC and access-policy mode.
    env.sb.arm.add_key_vault(RG, "kvpolicy", rbac=False)
    assert env.kv.vaults.get(RG, "kvpolicy").properties.enable_rbac_authorization is False
    assert {"kvone", "kvpolicy"} <= {v.name for v in env.kv.vaults.list_by_resource_group(RG)}
    assert {"kvone", "kvpolicy"} <= {v.name for v in env.kv.vaults.list_by_subscription()}
    with pytest.raises(ResourceNotFoundError):
        env.kv.vaults.get(RG, "nokv")
    # enableRbacAuthorization left out: RBAC on create from api-version 2026-02-01, access policies before.
    body = {"location": "eastus",
            "properties": {"tenantId": env.sb.tenant_id, "sku": {"family": "A", "name": "standard"}}}
    vaults = f"{env.rg_id}/providers/Microsoft.KeyVault/vaults"
    new = raw(env, "PUT", f"{vaults}/kvdefnew?api-version=2026-02-01", body)
    old = raw(env, "PUT", f"{vaults}/kvdefold?api-version=2023-07-01", body)
    assert (new.status_code, old.status_code) == (201, 201)
    assert new.json()["properties"]["enableRbacAuthorization"] is True
    assert old.json()["properties"]["enableRbacAuthorization"] is False
    # An update with the new api-version keeps the vault's model.
    again = raw(env, "PUT", f"{vaults}/kvdefold?api-version=2026-02-01", body)
    assert again.status_code == 200 and again.json()["properties"]["enableRbacAuthorization"] is False


def test_key_vault_access_policies(env):
    from azure.mgmt.keyvault.models import (AccessPolicyEntry, AccessPolicyUpdateKind, Permissions,
                                            VaultAccessPolicyParameters, VaultAccessPolicyProperties)
    env.sb.arm.add_key_vault(RG, "kvpol2", rbac=False)
    oid = str(uuid.uuid4())

    def update(kind, perms):
        entry = AccessPolicyEntry(tenant_id=env.sb.tenant_id, object_id=oid, permissions=perms)
        return env.kv.vaults.update_access_policy(RG, "kvpol2", kind, VaultAccessPolicyParameters(
            properties=VaultAccessPolicyProperties(access_policies=[entry])))

    out = update(AccessPolicyUpdateKind.ADD, Permissions(secrets=["get", "list"]))
    assert [p.permissions.secrets for p in out.properties.access_policies] == [["get", "list"]]
    update(AccessPolicyUpdateKind.ADD, Permissions(secrets=["get", "set"], keys_property=["get"]))
    pol = env.kv.vaults.get(RG, "kvpol2").properties.access_policies
    assert len(pol) == 1 and pol[0].object_id == oid
    assert sorted(pol[0].permissions.secrets) == ["get", "list", "set"] and pol[0].permissions.keys_property == ["get"]
    update(AccessPolicyUpdateKind.REMOVE, Permissions(secrets=["set"]))
    assert sorted(env.kv.vaults.get(RG, "kvpol2").properties.access_policies[0].permissions.secrets) == ["get", "list"]
    update(AccessPolicyUpdateKind.REPLACE, Permissions(secrets=["get"]))
    pol = env.kv.vaults.get(RG, "kvpol2").properties.access_policies[0].permissions
    assert pol.secrets == ["get"] and pol.keys_property == []
    update(AccessPolicyUpdateKind.REMOVE, Permissions(secrets=["get"]))
    assert env.kv.vaults.get(RG, "kvpol2").properties.access_policies == []
    r = raw(env, "PUT", f"{env.rg_id}/providers/Microsoft.KeyVault/vaults/kvpol2/accessPolicies/merge"
                        "?api-version=2026-02-01", {"properties": {"accessPolicies": []}})
    assert r.status_code == 400


def test_api_versions_sent_by_the_sdks(env):
    seen = {}
    for e in env.sb.log.entries(0):
        path = e.get("path") or ""
        version = e.get("apiVersion")
        for key in ("userAssignedIdentities", "roleAssignments", "roleDefinitions", "Microsoft.KeyVault/vaults"):
            if key.lower() in path.lower() and version:
                seen.setdefault(key, set()).add(version)
    assert "2024-11-30" in seen["userAssignedIdentities"]
    assert "2022-04-01" in seen["roleAssignments"]
    assert "2022-05-01-preview" in seen["roleDefinitions"]
    assert "2026-02-01" in seen["Microsoft.KeyVault/vaults"]


# --------------------------------------------------------------------------- AKS add-on identity

def test_keyvault_secrets_provider_addon_and_workload_identity(env):
    cluster = env.aks.managed_clusters.get(RG, NODE_RG_CLUSTER)
    from azure.mgmt.containerservice.models import (ManagedClusterAddonProfile, ManagedClusterOIDCIssuerProfile,
                                                    ManagedClusterSecurityProfile,
                                                    ManagedClusterSecurityProfileWorkloadIdentity)
    cluster.addon_profiles = {"azureKeyvaultSecretsProvider": ManagedClusterAddonProfile(enabled=True)}
    cluster.oidc_issuer_profile = ManagedClusterOIDCIssuerProfile(enabled=True)
    cluster.security_profile = ManagedClusterSecurityProfile(
        workload_identity=ManagedClusterSecurityProfileWorkloadIdentity(enabled=True))
    done = env.aks.managed_clusters.begin_create_or_update(RG, NODE_RG_CLUSTER, cluster).result()
    addon = done.addon_profiles["azureKeyvaultSecretsProvider"]
    assert addon.enabled is True and addon.config == {"enableSecretRotation": "false", "rotationPollInterval": "2m"}
    name = f"azurekeyvaultsecretsprovider-{NODE_RG_CLUSTER}"
    node_rg = done.node_resource_group
    assert addon.identity.resource_id.lower().endswith(
        f"/resourcegroups/{node_rg}/providers/microsoft.managedidentity/userassignedidentities/{name}".lower())
    ident = env.msi.user_assigned_identities.get(node_rg, name)
    assert (addon.identity.client_id, addon.identity.object_id) == (ident.client_id, ident.principal_id)
    assert done.security_profile.workload_identity.enabled is True
    assert done.oidc_issuer_profile.issuer_url
    fetched = env.aks.managed_clusters.get(RG, NODE_RG_CLUSTER)
    assert fetched.security_profile.workload_identity.enabled is True
    assert fetched.addon_profiles["azureKeyvaultSecretsProvider"].identity.client_id == ident.client_id
    # Disabling the add-on drops its identity block.
    fetched.addon_profiles = {"azureKeyvaultSecretsProvider": ManagedClusterAddonProfile(enabled=False)}
    off = env.aks.managed_clusters.begin_create_or_update(RG, NODE_RG_CLUSTER, fetched).result()
    assert off.addon_profiles["azureKeyvaultSecretsProvider"].enabled is False
    assert off.addon_profiles["azureKeyvaultSecretsProvider"].identity is None


def test_server_seed_document(env, monkeypatch):
    from sandbox import server
    sb = Sandbox(RequestLog(), Faults())
    sb.arm = ArmState(sb)
    seeds = server.seed(sb, {}, ["a2V5", "a2V5"])
    assert set(seeds["identities"]) == {"sandbox-identity"}
    ident = sb.arm.get(seeds["identities"]["sandbox-identity"])
    assert ident["id"].lower().startswith(sb.arm.rg_id(server.CLUSTER_RG).lower() + "/")
    assert seeds["targets"]["keyvault"] == seeds["keyvaults"]["rbac"]
    assert seeds["targets"]["storage-blob"].endswith("/blobServices/default")
    assert sb.arm.get(seeds["keyvaults"]["rbac"])["properties"]["enableRbacAuthorization"] is True
    assert sb.arm.get(seeds["keyvaults"]["policy"])["properties"]["enableRbacAuthorization"] is False
    assert "/resourceGroups/sandbox-data-rg/" in seeds["keyvaults"]["policy"]
