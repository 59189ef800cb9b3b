# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The Kubernetes API emulator (sandbox/kube), driven the way users drive a cluster: the official Python
client and the real kubectl, over HTTPS, against a server started in this module."""
import base64
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from sandbox.core import Faults, HttpError, Request, RequestLog, make_tls, serve
from sandbox.kube import KubeRegistry, KubeStore, build_kube_app, kube_error_response

TOKEN = "test-token-123"
KUBECTL = shutil.which("kubectl", path=os.path.dirname(sys.executable)) or shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")


def b64(text):
    return base64.b64encode(text.encode()).decode()


def seed_failed_job(store):
    """A failed Job with its Pod, Event and log, as the sandbox seeds it."""
    store.ensure_namespace("sc-system")
    job = store.create("jobs", "sc-system", {
        "metadata": {"name": "sc-job", "labels": {"app": "sc"}},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "main", "image": "mcr.microsoft.com/sc:1"}]}}},
        "status": {"failed": 1, "startTime": "2025-01-01T00:00:00Z", "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit"}]}})
    uid = job["metadata"]["uid"]
    store.create("pods", "sc-system", {
        "metadata": {"name": "sc-job-x7k2p", "labels": job["spec"]["template"]["metadata"]["labels"],
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "sc-job", "uid": uid,
                                          "controller": True}]},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "mcr.microsoft.com/sc:1"}]},
        "status": {"phase": "Failed", "containerStatuses": [{"name": "main", "ready": False, "restartCount": 0,
                                                             "state": {"terminated": {"exitCode": 1,
                                                                                      "reason": "Error"}}}]}})
    store.create("events", "sc-system", {
        "metadata": {"name": "sc-job.181a2b3c4d5e6f70"}, "type": "Warning", "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit", "count": 1,
        "source": {"component": "job-controller"},
        "involvedObject": {"kind": "Job", "namespace": "sc-system", "name": "sc-job", "uid": uid,
                           "apiVersion": "batch/v1"},
        "firstTimestamp": "2025-01-01T00:00:10Z", "lastTimestamp": "2025-01-01T00:00:10Z"})
    store.set_pod_log("sc-system", "sc-job-x7k2p", "connecting to storage\nerror: 403 AuthorizationFailure\n")
    return job


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kube")
    ctx = make_tls(str(tmp))
    registry = KubeRegistry()
    c1, c2 = registry.add("c1"), registry.add("c2")
    seed_failed_job(c1)
    log, faults, accepts = RequestLog(), Faults(), []
    app = build_kube_app(registry, TOKEN)

    def recording_app(req):  # remember Accept headers, to see how kubectl negotiates discovery
        accepts.append((req.path, req.header("Accept") or ""))
        return app(req)

    server = serve(recording_app, "kube", log, faults, kube_error_response, ssl_context=ctx)
    ca_pem = (tmp / "ca.pem").read_bytes()
    base = f"https://127.0.0.1:{server.server_port}"

    def kubeconfig(cluster):
        return {"apiVersion": "v1", "kind": "Config", "current-context": cluster,
                "clusters": [{"name": cluster, "cluster": {"server": f"{base}/clusters/{cluster}",
                                                           "certificate-authority-data": base64.b64encode(
                                                               ca_pem).decode()}}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": "u"}}]}

    kubeconfig_path = tmp / "kubeconfig"
    kubeconfig_path.write_text(yaml.safe_dump(kubeconfig("c1")))
    api1 = config.new_client_from_config_dict(kubeconfig("c1"))
    api2 = config.new_client_from_config_dict(kubeconfig("c2"))
    yield SimpleNamespace(
        base=base, registry=registry, c1=c1, c2=c2, log=log, faults=faults, accepts=accepts,
        ssl=ssl.create_default_context(cadata=ca_pem.decode()), kubeconfig=str(kubeconfig_path),
        cache=str(tmp / "kubecache"), core=client.CoreV1Api(api1), batch=client.BatchV1Api(api1),
        core2=client.CoreV1Api(api2))
    server.shutdown()
    server.server_close()


@pytest.fixture
def ns(env, request):
    """A fresh namespace per test, named after it."""
    name = "t-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:50].strip("-")
    env.c1.ensure_namespace(name)
    return name


def raw(env, method, path, token=TOKEN, headers=None, body=None):
    """(status, content-type, parsed body) of a plain HTTPS request."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(env.base + path, data=data, method=method, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, context=env.ssl, timeout=10) as resp:
            status, ctype, payload = resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        status, ctype, payload = err.code, err.headers.get("Content-Type", ""), err.read()
    return status, ctype, (json.loads(payload) if "json" in ctype else payload.decode())


