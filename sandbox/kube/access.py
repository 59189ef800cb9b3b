# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Who may call a cluster's Kubernetes API and what they may do: authentication and authorization, per the
ARM cluster behind the Kubernetes store (read at every request, so a cluster update takes effect at once).

Authentication
  * local accounts (``disableLocalAccounts`` false): the sandbox's static token (``sb.kube_token``), the one
    every local-accounts kubeconfig carries; it is cluster-admin (user ``masterclient``, as AKS's local
    accounts).
  * AKS-managed Entra ID (``aadProfile.managed``): a bearer token the sandbox's token endpoint issued
    (``sb.issued_tokens``) for the AKS server application ``6dae42f8-4368-4678-94ff-3960e28e3630``, not
    expired. Anything else is 401 (the static token too when local accounts are disabled).

Authorization
  * Azure RBAC for Kubernetes (``aadProfile.enableAzureRBAC``): the token's principal needs an Azure role
    assignment (in the ARM emulator's state) at or above the cluster, or at ``<cluster id>/namespaces/<ns>``
    for requests in that namespace (``GET namespaces/<ns>`` included, as the API server counts a namespace
    object in itself), whose role grants the data action
    ``Microsoft.ContainerService/managedClusters/[<group>/]<resource>/{read|write|delete}``. Denied: 403 with
    Azure's text.
  * Everything else is allowed, except what a control denial names (tests: deny a verb / resource /
    namespace on any cluster; SelfSubjectAccessReviews answer the same).

``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` is served on every cluster from the same
decision (resourceAttributes; nonResourceAttributes are allowed).
"""
import fnmatch
import hmac
import json
import threading
import time

from sandbox.core import HttpError, Response

AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"
AZURE_DENIED = "User does not have access to the resource in Azure. Update role assignment to allow access."
DATA_ACTION = "Microsoft.ContainerService/managedClusters/"
LOCAL_USER = "masterclient"
SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_ACTION_OF_VERB = {"get": "read", "list": "read", "watch": "read", "create": "write", "update": "write",
                   "patch": "write", "delete": "delete", "deletecollection": "delete"}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


class Principal:  # pylint: disable=too-few-public-methods
    def __init__(self, kind, name, object_id=None):
        self.kind, self.name, self.object_id = kind, name, object_id


def request_attributes(method, path, query):
    """{verb, group, resource, namespace, name, subresource} of a resource request (the API server's request
    info), or None for a non-resource path (discovery, /version)."""
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 2 and rest[0] == "namespaces":
        namespace = rest[1]
        if len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if not rest:
        return None
    resource, name = rest[0], (rest[1] if len(rest) > 1 else None)
    subresource = rest[2] if len(rest) > 2 else None
    if method in ("GET", "HEAD"):
        verb = "get" if name else ("watch" if query.get("watch") in ("true", "1") else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return {"verb": verb, "group": group, "resource": resource, "namespace": namespace, "name": name,
            "subresource": subresource}


def _claims(token):
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        import base64
        return json.loads(base64.urlsafe_b64decode(payload.encode()).decode())
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def _matches(pattern, action):
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def forbidden_message(attrs, user, suffix=None):
    """The API server's Forbidden text (RBAC's, with the authorizer's reason appended)."""
    gr = f"{attrs['resource']}.{attrs['group']}" if attrs.get("group") else attrs["resource"]
    head = f'{gr} "{attrs["name"]}" is forbidden' if attrs.get("name") else f"{gr} is forbidden"
    where = f'in the namespace "{attrs["namespace"]}"' if attrs.get("namespace") else "at the cluster scope"
    text = (f'{head}: User "{user}" cannot {attrs["verb"]} resource "{attrs["resource"]}" in API group '
            f'"{attrs.get("group") or ""}" {where}')
    return f"{text}: {suffix}" if suffix else text


class KubeAccess:
    """Authentication and authorization of the Kubernetes emulator, from the ARM state of ``sb``."""

    def __init__(self, sb):
        self.sb = sb
        self._lock = threading.Lock()
        self._denials = []
        self._next = 0

    # ---- the ARM cluster behind a Kubernetes store ------------------------------------------------------

    def cluster_of(self, key):
        arm = self.sb.arm
        if arm is None:
            return None
        with arm.lock:
            for rid, meta in arm.meta.items():
                if meta.get("kube_key") == key:
                    res = arm.raw(rid)
                    if res is not None:
                        return res
            for res in arm.resources.values():   # a cluster whose key is its name (created by PUT)
                if res.get("type", "").lower() == "microsoft.containerservice/managedclusters" and \
                        res.get("name") == key and not arm.meta_of(res["id"]).get("kube_key"):
                    return res
        return None

    def key_of(self, cluster):
        """The Kubernetes store key of an ARM cluster id, or ``cluster`` itself when it is a key."""
        if not str(cluster).lower().startswith("/subscriptions/"):
            return cluster
        from sandbox.arm.containerservice import kube_key_of
        return kube_key_of(self.sb.arm, cluster)

    # ---- control denials ----------------------------------------------------------------------------

    def add_denial(self, rule):
        """{"cluster": ARM id or store key, "verb", "resource", "namespace" (None: any), "group" (None: any)}"""
        rule = {"cluster": self.key_of(rule.get("cluster") or ""), "verb": rule.get("verb") or "*",
                "resource": rule.get("resource") or "*", "namespace": rule.get("namespace"),
                "group": rule.get("group")}
        with self._lock:
            self._next += 1
            rule["id"] = self._next
            self._denials.append(rule)
        return rule["id"]

    def denials(self):
        with self._lock:
            return [dict(r) for r in self._denials]

    def clear_denials(self, rule_id=None):
        with self._lock:
            self._denials = [r for r in self._denials if rule_id is not None and r["id"] != rule_id]

    def _denied_by_control(self, key, attrs):
        with self._lock:
            for r in self._denials:
                if r["cluster"] != key or r["verb"] not in ("*", attrs["verb"]):
                    continue
                if r["resource"] not in ("*", attrs["resource"]):
                    continue
                if r["namespace"] is not None and r["namespace"] != (attrs.get("namespace") or ""):
                    continue
                if r["group"] is not None and r["group"] != (attrs.get("group") or ""):
                    continue
                return True
        return False

    # ---- authentication -----------------------------------------------------------------------------

    def authenticate(self, key, req):
        """The Principal of the request; HttpError 401 when the cluster does not accept its credential."""
        given = (req.header("Authorization") or "").strip()
        cluster = self.cluster_of(key)
        props = (cluster or {}).get("properties") or {}
        aad = (props.get("aadProfile") or {}).get("managed")
        static_ok = not props.get("disableLocalAccounts")
        if static_ok and hmac.compare_digest(given.encode("utf-8"), f"Bearer {self.sb.kube_token}".encode("utf-8")):
            return Principal("static", LOCAL_USER)
        if aad and given.lower().startswith("bearer "):
            token = given[7:].strip()
            issued = getattr(self.sb, "issued_tokens", {}).get(token)
            claims = _claims(token) if issued else None
            tenant = ((props.get("aadProfile") or {}).get("tenantID") or "").lower()
            if claims and str(claims.get("aud", "")).lower().removeprefix("spn:") == AKS_SERVER_APP and \
                    int(claims.get("exp") or 0) > time.time() and \
                    (not tenant or str(claims.get("tid") or tenant).lower() == tenant):
                return Principal("aad", claims.get("upn") or claims.get("oid"), claims.get("oid"))
        raise HttpError(401, "Unauthorized", "Unauthorized")

    # ---- authorization ------------------------------------------------------------------------------

    def decide(self, key, principal, attrs):
        """(allowed, reason) for ``attrs`` (see :func:`request_attributes`)."""
        if self._denied_by_control(key, attrs):
            return False, ""
        cluster = self.cluster_of(key)
        aad = ((cluster or {}).get("properties") or {}).get("aadProfile") or {}
        if principal.kind != "aad" or not aad.get("enableAzureRBAC"):
            return True, ""
        if self._azure_rbac_allows(cluster, principal, attrs):
            return True, ""
        return False, AZURE_DENIED

    def _azure_rbac_allows(self, cluster, principal, attrs):
        from sandbox.arm import authorization
        action = DATA_ACTION + (f"{attrs['group']}/" if attrs.get("group") else "") + \
            f"{attrs['resource']}/{_ACTION_OF_VERB.get(attrs['verb'], 'action')}"
        cid = cluster["id"].lower()
        ns_scope = f"{cid}/namespaces/{attrs['namespace']}".lower() if attrs.get("namespace") else None
        for assignment in authorization.list_assignments(self.sb.arm, principal.object_id):
            scope = assignment["properties"]["scope"].lower().rstrip("/")
            if not (cid == scope or cid.startswith(scope + "/") or (ns_scope and scope == ns_scope)):
                continue
            name = authorization.ROLE_BY_GUID.get(authorization.role_guid(
                assignment["properties"]["roleDefinitionId"]) or "")
            if name is None:
                continue
            data_actions = authorization.BUILTIN_ROLES[name][3]
            not_data_actions = authorization.NOT_DATA_ACTIONS.get(name, [])
            if any(_matches(p, action) for p in data_actions) and \
                    not any(_matches(p, action) for p in not_data_actions):
                return True
        return False

    def authorize(self, key, principal, req, path):
        """None when the request may go on; a Response for a SelfSubjectAccessReview; HttpError 403."""
        if path.rstrip("/") == SSAR_PATH:
            if req.method != "POST":
                raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                                                         "resource")
            return self._review(key, principal, req)
        attrs = request_attributes(req.method, path, req.query)
        if attrs is None:
            return None
        allowed, reason = self.decide(key, principal, attrs)
        if allowed:
            return None
        details = {"kind": attrs["resource"]}
        if attrs.get("name"):
            details["name"] = attrs["name"]
        if attrs.get("group"):
            details["group"] = attrs["group"]
        raise HttpError(403, "Forbidden", forbidden_message(attrs, principal.name, reason or None), details=details)

    def _review(self, key, principal, req):
        try:
            body = req.json() or {}
        except (ValueError, UnicodeDecodeError):
            raise HttpError(400, "BadRequest", "the body of the request could not be decoded as JSON") from None
        spec = body.get("spec") or {}
        ra = spec.get("resourceAttributes")
        if ra is None and spec.get("nonResourceAttributes") is None:
            raise HttpError(422, "Invalid", 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: '
                                            'spec.resourceAuthorizationAttributes: Invalid value: "null": exactly '
                                            'one of nonResourceAttributes or resourceAttributes must be specified')
        status = {"allowed": True}
        if ra is not None:
            attrs = {"verb": ra.get("verb") or "", "group": ra.get("group") or "", "resource": ra.get("resource") or "",
                     "namespace": ra.get("namespace") or None, "name": ra.get("name") or None,
                     "subresource": ra.get("subresource") or None}
            allowed, reason = self.decide(key, principal, attrs)
            status = {"allowed": allowed}
            if not allowed:
                status["denied"] = bool(reason)
                if reason:
                    status["reason"] = reason
        return Response(201, {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                              "metadata": {"creationTimestamp": None}, "spec": spec, "status": status})
