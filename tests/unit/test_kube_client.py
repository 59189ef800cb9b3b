# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The Kubernetes client of kubeaccess (no kubernetes package): what it sends and how it reads the answers, against
a local HTTPS server that asks for a client certificate as AKS local-account clusters do."""
import base64
import json
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from azext_aks_connection.provider import kube, kubeaccess
from azext_aks_connection.provider.kubeaccess import ClusterContext, KubeApiError, KubeClient, KubeObject


def test_objects_read_as_the_kubernetes_models_read():
    obj = KubeObject({"kind": "Secret", "type": "Opaque", "metadata": {
        "name": "s", "namespace": "n", "resourceVersion": "7", "labels": {"a_b": "c"}, "annotations": None},
        "data": {"KEY_ONE": "dmFsdWU="}})
    assert obj.metadata.resource_version == "7" and obj.metadata.name == "s"
    assert obj.metadata.labels == {"a_b": "c"} and isinstance(obj.metadata.labels, dict)   # a map stays a dict
    assert obj.data == {"KEY_ONE": "dmFsdWU="} and obj.metadata.annotations is None
    assert obj.metadata.uid is None and obj.type == "Opaque"
    assert "dmFsdWU" not in repr(obj) and "Secret" in repr(obj)          # never the content
    listing = KubeObject({"items": [{"metadata": {"name": "a"}}], "metadata": {"continue": "x"}})
    assert [i.metadata.name for i in listing.items] == ["a"] and listing.metadata._continue == "x"


def test_bodies_of_kubernetes_models_go_in_their_wire_form():
    from kubernetes import client
    body = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="5"))
    assert kubeaccess.plain(body) == {"preconditions": {"resourceVersion": "5"}}
    assert kubeaccess.plain({"a": KubeObject({"b": 1})}) == {"a": {"b": 1}}


@pytest.mark.parametrize("user, cluster, spoken", [
    ({"token": "t"}, {}, True),
    ({"client-certificate-data": "x", "client-key-data": "y", "token": "t"}, {}, True),
    ({"client-certificate-data": "x"}, {}, False),                              # a certificate without its key
    ({"exec": {"command": "other-plugin"}}, {}, False),
    ({"auth-provider": {"name": "azure"}}, {}, False),
    ({"token": "t"}, {"proxy-url": "http://proxy:3128"}, False),
    ({"token": "t"}, {"certificate-authority": "/some/file"}, False),
    ({"token": "t"}, {"server": "http://example.invalid:8080"}, False),
])
def test_what_is_not_spoken_here_is_refused_before_any_request(user, cluster, spoken):
    """One Kubernetes client: a kubeconfig it does not speak is a clear error naming what, not a second client."""
    from azure.cli.core.azclierror import AzureConnectionError
    cluster = dict({"server": "https://example.invalid:443"}, **cluster)
    assert kubeaccess._speaks(cluster, user) is spoken   # pylint: disable=protected-access
    kubeconfig = {"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                  "clusters": [{"name": "k", "cluster": cluster}], "users": [{"name": "u", "user": user}]}
    ref = type("Ref", (), {"name": "aks-odd", "resource_group": "rg", "id": None})()
    if spoken:
        assert kubeaccess.unspoken(cluster, user) == ""
        return
    with pytest.raises(AzureConnectionError) as err:
        KubeClient(kubeconfig, ClusterContext(ref), (1, 1))
    text = str(err.value)
    assert "AKS cluster 'aks-odd'" in text and "does not support" in text, text
    assert kubeaccess.unspoken(cluster, user) in text and kubeaccess.unspoken(cluster, user), text
    assert "--engine service-connector" in err.value.recommendations[0]


@pytest.fixture(scope="module")
def mtls_server():
    """An HTTPS API server that requires a client certificate signed by its CA and records what it received."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("aks-connection-user")
    seen = []
    namespaces = {"ns"}

    def status(code, reason, message, kind=None, name=None):
        out = {"kind": "Status", "status": "Failure", "reason": reason, "message": message, "code": code}
        if kind:
            out["details"] = {"name": name, "kind": kind}
        return code, out

    def answer(method, path, body):
        """A small API server: namespaces exist or not; in a missing one everything is 404 (namespaces)."""
        parts = path.strip("/").split("/")
        if path.endswith("/selfsubjectaccessreviews"):
            attributes = json.loads(body)["spec"]["resourceAttributes"]       # denies every update
            return 201, {"kind": "SelfSubjectAccessReview", "status": {"allowed": attributes["verb"] != "update"}}
        if path == "/api/v1/namespaces" and method == "POST":
            namespaces.add(json.loads(body)["metadata"]["name"])
            return 201, json.loads(body)
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) >= 4:
            ns = parts[3]
            if ns == "forbidden":
                return status(403, "Forbidden", "no")
            if ns not in namespaces:
                return status(404, "NotFound", f'namespaces "{ns}" not found', "namespaces", ns)
            if len(parts) == 6 and method == "GET":
                return status(404, "NotFound", f'{parts[4]} "{parts[5]}" not found', parts[4], parts[5])
            if len(parts) == 4 or method in ("PATCH", "PUT"):
                return 200, {"kind": "Namespace", "metadata": {"name": ns}}
            if method == "POST":
                return 201, json.loads(body)
            return 200, {"kind": "List", "items": []}
        return 200, {"kind": "Namespace", "metadata": {"name": "x", "resourceVersion": "3"}}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            names = [v for _, v in self.connection.getpeercert().get("subjectAltName", ())]
            seen.append({"method": self.command, "path": self.path, "body": body, "peer": names[0] if names else None,
                         "auth": self.headers.get("Authorization"), "type": self.headers.get("Content-Type"),
                         "port": self.client_address[1]})
            status, out = answer(self.command, self.path.split("?")[0], body)
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(ctx)
    ca.configure_trust(ctx)
    ctx.verify_mode = ssl.CERT_REQUIRED
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    kubeconfig = {
        "current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {
            "server": f"https://127.0.0.1:{httpd.server_port}",
            "certificate-authority-data": base64.b64encode(ca.cert_pem.bytes()).decode()}}],
        "users": [{"name": "u", "user": {
            "client-certificate-data": base64.b64encode(client_cert.cert_chain_pems[0].bytes()).decode(),
            "client-key-data": base64.b64encode(client_cert.private_key_pem.bytes()).decode(),
            "token": "sandbox-token"}}]}
    yield kubeconfig, seen
    httpd.shutdown()


