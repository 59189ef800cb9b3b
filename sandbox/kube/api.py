# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""HTTP face of the Kubernetes emulator: URL layout, verbs, bearer auth, Status errors.

Cluster ``key`` is served under ``/clusters/{key}`` (``/clusters/{key}/api/v1/namespaces/...``), so one
server hosts every cluster of the sandbox.  Served: discovery (see :mod:`.discovery`), get / list / create /
update / patch / delete / deletecollection on the kinds in ``resources.RESOURCES``, ``pods/{name}/log``
(``container``, ``tailLines``, ``limitBytes``), ``{name}/status`` for pods / jobs / namespaces, ``as=Table``
responses, ``dryRun=All``, JSON bodies and the protobuf bodies of
``kubectl create namespace|secret|configmap|serviceaccount`` (see :mod:`.protobuf`).
Not served: ``watch`` (405), server-side apply (``application/apply-patch+yaml``: 415), CBOR bodies,
``limit`` / ``continue`` paging (everything comes in one page), ``fieldValidation`` (accepted, ignored).
Authentication and authorization per cluster kind: see :mod:`.access`.
"""
import hmac
import re

from sandbox.core import HttpError, Response

from . import protobuf
from .discovery import discovery_document
from .patch import APPLY
from .resources import RESOURCES
from .store import not_found
from .tables import to_table

_CLUSTER_PATH = re.compile(r"/clusters/([^/]+)(/.*)?\Z")

# Reasons the API server uses, by HTTP status (for errors raised without a Kubernetes reason).
_REASON_BY_STATUS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                     405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
                     415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
                     503: "ServiceUnavailable", 504: "Timeout"}
_GENERIC_CODES = {None, "", "InjectedFault", "InternalServerError"}


def kube_error_response(err, req=None):
    """Any HttpError as a Kubernetes ``Status`` (reason = ``err.code``, details = ``err.details``)."""
    reason = err.code
    if reason in _GENERIC_CODES:
        reason = _REASON_BY_STATUS.get(err.status, "Unknown")
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": err.message,
            "reason": reason, "code": err.status}
    details = dict(err.details or {})
    headers = dict(err.headers or {})
    retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    if retry_after and str(retry_after).isdigit():
        details.setdefault("retryAfterSeconds", int(retry_after))
    if details:
        body["details"] = details
    return Response(err.status, body, headers=headers)


# ---- resource requests ----------------------------------------------------------------------------

def _parse(path):
    """(ResourceType, namespace, name, subresource) for a resource path, or None."""
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        group_version, rest = "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    served = {rt.resource: rt for rt in RESOURCES.values() if rt.api_version == group_version}
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in served:
        namespace, rest = rest[1], rest[2:]
    if not rest or rest[0] not in served or len(rest) > 3:
        return None
    rt = served[rest[0]]
    if namespace is None and rt.namespaced and len(rest) > 1:
        return None  # /api/v1/secrets/x: namespaced items need a namespace
    return rt, namespace, (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)


def _body(req):
    if (req.header("Content-Type") or "").startswith(protobuf.MEDIA_TYPE):
        return protobuf.decode(req.body)
    try:
        body = req.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(400, "BadRequest", f"the body of the request could not be decoded as JSON: {exc}") from None
    if body is None:
        raise HttpError(400, "BadRequest", "the request body is empty")
    return body


def _wants(req, what):
    return f"as={what}" in (req.header("Accept") or "").replace(" ", "")


def _render(req, store, rt, obj_or_list, status=200):
    """Plain JSON, or a Table when the Accept header asks for one."""
    rv = store.resource_version()
    single = isinstance(obj_or_list, dict)
    items = [obj_or_list] if single else obj_or_list
    if _wants(req, "Table"):
        return Response(status, to_table(rt.resource, items, rv, req.query.get("includeObject", "Metadata")))
    if single:
        return Response(status, obj_or_list)
    return Response(status, {"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                             "metadata": {"resourceVersion": rv}, "items": items})


def _status_success(rt, obj):
    details = {"name": obj["metadata"]["name"], "kind": rt.resource, "uid": obj["metadata"].get("uid")}
    if rt.group:
        details["group"] = rt.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _preconditions(req):
    """DeleteOptions.preconditions ({uid, resourceVersion}) from a JSON body, or None."""
    try:
        opts = req.json(default={})
    except (ValueError, UnicodeDecodeError):
        opts = {}
    pre = opts.get("preconditions") if isinstance(opts, dict) else None
    return {k: v for k, v in pre.items() if v} if isinstance(pre, dict) else None


def _propagation(req):
    """propagationPolicy from the query or a JSON DeleteOptions body (other encodings: query only)."""
    try:
        opts = req.json(default={})
    except (ValueError, UnicodeDecodeError):
        opts = {}
    opts = opts if isinstance(opts, dict) else {}
    propagation = req.query.get("propagationPolicy") or opts.get("propagationPolicy")
    if propagation is None and opts.get("orphanDependents") is False:
        propagation = "Background"
    return propagation


def _collection(req, store, rt, namespace, dry_run):
    if req.method == "GET":
        if req.query.get("watch") in ("true", "1"):
            raise HttpError(405, "MethodNotAllowed", "watch is not supported by the sandbox")
        items = store.list(rt.resource, namespace, req.query.get("labelSelector"), req.query.get("fieldSelector"))
        return _render(req, store, rt, items)
    if req.method == "POST":
        if rt.namespaced and namespace is None:
            raise HttpError(405, "MethodNotAllowed", f"the server does not allow this method on the requested "
                                                     f"resource (post {rt.group_resource})")
        return _render(req, store, rt, store.create(rt.resource, namespace, _body(req), dry_run=dry_run,
                                                    from_api=True, manager=_manager(req)), 201)
    if req.method == "DELETE" and rt.namespaced:
        propagation = _propagation(req)
        items = store.list(rt.resource, namespace, req.query.get("labelSelector"), req.query.get("fieldSelector"))
        gone = [store.delete(rt.resource, o["metadata"].get("namespace"), o["metadata"]["name"],
                             propagation=propagation, dry_run=dry_run) for o in items]
        return _render(req, store, rt, [g for g in gone if g])
    raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def _item(req, store, rt, namespace, name, dry_run):
    if req.method == "GET":
        obj = store.get(rt.resource, namespace, name)
        if obj is None:
            raise not_found(rt, name)
        return _render(req, store, rt, obj)
    if req.method == "PUT":
        return _render(req, store, rt, store.replace(rt.resource, namespace, name, _body(req), dry_run=dry_run,
                                                     from_api=True, manager=_manager(req)))
    if req.method == "PATCH":
        content_type = req.header("Content-Type") or ""
        if content_type.startswith(APPLY):
            raise HttpError(415, "UnsupportedMediaType", "server-side apply is not supported by the sandbox; "
                                                         "use client-side apply (--server-side=false)")
        return _render(req, store, rt, store.patch(rt.resource, namespace, name, _body(req), content_type,
                                                   dry_run=dry_run, from_api=True, manager=_manager(req)))
    if req.method == "DELETE":
        gone = store.delete(rt.resource, namespace, name, propagation=_propagation(req), dry_run=dry_run,
                            preconditions=_preconditions(req))
        if gone is None:
            raise not_found(rt, name)
        if rt.delete_returns_object:
            return _render(req, store, rt, gone)
        return Response(200, _status_success(rt, gone))
    raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def _status(req, store, rt, namespace, name, dry_run):
    if req.method == "GET":
        return _item(req, store, rt, namespace, name, dry_run)
    if req.method == "PUT":
        obj = store.replace(rt.resource, namespace, name, _body(req), dry_run=dry_run, subresource="status")
    elif req.method == "PATCH":
        obj = store.patch(rt.resource, namespace, name, _body(req), req.header("Content-Type"), dry_run=dry_run,
                          subresource="status")
    else:
        raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    return _render(req, store, rt, obj)


def _log(req, store, namespace, name):
    if req.method != "GET":
        raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    text = store.pod_log(namespace, name, req.query.get("container"))
    tail = req.query.get("tailLines")
    if tail and tail.lstrip("-").isdigit() and int(tail) >= 0:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[len(lines) - int(tail):]) if int(tail) else ""
    data = text.encode("utf-8")
    limit = req.query.get("limitBytes")
    if limit and limit.isdigit():
        data = data[:int(limit)]
    return Response(200, data, content_type="text/plain")


OPTIONS_KIND = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions", "DELETE": "DeleteOptions"}


def _dry_run(req):
    """Whether ``dryRun=All``; any other value of a write is a 422 Invalid on its options, as the API server answers
    (apiserver pkg/endpoints/handlers: ValidateCreateOptions / ...UpdateOptions ... -> errors.NewInvalid)."""
    value = req.query.get("dryRun")
    if value in (None, "All") or req.method not in OPTIONS_KIND:
        return value == "All"
    kind = OPTIONS_KIND[req.method]
    msg = f'Unsupported value: "{value}": supported values: "All"'
    raise HttpError(422, "Invalid", f'{kind}.meta.k8s.io "" is invalid: dryRun: {msg}',
                    details={"group": "meta.k8s.io", "kind": kind,
                             "causes": [{"reason": "FieldValueNotSupported", "message": msg, "field": "dryRun"}]})


def _manager(req):
    """The field manager of a write: ``?fieldManager=``, else the User-Agent up to its first '/' (the API server's
    default), as ``metadata.managedFields`` names it."""
    given = req.query.get("fieldManager")
    if given:
        return given
    agent = (req.header("User-Agent") or "unknown").split("/", 1)[0].strip()
    return agent[:128] or "unknown"


def handle_cluster_request(store, req, path):
    """Answer ``req`` for one cluster; ``path`` is the part after ``/clusters/{key}``."""
    doc = discovery_document(path, req.header("Host", "127.0.0.1"))
    if doc is not None:
        if req.method != "GET":
            raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                                                     "resource")
        return Response(200, doc)
    parsed = _parse(path)
    if parsed is None:
        raise HttpError(404, "NotFound", "the server could not find the requested resource")
    rt, namespace, name, sub = parsed
    dry_run = _dry_run(req)
    if name is None:
        return _collection(req, store, rt, namespace, dry_run)
    if sub is None:
        return _item(req, store, rt, namespace, name, dry_run)
    if sub == "status" and rt.status_subresource:
        return _status(req, store, rt, namespace, name, dry_run)
    if sub == "log" and rt.resource == "pods":
        return _log(req, store, namespace, name)
    raise HttpError(404, "NotFound", "the server could not find the requested resource")


def build_kube_app(registry, token, access=None):
    """``app(Request) -> Response | None`` serving every cluster of ``registry`` under ``/clusters/{key}``.

    Without ``access``, every request must carry ``Authorization: Bearer <token>`` (401 Unauthorized
    otherwise) and may do anything.  With ``access`` (a :class:`sandbox.kube.access.KubeAccess`), it
    authenticates and authorizes per cluster (static token or Entra ID token, Azure RBAC, control denials)
    and serves SelfSubjectAccessReviews.  Paths outside ``/clusters/`` are not ours: None."""
    expected = f"Bearer {token}".encode("utf-8")

    def app(req):
        m = _CLUSTER_PATH.match(req.path)
        if not m:
            return None
        principal = None
        if access is not None:
            principal = access.authenticate(m.group(1), req)
        else:
            given = (req.header("Authorization") or "").strip().encode("utf-8")
            if not hmac.compare_digest(given, expected):
                raise HttpError(401, "Unauthorized", "Unauthorized")
        store = registry.get(m.group(1))
        if store is None:
            raise HttpError(404, "NotFound", f'cluster "{m.group(1)}" is not served by the sandbox',
                            details={"name": m.group(1), "kind": "clusters"})
        path = m.group(2) or "/"
        if access is not None:
            answer = access.authorize(m.group(1), principal, req, path)
            if answer is not None:
                return answer
        return handle_cluster_request(store, req, path)

    return app
