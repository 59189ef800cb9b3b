# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Connection names and the life cycle around them, end to end against the sandbox: a name another connection's
Secret would share, a name used for another target or namespace and a second spelling of a name are refused
before anything is written; names are case-insensitive; delete names only what no other connection uses;
`wait --deleted` and `wait --created` behave as for any az resource."""
import os
import subprocess
import uuid

import pytest

from tests.conftest import AZ
# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.helpers import create, new_cluster, quick_extensions, run, writes  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("quick_extensions")]


def conn_id(cluster, name):
    return cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + name


def test_a_name_that_would_share_another_connections_secret_is_refused(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "names")
    assert create(az, sandbox, cluster, "orders_blob", namespace="shop").rc == 0
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "ordersblob", namespace="shop")
    assert res.rc == 1, res
    assert "Connection 'orders_blob' in namespace 'shop' already writes Secret 'sc-ordersblob-secret'" in res.log
    assert "Choose a --connection name that differs" in res.log
    assert writes(sbc, mark) == []
    # In another namespace the same Secret name is another Secret: allowed.
    assert create(az, sandbox, cluster, "ordersblob", namespace="other").rc == 0


def test_a_second_spelling_of_a_name_is_refused_and_lookups_ignore_case(az, sandbox, sbc):
    cluster = new_cluster(sbc, "case")
    assert create(az, sandbox, cluster, "Orders").rc == 0
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "orders", namespace="elsewhere")
    assert res.rc == 1, res
    assert "Connection 'Orders' already exists: connection names are case-insensitive" in res.log
    assert writes(sbc, mark) == []
    shown = run(az, "aks", "connection", "show", "--id", conn_id(cluster, "ORDERS"), "-o", "json")
    assert shown.rc == 0 and shown.json["name"] == "Orders", shown
    assert run(az, "aks", "connection", "validate", "--id", conn_id(cluster, "orders"), "-o", "json").rc == 0
    assert run(az, "aks", "connection", "delete", "--id", conn_id(cluster, "oRDERS"), "--yes").rc == 0
    gone = run(az, "aks", "connection", "show", "--id", conn_id(cluster, "Orders"))
    assert gone.rc == 3 and "List the cluster's connections with 'az aks connection list" in gone.log, gone


def test_create_on_an_existing_name_does_not_move_it(az, sandbox, sbc):
    cluster = new_cluster(sbc, "move")
    assert create(az, sandbox, cluster, "stay_blob", namespace="first").rc == 0
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "stay_blob", namespace="second")
    assert res.rc == 1, res
    assert "Connection 'stay_blob' already exists and connects storage-blob" in res.log
    assert "in namespace 'first': create would change its namespace" in res.log
    assert writes(sbc, mark) == []
    other = run(az, "aks", "connection", "create", "storage-queue", "--source-id", cluster["id"], "--target-id",
                sandbox["seeds"]["targets"]["storage-queue"], "--connection", "stay_blob", "--kube-namespace",
                "first", "--secret")
    assert other.rc == 1 and "would change its target type and target" in other.log, other
    # The same create again converges (no change, no write).
    mark = sbc.mark()
    assert create(az, sandbox, cluster, "stay_blob", namespace="first").rc == 0
    assert writes(sbc, mark) == []


def test_delete_names_only_what_no_other_connection_uses(az, sandbox, sbc):
    cluster = new_cluster(sbc, "del-shared")
    ident = az("identity", "create", "-g", "sandbox-rg", "-n", "shared-" + uuid.uuid4().hex[:6], "-o", "json").json
    s = sandbox["seeds"]["storage"]["storage-blob"]
    for name in ("one_wi", "two_wi"):
        made = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
                   s["resourceGroup"], "--account", s["account"], "--connection", name, "--kube-namespace", "apps",
                   "--workload-identity", ident["id"])
        assert made.rc == 0, made
    sa = "sc-account-" + ident["clientId"]
    first = run(az, "aks", "connection", "delete", "--id", conn_id(cluster, "one_wi"), "--yes")
    assert first.rc == 0, first
    assert "kubectl delete secret sc-onewi-secret -n apps" in first.log
    assert f"serviceaccount {sa}" not in first.log                   # two_wi still uses it
    assert f"Kept in namespace 'apps', used by other connections: serviceAccount {sa}" in first.log
    assert "az role assignment delete" not in first.log and "az resource delete" not in first.log
    assert "are kept: other connections use them" in first.log
    last = run(az, "aks", "connection", "delete", "--id", conn_id(cluster, "two_wi"), "--yes")
    assert last.rc == 0, last
    assert f"kubectl delete serviceaccount {sa} -n apps" in last.log
    assert "az role assignment delete --ids " in last.log and "federatedIdentityCredentials" in last.log


def test_wait_deleted_and_created(az, sandbox, sbc):
    cluster = new_cluster(sbc, "wait")
    cid = conn_id(cluster, "wait_blob")
    # Nothing there yet: --deleted is already true.
    assert run(az, "aks", "connection", "wait", "--id", cid, "--deleted", "--interval", "1").rc == 0
    # --created waits for the connection to appear (a real az process, started before the create).
    proc = subprocess.Popen([AZ, "aks", "connection", "wait", "--id", cid, "--created", "--interval", "1",
                             "--timeout", "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    try:
        assert create(az, sandbox, cluster, "wait_blob").rc == 0
        _, err = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert run(az, "aks", "connection", "delete", "--id", cid, "--yes", "--no-wait").rc == 0
    waited = run(az, "aks", "connection", "wait", "--id", cid, "--deleted", "--interval", "1")
    assert waited.rc == 0, waited
    assert run(az, "aks", "connection", "show", "--id", cid).rc == 3


def test_wait_fails_when_its_timeout_passes_first_whatever_the_interval(az, sbc):
    """A connection that never comes: --created with --timeout 3 fails (exit 1, saying so) after about 3 s, though
    the default interval is 30 s; azure-cli's generic wait printed {} and exited 0 after 30 s."""
    import time
    cluster = new_cluster(sbc, "waitto")
    started = time.monotonic()
    res = run(az, "aks", "connection", "wait", "--id", conn_id(cluster, "never_blob"), "--created", "--timeout", "3")
    took = time.monotonic() - started
    assert res.rc == 1, res
    assert "timed out after 3 seconds" in res.log and "not found" in res.log, res.log
    assert res.out.strip() in ("", "null"), res.out
    assert took < 15, took


