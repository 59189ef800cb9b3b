"""Microsoft.ManagedIdentity: userAssignedIdentities (PUT/GET/PATCH/DELETE/list) and their
federatedIdentityCredentials children (PUT/GET/DELETE/list).

* an identity gets ``properties {tenantId, principalId, clientId}`` when it is created: uuids derived
  from its id, so the same identity has the same ids on every run; a PUT of an existing identity
  keeps them (they are read-only);
* at most ``MAX_FICS`` (20) federated identity credentials per identity: the 21st is a 400;
* the (issuer, subject) pair must be unique among an identity's credentials: a second credential with
  the same pair under another name is a 400, as the service answers.
"""
import copy

from sandbox.arm import common
from sandbox.arm.common import arm_error, stable_guid, system_data
from sandbox.core import Response

NS = "Microsoft.ManagedIdentity"
TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
FIC_TYPE = TYPE + "/federatedIdentityCredentials"
API_VERSIONS = ["2024-11-30", "2023-07-31-preview", "2023-01-31", "2022-01-31-preview", "2021-09-30-preview",
                "2018-11-30"]
MAX_FICS = 20


def register(registry):
    registry.add(UserAssignedIdentityHandler)
    registry.add(FederatedIdentityCredentialHandler)
    registry.namespace(NS, {"operations": API_VERSIONS, "identities": API_VERSIONS})


def identity_id(state, resource_group, name):
    return f"{state.rg_id(resource_group)}/providers/{TYPE}/{name}"


def computed_properties(state, rid):
    return {"isolationScope": "None", "tenantId": state.sb.tenant_id,
            "principalId": stable_guid(rid, "principal"), "clientId": stable_guid(rid, "client")}


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
    provisioning_state = False

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
            return super().put(req, ref, body)

    def patch(self, req, ref, body):
        body = copy.deepcopy(body)
        for k in ("tenantId", "principalId", "clientId"):
            (body.get("properties") or {}).pop(k, None)
        return super().patch(req, ref, body)


class FederatedIdentityCredentialHandler(common.ResourceHandler):
    type_name = FIC_TYPE
    methods = frozenset({"GET", "PUT", "DELETE"})
    api_versions = tuple(API_VERSIONS)
    list_by_subscription = False
    list_by_resource_group = False

    def put(self, req, ref, body):
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
            res = {"id": ref.id, "name": ref.name, "type": FIC_TYPE, "properties": props,
                   "systemData": system_data(req, self.sb, (existing or {}).get("systemData"))}
            self.state.store(res)
            return Response(200 if existing is not None else 201, self.render(res, req))

    delete = common.ResourceHandler.delete_now
