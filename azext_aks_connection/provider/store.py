# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The connection store: one ConfigMap per connection in the cluster itself, in a namespace of the extension's own.

Every AKS cluster has a Kubernetes API, so the store exists on every cluster with nothing to install (the
local path installs no cluster extension: an extension type must be registered by its publisher, and the type
Microsoft's Service Connector uses drives Microsoft's own operator). The namespace is ``aks-connection`` unless
``az config set aks_connection.store_namespace=<name>`` or ``AZURE_AKS_CONNECTION_STORE_NAMESPACE`` says
otherwise; it is created with the first connection.

Each ConfigMap holds the connection's JSON record (never a credential) under key ``connection.json``; it is
labelled ``aks-connection/record=v1`` so that ``list`` is one LIST with a label selector. Writes are
compare-and-swap: a create is a POST (409 AlreadyExists: someone wrote it meanwhile, read again), an update is a
PUT carrying the ``resourceVersion`` read (409 Conflict: read again), a delete carries it as a precondition.
"""
import hashlib
import json
import os
import re

from knack.log import get_logger

from azext_aks_connection.provider import retry
from azext_aks_connection.provider.errors import kube_error

logger = get_logger(__name__)

DEFAULT_NAMESPACE = "aks-connection"
ENV_NAMESPACE = "AZURE_AKS_CONNECTION_STORE_NAMESPACE"
RECORD_LABEL = "aks-connection/record"
RECORD_LABEL_VALUE = "v1"
NAME_ANNOTATION = "aks-connection/connection-name"
DATA_KEY = "connection.json"
LABELS = {"app.kubernetes.io/managed-by": "aks-connection", RECORD_LABEL: RECORD_LABEL_VALUE}
ATTEMPTS = 5
_NAMESPACE_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")


def namespace(cli_ctx):
    """The store's namespace: AZURE_AKS_CONNECTION_STORE_NAMESPACE, else `az config` aks_connection.store_namespace,
    else aks-connection."""
    value = os.environ.get(ENV_NAMESPACE) or cli_ctx.config.get("aks_connection", "store_namespace", DEFAULT_NAMESPACE)
    value = (value or DEFAULT_NAMESPACE).strip()
    if not _NAMESPACE_RE.match(value):
        from azure.cli.core.azclierror import InvalidArgumentValueError
        raise InvalidArgumentValueError(
            f"The connection store namespace '{value}' is not a valid Kubernetes namespace name.",
            recommendation="Set a name of lower-case letters, digits and '-': az config set "
            "aks_connection.store_namespace=aks-connection")
    return value


def configmap_name(connection_name):
    """A valid ConfigMap name for a connection name (case ignored, as connection names are case-insensitive):
    ``conn-<readable part>-<hash>``; the hash keeps ``a_b`` and ``a-b`` apart."""
    lower = connection_name.lower()
    readable = re.sub(r"[^a-z0-9]+", "-", lower).strip("-")[:40].strip("-") or "x"
    return f"conn-{readable}-{hashlib.sha256(lower.encode('utf-8')).hexdigest()[:10]}"


def _core(api_client):
    from azext_aks_connection.provider.kube import core_v1
    return core_v1(api_client)


class Store:
    """The connection records of one cluster, as read with one LIST. ``records`` maps a connection name to its
    record; ``objects`` to the ConfigMap it came from (for its resourceVersion)."""

    def __init__(self, api_client, ns, records=None, objects=None, complete=True):
        self.api = api_client
        self.namespace = ns
        self.records = records or {}
        self.objects = objects or {}
        self.complete = complete        # False: read for one connection only (read_one); others() lists the rest

    @classmethod
    def read_one(cls, api_client, ns, name):
        """The store as far as one connection needs it: the record of ``name`` (its ConfigMap's name is derived
        from the name, case ignored, so any spelling finds it) with one GET, whatever the number of connections."""
        store = cls(api_client, ns, complete=False)
        item = store._read_one(configmap_name(name))  # pylint: disable=protected-access  # its own class's reader
        record = _record_of(item) if item is not None else None
        if record is not None:
            store._remember(record, item)  # pylint: disable=protected-access
        return store

    def others(self, name):
        """The records of the cluster's other connections (listed now when this store was read for one only)."""
        records = self.records if self.complete else list_store(self.api, self.namespace).records
        return [r for n, r in records.items() if n.lower() != (name or "").lower()]

    def record_of(self, name):
        """The record of ``name``: this store's, else (a store read for one connection) read now; None if none."""
        found = self.find(name)
        if found is not None or self.complete:
            return found
        return Store.read_one(self.api, self.namespace, name).find(name)

    def find(self, name):
        """The record named ``name``, its case ignored (as ARM ignores the case of resource names), or None."""
        key = self.key_of(name)
        return self.records.get(key) if key else None

    def key_of(self, name):
        if name in self.records:
            return name
        return next((n for n in self.records if n.lower() == (name or "").lower()), None)

    def put(self, record):
        """Write ``record`` (create or replace), compare-and-swap against the record this Store read; returns
        "created", "updated" or "unchanged".

        When the ConfigMap changed after it was read: a change of its metadata only (labels, annotations) is
        written over with the new resourceVersion; a record another command wrote meanwhile is not overwritten
        (the error says so: re-run to apply on top of it); a record deleted meanwhile is not brought back
        (exit 3). A record created meanwhile by another command is refused the same way, unless it is ours."""
        from azext_aks_connection.provider.kube import ApiException
        core = _core(self.api)
        name = record["name"]
        cm_name = configmap_name(name)
        key = self.key_of(name) or name
        expected = self.records.get(key)            # the record as read: what we may replace
        current = self.objects.get(key)

        def attempt(_):
            if current is None:
                if expected is not None:
                    raise deleted_error(name)
                self._ensure_namespace()
                created = core.create_namespaced_config_map(self.namespace, _body(cm_name, record))
                self._remember(record, created)
                return "created"
            have = _record_of(current)
            if have == record:
                self._remember(record, current)
                return "unchanged"
            if have != expected:
                raise _changed_error(name, cm_name, self.namespace)
            replaced = core.replace_namespaced_config_map(cm_name, self.namespace,
                                                          _body(cm_name, record, current.metadata))
            self._remember(record, replaced)
            return "updated"

        def reread(_):
            nonlocal current
            current = self._read_one(cm_name)

        def exhausted(_):
            from azure.cli.core.azclierror import AzureResponseError
            return AzureResponseError(
                f"Connection record '{name}' (ConfigMap {cm_name} in namespace '{self.namespace}') kept changing "
                f"while it was written ({ATTEMPTS} attempts).",
                recommendation="Another client is writing the same connection: retry when it is done.")

        try:    # 409: created or changed by someone else meanwhile; 404: deleted meanwhile. Read it again.
            return retry.call(attempt, retryable=_conflict(404, 409), attempts=ATTEMPTS, reread=reread,
                              backoff=retry.Backoff(first=0.0), exhausted=exhausted)
        except ApiException as exc:
            raise kube_error(exc, f"Writing connection record '{name}' (ConfigMap {cm_name} in namespace "
                             f"'{self.namespace}')") from exc

    def delete(self, name):
        """Remove the record of ``name``; True when one was removed."""
        from azext_aks_connection.provider.kube import ApiException
        key = self.key_of(name)
        if key is None:
            return False
        current = self.objects.get(key)
        cm_name = current.metadata.name if current is not None else configmap_name(key)

        def attempt(tried):
            if current is None and tried:
                return False                    # gone meanwhile
            try:
                _core(self.api).delete_namespaced_config_map(
                    cm_name, self.namespace,
                    body={"preconditions": {"resourceVersion": current.metadata.resource_version}}
                    if current is not None else None)
                removed = True
            except ApiException as exc:
                if exc.status != 404:
                    raise
                removed = False
            self.records.pop(key, None)
            self.objects.pop(key, None)
            return removed

        def reread(_):
            nonlocal current
            current = self._read_one(cm_name)     # changed meanwhile: delete what is there now

        try:
            return retry.call(attempt, retryable=_conflict(409), attempts=ATTEMPTS, reread=reread,
                              backoff=retry.Backoff(first=0.0))
        except ApiException as exc:
            if exc.status == 409:
                return False                        # kept changing: left as it is
            raise kube_error(exc, f"Deleting connection record '{key}' (ConfigMap {cm_name} in namespace "
                                  f"'{self.namespace}')") from exc

    def _read_one(self, cm_name):
        from azext_aks_connection.provider import kube as kube_ops
        return kube_ops.read_or_none("ConfigMap", _core(self.api).read_namespaced_config_map, cm_name, self.namespace)

    def _remember(self, record, obj):
        self.records[record["name"]] = record
        self.objects[record["name"]] = obj

    def _ensure_namespace(self):
        from azext_aks_connection.provider import kube as kube_ops
        kube_ops.ensure_namespace(self.api, self.namespace)


