# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Faults on every route of a workload-identity create, on both planes (issue 13 item 8): a 429, a 5xx, latency past
the client's timeout and a connection reset, each once on its route. A create *converges* when it succeeds through
the fault with the clean run's end state (same objects on both planes, none twice), or fails with a clear error
(the cause and a fix, no raw transport text) and a re-run without the fault then reaches that end state.

The routes are those of a clean run (its request log, /msi/token aside: that is the login, not the create). Each
kind is first injected on all routes at once, once each, in one create; when that create does not converge, every
route it reached is tried alone, so the counts say which route does not. The timeouts are short here (1 s for ARM
and the Kubernetes API: AZURE_AKS_CONNECTION_ARM_TIMEOUT / _KUBE_TIMEOUT) so that latency past them is cheap."""
import re

import pytest

from tests.conftest import run_az
from tests.reliability.conftest import quiesce
from tests.reliability.world import create_args, new_world, snapshot, duplicates

pytestmark = pytest.mark.e2e

KINDS = {
    "429": {"status": 429, "code": "TooManyRequests", "message": "Too many requests, retry later.",
            "headers": {"Retry-After": "1"}},
    "5xx": {"status": 503, "code": "ServiceUnavailable", "message": "The service is temporarily unavailable."},
    "latency": {"latency": 1.6},
    "reset": {"reset": True},
    # malformed answers (issue 25): what a proxy or a dropped connection answers in the service's place
    "bare 200": {"status": 200, "bare": True},
    "truncated JSON": {"status": 200, "body": '{"metadata": {"name": "x", "ann', "content_type": "application/json"},
    "HTML page": {"status": 200, "body": "<html><body><h1>502 Bad Gateway</h1></body></html>",
                  "content_type": "text/html"},
    "wrong content type": {"status": 200, "body": "upstream connect error or disconnect/reset before headers",
                           "content_type": "text/plain"},
}
SHORT_TIMEOUTS = {"AZURE_AKS_CONNECTION_ARM_TIMEOUT": "1", "AZURE_AKS_CONNECTION_KUBE_TIMEOUT": "1"}
RAW = ("Traceback", "HTTPSConnectionPool", "urllib3", "Max retries exceeded", "RemoteDisconnected",
       "(Conflict) Conflict", "Connection aborted")
GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def xdist_group_of(item):
    return item.callspec.params["kind"] if hasattr(item, "callspec") else "reference"


def _names(world):
    """(placeholder, value) of what is the world's own in a path, most specific first."""
    return [("{identity}", world["identity"]["name"]), ("{account}", world["account"]["name"]),
            ("{cluster}", world["cluster"]["name"]), ("{namespace}", world["namespace"]),
            ("{connection}", world["connection"]), ("{conn}", world["connection"].replace("_", ""))]


def route_of(path, world):
    """The route of a request path: the world's names as placeholders, GUIDs and hashes as {id}."""
    for placeholder, value in _names(world):
        path = path.replace(value, placeholder)
    path = re.sub(GUID, "{id}", path)
    path = re.sub(r"/configmaps/conn-[a-z0-9-]+-[0-9a-f]{10}$", "/configmaps/{record}", path)  # store.configmap_name
    return re.sub(r"-[0-9a-f]{12}(?=/|$)", "-{hash}", path)


def route_regex(route, world):
    rx = re.escape(route)
    for placeholder, value in _names(world):
        rx = rx.replace(re.escape(placeholder), re.escape(value))
    rx = rx.replace(re.escape("{id}"), "[^/]+").replace(re.escape("{hash}"), "[0-9a-f]{12}")
    rx = rx.replace(re.escape("{record}"), "conn-[a-z0-9-]+-[0-9a-f]{10}")
    return "^" + rx + "$"


@pytest.fixture(scope="module")
def reference(az, sbc, kube_reader):
    """A clean run: its end state and the routes it used, (plane, method, route)."""
    world = new_world(sbc, "fref")
    mark = sbc.mark()
    res = az(*create_args(world))
    assert res.rc == 0, res
    routes = sorted({(e["plane"], e["method"], route_of(e["path"], world)) for e in sbc.requests(since=mark)
                     if e["path"] != "/msi/token"})
    return {"snapshot": snapshot(sbc, kube_reader, world), "routes": routes}


