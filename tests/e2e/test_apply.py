# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Connections as code (issue 27): ``az aks connection apply --file`` converges the connections a file names on
several clusters, both engines, in one process; --dry-run exit codes; a failure in the middle and the re-run;
--prune scoped to the file's clusters; --cluster; ``export`` and its round trip."""
import pytest

from tests.e2e.helpers import kube_for, new_cluster, new_identity, run, writes

pytestmark = pytest.mark.e2e


def _cluster(sbc, prefix):
    return dict(new_cluster(sbc, prefix), resourceGroup="sandbox-rg")


def _blob(sandbox):
    return sandbox["seeds"]["targets"]["storage-blob"]


def _write(tmp_path, connections, name="connections.yaml"):
    import yaml
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"connections": connections}, sort_keys=False))
    return str(path)


def _apply(az, path, *extra):
    return run(az, "aks", "connection", "apply", "--file", path, "-o", "json", *extra)


def _results(res):
    return {(r["cluster"], r["name"]): r["result"] for r in res.json}


def test_apply_converges_many_connections_on_two_clusters_with_both_engines(az, sbc, sandbox, tmp_path):
    """One file, two clusters, both engines, secret and workload identity: --dry-run says what it would make (exit
    2), apply makes it (each Secret there), then a re-apply writes nothing and --dry-run exits 0."""
    one, two = _cluster(sbc, "apply-a"), _cluster(sbc, "apply-b")
    identity = new_identity(az, "apply-wi")
    sbc.set_lro(linkers=0.3, extensions=0.3)
    try:
        path = _write(tmp_path, [
            {"cluster": one["id"], "name": "orders_blob", "target": "storage-blob", "targetId": _blob(sandbox),
             "namespace": "orders", "clientType": "python", "auth": "secret"},
            {"cluster": one["id"], "name": "orders_wi", "target": "storage-blob", "targetId": _blob(sandbox),
             "namespace": "orders", "auth": "workload-identity", "identity": identity["id"]},
            {"cluster": one["id"], "name": "orders_kv", "target": "keyvault",
             "targetId": sandbox["seeds"]["keyvaults"]["rbac"], "namespace": "orders", "auth": "csi"},
            {"cluster": two["name"], "resourceGroup": "sandbox-rg", "name": "billing_blob", "target": "storage-blob",
             "targetId": _blob(sandbox), "namespace": "billing", "auth": "secret"},
            {"cluster": two["id"], "name": "sc_blob", "target": "storage-blob", "targetId": _blob(sandbox),
             "auth": "secret", "engine": "service-connector"},
        ])
        mark = sbc.mark()
        plan = _apply(az, path, "--dry-run")
        assert plan.rc == 2, plan
        assert writes(sbc, mark) == []
        assert set(_results(plan).values()) == {"would create"}, plan.json
        made = _apply(az, path)
        assert made.rc == 0, made
        assert _results(made) == {(one["name"], "orders_blob"): "created", (one["name"], "orders_wi"): "created",
                                  (one["name"], "orders_kv"): "created", (two["name"], "billing_blob"): "created",
                                  (two["name"], "sc_blob"): "created"}
        # one cluster update for cluster one (workload identity and the Key Vault add-on at once), none for two;
        # one GET of each cluster and of the target
        puts = [w for w in writes(sbc, mark) if w[0] == "PUT" and "/managedclusters/" in w[1].lower()
                and w[1].lower().rsplit("/", 2)[-2] == "managedclusters"]
        assert [p[1].rsplit("/", 1)[-1] for p in puts] == [one["name"]], puts
        shown = run(az, "aks", "show", "-g", "sandbox-rg", "-n", one["name"], "-o", "json").json
        assert shown["securityProfile"]["workloadIdentity"]["enabled"] is True
        assert shown["addonProfiles"]["azureKeyvaultSecretsProvider"]["enabled"] is True
        core_one, _ = kube_for(az, one, tmp_path)
        core_two, _ = kube_for(az, two, tmp_path)
        secret = core_one.read_namespaced_secret("sc-ordersblob-secret", "orders")
        assert "AZURE_STORAGEBLOB_CONNECTIONSTRING" in secret.data
        assert core_one.read_namespaced_service_account(f"sc-account-{identity['clientId']}", "orders")
        assert core_two.read_namespaced_secret("sc-billingblob-secret", "billing")
        assert core_two.read_namespaced_secret("sc-scblob-secret", "default")          # made by Service Connector
        mark = sbc.mark()
        again = _apply(az, path)
        assert again.rc == 0, again
        assert set(_results(again).values()) == {"unchanged"}, again.json
        assert writes(sbc, mark) == []
        # one process, shared reads: each cluster read once, its credentials asked for once, the target read once
        seen = [(e["method"], e["path"].lower()) for e in sbc.requests(since=mark)]
        for c in (one, two):
            assert seen.count(("GET", c["id"].lower())) == 1, [x for x in seen if c["name"] in x[1]]
            assert seen.count(("POST", c["id"].lower() + "/listclusterusercredential")) == 1
        account = _blob(sandbox).lower().rsplit("/blobservices/", 1)[0]
        assert seen.count(("GET", account)) == 1, [x for x in seen if x[1] == account]
        quiet = _apply(az, path, "--dry-run")
        assert quiet.rc == 0, quiet
        table = run(az, "aks", "connection", "apply", "--file", path, "--dry-run", "-o", "table")
        assert table.rc == 0 and "unchanged" in table.out and "Cluster" in table.out, table
        assert max(len(line) for line in table.out.splitlines()) <= 120
    finally:
        sbc.set_lro(linkers=1.0, extensions=1.0)


