# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The ARM HTTP app: routing, the checks ARM makes before a resource provider sees a request,
and the generic resource dispatcher that hands requests to the registered type handlers."""
import copy
import time
import uuid

from sandbox.arm import clusterkinds, common, control, denials, identity_endpoint, resources, targetkit
from sandbox.arm.common import arm_error, error_body, parse_path, type_path
from sandbox.arm.state import ArmState
from sandbox.core import HttpError, Response, Router

OPERATION_SEGMENTS = {"operations", "operationresults", "operationstatuses", "asyncoperations", "azureasyncoperation"}


# Lists answered a page at a time (PUT /_sandbox/arm/paging {"size": n}; 0: one page), each with the nextLink of
# the next one (a $skiptoken), as ARM pages long lists: a client that reads the first page only misses the rest.
PAGING = {"size": 0}


def paged(req, resp, sb):
    size = PAGING["size"]
    body = getattr(resp, "body", None)
    if not size or getattr(resp, "status", None) != 200 or not isinstance(body, dict) or \
            not isinstance(body.get("value"), list):
        return resp
    from urllib.parse import urlencode
    skip = int(req.query.get("$skiptoken") or 0)
    page = dict(body, value=body["value"][skip:skip + size])
    page.pop("nextLink", None)
    if skip + size < len(body["value"]):
        query = dict(req.query, **{"$skiptoken": str(skip + size)})
        page["nextLink"] = f"{common.base_url(req, sb)}{req.path}?{urlencode(query, safe='$')}"
    return Response(200, page, headers=resp.headers)


def arm_error_response(err, req):
    """ARM error body ``{"error": {"code", "message"[, "details"]}}`` with ARM's request-id headers."""
    resp = Response(err.status, None if req is not None and req.method == "HEAD"
                    else error_body(err.code, err.message, err.details), dict(err.headers or {}))
    if err.status == 401:
        resp.headers.setdefault("WWW-Authenticate",
                                'Bearer authorization_uri="https://login.microsoftonline.com/", '
                                'error="invalid_token", error_description="The authentication failed."')
    resp.headers["x-ms-failure-cause"] = "gateway" if err.status in (400, 401, 404) else "service"
    _add_request_headers(resp, req)
    return resp


def _add_request_headers(resp, req):
    rid = str(uuid.uuid4())
    corr = (req.header("x-ms-correlation-request-id") if req is not None else None) or rid
    resp.headers.setdefault("x-ms-request-id", rid)
    resp.headers.setdefault("x-ms-correlation-request-id", corr)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    resp.headers.setdefault("x-ms-routing-request-id", f"SANDBOX:{stamp}:{rid}")
    client_id = req.header("x-ms-client-request-id") if req is not None else None
    if client_id:
        resp.headers.setdefault("x-ms-client-request-id", client_id)
    resp.headers.setdefault("Cache-Control", "no-cache")
    return resp


def check_conditions(req, existing):
    """If-None-Match: * (create only) and If-Match (* or the resource's etag) -> 412 PreconditionFailed."""
    inm = (req.header("If-None-Match") or "").strip()
    im = (req.header("If-Match") or "").strip()
    failed = False
    if inm == "*" and existing is not None:
        failed = True
    elif inm and inm != "*" and existing is not None and inm == existing.get("etag"):
        failed = True
    if im:
        if existing is None or (im != "*" and im != existing.get("etag")):
            failed = True
    if failed:
        raise arm_error(412, "PreconditionFailed",
                        "The condition specified using HTTP conditional header(s) is not met.")


