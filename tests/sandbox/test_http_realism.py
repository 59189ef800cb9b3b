# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The sandbox's HTTP servers cost a client what a real API server costs it, not more (sandbox/core.py _Server):

- an answer arrives whole at once (TCP_NODELAY): with Nagle on, its body waited for the client's delayed ACK,
  40 ms for every request that followed another on the same connection;
- a burst of new connections is accepted at once (a real listen backlog, TLS handshakes in each connection's
  own thread): before, handshakes ran one at a time in accept() and a backlog of 5 dropped SYNs, which the
  client re-sent after 1 s."""
import http.client
import ssl
import threading
import time

import pytest

from sandbox.core import Faults, RequestLog, Response, make_tls, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("realism")
    srv = serve(lambda req: Response(200, {"ok": True, "pad": "x" * 2000}), "kube", RequestLog(), Faults(),
                lambda err, req: Response(err.status, {}), ssl_context=make_tls(str(tmp)))
    yield srv.server_port, ssl.create_default_context(cafile=str(tmp / "ca.pem"))
    srv.shutdown()


def test_requests_one_after_another_on_one_connection_wait_for_no_delayed_ack(server):
    port, ctx = server
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    times = []
    try:
        for _ in range(15):
            started = time.perf_counter()
            conn.request("POST", "/x", body=b'{"a": 1}', headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read()
            times.append(time.perf_counter() - started)
    finally:
        conn.close()
    # With Nagle every one of them took 43-46 ms (the delayed ACK); without, one quick one is proof enough on a
    # busy machine too.
    assert min(times[1:]) < 0.03, [round(t * 1000) for t in times]


def test_a_burst_of_new_connections_is_accepted_at_once(server):
    port, ctx = server
    took, errors = [], []

    def one():
        started = time.perf_counter()
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
            conn.request("GET", "/x")
            assert conn.getresponse().status == 200
            conn.close()
        except Exception as exc:  # pylint: disable=broad-except  # the thread's error is asserted on below
            errors.append(exc)
        took.append(time.perf_counter() - started)
    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert max(took) < 0.9, sorted(round(t, 2) for t in took)     # a dropped SYN is re-sent after 1 s