@pytest.mark.parametrize("args, error", [
    (["--connection", ""], "Connection name '' is invalid"),
    (["--connection", "rec_blob", "--kube-namespace", "aks-connection"], "holds aks-connection's connection records"),
])
def test_an_empty_name_and_the_record_namespace_are_refused_before_any_request(az, sandbox, sbc, args, error):
    cluster = new_cluster(sbc, "badname")
    s = sandbox["seeds"]["storage"]["storage-blob"]
    mark = sbc.mark()
    res = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
              s["resourceGroup"], "--account", s["account"], "--secret", "-o", "json", *args)
    assert res.rc == 1, res
    assert error in res.log, res.log
    assert sbc.requests(since=mark) == []


def test_default_namespace_is_printed_as_a_name(az, sandbox, sbc):
    cluster = new_cluster(sbc, "defns")
    s = sandbox["seeds"]["storage"]["storage-blob"]
    made = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
               s["resourceGroup"], "--account", s["account"], "--connection", "plain_blob", "--secret", "-o", "json")
    assert made.rc == 0, made
    assert made.json["scope"] == "default", made.json["scope"]
    assert "isDefault" not in made.out
    shown = run(az, "aks", "connection", "show", "--id", conn_id(cluster, "plain_blob"), "-o", "json")
    assert shown.json["scope"] == "default"


