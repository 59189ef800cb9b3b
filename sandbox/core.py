# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Shared plumbing of the sandbox servers: requests, routing, TLS, request log, fault injection.

Every plane (ARM, Kubernetes, token endpoint) is a plain callable ``app(Request) -> Response``
served by :func:`serve` over HTTPS in a thread of the sandbox process.
"""
import json
import re
import socket
import sys
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MUTATING = {"PUT", "PATCH", "DELETE", "POST"}
# POST actions that only read (ARM "list*" actions, token requests, Kubernetes access reviews).
_READ_ONLY_POST = re.compile(r"/(list[A-Za-z]*|getKeys|validate[A-Za-z]*|selfsubjectaccessreviews|"
                             r"selfsubjectrulesreviews)$")


class Request:
    def __init__(self, method, raw_path, headers, body):
        self.method = method
        # `az cloud register` asks for //metadata/endpoints: collapse leading slashes, or urlparse
        # would take "metadata" for a host.
        url = urlparse("/" + raw_path.lstrip("/"))
        self.raw_path = raw_path
        self.path = url.path.rstrip("/") or "/"
        self.query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.headers = headers
        self.body = body or b""
        self.match = None  # set by Router

    def json(self, default=None):
        if not self.body:
            return default
        return json.loads(self.body.decode("utf-8"))

    @property
    def api_version(self):
        return self.query.get("api-version")

    def header(self, name, default=None):
        return self.headers.get(name, default)


class Response:
    def __init__(self, status=200, body=None, headers=None, content_type="application/json; charset=utf-8"):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type

    def payload(self):
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


class HttpError(Exception):
    """Raise from a handler to answer with an error; the plane decides the body shape."""

    def __init__(self, status, code, message, headers=None, details=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details


class Router:
    def __init__(self):
        self._routes = []

    def add(self, methods, pattern, fn):
        if isinstance(methods, str):
            methods = [methods]
        self._routes.append(([m.upper() for m in methods], re.compile(pattern + r"\Z", re.I), fn))

    def route(self, methods, pattern):
        def deco(fn):
            self.add(methods, pattern, fn)
            return fn
        return deco

    def dispatch(self, req):
        """Response, or None when no route matches the path. 405 when the path matches another method."""
        path_matched = False
        for methods, rx, fn in self._routes:
            m = rx.match(req.path)
            if not m:
                continue
            path_matched = True
            if req.method in methods or "*" in methods:
                req.match = m
                return fn(req, *m.groups())
        if path_matched:
            raise HttpError(405, "MethodNotAllowed", f"The requested method {req.method} is not allowed on {req.path}.")
        return None


def is_mutating(method, path):
    """Whether a request changes something (what the request log marks ``mutating``)."""
    return method in MUTATING and not (method == "POST" and _READ_ONLY_POST.search(path))


class RequestLog:
    """What the sandbox received, in order. Tests read it through the control endpoint."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []
        self._seq = 0
        self._in_flight = 0

    def started(self):
        with self._lock:
            self._in_flight += 1

    def ended(self):
        with self._lock:
            self._in_flight -= 1

    def in_flight(self):
        """Requests received and not answered yet (held ones included)."""
        with self._lock:
            return self._in_flight

    def add(self, plane, method, path, api_version, status, query=None, start=None, bytes_in=0, bytes_out=0,
            conn=None):
        """``start``: when the request had arrived (its headers read; ``time`` is when its answer was ready);
        ``bytes_in`` / ``bytes_out``: body bytes received / sent; ``conn``: the client's TCP connection
        ("<port>"), so a reader can count connections (bench/)."""
        with self._lock:
            self._seq += 1
            mutating = is_mutating(method, path)
            now = time.time()
            self._entries.append({"seq": self._seq, "time": now, "start": start or now, "plane": plane,
                                  "method": method, "path": path, "apiVersion": api_version, "status": status,
                                  "mutating": mutating, "query": query or {}, "bytesIn": bytes_in,
                                  "bytesOut": bytes_out, "conn": conn})

    def entries(self, since=0):
        with self._lock:
            return [e for e in self._entries if e["seq"] > since]

    def last_seq(self):
        with self._lock:
            return self._seq

    def clear(self):
        with self._lock:
            self._entries = []