def test_client_certificate_token_and_one_connection(mtls_server, tmp_path, monkeypatch):
    kubeconfig, seen = mtls_server
    monkeypatch.setenv("TMPDIR", str(tmp_path))          # nothing of the key may land in a temporary file
    api = KubeClient(kubeconfig, ClusterContext(None), (5, 5))
    del seen[:]
    assert api.request("GET", "/version").metadata.resource_version == "3"
    core = kube.core_v1(api)
    core.patch_namespaced_service_account("sa", "ns", {"metadata": {"annotations": {"a": "b"}}})
    core.list_namespaced_config_map("ns", label_selector="aks-connection/record=v1")
    assert [s["peer"] for s in seen] == ["aks-connection-user"] * 3        # the client certificate, every time
    assert {s["auth"] for s in seen} == {"Bearer sandbox-token"}
    assert seen[1]["type"] == kube.STRATEGIC_MERGE and json.loads(seen[1]["body"]) == {
        "metadata": {"annotations": {"a": "b"}}}
    assert seen[2]["path"] == "/api/v1/namespaces/ns/configmaps?labelSelector=aks-connection%2Frecord%3Dv1"
    assert len({s["port"] for s in seen}) == 1                              # one kept connection
    assert os.listdir(tmp_path) == []
    assert "sandbox-token" not in repr(api.__dict__.get("aks"))


