"""Real cluster access: a Kubernetes client for any AKS cluster, from the current `az login`.

* Credentials: the cluster's user credentials (listClusterUserCredential, kept in memory). On an AKS-managed
  Entra ID cluster they are an exec of kubelogin; the exec user is replaced by a bearer token for the AKS server
  application (``--server-id`` of the exec args, 6dae42f8-… by default) from the current login, as azure-cli's
  ``az aks command invoke`` does (Profile.get_raw_token): user, service principal and managed identity logins
  work without kubelogin and nothing ever prompts.
* Timeouts: every call has a connect and a read timeout (default 10 s / 30 s; ``az config set
  aks_connection.kube_timeout=<connect>,<read>`` or one number for both, or env
  AZURE_AKS_CONNECTION_KUBE_TIMEOUT).
* Retries: urllib3's Retry on the client's pool — 429 / 5xx answers (Retry-After honoured, capped), read
  timeouts and connection resets, with jittered backoff, a bounded number of times. Every verb is retried:
  a create that lands twice answers 409 AlreadyExists, which every writer here handles (read, compare, write).
  A name that does not resolve or a refused connection is not retried: it will not get better in a second.
* Failures: a connection failure is an AzureConnectionError naming the API server and the cluster, saying why
  when the cluster says (private cluster, authorized IP ranges, stopped); a 403 names the fix (an Azure role and
  the exact `az role assignment create` on Azure RBAC clusters, else the Kubernetes RBAC).
* Before a create writes anything: one GET /version (short timeout, no retry: :func:`reaching`, alongside the
  first round) and :func:`preflight` (SelfSubjectAccessReviews for every verb the create needs, one error listing
  all denials).
* The client (:class:`KubeClient`) is urllib3 (already loaded by azure-cli) and the JSON the API server answers:
  the few REST calls made here need neither the ``kubernetes`` package (importing it costs ~1.4 s and ~45 MB, and
  holds the GIL meanwhile) nor its models. Code that uses the kubernetes client's API classes on it still works:
  the first attribute of the kubernetes ApiClient it asks for makes that client, from the same credentials.
"""
import contextlib
import json
import os
import threading

from knack.log import get_logger

logger = get_logger(__name__)

AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"
ENV_TIMEOUT = "AZURE_AKS_CONNECTION_KUBE_TIMEOUT"
DEFAULT_TIMEOUT = (10.0, 30.0)          # (connect, read) seconds
PROBE_TIMEOUT = (5.0, 10.0)
TOTAL_RETRIES = 4
CONNECT_RETRIES = 1
READ_RETRIES = 2
STATUS_RETRIES = 3
RETRY_STATUSES = (429, 500, 502, 503, 504)
BACKOFF_FACTOR = 0.5
BACKOFF_MAX = 5.0
RETRY_AFTER_CAP = 10.0                  # a Retry-After longer than this is waited for this long only
REVIEW_WORKERS = 16                     # access reviews and namespace reads of a preflight, all at once
POOL_MAXSIZE = 16                       # connections kept open to the API server
WRITER_ROLE = "Azure Kubernetes Service RBAC Writer"
CLUSTER_ADMIN_ROLE = "Azure Kubernetes Service RBAC Cluster Admin"
AZURE_DENIAL_TEXT = "access to the resource in Azure"


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
            self.id = cluster_resource.get("id") or self.id
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


# --------------------------------------------------------------------------- the client

