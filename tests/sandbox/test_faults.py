# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The sandbox's fault injection (sandbox.core.Faults): what the reliability suite builds on — skip / mutating /
any plane, a held request released by removing its rule, a connection reset, a bare error answer."""
import http.client
import json
import ssl
import threading
import time

import pytest

from sandbox.core import Faults, RequestLog, Response, make_tls, serve


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    ctx = make_tls(str(tmp))
    log, faults, seen = RequestLog(), Faults(), []

    def app(req):
        seen.append((req.method, req.path))
        return Response(200, {"ok": req.path})

    server = serve(app, "arm", log, faults, lambda err, req: Response(err.status, {"error": {"code": err.code}}),
                   ssl_context=ctx)
    client_ctx = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
    env = type("Env", (), {})()
    env.log, env.faults, env.seen = log, faults, seen

    def call(method, path):
        conn = http.client.HTTPSConnection("127.0.0.1", server.server_port, context=client_ctx, timeout=10)
        try:
            conn.request(method, path, body=b"{}" if method != "GET" else None)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()
    env.call = call
    yield env
    server.shutdown()


def test_skip_and_mutating_pick_the_nth_write_of_any_plane(env):
    rule = env.faults.add({"plane": "*", "mutating": True, "skip": 2, "times": 1, "status": 503})
    try:
        assert env.call("GET", "/a")[0] == 200                 # a read: not counted
        assert env.call("POST", "/x/listKeys")[0] == 200       # a read-only POST: not counted
        assert env.call("PUT", "/b")[0] == 200                 # 1st write
        assert env.call("DELETE", "/c")[0] == 200              # 2nd write
        assert env.call("PATCH", "/d")[0] == 503               # 3rd write: the fault
        assert env.call("PUT", "/e")[0] == 200                 # times used up
        assert [r["hits"] for r in env.faults.list() if r["id"] == rule] == [1]
    finally:
        env.faults.clear(rule)


def test_a_held_request_goes_on_when_its_rule_is_removed(env):
    rule = env.faults.add({"method": "PUT", "path": "/held$", "hold": 30, "times": 1})
    out = {}
    worker = threading.Thread(target=lambda: out.update(answer=env.call("PUT", "/held")))
    worker.start()
    deadline = time.monotonic() + 10
    while not [r for r in env.faults.list() if r["id"] == rule and r["held"] == 1]:
        assert time.monotonic() < deadline, "the request was never held"
        time.sleep(0.02)
    assert ("PUT", "/held") not in env.seen                    # held: the service has not seen it
    assert env.log.in_flight() == 1
    started = time.monotonic()
    env.faults.clear(rule)
    worker.join(10)
    assert out["answer"][0] == 200 and time.monotonic() - started < 5
    assert ("PUT", "/held") in env.seen
    assert env.log.in_flight() == 0


def test_reset_drops_the_connection_and_the_request_never_reaches_the_service(env):
    rule = env.faults.add({"method": "PUT", "path": "/reset$", "reset": True, "times": 1})
    try:
        with pytest.raises((ConnectionError, http.client.HTTPException, ssl.SSLError, OSError)):
            env.call("PUT", "/reset")
    finally:
        env.faults.clear(rule)
    assert ("PUT", "/reset") not in env.seen
    assert [(e["method"], e["status"]) for e in env.log.entries() if e["path"] == "/reset"] == [("PUT", 0)]
    assert env.call("PUT", "/reset")[0] == 200


def test_bare_error_has_no_body(env):
    rule = env.faults.add({"method": "GET", "path": "/bare$", "status": 409, "bare": True, "times": 1})
    try:
        status, body = env.call("GET", "/bare")
    finally:
        env.faults.clear(rule)
    assert (status, body) == (409, b"")
    status, body = env.call("GET", "/bare")
    assert status == 200 and json.loads(body) == {"ok": "/bare"}
