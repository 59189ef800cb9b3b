# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Shared pieces of the error / validate / troubleshoot end-to-end tests: a cluster of one's own to break,
a create against it, and the request log read as a user would."""
import base64
import contextlib
import io
import uuid

import pytest


def new_cluster(sbc, prefix, resource_group="sandbox-rg"):
    """A new, empty cluster (its own Kubernetes store): break it at will."""
    return sbc.new_cluster(f"{prefix}-{uuid.uuid4().hex[:6]}", resource_group)


def run(az, *args):
    """az in-process, with what it prints to stderr outside logging (the recommendation lines of an error)
    added to ``log``: what a user sees on the terminal."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        res = az(*args)
    res.log += err.getvalue()
    return res


def new_identity(az, prefix):
    """A new user-assigned identity in sandbox-rg (``prefix``-<random>), as `az identity create` answers it."""
    made = az("identity", "create", "-g", "sandbox-rg", "-n", f"{prefix}-{uuid.uuid4().hex[:6]}", "-o", "json")
    assert made.rc == 0, made
    return made.json


def wi_create(az, sandbox, cluster, name, identity, *extra):
    """`az aks connection create storage-blob` with --workload-identity ``identity`` on the seeded account."""
    s = sandbox["seeds"]["storage"]["storage-blob"]
    return run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
               s["resourceGroup"], "--account", s["account"], "--connection", name, "--workload-identity", identity,
               "-o", "json", *extra)


def create(az, sandbox, cluster, name, *extra, namespace="default", account=None, account_rg=None):
    s = sandbox["seeds"]["storage"]["storage-blob"]
    return run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"],
               "--tg", account_rg or s["resourceGroup"], "--account", account or s["account"], "--connection", name,
               "--kube-namespace", namespace, "--secret", "-o", "json", *extra)


def writes(sbc, since):
    """The mutating requests (ARM and Kubernetes) since the mark, as (method, path, status)."""
    return [(e["method"], e["path"], e["status"]) for e in sbc.requests(since=since) if e["mutating"]]


def kube_for(az, cluster, tmp_path):
    """CoreV1Api + BatchV1Api of ``cluster`` from `az aks get-credentials` (the user's view)."""
    from kubernetes import client, config
    path = str(tmp_path / f"{cluster['name']}.kubeconfig")
    res = az("aks", "get-credentials", "-g", cluster["resourceGroup"], "-n", cluster["name"], "--file", path,
             "-o", "none")
    assert res.rc == 0, res
    api = config.new_client_from_config(config_file=path)
    return client.CoreV1Api(api), client.BatchV1Api(api)


def secret_values(core, namespace, name):
    sec = core.read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (sec.data or {}).items()}


def by_name(results):
    return {r["name"]: r for r in results}


@pytest.fixture(scope="module")
def quick_extensions(sbc):
    """Extension operations of the sandbox take at most 0.3 s while the module runs (these tests install, fail
    and repair sc-extension many times); restored afterwards."""
    seconds = sbc.set_lro()["lroSeconds"]
    before = seconds.get("extensions", seconds.get("default", 1.0))
    sbc.set_lro(extensions=min(before, 0.3))
    yield
    sbc.set_lro(extensions=before)


@contextlib.contextmanager
def lro_seconds(sbc, **seconds):
    """The sandbox's long-running operations of these kinds (or ``default``) last ``seconds`` inside the block,
    for tests that watch an operation while it runs; the session's durations are restored afterwards."""
    before = sbc.set_lro()["lroSeconds"]
    sbc.set_lro(**seconds)
    try:
        yield
    finally:
        sbc.set_lro(**{k: before.get(k, before.get("default", 1.0)) for k in seconds})


MICROSOFT_EXTENSION_TYPE = "microsoft.servicelinker.connection"


def install_microsoft_extension(az, cluster, wait=True):
    """Microsoft's Service Connector extension on ``cluster``, as its resource provider installs it (aks-connection
    never does): a PUT of sc-extension with Microsoft's type, then its state polled (the sandbox's LRO is short).
    Returns the extension's provisioningState."""
    import json
    import time
    url = f"{cluster['id']}/providers/Microsoft.KubernetesConfiguration/extensions/sc-extension?api-version=2023-05-01"
    body = {"properties": {"extensionType": MICROSOFT_EXTENSION_TYPE, "autoUpgradeMinorVersion": True,
                           "releaseTrain": "stable", "scope": {"cluster": {"releaseNamespace": "sc-system"}}}}
    res = az("rest", "--method", "put", "--url", url, "--body", json.dumps(body), "-o", "json")
    assert res.rc == 0, res
    state = (res.json or {}).get("properties", {}).get("provisioningState")
    deadline = time.monotonic() + 60
    while wait and state not in ("Succeeded", "Failed") and time.monotonic() < deadline:
        time.sleep(0.2)          # the sandbox's extension operations take 0.3 s in these tests
        state = az("rest", "--method", "get", "--url", url, "-o", "json").json["properties"]["provisioningState"]
    return state
