# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`update <target>`, `--customized-keys` and `--opt-out`, end to end against the sandbox."""
import base64

import pytest

pytestmark = pytest.mark.e2e


def _blob(sandbox):
    return sandbox["seeds"]["storage"]["storage-blob"]


def _create(az, sandbox, name, *extra, namespace="default"):
    c, s = sandbox["seeds"]["cluster"], _blob(sandbox)
    return az("aks", "connection", "create", "storage-blob", "-g", c["resourceGroup"], "-n", c["name"],
              "--tg", s["resourceGroup"], "--account", s["account"], "--connection", name,
              "--kube-namespace", namespace, "-o", "json", *extra)


def _update(az, sandbox, name, *extra):
    c = sandbox["seeds"]["cluster"]
    return az("aks", "connection", "update", "storage-blob", "-g", c["resourceGroup"], "-n", c["name"],
              "--connection", name, "-o", "json", *extra)


def _secret_keys(kube, namespace, name):
    return sorted((kube.read_namespaced_secret(name, namespace).data or {}))


def _writes(sbc, mark):
    return [(e["method"], e["path"].split("?")[0]) for e in sbc.requests(since=mark) if e["mutating"]
            and "/_sandbox" not in e["path"]]


def test_update_keeps_the_namespace_and_changes_the_keys(az, sandbox, kube, sbc):
    assert _create(az, sandbox, "upd_blob", "--secret", namespace="upd-ns").rc == 0
    res = _update(az, sandbox, "upd_blob", "--client-type", "springBoot")
    assert res.rc == 0, res
    assert res.json["scope"] == "upd-ns"          # the built-in would have moved it to 'default'
    assert res.json["clientType"] == "springBoot"
    keys = _secret_keys(kube, "upd-ns", "sc-updblob-secret")
    assert "spring.cloud.azure.storage.blob.account-key" in keys
    assert "AZURE_STORAGEBLOB_CONNECTIONSTRING" not in keys
    shown = az("aks", "connection", "show", "-g", sandbox["seeds"]["cluster"]["resourceGroup"], "-n",
               sandbox["seeds"]["cluster"]["name"], "--connection", "upd_blob", "-o", "json").json
    assert shown["clientType"] == "springBoot" and shown["scope"] == "upd-ns"
    # The same update again writes nothing.
    mark = sbc.mark()
    assert _update(az, sandbox, "upd_blob", "--client-type", "springBoot").rc == 0
    assert _writes(sbc, mark) == []


def test_update_to_workload_identity(az, sandbox, kube):
    assert _create(az, sandbox, "upd_wi", "--secret").rc == 0
    identity = sandbox["seeds"]["identities"]["sandbox-identity"]
    res = _update(az, sandbox, "upd_wi", "--workload-identity", identity)
    assert res.rc == 0, res
    assert res.json["authInfo"]["authType"] == "userAssignedIdentity"
    assert _secret_keys(kube, "default", "sc-updwi-secret") == ["AZURE_STORAGEBLOB_CLIENTID",
                                                                "AZURE_STORAGEBLOB_RESOURCEENDPOINT"]
    # A later update that names no auth keeps workload identity.
    again = _update(az, sandbox, "upd_wi", "--client-type", "python")
    assert again.rc == 0, again
    assert again.json["authInfo"]["authType"] == "userAssignedIdentity"
    assert again.json["kubernetesResourceName"]["serviceAccount"].startswith("sc-account-")


@pytest.mark.parametrize("args, message, rc", [
    ([], "Either client type or auth info should be specified to update", 2),
    (["--client-type", "python", "--kube-namespace", "elsewhere"], "cannot change", 1),
])
def test_update_refusals_write_nothing(az, sandbox, sbc, args, message, rc):
    assert _create(az, sandbox, "upd_refuse", "--secret").rc == 0
    mark = sbc.mark()
    res = _update(az, sandbox, "upd_refuse", *args)
    assert res.rc != 0 and message in res.log, res
    assert _writes(sbc, mark) == []


def test_update_of_a_missing_connection_is_not_found(az, sandbox):
    res = _update(az, sandbox, "no_such_connection", "--client-type", "python")
    assert res.rc == 3 and "was not found" in res.log, res


def test_update_of_a_service_principal_needs_the_secret_again(az, sandbox, sbc):
    import uuid
    assert _create(az, sandbox, "upd_sp", "--service-principal", f"client-id={uuid.uuid4()}", "secret=x").rc == 0
    mark = sbc.mark()
    res = _update(az, sandbox, "upd_sp", "--client-type", "python")
    assert res.rc != 0 and "--service-principal" in res.log, res
    assert _writes(sbc, mark) == []