def test_error_answers_and_a_namespace_that_is_gone(mtls_server):
    kubeconfig, seen = mtls_server
    api = KubeClient(kubeconfig, ClusterContext(None), (5, 5))
    api.known_namespaces["gone"] = True                    # seen by the preflight, deleted since
    with pytest.raises(KubeApiError) as err:
        kube.core_v1(api).read_namespaced_secret("s", "gone")
    assert err.value.status == 404 and json.loads(err.value.body)["details"]["kind"] == "namespaces"
    assert api.known_namespaces["gone"] is False           # the next ensure_namespace creates it, not trusts it
    assert kube.read_secret(api, "gone", "s") is None
    with pytest.raises(Exception) as err:
        kube.read_secret(api, "forbidden", "s")
    assert type(err.value).__name__ == "ForbiddenError"
    # A Secret written into a namespace deleted since the command saw it: the namespace is made again.
    api.known_namespaces["again"] = True
    del seen[:]
    assert kube.apply_secret(api, "again", "sc-x-secret", {"K": "v"}, "conn-id") == "created"
    assert [(s["method"], s["path"]) for s in seen] == [
        ("GET", "/api/v1/namespaces/again/secrets/sc-x-secret"), ("POST", "/api/v1/namespaces"),
        ("POST", "/api/v1/namespaces/again/secrets")]
    assert api.known_namespaces["again"] is True
    del seen[:]
    assert kube.ensure_namespace(api, "again") is False and seen == []      # known: not read again


def test_unreachable_server_is_an_azure_connection_error():
    kubeconfig = {"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                  "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:9"}}],
                  "users": [{"name": "u", "user": {"token": "t"}}]}
    from azure.cli.core.azclierror import AzureConnectionError
    with pytest.raises(AzureConnectionError) as err:
        KubeClient(kubeconfig, ClusterContext(None), (2, 2)).request("GET", "/version")
    assert "refused" in str(err.value)


def test_preflight_with_the_creates_own_reads_reviews_only_the_writes(mtls_server):
    """The create's own reads go in the reviews' round and prove the right to read: only the writes are reviewed
    (and ``list`` not at all); a 403 on one of those reads is named in the same one error as the denied reviews."""
    from types import SimpleNamespace
    from azure.cli.core.azclierror import ForbiddenError
    kubeconfig, seen = mtls_server
    api = KubeClient(kubeconfig, ClusterContext(None), (5, 5))
    ref = SimpleNamespace(name="c", resource_group="g", id="/subscriptions/s/resourceGroups/g/providers/"
                          "Microsoft.ContainerService/managedClusters/c", subscription="s")
    reads = {"secret": (lambda: kube.read_secret(api, "ns", "sc-x-secret"), ("get", "secrets", "ns")),
             "account": (lambda: kube.read_service_account(api, "ns", "sa"), ("get", "serviceaccounts", "ns"))}
    del seen[:]
    with pytest.raises(ForbiddenError) as err:              # this server denies every update
        kubeaccess.preflight_create(api, ref, None, "aks-connection", "ns", secret=True, service_account=True,
                                    reads=reads)
    assert "update configmaps in namespace 'aks-connection'" in str(err.value)
    reviewed = sorted((json.loads(s["body"])["spec"]["resourceAttributes"]["verb"],
                       json.loads(s["body"])["spec"]["resourceAttributes"]["resource"]) for s in seen
                      if s["path"].endswith("/selfsubjectaccessreviews"))
    assert ("get", "secrets") not in reviewed and ("get", "serviceaccounts") not in reviewed
    assert not [r for r in reviewed if r[0] == "list"], reviewed
    assert ("update", "configmaps") in reviewed and ("create", "secrets") in reviewed, reviewed
    gets = [s["path"] for s in seen if s["method"] == "GET"]
    assert "/api/v1/namespaces/ns/secrets/sc-x-secret" in gets and "/api/v1/namespaces/ns/serviceaccounts/sa" in gets
    # A 403 on an own read: named with the denied reviews, in one error.
    reads = {"secret": (lambda: kube.read_secret(api, "forbidden", "s"), ("get", "secrets", "forbidden"))}
    with pytest.raises(ForbiddenError) as err:
        kubeaccess.preflight_create(api, ref, None, "aks-connection", "forbidden", secret=True, reads=reads)
    assert "get secrets in namespace 'forbidden'" in str(err.value), str(err.value)
    assert "update configmaps in namespace 'aks-connection'" in str(err.value), str(err.value)


