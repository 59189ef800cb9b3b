# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.ManagedIdentity: userAssignedIdentities (PUT/GET/PATCH/DELETE/list) and their
federatedIdentityCredentials children (PUT/GET/DELETE/list).

* an identity gets ``properties {tenantId, principalId, clientId}`` when it is created: uuids derived
  from its id, so the same identity has the same ids on every run; a PUT of an existing identity
  keeps them (they are read-only);
* at most ``MAX_FICS`` (20) federated identity credentials per identity: the 21st is a 400;
* the (issuer, subject) pair must be unique among an identity's credentials: a second credential with
  the same pair under another name is a 400, as the service answers;
* a credential write (PUT or DELETE) holds its identity for ``ficWriteSeconds`` (see :func:`settings`; the
  answer leaves when the hold ends): another credential write on the same identity meanwhile is a 409
  ``ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity``, as Microsoft Entra answers
  concurrent writes; writes one after the other never collide;
* an identity created through ARM has a principal that Microsoft Entra has not replicated yet: role-assignment
  PUTs for it are ``PrincipalNotFound`` for ``principalReplicationSeconds`` (seeded identities are replicated).
"""
import copy
import re
import threading
import time

from sandbox.arm import common
from sandbox.arm.common import arm_error, stable_guid, system_data
from sandbox.core import Response

NS = "Microsoft.ManagedIdentity"
TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
FIC_TYPE = TYPE + "/federatedIdentityCredentials"
# azure-rest-api-specs specification/msi/resource-manager/Microsoft.ManagedIdentity (stable + preview); any other:
# 400 NoRegisteredProviderFound. azure-mgmt-msi sends 2024-11-30, `az identity` (aaz) 2025-05-31-preview and
# 2025-01-31-preview.
API_VERSIONS = ["2025-05-31-preview", "2025-01-31-preview", "2024-11-30", "2023-07-31-preview", "2023-01-31",
                "2022-01-31-preview", "2021-09-30-preview", "2018-11-30", "2015-08-31-preview"]
MAX_FICS = 20
# MicrosoftDocs entra-docs workload-identity-federation-considerations.md: a credential's name is 3-120 characters,
# alphanumeric, dash or underscore, the first one alphanumeric.
FIC_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")
SETTINGS_KEY = "_sandbox/managedidentity"
DEFAULT_SETTINGS = {"ficWriteSeconds": 0.2, "principalReplicationSeconds": 2.0}
FIC_CONCURRENT = "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity"


def register(registry):
    registry.add(UserAssignedIdentityHandler)
    registry.add(FederatedIdentityCredentialHandler)
    registry.namespace(NS, {"operations": API_VERSIONS, "identities": API_VERSIONS})


def identity_id(state, resource_group, name):
    return f"{state.rg_id(resource_group)}/providers/{TYPE}/{name}"


def computed_properties(state, rid):
    return {"isolationScope": "None", "tenantId": state.sb.tenant_id,
            "principalId": stable_guid(rid, "principal"), "clientId": stable_guid(rid, "client")}


def settings(state):
    """The live settings dict (ficWriteSeconds, principalReplicationSeconds), defaults filled in."""
    with state.lock:
        live = state.meta_of(SETTINGS_KEY).setdefault("settings", {})
        for k, v in DEFAULT_SETTINGS.items():
            live.setdefault(k, v)
        return live


def principal_not_replicated(state, principal_id):
    """Whether ``principal_id`` belongs to an identity created less than principalReplicationSeconds ago."""
    with state.lock:
        wait = float(settings(state)["principalReplicationSeconds"])
        for rid, meta in state.meta.items():
            born = meta.get("principal_created")
            if born is None or (meta.get("principal_id") or "").lower() != (principal_id or "").lower():
                continue
            if state.raw(rid) is not None and time.monotonic() - born < wait:
                return True
        return False


class _AnsweredWhenWritten(Response):
    """A credential write's answer, sent once the write's hold on its identity ends."""

    def __init__(self, until, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._until = until

    def payload(self):
        left = self._until - time.monotonic()
        if left > 0:
            threading.Event().wait(left)      # the service is still writing: the client waits for its answer
        return super().payload()


def _begin_fic_write(state, rid):
    """Hold the identity for one credential write; 409 while another write holds it. Returns when it ends."""
    meta = state.meta_of(rid)
    now = time.monotonic()
    if meta.get("fic_write_until", 0) > now:
        raise arm_error(409, FIC_CONCURRENT,
                        f"Too many Federated Identity Credentials are written concurrently for the managed identity "
                        f"'{rid.lower()}'. Concurrent Federated Identity Credentials writes under the same "
                        "managed identity are not supported.")
    meta["fic_write_until"] = now + float(settings(state)["ficWriteSeconds"])
    return meta["fic_write_until"]


def seed_identity(state, resource_group, name, location=None, tags=None):
    """Create (or return) the user-assigned identity ``name`` in ``resource_group``."""
    with state.lock:
        rg = state.ensure_resource_group(resource_group, location)
        rid = identity_id(state, resource_group, name)
        existing = state.raw(rid)
        if existing is not None:
            return existing
        res = {"id": rid, "name": name, "type": TYPE,
               "location": (location or rg.get("location") or state.sb.location).replace(" ", "").lower(),
               "tags": dict(tags or {}), "properties": computed_properties(state, rid),
               "systemData": system_data(None, state.sb)}
        return state.store(res)


class UserAssignedIdentityHandler(common.TrackedResourceHandler):
    type_name = TYPE
    api_versions = tuple(API_VERSIONS)
    strict_api_versions = True
    provisioning_state = False

    def render(self, res, req=None):
        out = copy.deepcopy(res)
        out["id"] = common.lower_rg_segment(out.get("id"))
        return out

    def put(self, req, ref, body):
        body = copy.deepcopy(body)
        props = body.get("properties") or {}
        with self.state.lock:
            existing = self.state.raw(ref.id)
            keep = (existing or {}).get("properties") or computed_properties(self.state, ref.id)
            for k in ("tenantId", "principalId", "clientId"):
                props[k] = keep[k]
            props.setdefault("isolationScope", keep.get("isolationScope", "None"))
            body["properties"] = props
            answer = super().put(req, ref, body)
            if existing is None:            # a new principal: not in every Microsoft Entra replica yet
                meta = self.state.meta_of(ref.id)
                meta.update(principal_created=time.monotonic(), principal_id=props["principalId"])
            return answer

    def patch(self, req, ref, body):
        body = copy.deepcopy(body)
        for k in ("tenantId", "principalId", "clientId"):
            (body.get("properties") or {}).pop(k, None)
        return super().patch(req, ref, body)


class FederatedIdentityCredentialHandler(common.ResourceHandler):
    type_name = FIC_TYPE
    methods = frozenset({"GET", "PUT", "DELETE"})
    api_versions = tuple(API_VERSIONS)
    strict_api_versions = True
    list_by_subscription = False
    list_by_resource_group = False

    def put(self, req, ref, body):
        if not FIC_NAME_RE.match(ref.name or ""):
            raise arm_error(400, "BadRequest", f"The federated identity credential name '{ref.name}' is invalid: it "
                                               "must be 3 to 120 characters of letters, digits, '-' and '_', the "
                                               "first a letter or a digit.")
        props = copy.deepcopy(body.get("properties") or {})
        issuer, subject, audiences = props.get("issuer"), props.get("subject"), props.get("audiences")
        if not issuer or not subject or not audiences:
            raise arm_error(400, "BadRequest", "The request format was unexpected. Federated Identity Credential "
                                               "must specify 'issuer', 'subject' and 'audience'.")
        if not isinstance(audiences, list) or len(audiences) != 1:
            raise arm_error(400, "BadRequest", "The request format was unexpected. Federated Identity Credential "
                                               "'audiences' must contain exactly one value.")
        if not str(issuer).lower().startswith("https://"):
            raise arm_error(400, "BadRequest", f"Issuer '{issuer}' is invalid. The issuer must be an https URL.")
        with self.state.lock:
            existing = self.state.raw(ref.id)
            siblings = [r for r in self.state.under(ref.parent_id)
                        if r.get("type", "").lower() == FIC_TYPE.lower() and r["id"].lower() != ref.id.lower()]
            for other in siblings:
                op = other.get("properties") or {}
                if op.get("issuer") == issuer and op.get("subject") == subject:
                    raise arm_error(400, "BadRequest",
                                    "Issuer and subject combination already exists for this Managed Identity.")
            if existing is None and len(siblings) >= MAX_FICS:
                raise arm_error(400, "BadRequest",
                                f"Too many Federated Identity Credentials are present on the Managed Identity. "
                                f"A maximum of {MAX_FICS} Federated Identity Credentials can be added to a "
                                "user-assigned managed identity.")
            until = _begin_fic_write(self.state, ref.parent_id)
            res = {"id": ref.id, "name": ref.name, "type": FIC_TYPE, "properties": props,
                   "systemData": system_data(req, self.sb, (existing or {}).get("systemData"))}
            self.state.store(res)
            return _AnsweredWhenWritten(until, 200 if existing is not None else 201, self.render(res, req))

    def delete(self, req, ref):
        with self.state.lock:
            if self.state.raw(ref.id) is None:
                return Response(204)
            until = _begin_fic_write(self.state, ref.parent_id)
            self.state.remove_tree(ref.id)
            return _AnsweredWhenWritten(until, 200)