def status_of(exc):
    """The Kubernetes Status body of an ApiException."""
    return json.loads(exc.body)


def kubectl(env, *args, check=True, stdin=None):
    res = subprocess.run([KUBECTL, "--kubeconfig", env.kubeconfig, "--cache-dir", env.cache, *args],
                         capture_output=True, text=True, input=stdin, timeout=60, check=False)
    if check:
        assert res.returncode == 0, f"kubectl {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res


def secret(name, labels=None, **kwargs):
    return dict({"metadata": {"name": name, "labels": labels or {}}}, **kwargs)


# ---- store basics ---------------------------------------------------------------------------------

def test_new_store_has_default_namespaces(env):
    store = KubeStore()
    names = {n["metadata"]["name"] for n in store.list("namespaces")}
    assert {"default", "kube-system", "kube-public"} <= names
    listed = {n.metadata.name for n in env.core2.list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= listed
    assert store.get("namespaces", None, "default")["status"]["phase"] == "Active"


def test_create_fills_server_metadata(env, ns):
    created = env.core.create_namespaced_secret(ns, secret("meta", data={"k": b64("v")}))
    meta = created.metadata
    assert meta.namespace == ns and meta.uid and re.fullmatch(r"\d+", meta.resource_version)
    assert created.kind == "Secret" and created.api_version == "v1" and created.type == "Opaque"
    status, _, body = raw(env, "GET", f"/clusters/c1/api/v1/namespaces/{ns}/secrets/meta")
    assert status == 200
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["metadata"]["creationTimestamp"])
    assert body["kind"] == "Secret" and body["apiVersion"] == "v1"
    assert env.c1.get("secrets", ns, "meta") == body  # stored exactly as the API returns it


def test_string_data_becomes_base64_data_on_create_put_and_patch(env, ns):
    created = env.core.create_namespaced_secret(ns, secret("sd", data={"a": b64("1")},
                                                           stringData={"password": "hunter2"}))
    assert created.data == {"a": b64("1"), "password": b64("hunter2")}
    assert created.string_data is None
    assert "stringData" not in env.c1.get("secrets", ns, "sd")
    patched = env.core.patch_namespaced_secret("sd", ns, {"stringData": {"b": "two"}})
    assert patched.data == {"a": b64("1"), "password": b64("hunter2"), "b": b64("two")}
    replaced = env.core.replace_namespaced_secret("sd", ns, secret("sd", stringData={"only": "x"}))
    assert replaced.data == {"only": b64("x")} and replaced.string_data is None


def test_invalid_base64_in_data_is_422(env, ns):
    with pytest.raises(ApiException) as exc:
        env.core.create_namespaced_secret(ns, secret("bad64", data={"k": "not base64!"}))
    body = status_of(exc.value)
    assert exc.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith('Secret "bad64" is invalid: data[k]: Invalid value')


# ---- optimistic concurrency, errors ----------------------------------------------------------------

def test_resource_version_bumps_and_stale_put_is_a_conflict(env, ns):
    first = env.core.create_namespaced_secret(ns, secret("rv", data={"k": b64("1")}))
    rv1 = first.metadata.resource_version
    first.data = {"k": b64("2")}
    second = env.core.replace_namespaced_secret("rv", ns, first)
    assert int(second.metadata.resource_version) > int(rv1)
    # Another write anywhere in the cluster bumps the global counter too.
    other = env.core.create_namespaced_config_map(ns, {"metadata": {"name": "other"}})
    assert int(other.metadata.resource_version) > int(second.metadata.resource_version)

    first.data = {"k": b64("stale")}  # still carries rv1
    with pytest.raises(ApiException) as exc:
        env.core.replace_namespaced_secret("rv", ns, first)
    body = status_of(exc.value)
    assert exc.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on secrets "rv": the object has been modified; '
                               'please apply your changes to the latest version and try again')
    assert body["details"] == {"name": "rv", "kind": "secrets"}
    with pytest.raises(ApiException) as exc:  # a patch carrying a stale resourceVersion conflicts as well
        env.core.patch_namespaced_secret("rv", ns, {"metadata": {"resourceVersion": rv1}})
    assert exc.value.status == 409

    # Without a resourceVersion, PUT replaces unconditionally.
    unconditional = env.core.replace_namespaced_secret("rv", ns, secret("rv", data={"k": b64("3")}))
    assert unconditional.data == {"k": b64("3")}
    # A no-op update is not a write: the resourceVersion stays.
    again = env.core.replace_namespaced_secret("rv", ns, secret("rv", data={"k": b64("3")}))
    assert again.metadata.resource_version == unconditional.metadata.resource_version


