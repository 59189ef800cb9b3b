# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""In-memory object store of one emulated cluster (what etcd + the generic registry do), and the registry
of clusters one server hosts.

Emulated: uid / creationTimestamp / resourceVersion (one increasing counter per cluster, bumped on every
write; no-op updates do not bump it), generation for pods and jobs, optimistic concurrency on update,
AlreadyExists / NotFound / Invalid errors with the real messages, namespace deletion removing everything
in the namespace (immediately: no Terminating phase), cascading deletion of a Job's pods (ownerReferences)
for propagationPolicy Background / Foreground, dry runs.
DeleteOptions preconditions (uid, resourceVersion): 409 Conflict "Precondition failed", as the API server says.
Not emulated: watches, finalizers, graceful deletion, admission,
controllers (nothing runs a Job or creates default service accounts).
"""
import base64
import copy
import datetime
import random
import threading
import uuid

from sandbox.core import HttpError

from .patch import apply_patch
from .resources import DEFAULT_NAMESPACES, RESOURCES, default_job_selector, prepare
from .selectors import match_fields, match_labels, parse_field_selector, parse_label_selector


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_type(resource):
    rt = RESOURCES.get(resource)
    if rt is None:
        raise HttpError(404, "NotFound", "the server could not find the requested resource")
    return rt


def not_found(rt, name):
    details = {"name": name, "kind": rt.resource}
    if rt.group:
        details["group"] = rt.group
    return HttpError(404, "NotFound", f'{rt.group_resource} "{name}" not found', details=details)


def conflict(rt, name):
    details = {"name": name, "kind": rt.resource}
    if rt.group:
        details["group"] = rt.group
    return HttpError(409, "Conflict", f'Operation cannot be fulfilled on {rt.group_resource} "{name}": the object has '
                                      f'been modified; please apply your changes to the latest version and try again',
                     details=details)


def _fields(value):
    """FieldsV1 of a value: ``{"f:<key>": ...}`` for an object's keys (nested objects in turn), ``{}`` for a leaf."""
    if isinstance(value, dict):
        return {f"f:{k}": _fields(v) for k, v in sorted(value.items())}
    return {}


# How long a deleted namespace stays Terminating before it is gone (PUT /_sandbox/kube/namespace-termination);
# 0: gone at once.
NAMESPACE_TERMINATION = {"seconds": 0.0}


