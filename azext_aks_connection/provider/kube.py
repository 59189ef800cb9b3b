# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Kubernetes writes: namespace and Secret, each read-compare-write so a re-run changes nothing.

The calls go through kubeclient.KubeClient (no kubernetes package): :func:`core_v1` gives the CoreV1Api methods
used here and in the store, with the kubernetes client's names and arguments, answering KubeObjects and raising
:data:`ApiException` (kubeclient.KubeApiError: ``status``, ``reason``, ``body``)."""
import base64
from urllib.parse import quote

from azext_aks_connection.provider.errors import kube_error
from azext_aks_connection.provider.kubeclient import KubeApiError, api_errors

MANAGED_BY = "aks-connection"
LABELS = {"app.kubernetes.io/managed-by": MANAGED_BY}
ApiException = KubeApiError         # what core_v1's calls raise (the kubernetes client's name for it)
STRATEGIC_MERGE = "application/strategic-merge-patch+json"     # what the kubernetes client sends for a dict patch


# The CoreV1Api calls made here: name -> (HTTP method, resource plural, parameters in the kubernetes client's order).
_NAMED, _IN_NS, _LIST = ("name", "namespace"), ("namespace", "body"), ("namespace", "label_selector")
_CALLS = {
    "read_namespace": ("GET", "namespaces", ("name",)),
    "create_namespace": ("POST", "namespaces", ("body",)),
    "read_namespaced_secret": ("GET", "secrets", _NAMED),
    "create_namespaced_secret": ("POST", "secrets", _IN_NS),
    "replace_namespaced_secret": ("PUT", "secrets", _NAMED + ("body",)),
    "delete_namespaced_secret": ("DELETE", "secrets", _NAMED + ("body",)),
    "list_namespaced_secret": ("GET", "secrets", _LIST),
    "list_secret_for_all_namespaces": ("GET", "secrets", ("label_selector",)),
    "read_namespaced_service_account": ("GET", "serviceaccounts", _NAMED),
    "create_namespaced_service_account": ("POST", "serviceaccounts", _IN_NS),
    "patch_namespaced_service_account": ("PATCH", "serviceaccounts", _NAMED + ("body",)),
    "delete_namespaced_service_account": ("DELETE", "serviceaccounts", _NAMED + ("body",)),
    "list_namespaced_service_account": ("GET", "serviceaccounts", _LIST),
    "list_service_account_for_all_namespaces": ("GET", "serviceaccounts", ("label_selector",)),
    "read_namespaced_config_map": ("GET", "configmaps", _NAMED),
    "create_namespaced_config_map": ("POST", "configmaps", _IN_NS),
    "replace_namespaced_config_map": ("PUT", "configmaps", _NAMED + ("body",)),
    "delete_namespaced_config_map": ("DELETE", "configmaps", _NAMED + ("body",)),
    "list_namespaced_config_map": ("GET", "configmaps", _LIST),
}


class CoreV1:  # pylint: disable=too-few-public-methods  # its calls are _CALLS, made by __getattr__
    """The CoreV1Api calls aks-connection makes (``_CALLS``), on a KubeClient: same names, arguments and answers'
    fields as the kubernetes client's (the answers are KubeObjects). Bodies: dicts (or kubernetes client models);
    ``_request_timeout`` as the kubernetes client takes it."""

    def __init__(self, api):
        self.api = api

    def __getattr__(self, attr):
        try:
            method, plural, params = _CALLS[attr]
        except KeyError:
            raise AttributeError(attr) from None

        def call(*args, **kwargs):
            given = dict(zip(params, args))
            given.update({k: kwargs.pop(k) for k in list(kwargs) if k in params})
            path = "/api/v1/" + (f"namespaces/{quote(given['namespace'], safe='')}/" if "namespace" in params
                                 else "") + plural + (f"/{quote(given['name'], safe='')}" if "name" in params else "")
            timeout = kwargs.get("_request_timeout")
            if timeout is not None and not isinstance(timeout, tuple):
                timeout = (timeout, timeout)
            selector = given.get("label_selector")
            return self.api.request(method, path, query={"labelSelector": selector} if selector else None,
                                    body=given.get("body"), timeout=timeout,
                                    content_type=STRATEGIC_MERGE if method == "PATCH" else "application/json")
        return call


def core_v1(api_client):
    """CoreV1 on a KubeClient (kubeclient.py, the extension's one Kubernetes client)."""
    return CoreV1(api_client)


def _core(api_client):
    return core_v1(api_client)


def ensure_namespace(api_client, namespace):
    """Create the namespace when missing. Returns True when it was created. A namespace this command has seen
    already (the preflight reads it) is not read again."""
    core = _core(api_client)
    known = getattr(api_client, "known_namespaces", None)
    seen = known.get(namespace) if isinstance(known, dict) else None
    if seen:
        return False
    if seen is None:
        try:
            core.read_namespace(namespace)
            _remember(api_client, namespace)
            return False
        except api_errors() as exc:
            if exc.status != 404:
                raise kube_error(exc, f"Reading namespace '{namespace}'") from exc
    try:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": namespace, "labels": dict(LABELS)}})
        _remember(api_client, namespace)
        return True
    except api_errors() as exc:
        if exc.status == 409:   # created meanwhile by someone else: fine
            _remember(api_client, namespace)
            return False
        raise kube_error(exc, f"Creating namespace '{namespace}'") from exc


def _remember(api_client, namespace):
    known = getattr(api_client, "known_namespaces", None)
    if isinstance(known, dict):
        known[namespace] = True


_UNREAD = object()


def read_or_none(kind, read, name, namespace):
    """``read(name, namespace)``, or None when the object (or its namespace) does not exist."""
    try:
        return read(name, namespace)
    except api_errors() as exc:
        if exc.status != 404:
            raise kube_error(exc, f"Reading {kind} '{name}' in namespace '{namespace}'") from exc
        return None


def _converge(kind, namespace, name, *, read, create, desired_update, known=_UNREAD, exclusive=False,
              api_client=None):
    """Read, compare, write only on difference; a 409 (created or changed meanwhile) reads again, unless
    ``exclusive`` (an object one connection owns: changed meanwhile means another command changed this
    connection, and its write is not overwritten); a namespace deleted since this command saw it
    (``api_client``'s known_namespaces) is made again.

    ``desired_update(current)`` returns None when ``current`` is as wanted, else ``(write, body)``.
    Returns "created", "updated" or "unchanged".

    Why retry.call and not the kubernetes client's retry: the writes go through our light client
    (provider/kubeclient.KubeClient), which exists so that a create never imports the kubernetes package
    (~1.4 s); kubernetes.utils.retry_on_conflict (client-go's RetryOnConflict) lives in that package, retries
    every 409 alike after a blocking sleep, and cannot do what a 409 means here: read again, or refuse
    (``exclusive``), or make a namespace deleted meanwhile again."""
    state = {"current": None}

    def attempt(_):
        nonlocal known
        if known is not _UNREAD:
            current, known = known, _UNREAD         # read a moment ago by the caller: not read again
        else:
            current = read_or_none(kind, read, name, namespace)
        state["current"] = current
        if current is None:
            if _gone(api_client, namespace):
                ensure_namespace(api_client, namespace)     # deleted since this command saw it: made again
            create(namespace)
            return "created"
        change = desired_update(current)
        if change is None:
            return "unchanged"
        write, body = change
        write(name, namespace, body)
        return "updated"

    def retryable(exc):
        # 409: created or changed meanwhile (stale resourceVersion), read again unless ``exclusive``; 404 while
        # the namespace went meanwhile: made again by the next attempt.
        return isinstance(exc, api_errors()) and (exc.status == 409 and not exclusive or
                                                  exc.status == 404 and _gone(api_client, namespace))

    def exhausted(_):
        from azure.cli.core.azclierror import AzureResponseError
        return AzureResponseError(f"{kind} '{name}' in namespace '{namespace}' kept changing while we wrote it.")

    from azext_aks_connection.provider import retry
    try:    # each attempt reads again: no wait before it unless the API server asks for one (Retry-After)
        return retry.call(attempt, retryable=retryable, attempts=5, backoff=retry.Backoff(first=0.0),
                          exhausted=exhausted)
    except api_errors() as exc:
        if exc.status == 409 and exclusive:
            from azure.cli.core.azclierror import AzureResponseError
            raise AzureResponseError(
                f"{kind} '{name}' in namespace '{namespace}' was changed by another command while this one ran: "
                "it was not overwritten.",
                recommendation="Look at the connection with 'az aks connection show', then re-run this command "
                "to apply it on top.") from exc
        verb = "Creating" if state["current"] is None else "Updating"
        raise kube_error(exc, f"{verb} {kind} '{name}' in namespace '{namespace}'") from exc


def _gone(api_client, namespace):
    return (getattr(api_client, "known_namespaces", None) or {}).get(namespace) is False


def read_secret(api_client, namespace, name):
    """The Secret (V1Secret) or None when it (or its namespace) does not exist."""
    return read_or_none("Secret", _core(api_client).read_namespaced_secret, name, namespace)


def refuse_foreign_secret(secret, namespace):
    """A Secret of that name that aks-connection did not write is someone's data: refused, not overwritten."""
    meta = secret.metadata if secret is not None else None
    if meta is None or (meta.labels or {}).get("app.kubernetes.io/managed-by") == MANAGED_BY or \
            "aks-connection/connection-id" in (meta.annotations or {}):
        return
    from azure.cli.core.azclierror import ValidationError
    raise ValidationError(
        f"Secret '{meta.name}' in namespace '{namespace}' exists and was not written by aks-connection: the "
        "connection would replace its data.",
        recommendation="Choose another --connection name (the Secret is named sc-<connection name>-secret), or "
        f"move that Secret out of the way (kubectl delete secret {meta.name} -n {namespace}) if it is not needed.")


def apply_secret(api_client, namespace, name, values, connection_id, *, known=_UNREAD, exclusive=False):
    """Make Secret ``name`` hold exactly ``values``. Returns "created", "updated" or "unchanged". ``known``: the
    Secret as just read (None: absent), saving the first read; ``exclusive``: written only over that (see
    _converge)."""
    core = _core(api_client)
    data = {k: base64.b64encode(v.encode("utf-8")).decode("ascii") for k, v in values.items()}
    annotations = {"aks-connection/connection-id": connection_id}

    def create(ns):
        core.create_namespaced_secret(ns, {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": ns, "labels": dict(LABELS), "annotations": annotations},
            "data": data})

    def desired_update(current):
        meta = current.metadata
        if (current.data or {}) == data and all((meta.annotations or {}).get(k) == v for k, v in annotations.items()):
            return None
        return core.replace_namespaced_secret, {
            "apiVersion": "v1", "kind": "Secret", "type": current.type or "Opaque",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": meta.resource_version,
                         "labels": dict(meta.labels or {}, **LABELS),
                         "annotations": dict(meta.annotations or {}, **annotations)},
            "data": data}

    return _converge("Secret", namespace, name, read=core.read_namespaced_secret, create=create,
                     desired_update=desired_update, known=known, exclusive=exclusive, api_client=api_client)