def test_duplicate_create_is_already_exists(env, ns):
    env.core.create_namespaced_secret(ns, secret("dup"))
    with pytest.raises(ApiException) as exc:
        env.core.create_namespaced_secret(ns, secret("dup"))
    body = status_of(exc.value)
    assert exc.value.status == 409
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'secrets "dup" already exists', "reason": "AlreadyExists",
                    "details": {"name": "dup", "kind": "secrets"}, "code": 409}
    with pytest.raises(ApiException) as exc:
        env.batch.create_namespaced_job("sc-system", {"metadata": {"name": "sc-job"}, "spec": {"template": {}}})
    assert status_of(exc.value)["message"] == 'jobs.batch "sc-job" already exists'


def test_not_found_and_missing_namespace(env, ns):
    with pytest.raises(ApiException) as exc:
        env.core.read_namespaced_secret("nope", ns)
    body = status_of(exc.value)
    assert (exc.value.status, body["reason"], body["message"]) == (404, "NotFound", 'secrets "nope" not found')
    assert body["details"] == {"name": "nope", "kind": "secrets"}
    with pytest.raises(ApiException) as exc:
        env.core.delete_namespaced_secret("nope", ns)
    assert exc.value.status == 404
    with pytest.raises(ApiException) as exc:
        env.core.create_namespaced_secret("no-such-ns", secret("x"))
    body = status_of(exc.value)
    assert (exc.value.status, body["reason"], body["message"]) == (404, "NotFound", 'namespaces "no-such-ns" not found')


@pytest.mark.parametrize("name", ["Bad_Name", "UPPER", "-lead", "trail-", "a" * 254])
def test_invalid_object_names_are_422(env, ns, name):
    with pytest.raises(ApiException) as exc:
        env.core.create_namespaced_secret(ns, secret(name))
    body = status_of(exc.value)
    assert exc.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith(f'Secret "{name}" is invalid: ')
    assert body["details"]["kind"] == "Secret" and body["details"]["causes"][0]["field"] == "metadata.name"


def test_invalid_name_messages_match_the_api_server(env, ns):
    with pytest.raises(ApiException) as exc:
        env.core.create_namespaced_secret(ns, secret("Bad_Name"))
    assert status_of(exc.value)["message"] == (
        'Secret "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain '
        "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    # Dots are fine in subdomains (secrets) but not in labels (namespaces); labels stop at 63.
    env.core.create_namespaced_secret(ns, secret("dotted.name-1"))
    for bad in ("dotted.ns", "n" * 64):
        with pytest.raises(ApiException) as exc:
            env.core.create_namespace({"metadata": {"name": bad}})
        assert exc.value.status == 422
        assert "RFC 1123 label" in status_of(exc.value)["message"] or "no more than 63" in \
            status_of(exc.value)["message"]
    with pytest.raises(ApiException) as exc:
        env.batch.create_namespaced_job(ns, {"metadata": {"name": "Job_1"}, "spec": {"template": {}}})
    assert status_of(exc.value)["message"].startswith('Job.batch "Job_1" is invalid: metadata.name')


def test_put_with_other_name_in_body_is_400(env, ns):
    env.core.create_namespaced_secret(ns, secret("one"))
    with pytest.raises(ApiException) as exc:
        env.core.replace_namespaced_secret("one", ns, secret("two"))
    body = status_of(exc.value)
    assert exc.value.status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == "the name of the object (two) does not match the name on the URL (one)"


# ---- patch flavours ---------------------------------------------------------------------------------

POD = {"metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
       "spec": {"containers": [
           {"name": "main", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
           {"name": "sidecar", "image": "envoy:1"}]}}


def test_strategic_merge_patch_merges_lists_by_name(env, ns):
    env.core.create_namespaced_pod(ns, POD)
    patch = {"spec": {"containers": [{"name": "main", "image": "nginx:2", "env": [{"name": "B", "value": "3"},
                                                                                  {"name": "C", "value": "4"}]}]}}
    pod = env.core.patch_namespaced_pod("web", ns, patch)  # dict body: strategic merge (client default)
    main, sidecar = pod.spec.containers
    assert (main.name, main.image, sidecar.name, sidecar.image) == ("main", "nginx:2", "sidecar", "envoy:1")
    assert [(e.name, e.value) for e in main.env] == [("A", "1"), ("B", "3"), ("C", "4")]
    pod = env.core.patch_namespaced_pod("web", ns, {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}]}})
    assert [c.name for c in pod.spec.containers] == ["main"]