def test_a_failure_in_the_middle_is_that_connections_and_the_rerun_converges(az, sbc, sandbox, tmp_path, faults):
    """One connection fails (its Secret is refused): its row says failed with the error and the fix, the others
    are made, exit 1; the re-run makes the failed one and leaves the others unchanged."""
    cluster = _cluster(sbc, "apply-fail")
    path = _write(tmp_path, [
        {"cluster": cluster["id"], "name": f"c{i}", "target": "storage-blob", "targetId": _blob(sandbox),
         "namespace": "broken" if i == 1 else "fine", "auth": "secret"} for i in range(3)])
    faults(plane="kube", method="POST", path="/namespaces/broken/secrets", status=403, code="Forbidden",
           message='secrets is forbidden: User "me" cannot create resource "secrets" in the namespace "broken"')
    failed = _apply(az, path)
    assert failed.rc == 1, failed
    rows = {r["name"]: r for r in failed.json}
    assert rows["c0"]["result"] == "created" and rows["c2"]["result"] == "created", rows
    assert rows["c1"]["result"] == "failed" and "forbidden" in rows["c1"]["error"], rows["c1"]
    assert rows["c1"]["fix"], rows["c1"]
    sbc.clear_faults()
    again = _apply(az, path)
    assert again.rc == 0, again
    assert {r["name"]: r["result"] for r in again.json} == {"c0": "unchanged", "c1": "updated", "c2": "unchanged"}
    core, _ = kube_for(az, cluster, tmp_path)
    assert core.read_namespaced_secret("sc-c1-secret", "broken")


def _create(az, sandbox, cluster, name):
    res = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--target-id",
              _blob(sandbox), "--connection", name, "--secret", "-o", "none")
    assert res.rc == 0, res
    return res


def _names(az, cluster):
    listed = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    assert listed.rc == 0, listed
    return sorted(c["name"] for c in listed.json)


def test_prune_deletes_only_on_the_files_clusters_and_asks_first(az, sbc, sandbox, tmp_path):
    """--prune deletes what the file does not name on the clusters it names, never elsewhere; without --yes and
    no terminal it refuses with nothing changed."""
    named, other = _cluster(sbc, "prune-a"), _cluster(sbc, "prune-b")
    for name in ("keep", "extra"):
        _create(az, sandbox, named, name)
    _create(az, sandbox, other, "elsewhere")
    path = _write(tmp_path, [{"cluster": named["id"], "name": "keep", "target": "storage-blob",
                              "targetId": _blob(sandbox), "auth": "secret"}])
    plan = _apply(az, path, "--prune", "--dry-run")
    assert plan.rc == 2, plan
    assert _results(plan) == {(named["name"], "keep"): "unchanged", (named["name"], "extra"): "would delete"}
    mark = sbc.mark()
    asked = _apply(az, path, "--prune")
    assert asked.rc != 0 and "--yes" in asked.log, asked
    assert writes(sbc, mark) == []
    pruned = _apply(az, path, "--prune", "--yes")
    assert pruned.rc == 0, pruned.json
    assert _results(pruned) == {(named["name"], "keep"): "unchanged", (named["name"], "extra"): "deleted"}
    assert _names(az, named) == ["keep"]
    assert _names(az, other) == ["elsewhere"]


