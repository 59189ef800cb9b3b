# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Real cluster access, on every kind of cluster the sandbox seeds, with no kubelogin installed: an Entra ID
cluster with Azure RBAC works from the current login; a missing Azure role, a private cluster, authorized IP
ranges that leave this machine out, or a Kubernetes permission denied on a local-accounts cluster fail before
anything is written, within a bounded time, naming the fix; transient API server failures are retried; --debug
never shows the Entra ID token."""
import base64
import json
import re
import shutil
import time
import uuid

import pytest

from sandbox.context import CALLER_OBJECT_ID
from tests.conftest import az_subprocess
from tests.e2e.helpers import create, run, writes
from tests.sandbox.test_cluster_kinds_sandbox import AKS_SERVER_APP, kube, token

pytestmark = pytest.mark.e2e

CLUSTER_ADMIN = "Azure Kubernetes Service RBAC Cluster Admin"
WRITER = "Azure Kubernetes Service RBAC Writer"


@pytest.fixture(autouse=True)
def no_kubelogin():
    assert shutil.which("kubelogin") is None, "these tests must run without kubelogin"


def secret_name(conn):
    return "sc-" + re.sub(r"[^a-z0-9]", "", conn.lower()) + "-secret"


def base(cluster, conn):
    return ["-g", cluster["resourceGroup"], "-n", cluster["name"], "--connection", conn]


def no_traceback(res):
    assert "Traceback" not in res.log and "Traceback" not in res.out, res.log[-3000:]


def caller_assignments(az, cluster_id):
    listed = az("rest", "--method", "get", "--url", cluster_id + "/providers/Microsoft.Authorization/"
                "roleAssignments?api-version=2022-04-01&$filter=atScope()", "-o", "json")
    assert listed.rc == 0, listed
    return [a["id"] for a in listed.json["value"]]


def test_entra_id_cluster_create_list_show_delete(az, sandbox, sbc):
    cluster = sandbox["seeds"]["clusters"]["entra-id"]
    conn, ns = "entra_blob", "entra-apps"
    mark = sbc.mark()
    made = create(az, sandbox, cluster, conn, namespace=ns)
    assert made.rc == 0, made
    bearer = token(sandbox, AKS_SERVER_APP)
    status, body = kube(sandbox, cluster["name"], "GET", f"/api/v1/namespaces/{ns}/secrets/{secret_name(conn)}",
                        bearer)
    assert status == 200 and "AZURE_STORAGEBLOB_CONNECTIONSTRING" in body["data"], body
    kube_calls = [e for e in sbc.requests(since=mark, plane="kube") if f"/clusters/{cluster['name']}/" in e["path"]]
    assert kube_calls and all(e["status"] != 401 for e in kube_calls), kube_calls
    # the credentials asked for in the exec form (AKS's default form depends on the Kubernetes version)
    creds = [e for e in sbc.requests(since=mark, plane="arm") if e["path"].endswith("/listClusterUserCredential")]
    assert creds and all((e.get("query") or {}).get("format") == "exec" for e in creds), creds

    listed = az("aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    assert listed.rc == 0, listed
    assert conn in [c["name"] for c in listed.json]
    shown = az("aks", "connection", "show", *base(cluster, conn), "-o", "json")
    assert shown.rc == 0 and shown.json["name"] == conn, shown
    gone = az("aks", "connection", "delete", *base(cluster, conn), "--yes")
    assert gone.rc == 0, gone
    listed = az("aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    assert listed.rc == 0 and conn not in [c["name"] for c in listed.json], listed


def test_entra_id_cluster_workload_identity_validate_and_delete(az, sandbox, sbc):
    """On an Entra ID + Azure RBAC cluster with the OIDC issuer off: a workload-identity create turns it on, writes
    the ServiceAccount and Secret through the Entra ID token, records the connection, validates clean (every
    check reads the cluster the same way), and delete removes the record; no cluster extension anywhere."""
    cluster = sbc.new_cluster("aks-entrawi-" + uuid.uuid4().hex[:6], "sandbox-rg", kind="entra-id")
    identity = sandbox["seeds"]["identities"]["sandbox-identity"]
    s = sandbox["seeds"]["storage"]["storage-blob"]
    conn = "entra_wi"
    mark = sbc.mark()
    made = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
               s["resourceGroup"], "--account", s["account"], "--connection", conn, "--kube-namespace", "wi-apps",
               "--workload-identity", identity, "-o", "json")
    assert made.rc == 0, made
    assert "restarts its API server" in made.log          # the OIDC issuer warning
    sa = made.json["kubernetesResourceName"]["serviceAccount"]
    bearer = token(sandbox, AKS_SERVER_APP)
    status, body = kube(sandbox, cluster["name"], "GET", f"/api/v1/namespaces/wi-apps/serviceaccounts/{sa}", bearer)
    assert status == 200 and "azure.workload.identity/client-id" in body["metadata"]["annotations"], body
    status, body = kube(sandbox, cluster["name"], "GET", "/api/v1/namespaces/aks-connection/configmaps"
                        "?labelSelector=aks-connection%2Frecord%3Dv1", bearer)
    assert status == 200 and len(body["items"]) == 1, body
    validated = run(az, "aks", "connection", "validate", *base(cluster, conn), "-o", "json")
    assert validated.rc == 0, validated
    assert {r["result"] for r in validated.json} == {"success"}, validated.json
    listed = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    assert [c["name"] for c in listed.json] == [conn]
    gone = run(az, "aks", "connection", "delete", *base(cluster, conn), "--yes")
    assert gone.rc == 0, gone
    assert run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json").json == []
    assert not [e for e in sbc.requests(since=mark) if "Microsoft.KubernetesConfiguration" in e["path"]
                and e["mutating"]]


def test_entra_id_without_azure_role_names_the_role_and_writes_nothing(az, sandbox, sbc):
    cluster = sbc.new_cluster("aks-norole-" + uuid.uuid4().hex[:6], "sandbox-rg", kind="entra-id")
    for rid in caller_assignments(az, cluster["id"]):          # the caller's Cluster Admin role, removed
        assert az("rest", "--method", "delete", "--url", rid + "?api-version=2022-04-01").rc == 0
    ns = "orders"
    mark = sbc.mark()
    started = time.monotonic()
    res = create(az, sandbox, cluster, "orders_blob", namespace=ns)
    assert time.monotonic() - started < 30
    assert res.rc not in (0, None), res
    no_traceback(res)
    assert "Azure Kubernetes Service RBAC" in res.log
    assert f'--role "{WRITER}" --scope {cluster["id"]}/namespaces/{ns}' in res.log, res.log
    # the namespaces cannot be read without a role: creating them, if missing, needs the cluster-scope role
    assert f'--role "{CLUSTER_ADMIN}" --scope {cluster["id"]} (only if namespace' in res.log, res.log
    assert f"az role assignment create --assignee {CALLER_OBJECT_ID} " in res.log     # who the API server saw
    assert "create secrets in namespace 'orders'" in res.log and "update configmaps in namespace 'aks-connection'" \
        in res.log
    assert writes(sbc, mark) == []


def test_entra_id_of_another_tenant_asks_that_tenant_and_says_how_to_sign_in(az, sandbox, sbc):
    """A cluster whose Entra ID is another tenant's than its subscription's: the API server's token is asked in
    that tenant (the exec's --tenant-id), not the subscription's; a login that cannot get one there (a managed
    identity has its own tenant only) is a clear error naming the tenant and the sign-in, before any write."""
    from sandbox.arm.clusterkinds import OTHER_TENANT
    cluster = sbc.new_cluster("aks-xtenant-" + uuid.uuid4().hex[:6], "sandbox-rg", kind="entra-id-other-tenant")
    mark = sbc.mark()
    res = create(az, sandbox, cluster, "xt_blob")
    assert res.rc == 1, res
    no_traceback(res)
    assert f"trusts Entra ID tenant {OTHER_TENANT}, not the tenant of its subscription" in res.log, res.log
    assert f"az login --tenant {OTHER_TENANT}" in res.log
    assert writes(sbc, mark) == []


@pytest.mark.parametrize("kind,words", [
    ("private", ["is a private cluster", "private address", "--engine service-connector"]),
    ("authorized-ip-ranges", ["authorized IP ranges (203.0.113.0/24, 198.51.100.7/32)",
                              "az aks update -g sandbox-rg -n sandbox-aks-authip --api-server-authorized-ip-ranges "
                              "203.0.113.0/24,198.51.100.7/32,<your public IP>/32",
                              "--engine service-connector"]),
])
def test_unreachable_api_server_fails_fast_and_writes_nothing(az, sandbox, sbc, kind, words):
    cluster = sandbox["seeds"]["clusters"][kind]
    mark = sbc.mark()
    started = time.monotonic()
    res = create(az, sandbox, cluster, "orders_blob")
    elapsed = time.monotonic() - started
    assert res.rc not in (0, None), res
    assert elapsed < 30, elapsed
    no_traceback(res)
    for text in words:
        assert text in res.log, res.log
    assert "Nothing was changed" in res.log
    assert writes(sbc, mark) == []


def test_list_on_unreachable_cluster_names_why_and_still_lists_service_connector(az, sandbox, sbc):
    """The API server is out of reach: aks-connection's own records cannot be read, which list says (why, within a
    bounded time); Service Connector's side is still listed. With both sides unreadable it is an error."""
    cluster = sandbox["seeds"]["clusters"]["authorized-ip-ranges"]
    started = time.monotonic()
    res = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    assert time.monotonic() - started < 30
    assert res.rc == 0 and res.json == [], res
    no_traceback(res)
    assert "aks-connection's own connections were not listed" in res.log
    assert "authorized IP ranges" in res.log and "the connection was refused" in res.log, res.log
    assert "Nothing was changed" not in res.log          # a read changes nothing: it does not say so
    sbc.set_provider("Microsoft.ServiceLinker", "NotRegistered")
    try:
        res = run(az, "aks", "connection", "list", "--source-id", cluster["id"], "-o", "json")
    finally:
        sbc.set_provider("Microsoft.ServiceLinker", "Registered")
    assert res.rc not in (0, None), res
    no_traceback(res)
    assert "authorized IP ranges" in res.log and "the connection was refused" in res.log, res.log