def test_merge_patch_replaces_lists_and_null_deletes(env, ns):
    env.core.create_namespaced_pod(ns, POD)
    patch = {"metadata": {"labels": {"tier": None, "new": "yes"}},
             "spec": {"containers": [{"name": "main", "image": "nginx:2"}]}}
    pod = env.core.patch_namespaced_pod("web", ns, patch, _content_type="application/merge-patch+json")
    assert pod.metadata.labels == {"app": "web", "new": "yes"}
    assert [(c.name, c.image, c.env) for c in pod.spec.containers] == [("main", "nginx:2", None)]
    assert pod.metadata.generation == 2  # spec changed


def test_json_patch_add_remove_replace_test(env, ns):
    env.core.create_namespaced_pod(ns, POD)
    ops = [{"op": "test", "path": "/spec/containers/0/image", "value": "nginx:1"},
           {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:3"},
           {"op": "add", "path": "/metadata/labels/a~1b", "value": "slash"},
           {"op": "remove", "path": "/spec/containers/1"},
           {"op": "add", "path": "/spec/containers/0/env/-", "value": {"name": "Z", "value": "26"}}]
    pod = env.core.patch_namespaced_pod("web", ns, ops)  # list body: json-patch
    assert pod.metadata.labels["a/b"] == "slash"
    assert [c.image for c in pod.spec.containers] == ["nginx:3"]
    assert [e.name for e in pod.spec.containers[0].env] == ["A", "B", "Z"]
    with pytest.raises(ApiException) as exc:
        env.core.patch_namespaced_pod("web", ns, [{"op": "test", "path": "/metadata/name", "value": "other"}])
    assert exc.value.status == 422 and status_of(exc.value)["reason"] == "Invalid"
    with pytest.raises(ApiException) as exc:
        env.core.patch_namespaced_pod("web", ns, [{"op": "remove", "path": "/spec/nothing"}])
    assert exc.value.status == 422


def test_server_side_apply_is_rejected_with_415(env, ns):
    env.core.create_namespaced_config_map(ns, {"metadata": {"name": "ssa"}})
    status, _, body = raw(env, "PATCH", f"/clusters/c1/api/v1/namespaces/{ns}/configmaps/ssa", body={},
                          headers={"Content-Type": "application/apply-patch+yaml"})
    assert status == 415 and body["reason"] == "UnsupportedMediaType"


# ---- list, selectors ---------------------------------------------------------------------------------

def test_label_selector_operators(env, ns):
    for name, labels in [("s1", {"app": "web", "tier": "front"}), ("s2", {"app": "web", "tier": "back"}),
                         ("s3", {"app": "db"}), ("s4", {}), ("s5", {"app": "web", "tier": "front", "v": "10"})]:
        env.core.create_namespaced_secret(ns, secret(name, labels))

    def names(selector):
        return [s.metadata.name for s in env.core.list_namespaced_secret(ns, label_selector=selector).items]

    assert names("app=web") == ["s1", "s2", "s5"]
    assert names("app==web") == ["s1", "s2", "s5"]
    assert names("app!=web") == ["s3", "s4"]  # != also matches objects without the label
    assert names("tier") == ["s1", "s2", "s5"]
    assert names("!tier") == ["s3", "s4"]
    assert names("tier in (front, back)") == ["s1", "s2", "s5"]
    assert names("app in (db)") == ["s3"]
    assert names("tier notin (front)") == ["s2", "s3", "s4"]
    assert names("app=web,tier!=back") == ["s1", "s5"]
    assert names("app=web,tier in (front,back),!v") == ["s1", "s2"]
    assert names("v>5") == ["s5"] and names("v<5") == []
    assert names("") == ["s1", "s2", "s3", "s4", "s5"]
    assert [o["metadata"]["name"] for o in env.c1.list("secrets", ns, {"app": "db"})] == ["s3"]
    with pytest.raises(ApiException) as exc:
        env.core.list_namespaced_secret(ns, label_selector="app in web")
    assert exc.value.status == 400 and status_of(exc.value)["reason"] == "BadRequest"


def test_field_selectors_and_lists_across_namespaces(env, ns):
    env.c1.ensure_namespace(ns + "-b")
    for namespace in (ns, ns + "-b"):
        env.core.create_namespaced_secret(namespace, secret("shared"))
        env.core.create_namespaced_secret(namespace, secret("own-" + namespace))
    everywhere = env.core.list_secret_for_all_namespaces(field_selector="metadata.name=shared").items
    assert sorted(s.metadata.namespace for s in everywhere) == [ns, ns + "-b"]
    in_b = env.core.list_secret_for_all_namespaces(field_selector=f"metadata.namespace={ns}-b").items
    assert sorted(s.metadata.name for s in in_b) == ["own-" + ns + "-b", "shared"]
    mine = env.core.list_namespaced_secret(ns, field_selector="metadata.name!=shared").items
    assert [s.metadata.name for s in mine] == ["own-" + ns]
    with pytest.raises(ApiException) as exc:
        env.core.list_namespaced_secret(ns, field_selector="spec.foo=bar")
    assert exc.value.status == 400 and status_of(exc.value)["message"] == "field label not supported: spec.foo"


def test_event_field_selector_like_kubectl_describe(env):
    uid = env.c1.get("jobs", "sc-system", "sc-job")["metadata"]["uid"]
    selector = f"involvedObject.name=sc-job,involvedObject.namespace=sc-system,involvedObject.kind=Job," \
               f"involvedObject.uid={uid}"
    events = env.core.list_namespaced_event("sc-system", field_selector=selector).items
    assert [e.reason for e in events] == ["BackoffLimitExceeded"]
    assert env.core.list_namespaced_event("sc-system", field_selector="involvedObject.uid=other").items == []
    assert [e.metadata.name for e in env.core.list_event_for_all_namespaces(
        field_selector="reason=BackoffLimitExceeded").items] == ["sc-job.181a2b3c4d5e6f70"]


def test_list_shape(env, ns):
    env.core.create_namespaced_secret(ns, secret("listed"))
    status, _, body = raw(env, "GET", f"/clusters/c1/api/v1/namespaces/{ns}/secrets")
    assert status == 200
    assert (body["kind"], body["apiVersion"]) == ("SecretList", "v1")
    assert int(body["metadata"]["resourceVersion"]) >= int(body["items"][0]["metadata"]["resourceVersion"])
    status, _, body = raw(env, "GET", "/clusters/c1/apis/batch/v1/jobs")
    assert (body["kind"], body["apiVersion"]) == ("JobList", "batch/v1")
    assert [j["metadata"]["name"] for j in body["items"]] == ["sc-job"]


def test_table_when_asked(env, ns):
    env.core.create_namespaced_secret(ns, secret("tab", data={"a": b64("1"), "b": b64("2")}))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, _, table = raw(env, "GET", f"/clusters/c1/api/v1/namespaces/{ns}/secrets", headers={"Accept": accept})
    assert status == 200 and (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    (row,) = table["rows"]
    assert row["cells"][:3] == ["tab", "Opaque", 2]
    assert row["object"]["kind"] == "PartialObjectMetadata" and row["object"]["metadata"]["namespace"] == ns
    _, _, table = raw(env, "GET", "/clusters/c1/apis/batch/v1/namespaces/sc-system/jobs/sc-job?includeObject=Object",
                      headers={"Accept": accept})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Completions", "Duration", "Age"]
    assert table["rows"][0]["cells"][:3] == ["sc-job", "Failed", "0/1"]
    assert table["rows"][0]["object"]["kind"] == "Job"


@pytest.mark.parametrize("path,columns", [
    ("/api/v1/namespaces", ["Name", "Status", "Age"]),
    ("/api/v1/serviceaccounts", ["Name", "Secrets", "Age"]),
    ("/api/v1/configmaps", ["Name", "Data", "Age"]),
    ("/api/v1/pods", ["Name", "Ready", "Status", "Restarts", "Age"]),
    ("/api/v1/events", ["Last Seen", "Type", "Reason", "Object", "Message"]),
])
def test_table_columns_per_kind(env, path, columns):
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    _, _, table = raw(env, "GET", "/clusters/c1" + path, headers={"Accept": accept})
    assert [c["name"] for c in table["columnDefinitions"]] == columns


# ---- delete, pods, jobs, status ----------------------------------------------------------------------

def test_delete_and_namespace_deletion_removes_contents(env, ns):
    env.core.create_namespaced_secret(ns, secret("gone"))
    result = env.core.delete_namespaced_secret("gone", ns)  # this client returns DELETE bodies as dicts
    assert (result["kind"], result["status"], result["details"]["name"]) == ("Status", "Success", "gone")
    assert env.c1.get("secrets", ns, "gone") is None
    env.core.create_namespaced_secret(ns, secret("inside"))
    env.core.create_namespaced_config_map(ns, {"metadata": {"name": "inside"}})
    env.core.delete_namespace(ns)
    assert env.c1.get("namespaces", None, ns) is None
    assert env.c1.list("secrets", ns) == [] and env.c1.list("configmaps", ns) == []
    assert env.c1.delete("secrets", ns, "inside") is None


def test_pod_log_is_text(env):
    log = env.core.read_namespaced_pod_log("sc-job-x7k2p", "sc-system")
    assert log == "connecting to storage\nerror: 403 AuthorizationFailure\n"
    assert env.core.read_namespaced_pod_log("sc-job-x7k2p", "sc-system", tail_lines=1) == \
        "error: 403 AuthorizationFailure\n"
    status, ctype, text = raw(env, "GET", "/clusters/c1/api/v1/namespaces/sc-system/pods/sc-job-x7k2p/log")
    assert status == 200 and ctype.startswith("text/plain") and "AuthorizationFailure" in text
    with pytest.raises(ApiException) as exc:
        env.core.read_namespaced_pod_log("missing", "sc-system")
    assert exc.value.status == 404 and status_of(exc.value)["message"] == 'pods "missing" not found'


def test_jobs_status_subresource_and_cascading_delete(env, ns):
    job = env.batch.create_namespaced_job(ns, {
        "metadata": {"name": "work"}, "status": {"succeeded": 5},  # status is ignored on create
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}})
    assert job.status.succeeded is None and job.metadata.generation == 1
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": job.metadata.uid}
    job = env.batch.patch_namespaced_job_status("work", ns, {"status": {"active": 1}})
    assert job.status.active == 1
    env.core.create_namespaced_pod(ns, {"metadata": {"name": "work-abcde", "ownerReferences": [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "work", "uid": job.metadata.uid}]},
        "spec": {"containers": [{"name": "c", "image": "x"}]}})
    env.batch.delete_namespaced_job("work", ns, propagation_policy="Background")
    assert env.c1.get("jobs", ns, "work") is None and env.c1.get("pods", ns, "work-abcde") is None


