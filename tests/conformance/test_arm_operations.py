# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Every ARM operation aks-connection sends, answered by the sandbox as Azure answers it: the status code, the
long-running-operation headers, the body keys the extension reads, and one refusal. The facts and where they come
from are in ops_*.py (and README.md's table); one sandbox for the module, seeded as `python -m sandbox up` seeds."""
import time

import pytest
import requests

from sandbox import server
from tests.conformance.ops_cluster import LINKER_BODY, OPS as CLUSTER_OPS, linker
from tests.conformance.ops_targets import OPS as TARGET_OPS
from tests.sandbox.armenv import arm_server

OPS = CLUSTER_OPS + TARGET_OPS
RETRY = ("Retry-After", "retry-after-ms", "x-ms-retry-after-ms")


class _Env:
    def __init__(self, ns, seeds):
        self.ns, self.seeds = ns, seeds
        self.linker_put = None
        self.linker_body = None

    def url(self, path, api):
        if path.startswith("https://"):
            return path
        sep = "&" if "?" in path else "?"
        return self.ns.sb.arm_url + path + (f"{sep}api-version={api}" if api else "")

    def call(self, method, path, api, body=None, headers=None):
        h = {"Authorization": "Bearer conformance"}
        h.update(headers or {})
        return requests.request(method, self.url(path, api), json=body, headers=h, verify=self.ns.ca, timeout=30)

    def wait(self, url, deadline=10.0):
        """Poll an Azure-AsyncOperation URL until its status is terminal."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.call("GET", url, None).json().get("status") not in ("InProgress", "Accepted", "Running"):
                return
            time.sleep(0.05)
        raise AssertionError(f"{url} still running")

    def linker_done(self):
        self.wait(self.linker_put.headers["Azure-AsyncOperation"])
        return {}


@pytest.fixture(scope="module")
def env():
    seeds = {}
    with arm_server("conformance-", 0.05, 50, lambda arm: seeds.update(server.seed(arm.sb, {}, None))) as ns:
        e = _Env(ns, seeds)
        body = dict(LINKER_BODY, properties=dict(LINKER_BODY["properties"], targetService={
            "type": "AzureResource", "id": seeds["targets"]["storage-blob"]}))
        e.linker_body = body
        e.linker_put = e.call("PUT", linker(e, None), "2024-07-01-preview", body)
        assert e.linker_put.status_code == 201, e.linker_put.text
        yield e


def _dig(body, dotted):
    cur = body
    for part in dotted.split("."):
        if isinstance(cur, list):
            cur = cur[int(part)] if part.isdigit() and int(part) < len(cur) else KeyError
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return KeyError
        if cur is KeyError:
            return KeyError
    return cur


def _body(env, spec, ctx):
    if spec in ("ctx:body", "ctx:refused"):
        return ctx[spec.split(":")[1]]
    if spec == "linker":
        return env.linker_body
    return spec


def _check_lro(resp, kind):
    h = resp.headers
    retry = [x for x in RETRY if x in h]
    if kind is None:
        assert "Azure-AsyncOperation" not in h and "Location" not in h, dict(h)
    elif kind == "silent":
        assert not retry, dict(h)
    elif kind == "async":
        assert "Azure-AsyncOperation" in h and "Location" not in h and not retry, dict(h)
    elif kind == "async+retry":
        assert "Azure-AsyncOperation" in h and retry, sorted(h)
    elif kind == "async+location":
        assert "Azure-AsyncOperation" in h and "Location" in h and not retry, dict(h)
    elif kind == "async+location+retry":
        assert "Azure-AsyncOperation" in h and "Location" in h and retry, dict(h)
    elif kind == "location+retry":
        assert "Location" in h and retry, dict(h)
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("op", OPS, ids=[o.key for o in OPS])
def test_operation_answers_as_azure(env, op):
    ctx = op.setup(env) if op.setup else {}
    headers = ctx.get("headers") if isinstance(ctx, dict) else None
    resp = env.call(op.method, op.path(env, ctx), op.api, _body(env, op.body, ctx), headers)
    assert resp.status_code == op.status, (op.key, resp.status_code, resp.text[:500])
    _check_lro(resp, op.lro)
    payload = resp.json() if resp.content else None
    missing = [k for k in op.keys if _dig(payload, k) is KeyError]
    assert not missing, (op.key, missing, str(payload)[:800])
    if "Azure-AsyncOperation" in resp.headers:          # leave nothing running for the next operation
        env.wait(resp.headers["Azure-AsyncOperation"])
    if op.refusal is None:
        return
    method, path, api, body, status, code = op.refusal
    refused = env.call(method, path(env, ctx), api or op.api, _body(env, body, ctx),
                       {"If-Match": '"stale"'} if status == 412 else None)
    assert refused.status_code == status, (op.key, refused.status_code, refused.text[:500])
    assert refused.json()["error"]["code"] == code, (op.key, refused.text[:500])


def test_the_readme_table_has_one_row_per_operation():
    import os
    with open(os.path.join(os.path.dirname(__file__), "README.md"), encoding="utf-8") as f:
        rows = [line for line in f if line.startswith("| ") and not line.startswith("| operation")]
    keys = [r.split("|")[1].strip() for r in rows]
    assert keys == [o.key for o in OPS]
    assert all(o.source and o.what for o in OPS)