def test_update_with_only_a_namespace_says_a_connection_cannot_move(az, sandbox, sbc):
    cluster = new_cluster(sbc, "updns")
    assert create(az, sandbox, cluster, "ns_blob", namespace="first").rc == 0
    mark = sbc.mark()
    res = run(az, "aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "ns_blob"),
              "--kube-namespace", "second")
    assert res.rc == 1, res
    assert "--kube-namespace cannot move a connection" in res.log
    assert "Delete the connection and create it again in the other namespace" in res.log
    assert writes(sbc, mark) == []


def test_update_with_only_the_targets_own_values_applies_them(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "updcf")
    base = ["--bootstrap-server", "pkc-sandbox.eastus.azure.confluent.cloud:9092", "--kafka-secret", "s1",
            "--schema-registry", "https://psrc-sandbox.eastus.azure.confluent.cloud", "--schema-key", "SK",
            "--schema-secret", "s2"]
    made = run(az, "aks", "connection", "create", "confluent-cloud", "--source-id", cluster["id"], *base,
               "--kafka-key", "OLDKEY", "--connection", "cf_upd", "-o", "json")
    assert made.rc == 0, made
    res = run(az, "aks", "connection", "update", "confluent-cloud", "--id", conn_id(cluster, "cf_upd"),
              *base[2:], "--kafka-key", "NEWKEY", "-o", "json")
    assert res.rc == 0, res
    from tests.e2e.helpers import kube_for, secret_values
    core, _ = kube_for(az, cluster, tmp_path)
    values = secret_values(core, "default", "sc-cfupd-secret")
    assert any("NEWKEY" in v for v in values.values()) and not any("OLDKEY" in v for v in values.values())


@pytest.mark.parametrize("target, rewrite", [
    ("cosmos-sql", lambda tid: tid.rsplit("/", 1)[0] + "/nodb"),                         # no such database
    ("cosmos-sql", lambda tid: tid.replace("sandbox-cosmos-sql", "sandbox-cosmos-mongo")),  # another API's account
    ("postgres-flexible", lambda tid: tid.rsplit("/", 1)[0] + "/nodb"),
    ("sql", lambda tid: tid.rsplit("/", 1)[0] + "/nodb"),
])
def test_a_target_child_that_does_not_exist_is_refused_before_any_write(az, sandbox, sbc, target, rewrite):
    cluster = new_cluster(sbc, "child")
    tid = rewrite(sandbox["seeds"]["targets"][target])
    auth = ["--secret", "name=sandboxadmin", "secret=x"] if target in ("postgres-flexible", "sql") else ["--secret"]
    mark = sbc.mark()
    res = run(az, "aks", "connection", "create", target, "--source-id", cluster["id"], "--target-id", tid,
              "--connection", "child_conn", *auth)
    assert res.rc != 0, res
    assert tid.rsplit("/", 1)[1] in res.log or "not supported" in res.log, res.log
    assert writes(sbc, mark) == []


def test_validate_fails_when_the_targets_database_is_gone(az, sandbox, sbc):
    cluster = new_cluster(sbc, "childgone")
    pg = sandbox["seeds"]["targets"]["postgres-flexible"]
    server = pg.rsplit("/databases/", 1)[0]
    made_db = sbc.arm("PUT", "resource?id=" + server + "/databases/gone" + uuid.uuid4().hex[:6],
                      {"properties": {"charset": "UTF8"}})
    db_id = made_db["id"]
    assert run(az, "aks", "connection", "create", "postgres-flexible", "--source-id", cluster["id"], "--target-id",
               db_id, "--connection", "gone_pg", "--secret", "name=sandboxadmin", "secret=x").rc == 0
    assert run(az, "aks", "connection", "validate", "--id", conn_id(cluster, "gone_pg")).rc == 0
    sbc.arm("DELETE", "resource?id=" + db_id)
    res = run(az, "aks", "connection", "validate", "--id", conn_id(cluster, "gone_pg"), "-o", "json")
    assert res.rc == 1, res
    found = {r["name"]: r for r in res.json}["Target resource"]
    assert found["result"] == "failure" and found["errorCode"] == "TargetNotFound", found