def test_dry_run_does_not_persist(env, ns):
    created = env.core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}}, dry_run="All")
    assert created.metadata.uid and env.c1.get("configmaps", ns, "dry") is None


def test_store_odds_and_ends(env, ns):
    made = env.core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}})
    assert re.fullmatch(r"gen-[a-z0-9]{5}", made.metadata.name)
    env.core.create_namespaced_secret(ns, secret("frozen", data={"k": b64("1")}, immutable=True))
    with pytest.raises(ApiException) as exc:
        env.core.patch_namespaced_secret("frozen", ns, {"data": {"k": b64("2")}})
    assert exc.value.status == 422 and "immutable" in status_of(exc.value)["message"]
    for name in ("c1", "c2"):
        env.core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": {"batch": "yes"}}})
    env.core.delete_collection_namespaced_config_map(ns, label_selector="batch=yes")
    assert [c.metadata.name for c in env.core.list_namespaced_config_map(ns).items] == [made.metadata.name]
    env.c1.create("pods", ns, {"metadata": {"name": "two"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}})
    env.c1.set_pod_log(ns, "two", "from b\n", container="b")
    env.c1.update_status("pods", ns, "two", {"phase": "Running"})
    assert env.core.read_namespaced_pod("two", ns).status.phase == "Running"
    assert env.core.read_namespaced_pod_log("two", ns, container="b") == "from b\n"
    with pytest.raises(ApiException) as exc:
        env.core.read_namespaced_pod_log("two", ns)  # two containers: say which
    assert exc.value.status == 400


