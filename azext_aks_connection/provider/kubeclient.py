# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The Kubernetes client of aks-connection: one cluster's API server over urllib3 (already loaded by azure-cli),
answering KubeObjects (the JSON the API server sent, read with the kubernetes client's field names).

* Timeouts: every call has a connect and a read timeout (default 10 s / 30 s; ``az config set
  aks_connection.kube_timeout=<connect>,<read>`` or one number for both, or env
  AZURE_AKS_CONNECTION_KUBE_TIMEOUT).
* Retries: urllib3's Retry on the client's pool — 429 / 5xx answers (Retry-After honoured, capped), read
  timeouts and connection resets, with jittered backoff, a bounded number of times. Every verb is retried:
  a create that lands twice answers 409 AlreadyExists, which every writer here handles (read, compare, write).
  A name that does not resolve or a refused connection is not retried: it will not get better in a second.
* Credentials: what AKS hands out (listClusterUserCredential): a bearer token and/or a client certificate, the CA
  inline; an Entra ID cluster's kubelogin exec is replaced by a token before (kubecreds.py). Anything else in a
  kubeconfig is refused with a clear error before anything is sent.
* Why no ``kubernetes`` package: a create makes a few REST calls and needs neither its API classes nor its models;
  the package and what it pulls in were 150 MB of the installed extension and ~0.55-1.4 s of import where used.
"""
import json
import os

from knack.log import get_logger

logger = get_logger(__name__)

ENV_TIMEOUT = "AZURE_AKS_CONNECTION_KUBE_TIMEOUT"
DEFAULT_TIMEOUT = (10.0, 30.0)          # (connect, read) seconds
TOTAL_RETRIES = 4
CONNECT_RETRIES = 1
READ_RETRIES = 2
STATUS_RETRIES = 3
RETRY_STATUSES = (429, 500, 502, 503, 504)
BACKOFF_FACTOR = 0.5
BACKOFF_MAX = 5.0
RETRY_AFTER_CAP = 10.0                  # a Retry-After longer than this is waited for this long only
POOL_MAXSIZE = 48                       # connections kept open to the API server (apply: 12 plans share one)


# --------------------------------------------------------------------------- configuration

def timeouts(cli_ctx=None):
    """(connect, read) seconds: env AZURE_AKS_CONNECTION_KUBE_TIMEOUT, else `az config` aks_connection.kube_timeout
    ("<connect>,<read>" or one number for both), else 10 s / 30 s."""
    value = os.environ.get(ENV_TIMEOUT)
    if not value and cli_ctx is not None:
        value = cli_ctx.config.get("aks_connection", "kube_timeout", None)
    if not value:
        return DEFAULT_TIMEOUT
    try:
        parts = [float(p) for p in str(value).replace(" ", "").split(",") if p]
        if len(parts) == 1:
            parts = parts * 2
        if len(parts) != 2 or min(parts) <= 0:
            raise ValueError(value)
    except ValueError:
        from azure.cli.core.azclierror import InvalidArgumentValueError
        raise InvalidArgumentValueError(
            f"aks_connection.kube_timeout '{value}' is not a timeout: give seconds, '<connect>,<read>' or one number.",
            recommendation="az config set aks_connection.kube_timeout=10,30") from None
    return tuple(parts)


def _retry(connect=CONNECT_RETRIES):
    from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError
    from urllib3.util.retry import Retry

    class KubeRetry(Retry):
        """urllib3's Retry, but a name that does not resolve or a refused connection fails at once, and a
        Retry-After is waited for RETRY_AFTER_CAP seconds at most."""

        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            if isinstance(error, NameResolutionError) or (
                    isinstance(error, NewConnectionError) and isinstance(error.__cause__, ConnectionRefusedError)):
                raise MaxRetryError(_pool, url, error) from error
            return super().increment(method, url, response, error, _pool, _stacktrace)

        def get_retry_after(self, response):
            seconds = super().get_retry_after(response)
            return None if seconds is None else min(seconds, RETRY_AFTER_CAP)

    return KubeRetry(total=TOTAL_RETRIES, connect=connect, read=READ_RETRIES, status=STATUS_RETRIES,
                     other=0, allowed_methods=None, status_forcelist=RETRY_STATUSES, backoff_factor=BACKOFF_FACTOR,
                     backoff_max=BACKOFF_MAX, backoff_jitter=0.25, raise_on_status=False,
                     respect_retry_after_header=True)


# --------------------------------------------------------------------------- what we know of the cluster

class ClusterContext:  # pylint: disable=too-many-instance-attributes
    """What errors name: the cluster, its API server, its kind, and who we are to it."""

    def __init__(self, cluster_ref, server=None, cmd=None):
        self.ref = cluster_ref
        self.name = getattr(cluster_ref, "name", None) or "?"
        self.resource_group = getattr(cluster_ref, "resource_group", None) or "?"
        self.id = getattr(cluster_ref, "id", None)
        self.server = server
        self.cmd = cmd
        # a command that writes (create, update, delete): its errors say nothing was changed; a read's do not
        command = str((getattr(getattr(cmd, "cli_ctx", None), "data", None) or {}).get("command") or "")
        self.writes = not command or bool({"create", "update", "delete"} & set(command.split()))
        self.entra = False
        self.azure_rbac = None          # None: not known (the cluster was not read)
        self.principal = None           # the object id the API server sees (Entra ID token)
        self.resource = None

    def learn(self, cluster_resource):
        if cluster_resource:
            self.resource = cluster_resource
            aad = (cluster_resource.get("properties") or {}).get("aadProfile") or {}
            self.entra = self.entra or bool(aad.get("managed"))
            self.azure_rbac = bool(aad.get("enableAzureRBAC"))
            # the id as the user named the cluster (the fixes' scopes read as they typed it), else ARM's
            self.id = self.id or cluster_resource.get("id")
        return self

    def cluster_resource(self):
        """The managed cluster (read once, when an error needs it to say why); None when it cannot be read."""
        if self.resource is None and self.cmd is not None and self.ref is not None:
            try:
                from azext_aks_connection.provider.cluster import get_cluster
                self.learn(get_cluster(self.cmd, self.ref))
            except Exception:  # pylint: disable=broad-except
                logger.debug("could not read AKS cluster '%s' to explain the failure", self.name)
                self.cmd = None
        return self.resource


def context_of(api):
    ctx = getattr(api, "aks", None)
    if ctx is None:
        ctx = ClusterContext(None, server=getattr(getattr(api, "configuration", None), "host", None))
    return ctx


class KubeApiError(Exception):
    """An error answer of the API server, as the kubernetes client's ApiException has it (``status``, ``reason``,
    ``body``: the Status JSON as text, ``headers``); ``aks_context`` names the cluster for kube_error."""

    def __init__(self, status, reason, body, headers=None, context=None):
        super().__init__(f"({status}) Reason: {reason}")
        self.status, self.reason, self.body, self.headers = status, reason, body, headers or {}
        self.aks_context = context


# Fields whose value is a map of the user's keys (kept a plain dict), not an object with fields.
_MAPS = frozenset({"labels", "annotations", "data", "binaryData", "stringData", "matchLabels", "nodeSelector"})


def _camel(name):
    if name.startswith("_") and not name.startswith("__"):      # _continue: the kubernetes client's name for continue
        name = name[1:]
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _wrap(key, value):
    if isinstance(value, dict):
        return value if key in _MAPS else KubeObject(value)
    if isinstance(value, list):
        return [KubeObject(v) if isinstance(v, dict) else v for v in value]
    return value


class KubeObject:
    """An API object as the API server answered it (JSON), read as the kubernetes client's models read:
    ``obj.metadata.resource_version``, ``secret.data`` (a dict), ``config_map_list.items``; a field that is absent is
    None. ``to_dict()``: the JSON. Its repr never shows the content (Secrets)."""

    __slots__ = ("_raw",)

    def __init__(self, raw):
        object.__setattr__(self, "_raw", raw)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raw = object.__getattribute__(self, "_raw")
        key = _camel(name)
        if key not in raw and name in raw:
            key = name
        return _wrap(key, raw.get(key))

    def __setattr__(self, name, value):
        self._raw[_camel(name)] = plain(value)

    def __eq__(self, other):
        return isinstance(other, KubeObject) and self._raw == other._raw

    __hash__ = None

    def to_dict(self):
        return self._raw

    def __repr__(self):
        meta = self._raw.get("metadata") or {}
        return f"<{self._raw.get('kind') or 'object'} {meta.get('namespace') or ''}/{meta.get('name') or ''}>"


def plain(body):
    """A request body as JSON-ready data: dicts and lists as they are, a KubeObject's JSON, or a kubernetes client
    model's wire form (read from the model, without importing the package)."""
    if isinstance(body, KubeObject):
        return body.to_dict()
    if isinstance(body, dict):
        return {k: plain(v) for k, v in body.items()}
    if isinstance(body, (list, tuple)):
        return [plain(v) for v in body]
    wire = getattr(body, "attribute_map", None)
    if isinstance(wire, dict):      # a kubernetes client model (a caller's): its wire names, unset fields left out
        return {key: plain(getattr(body, attr)) for attr, key in wire.items() if getattr(body, attr) is not None}
    return body


