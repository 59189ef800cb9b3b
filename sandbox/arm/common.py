# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Shared pieces of the ARM emulator: resource ids, ARM errors, api-version checks, systemData,
the long-running-operation helper and the resource-type handler base classes.

Every resource provider module (``containerservice``, ``storage``, ...) builds on this file:
it subclasses :class:`ResourceHandler` (or uses :class:`TrackedResourceHandler` as is) and
registers its handlers in a :class:`HandlerRegistry` from a ``register(registry)`` function.
"""
import base64
import copy
import json
import math
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import unquote

from sandbox.core import HttpError, Response

API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(-[A-Za-z]+)?$")
TERMINAL_STATES = {"succeeded", "failed", "canceled", "cancelled"}
NOT_FOUND_FIX = "For more details please go to https://aka.ms/ARMResourceNotFoundFix"


# --------------------------------------------------------------------------- time, ids

def utcnow():
    return datetime.now(timezone.utc)


def iso(dt=None):
    """ARM-style timestamp: 2024-05-01T12:34:56.1234567Z."""
    dt = dt or utcnow()
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def new_guid():
    return str(uuid.uuid4())


def stable_guid(*parts):
    """A UUID derived from ``parts``: the same inputs give the same id on every run."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "sandbox:" + "/".join(str(p).lower() for p in parts)))


def norm_path(raw_path):
    """The path of a raw request target, with ``//`` collapsed and percent-escapes decoded.

    ``az cloud register --endpoint-resource-manager https://host/`` makes az ask for
    ``https://host//metadata/endpoints``; ``urlparse`` would read ``metadata`` as a host.
    """
    path = raw_path.split("?", 1)[0].split("#", 1)[0]
    path = re.sub(r"/{2,}", "/", unquote(path))
    return path.rstrip("/") or "/"