# ---- auth, clusters, errors, faults -------------------------------------------------------------------

def test_requests_need_the_bearer_token(env):
    for token in (None, "wrong"):
        status, _, body = raw(env, "GET", "/clusters/c1/api/v1/namespaces", token=token)
        assert status == 401
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    app = build_kube_app(env.registry, TOKEN)
    assert app(Request("GET", "/subscriptions/x", {}, b"")) is None  # not ours: other planes answer
    status, _, body = raw(env, "GET", "/clusters/nope/api/v1/namespaces")
    assert status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"


def test_two_clusters_are_isolated(env, ns):
    env.core.create_namespaced_secret(ns, secret("only-in-c1"))
    assert env.c2.get("namespaces", None, ns) is None
    with pytest.raises(ApiException) as exc:
        env.core2.read_namespaced_secret("only-in-c1", ns)
    assert exc.value.status == 404
    env.core2.create_namespace({"metadata": {"name": ns}})
    env.core2.create_namespaced_secret(ns, secret("only-in-c1", data={"k": b64("c2")}))
    assert env.core.read_namespaced_secret("only-in-c1", ns).data is None
    assert sorted(env.registry.keys()) == ["c1", "c2"] and env.registry.get("c3") is None


def test_injected_fault_renders_as_status(env, ns):
    env.core.create_namespaced_secret(ns, secret("x"))
    rule = env.faults.add({"plane": "kube", "method": "GET", "path": "/secrets/x$", "status": 403,
                           "code": "Forbidden", "message": 'secrets "x" is forbidden: User "sandbox" cannot get'})
    try:
        with pytest.raises(ApiException) as exc:
            env.core.read_namespaced_secret("x", ns)
    finally:
        env.faults.clear(rule)
    assert exc.value.status == 403 and exc.value.reason == "Forbidden"
    body = status_of(exc.value)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Forbidden", 403)
    assert body["message"].startswith('secrets "x" is forbidden')
    assert env.core.read_namespaced_secret("x", ns).metadata.name == "x"  # rule cleared