def test_kubernetes_rbac_denial_on_local_accounts_lists_everything_denied(az, sandbox, sbc):
    cluster = sbc.new_cluster("aks-ssar-" + uuid.uuid4().hex[:6], "sandbox-rg")
    sbc.deny_kube(cluster["id"], "create", "secrets", "orders")
    sbc.deny_kube(cluster["id"], "update", "configmaps", "aks-connection")
    sbc.deny_kube(cluster["id"], "get", "secrets", "orders")          # the create's own GET answers 403
    try:
        mark = sbc.mark()
        res = create(az, sandbox, cluster, "orders_blob", namespace="orders")
        assert res.rc not in (0, None), res
        no_traceback(res)
        assert "create secrets in namespace 'orders'" in res.log, res.log
        assert "update configmaps in namespace 'aks-connection'" in res.log, res.log
        assert "get secrets in namespace 'orders'" in res.log, res.log     # in the same one error
        assert "Kubernetes RBAC" in res.log and "kubectl create role" in res.log
        assert "Azure Kubernetes Service RBAC" not in res.log
        assert writes(sbc, mark) == []
    finally:
        sbc.clear_kube_denials()
    assert create(az, sandbox, cluster, "orders_blob", namespace="orders").rc == 0


def test_transient_kubernetes_failures_are_retried(az, sandbox, sbc, monkeypatch):
    cluster = sbc.new_cluster("aks-flaky-" + uuid.uuid4().hex[:6], "sandbox-rg")
    conn, ns = "flaky_blob", "flaky"
    secret_path = f"/clusters/{cluster['name']}/api/v1/namespaces/{ns}/secrets"
    sbc.add_fault(plane="kube", method="POST", path=re.escape(secret_path) + "$", status=503, times=1,
                  headers={"Retry-After": "1"}, message="the server is currently unable to handle the request")
    sbc.add_fault(plane="kube", method="GET", path=re.escape(secret_path + "/" + secret_name(conn)) + "$",
                  latency=3, times=1)
    monkeypatch.setenv("AZURE_AKS_CONNECTION_KUBE_TIMEOUT", "5,1")     # the delayed answer comes too late
    try:
        mark = sbc.mark()
        res = create(az, sandbox, cluster, conn, namespace=ns)
        assert res.rc == 0, res
    finally:
        sbc.clear_faults()

    def calls():
        return [(e["method"], e["status"]) for e in sbc.requests(since=mark, plane="kube")
                if e["path"].startswith(secret_path)]
    # The delayed read is logged when the sandbox answers it (3 s after it came, long after the client gave up).
    deadline = time.monotonic() + 10
    while len([c for c in calls() if c[0] == "GET"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)    # polling the request log at a short explicit interval
    done = calls()
    assert ("POST", 503) in done and ("POST", 201) in done, done
    assert done.count(("POST", 503)) == 1
    assert len([c for c in done if c[0] == "GET"]) >= 2, done     # the slow read was sent again


def _jwts(text):
    found = []
    for candidate in re.findall(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", text):
        payload = candidate.split(".")[1]
        try:
            found.append(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
        except ValueError:
            continue
    return found


def test_debug_never_shows_the_entra_id_token(az, sandbox):
    cluster = sandbox["seeds"]["clusters"]["entra-id"]
    s = sandbox["seeds"]["storage"]["storage-blob"]
    proc = az_subprocess("aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
                         s["resourceGroup"], "--account", s["account"], "--connection", "debug_blob",
                         "--kube-namespace", "debug-entra", "--secret", "-o", "json", "--debug")
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    assert "urllib3" in text or "DEBUG" in text
    assert not [c for c in _jwts(text) if str(c.get("aud", "")).endswith(AKS_SERVER_APP)]
    assert not re.search(r"Bearer eyJ", text)
    az_subprocess("aks", "connection", "delete", *base(cluster, "debug_blob"), "--yes")