BAD = {
    "unknown key": ("connections:\n  - cluster: {c}\n    name: a\n    target: storage-blob\n    targetId: {t}\n"
                    "    colour: blue\n", "line 6", "colour"),
    "missing key": ("connections:\n  - cluster: {c}\n    name: a\n    target: storage-blob\n", "line 2",
                    "targetId"),
    "duplicate": ("connections:\n  - {{cluster: {c}, name: a, target: storage-blob, targetId: {t}}}\n"
                  "  - {{cluster: {c}, name: A, target: storage-blob, targetId: {t}}}\n", "line 3", "twice"),
    "inline secret": ("connections:\n  - cluster: {c}\n    name: a\n    target: storage-blob\n    targetId: {t}\n"
                      "    auth: service-principal\n    servicePrincipal:\n      clientId: "
                      "00000000-0000-0000-0000-000000000001\n      secret: hunter2\n", "line 9", "inline secret"),
    "not yaml": ("connections:\n  - cluster: {c}\n   name: [a\n", "line", "not YAML"),
    "bad auth": ("connections:\n  - cluster: {c}\n    name: a\n    target: storage-blob\n    targetId: {t}\n"
                 "    auth: password\n", "line 6", "password"),
    "bad target id": ("connections:\n  - cluster: {c}\n    name: a\n    target: keyvault\n    targetId: {t}\n",
                      "line 2", "not the id of a"),
    "bad namespace": ("connections:\n  - cluster: {c}\n    name: a\n    target: storage-blob\n    targetId: {t}\n"
                      "    namespace: Not_A_Namespace\n", "line 2", "Not_A_Namespace"),
    "identity without auth": ("connections:\n  - cluster: {c}\n    name: a\n    target: storage-blob\n"
                              "    targetId: {t}\n    identity: /x\n", "line 6", "identity"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_file_is_refused_with_its_line_before_any_request(az, sbc, sandbox, tmp_path, kind):
    text, line, words = BAD[kind]
    path = tmp_path / "bad.yaml"
    path.write_text(text.format(c=sandbox["seeds"]["cluster"]["id"], t=_blob(sandbox)))
    mark = sbc.mark()
    res = _apply(az, str(path))
    assert res.rc == 2, res
    assert line in res.log and words in res.log and str(path) in res.log, res.log
    assert "Traceback" not in res.log and "hunter2" not in res.log + res.out
    assert sbc.requests(since=mark) == []            # neither plane saw a request


def test_export_then_apply_changes_nothing(az, sbc, sandbox, tmp_path):
    """export writes both engines' connections; applying it: --dry-run exits 0, apply writes nothing."""
    cluster = _cluster(sbc, "export")
    identity = new_identity(az, "export-wi")
    _create(az, sandbox, cluster, "plain")
    sbc.set_lro(linkers=0.3, extensions=0.3)
    try:
        for args in (["--connection", "wi_blob", "--kube-namespace", "orders", "--workload-identity", identity["id"],
                      "--client-type", "python", "--customized-keys", "AZURE_STORAGEBLOB_CLIENTID=BLOB_ID"],
                     ["--connection", "sc_blob", "--secret", "--engine", "service-connector"]):
            made = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"],
                       "--target-id", _blob(sandbox), "-o", "none", *args)
            assert made.rc == 0, made
        out = tmp_path / "export.yaml"
        exported = run(az, "aks", "connection", "export", "--source-id", cluster["id"], "--file", str(out))
        assert exported.rc == 0, exported
        import yaml
        doc = yaml.safe_load(out.read_text())
        by = {c["name"]: c for c in doc["connections"]}
        assert sorted(by) == ["plain", "sc_blob", "wi_blob"]
        assert by["wi_blob"]["identity"].lower() == identity["id"].lower()
        assert by["sc_blob"]["engine"] == "service-connector"
        assert by["wi_blob"]["customizedKeys"] == {"AZURE_STORAGEBLOB_CLIENTID": "BLOB_ID"}
        as_json = run(az, "aks", "connection", "export", "--source-id", cluster["id"], "-o", "json")
        assert as_json.rc == 0 and as_json.json == doc, as_json
        table = run(az, "aks", "connection", "export", "--source-id", cluster["id"], "-o", "table")
        assert table.rc == 0 and "service-connector" in table.out and "wi_blob" in table.out, table
        mark = sbc.mark()
        plan = _apply(az, str(out), "--dry-run")
        assert plan.rc == 0, plan
        applied = _apply(az, str(out))
        assert applied.rc == 0, applied
        assert set(_results(applied).values()) == {"unchanged"}, applied.json
        assert writes(sbc, mark) == []
    finally:
        sbc.set_lro(linkers=1.0, extensions=1.0)


def test_cluster_limits_the_run_to_those_clusters(az, sbc, sandbox, tmp_path):
    one, two = _cluster(sbc, "limit-a"), _cluster(sbc, "limit-b")
    path = _write(tmp_path, [{"cluster": c["id"], "name": "blob", "target": "storage-blob",
                              "targetId": _blob(sandbox), "auth": "secret"} for c in (one, two)])
    res = _apply(az, path, "--cluster", two["name"])
    assert res.rc == 0, res
    assert _results(res) == {(two["name"], "blob"): "created"}
    assert _names(az, one) == [] and _names(az, two) == ["blob"]
    unknown = _apply(az, path, "--cluster", "nope")
    assert unknown.rc == 2 and "not a cluster of" in unknown.log, unknown


def test_service_principal_secrets_come_from_a_file_or_the_environment_and_never_show(az, sbc, sandbox, tmp_path,
                                                                                      monkeypatch):
    """servicePrincipal.secretFile (relative to the file) and secretEnv: the Secret holds them; no output, log or
    export does."""
    import uuid
    cluster = _cluster(sbc, "apply-sp")
    in_file, in_env = "F-" + uuid.uuid4().hex, "E-" + uuid.uuid4().hex
    (tmp_path / "sp.secret").write_text(in_file + "\n")
    monkeypatch.setenv("APPLY_TEST_SP_SECRET", in_env)
    sp = {"auth": "service-principal", "target": "storage-blob", "targetId": _blob(sandbox), "cluster": cluster["id"]}
    path = _write(tmp_path, [
        dict(sp, name="sp_file", servicePrincipal={"clientId": str(uuid.uuid4()), "secretFile": "sp.secret"}),
        dict(sp, name="sp_env", servicePrincipal={"clientId": str(uuid.uuid4()), "secretEnv": "APPLY_TEST_SP_SECRET"}),
    ])
    made = _apply(az, path)
    assert made.rc == 0, made
    assert set(_results(made).values()) == {"created"}, made.json
    core, _ = kube_for(az, cluster, tmp_path)
    from tests.e2e.helpers import secret_values
    assert secret_values(core, "default", "sc-spfile-secret")["AZURE_STORAGEBLOB_CLIENTSECRET"] == in_file
    assert secret_values(core, "default", "sc-spenv-secret")["AZURE_STORAGEBLOB_CLIENTSECRET"] == in_env
    exported = run(az, "aks", "connection", "export", "--source-id", cluster["id"], "-o", "json")
    assert exported.rc == 0, exported
    assert all(set(c["servicePrincipal"]) == {"clientId", "secretEnv"} for c in exported.json["connections"])
    for res in (made, exported, _apply(az, path, "--dry-run")):
        assert in_file not in res.out + res.log and in_env not in res.out + res.log


def test_more_federated_credentials_than_an_identity_holds_are_refused_before_any_request(az, sbc, sandbox,
                                                                                          tmp_path):
    identity = sandbox["seeds"]["identities"]["sandbox-identity"]
    path = _write(tmp_path, [{"cluster": sandbox["seeds"]["cluster"]["id"], "name": f"wi{i}", "target": "storage-blob",
                              "targetId": _blob(sandbox), "namespace": f"ns{i}", "auth": "workload-identity",
                              "identity": identity} for i in range(21)])
    mark = sbc.mark()
    res = _apply(az, path)
    assert res.rc == 2, res
    assert "would need 21 federated credentials" in res.log and "connections[20].identity" in res.log, res.log
    assert sbc.requests(since=mark) == []


def test_connections_to_one_closed_target_admit_the_cluster_once(az, sbc, sandbox, tmp_path):
    """Six connections to one storage account that admits no network, on one cluster: one firewall write admits
    the cluster's egress IP once, every connection is made, and the re-apply writes nothing."""
    import uuid
    from sandbox.arm.targets import OTHER_REGION
    # in another region: a same-region account ignores IP rules (Azure Storage), and create refuses it
    account = sbc.new_storage_account("sandbox-data-rg", "ap" + uuid.uuid4().hex[:10], location=OTHER_REGION)
    closed = az("rest", "--method", "patch", "--url", account["id"] + "?api-version=2023-05-01", "--body",
                '{"properties": {"networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": []}}}')
    assert closed.rc == 0, closed
    cluster = _cluster(sbc, "apply-fw")
    path = _write(tmp_path, [{"cluster": cluster["id"], "name": f"fw{i}", "target": "storage-blob",
                              "targetId": account["id"] + "/blobServices/default", "namespace": f"ns{i}",
                              "auth": "secret"} for i in range(6)])
    mark = sbc.mark()
    made = _apply(az, path)
    assert made.rc == 0, made
    assert set(_results(made).values()) == {"created"}, made.json
    rules = az("rest", "--method", "get", "--url", account["id"] + "?api-version=2023-05-01").json
    ips = [r["value"] for r in rules["properties"]["networkAcls"]["ipRules"]]
    assert len(ips) == len(set(ips)) == 1, ips
    account_writes = [w for w in writes(sbc, mark) if w[1].lower().split("?")[0] == account["id"].lower()]
    assert len(account_writes) == 1, account_writes           # the writers took turns: the others found it there
    mark = sbc.mark()
    again = _apply(az, path)
    assert again.rc == 0 and set(_results(again).values()) == {"unchanged"}, again.json
    assert writes(sbc, mark) == []


def test_a_missing_file_is_refused_before_any_request(az, sbc, tmp_path):
    mark = sbc.mark()
    res = _apply(az, str(tmp_path / "nope.yaml"))
    assert res.rc == 2 and "cannot read the file" in res.log and "Traceback" not in res.log, res
    assert sbc.requests(since=mark) == []


def test_a_refused_connection_turns_no_cluster_feature_on(az, sbc, sandbox, tmp_path):
    """The one workload-identity connection of a fresh cluster cannot be made (the caller may not write role
    assignments on the target): it fails with the permission named, and the cluster update that only it needed is
    not made (turning the OIDC issuer on cannot be undone) — as a create refuses it before any write."""
    cluster = _cluster(sbc, "apply-refused")
    identity = new_identity(az, "apply-refused")
    account = _blob(sandbox).split("/blobServices/")[0]
    path = _write(tmp_path, [{"cluster": cluster["id"], "name": "denied_wi", "target": "storage-blob",
                              "targetId": _blob(sandbox), "auth": "workload-identity", "identity": identity["id"]}])
    rule = sbc.deny("Microsoft.Authorization/roleAssignments/write", account)
    mark = sbc.mark()
    try:
        res = _apply(az, path)
    finally:
        sbc.arm("DELETE", f"denials?id={rule}")
    assert res.rc == 1, res
    row = res.json[0]
    assert row["result"] == "failed" and "Microsoft.Authorization/roleAssignments/write" in row["error"], row
    assert writes(sbc, mark) == [], writes(sbc, mark)
    shown = run(az, "aks", "show", "-g", "sandbox-rg", "-n", cluster["name"], "-o", "json").json
    assert not (shown.get("oidcIssuerProfile") or {}).get("enabled"), shown.get("oidcIssuerProfile")


def test_a_plan_that_writes_is_reviewed_first_and_a_reapply_asks_no_review(az, sbc, sandbox, tmp_path):
    """The Kubernetes access reviews of an apply are made for the connections that write, before their first write:
    one the caller may not write fails with the verb and namespace named and nothing of it written, the others are
    made; a re-apply that writes nothing asks the API server no review at all."""
    cluster = _cluster(sbc, "apply-review")
    path = _write(tmp_path, [
        {"cluster": cluster["id"], "name": f"c{i}", "target": "storage-blob", "targetId": _blob(sandbox),
         "namespace": "denied" if i == 2 else "fine", "auth": "secret"} for i in range(3)])
    sbc.deny_kube(cluster["id"], "create", "secrets", "denied")
    mark = sbc.mark()
    try:
        refused = _apply(az, path)
    finally:
        sbc.clear_kube_denials()
    assert refused.rc == 1, refused
    rows = {r["name"]: r for r in refused.json}
    assert rows["c0"]["result"] == rows["c1"]["result"] == "created", rows
    assert rows["c2"]["result"] == "failed" and "create secrets in namespace 'denied'" in rows["c2"]["error"], rows
    assert "kubectl create role" in rows["c2"]["fix"], rows["c2"]
    made = [w for w in writes(sbc, mark) if "selfsubjectaccessreviews" not in w[1]]
    assert not [w for w in made if "/namespaces/denied" in w[1] or "conn-c2-" in w[1]], made
    again = _apply(az, path)
    assert again.rc == 0 and _results(again)[(cluster["name"], "c2")] == "created", again
    mark = sbc.mark()
    quiet = _apply(az, path)
    assert quiet.rc == 0 and set(_results(quiet).values()) == {"unchanged"}, quiet
    seen = sbc.requests(since=mark)
    assert [e["path"] for e in seen if "selfsubjectaccessreviews" in e["path"] or e["mutating"]] == []


def test_a_reapply_lists_an_identitys_federated_credentials_once(az, sbc, sandbox, tmp_path):
    """Workload-identity connections in three namespaces on one identity: the re-apply reads the identity's
    credentials once, not once per connection."""
    cluster = _cluster(sbc, "apply-fics")
    identity = new_identity(az, "apply-fics")
    path = _write(tmp_path, [
        {"cluster": cluster["id"], "name": f"w{i}", "target": "storage-blob", "targetId": _blob(sandbox),
         "namespace": f"ns{i}", "auth": "workload-identity", "identity": identity["id"]} for i in range(3)])
    made = _apply(az, path)
    assert made.rc == 0 and set(_results(made).values()) == {"created"}, made
    mark = sbc.mark()
    again = _apply(az, path)
    assert again.rc == 0 and set(_results(again).values()) == {"unchanged"}, again
    lists = [e for e in sbc.requests(since=mark) if e["method"] == "GET" and
             e["path"].split("?")[0].lower().endswith(identity["id"].lower() + "/federatedidentitycredentials")]
    assert len(lists) == 1, [e["path"] for e in lists]
    assert writes(sbc, mark) == []


def test_a_connection_needing_no_cluster_feature_does_not_wait_for_the_cluster_update(az, sbc, sandbox, tmp_path):
    """A workload-identity connection turns the OIDC issuer on (a long cluster update); the --secret connection
    beside it needs nothing of that update: its Secret is written while the update is still running."""
    cluster = _cluster(sbc, "apply-nowait")
    identity = new_identity(az, "apply-nowait")
    path = _write(tmp_path, [
        {"cluster": cluster["id"], "name": "plain", "target": "storage-blob", "targetId": _blob(sandbox),
         "namespace": "plain", "auth": "secret"},
        {"cluster": cluster["id"], "name": "federated", "target": "storage-blob", "targetId": _blob(sandbox),
         "namespace": "fed", "auth": "workload-identity", "identity": identity["id"]}])
    sbc.set_lro(default=2.0)
    try:
        mark = sbc.mark()
        made = _apply(az, path)
    finally:
        sbc.set_lro(default=1.0)
    assert made.rc == 0 and set(_results(made).values()) == {"created"}, made
    seen = [(e["method"], e["path"]) for e in sbc.requests(since=mark)]
    assert [p for m, p in seen if m == "PUT" and p.lower().split("?")[0].endswith(
        "/managedclusters/" + cluster["name"].lower())], seen            # the update was made
    polled = max(i for i, (m, p) in enumerate(seen) if m == "GET" and "/operations/" in p.lower())
    secret = next(i for i, (m, p) in enumerate(seen) if m == "POST" and p.endswith("/namespaces/plain/secrets"))
    assert secret < polled, "\n".join(f"{m} {p[-90:]}" for m, p in seen)