def test_customized_keys_rename_and_survive_an_update(az, sandbox, kube):
    res = _create(az, sandbox, "ck_blob", "--secret", "--customized-keys",
                  "AZURE_STORAGEBLOB_CONNECTIONSTRING=BLOB_CONN")
    assert res.rc == 0, res
    assert [c["name"] for c in res.json["configurations"]] == ["BLOB_CONN"]
    assert res.json["configurationInfo"]["customizedKeys"] == {"AZURE_STORAGEBLOB_CONNECTIONSTRING": "BLOB_CONN"}
    assert _secret_keys(kube, "default", "sc-ckblob-secret") == ["BLOB_CONN"]
    value = base64.b64decode(kube.read_namespaced_secret("sc-ckblob-secret", "default").data["BLOB_CONN"]).decode()
    assert "AccountKey=" in value
    upd = _update(az, sandbox, "ck_blob", "--client-type", "python")
    assert upd.rc == 0, upd
    assert [c["name"] for c in upd.json["configurations"]] == ["BLOB_CONN"]


@pytest.mark.parametrize("value, message", [
    ("AZURE_NOT_A_KEY=X", "is not a configuration key of this connection"),
    ("AZURE_STORAGEBLOB_CONNECTIONSTRING=bad name", "cannot be a Kubernetes Secret key"),
    ("AZURE_STORAGEBLOB_CONNECTIONSTRING", "Usage: --customized-keys ORIGINAL=NEW"),
])
def test_customized_keys_bad_values_fail_before_any_request(az, sandbox, sbc, value, message):
    mark = sbc.mark()
    res = _create(az, sandbox, "ck_bad", "--secret", "--customized-keys", value)
    assert res.rc != 0 and message in res.log, res
    assert [e for e in sbc.requests(since=mark) if "/_sandbox" not in e["path"]
            and "/msi/token" not in e["path"] and "metadata/endpoints" not in e["path"]] == []


def test_opt_out_configinfo_writes_no_secret(az, sandbox, kube):
    from kubernetes.client.rest import ApiException
    res = _create(az, sandbox, "oo_cfg", "--secret", "--opt-out", "configinfo")
    assert res.rc == 0, res
    assert res.json["configurationInfo"]["action"] == "optOut"
    assert res.json["kubernetesResourceName"] == {}
    with pytest.raises(ApiException) as err:
        kube.read_namespaced_secret("sc-oocfg-secret", "default")
    assert err.value.status == 404


def test_opt_out_auth_makes_no_grant(az, sandbox, sbc, fresh_cluster):
    s = _blob(sandbox)
    identity = sandbox["seeds"]["identities"]["sandbox-identity"]
    mark = sbc.mark()
    res = az("aks", "connection", "create", "storage-blob", "-g", fresh_cluster["resourceGroup"], "-n",
             fresh_cluster["name"], "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "oo_auth",
             "--workload-identity", identity, "--opt-out", "auth", "-o", "json")
    assert res.rc == 0, res
    assert res.json["authInfo"]["authMode"] == "optOutAllAuth"
    writes = _writes(sbc, mark)
    assert not [w for w in writes if "roleAssignments" in w[1] or "federatedIdentityCredentials" in w[1]
                or w[1] == fresh_cluster["id"]], writes
    # The workload side is still written: ServiceAccount and Secret.
    sa = res.json["kubernetesResourceName"]["serviceAccount"]
    assert fresh_cluster["core"].read_namespaced_service_account(sa, "default").metadata.name == sa


def test_update_keeps_opt_outs_and_none_clears_them(az, sandbox, sbc, fresh_cluster):
    """An update about something else keeps --opt-out auth (no grant appears); 'none' clears the opt-outs."""
    import uuid
    s = _blob(sandbox)
    # An identity of its own: its role assignment is made by this test or not at all.
    identity = az("identity", "create", "-g", "sandbox-rg", "-n", "oo-" + uuid.uuid4().hex[:6], "-o", "json").json["id"]
    base = ["-g", fresh_cluster["resourceGroup"], "-n", fresh_cluster["name"], "--connection", "oo_keep", "-o",
            "json"]
    assert az("aks", "connection", "create", "storage-blob", *base, "--tg", s["resourceGroup"], "--account",
              s["account"], "--workload-identity", identity, "--opt-out", "auth").rc == 0
    mark = sbc.mark()
    res = az("aks", "connection", "update", "storage-blob", *base, "--opt-out", "publicnetwork")
    assert res.rc == 0, res
    assert res.json["authInfo"]["authMode"] == "optOutAllAuth"
    assert res.json["publicNetworkSolution"]["action"] == "optOut"
    assert not [w for w in _writes(sbc, mark) if "roleAssignments" in w[1] or "federatedIdentityCredentials" in w[1]
                or w[1] == fresh_cluster["id"]]
    res = az("aks", "connection", "update", "storage-blob", *base, "--client-type", "python")
    assert res.json["authInfo"]["authMode"] == "optOutAllAuth", res
    mark = sbc.mark()
    res = az("aks", "connection", "update", "storage-blob", *base, "--opt-out", "none")
    assert res.rc == 0, res
    assert res.json["authInfo"]["authMode"] is None and res.json["publicNetworkSolution"] is None or \
        (res.json["publicNetworkSolution"] or {}).get("action") is None, res.json
    writes = _writes(sbc, mark)
    assert [w for w in writes if "roleAssignments" in w[1]] and [w for w in writes if w[1] == fresh_cluster["id"]]