class KubeClient:
    """The API server of one cluster, from its kubeconfig: ``request(method, path, ...)`` returns the answer as a
    KubeObject (None when empty) and raises KubeApiError for an error answer, or the AzureConnectionError of
    kubereach.unreachable when the server cannot be reached. Every call has a timeout and the retries of
    :func:`_retry`; connections are kept (one pool). ``known_namespaces``: {namespace: exists} as read or written
    by this command (kube.ensure_namespace reads a namespace once); an answer that says a namespace is gone
    forgets it. A kubeconfig it does not speak (:func:`unspoken`) is an error here, before any request."""

    def __init__(self, kubeconfig, context, timeout):
        cluster, user = _current(kubeconfig)
        missing = unspoken(cluster, user)
        if missing:
            from azure.cli.core.azclierror import AzureConnectionError
            raise AzureConnectionError(
                f"The user credentials of AKS cluster '{context.name}' use {missing}, which aks-connection does not "
                "support: it speaks what AKS hands out (a token or a client certificate, an Entra ID kubelogin exec, "
                "the cluster's CA inline, an https server). Nothing was changed.",
                recommendation="Let Microsoft's Service Connector make the connection from inside the cluster: add "
                "--engine service-connector to the create command.")
        self.aks = context
        self.default_timeout = timeout
        self.known_namespaces = {}
        self.host = (cluster.get("server") or "").rstrip("/")
        self._headers = {"Accept": "application/json", "User-Agent": "aks-connection"}
        self._probe = None
        self._pool = _pool(cluster, user)
        if user.get("token"):
            self._headers["Authorization"] = f"Bearer {user['token']}"

    @staticmethod
    def sanitize_for_serialization(obj):
        """``obj`` (a KubeObject, a dict, a list) as JSON-ready data, a copy: the kubernetes ApiClient's method of
        that name, which `show --manifest --objects` (custom.py) asks the client for."""
        return json.loads(json.dumps(plain(obj)))

    def request(self, method, path, *, query=None, body=None, content_type="application/json", timeout=None,
                retries=None, raw=False, _probing=False):
        """``retries``: None: the client's (:func:`_retry`); False: none (a probe). ``raw``: the answer's text (a
        pod's log), not JSON."""
        import urllib3
        from azext_aks_connection.provider.kubereach import reason_of, unreachable
        from urllib.parse import urlencode
        url = self.host + path + (("?" + urlencode(query)) if query else "")
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(plain(body)).encode("utf-8")
            headers["Content-Type"] = content_type
        limits = timeout or self.default_timeout
        kwargs = {"timeout": urllib3.Timeout(connect=limits[0], read=limits[1])}
        if retries is not None:
            kwargs["retries"] = retries
        answer, probe = None, self._probe
        if probe is not None and not _probing and not probe.done.is_set():
            answer = self._while_probing(probe, limits, request=(method, url, data, headers, kwargs))
        if answer is None:
            try:
                answer = self._send(method, url, data, headers, kwargs)
            except urllib3.exceptions.HTTPError as exc:
                raise unreachable(self.aks, reason_of(exc, limits)) from None
        text = answer.data.decode("utf-8", "replace") if answer.data else ""
        logger.debug("Kubernetes API %s %s: %s", method, path, answer.status)
        if answer.status >= 400:
            self._namespace_gone(path, answer.status, text)
            raise KubeApiError(answer.status, answer.reason, text, dict(answer.headers), self.aks)
        if raw:
            return text
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) and not (method == "DELETE" and not text.strip()):
            # the API server answers every call with an object (a DELETE: the object or a Status): anything else
            # is a proxy's page or an answer cut short
            from azext_aks_connection.provider.arm import malformed
            raise malformed(method, path, text, (answer.headers or {}).get("Content-Type"),
                            who=f"The Kubernetes API server of AKS cluster '{getattr(self.aks, 'name', '?')}'")
        return KubeObject(parsed) if parsed is not None else None

    def _send(self, method, url, data, headers, kwargs):
        return self._pool.request(method, url, body=data, headers=headers, **kwargs)

    def _while_probing(self, probe, limits, request):
        """A request made while the /version probe of :func:`reaching` has no answer yet: it connects with the
        probe's connect timeout and no second try, so an API server out of reach fails it as fast as the probe.
        When it could not connect, the probe decides: its error when it failed too; else None (it is made again as
        any request is: the server answers, that failure was passing)."""
        import urllib3
        from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
        from azext_aks_connection.provider.kubereach import reason_of, unreachable
        method, url, data, headers, kwargs = request
        quick = dict(kwargs, timeout=urllib3.Timeout(connect=min(limits[0], probe.timeout[0]), read=limits[1]))
        if "retries" not in kwargs:
            quick["retries"] = _retry(connect=0)
        try:
            return self._send(method, url, data, headers, quick)
        except urllib3.exceptions.HTTPError as exc:
            reason = exc.reason if isinstance(exc, MaxRetryError) else exc
            if not isinstance(reason, (ConnectTimeoutError, NewConnectionError)):
                raise unreachable(self.aks, reason_of(exc, limits)) from None
            probe.done.wait()           # bounded: the probe has timeouts and no retry
            if probe.error is not None:
                raise probe.error from None
            logger.debug("Kubernetes API %s %s: no connection (%s), the API server answers: again", method,
                         url[len(self.host):].split("?")[0], reason_of(exc, limits))
            return None

    def _namespace_gone(self, path, status, text):
        if status != 404 or "/namespaces/" not in path:
            return
        try:
            details = json.loads(text).get("details") or {}
        except (ValueError, AttributeError):
            return
        if details.get("kind") == "namespaces" and details.get("name"):
            self.known_namespaces[details["name"]] = False