def _client_class():
    from kubernetes.client import ApiClient
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    class AksApiClient(ApiClient):
        """An ApiClient whose every call has a timeout, whose errors know the cluster, and whose connection
        failures are azclierrors."""

        def __init__(self, configuration, context, timeout):
            super().__init__(configuration)
            self.aks = context
            self.default_timeout = timeout

        def call_api(self, method, url, header_params=None, body=None, post_params=None,
                     _request_timeout=None):
            try:
                return super().call_api(method, url, header_params=header_params, body=body,
                                        post_params=post_params,
                                        _request_timeout=_request_timeout or self.default_timeout)
            except Urllib3Error as exc:
                raise unreachable(self.aks, reason_of(exc, _request_timeout or self.default_timeout)) from None

        def response_deserialize(self, response_data, response_types_map=None):
            try:
                return super().response_deserialize(response_data, response_types_map)
            except ApiException as exc:
                exc.aks_context = self.aks      # kube_error names the cluster and the fix
                raise

    return AksApiClient


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
    model's wire form."""
    if isinstance(body, KubeObject):
        return body.to_dict()
    if isinstance(body, dict):
        return {k: plain(v) for k, v in body.items()}
    if isinstance(body, (list, tuple)):
        return [plain(v) for v in body]
    if callable(getattr(body, "to_dict", None)):         # a kubernetes client model: kubernetes is loaded
        from kubernetes.client import ApiClient
        return ApiClient().sanitize_for_serialization(body)     # its wire form, unset fields left out
    return body


class KubeClient:  # pylint: disable=too-many-instance-attributes  # a connection pool, its settings, a lazy ApiClient
    """The API server of one cluster, from its kubeconfig: ``request(method, path, ...)`` returns the answer as a
    KubeObject (None when empty) and raises KubeApiError for an error answer, or the AzureConnectionError of
    :func:`unreachable` when the server cannot be reached. Every call has a timeout and the retries of
    :func:`_retry`; connections are kept (one pool). ``known_namespaces``: {namespace: exists} as read or written
    by this command (kube.ensure_namespace reads a namespace once); an answer that says a namespace is gone
    forgets it.

    A kubeconfig this client does not speak (a proxy, an exec plugin other than kubelogin, an auth-provider,
    credential files) is served through the kubernetes client, made from the same kubeconfig. Attributes of the
    kubernetes ApiClient (what the kubernetes client's API classes use) come from that client, made on first use,
    so ``kubernetes.client.CoreV1Api(kube_client)`` works too."""

    def __init__(self, kubeconfig, context, timeout):
        self._kubeconfig = kubeconfig
        self._lock = threading.Lock()
        self._real = None
        self.aks = context
        self.default_timeout = timeout
        self.known_namespaces = {}
        cluster, user = _current(kubeconfig)
        self.host = (cluster.get("server") or "").rstrip("/")
        self._headers = {"Accept": "application/json", "User-Agent": "aks-connection"}
        self._pool = None
        self._probe = None
        if _speaks(cluster, user):
            self._pool = _pool(cluster, user)
            if user.get("token"):
                self._headers["Authorization"] = f"Bearer {user['token']}"

    _OWN = frozenset({"_kubeconfig", "_lock", "_real", "_pool", "_probe", "_headers", "aks", "default_timeout",
                      "known_namespaces", "host"})

    def __getattr__(self, name):
        if name.startswith("__") or name in KubeClient._OWN:     # not set yet (or a dunder): not the other client's
            raise AttributeError(name)
        return getattr(self.kubernetes_client(), name)

    def kubernetes_client(self):
        """The kubernetes client's ApiClient for the same cluster and credentials (imports kubernetes)."""
        with self._lock:
            if self._real is None:
                self._real = _kubernetes_api_client(self._kubeconfig, self.aks, self.default_timeout)
            return self._real

    def request(self, method, path, *, query=None, body=None, content_type="application/json", timeout=None,
                retries=None, _probing=False):
        """``retries``: None: the client's (:func:`_retry`); False: none (a probe)."""
        import urllib3
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
        return KubeObject(json.loads(text)) if text.strip() else None

    def _send(self, method, url, data, headers, kwargs):
        if self._pool is not None:
            return self._pool.request(method, url, body=data, headers=headers, **kwargs)
        return self._through_kubernetes(method, url, data, headers, kwargs)

    def _while_probing(self, probe, limits, request):
        """A request made while the /version probe of :func:`reaching` has no answer yet: it connects with the
        probe's connect timeout and no second try, so an API server out of reach fails it as fast as the probe.
        When it could not connect, the probe decides: its error when it failed too; else None (it is made again as
        any request is: the server answers, that failure was passing)."""
        import urllib3
        from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
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

    def _through_kubernetes(self, method, url, data, headers, kwargs):
        real = self.kubernetes_client()
        configuration = real.configuration
        if getattr(configuration, "refresh_api_key_hook", None):
            configuration.refresh_api_key_hook(configuration)       # an exec plugin's token, refreshed when due
        for auth in (configuration.auth_settings() or {}).values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        return real.rest_client.pool_manager.request(method, url, body=data, headers=headers, **kwargs)

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


