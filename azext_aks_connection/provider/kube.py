"""Kubernetes writes: namespace and Secret, each read-compare-write so a re-run changes nothing."""
import base64

from azext_aks_connection.provider.errors import kube_error

MANAGED_BY = "aks-connection"
LABELS = {"app.kubernetes.io/managed-by": MANAGED_BY}


def _core(api_client):
    from kubernetes import client
    return client.CoreV1Api(api_client)


def ensure_namespace(api_client, namespace):
    """Create the namespace when missing. Returns True when it was created."""
    from kubernetes.client.rest import ApiException
    core = _core(api_client)
    try:
        core.read_namespace(namespace)
        return False
    except ApiException as exc:
        if exc.status != 404:
            raise kube_error(exc, f"Reading namespace '{namespace}'") from exc
    try:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": namespace, "labels": dict(LABELS)}})
        return True
    except ApiException as exc:
        if exc.status == 409:   # created meanwhile by someone else: fine
            return False
        raise kube_error(exc, f"Creating namespace '{namespace}'") from exc


_UNREAD = object()


def read_or_none(kind, read, name, namespace):
    """``read(name, namespace)``, or None when the object (or its namespace) does not exist."""
    from kubernetes.client.rest import ApiException
    try:
        return read(name, namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise kube_error(exc, f"Reading {kind} '{name}' in namespace '{namespace}'") from exc
        return None


def _converge(kind, namespace, name, *, read, create, desired_update, known=_UNREAD, exclusive=False):
    """Read, compare, write only on difference; a 409 (created or changed meanwhile) reads again, unless
    ``exclusive`` (an object one connection owns: changed meanwhile means another command changed this
    connection, and its write is not overwritten).

    ``desired_update(current)`` returns None when ``current`` is as wanted, else ``(write, body)``.
    Returns "created", "updated" or "unchanged"."""
    from kubernetes.client.rest import ApiException
    for _ in range(5):
        if known is not _UNREAD:
            current, known = known, _UNREAD         # read a moment ago by the caller: not read again
        else:
            current = read_or_none(kind, read, name, namespace)
        try:
            if current is None:
                create(namespace)
                return "created"
            change = desired_update(current)
            if change is None:
                return "unchanged"
            write, body = change
            write(name, namespace, body)
            return "updated"
        except ApiException as exc:
            if exc.status == 409 and exclusive:
                from azure.cli.core.azclierror import AzureResponseError
                raise AzureResponseError(
                    f"{kind} '{name}' in namespace '{namespace}' was changed by another command while this one ran: "
                    "it was not overwritten.",
                    recommendation="Look at the connection with 'az aks connection show', then re-run this command "
                    "to apply it on top.") from exc
            if exc.status == 409:
                continue            # created or changed meanwhile (stale resourceVersion): read again
            verb = "Creating" if current is None else "Updating"
            raise kube_error(exc, f"{verb} {kind} '{name}' in namespace '{namespace}'") from exc
    from azure.cli.core.azclierror import AzureResponseError
    raise AzureResponseError(f"{kind} '{name}' in namespace '{namespace}' kept changing while we wrote it.")


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
                     desired_update=desired_update, known=known, exclusive=exclusive)


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
                     desired_update=desired_update)


def read_namespace(api_client, namespace):
    """The namespace (V1Namespace) or None."""
    return read_or_none("Namespace", lambda name, _ns: _core(api_client).read_namespace(name), namespace, namespace)


def read_service_account(api_client, namespace, name):
    """The ServiceAccount (V1ServiceAccount) or None."""
    return read_or_none("ServiceAccount", _core(api_client).read_namespaced_service_account, name, namespace)


def delete_owned(api_client, kind, namespace, name, owned):
    """Delete Secret / ServiceAccount ``name`` if ``owned(its connection-id annotation)``, with its
    resourceVersion as precondition. Returns "deleted", "absent" or "not ours"."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException
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
        delete(name, namespace, body=client.V1DeleteOptions(preconditions=client.V1Preconditions(
            resource_version=current.metadata.resource_version)))
    except ApiException as exc:
        if exc.status == 404:
            return "absent"
        raise kube_error(exc, f"Deleting {kind} '{name}' in namespace '{namespace}'") from exc
    return "deleted"