def _current(kubeconfig):
    """(cluster, user) entries of the kubeconfig's current context."""
    contexts = {c.get("name"): c.get("context") or {} for c in kubeconfig.get("contexts") or []}
    current = contexts.get(kubeconfig.get("current-context")) or next(iter(contexts.values()), {})
    clusters = {c.get("name"): c.get("cluster") or {} for c in kubeconfig.get("clusters") or []}
    users = {u.get("name"): u.get("user") or {} for u in kubeconfig.get("users") or []}
    return clusters.get(current.get("cluster")) or {}, users.get(current.get("user")) or {}


_CLUSTER_KEYS = {"server", "certificate-authority-data", "insecure-skip-tls-verify", "tls-server-name", "extensions"}
_USER_KEYS = {"token", "client-certificate-data", "client-key-data"}


def unspoken(cluster, user):
    """What of the kubeconfig's cluster and user entries this client does not speak, in a user's words; "" when it
    speaks them all: what AKS hands out (a token and/or a client certificate, inline; the CA inline; https)."""
    what = []
    if not str(cluster.get("server") or "").startswith("https://"):
        what.append(f"the server address '{cluster.get('server') or ''}' (not https)")
    what += [f"'{key}' in the cluster entry" for key in sorted(set(cluster) - _CLUSTER_KEYS)]
    for key in sorted(set(user) - _USER_KEYS):
        command = user[key].get("command") if key == "exec" and isinstance(user[key], dict) else None
        what.append(f"'{key}' in the user entry" + (f" ({command})" if command else ""))
    if bool(user.get("client-certificate-data")) != bool(user.get("client-key-data")):
        what.append("a client certificate without its key")
    return ", ".join(what)