class _Answer:  # pylint: disable=too-few-public-methods
    def __init__(self, status=200, body=b'{"kind": "Status"}'):
        self.status, self.reason, self.data, self.headers = status, "OK", body, {}


class _FlakyPool:  # pylint: disable=too-few-public-methods
    """A stand-in for the client's urllib3 pool: /version answers (or fails to connect) after ``probe_delay``;
    every other path fails to connect ``failures`` times, then answers. Records each attempt's settings."""

    def __init__(self, probe_connects, failures, probe_delay=0.2):
        self.probe_connects, self.failures, self.probe_delay = probe_connects, failures, probe_delay
        self.attempts = []

    def request(self, method, url, body=None, headers=None, timeout=None, retries=None):  # pylint: disable=unused-argument
        import time
        from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
        path = url.split("443", 1)[1]
        self.attempts.append((path, timeout.connect_timeout, getattr(retries, "connect", retries)))
        if path == "/version":
            time.sleep(self.probe_delay)
            if not self.probe_connects:
                raise MaxRetryError(None, url, ConnectTimeoutError(None, url, "timed out"))
            return _Answer()
        if self.failures:
            self.failures -= 1
            raise MaxRetryError(None, url, ConnectTimeoutError(None, url, "timed out"))
        return _Answer()


def _flaky_client(pool):
    from types import SimpleNamespace
    kubeconfig = {"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                  "clusters": [{"name": "k", "cluster": {"server": "https://aks-flaky.hcp.eastus.azmk8s.io:443"}}],
                  "users": [{"name": "u", "user": {"token": "t"}}]}
    api = KubeClient(kubeconfig, ClusterContext(None), (10.0, 30.0))
    api._pool = pool  # pylint: disable=protected-access
    ref = SimpleNamespace(name="aks-flaky", resource_group="rg-flaky", id=None, subscription="s")
    return api, ref


def test_round_alongside_the_probe_fails_with_the_probes_error_when_out_of_reach():
    """The /version probe runs alongside the first round: while it has no answer a request connects with the
    probe's 5 s connect timeout and no second try, and when it cannot connect it fails with the probe's error (a
    server out of reach costs the probe's time, not 2 x 10 s of connect retries)."""
    from azure.cli.core.azclierror import AzureConnectionError
    pool = _FlakyPool(probe_connects=False, failures=99)
    api, ref = _flaky_client(pool)
    with pytest.raises(AzureConnectionError) as err:
        with kubeaccess.reaching(api, ref):
            api.request("GET", "/api/v1/namespaces/orders")
    assert "aks-flaky" in str(err.value) and "no connection within 5 s" in str(err.value), str(err.value)
    assert sorted(pool.attempts) == [("/api/v1/namespaces/orders", 5.0, 0), ("/version", 5.0, False)]


def test_round_alongside_the_probe_makes_a_failed_connect_again_once_the_probe_answers():
    pool = _FlakyPool(probe_connects=True, failures=1)
    api, ref = _flaky_client(pool)
    with kubeaccess.reaching(api, ref):
        assert api.request("GET", "/api/v1/namespaces/orders").kind == "Status"
    attempts = [a for a in pool.attempts if a[0] != "/version"]
    # the first with the probe's settings; the second as any request (the pool's retries, the client's timeout)
    assert attempts == [("/api/v1/namespaces/orders", 5.0, 0), ("/api/v1/namespaces/orders", 10.0, None)]
    api.request("GET", "/api/v1/namespaces/after")       # after the block: the client's own settings
    assert pool.attempts[-1] == ("/api/v1/namespaces/after", 10.0, None)