def _changed_error(name, cm_name, ns):
    from azure.cli.core.azclierror import AzureResponseError
    return AzureResponseError(
        f"Connection '{name}' was changed by another command while this one ran (its record, ConfigMap {cm_name} "
        f"in namespace '{ns}', is not what this command read): it was not overwritten.",
        recommendation="Look at it with 'az aks connection show', then re-run this command to apply it on top.")


def deleted_error(name):
    from azure.cli.core.azclierror import ResourceNotFoundError
    return ResourceNotFoundError(
        f"Connection '{name}' was deleted by another command while this one ran: it was not brought back.",
        recommendation="Create it again with 'az aks connection create' if it is still wanted.")


def list_store(api_client, ns):
    """The Store of every record in namespace ``ns`` (one LIST; no namespace: no connection yet)."""
    from azext_aks_connection.provider.kube import ApiException
    try:
        items = _core(api_client).list_namespaced_config_map(
            ns, label_selector=f"{RECORD_LABEL}={RECORD_LABEL_VALUE}").items
    except ApiException as exc:
        if exc.status == 404:       # no such namespace: no connection yet
            return Store(api_client, ns)
        raise kube_error(exc, f"Listing the connection records (ConfigMaps in namespace '{ns}')") from exc
    records, objects = {}, {}
    for item in items:
        record = _record_of(item)
        if record is None:
            logger.warning("ConfigMap '%s' in namespace '%s' is labelled as a connection record but holds no "
                           "readable record: skipped.", item.metadata.name, ns)
            continue
        records[record["name"]] = record
        objects[record["name"]] = item
    return Store(api_client, ns, records, objects)


def _conflict(*statuses):
    """retry.call's predicate: a Kubernetes API error with one of ``statuses`` (someone else wrote meanwhile)."""
    from azext_aks_connection.provider.kube import ApiException
    return lambda exc: isinstance(exc, ApiException) and exc.status in statuses


def _record_of(configmap):
    try:
        record = json.loads((configmap.data or {}).get(DATA_KEY) or "")
    except (TypeError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("name") else None


def _body(cm_name, record, meta=None):
    from azext_aks_connection.model import dump_record
    metadata = {"name": cm_name, "labels": dict(LABELS), "annotations": {NAME_ANNOTATION: record["name"]}}
    if meta is not None:
        metadata["resourceVersion"] = meta.resource_version
        metadata["labels"] = dict(meta.labels or {}, **LABELS)
        metadata["annotations"] = dict(meta.annotations or {}, **metadata["annotations"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {DATA_KEY: dump_record(record)}}


def read(cmd, cluster_ref, api_client=None):
    """The cluster's Store (its API client made from the user's credentials when not given)."""
    if api_client is None:
        from azext_aks_connection.provider import cluster as cluster_ops
        api_client = cluster_ops.kube_api(cmd, cluster_ref)
    return list_store(api_client, namespace(cmd.cli_ctx))