def _speaks(cluster, user):
    return not unspoken(cluster, user)


def _pool(cluster, user):
    import base64
    import ssl
    import urllib3
    kwargs = {}
    # One context for every connection of the pool, with only the cluster's CA when the kubeconfig has one (the
    # system's roots are loaded only when it has none: ~20 ms of CPU each time).
    if cluster.get("insecure-skip-tls-verify"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        kwargs.update(cert_reqs="CERT_NONE", assert_hostname=False)
    elif cluster.get("certificate-authority-data"):
        context = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode("ascii"))
    else:
        context = ssl.create_default_context()
    if cluster.get("tls-server-name"):
        kwargs["server_hostname"] = cluster["tls-server-name"]
    if user.get("client-certificate-data"):
        _load_client_certificate(context, base64.b64decode(user["client-certificate-data"]),
                                 base64.b64decode(user["client-key-data"]))
    return urllib3.PoolManager(num_pools=2, maxsize=POOL_MAXSIZE, block=False, retries=_retry(),
                               ssl_context=context, **kwargs)


def _load_client_certificate(context, cert, key):
    """ssl loads a certificate and key from files only: they are written to anonymous memory files (Linux) or,
    elsewhere, to a private temporary directory, loaded, and gone at once (the kubernetes client keeps its temporary
    files until the process ends)."""
    if hasattr(os, "memfd_create"):
        fds = []
        try:
            for data in (cert, key):
                fd = os.memfd_create("aks-connection")
                fds.append(fd)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            context.load_cert_chain(f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}")
            return
        except OSError:
            logger.debug("no anonymous memory file: the client certificate goes through a private temporary file")
        finally:
            for fd in fds:
                os.close(fd)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="aks-connection-") as tmp:
        paths = []
        for name, data in (("cert.pem", cert), ("key.pem", key)):
            path = os.path.join(tmp, name)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(data)
            paths.append(path)
        context.load_cert_chain(*paths)


def api_errors():
    """The error answers a Kubernetes call can raise here (``except api_errors() as exc``): KubeApiError."""
    return (KubeApiError,)