def test_error_rendering_reasons():
    resp = kube_error_response(HttpError(500, "InternalServerError", "boom"), None)
    assert (resp.status, resp.body["reason"]) == (500, "InternalError")
    resp = kube_error_response(HttpError(429, "InjectedFault", "slow down", headers={"Retry-After": "2"}), None)
    assert resp.body["reason"] == "TooManyRequests" and resp.body["details"] == {"retryAfterSeconds": 2}
    resp = kube_error_response(HttpError(409, "AlreadyExists", "m", details={"name": "n", "kind": "secrets"}), None)
    assert resp.body["details"] == {"name": "n", "kind": "secrets"} and resp.body["status"] == "Failure"


# ---- the real kubectl ----------------------------------------------------------------------------------

@needs_kubectl
def test_kubectl_discovery_get_and_json(env):
    out = kubectl(env, "get", "ns").stdout
    assert re.search(r"^NAME\s+STATUS\s+AGE$", out, re.M) and re.search(r"^sc-system\s+Active\s", out, re.M)
    # kubectl asked for aggregated discovery first, got legacy JSON, and fell back to /api/v1 and /apis/batch/v1.
    asked = dict(env.accepts)
    assert "as=APIGroupDiscoveryList" in asked["/clusters/c1/api"]
    assert "/clusters/c1/api/v1" in asked and "/clusters/c1/apis/batch/v1" in asked
    out = kubectl(env, "get", "jobs", "-n", "sc-system").stdout
    assert re.search(r"^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE$", out, re.M)
    assert re.search(r"^sc-job\s+Failed\s+0/1\s", out, re.M)
    out = kubectl(env, "get", "pods", "-n", "sc-system").stdout
    assert re.search(r"^sc-job-x7k2p\s+0/1\s+Error\s+0\s", out, re.M)
    out = kubectl(env, "get", "events", "-n", "sc-system").stdout
    assert re.search(r"Warning\s+BackoffLimitExceeded\s+job/sc-job\s+Job has reached", out)
    res = kubectl(env, "get", "secret", "nope", "-n", "sc-system", check=False)
    assert res.returncode == 1 and 'Error from server (NotFound): secrets "nope" not found' in res.stderr