def apply_service_account(api_client, namespace, name, annotations, connection_id):
    """ServiceAccount ``name`` carrying ``annotations`` (workload identity client id / tenant id).
    Annotations of others are kept; the connection-id annotation names the first connection that made
    the account (others share it). Returns "created", "updated" or "unchanged"."""
    core = _core(api_client)

    def create(ns):
        core.create_namespaced_service_account(ns, {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "labels": dict(LABELS),
                         "annotations": dict(annotations, **{"aks-connection/connection-id": connection_id})}})

    def desired_update(current):
        meta = current.metadata
        have = meta.annotations or {}
        if all(have.get(k) == v for k, v in annotations.items()) and "aks-connection/connection-id" in have:
            return None
        merged = dict(annotations)
        merged["aks-connection/connection-id"] = have.get("aks-connection/connection-id") or connection_id
        return core.patch_namespaced_service_account, {
            "metadata": {"resourceVersion": meta.resource_version,
                         "labels": dict(meta.labels or {}, **LABELS), "annotations": merged}}

    return _converge("ServiceAccount", namespace, name, read=core.read_namespaced_service_account, create=create,
                     desired_update=desired_update, api_client=api_client)


def namespace_exists(api_client, namespace):
    """Whether the namespace exists: what this command saw already (a KubeClient remembers the preflight's reads and
    its own writes), else read (and remembered)."""
    known = getattr(api_client, "known_namespaces", None)
    if isinstance(known, dict) and known.get(namespace) is not None:
        return known[namespace]
    found = read_or_none("Namespace", lambda name, _ns: _core(api_client).read_namespace(name), namespace,
                         namespace) is not None
    if isinstance(known, dict):
        known[namespace] = found
    return found


def read_service_account(api_client, namespace, name):
    """The ServiceAccount (V1ServiceAccount) or None."""
    return read_or_none("ServiceAccount", _core(api_client).read_namespaced_service_account, name, namespace)


def delete_owned(api_client, kind, namespace, name, owned):
    """Delete Secret / ServiceAccount ``name`` if ``owned(its connection-id annotation)``, with its
    resourceVersion as precondition. Returns "deleted", "absent" or "not ours"."""
    core = _core(api_client)
    read, delete = {"Secret": (core.read_namespaced_secret, core.delete_namespaced_secret),
                    "ServiceAccount": (core.read_namespaced_service_account,
                                       core.delete_namespaced_service_account)}[kind]
    current = read_or_none(kind, read, name, namespace)
    if current is None:
        return "absent"
    if not owned((current.metadata.annotations or {}).get("aks-connection/connection-id") or ""):
        return "not ours"
    try:
        delete(name, namespace, body={"preconditions": {"resourceVersion": current.metadata.resource_version}})
    except api_errors() as exc:
        if exc.status == 404:
            return "absent"
        raise kube_error(exc, f"Deleting {kind} '{name}' in namespace '{namespace}'") from exc
    return "deleted"
