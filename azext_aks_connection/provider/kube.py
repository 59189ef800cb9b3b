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
            raise kube_error(exc, f"Reading namespace '{namespace}'")
    try:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": namespace, "labels": dict(LABELS)}})
        return True
    except ApiException as exc:
        if exc.status == 409:   # created meanwhile by someone else: fine
            return False
        raise kube_error(exc, f"Creating namespace '{namespace}'")


def apply_secret(api_client, namespace, name, values, connection_id):
    """Make Secret ``name`` hold exactly ``values``. Returns "created", "updated" or "unchanged"."""
    from kubernetes.client.rest import ApiException
    core = _core(api_client)
    data = {k: base64.b64encode(v.encode("utf-8")).decode("ascii") for k, v in values.items()}
    annotations = {"aks-connection/connection-id": connection_id}
    for _ in range(5):
        try:
            current = core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise kube_error(exc, f"Reading Secret '{name}' in namespace '{namespace}'")
            current = None
        if current is None:
            body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS),
                                 "annotations": annotations},
                    "data": data}
            try:
                core.create_namespaced_secret(namespace, body)
                return "created"
            except ApiException as exc:
                if exc.status == 409:
                    continue            # created meanwhile: read it and compare
                raise kube_error(exc, f"Creating Secret '{name}' in namespace '{namespace}'")
        meta = current.metadata
        if (current.data or {}) == data and all((meta.annotations or {}).get(k) == v for k, v in annotations.items()):
            return "unchanged"
        body = {"apiVersion": "v1", "kind": "Secret", "type": current.type or "Opaque",
                "metadata": {"name": name, "namespace": namespace, "resourceVersion": meta.resource_version,
                             "labels": dict(meta.labels or {}, **LABELS),
                             "annotations": dict(meta.annotations or {}, **annotations)},
                "data": data}
        try:
            core.replace_namespaced_secret(name, namespace, body)
            return "updated"
        except ApiException as exc:
            if exc.status == 409:
                continue                # changed meanwhile (stale resourceVersion): read again
            raise kube_error(exc, f"Updating Secret '{name}' in namespace '{namespace}'")
    from azure.cli.core.azclierror import AzureResponseError
    raise AzureResponseError(f"Secret '{name}' in namespace '{namespace}' kept changing while we wrote it.")


def apply_service_account(api_client, namespace, name, annotations, connection_id):
    """ServiceAccount ``name`` carrying ``annotations`` (workload identity client id / tenant id).
    Annotations of others are kept. Returns "created", "updated" or "unchanged"."""
    from kubernetes.client.rest import ApiException
    core = _core(api_client)
    wanted = dict(annotations, **{"aks-connection/connection-id": connection_id})
    for _ in range(5):
        try:
            current = core.read_namespaced_service_account(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise kube_error(exc, f"Reading ServiceAccount '{name}' in namespace '{namespace}'")
            current = None
        if current is None:
            body = {"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS),
                                 "annotations": wanted}}
            try:
                core.create_namespaced_service_account(namespace, body)
                return "created"
            except ApiException as exc:
                if exc.status == 409:
                    continue
                raise kube_error(exc, f"Creating ServiceAccount '{name}' in namespace '{namespace}'")
        meta = current.metadata
        have = meta.annotations or {}
        # The connection-id annotation names the first connection that made the account; others share it.
        if all(have.get(k) == v for k, v in annotations.items()) and "aks-connection/connection-id" in have:
            return "unchanged"
        merged = dict(annotations)
        merged["aks-connection/connection-id"] = have.get("aks-connection/connection-id") or connection_id
        body = {"metadata": {"resourceVersion": meta.resource_version,
                             "labels": dict(meta.labels or {}, **LABELS), "annotations": merged}}
        try:
            core.patch_namespaced_service_account(name, namespace, body)
            return "updated"
        except ApiException as exc:
            if exc.status == 409:
                continue
            raise kube_error(exc, f"Updating ServiceAccount '{name}' in namespace '{namespace}'")
    from azure.cli.core.azclierror import AzureResponseError
    raise AzureResponseError(f"ServiceAccount '{name}' in namespace '{namespace}' kept changing while we wrote it.")