def build_arm_app(sb):
    """The ARM app for ``sb``; uses ``sb.arm`` (an :class:`ArmState`), creating it when missing."""
    if sb.arm is None:
        sb.arm = ArmState(sb)
    state = sb.arm
    registry = state.registry
    denials.attach(state)

    public = Router()
    public.add("GET", r"/metadata/endpoints", lambda req: Response(200, identity_endpoint.metadata(req, sb)))
    public.add("GET", r"/msi/token", lambda req: identity_endpoint.msi_token(req, sb))
    fixed = Router()
    resources.add_routes(fixed, state, None)
    controls = control.build_router(state)

    def authenticate(req):
        auth = req.header("Authorization") or ""
        if auth[:7].lower() != "bearer " or not auth[7:].strip():
            raise arm_error(401, "AuthenticationFailed",
                            "Authentication failed. The 'Authorization' header is missing.")
        claims = common.jwt_claims(auth[7:].strip())
        if claims.get("exp") and float(claims["exp"]) < time.time():
            raise arm_error(401, "ExpiredAuthenticationToken",
                            "The access token expiry UTC time is earlier than current UTC time.")

    def check_subscription(sub):
        if sub.lower() != sb.subscription_id.lower():
            raise arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")

    # ------------------------------------------------------------------ generic resources

    def matching(full, pred):
        out = []
        with state.lock:
            for res in state.resources.values():
                r = parse_path(res.get("id", ""))
                if r is not None and r.is_resource and r.full_type.lower() == full.lower() and pred(r):
                    out.append(res)
        return sorted(out, key=lambda x: x.get("name", "").lower())

    def dispatch_resource(req):
        ref = parse_path(req.path)
        if ref is None:
            raise arm_error(404, "NotFound", f"The sandbox ARM emulator serves no {req.method} {req.path}.")
        check_subscription(ref.subscription)
        ns = ref.namespace
        if not registry.known_namespace(ns):
            raise resources.invalid_namespace(ns)
        if any(t.lower() in OPERATION_SEGMENTS for t in ref.types + ([ref.tail] if ref.tail else [])):
            raise arm_error(404, "OperationNotFound", f"The operation '{ref.name or ref.tail}' could not be found.")
        if not ref.types:
            if not ref.tail:
                raise arm_error(404, "NotFound", f"The sandbox ARM emulator serves no {req.method} {req.path}.")
            full, mode = f"{ns}/{ref.tail}", "list-scope"
        elif ref.tail is None:
            full, mode = ref.full_type, "item"
        elif registry.get(f"{ref.full_type}/{ref.tail}") is not None:
            full, mode = f"{ref.full_type}/{ref.tail}", "list-children"
        else:
            full, mode = ref.full_type, "action"
        handler = registry.get(full)
        if handler is None or (mode == "action" and ref.tail.lower() not in handler.actions):
            shown = type_path(full) + (f"/{ref.tail}" if mode == "action" else "")
            raise common.invalid_resource_type(shown, registry.canonical_namespace(ns), req.api_version)
        if getattr(handler, "strict_api_versions", False):
            targetkit.check_api_version(handler, req)
        if state.provider_state(ns) != "Registered":
            # A provider may answer in its own words (Service Connector: SubscriptionNotRegistered).
            raise getattr(handler, "unregistered_error", common.missing_registration)(registry.canonical_namespace(ns))
        if ref.resource_group and state.raw(state.rg_id(ref.resource_group)) is None:
            raise common.rg_not_found(ref.resource_group)
        if ref.scope_is_resource:
            scope_ref = parse_path(ref.scope)
            if handler.scope_types and scope_ref.full_type.lower() not in handler.scope_types:
                raise common.invalid_resource_type(type_path(full), registry.canonical_namespace(ns),
                                                   req.api_version)
            if state.raw(ref.scope) is None and not clusterkinds.is_namespace_scope(state, ref.scope):
                raise common.resource_not_found(scope_ref)

        if mode in ("list-scope", "list-children"):
            denials.check(state, req, f"{full}/read", ref.id if mode == "list-children" else ref.scope)
        else:
            denials.check(state, req, denials.action_for(req.method, full, mode, ref.tail), ref.id)

        if mode == "list-scope":
            if req.method != "GET":
                raise common.method_not_allowed(req, f"the {full} collection")
            if ref.scope_is_resource:
                items = matching(full, lambda r: r.scope.lower() == ref.scope.lower())
            elif ref.resource_group:
                if not handler.list_by_resource_group:
                    raise common.invalid_resource_type(type_path(full), ns, req.api_version)
                items = matching(full, lambda r: not r.scope_is_resource and len(r.types) == 1
                                 and (r.resource_group or "").lower() == ref.resource_group.lower())
            else:
                if not handler.list_by_subscription:
                    raise common.invalid_resource_type(type_path(full), ns, req.api_version)
                items = matching(full, lambda r: not r.scope_is_resource and len(r.types) == 1)
            return paged(req, handler.list(req, items), state.sb)

        if mode == "list-children":
            if req.method != "GET":
                raise common.method_not_allowed(req, f"the {full} collection")
            if state.raw(ref.id) is None:
                raise arm_error(404, "ParentResourceNotFound",
                                f"Failed to perform 'read' on resource(s) of type '{type_path(full)}', because "
                                f"the parent resource '{ref.id}' could not be found.")
            if hasattr(handler, "list_children"):
                return paged(req, handler.list_children(req, ref.id), state.sb)
            items = matching(full, lambda r: (r.parent_id or "").lower() == ref.id.lower())
            return paged(req, handler.list(req, items), state.sb)

        if len(ref.types) > 1 and state.raw(ref.parent_id) is None:
            op = {"GET": "read", "HEAD": "read", "DELETE": "delete", "POST": "action"}.get(req.method, "write")
            raise common.parent_not_found(ref, op)

        if mode == "action":
            if req.method != "POST":
                raise arm_error(405, "MethodNotAllowed",
                                f"The requested method {req.method} is not allowed on {req.path}.")
            if state.raw(ref.id) is None:
                raise common.resource_not_found(ref)
            return getattr(handler, handler.actions[ref.tail.lower()])(req, ref)

        # item
        if req.method == "HEAD":
            try:
                handler.get(req, ref)
            except HttpError as err:
                if err.status == 404:
                    return Response(404)
                raise
            return Response(204)
        if req.method not in handler.methods:
            raise common.method_not_allowed(req, type_path(handler.type_name))
        if req.method in ("PUT", "PATCH", "DELETE"):
            check_conditions(req, state.raw(ref.id))
        if req.method == "GET":
            return handler.get(req, ref)
        if req.method == "PUT":
            return handler.put(req, ref, common.json_body(req))
        if req.method == "PATCH":
            return handler.patch(req, ref, common.json_body(req))
        if req.method == "DELETE":
            return handler.delete(req, ref)
        raise common.method_not_allowed(req, type_path(handler.type_name))

    # ------------------------------------------------------------------ the app

    def dispatch(req):
        if req.path.startswith("/_sandbox/arm"):
            return controls.dispatch(req) or Response(404, error_body("NotFound", f"No control endpoint {req.path}."))
        if req.path.startswith("/_sandbox"):
            return None   # the lead's control endpoints
        resp = public.dispatch(req)
        if resp is not None:
            return resp
        authenticate(req)
        common.check_api_version(req)
        # One request at a time touches the state (handlers are quick; LRO side effects on the
        # KubeStore run outside the lock). Bodies are copied before the lock is released.
        with state.lock:
            found = state.lro.find(req.path)
            if found is not None:
                resp = state.lro.serve(req, *found)
            else:
                resp = fixed.dispatch(req) or dispatch_resource(req)
            if isinstance(resp.body, (dict, list)):
                resp.body = copy.deepcopy(resp.body)
            return resp

    def app(req):
        req.path = common.norm_path(req.raw_path)
        resp = dispatch(req)
        if resp is None:
            return None
        return _add_request_headers(resp, req)

    app.state = state
    return app