def _speaks(cluster, user):
    """What AKS hands out (a token and/or a client certificate, inline; the CA inline) is spoken here."""
    return bool(cluster.get("server", "").startswith("https://")) and set(cluster) <= _CLUSTER_KEYS and \
        set(user) <= _USER_KEYS and bool(user.get("client-certificate-data")) == bool(user.get("client-key-data"))


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


def _kubernetes_api_client(kubeconfig, ctx, timeout):
    """The kubernetes client's ApiClient (AksApiClient) from the kubeconfig."""
    import logging
    from kubernetes import client as kube_client
    from kubernetes import config as kube_config
    # The kubernetes client logs whole response bodies (Secrets included) at DEBUG; az --debug enables DEBUG.
    logging.getLogger("kubernetes.client.rest").setLevel(logging.INFO)
    configuration = type.__call__(kube_client.Configuration)
    kube_config.load_kube_config_from_dict(kubeconfig, client_configuration=configuration, persist_config=False)
    configuration.retries = _retry()
    return _client_class()(configuration, ctx, timeout)


def _kubelogin_server_id(user):
    """The --server-id of a kubelogin exec user; None when the user is not one."""
    exec_cfg = (user or {}).get("exec") or {}
    command = os.path.basename(str(exec_cfg.get("command") or "")).lower()
    args = [str(a) for a in exec_cfg.get("args") or []]
    if not (command.startswith("kubelogin") or "get-token" in args):
        return None
    for i, arg in enumerate(args):
        if arg == "--server-id" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--server-id="):
            return arg.split("=", 1)[1]
    return AKS_SERVER_APP


def entra_token(cmd, cluster_ref, server_app=AKS_SERVER_APP):
    """An access token for the AKS server application from the current az login (never prompts)."""
    from azure.cli.core._profile import Profile
    from azure.cli.core.azclierror import AuthenticationError
    profile = Profile(cli_ctx=cmd.cli_ctx)
    try:
        try:
            raw = profile.get_raw_token(resource=server_app, subscription=getattr(cluster_ref, "subscription", None))
        except Exception as exc:  # pylint: disable=broad-except
            if "subscription" not in str(exc).lower():
                raise
            raw = profile.get_raw_token(resource=server_app)     # the cluster's subscription is not a login's
        return raw[0][1]
    except Exception as exc:  # pylint: disable=broad-except
        raise AuthenticationError(
            f"Could not get an Entra ID token for the API server of AKS cluster '{cluster_ref.name}' (application "
            f"{server_app}) from the current login: {exc}",
            recommendation="Run 'az login' (a user, a service principal or 'az login --identity') and try "
            "again.") from None


def token_claims(token):
    """The claims of a JWT access token (not verified: what it says of its subject, for messages); {} if none."""
    import base64
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8"))
    except (IndexError, ValueError, UnicodeDecodeError):
        return {}