def test_a_secret_aks_connection_did_not_write_is_not_overwritten(az, sandbox, sbc, tmp_path):
    from tests.e2e.helpers import kube_for, secret_values
    cluster = new_cluster(sbc, "foreign")
    core, _ = kube_for(az, cluster, tmp_path)
    core.create_namespace({"metadata": {"name": "own"}})
    core.create_namespaced_secret("own", {"metadata": {"name": "sc-own1-secret"}, "stringData": {"MY_APP_KEY": "v"}})
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "own1", namespace="own")
    assert res.rc == 1, res
    assert "Secret 'sc-own1-secret' in namespace 'own' exists and was not written by aks-connection" in res.log
    assert writes(sbc, mark) == []
    assert secret_values(core, "own", "sc-own1-secret") == {"MY_APP_KEY": "v"}


@pytest.mark.parametrize("command", [["show"], ["validate"], ["delete", "--yes"], ["list-configuration"]])
def test_a_mistyped_cluster_is_named_not_reported_as_a_missing_connection(az, sbc, command):
    mark = sbc.mark()
    res = run(az, "aks", "connection", *command, "-g", "sandbox-rg", "-n", "no-such-aks", "--connection", "c1")
    assert res.rc == 3, res
    assert "no-such-aks" in res.log and "Connection 'c1' was not found" not in res.log, res.log
    assert "nothing to delete" not in res.log
    assert writes(sbc, mark) == []


def test_the_same_no_wait_update_twice_writes_the_record_once(az, sandbox, sbc):
    cluster = new_cluster(sbc, "nowait2")
    assert create(az, sandbox, cluster, "nw_blob").rc == 0
    before = sbc.set_lro()["lroSeconds"]["default"]
    sbc.set_lro(default=3.0)
    try:
        args = ["aks", "connection", "update", "storage-blob", "--id", conn_id(cluster, "nw_blob"), "--client-type",
                "python", "--no-wait"]
        assert run(az, *args).rc == 0
        mark = sbc.mark()
        assert run(az, *args).rc == 0            # the same record: nothing to write
        assert [w for w in writes(sbc, mark) if "/configmaps" in w[1]] == []
        assert run(az, "aks", "connection", "wait", "--id", conn_id(cluster, "nw_blob"), "--updated",
                   "--interval", "1").rc == 0
    finally:
        sbc.set_lro(default=before)


def test_a_namespace_being_deleted_is_refused_before_any_write_and_made_again_once_gone(az, sandbox, sbc, tmp_path):
    """A deleted namespace stays Terminating while its content goes (the API server refuses anything new in it):
    a create into it fails before any write, naming the cause and the fix; once it is gone, the create makes it
    again. A write that meets the termination after the checks says the same, not a raw 403."""
    import time
    from tests.e2e.helpers import kube_for
    cluster = new_cluster(sbc, "nsterm")
    assert create(az, sandbox, cluster, "term_blob", namespace="leaving").rc == 0
    core, _ = kube_for(az, cluster, tmp_path)
    sbc.set_namespace_termination(3)
    try:
        core.delete_namespace("leaving")
        assert core.read_namespace("leaving").status.phase == "Terminating"
        mark = sbc.mark()
        res = create(az, sandbox, cluster, "term_blob2", namespace="leaving")
        assert res.rc == 1, res
        assert "Namespace 'leaving' is being deleted (Terminating)" in res.log and "kubectl get namespace leaving" \
            in res.log, res.log
        assert "Traceback" not in res.log and writes(sbc, mark) == []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(n.metadata.name == "leaving"
                                                  for n in core.list_namespace().items):
            time.sleep(0.2)
    finally:
        sbc.set_namespace_termination(0)
    again = create(az, sandbox, cluster, "term_blob2", namespace="leaving")
    assert again.rc == 0, again
    assert core.read_namespace("leaving").status.phase == "Active"