def managed_fields(obj, manager, operation, previous=None):
    """``metadata.managedFields`` after a write by ``manager``: its entry (operation Update, FieldsV1 of what the
    object holds, the time) replaces its earlier one; other managers' entries stay. A simplification of
    server-side field ownership: enough for clients that read, keep or strip the field."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k in ("labels", "annotations", "ownerReferences",
                                                                      "finalizers")}
    owned = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata", "status")}
    if meta:
        owned["metadata"] = meta
    entry = {"manager": manager, "operation": operation, "apiVersion": obj.get("apiVersion"),
             "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": _fields(owned)}
    others = [e for e in previous or [] if isinstance(e, dict) and e.get("manager") != manager]
    return others + [entry]


def _spec_of(obj):
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


class KubeStore:
    """The objects of one cluster. Every public method is thread-safe and returns copies.

    ``resource`` arguments are lowercase plurals (see ``resources.RESOURCES``); ``namespace`` is None for
    namespaces (and for "all namespaces" in :meth:`list`).  Errors are ``sandbox.core.HttpError`` with
    the API server's reason as ``code`` and its details.
    """

    def __init__(self, name="cluster"):
        self.name = name
        self._lock = threading.RLock()
        self._rv = 0
        self._objects = {r: {} for r in RESOURCES}   # resource -> {(namespace|None, name): object}
        self._logs = {}                               # (namespace, pod, container|None) -> text
        for ns in DEFAULT_NAMESPACES:
            self.ensure_namespace(ns)

    # ---- reads ----------------------------------------------------------------------------------

    def resource_version(self):
        with self._lock:
            return str(self._rv)

    def get(self, resource, namespace, name):
        rt = resource_type(resource)
        with self._lock:
            obj = self._objects[resource].get((namespace if rt.namespaced else None, name))
            return copy.deepcopy(obj)

    def list(self, resource, namespace=None, label_selector=None, field_selector=None):
        """Objects sorted by (namespace, name), as etcd returns them.

        ``label_selector``: selector text (``"a=b,c in (d)"``) or a dict of required labels;
        ``field_selector``: selector text (``"metadata.name=x"``)."""
        rt = resource_type(resource)
        if isinstance(label_selector, dict):
            label_selector = ",".join(f"{k}={v}" for k, v in label_selector.items())
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, resource)
        with self._lock:
            items = [obj for (ns, _), obj in self._objects[resource].items()
                     if namespace is None or not rt.namespaced or ns == namespace]
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            return [copy.deepcopy(o) for o in items if match_labels(labels, o) and match_fields(fields, o)]

    # ---- writes ---------------------------------------------------------------------------------

    def _bump(self):
        self._rv += 1
        return str(self._rv)

    def _scope(self, rt, namespace, meta):
        """Check/fill metadata.namespace; the key's namespace part."""
        if not rt.namespaced:
            meta.pop("namespace", None)
            return None
        if not namespace:
            raise HttpError(400, "BadRequest", "an empty namespace may not be set during creation")
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise HttpError(400, "BadRequest",
                            "the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace
        return namespace

    def ensure_namespace(self, name, labels=None):
        """The namespace ``name``, created if missing; ``labels`` are added to it."""
        with self._lock:
            current = self.get("namespaces", None, name)
            if current is None:
                return self.create("namespaces", None, {"metadata": {"name": name, "labels": dict(labels or {})}})
            if labels and any(current["metadata"].get("labels", {}).get(k) != v for k, v in labels.items()):
                current["metadata"]["labels"].update(labels)
                return self.replace("namespaces", None, name, current)
            return current

    def create(self, resource, namespace, obj, *, dry_run=False, from_api=False, manager=None):
        """Store a new object; returns it as stored.

        Called directly (seeding), given ``uid`` / ``creationTimestamp`` / ``status`` are kept, so seeded
        objects can look old or failed.  ``from_api=True`` is what a POST does: those are server-owned."""
        rt = resource_type(resource)
        obj = copy.deepcopy(obj) if isinstance(obj, dict) else {}
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        namespace = self._scope(rt, namespace, meta)
        if rt.namespaced and self._terminating(namespace):
            raise HttpError(403, "Forbidden", f'{rt.resource} "{meta.get("name") or ""}" is forbidden: unable to '
                            f"create new content in namespace {namespace} because it is being terminated",
                            details={"name": meta.get("name"), "kind": rt.resource})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
        if from_api:
            if meta.get("resourceVersion"):
                raise HttpError(500, "InternalError", "resourceVersion should not be set on objects to be created")
            for key in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
                meta.pop(key, None)
            if rt.status_subresource:
                obj.pop("status", None)
        obj["kind"], obj["apiVersion"] = rt.kind, rt.api_version
        prepare(rt, obj)
        name = meta["name"]
        with self._lock:
            if namespace is not None and (None, namespace) not in self._objects["namespaces"]:
                raise not_found(RESOURCES["namespaces"], namespace)
            if (namespace, name) in self._objects[resource]:
                details = {"name": name, "kind": rt.resource}
                if rt.group:
                    details["group"] = rt.group
                raise HttpError(409, "AlreadyExists", f'{rt.group_resource} "{name}" already exists', details=details)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_rfc3339())
            if resource == "jobs":
                default_job_selector(obj)
            if rt.has_generation:
                meta["generation"] = 1
            meta.pop("managedFields", None)
            if manager:
                meta["managedFields"] = managed_fields(obj, manager, "Update")
            meta["resourceVersion"] = str(self._rv + 1)
            if not dry_run:
                self._bump()
                self._objects[resource][(namespace, name)] = obj
            return copy.deepcopy(obj)

    def replace(self, resource, namespace, name, obj, *, dry_run=False, from_api=False, subresource=None,
                manager=None):
        """PUT: replace the object (404 if missing).  A ``metadata.resourceVersion`` that differs from
        the stored one is a 409 Conflict; none means an unconditional replace.  With ``from_api`` the
        status of resources with a status subresource is kept; ``subresource="status"`` replaces only
        the status."""
        rt = resource_type(resource)
        key_ns = namespace if rt.namespaced else None
        obj = copy.deepcopy(obj) if isinstance(obj, dict) else {}
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if meta.get("name") != name:
            raise HttpError(400, "BadRequest",
                            f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        with self._lock:
            old = self._objects[resource].get((key_ns, name))
            if old is None:
                raise not_found(rt, name)
            self._scope(rt, namespace, meta)
            if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            if subresource == "status":
                status = obj.get("status")
                obj = copy.deepcopy(old)
                obj.pop("status", None)
                if status is not None:
                    obj["status"] = status
            else:
                for key in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
                    if key in old["metadata"]:
                        meta[key] = old["metadata"][key]
                    else:
                        meta.pop(key, None)
                if from_api and rt.status_subresource:
                    obj["status"] = copy.deepcopy(old.get("status"))
                    if obj["status"] is None:
                        obj.pop("status")
            obj["kind"], obj["apiVersion"] = rt.kind, rt.api_version
            meta = obj["metadata"]
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            prepare(rt, obj, old)
            # managedFields are the server's: what a client sends back is ignored, the stored ones are updated
            meta.pop("managedFields", None)
            if "managedFields" in old["metadata"]:
                meta["managedFields"] = old["metadata"]["managedFields"]
            if obj == old:
                return copy.deepcopy(old)  # no-op: no write, no new resourceVersion
            if manager:
                meta["managedFields"] = managed_fields(obj, manager, "Update", old["metadata"].get("managedFields"))
            if rt.has_generation and _spec_of(obj) != _spec_of(old):
                meta["generation"] = old["metadata"].get("generation", 1) + 1
            meta["resourceVersion"] = str(self._rv + 1)
            if not dry_run:
                self._bump()
                self._objects[resource][(key_ns, name)] = obj
            return copy.deepcopy(obj)

    def patch(self, resource, namespace, name, patch, content_type="application/merge-patch+json", *,
              dry_run=False, from_api=False, subresource=None, manager=None):
        """PATCH with a merge / strategic-merge / json patch (``content_type``); see :mod:`.patch`."""
        rt = resource_type(resource)
        with self._lock:
            old = self._objects[resource].get((namespace if rt.namespaced else None, name))
            if old is None:
                raise not_found(rt, name)
            patched = apply_patch(old, patch, content_type)
            if not isinstance(patched, dict):
                raise HttpError(422, "Invalid", "the patched document is not an object")
            return self.replace(resource, namespace, name, patched, dry_run=dry_run, from_api=from_api,
                                subresource=subresource, manager=manager)

    def update_status(self, resource, namespace, name, status):
        """Set an object's status (what a controller would do); returns the object."""
        with self._lock:
            current = self.get(resource, namespace, name)
            if current is None:
                raise not_found(resource_type(resource), name)
            current["status"] = status
            return self.replace(resource, namespace, name, current, subresource="status")

    def _terminating(self, namespace):
        ns = self._objects["namespaces"].get((None, namespace)) if namespace else None
        return bool(ns and (ns.get("status") or {}).get("phase") == "Terminating")

    def _finish_termination(self, name):
        with self._lock:
            ns = self._objects["namespaces"].get((None, name))
            if ns is not None and (ns.get("status") or {}).get("phase") == "Terminating":
                del self._objects["namespaces"][(None, name)]

    def delete(self, resource, namespace, name, *, propagation=None, dry_run=False, preconditions=None):
        """Remove an object; returns it (with deletionTimestamp set), or None if there was none.

        Deleting a namespace removes everything in it.  Deleting a Job with ``propagation`` Background or
        Foreground also removes the pods it owns (API default for jobs: orphan)."""
        rt = resource_type(resource)
        key = (namespace if rt.namespaced else None, name)
        with self._lock:
            old = self._objects[resource].get(key)
            if old is None:
                return None
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                want, have = (preconditions or {}).get(field), old["metadata"].get(field)
                if want and want != have:
                    raise HttpError(409, "Conflict", f"Operation cannot be fulfilled on {rt.group_resource} "
                                    f'"{name}": Precondition failed: {label} in precondition: {want}, {label} in '
                                    f"object meta: {have}", details={"name": name, "kind": rt.resource})
            gone = copy.deepcopy(old)
            gone["metadata"]["deletionTimestamp"] = now_rfc3339()
            if resource == "namespaces":
                gone["status"] = {"phase": "Terminating"}
            if dry_run:
                return gone
            gone["metadata"]["resourceVersion"] = self._bump()
            if resource == "namespaces" and NAMESPACE_TERMINATION["seconds"] > 0:
                # as the API server does: the namespace stays, Terminating, while its content goes; then it is gone
                if (old.get("status") or {}).get("phase") == "Terminating":
                    return gone
                self._objects[resource][key] = gone
                timer = threading.Timer(NAMESPACE_TERMINATION["seconds"], self._finish_termination, (name,))
                timer.daemon = True
                timer.start()
            else:
                del self._objects[resource][key]
            if resource == "namespaces":
                for objects in self._objects.values():
                    for k in [k for k in objects if k[0] == name]:
                        del objects[k]
                self._logs = {k: v for k, v in self._logs.items() if k[0] != name}
            elif resource == "pods":
                self._logs = {k: v for k, v in self._logs.items() if k[:2] != (namespace, name)}
            elif resource == "jobs" and propagation in ("Background", "Foreground"):
                uid = old["metadata"]["uid"]
                for pod in self.list("pods", namespace):
                    if any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences") or []):
                        self.delete("pods", namespace, pod["metadata"]["name"])
            return gone

    # ---- pod logs -------------------------------------------------------------------------------

    def set_pod_log(self, namespace, pod_name, text, container=None):
        """The text ``GET .../pods/{pod_name}/log`` returns (for ``container``, or for any container)."""
        with self._lock:
            self._logs[(namespace, pod_name, container)] = text

    def pod_log(self, namespace, pod_name, container=None):
        """The log text of a pod; 404 if there is no such pod, 400 for a container it does not have."""
        rt = RESOURCES["pods"]
        with self._lock:
            pod = self._objects["pods"].get((namespace, pod_name))
            if pod is None:
                raise not_found(rt, pod_name)
            names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
            if container is None and len(names) > 1:
                raise HttpError(400, "BadRequest", f"a container name must be specified for pod {pod_name}, "
                                                   f"choose one of: [{' '.join(names)}]")
            container = container or (names[0] if names else None)
            if container is not None and names and container not in names:
                raise HttpError(400, "BadRequest", f"container {container} is not valid for pod {pod_name}")
            text = self._logs.get((namespace, pod_name, container))
            if text is None:
                text = self._logs.get((namespace, pod_name, None), "")
            return text


def b64(text):
    """Convenience for seeders: the base64 form Secret ``data`` holds."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class KubeRegistry:
    """The clusters one Kubernetes emulator serves; cluster ``key`` lives under ``/clusters/{key}``."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stores = {}

    def add(self, key):
        """The store of cluster ``key`` (created empty, with the default namespaces, if new)."""
        with self._lock:
            if key not in self._stores:
                self._stores[key] = KubeStore(key)
            return self._stores[key]

    def get(self, key):
        with self._lock:
            return self._stores.get(key)

    def remove(self, key):
        with self._lock:
            return self._stores.pop(key, None)

    def keys(self):
        with self._lock:
            return list(self._stores)