class Faults:
    """Per-route fault injection: status + error code/message, added latency, a bounded count.

    A rule: ``plane`` ("arm", "kube" or "*"), ``method`` ("*" or one), ``path`` (regex searched in the path),
    ``mutating`` (true: only requests that change something, as the request log marks them), ``skip`` (the first
    ``skip`` matching requests pass untouched), ``times`` (how many requests it applies to; None: all), and what
    it does to them: ``latency`` (seconds before the answer), ``hold`` (at most that many seconds: the request is
    held until the rule is removed, then goes on), ``status`` / ``code`` / ``message`` / ``headers`` (an error
    answer instead of the real one), ``bare`` (with ``status``: an empty body, as a proxy or load balancer may
    answer), ``body`` / ``content_type`` (with ``status``: that text as the answer, as a proxy's HTML page or JSON
    cut short), ``reset`` (the connection is dropped without an answer: a connection reset; after ``hold`` or
    ``latency``, the request never reaches the service). ``hits`` counts the requests it applied to, ``held`` the
    ones it holds now."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._next = 0

    def add(self, rule):
        rule = dict(rule)
        rule.setdefault("plane", "arm")
        rule.setdefault("method", "*")
        rule.setdefault("path", ".*")
        rule.setdefault("times", None)
        rule["skip"] = int(rule.get("skip") or 0)
        rule["hits"] = 0
        rule["held"] = 0
        rule["_rx"] = re.compile(rule["path"], re.I)
        rule["_release"] = threading.Event()
        with self._lock:
            self._next += 1
            rule["id"] = self._next
            self._rules.append(rule)
        return rule["id"]

    def list(self):
        with self._lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self._rules]

    def clear(self, rule_id=None):
        with self._lock:
            gone = [r for r in self._rules if rule_id is None or r["id"] == rule_id]
            self._rules = [r for r in self._rules if rule_id is not None and r["id"] != rule_id]
        for rule in gone:          # requests held by a removed rule go on
            rule["_release"].set()

    def match(self, plane, method, path):
        with self._lock:
            for r in self._rules:
                if r["plane"] not in ("*", plane) or r["method"] not in ("*", method):
                    continue
                if r.get("mutating") and not is_mutating(method, path):
                    continue
                if not r["_rx"].search(path):
                    continue
                if r["skip"] > 0:
                    r["skip"] -= 1
                    continue
                if r["times"] is not None:
                    if r["times"] <= 0:
                        continue
                    r["times"] -= 1
                r["hits"] += 1
                return r
        return None

    def hold(self, rule):
        """Hold a request the rule matched until the rule is removed, or ``hold`` seconds at most."""
        with self._lock:
            rule["held"] += 1
        try:
            rule["_release"].wait(float(rule["hold"]))
        finally:
            with self._lock:
                rule["held"] -= 1


def make_tls(directory):
    """A CA made at start-up (trustme) and a server certificate for 127.0.0.1 / localhost.

    Writes ``ca.pem`` (what clients trust) and ``server.pem`` (key + chain); returns the server SSLContext.
    """
    import os
    import trustme
    ca = trustme.CA(organization_name="aks-connection sandbox")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path = os.path.join(directory, "ca.pem")
    server_path = os.path.join(directory, "server.pem")
    ca.cert_pem.write_to_path(ca_path)
    cert.private_key_and_cert_chain_pem.write_to_path(server_path)
    return server_context(server_path)


def server_context(server_pem):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server_pem)
    return ctx


HANDSHAKE_SECONDS = 10


class _Server(ThreadingHTTPServer):
    """A listen backlog as a real API server has (Go's net/http and ARM's front doors take the system's
    somaxconn, thousands): socketserver's default of 5 drops the SYNs of a client that opens a dozen connections
    at once, and each dropped one costs that client a 1 s retransmission, which no real server would charge."""
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, TimeoutError)):
            return                  # a client that went away mid-handshake: nothing to report
        super().handle_error(request, client_address)


def serve(app, plane, log, faults, error_response, host="127.0.0.1", port=0, ssl_context=None):
    """Serve ``app`` in a daemon thread. Returns the server (``server.server_port``).

    ``error_response(HttpError) -> Response`` renders errors in the plane's own shape.
    Paths under ``/_sandbox`` (control endpoints) are neither logged nor subject to faults.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        _counted = False            # this request is counted in flight (RequestLog.started) and not ended yet

        def log_message(self, *args):  # keep the sandbox quiet
            pass

        def setup(self):
            # The TLS handshake here, in the connection's own thread (the listening socket does not do it in
            # accept(), which would make every client wait for every other's handshake, one at a time).
            if hasattr(self.request, "do_handshake"):
                self.request.settimeout(HANDSHAKE_SECONDS)
                self.request.do_handshake()
                self.request.settimeout(None)
            # No Nagle, as Go's net/http (the API server) and ARM's front doors: the answer's headers and body
            # are separate writes, and with Nagle on the body waits for the client's delayed ACK (40 ms).
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()

        def _handle(self):
            start = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, self.path, self.headers, body)
            control = req.path.startswith("/_sandbox")
            if control:
                self._answer(req, control, None)
                return
            log.started()
            self._counted = True
            try:
                self._answer(req, control, faults.match(plane, req.method, req.path), start=start,
                             bytes_in=len(body))
            finally:
                self._ended()

        def _ended(self):
            if getattr(self, "_counted", False):
                self._counted = False
                log.ended()

        def _answer(self, req, control, fault, *, start=None, bytes_in=0):
            try:
                if fault and fault.get("latency"):
                    time.sleep(float(fault["latency"]))
                if fault and fault.get("hold"):
                    faults.hold(fault)
                if fault and fault.get("reset"):
                    if not control:
                        log.add(plane, req.method, req.path, req.api_version, 0,
                                {k: v for k, v in req.query.items() if k != "api-version"})
                    self._reset()
                    return
                if fault and fault.get("status") and fault.get("bare"):
                    resp = Response(int(fault["status"]), None, headers=fault.get("headers"))
                elif fault and fault.get("status") and fault.get("body") is not None:
                    # what a proxy or a dropped connection may answer in the service's place: any text, any type
                    resp = Response(int(fault["status"]), str(fault["body"]), headers=fault.get("headers"),
                                    content_type=fault.get("content_type") or "application/json; charset=utf-8")
                elif fault and fault.get("status"):
                    raise HttpError(int(fault["status"]), fault.get("code") or "InjectedFault",
                                    fault.get("message") or "Fault injected by the sandbox.",
                                    headers=fault.get("headers"))
                else:
                    resp = app(req)
                if resp is None:
                    raise HttpError(404, "NotFound", f"No route for {req.method} {req.path} in the sandbox.")
            except HttpError as err:
                resp = error_response(err, req)
            except Exception as exc:  # pylint: disable=broad-except
                import traceback
                traceback.print_exc()
                resp = error_response(HttpError(500, "InternalServerError", f"Sandbox error: {exc!r}"), req)
            data = resp.payload()
            if not control:   # logged before the answer leaves, so a client never sees its answer first
                log.add(plane, req.method, req.path, req.api_version, resp.status,
                        {k: v for k, v in req.query.items() if k != "api-version"}, start=start,
                        bytes_in=bytes_in, bytes_out=len(data), conn=str(self.client_address[1]))
                self._ended()           # answered: no longer in flight once the client can read the answer
            self.send_response(resp.status)
            if data or resp.status not in (204, 304):
                self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _reset(self):
            """Drop the connection without an answer: SO_LINGER 0 makes the close a TCP RST (no TLS close_notify)."""
            import io
            import struct
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                socket.socket.close(self.connection)
            except OSError:
                pass
            self.close_connection = True
            self.wfile = io.BytesIO()      # finish() flushes it: nothing is left to send

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _handle

    server = _Server((host, port), Handler)
    server.daemon_threads = True
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, name=f"sandbox-{plane}", daemon=True).start()
    return server