def jwt_claims(token):
    """Claims of a JWT, unverified; ``{}`` when ``token`` is not a JWT."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
        return claims if isinstance(claims, dict) else {}
    except Exception:  # pylint: disable=broad-except
        return {}


def deep_merge(base, patch):
    """Recursive merge: dicts merge key by key, anything else in ``patch`` replaces. Returns a new object."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for k, v in patch.items():
        out[k] = deep_merge(out.get(k), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def merge_patch(base, patch):
    """RFC 7386 JSON merge patch: ``null`` removes a key."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base) if isinstance(base, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# --------------------------------------------------------------------------- resource ids

class ResourceRef:
    """A parsed ARM path below ``/subscriptions/{sub}``.

    ``/subscriptions/s/resourceGroups/rg/providers/NS/t1/n1/t2/n2[/tail]``:
      scope        everything before the last ``/providers/`` (subscription, RG, or a resource id
                   for extension resources such as Microsoft.KubernetesConfiguration/extensions)
      namespace    NS;  types [t1, t2];  names [n1, n2]
      tail         a trailing odd segment: a collection (child type) or an action name
    """

    def __init__(self, subscription, resource_group, scope, namespace, types, names, tail):
        self.subscription = subscription
        self.resource_group = resource_group
        self.scope = scope
        self.namespace = namespace
        self.types = types
        self.names = names
        self.tail = tail

    @property
    def is_resource(self):
        return bool(self.types)

    @property
    def id(self):
        """Id of the resource (without the tail); ``None`` for a top-level collection."""
        if not self.types:
            return None
        parts = [self.scope, "providers", self.namespace]
        for t, n in zip(self.types, self.names):
            parts += [t, n]
        return "/".join(parts)

    @property
    def name(self):
        return self.names[-1] if self.names else None

    @property
    def full_type(self):
        return "/".join([self.namespace] + self.types)

    @property
    def scope_is_resource(self):
        return "/providers/" in self.scope.lower()

    @property
    def parent_id(self):
        """Id of the parent resource: the resource one level up, or the scope resource for an
        extension resource; ``None`` for a top-level resource."""
        if len(self.types) > 1:
            return ResourceRef(self.subscription, self.resource_group, self.scope, self.namespace,
                               self.types[:-1], self.names[:-1], None).id
        if self.scope_is_resource:
            return self.scope
        return None

    def child(self, type_segment, name):
        return ResourceRef(self.subscription, self.resource_group, self.scope, self.namespace,
                           self.types + [type_segment], self.names + [name], None)

    def __repr__(self):
        return f"ResourceRef({self.id or self.scope}, tail={self.tail})"


def parse_path(path):
    """Parse ``path`` into a :class:`ResourceRef`; ``None`` when it is not a provider resource path."""
    segs = [s for s in path.split("/") if s]
    if len(segs) < 4 or segs[0].lower() != "subscriptions":
        return None
    sub = segs[1]
    i = 2
    rg = None
    scope = f"/subscriptions/{sub}"
    if segs[i].lower() == "resourcegroups":
        if len(segs) < 4:
            return None
        rg = segs[3]
        scope += f"/resourceGroups/{rg}"
        i = 4
    levels = []  # (namespace, [segments])
    while i < len(segs):
        if segs[i].lower() != "providers" or i + 1 >= len(segs):
            return None
        ns = segs[i + 1]
        i += 2
        level = []
        while i < len(segs):
            if segs[i].lower() == "providers" and len(level) % 2 == 0 and level:
                break
            level.append(segs[i])
            i += 1
        levels.append((ns, level))
    if not levels:
        return None
    # Every level but the last names a resource fully: it becomes the scope.
    for ns, level in levels[:-1]:
        if len(level) < 2 or len(level) % 2:
            return None
        scope += f"/providers/{ns}/" + "/".join(level)
    ns, level = levels[-1]
    tail = None
    if len(level) % 2:
        tail = level[-1]
        level = level[:-1]
    return ResourceRef(sub, rg, scope, ns, level[0::2], level[1::2], tail)


def lower_rg_segment(rid):
    """``/resourceGroups/`` -> ``/resourcegroups/`` in an id: how AKS and Managed Identity spell their own ids
    (azure-cli recordings acs/.../test_aks_update_with_oidc_issuer_enabled.yaml and serviceconnector/.../
    test_kubernetes_storageblob_workload_identity_e2e.yaml); ids are case-insensitive, clients must compare so."""
    return re.sub(r"/resourcegroups/", "/resourcegroups/", rid, count=1, flags=re.I) if isinstance(rid, str) else rid


def type_path(full_type):
    """``Microsoft.Storage/storageAccounts/blobServices`` -> ``storageAccounts/blobServices``."""
    return full_type.split("/", 1)[1] if "/" in full_type else full_type


# --------------------------------------------------------------------------- errors

def arm_error(status, code, message, headers=None, details=None):
    return HttpError(status, code, message, headers=headers, details=details)


def error_body(code, message, details=None):
    err = {"code": code, "message": message}
    if details:
        err["details"] = details
    return {"error": err}


def rg_not_found(rg):
    return arm_error(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")


def resource_not_found(ref_or_id):
    ref = parse_path(ref_or_id) if isinstance(ref_or_id, str) else ref_or_id
    parts = [ref.namespace]
    for t, n in zip(ref.types, ref.names):
        parts += [t, n]
    where = f" under resource group '{ref.resource_group}'" if ref.resource_group else ""
    return arm_error(404, "ResourceNotFound",
                     f"The Resource '{'/'.join(parts)}'{where} was not found. {NOT_FOUND_FIX}")


def parent_not_found(ref, operation="read"):
    return arm_error(404, "ParentResourceNotFound",
                     f"Failed to perform '{operation}' on resource(s) of type '{type_path(ref.full_type)}', "
                     f"because the parent resource '{ref.parent_id}' could not be found.")


def invalid_resource_type(type_name, namespace, api_version):
    return arm_error(400, "InvalidResourceType",
                     f"The resource type '{type_name}' could not be found in the namespace '{namespace}' "
                     f"for api version '{api_version}'.")


def missing_registration(namespace):
    return arm_error(409, "MissingSubscriptionRegistration",
                     f"The subscription is not registered to use namespace '{namespace}'. "
                     "See https://aka.ms/rps-not-found for how to register subscriptions.",
                     details=[{"code": "MissingSubscriptionRegistration", "target": namespace,
                               "message": f"The subscription is not registered to use namespace '{namespace}'. "
                                          "See https://aka.ms/rps-not-found for how to register subscriptions."}])


def method_not_allowed(req, what):
    return arm_error(405, "MethodNotAllowed",
                     f"The sandbox does not implement {req.method} on {what}.")


def check_api_version(req):
    v = req.api_version
    if v is None or v == "":
        raise arm_error(400, "MissingApiVersionParameter",
                        "The api-version query parameter (?api-version=) is required for all requests.")
    if not API_VERSION_RE.match(v):
        raise arm_error(400, "InvalidApiVersionParameter",
                        f"The api-version '{v}' is invalid. The supported versions are like 'yyyy-mm-dd' "
                        "or 'yyyy-mm-dd-preview'.")
    return v


# --------------------------------------------------------------------------- systemData / callers

def caller_of(req, sb):
    """(identity, identityType) of the caller from its bearer token; the sandbox caller otherwise."""
    auth = (req.header("Authorization") or "") if req is not None else ""
    claims = jwt_claims(auth[7:]) if auth[:7].lower() == "bearer " else {}
    if claims.get("upn") or claims.get("unique_name"):
        return claims.get("upn") or claims.get("unique_name"), "User"
    return claims.get("appid") or claims.get("azp") or sb.caller_client_id, "Application"


def system_data(req, sb, previous=None):
    who, kind = caller_of(req, sb)
    now = iso()
    data = dict(previous or {})
    data.setdefault("createdBy", who)
    data.setdefault("createdByType", kind)
    data.setdefault("createdAt", now)
    data.update({"lastModifiedBy": who, "lastModifiedByType": kind, "lastModifiedAt": now})
    return data


def base_url(req, sb):
    """Absolute base URL of the ARM server (``sb.arm_url``, else from the Host header)."""
    if sb.arm_url:
        return sb.arm_url.rstrip("/")
    host = (req.header("Host") if req is not None else None) or "127.0.0.1"
    return f"https://{host}"


def json_body(req):
    try:
        body = req.json({})
    except (ValueError, UnicodeDecodeError) as exc:
        raise arm_error(400, "InvalidRequestContent",
                        f"The request content was invalid and could not be deserialized: {exc}.") from exc
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise arm_error(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body


# --------------------------------------------------------------------------- long-running operations

class Operation:
    """One asynchronous operation. Its status is served at ``status_path`` (Azure-AsyncOperation
    style: a JSON status body) and, when given, at ``result_path`` (Location style: 202 while
    running, then the final result)."""

    def __init__(self, op_id, kind, resource_id, status_path, result_path, duration, extra=None):
        self.id = op_id
        self.kind = kind
        self.resource_id = resource_id
        self.status_path = status_path
        self.result_path = result_path
        self.duration = duration
        self.extra = dict(extra or {})
        self.status = "InProgress"
        self.error = None
        self.start = utcnow()
        self.start_mono = time.monotonic()
        self.end = None
        self.on_complete = None
        self.after = None          # run outside the state lock when the operation ends, before its status flips
        self.finishing = False
        self.result = None         # callable() -> (status, body) for the Location-style result
        self.api_version = None
        # callable(req, role) -> Response: an operation that answers its status / result URLs itself (headers,
        # HTTP status and body of its own service's shape); None: the manager's standard answers.
        self.serve = None

    @property
    def done(self):
        return self.status != "InProgress"

    def remaining(self):
        return max(0.0, self.duration - (time.monotonic() - self.start_mono))

    def status_body(self):
        body = {"id": self.status_path, "name": self.id, "status": self.status, "startTime": iso(self.start)}
        if self.resource_id:
            body["resourceId"] = self.resource_id
        if self.end is not None:
            body["endTime"] = iso(self.end)
            body["percentComplete"] = 100.0
        if self.error:
            body["error"] = self.error
        body.update(self.extra)
        return body

    def describe(self):
        d = self.status_body()
        d["kind"] = self.kind
        return d


class LroManager:
    """Starts operations that finish on a timer and serves their status URLs.

    ``start(kind, ...)`` takes ``sb.lro_seconds.get(kind, sb.lro_seconds["default"])`` seconds; at the
    end ``on_complete(op)`` runs under the state lock and returns ``None`` (Succeeded) or an ARM
    error dict ``{"code", "message"}`` (Failed).
    """

    def __init__(self, state):
        self.state = state
        self._by_path = {}
        self._ops = []

    @property
    def sb(self):
        return self.state.sb

    def duration(self, kind):
        secs = self.sb.lro_seconds
        return float(secs.get(kind, secs.get("default", 1.0)))

    def start(self, kind, resource_id=None, status_path=None, result_path=None, on_complete=None,
              extra=None, op_id=None, req=None, duration=None):
        """``duration`` (seconds) overrides the kind's: for an operation that also waits for another one."""
        op = Operation(op_id or new_guid(), kind, resource_id, status_path, result_path,
                       self.duration(kind) if duration is None else float(duration), extra)
        op.on_complete = on_complete
        op.api_version = req.api_version if req is not None else None
        with self.state.lock:
            self._ops.append(op)
            if status_path:
                self._by_path[status_path.lower()] = ("status", op)
            if result_path:
                self._by_path[result_path.lower()] = ("result", op)
        timer = threading.Timer(op.duration, self._finish, (op,))
        timer.daemon = True
        timer.start()
        return op

    def _finish(self, op):
        with self.state.lock:
            if op.done or op.finishing:
                return
            op.finishing = True
            try:
                err = op.on_complete(op) if op.on_complete else None
            except Exception as exc:  # pylint: disable=broad-except
                import traceback
                traceback.print_exc()
                err = {"code": "InternalServerError", "message": f"Sandbox error: {exc!r}"}
            after = op.after
        if after:   # side effects elsewhere (the KubeStore), outside the lock, before the status flips
            try:
                after()
            except Exception:  # pylint: disable=broad-except
                import traceback
                traceback.print_exc()
        with self.state.lock:
            op.status = "Failed" if err else "Succeeded"
            op.error = err
            op.end = utcnow()

    def find(self, path):
        with self.state.lock:
            return self._by_path.get(path.lower())

    def in_flight(self, resource_id):
        """The running operation on ``resource_id``, if any."""
        lid = resource_id.lower()
        with self.state.lock:
            for op in reversed(self._ops):
                if not op.done and op.resource_id and op.resource_id.lower() == lid:
                    return op
        return None

    def list(self):
        with self.state.lock:
            return [op.describe() for op in self._ops]

    # ---- headers and responses

    def retry_headers(self, op=None):
        """``retry-after-ms`` (+ ``x-ms-retry-after-ms``) = ``sb.retry_after_ms``; ``Retry-After`` (whole
        seconds) only when that is at least one second: azure-core (1.39) reads ``Retry-After`` before the
        millisecond headers, and the SDKs deserialize it as an int, so a sub-second poll interval can
        only travel in the millisecond headers. None at all while ``sb.retry_after`` is off, nor for an operation
        of a kind in ``sb.no_retry_after`` (its real provider sends none)."""
        if not getattr(self.sb, "retry_after", True):
            return {}
        if op is not None and op.kind in getattr(self.sb, "no_retry_after", ()):
            return {}
        ms = int(self.sb.retry_after_ms)
        h = {"retry-after-ms": str(ms), "x-ms-retry-after-ms": str(ms)}
        if ms >= 1000:
            h["Retry-After"] = str(math.ceil(ms / 1000.0))
        return h

    def url(self, req, path, api_version=None):
        v = api_version or (req.api_version if req is not None else None)
        return base_url(req, self.sb) + path + (f"?api-version={v}" if v else "")

    def headers(self, req, op, async_header=True, location=None):
        """Headers of the initial response: Azure-AsyncOperation and/or Location, plus Retry-After."""
        h = self.retry_headers(op)
        if async_header and op.status_path:
            h["Azure-AsyncOperation"] = self.url(req, op.status_path)
        if location is None:
            location = bool(op.result_path)
        if location and op.result_path:
            h["Location"] = self.url(req, op.result_path)
        return h

    def serve(self, req, role, op):
        if op.serve is not None and req.method in ("GET", "HEAD"):
            return op.serve(req, role)
        if req.method not in ("GET", "HEAD"):
            raise arm_error(405, "MethodNotAllowed", f"The requested method {req.method} is not allowed on {req.path}.")
        with self.state.lock:
            done, status, body = op.done, op.status, op.status_body()
            result = op.result
        headers = {} if done else self.retry_headers(op)
        if role == "status":
            return Response(200, body, headers)
        # Location-style result
        if not done:
            headers["Location"] = self.url(req, op.result_path)
            return Response(202, None, headers)
        if status != "Succeeded":
            err = op.error or {"code": "OperationFailed", "message": "The operation failed."}
            return Response(400 if err.get("code") != "InternalServerError" else 500, {"error": err})
        if result:
            code, payload = result()
            return Response(code, payload)
        return Response(204, None)


# --------------------------------------------------------------------------- resource type handlers

class ResourceHandler:
    """Serves one resource type (``type_name``, e.g. ``Microsoft.Storage/storageAccounts``).

    The dispatcher has already checked auth, api-version, subscription, resource group, provider
    registration and parent existence when a method is called. ``ref`` is a :class:`ResourceRef`.

    Subclasses set ``methods`` (item methods served), ``actions`` ({lower-case action name:
    handler method name}, POST) and override what they need; ``render`` turns the stored resource
    into the wire form (e.g. to hide write-only fields).
    """

    type_name = None
    methods = frozenset({"GET"})
    actions = {}
    api_versions = ()
    # Extension resources (like Microsoft.KubernetesConfiguration/extensions) live under another
    # resource: the lower-case full types of the scopes they accept.
    scope_types = ()
    list_by_subscription = True
    list_by_resource_group = True
    locations = ("eastus", "eastus2", "westus2", "westus3", "westeurope", "northeurope")

    def __init__(self, state):
        self.state = state

    @property
    def sb(self):
        return self.state.sb

    @property
    def lro(self):
        return self.state.lro

    # ---- reading

    def render(self, res, req=None):
        return copy.deepcopy(res)

    def get(self, req, ref):
        res = self.state.raw(ref.id)
        if res is None:
            raise resource_not_found(ref)
        return Response(200, self.render(res, req))

    def list(self, req, items):
        return Response(200, {"value": [self.render(r, req) for r in items]})

    # ---- writing (not served unless in ``methods``)

    def put(self, req, ref, body):
        raise method_not_allowed(req, self.type_name)

    def patch(self, req, ref, body):
        raise method_not_allowed(req, self.type_name)

    def delete(self, req, ref):
        raise method_not_allowed(req, self.type_name)

    # ---- helpers

    def delete_now(self, req, ref):  # pylint: disable=unused-argument
        """A synchronous DELETE (200, or 204 when already gone) of the resource and its children;
        handlers whose type deletes this way set ``delete = ResourceHandler.delete_now``."""
        with self.state.lock:
            if self.state.raw(ref.id) is None:
                return Response(204)
            self.state.remove_tree(ref.id)
            return Response(200)

    def require(self, ref):
        res = self.state.raw(ref.id)
        if res is None:
            raise resource_not_found(ref)
        return res

    def new_envelope(self, ref, body, req, location=None):
        """id/name/type (+ location/tags for tracked resources) of a new resource."""
        env = {"id": ref.id, "name": ref.name, "type": self.type_name}
        if location:
            env["location"] = location
        if "tags" in body or location:
            env["tags"] = body.get("tags") or {}
        env["systemData"] = system_data(req, self.sb)
        return env


class TrackedResourceHandler(ResourceHandler):
    """Generic GET/PUT/PATCH/DELETE + list for a resource type.

    PUT creates (201) or replaces (200) ``properties``/``tags``/``sku``/``kind``/``identity``;
    PATCH replaces the top-level property keys it names (tags whole); DELETE removes the resource
    and everything under it (200; 204 when absent). With ``async_put`` PUT answers 201 with an
    Azure-AsyncOperation and the resource stays ``Creating``/``Updating`` for an LRO period.
    ``defaults`` are the properties a new resource gets; ``tracked`` = has location/tags.
    """

    methods = frozenset({"GET", "PUT", "PATCH", "DELETE"})
    tracked = True
    provisioning_state = True   # keep properties.provisioningState on the resource
    async_put = False
    defaults = {}
    top_level = ("tags", "sku", "kind", "identity", "zones", "plan", "etag", "extendedLocation")

    def location_for(self, ref, body):
        if not self.tracked:
            return None
        loc = body.get("location")
        if loc:
            return loc.replace(" ", "").lower()
        rg = self.state.raw(f"/subscriptions/{ref.subscription}/resourceGroups/{ref.resource_group}") \
            if ref.resource_group else None
        return (rg or {}).get("location") or self.sb.location

    def on_create(self, res, req, ref):
        """Hook: fill computed properties of a new resource."""

    def put(self, req, ref, body):
        with self.state.lock:
            existing = self.state.raw(ref.id)
            if existing is not None:
                res = copy.deepcopy(existing)
                for k in self.top_level:
                    if k in body:
                        res[k] = copy.deepcopy(body[k])
                props = copy.deepcopy(body.get("properties") or {})
                if self.provisioning_state:
                    props["provisioningState"] = "Succeeded"
                res["properties"] = props
                res["systemData"] = system_data(req, self.sb, existing.get("systemData"))
            else:
                res = self.new_envelope(ref, body, req, self.location_for(ref, body))
                for k in self.top_level:
                    if k in body:
                        res[k] = copy.deepcopy(body[k])
                res["properties"] = deep_merge(self.defaults, body.get("properties") or {})
                if self.provisioning_state:
                    res["properties"]["provisioningState"] = "Succeeded"
                self.on_create(res, req, ref)
            if not self.async_put:
                self.state.store(res)
                return Response(200 if existing is not None else 201, self.render(res, req))
            res["properties"]["provisioningState"] = "Updating" if existing is not None else "Creating"
            self.state.store(res)

            def complete(op, rid=ref.id):
                cur = self.state.raw(rid)
                if cur is not None:
                    cur["properties"]["provisioningState"] = "Succeeded"

            op = self.lro.start(type_path(self.type_name).split("/")[-1], ref.id, ref.id + "/operations/" + new_guid(),
                                on_complete=complete, req=req)
            return Response(200 if existing is not None else 201, self.render(res, req), self.lro.headers(req, op))

    def patch(self, req, ref, body):
        with self.state.lock:
            res = self.require(ref)
            for k in self.top_level:
                if k in body:
                    res[k] = copy.deepcopy(body[k])
            for k, v in (body.get("properties") or {}).items():
                res.setdefault("properties", {})[k] = copy.deepcopy(v)
            res["systemData"] = system_data(req, self.sb, res.get("systemData"))
            return Response(200, self.render(res, req))

    delete = ResourceHandler.delete_now


class HandlerRegistry:
    """Resource-type handlers by lower-case full type, and the known provider namespaces."""

    def __init__(self, state):
        self.state = state
        self.handlers = {}
        self.namespaces = {}   # lower -> canonical spelling
        self.extra_types = {}  # lower namespace -> {type path: [api versions]} for provider listings

    def add(self, handler_cls, **attrs):
        """Register ``handler_cls`` (instantiated with the state). Returns the handler."""
        if attrs:
            handler_cls = type(handler_cls.__name__, (handler_cls,), attrs)
        h = handler_cls(self.state)
        self.handlers[h.type_name.lower()] = h
        self.namespace(h.type_name.split("/")[0])
        return h

    def generic(self, type_name, api_versions=("2023-01-01",), **attrs):
        """Register a :class:`TrackedResourceHandler` for ``type_name``: the cheap way to add a provider."""
        attrs.update(type_name=type_name, api_versions=tuple(api_versions))
        return self.add(TrackedResourceHandler, **attrs)

    def namespace(self, ns, types=None):
        self.namespaces.setdefault(ns.lower(), ns)
        if types:
            self.extra_types.setdefault(ns.lower(), {}).update(types)

    def get(self, full_type):
        return self.handlers.get(full_type.lower())

    def known_namespace(self, ns):
        return ns.lower() in self.namespaces

    def canonical_namespace(self, ns):
        return self.namespaces.get(ns.lower(), ns)

    def types_of(self, ns):
        """[(type path, api versions, locations)] of a namespace."""
        out = {}
        for key, h in self.handlers.items():
            if key.split("/")[0] == ns.lower():
                out[type_path(h.type_name)] = (list(h.api_versions), list(h.locations))
        for t, versions in self.extra_types.get(ns.lower(), {}).items():
            out.setdefault(t, (list(versions), list(ResourceHandler.locations)))
        return out