def test_update_names_what_the_connection_no_longer_uses(az, sandbox, sbc, fresh_cluster):
    """Workload identity -> secret, then --opt-out configinfo: the old ServiceAccount, federated credential, role
    assignment and Secret are named with the commands that remove them (they stay: workloads may use them)."""
    s = _blob(sandbox)
    identity = sandbox["seeds"]["identities"]["sandbox-identity"]
    base = ["-g", fresh_cluster["resourceGroup"], "-n", fresh_cluster["name"], "--connection", "left_wi", "-o",
            "json"]
    made = az("aks", "connection", "create", "storage-blob", *base, "--tg", s["resourceGroup"], "--account",
              s["account"], "--workload-identity", identity, "--kube-namespace", "left")
    assert made.rc == 0, made
    sa = made.json["kubernetesResourceName"]["serviceAccount"]
    narrowed = az("aks", "connection", "update", "storage-blob", *base, "--role", "Storage Blob Data Reader")
    assert narrowed.rc == 0, narrowed
    assert "No longer used by this connection and left in place: role assignments" in narrowed.log
    assert narrowed.log.count("az role assignment delete --ids ") == 1 and "az resource delete" not in narrowed.log
    res = az("aks", "connection", "update", "storage-blob", *base, "--secret")
    assert res.rc == 0, res
    assert f"kubectl delete serviceaccount {sa} -n left" in res.log
    assert "az role assignment delete --ids " in res.log and "federatedIdentityCredentials" in res.log
    res = az("aks", "connection", "update", "storage-blob", *base, "--opt-out", "configinfo")
    assert res.rc == 0, res
    assert "kubectl delete secret sc-leftwi-secret -n left" in res.log
    again = az("aks", "connection", "update", "storage-blob", *base, "--client-type", "python")
    assert "No longer used" not in again.log


def test_an_unknown_role_id_is_refused_before_any_write(az, sandbox, sbc, fresh_cluster):
    s = _blob(sandbox)
    mark = sbc.mark()
    res = az("aks", "connection", "create", "storage-blob", "-g", fresh_cluster["resourceGroup"], "-n",
             fresh_cluster["name"], "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "role_id",
             "--workload-identity", sandbox["seeds"]["identities"]["sandbox-identity"],
             "--role", "00000000-0000-0000-0000-00000000dead")
    assert res.rc != 0 and "Role '00000000-0000-0000-0000-00000000dead' does not exist" in res.log, res
    assert _writes(sbc, mark) == []


def test_update_to_a_service_principal_without_object_id_drops_the_carried_roles(az, sandbox, tmp_path):
    secret = tmp_path / "sp.txt"
    secret.write_text("Sp-secret-1")
    import uuid
    res = _create(az, sandbox, "sp_roles", "--service-principal", f"client-id={uuid.uuid4()}", f"secret=@{secret}",
                  f"object-id={uuid.uuid4()}", "--role", "Storage Blob Data Reader")
    assert res.rc == 0, res
    upd = _update(az, sandbox, "sp_roles", "--service-principal", f"client-id={uuid.uuid4()}", f"secret=@{secret}",
                  "--client-type", "java")
    assert upd.rc == 0, upd
    assert "--service-principal has no object-id: no role is granted" in upd.log
    assert upd.json["authInfo"]["roles"] is None


def test_role_with_secret_auth_is_refused(az, sandbox, sbc):
    mark = sbc.mark()
    res = _create(az, sandbox, "role_secret", "--secret", "--role", "Reader")
    assert res.rc != 0 and "--role applies to identity auth only" in res.log, res
    assert _writes(sbc, mark) == []


def test_update_of_a_user_secret_target_needs_the_secret_again(az, sandbox, kube, sbc):
    c = sandbox["seeds"]["cluster"]
    pg = sandbox["seeds"]["targets"]["postgres-flexible"]
    base = ["-g", c["resourceGroup"], "-n", c["name"], "--connection", "upd_pg", "-o", "json"]
    created = az("aks", "connection", "create", "postgres-flexible", *base, "--target-id", pg,
                 "--secret", "name=sandboxadmin", "secret=first-pass")
    assert created.rc == 0, created
    mark = sbc.mark()
    refused = az("aks", "connection", "update", "postgres-flexible", *base, "--client-type", "python")
    assert refused.rc != 0 and "--secret name=XX secret=XX" in refused.log, refused
    assert _writes(sbc, mark) == []
    updated = az("aks", "connection", "update", "postgres-flexible", *base, "--client-type", "python",
                 "--secret", "name=sandboxadmin", "secret=second-pass")
    assert updated.rc == 0, updated
    data = kube.read_namespaced_secret("sc-updpg-secret", "default").data
    assert any("second-pass" in base64.b64decode(v).decode() for v in data.values())
    assert "second-pass" not in updated.out