def api_client(cmd, cluster_ref, cluster_resource=None):
    """A KubeClient for the cluster from its user credentials (never logged, never written to disk)."""
    import yaml
    from azure.core.exceptions import HttpResponseError
    from azext_aks_connection.provider.cluster import _client
    from azext_aks_connection.provider.errors import arm_error
    try:
        creds = _client(cmd, cluster_ref.subscription).managed_clusters.list_cluster_user_credentials(
            cluster_ref.resource_group, cluster_ref.name, logging_enable=False)
    except HttpResponseError as exc:
        raise arm_error(exc, f"Getting the user credentials of AKS cluster '{cluster_ref.name}'") from exc
    # libyaml's safe loader when PyYAML has it (azure-cli's wheels do): 0.3 ms for a kubeconfig, not 5 ms
    kubeconfig = yaml.load(creds.kubeconfigs[0].value.decode("utf-8"),
                           Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    contexts = {c.get("name"): c.get("context") or {} for c in kubeconfig.get("contexts") or []}
    current = contexts.get(kubeconfig.get("current-context")) or next(iter(contexts.values()), {})
    clusters = {c.get("name"): c.get("cluster") or {} for c in kubeconfig.get("clusters") or []}
    ctx = ClusterContext(cluster_ref, server=(clusters.get(current.get("cluster")) or {}).get("server"), cmd=cmd)
    ctx.learn(cluster_resource)
    for entry in kubeconfig.get("users") or []:
        if entry.get("name") != current.get("user"):
            continue
        server_app = _kubelogin_server_id(entry.get("user"))
        if server_app:
            token = entra_token(cmd, cluster_ref, server_app)
            entry["user"] = {"token": token}
            ctx.entra = True
            ctx.principal = token_claims(token).get("oid")
    return KubeClient(kubeconfig, ctx, timeouts(cmd.cli_ctx))


# --------------------------------------------------------------------------- unreachable API servers

def reason_of(exc, timeout=None):  # pylint: disable=too-many-return-statements  # one per kind of failure
    """A user's words for a urllib3 failure."""
    from urllib3.exceptions import (ConnectTimeoutError, MaxRetryError, NameResolutionError, NewConnectionError,
                                    ProtocolError, ReadTimeoutError, SSLError)
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    connect, read = (timeout if isinstance(timeout, tuple) else (timeout, timeout)) if timeout else (None, None)
    if isinstance(exc, NameResolutionError):
        return f"the name '{exc.conn.host if getattr(exc, 'conn', None) else '?'}' does not resolve from here"
    if isinstance(exc, NewConnectionError):
        if isinstance(exc.__cause__, ConnectionRefusedError):
            return "the connection was refused"
        return f"no connection could be made ({exc.__cause__ or exc})"
    if isinstance(exc, ConnectTimeoutError):
        return f"no connection within {connect:g} s" if connect else "the connection timed out"
    if isinstance(exc, ReadTimeoutError):
        return f"no answer within {read:g} s" if read else "the API server did not answer in time"
    if isinstance(exc, SSLError):
        return f"the TLS handshake failed ({exc})"
    if isinstance(exc, ProtocolError):
        return "the connection was reset"
    return str(exc)


def unreachable(ctx, reason):
    """The AzureConnectionError for an API server that cannot be reached: why, from the cluster's settings,
    and what to do, with the real names."""
    from azure.cli.core.azclierror import AzureConnectionError
    resource = ctx.cluster_resource() or {}
    props = resource.get("properties") or {}
    access = props.get("apiServerAccessProfile") or {}
    where = f"AKS cluster '{ctx.name}' (resource group '{ctx.resource_group}')"
    server = ctx.server or props.get("privateFQDN") or props.get("fqdn") or "?"
    engine = ("or let Microsoft's Service Connector make the connection from inside the cluster: add --engine "
              "service-connector to the create command")
    if access.get("enablePrivateCluster"):
        return AzureConnectionError(
            f"{where} is a private cluster: its API server {server} has only a private address in the cluster's "
            f"virtual network, and it cannot be reached from here ({reason}). Nothing was changed.",
            recommendation="Run the command from a machine with a network path to the cluster's virtual network "
            "(a VM in it or in a peered network, a VPN or ExpressRoute, or a private endpoint to the API server), "
            f"{engine}.")
    ranges = access.get("authorizedIPRanges") or []
    if ranges:
        listed = ",".join(ranges)
        return AzureConnectionError(
            f"{where} accepts API server connections only from its authorized IP ranges ({', '.join(ranges)}), and "
            f"{server} cannot be reached from here ({reason}): this machine's address is probably not in them. "
            "Nothing was changed.",
            recommendation=f"Add this machine's public IP address to the ranges (the list is replaced: keep the "
            f"existing ones): az aks update -g {ctx.resource_group} -n {ctx.name} --api-server-authorized-ip-ranges "
            f"{listed},<your public IP>/32 ; or run the command from a network inside those ranges, {engine}.")
    if ((props.get("powerState") or {}).get("code") or "").lower() == "stopped":
        return AzureConnectionError(
            f"{where} is stopped: its API server {server} does not answer ({reason}). Nothing was changed.",
            recommendation=f"Start it first: az aks start -g {ctx.resource_group} -n {ctx.name}")
    return AzureConnectionError(
        f"Cannot reach the API server {server} of {where}: {reason}.",
        recommendation="Check this machine's network path to the API server (DNS, proxy, firewall); raise the "
        "timeouts with 'az config set aks_connection.kube_timeout=<connect>,<read>' if the network is slow.")


class _Probe:  # pylint: disable=too-few-public-methods
    """The verdict of one GET /version: ``done`` once it has one, ``error`` the AzureConnectionError of
    :func:`unreachable` when the server could not be reached (None: it answered, whatever the status)."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.done = threading.Event()
        self.error = None


def _probe_timeout(api):
    configured = getattr(api, "default_timeout", None) or DEFAULT_TIMEOUT
    return (min(PROBE_TIMEOUT[0], configured[0]), min(PROBE_TIMEOUT[1], configured[1]))


def _context_for(api, cluster_ref, cluster_resource):
    """The client's ClusterContext, told the cluster's resource and, when it has none yet, the cluster itself."""
    ctx = context_of(api).learn(cluster_resource)
    if ctx.ref is None:
        ctx.ref, ctx.name, ctx.resource_group, ctx.id = cluster_ref, cluster_ref.name, cluster_ref.resource_group, \
            cluster_ref.id
    return ctx


def _run_probe(api, probe, name):
    try:
        api.request("GET", "/version", timeout=probe.timeout, retries=False, _probing=True)
    except KubeApiError as exc:
        logger.debug("API server of AKS cluster '%s' answered %s", name, exc.status)
    except Exception as exc:  # pylint: disable=broad-except  # unreachable(): the requests waiting raise it
        probe.error = exc
    finally:
        probe.done.set()


@contextlib.contextmanager
def reaching(api, cluster_ref, cluster_resource=None):
    """Probe the API server once (GET /version, short timeout, no retry) before anything is written, alongside
    the requests of the with-block (the first round of a command's reads and access reviews) instead of before
    them: one round trip less. Until the probe has its answer, those
    requests connect with its connect timeout and no second try (KubeClient._while_probing): a server out of reach
    fails the block with the probe's error, as soon as the probe would have; one that answers the probe has a
    request that could not connect made again."""
    ctx = _context_for(api, cluster_ref, cluster_resource)
    if not isinstance(api, KubeClient):
        _probe_before(api, ctx)
        yield
        return
    probe = _Probe(_probe_timeout(api))
    api._probe = probe      # pylint: disable=protected-access  # the client's own state, set by its module
    threading.Thread(target=_run_probe, args=(api, probe, ctx.name), daemon=True).start()
    try:
        yield
    finally:
        api._probe = None   # pylint: disable=protected-access  # the block's answers proved the server reachable


def _probe_before(api, ctx):
    """The probe of :func:`reaching` for a kubernetes package client (a kubeconfig KubeClient does not speak),
    made before the block: one GET /version, short timeout, no retry; the error of :func:`unreachable` when the
    server cannot be reached. Any HTTP answer counts as reachable."""
    import urllib3
    timeout = _probe_timeout(api)
    headers = {"Accept": "application/json"}
    for auth in (api.configuration.auth_settings() or {}).values():
        if auth.get("in") == "header" and auth.get("value"):
            headers[auth["key"]] = auth["value"]
    try:
        answer = api.rest_client.pool_manager.request(
            "GET", api.configuration.host.rstrip("/") + "/version", headers=headers,
            timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]), retries=False)
    except urllib3.exceptions.HTTPError as exc:
        raise unreachable(ctx, reason_of(exc, timeout)) from None
    logger.debug("API server of AKS cluster '%s' answered %s", ctx.name, answer.status)


# --------------------------------------------------------------------------- permissions

def create_checks(store_namespace, namespace, namespace_exists, service_account, *, store_exists=True, secret=True):
    """The (verb, resource, namespace) a create needs: the store's ConfigMaps (and creating its namespace when
    missing), the Secret and the ServiceAccount (workload identity) in the target namespace, and creating the
    target namespace when missing (namespace None: cluster scope)."""
    checks = [(verb, "configmaps", store_namespace) for verb in ("get", "list", "create", "update")]
    if secret:
        checks += [(verb, "secrets", namespace) for verb in ("get", "create", "update")]
    if service_account:
        checks += [(verb, "serviceaccounts", namespace) for verb in ("get", "create", "patch")]
    if (not store_exists) or ((secret or service_account) and not namespace_exists):
        checks.append(("create", "namespaces", None))
    return checks


def _review(api, check):
    verb, resource, namespace = check[:3]
    group = check[3] if len(check) > 3 else ""
    attributes = {"verb": verb, "resource": resource, "group": group}
    if namespace:
        attributes["namespace"] = namespace
    try:
        status = _create_review(api, {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                      "spec": {"resourceAttributes": attributes}}).status
    except api_errors() as exc:
        if exc.status == 404:
            return check, None, None         # the API server does not serve access reviews: nothing known
        from azext_aks_connection.provider.errors import kube_error
        raise kube_error(exc, f"Checking whether you may {verb} {resource}") from exc
    return check, bool(status.allowed), status.reason


def _create_review(api, body):
    if isinstance(api, KubeClient):
        return api.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body)
    from kubernetes import client
    return client.AuthorizationV1Api(api).create_self_subject_access_review(body)


def api_errors():
    """The error answers a Kubernetes call can raise here: KubeApiError, and the kubernetes client's ApiException
    when something loaded the kubernetes client (code that uses its API classes); never imports it."""
    import sys
    rest = sys.modules.get("kubernetes.client.rest") or sys.modules.get("kubernetes.client.exceptions")
    other = getattr(rest, "ApiException", None)
    return (KubeApiError, other) if other is not None else (KubeApiError,)


def preflight(api, cluster_ref, cluster_resource, checks, *, unreadable_namespaces=(), results=None):
    """A SelfSubjectAccessReview for every (verb, resource, namespace) of ``checks`` (at once); ONE error listing
    every denial with its fix, before anything is written. ``unreadable_namespaces``: namespaces whose existence
    could not be read (403): the error says that creating them, if missing, needs the cluster-scope right.
    ``results``: the reviews' answers when made already ([(check, allowed, reason)])."""
    from azext_aks_connection.provider.graph import pool as thread_pool
    ctx = _context_for(api, cluster_ref, cluster_resource)
    checks = list(dict.fromkeys(tuple(c) for c in checks))
    if not checks:
        return
    if results is None:
        with thread_pool(min(REVIEW_WORKERS, len(checks))) as pool:
            results = list(pool.map(lambda c: _review(api, c), checks))
    denied = [c for c, allowed, _ in results if allowed is False]
    if not denied:
        return
    azure = ctx.azure_rbac or any(AZURE_DENIAL_TEXT in (reason or "") for _, allowed, reason in results
                                  if allowed is False)
    raise forbidden(ctx, denied, azure, what="The connection cannot be created",
                    maybe_missing=[ns for ns in unreadable_namespaces if ns])


def _namespace_exists(api, namespace):
    """True / False, or None when it cannot be read (403: not known); a KubeClient remembers the answer."""
    from urllib.parse import quote
    try:
        if isinstance(api, KubeClient):
            api.request("GET", f"/api/v1/namespaces/{quote(namespace, safe='')}")
        else:
            from kubernetes import client
            client.CoreV1Api(api).read_namespace(namespace)
        exists = True
    except api_errors() as exc:
        if exc.status != 404:
            return None     # not readable (403): not known
        exists = False
    if isinstance(api, KubeClient):
        api.known_namespaces[namespace] = exists
    return exists


def _status_of(exc):
    """The HTTP status of a Kubernetes call's error, also when it was turned into an azclierror (kube_error)."""
    return getattr(exc, "status", None) or getattr(exc.__cause__, "status", None)


def _needed(checks, proven, reads):
    """``checks`` less the reads a create's own GETs prove (and ``list``: a create GETs its own record)."""
    return [c for c in dict.fromkeys(checks) if c not in proven and not (c[0] == "list" and reads)]


def _own_results(futures, reads):
    """The own reads' answers: ({name: result}, [(check, False, why)] for each 403, the first other error)."""
    found, denied, failed = {}, [], None
    for name, future in futures.items():
        try:
            found[name] = future.result()
        except Exception as exc:  # pylint: disable=broad-except  # a 403 is a denial; the others are raised
            if _status_of(exc) == 403:
                denied.append((tuple(reads[name][1]), False, str(exc.__cause__ or exc)))
            elif failed is None:
                failed = exc
    return found, denied, failed


def preflight_create(api, cluster_ref, cluster_resource, store_namespace, namespace, *, secret=True,
                     service_account=False, reads=None):
    """:func:`preflight` with :func:`create_checks`, in one round: the namespaces' existence is read while every
    review runs, creating namespaces among them (its answer counts only when a namespace is missing).

    ``reads``: {name: (fn, (verb, resource, namespace))}, the create's own reads of its objects (its record, its
    Secret, its ServiceAccount), made in the same round. Their answers prove the right to read (the API server
    authorizes a GET before it looks for the object: 200 and 404 are both proof), so those verbs get no review,
    and a 403 joins the denials of the one error. Returns {name: fn()}."""
    from azext_aks_connection.provider.graph import pool as thread_pool
    reads = reads or {}
    proven = {tuple(check) for _, check in reads.values()}
    every = _needed(create_checks(store_namespace, namespace, False, service_account, store_exists=False,
                                  secret=secret), proven, reads)
    namespaces = list(dict.fromkeys([store_namespace, namespace]))
    with thread_pool(min(REVIEW_WORKERS, len(every) + len(namespaces) + len(reads))) as pool:
        ns_reads = [pool.submit(_namespace_exists, api, ns) for ns in namespaces]
        own = {name: pool.submit(fn) for name, (fn, _) in reads.items()}
        reviews = [pool.submit(_review, api, c) for c in every]
        exists = dict(zip(namespaces, (f.result() for f in ns_reads)))
        results = [f.result() for f in reviews]
        found, denied_reads, failed = _own_results(own, reads)
    store_exists, ns_exists = exists[store_namespace], exists[namespace]
    wanted = _needed(create_checks(store_namespace, namespace, ns_exists is not False, service_account,
                                   store_exists=store_exists is not False, secret=secret), proven, reads)
    keep = set(tuple(c) for c in wanted)
    preflight(api, cluster_ref, cluster_resource, wanted + [c for c, _, _ in denied_reads],
              unreadable_namespaces=[ns for ns in namespaces if exists[ns] is None],
              results=[r for r in results if r[0] in keep] + denied_reads)
    if failed is not None:
        raise failed
    return found


# --------------------------------------------------------------------------- 403

def _described(check):
    verb, resource, namespace = check[:3]
    return f"{verb} {resource} " + (f"in namespace '{namespace}'" if namespace else "(cluster scope)")


def forbidden(ctx, denied, azure, *, what=None, detail=None, maybe_missing=()):  # pylint: disable=too-many-locals
    """The ForbiddenError for the ``denied`` (verb, resource, namespace) list: on Azure RBAC clusters the Azure
    role and the exact `az role assignment create` lines; otherwise the Kubernetes RBAC it needs.
    ``maybe_missing``: namespaces that could not be read; creating them, if missing, needs a cluster-scope right."""
    from azure.cli.core.azclierror import ForbiddenError
    where = f"AKS cluster '{ctx.name}'"
    listing = "; ".join(_described(c) for c in denied)
    head = f"{what}: " if what else ""
    if azure:
        cid = ctx.id or (ctx.ref.id if ctx.ref is not None else "<cluster id>")
        from azext_aks_connection.provider.catalogue import OBJECT_ID_FINDER
        assignee = ctx.principal or OBJECT_ID_FINDER
        grants = {}
        for check in denied:
            verb, resource, namespace = check[:3]
            if namespace:
                grants.setdefault((WRITER_ROLE, f"{cid}/namespaces/{namespace}"), None)
            else:
                grants.setdefault((CLUSTER_ADMIN_ROLE, cid), None)
        if maybe_missing and (CLUSTER_ADMIN_ROLE, cid) not in grants:
            grants[(CLUSTER_ADMIN_ROLE, cid)] = f"only if namespace {', '.join(maybe_missing)} does not exist yet"
        lines = [f'az role assignment create --assignee {assignee} --role "{role}" --scope {scope}'
                 + (f" ({why})" if why else "") for (role, scope), why in grants.items()]
        text = (f"{head}{where} uses Azure RBAC for Kubernetes authorization, and your identity"
                f"{' (' + ctx.principal + ')' if ctx.principal else ''} lacks the Azure role for: {listing}."
                + (f" {detail}" if detail else ""))
        roles = " and ".join(f'"{role}" on {scope}' for (role, scope), why in grants.items() if not why)
        return ForbiddenError(text, recommendation=f"Get {roles} (an Azure role assignment, not a Kubernetes "
                              "Role; it can take up to 5 minutes to take effect): " + " ; ".join(lines))
    by_namespace = {}
    for check in denied:
        verb, resource, namespace = check[:3]
        by_namespace.setdefault(namespace, {}).setdefault(resource, []).append(verb)
    lines = []
    for namespace, resources in by_namespace.items():
        verbs = ",".join(dict.fromkeys(v for vs in resources.values() for v in vs))
        kinds = ",".join(resources)
        if namespace:
            lines.append(f"kubectl create role aks-connection -n {namespace} --verb={verbs} --resource={kinds} && "
                         f"kubectl create rolebinding aks-connection -n {namespace} --role=aks-connection "
                         "--user=<your user>")
        else:
            lines.append(f"kubectl create clusterrole aks-connection-{kinds.replace(',', '-')} --verb={verbs} "
                         f"--resource={kinds} && kubectl create clusterrolebinding aks-connection-"
                         f"{kinds.replace(',', '-')} --clusterrole=aks-connection-{kinds.replace(',', '-')} "
                         "--user=<your user>")
    if maybe_missing and None not in by_namespace:
        lines.append(f"only if namespace {', '.join(maybe_missing)} does not exist yet: kubectl create clusterrole "
                     "aks-connection-namespaces --verb=create --resource=namespaces && kubectl create "
                     "clusterrolebinding aks-connection-namespaces --clusterrole=aks-connection-namespaces "
                     "--user=<your user>")
    text = (f"{head}your cluster user may not {listing} in {where} (Kubernetes RBAC)."
            + (f" {detail}" if detail else ""))
    return ForbiddenError(text, recommendation="Ask a cluster admin for these Kubernetes permissions: "
                          + " ; ".join(lines))


def forbidden_from_status(exc, what, text):
    """kube_error's 403: the denial the API server describes, with its fix."""
    import re
    ctx = getattr(exc, "aks_context", None) or ClusterContext(None)
    m = re.search(r'cannot (\S+) resource "([^"]+)" in API group "([^"]*)" (?:in the namespace "([^"]+)"|at the '
                  r'cluster scope)', text)
    check = (m.group(1), m.group(2) + (f".{m.group(3)}" if m.group(3) else ""), m.group(4)) if m else None
    azure = AZURE_DENIAL_TEXT in text or bool(ctx.azure_rbac)
    if check is None:
        from azure.cli.core.azclierror import ForbiddenError
        if azure:
            return ForbiddenError(text, recommendation=f'Get the Azure role "{WRITER_ROLE}" on the namespace '
                                  f"(scope {ctx.id or '<cluster id>'}/namespaces/<namespace>), or "
                                  f'"{CLUSTER_ADMIN_ROLE}" on the cluster.')
        return ForbiddenError(text, recommendation="Your cluster user lacks this Kubernetes permission; ask a "
                              "cluster admin for a Role granting it in that namespace.")
    return forbidden(ctx, [check], azure, what=f"{what} failed", detail=f"The API server said: {text}")