def _clear(text):
    """A clear error: an ERROR line that names what failed, a fix line, and no raw transport text."""
    lines = [line for line in text.splitlines() if line.strip() and "preview and under development" not in line
             and "altered by the following extension" not in line and not line.startswith("WARNING")]
    error = [i for i, line in enumerate(lines) if line.startswith("ERROR:")]
    return bool(error) and len(lines) > error[0] + 1 and not any(r in text for r in RAW)


def _error_line(text):
    return next((line for line in text.splitlines() if line.startswith("ERROR:")), text.strip()[-300:])


def faulted_run(sbc, world, routes, fault, regex, run):
    """``run()`` with ``fault`` (add_fault's arguments) on each of ``routes`` ((plane, method, route)), once each, a
    route matched by ``regex(route, world)``. Returns (its result, the routes it met, in the order it met them: a
    failed create stopped at or after the last)."""
    rules = {(plane, method, route): sbc.add_fault(plane=plane, method=method, path=regex(route, world), times=1,
                                                   **fault)
             for plane, method, route in routes}
    mark = sbc.mark()
    try:
        res = run()
        hit = [r for r, rule in rules.items() if (sbc.fault(rule) or {}).get("hits")]
    finally:
        for rule in rules.values():
            sbc.remove_fault(rule)
    quiesce(sbc)                  # a request held by latency lands after the client gave up on it
    log = sbc.requests(since=mark)
    first = {r: next((e["seq"] for e in log if e["method"] == r[1] and re.search(regex(r[2], world), e["path"])), 0)
             for r in hit}
    return res, sorted(hit, key=first.get)


def _attempt(zygote, sbc, kube_reader, ref, kind, routes):
    """One create (an az process: what it prints is what a user sees) in a world of its own with ``kind`` on each
    of ``routes``, once each. Returns (the routes it reached, outcome, why)."""
    world = new_world(sbc, "flt")
    res, hit = faulted_run(sbc, world, routes, KINDS[kind], route_regex, lambda: zygote.run(
        create_args(world), env=SHORT_TIMEOUTS if kind == "latency" else None, timeout=240))
    outcome, why = None, ""
    if res.returncode == 0:
        snap = snapshot(sbc, kube_reader, world)
        if snap == ref["snapshot"]:
            return hit, "succeeded", ""
        outcome, why = "succeeded with another end state", f"{duplicates(snap) or 'objects differ'}"
    elif not _clear(res.err):
        outcome, why = "unclear error", _error_line(res.err)[:300]
    again = run_az(*create_args(world))
    snap = snapshot(sbc, kube_reader, world)
    if outcome is None:
        if again.rc == 0 and snap == ref["snapshot"]:
            return hit, "clear error, re-run converged", _error_line(res.err)[:200]
        outcome, why = "re-run did not converge", f"rc {again.rc} {duplicates(snap) or ''}"
    return hit, outcome, why


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_faults_on_every_route_of_a_create_converge(az, sbc, zygote, kube_reader, reference, kind, tally):
    remaining = list(reference["routes"])
    results = {}
    while remaining:
        hit, outcome, why = _attempt(zygote, sbc, kube_reader, reference, kind, remaining)
        if not hit:
            break
        if outcome == "succeeded":
            results.update({r: (outcome, "") for r in hit})
        else:        # which one: alone, the last one met first (the create stopped there); the others stay
            for route in reversed(hit):
                alone = _attempt(zygote, sbc, kube_reader, reference, kind, [route])
                results[route] = alone[1:] if alone[0] else ("succeeded", "not reached alone")
                if results[route][0] != "succeeded":
                    break
            hit = list(results)
        remaining = [r for r in remaining if r not in hit]
    for route in remaining:
        results[route] = ("not reached", "the create made no such request")
    for (plane, method, route), (outcome, why) in sorted(results.items()):
        tally("fault", plane=plane, route=f"{method} {route}", kind=kind, outcome=outcome, why=why,
              converged=outcome in ("succeeded", "clear error, re-run converged"))
    bad = {r: o for r, o in results.items() if o[0] not in ("succeeded", "clear error, re-run converged")}
    assert not bad, bad