@needs_kubectl
def test_kubectl_create_apply_get_describe_delete(env):
    assert "namespace/kc created" in kubectl(env, "create", "namespace", "kc").stdout  # protobuf body
    kubectl(env, "create", "secret", "generic", "lit", "-n", "kc", "--from-literal=user=admin")
    assert env.c1.get("secrets", "kc", "lit")["data"] == {"user": b64("admin")}
    kubectl(env, "create", "configmap", "lit", "-n", "kc", "--from-literal=mode=fast")
    assert env.c1.get("configmaps", "kc", "lit")["data"] == {"mode": "fast"}
    manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app", "namespace": "kc",
                                                                   "labels": {"app": "web"}},
                "stringData": {"password": "hunter2"}}
    out = kubectl(env, "apply", "-f", "-", stdin=json.dumps(manifest)).stdout
    assert "secret/app created" in out
    manifest["stringData"] = {"password": "hunter3", "extra": "x"}
    out = kubectl(env, "apply", "-f", "-", stdin=json.dumps(manifest)).stdout
    assert "secret/app configured" in out
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "kc"}, "data": {"a": "1"}}
    kubectl(env, "apply", "-f", "-", stdin=json.dumps(cm))
    assert "configmap/cfg unchanged" in kubectl(env, "apply", "-f", "-", stdin=json.dumps(cm)).stdout

    got = json.loads(kubectl(env, "get", "secret", "app", "-n", "kc", "-o", "json").stdout)
    assert got["data"] == {"password": b64("hunter3"), "extra": b64("x")} and "stringData" not in got
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]
    out = kubectl(env, "get", "secrets", "-A").stdout
    assert re.search(r"^NAMESPACE\s+NAME\s+TYPE\s+DATA\s+AGE$", out, re.M)
    assert re.search(r"^kc\s+app\s+Opaque\s+2\s", out, re.M)
    out = kubectl(env, "describe", "secret", "app", "-n", "kc").stdout
    assert re.search(r"^Name:\s+app$", out, re.M) and re.search(r"^password:\s+7 bytes$", out, re.M)
    kubectl(env, "create", "serviceaccount", "robot", "-n", "kc")
    out = kubectl(env, "describe", "sa", "robot", "-n", "kc").stdout
    assert re.search(r"^Name:\s+robot$", out, re.M) and re.search(r"^Namespace:\s+kc$", out, re.M)

    assert 'secret "app" deleted' in kubectl(env, "delete", "secret", "app", "-n", "kc").stdout
    assert env.c1.get("secrets", "kc", "app") is None
    res = kubectl(env, "apply", "--server-side", "-f", "-", stdin=json.dumps(cm), check=False)
    assert res.returncode != 0  # server-side apply is not emulated
    kubectl(env, "delete", "namespace", "kc")
    assert env.c1.get("namespaces", None, "kc") is None and env.c1.list("serviceaccounts", "kc") == []


@needs_kubectl
def test_kubectl_describe_job_and_logs(env):
    out = kubectl(env, "describe", "job", "sc-job", "-n", "sc-system").stdout
    assert re.search(r"^Name:\s+sc-job$", out, re.M)
    assert re.search(r"Pods Statuses:\s+0 Active .* / 1 Failed", out)
    assert re.search(r"Warning\s+BackoffLimitExceeded\s+\S+\s+job-controller\s+Job has reached", out)
    assert kubectl(env, "logs", "sc-job-x7k2p", "-n", "sc-system").stdout == \
        "connecting to storage\nerror: 403 AuthorizationFailure\n"
    assert "AuthorizationFailure" in kubectl(env, "logs", "job/sc-job", "-n", "sc-system").stdout
