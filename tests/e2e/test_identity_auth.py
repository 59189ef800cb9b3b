# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Workload identity, service principal and Key Vault CSI, end to end against the sandbox.

Tests that need a cluster in its first state (OIDC issuer, workload identity and the Key Vault add-on
off) make their own with the sandbox client, so the order of tests does not matter.
"""
import base64
import json
import subprocess
import uuid

import pytest

from tests.conftest import KUBECTL, az_subprocess
from tests.e2e.helpers import run

pytestmark = pytest.mark.e2e

BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KV_CERTIFICATE_USER = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"


def _identity(sandbox):
    return sandbox["seeds"]["identities"]["sandbox-identity"]


def _blob(sandbox):
    return sandbox["seeds"]["storage"]["storage-blob"]


def _create_blob(az, sandbox, cluster, name, *auth, namespace="default"):
    s = _blob(sandbox)
    return run(az, "aks", "connection", "create", "storage-blob", "-g", cluster["resourceGroup"], "-n",
               cluster["name"], "--tg", s["resourceGroup"], "--account", s["account"], "--connection", name,
               "--kube-namespace", namespace, "-o", "json", *auth)      # run: the recommendation lines too


def _secret(core, namespace, name):
    sec = core.read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (sec.data or {}).items()}


def _writes(sbc, mark):
    return [(e["method"], e["path"].split("?")[0]) for e in sbc.requests(since=mark) if e["mutating"]
            and "/_sandbox" not in e["path"]]


def _calls(sbc, mark):
    return [(e["plane"], e["method"], e["path"].split("?")[0]) for e in sbc.requests(since=mark)
            if "/_sandbox" not in e["path"] and "/msi/token" not in e["path"]
            and "metadata/endpoints" not in e["path"]]


def _tokens(sbc, mark):
    """How many access tokens the command fetched (the sandbox's managed identity endpoint)."""
    return len([e for e in sbc.requests(since=mark) if "/msi/token" in e["path"]])


def _arm_get(az, rid, api):
    res = az("resource", "show", "--ids", rid, "--api-version", api, "-o", "json")
    assert res.rc == 0, res
    return res.json


def _role_assignments(az, scope, principal):
    res = az("rest", "--method", "get", "--url",
             f"{scope}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01"
             f"&$filter=principalId eq '{principal}'")
    assert res.rc == 0, res
    return [a for a in res.json["value"] if a["properties"]["scope"].lower() == scope.lower()]


def test_workload_identity_first_run_then_rerun_writes_nothing(az, sandbox, sbc, fresh_cluster):
    cluster, core = fresh_cluster, fresh_cluster["core"]
    # An identity of this test's own: what other tests granted the shared one does not count here.
    made = az("identity", "create", "-g", "sandbox-rg", "-n", "wi-" + uuid.uuid4().hex[:8], "-o", "json")
    assert made.rc == 0, made
    identity_id = made.json["id"]
    ident = _arm_get(az, identity_id, "2023-01-31")
    client_id, principal = ident["properties"]["clientId"], ident["properties"]["principalId"]
    account_id = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices/", 1)[0]

    mark = sbc.mark()
    res = _create_blob(az, sandbox, cluster, "wi_blob", "--workload-identity", identity_id,
                       namespace="apps")
    assert res.rc == 0, res
    out = res.json
    assert out["authInfo"]["authType"] == "userAssignedIdentity"
    assert out["authInfo"]["clientId"] == client_id
    assert out["authInfo"]["subscriptionId"] == sandbox["seeds"]["subscription"]
    sa = f"sc-account-{client_id}"
    assert out["kubernetesResourceName"] == {"secret": "sc-wiblob-secret", "serviceAccount": sa}
    first = _calls(sbc, mark)
    writes = _writes(sbc, mark)
    # One token for the whole command (az makes a credential per client; we share one).
    assert _tokens(sbc, mark) == 1

    # The cluster: one update turned on the OIDC issuer and workload identity.
    assert [w for w in writes if w[1] == cluster["id"]] == [("PUT", cluster["id"])]
    shown = az("aks", "show", "-g", cluster["resourceGroup"], "-n", cluster["name"], "-o", "json").json
    assert shown["oidcIssuerProfile"]["enabled"] is True
    assert shown["securityProfile"]["workloadIdentity"]["enabled"] is True
    issuer = shown["oidcIssuerProfile"]["issuerUrl"]
    assert issuer.startswith("https://")

    # The identity trusts exactly this cluster's ServiceAccount.
    fics = az("rest", "--method", "get", "--url", identity_id +
              "/federatedIdentityCredentials?api-version=2023-01-31").json["value"]
    mine = [f for f in fics if f["properties"]["issuer"] == issuer]
    assert len(mine) == 1, fics
    assert mine[0]["properties"]["subject"] == f"system:serviceaccount:apps:{sa}"
    assert mine[0]["properties"]["audiences"] == ["api://AzureADTokenExchange"]

    # The identity holds Storage Blob Data Contributor on the account.
    roles = _role_assignments(az, account_id, principal)
    assert [r["properties"]["roleDefinitionId"].split("/")[-1] for r in roles] == [BLOB_CONTRIBUTOR]

    # The ServiceAccount, annotated for the workload identity webhook, and the Secret with endpoint + client id.
    account = core.read_namespaced_service_account(sa, "apps")
    assert account.metadata.annotations["azure.workload.identity/client-id"] == client_id
    assert account.metadata.annotations["azure.workload.identity/tenant-id"] == sandbox["seeds"]["tenant"]
    values = _secret(core, "apps", "sc-wiblob-secret")
    assert values == {"AZURE_STORAGEBLOB_RESOURCEENDPOINT": _blob_endpoint(az, account_id),
                      "AZURE_STORAGEBLOB_CLIENTID": client_id}
    # No key was read for an identity connection.
    assert not [c for c in first if c[2].endswith("/listKeys")]

    # The same command again: reads only. No cluster, federated credential, role or Kubernetes write.
    mark = sbc.mark()
    again = _create_blob(az, sandbox, cluster, "wi_blob", "--workload-identity", identity_id,
                         namespace="apps")
    assert again.rc == 0, again
    assert _writes(sbc, mark) == []
    assert _tokens(sbc, mark) == 1
    rerun = _calls(sbc, mark)
    print("FIRST RUN", len(first), json.dumps(first, indent=0))
    print("RE-RUN", len(rerun), json.dumps(rerun, indent=0))

    # A second connection of the same identity in the same namespace reuses every grant.
    mark = sbc.mark()
    other = _create_blob(az, sandbox, cluster, "wi_blob_two", "--workload-identity", identity_id,
                         namespace="apps")
    assert other.rc == 0, other
    writes = _writes(sbc, mark)
    assert not [w for w in writes if "roleAssignments" in w[1] or "federatedIdentityCredentials" in w[1]
                or w[1] == cluster["id"] or "serviceaccounts" in w[1]], writes
    assert any(w[1].endswith("/namespaces/apps/secrets") for w in writes), writes


def test_workload_identity_lists_the_credentials_again_as_the_update_ends(az, sandbox, sbc, faults, fresh_cluster):
    """After the cluster update (a wait) the identity's federated credentials are listed again, once, and that
    list goes out as soon as a poll finds the update succeeded: alongside the SDK's final GET of the cluster, not
    after it (one ARM round trip off the critical path). The final GET is made slow here, so "alongside" shows."""
    cluster = fresh_cluster
    faults(plane="arm", method="GET", path=rf"/managedClusters/{cluster['name']}(\?|$)", latency=0.5)
    mark = sbc.mark()
    res = _create_blob(az, sandbox, cluster, "wi_early", "--workload-identity", _identity(sandbox))
    assert res.rc == 0, res
    log = sbc.requests(since=mark)
    put = next(e for e in log if e["method"] == "PUT" and e["path"].split("?")[0] == cluster["id"])
    polls = [e for e in log if e["method"] == "GET" and "/operations/" in e["path"] and e["start"] > put["start"]]
    final = next(e for e in log if e["method"] == "GET" and e["path"].split("?")[0] == cluster["id"]
                 and e["start"] > put["start"])
    listed = [e for e in log if e["method"] == "GET" and e["start"] > put["start"]
              and e["path"].split("?")[0].endswith("/federatedIdentityCredentials")]
    assert len(listed) == 1, listed
    assert polls and listed[0]["start"] >= polls[-1]["time"]          # after the poll that saw the end
    assert listed[0]["start"] < final["time"] - 0.3, (listed[0], final)   # while the final GET was answered
    fic_put = next(e for e in log if e["method"] == "PUT" and "/federatedIdentityCredentials/" in e["path"])
    assert fic_put["start"] > final["time"]            # the credential itself: once the issuer URL is known


def _blob_endpoint(az, account_id):
    return _arm_get(az, account_id, "2023-05-01")["properties"]["primaryEndpoints"]["blob"]


def test_workload_identity_show_list_configuration_and_delete(az, sandbox, kube):
    c = sandbox["seeds"]["cluster"]
    # An identity and a namespace of its own: no other connection shares its ServiceAccount or role assignment,
    # so delete names them for removal.
    ident = az("identity", "create", "-g", "sandbox-rg", "-n", "show-" + uuid.uuid4().hex[:6], "-o", "json").json
    res = _create_blob(az, sandbox, c, "wi_show", "--workload-identity", ident["id"], "--client-type",
                       "springBoot", namespace="wi-show")
    assert res.rc == 0, res
    cfg = az("aks", "connection", "list-configuration", "-g", c["resourceGroup"], "-n", c["name"],
             "--connection", "wi_show", "-o", "json").json["configurations"]
    by_name = {i["name"]: i["value"] for i in cfg}
    assert by_name["spring.cloud.azure.storage.blob.credential.managed-identity-enabled"] == "true"
    assert by_name["spring.cloud.azure.storage.blob.credential.client-id"] == res.json["authInfo"]["clientId"]
    assert by_name["spring.cloud.azure.storage.blob.account-name"] == _blob(sandbox)["account"]
    shown = az("aks", "connection", "show", "-g", c["resourceGroup"], "-n", c["name"], "--connection", "wi_show",
               "-o", "json").json
    assert shown["authInfo"]["authType"] == "userAssignedIdentity"
    sa = shown["kubernetesResourceName"]["serviceAccount"]
    deleted = az("aks", "connection", "delete", "-g", c["resourceGroup"], "-n", c["name"], "--connection",
                 "wi_show", "--yes")
    assert deleted.rc == 0, deleted
    assert f"kubectl delete serviceaccount {sa} -n wi-show" in deleted.log
    assert "kubectl delete secret sc-wishow-secret -n wi-show" in deleted.log
    assert "az role assignment delete --ids" in deleted.log
    # Kept in the cluster (M-K3).
    assert kube.read_namespaced_service_account(sa, "wi-show").metadata.name == sa


def test_workload_identity_refuses_the_kubelet_identity_before_any_write(az, sandbox, sbc):
    c = sandbox["seeds"]["cluster"]
    kubelet = az("aks", "show", "-g", c["resourceGroup"], "-n", c["name"], "--query",
                 "identityProfile.kubeletidentity.resourceId", "-o", "tsv").out.strip()
    mark = sbc.mark()
    res = _create_blob(az, sandbox, c, "kubelet_blob", "--workload-identity", kubelet)
    assert res.rc != 0
    assert "kubelet identity" in res.log and "federated identity credentials do not work" in res.log
    assert f"az identity create -g {c['resourceGroup']} -n {c['name']}-workload" in res.log     # real names
    assert _writes(sbc, mark) == []


@pytest.mark.parametrize("value, message", [
    ("/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
     "Invalid user identity resource ID"),
    ("not-an-id", "Invalid user identity resource ID"),
])
def test_workload_identity_bad_id_fails_before_any_request(az, sandbox, sbc, value, message):
    c = sandbox["seeds"]["cluster"]
    mark = sbc.mark()
    res = _create_blob(az, sandbox, c, "bad_wi", "--workload-identity", value)
    assert res.rc in (1, 2), res
    assert message in res.log
    assert _calls(sbc, mark) == []


def test_workload_identity_missing_identity_writes_nothing(az, sandbox, sbc):
    c = sandbox["seeds"]["cluster"]
    missing = _identity(sandbox).rsplit("/", 1)[0] + "/no-such-identity"
    mark = sbc.mark()
    res = _create_blob(az, sandbox, c, "missing_wi", "--workload-identity", missing)
    assert res.rc == 3, res
    assert "no-such-identity" in res.log and "was not found" in res.log
    sub, rg = missing.split("/")[2], missing.split("/")[4]
    assert f"az identity create --subscription {sub} -g {rg} -n no-such-identity" in res.log, res
    assert _writes(sbc, mark) == []


def test_role_override_by_name_and_unknown_role(az, sandbox, sbc, fresh_cluster):
    account_id = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices/", 1)[0]
    # A role name that is not in the table is looked up; an unknown one fails before any write.
    mark = sbc.mark()
    bad = _create_blob(az, sandbox, fresh_cluster, "role_bad", "--workload-identity", _identity(sandbox),
                       "--role", "No Such Role")
    assert bad.rc != 0 and "Role 'No Such Role' does not exist" in bad.log, bad
    assert _writes(sbc, mark) == []

    res = _create_blob(az, sandbox, fresh_cluster, "role_reader", "--workload-identity", _identity(sandbox),
                       "--role", "Storage Blob Data Reader")
    assert res.rc == 0, res
    assert res.json["authInfo"]["roles"] == ["Storage Blob Data Reader"]
    principal = _arm_get(az, _identity(sandbox), "2023-01-31")["properties"]["principalId"]
    assigned = _role_assignments(az, account_id, principal)
    granted = {r["properties"]["roleDefinitionId"].split("/")[-1] for r in assigned}
    assert BLOB_READER in granted


def test_role_by_a_name_the_table_lacks_is_looked_up_and_granted(az, sandbox, sbc, fresh_cluster):
    """A built-in role the extension's table does not list is found by name (one roleDefinitions listing with a
    roleName filter, at the scope) and granted under the id Azure gives it."""
    from azext_aks_connection.targets import BUILTIN_ROLES
    role = "Azure Kubernetes Service RBAC Reader"
    assert role not in BUILTIN_ROLES
    account_id = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices/", 1)[0]
    made = az("identity", "create", "-g", "sandbox-rg", "-n", "lookup-" + uuid.uuid4().hex[:6], "-o", "json")
    assert made.rc == 0, made
    mark = sbc.mark()
    res = _create_blob(az, sandbox, fresh_cluster, "role_lookup", "--workload-identity", made.json["id"],
                       "--role", role)
    assert res.rc == 0, res
    lookups = [e for e in sbc.requests(since=mark) if e["path"].lower().endswith("/roledefinitions")]
    assert [(e["method"], e["status"], e["path"].lower(), e["query"].get("$filter")) for e in lookups] == [
        ("GET", 200, f"{account_id}/providers/Microsoft.Authorization/roleDefinitions".lower(),
         f"roleName eq '{role}'")]
    assigned = _role_assignments(az, account_id, made.json["principalId"])
    listed = az("role", "definition", "list", "--name", role, "-o", "json")
    assert listed.rc == 0 and len(listed.json) == 1, listed
    assert [a["properties"]["roleDefinitionId"].split("/")[-1] for a in assigned] == [listed.json[0]["name"]]
    assert res.json["authInfo"]["roles"] == [role]


def test_service_principal_secret_in_cluster_only(az, sandbox, sbc, kube, tmp_path):
    c = sandbox["seeds"]["cluster"]
    client_id, object_id = str(uuid.uuid4()), str(uuid.uuid4())
    secret = "Sp-" + uuid.uuid4().hex
    secret_file = tmp_path / "sp-secret.txt"
    secret_file.write_text(secret + "\n")
    s = _blob(sandbox)
    proc = az_subprocess("aks", "connection", "create", "storage-blob", "-g", c["resourceGroup"], "-n", c["name"],
                         "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "sp_blob",
                         "--service-principal", f"client-id={client_id}", f"secret=@{secret_file}",
                         f"object-id={object_id}", "-o", "json", "--debug")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Read from the file: the secret is nowhere in the output or the debug log.
    assert secret not in proc.stdout and secret not in proc.stderr
    out = json.loads(proc.stdout)
    assert out["authInfo"]["authType"] == "servicePrincipalSecret"
    assert out["authInfo"]["clientId"] == client_id and out["authInfo"]["principalId"] == object_id
    cfg = {i["name"]: i["value"] for i in out["configurations"]}
    assert cfg == {"AZURE_STORAGEBLOB_RESOURCEENDPOINT": cfg["AZURE_STORAGEBLOB_RESOURCEENDPOINT"],
                   "AZURE_STORAGEBLOB_CLIENTID": client_id, "AZURE_STORAGEBLOB_CLIENTSECRET": "",
                   "AZURE_STORAGEBLOB_TENANTID": sandbox["seeds"]["tenant"]}
    values = _secret(kube, "default", "sc-spblob-secret")
    assert values["AZURE_STORAGEBLOB_CLIENTSECRET"] == secret
    assert values["AZURE_STORAGEBLOB_CLIENTID"] == client_id
    # The role went to the service principal's object id.
    account_id = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices/", 1)[0]
    roles = _role_assignments(az, account_id, object_id)
    assert [r["properties"]["roleDefinitionId"].split("/")[-1] for r in roles] == [BLOB_CONTRIBUTOR]
    # The record (its ConfigMap in the store namespace) does not hold the secret either.
    stored = [cm.data["connection.json"] for cm in kube.list_namespaced_config_map(
        "aks-connection", label_selector="aks-connection/record=v1").items]
    assert any('"name":"sp_blob"' in text for text in stored) and not any(secret in text for text in stored)
    # Re-run with the secret inline: no role-assignment or Kubernetes write. The CLI core echoes its command
    # line under --debug before any extension runs; apart from that one line, the secret is never logged.
    mark = sbc.mark()
    again = az_subprocess("aks", "connection", "create", "storage-blob", "-g", c["resourceGroup"], "-n", c["name"],
                          "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "sp_blob",
                          "--service-principal", f"client-id={client_id}", f"secret={secret}",
                          f"object-id={object_id}", "-o", "json", "--debug")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _writes(sbc, mark) == []
    leaks = [line for line in (again.stdout + again.stderr).splitlines() if secret in line]
    assert len(leaks) == 1 and "Command arguments:" in leaks[0], leaks


@pytest.mark.parametrize("args, message", [
    (["secret=x"], "--service-principal needs client-id=XX"),
    (["client-id=00000000-0000-0000-0000-000000000001"], "--service-principal needs secret=XX"),
    (["client-id=abc", "secret=x"], "client-id must be a GUID"),
    (["clientid=00000000-0000-0000-0000-000000000001", "secret=x"], "Invalid value for --service-principal"),
])
def test_service_principal_bad_values_fail_before_any_request(az, sandbox, sbc, args, message):
    c = sandbox["seeds"]["cluster"]
    mark = sbc.mark()
    res = _create_blob(az, sandbox, c, "sp_bad", "--service-principal", *args)
    assert res.rc != 0 and message in res.log, res
    assert _calls(sbc, mark) == []


def test_service_principal_without_object_id_grants_nothing_and_says_how(az, sandbox, sbc):
    c = sandbox["seeds"]["cluster"]
    mark = sbc.mark()
    res = _create_blob(az, sandbox, c, "sp_noobj", "--service-principal", f"client-id={uuid.uuid4()}",
                       "secret=abc")
    assert res.rc == 0, res
    assert "no role is granted" in res.log and "az role assignment create" in res.log
    assert not [w for w in _writes(sbc, mark) if "roleAssignments" in w[1]]


def _create_kv(az, cluster, vault_id, name, *extra):
    return az("aks", "connection", "create", "keyvault", "-g", cluster["resourceGroup"], "-n", cluster["name"],
              "--target-id", vault_id, "--connection", name, "-o", "json", *extra)


def test_keyvault_csi_rbac_vault_first_run_then_rerun(az, sandbox, sbc, fresh_cluster):
    cluster, core = fresh_cluster, fresh_cluster["core"]
    vault = sandbox["seeds"]["keyvaults"]["rbac"]
    # An auth argument given with --enable-csi is refused before any request (the add-on's identity is used).
    mark = sbc.mark()
    refused = _create_kv(az, cluster, vault, "kv_csi", "--enable-csi", "--workload-identity", _identity(sandbox))
    assert refused.rc != 0, refused
    assert "--enable-csi uses the managed identity of the AKS azureKeyvaultSecretsProvider add-on" in refused.log
    assert sbc.requests(since=mark) == []
    mark = sbc.mark()
    res = _create_kv(az, cluster, vault, "kv_csi", "--enable-csi")
    assert res.rc == 0, res
    writes = _writes(sbc, mark)
    assert [w for w in writes if w[1] == cluster["id"]] == [("PUT", cluster["id"])]
    shown = az("aks", "show", "-g", cluster["resourceGroup"], "-n", cluster["name"], "-o", "json").json
    addon = shown["addonProfiles"]["azureKeyvaultSecretsProvider"]
    assert addon["enabled"] is True
    addon_client, addon_object = addon["identity"]["clientId"], addon["identity"]["objectId"]
    out = res.json
    assert out["targetService"]["resourceProperties"] == {"type": "KeyVault", "connectAsKubernetesCsiDriver": True,
                                                          "additionalProperties": {}}    # the SDK model's shape
    assert out["authInfo"]["authType"] == "userAssignedIdentity"
    assert out["kubernetesResourceName"] == {"secret": "sc-kvcsi-secret"}
    cfg = {i["name"]: i["value"] for i in out["configurations"]}
    assert cfg == {"AZURE_KEYVAULT_NAME": "sandboxkvrbac",
                   "AZURE_KEYVAULT_RESOURCEENDPOINT": "https://sandboxkvrbac.vault.azure.net/",
                   "AZURE_KEYVAULT_TENANTID": sandbox["seeds"]["tenant"],
                   "AZURE_KEYVAULT_CLIENTID": addon_client,
                   "AZURE_KEYVAULT_SCOPE": "https://management.azure.com/.default"}
    assert _secret(core, "default", "sc-kvcsi-secret") == cfg
    roles = _role_assignments(az, vault, addon_object)
    assert sorted(r["properties"]["roleDefinitionId"].split("/")[-1] for r in roles) == \
        sorted([KV_SECRETS_USER, KV_CERTIFICATE_USER])
    assert not [w for w in writes if "serviceaccounts" in w[1] or "federatedIdentityCredentials" in w[1]]

    mark = sbc.mark()
    again = _create_kv(az, cluster, vault, "kv_csi", "--enable-csi")
    assert again.rc == 0, again
    assert _writes(sbc, mark) == []


def test_keyvault_csi_access_policy_vault(az, sandbox, sbc, fresh_cluster):
    cluster = fresh_cluster
    vault = sandbox["seeds"]["keyvaults"]["policy"]
    res = _create_kv(az, cluster, vault, "kv_policy", "--enable-csi")
    assert res.rc == 0, res
    addon = az("aks", "show", "-g", cluster["resourceGroup"], "-n", cluster["name"], "-o", "json").json[
        "addonProfiles"]["azureKeyvaultSecretsProvider"]["identity"]
    policies = _arm_get(az, vault, "2023-07-01")["properties"]["accessPolicies"]
    mine = [p for p in policies if p["objectId"] == addon["objectId"]]
    assert len(mine) == 1 and "get" in mine[0]["permissions"]["secrets"]
    assert _role_assignments(az, vault, addon["objectId"]) == []
    mark = sbc.mark()
    again = _create_kv(az, cluster, vault, "kv_policy", "--enable-csi")
    assert again.rc == 0, again
    assert _writes(sbc, mark) == []


def test_keyvault_workload_identity(az, sandbox, kube):
    c = sandbox["seeds"]["cluster"]
    vault = sandbox["seeds"]["keyvaults"]["rbac"]
    res = _create_kv(az, c, vault, "kv_wi", "--workload-identity", _identity(sandbox), "--client-type", "python")
    assert res.rc == 0, res
    values = _secret(kube, "default", "sc-kvwi-secret")
    assert values["AZURE_KEYVAULT_RESOURCEENDPOINT"] == "https://sandboxkvrbac.vault.azure.net/"
    assert values["AZURE_KEYVAULT_CLIENTID"] == res.json["authInfo"]["clientId"]
    principal = _arm_get(az, _identity(sandbox), "2023-01-31")["properties"]["principalId"]
    assert {KV_SECRETS_USER, KV_CERTIFICATE_USER} <= {r["properties"]["roleDefinitionId"].split("/")[-1]
                                                      for r in _role_assignments(az, vault, principal)}


def test_keyvault_workload_identity_on_an_access_policy_vault_gets_a_policy_not_a_role(az, sandbox, sbc):
    """Key Vault in access-policy mode ignores Azure roles on its data: the identity gets an access policy (once),
    validate checks that policy, and a removed policy fails validate with the command that adds it back."""
    c = sandbox["seeds"]["cluster"]
    vault = sandbox["seeds"]["keyvaults"]["policy"]
    ident = az("identity", "create", "-g", "sandbox-rg", "-n", "kvpol-" + uuid.uuid4().hex[:6], "-o", "json").json
    mark = sbc.mark()
    res = _create_kv(az, c, vault, "kv_wi_policy", "--workload-identity", ident["id"], "--kube-namespace", "kvpol")
    assert res.rc == 0, res
    writes = _writes(sbc, mark)
    assert ("PUT", vault + "/accessPolicies/add") in writes, writes
    assert not [w for w in writes if "roleAssignments" in w[1]], writes
    policies = _arm_get(az, vault, "2023-07-01")["properties"]["accessPolicies"]
    mine = [p for p in policies if p["objectId"] == ident["principalId"]]
    assert len(mine) == 1 and {"get", "list"} <= set(mine[0]["permissions"]["secrets"]), mine
    assert _role_assignments(az, vault, ident["principalId"]) == []

    mark = sbc.mark()
    assert _create_kv(az, c, vault, "kv_wi_policy", "--workload-identity", ident["id"], "--kube-namespace",
                      "kvpol").rc == 0
    assert _writes(sbc, mark) == []                                   # the policy is there: nothing written

    conn = c["id"] + "/providers/Microsoft.ServiceLinker/linkers/kv_wi_policy"
    checked = az("aks", "connection", "validate", "--id", conn, "-o", "json")
    assert checked.rc == 0, checked.json
    perms = {r["name"]: r for r in checked.json}["Identity permissions"]
    assert perms["result"] == "success", perms
    body = {"properties": {"accessPolicies": mine}}
    assert az("rest", "--method", "put", "--url", f"{vault}/accessPolicies/remove?api-version=2023-07-01",
              "--body", json.dumps(body)).rc == 0
    checked = az("aks", "connection", "validate", "--id", conn, "-o", "json")
    assert checked.rc == 1, checked
    perms = {r["name"]: r for r in checked.json}["Identity permissions"]
    assert perms["errorCode"] == "AccessPolicyMissing" and "the workload cannot read them" in perms["errorMessage"]
    assert "az keyvault set-policy" in perms["recommendation"] and ident["principalId"] in perms["recommendation"]


def test_keyvault_without_auth_says_which_to_choose(az, sandbox, sbc):
    c = sandbox["seeds"]["cluster"]
    mark = sbc.mark()
    res = _create_kv(az, c, sandbox["seeds"]["keyvaults"]["rbac"], "kv_none")
    assert res.rc != 0
    assert "--workload-identity" in res.log and "--enable-csi" in res.log
    assert _calls(sbc, mark) == []


def test_real_kubectl_sees_the_annotated_service_account(az, sandbox, kube):
    c = sandbox["seeds"]["cluster"]
    res = _create_blob(az, sandbox, c, "wi_kubectl", "--workload-identity", _identity(sandbox),
                       namespace="kubectl-wi")
    assert res.rc == 0, res
    sa = res.json["kubernetesResourceName"]["serviceAccount"]
    out = subprocess.run([KUBECTL, "--kubeconfig", kube.kubeconfig_path, "get", "serviceaccount", sa, "-n",
                          "kubectl-wi", "-o", "json"], capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["metadata"]["annotations"]["azure.workload.identity/client-id"] == \
        res.json["authInfo"]["clientId"]


def test_workload_identity_waits_for_a_busy_cluster_then_updates_it(az, sandbox, sbc, fresh_cluster):
    """The cluster is in the middle of another operation (Updating): the create waits for it to finish, with a
    progress line, then makes its own update; it does not fail with an opaque Conflict."""
    import os
    import time
    from tests.conftest import AZ
    cluster = fresh_cluster
    hold = f"clusters/{cluster['resourceGroup']}/{cluster['name']}/provisioning-state"
    sbc.arm("PUT", hold, {"provisioningState": "Updating"})
    mark = sbc.mark()
    s = _blob(sandbox)
    proc = subprocess.Popen([AZ, "aks", "connection", "create", "storage-blob", "-g", cluster["resourceGroup"],
                             "-n", cluster["name"], "--tg", s["resourceGroup"], "--account", s["account"],
                             "--connection", "busy_wi", "--workload-identity", _identity(sandbox), "-o", "json",
                             "--verbose"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        # Wait until the create has seen the busy cluster twice (its first read and one wait poll).
        while time.monotonic() < deadline:
            gets = [e for e in sbc.requests(since=mark) if e["method"] == "GET"
                    and e["path"].split("?")[0] == cluster["id"]]
            if len(gets) >= 2:
                break
            time.sleep(0.2)
        assert len(gets) >= 2, "the create never read the cluster"
        assert not [w for w in _writes(sbc, mark) if w[1] == cluster["id"]], "wrote while the cluster was busy"
    finally:
        sbc.arm("DELETE", hold)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert "another operation runs on it" in err and "Waiting for it" in err
    assert [w for w in _writes(sbc, mark) if w[1] == cluster["id"]] == [("PUT", cluster["id"])]
    assert json.loads(out)["kubernetesResourceName"]["serviceAccount"].startswith("sc-account-")


def test_redis_workload_identity_gets_an_access_policy_not_a_role(az, sandbox, sbc, kube):
    c = sandbox["seeds"]["cluster"]
    cache_id = sandbox["seeds"]["targets"]["redis"].split("/databases/")[0]
    principal = _arm_get(az, _identity(sandbox), "2023-01-31")["properties"]["principalId"]
    res = az("aks", "connection", "create", "redis", "-g", c["resourceGroup"], "-n", c["name"], "--target-id",
             sandbox["seeds"]["targets"]["redis"], "--connection", "redis_wi", "--workload-identity",
             _identity(sandbox), "-o", "json")
    assert res.rc == 0, res
    cache = _arm_get(az, cache_id, "2024-11-01")
    assert cache["properties"]["redisConfiguration"]["aad-enabled"].lower() == "true"
    assignments = az("rest", "--method", "get", "--url",
                     cache_id + "/accessPolicyAssignments?api-version=2024-11-01").json["value"]
    mine = [a for a in assignments if a["properties"]["objectId"] == principal]
    assert len(mine) == 1 and mine[0]["properties"]["accessPolicyName"] == "Data Owner"
    assert _role_assignments(az, cache_id, principal) == []
    mark = sbc.mark()
    again = az("aks", "connection", "create", "redis", "-g", c["resourceGroup"], "-n", c["name"], "--target-id",
               sandbox["seeds"]["targets"]["redis"], "--connection", "redis_wi", "--workload-identity",
               _identity(sandbox), "-o", "json")
    assert again.rc == 0, again
    assert _writes(sbc, mark) == []

    # validate checks the assignment; removed, it fails, and the az command it recommends adds it back.
    conn = c["id"] + "/providers/Microsoft.ServiceLinker/linkers/redis_wi"
    checked = az("aks", "connection", "validate", "--id", conn, "-o", "json")
    assert checked.rc == 0, checked.json
    perms = {r["name"]: r for r in checked.json}["Identity permissions"]
    assert perms["result"] == "success"
    parts = cache_id.split("/")
    removed = az("redis", "access-policy-assignment", "delete", "--subscription", parts[2], "-g", parts[4], "-n",
                 parts[-1], "--policy-assignment-name", mine[0]["name"])
    assert removed.rc == 0, removed
    checked = az("aks", "connection", "validate", "--id", conn, "-o", "json")
    perms = {r["name"]: r for r in checked.json}["Identity permissions"]
    assert checked.rc == 1 and perms["errorCode"] == "AccessPolicyAssignmentMissing", checked.json
    assert principal in perms["errorMessage"]
    by_hand = perms["recommendation"].split("; or: ", 1)[1]
    import shlex
    assert az(*shlex.split(by_hand)[1:]).rc == 0
    assert az("aks", "connection", "validate", "--id", conn, "-o", "json").rc == 0
