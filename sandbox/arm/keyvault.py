# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.KeyVault/vaults: PUT/GET/PATCH/DELETE/list and
``PUT .../vaults/{name}/accessPolicies/{add|replace|remove}`` (the updateAccessPolicy operation).

Properties served: tenantId, sku {family, name}, vaultUri ``https://<name>.vault.azure.net/``,
enableRbacAuthorization, accessPolicies, networkAcls {bypass, defaultAction, ipRules [{value}],
virtualNetworkRules}, publicNetworkAccess, soft-delete settings, provisioningState. A single IPv4 address
in ipRules reads back as ``a.b.c.d/32``, as Key Vault stores it. PUT and PATCH
answer synchronously with provisioningState Succeeded (the SDK's create poller finishes at once).
``enableRbacAuthorization`` defaults to true from api-version 2026-02-01 on (the service's new
default), false before.
"""
import copy
import re

from sandbox.arm import common
from sandbox.arm.common import arm_error, system_data
from sandbox.core import Response

NS = "Microsoft.KeyVault"
TYPE = "Microsoft.KeyVault/vaults"
POLICY_TYPE = TYPE + "/accessPolicies"
# azure-rest-api-specs specification/keyvault/resource-manager/Microsoft.KeyVault (stable + preview); any other:
# 400 NoRegisteredProviderFound. azure-mgmt-keyvault (azure-cli) sends 2026-02-01.
API_VERSIONS = ["2026-02-01", "2025-05-01", "2024-12-01-preview", "2024-11-01", "2024-04-01-preview",
                "2023-08-01-preview", "2023-07-01", "2023-02-01", "2022-11-01", "2022-07-01", "2022-02-01-preview",
                "2021-11-01-preview", "2021-10-01", "2021-06-01-preview", "2021-04-01-preview", "2020-04-01-preview",
                "2019-09-01", "2018-02-14", "2016-10-01", "2015-06-01"]
RBAC_DEFAULT_FROM = "2026-02-01"
PERMISSION_KINDS = ("keys", "secrets", "certificates", "storage")
READ_ONLY = ("vaultUri", "provisioningState", "hsmPoolResourceId", "privateEndpointConnections")


def register(registry):
    registry.add(VaultHandler)
    registry.add(AccessPolicyHandler)
    registry.namespace(NS, {"operations": API_VERSIONS, "checkNameAvailability": API_VERSIONS,
                            "deletedVaults": API_VERSIONS, "locations/deletedVaults": API_VERSIONS})


def vault_id(state, resource_group, name):
    return f"{state.rg_id(resource_group)}/providers/{TYPE}/{name}"


def normalise_acls(acls):
    acls = copy.deepcopy(acls or {})
    acls.setdefault("bypass", "AzureServices")
    acls.setdefault("defaultAction", "Allow")
    acls["ipRules"] = [_ip_rule(r) for r in acls.get("ipRules") or []]
    acls["virtualNetworkRules"] = list(acls.get("virtualNetworkRules") or [])
    return acls


def _ip_rule(rule):
    """Key Vault stores a single IPv4 address as a /32 range (``1.2.3.4`` reads back as ``1.2.3.4/32``)."""
    rule = dict(rule) if isinstance(rule, dict) else {"value": rule}
    value = str(rule.get("value") or "")
    if "/" not in value and re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", value):
        rule["value"] = value + "/32"
    return rule


def normalise_policy(policy):
    policy = copy.deepcopy(policy or {})
    perms = policy.setdefault("permissions", {})
    for kind in PERMISSION_KINDS[:3]:
        perms.setdefault(kind, [])
    return policy


def vault_properties(state, name, props, rbac_default, previous=None):
    """Full properties of a vault from the request's ``props`` (read-only ones kept from ``previous``)."""
    props = copy.deepcopy(props or {})
    for k in READ_ONLY:
        props.pop(k, None)
    out = {
        "sku": {"family": "A", "name": "standard"},
        "tenantId": state.sb.tenant_id,
        "accessPolicies": [],
        "enabledForDeployment": False,
        "enabledForDiskEncryption": False,
        "enabledForTemplateDeployment": False,
        "enableSoftDelete": True,
        "softDeleteRetentionInDays": 90,
        "enableRbacAuthorization": rbac_default,
        "networkAcls": None,
        "publicNetworkAccess": "Enabled",
    }
    out.update({k: v for k, v in props.items() if v is not None})
    out["accessPolicies"] = [normalise_policy(p) for p in out.get("accessPolicies") or []]
    out["networkAcls"] = normalise_acls(out.get("networkAcls"))
    out["vaultUri"] = (previous or {}).get("vaultUri") or f"https://{name}.vault.azure.net/"
    out["provisioningState"] = "Succeeded"
    return out


def seed_vault(state, resource_group, name, rbac=True, location=None, overrides=None):
    with state.lock:
        rg = state.ensure_resource_group(resource_group, location)
        rid = vault_id(state, resource_group, name)
        props = {"enableRbacAuthorization": bool(rbac)}
        props.update(copy.deepcopy(overrides or {}))
        res = {"id": rid, "name": name, "type": TYPE,
               "location": (location or rg.get("location") or state.sb.location).replace(" ", "").lower(),
               "tags": {}, "systemData": system_data(None, state.sb),
               "properties": vault_properties(state, name, props, bool(rbac))}
        return state.store(res)


class VaultHandler(common.ResourceHandler):
    type_name = TYPE
    methods = frozenset({"GET", "PUT", "PATCH", "DELETE"})
    api_versions = tuple(API_VERSIONS)
    strict_api_versions = True

    def put(self, req, ref, body):
        props = body.get("properties")
        if not isinstance(props, dict):
            raise arm_error(400, "BadRequest", "The parameter properties is required.")
        for required in ("tenantId", "sku"):
            if not props.get(required):
                raise arm_error(400, "BadRequest", f"The parameter properties.{required} is required.")
        rbac_default = (req.api_version or "") >= RBAC_DEFAULT_FROM
        with self.state.lock:
            existing = self.state.raw(ref.id)
            if existing is not None:
                res = copy.deepcopy(existing)
                if body.get("location") and body["location"].replace(" ", "").lower() != res["location"]:
                    raise arm_error(400, "BadRequest",
                                    "Changing property 'location' is not allowed.")
                rbac_default = existing["properties"].get("enableRbacAuthorization", rbac_default)
                res["properties"] = vault_properties(self.state, ref.name, props, rbac_default,
                                                     existing["properties"])
                if "tags" in body:
                    res["tags"] = body.get("tags") or {}
                res["systemData"] = system_data(req, self.sb, existing.get("systemData"))
            else:
                location = (body.get("location") or "").replace(" ", "").lower()
                if not location:
                    raise arm_error(400, "LocationRequired", "The location property is required for this definition.")
                res = self.new_envelope(ref, body, req, location)
                res["properties"] = vault_properties(self.state, ref.name, props, rbac_default)
            self.state.store(res)
            return Response(200 if existing is not None else 201, self.render(res, req))

    def patch(self, req, ref, body):
        with self.state.lock:
            res = self.require(ref)
            if "tags" in body:
                res["tags"] = body.get("tags") or {}
            props = copy.deepcopy(body.get("properties") or {})
            for k in READ_ONLY:
                props.pop(k, None)
            for k, v in props.items():
                if v is None:
                    continue
                if k == "networkAcls":
                    v = normalise_acls(common.deep_merge(res["properties"].get("networkAcls") or {}, v))
                elif k == "accessPolicies":
                    v = [normalise_policy(p) for p in v]
                elif k == "sku":
                    v = common.deep_merge(res["properties"].get("sku") or {}, v)
                res["properties"][k] = v
            res["systemData"] = system_data(req, self.sb, res.get("systemData"))
            return Response(200, self.render(res, req))

    delete = common.ResourceHandler.delete_now


def _same_principal(a, b):
    return (str(a.get("tenantId", "")).lower() == str(b.get("tenantId", "")).lower()
            and str(a.get("objectId", "")).lower() == str(b.get("objectId", "")).lower()
            and str(a.get("applicationId") or "").lower() == str(b.get("applicationId") or "").lower())


class AccessPolicyHandler(common.ResourceHandler):
    """``PUT vaults/{name}/accessPolicies/{add|replace|remove}`` {"properties": {"accessPolicies": [...]}}."""

    type_name = POLICY_TYPE
    methods = frozenset({"PUT"})
    api_versions = tuple(API_VERSIONS)
    strict_api_versions = True
    list_by_subscription = False
    list_by_resource_group = False
    KINDS = ("add", "replace", "remove")

    def get(self, req, ref):
        raise common.method_not_allowed(req, POLICY_TYPE)

    def list(self, req, items):
        raise common.method_not_allowed(req, POLICY_TYPE)

    def put(self, req, ref, body):
        kind = (ref.name or "").lower()
        if kind not in self.KINDS:
            raise arm_error(400, "BadRequest", f"The operation kind '{ref.name}' is invalid. "
                                               "Valid values are 'add', 'replace' and 'remove'.")
        policies = ((body.get("properties") or {}).get("accessPolicies"))
        if not isinstance(policies, list):
            raise arm_error(400, "BadRequest", "The parameter properties.accessPolicies is required.")
        for p in policies:
            if not isinstance(p, dict) or not p.get("tenantId") or not p.get("objectId"):
                raise arm_error(400, "BadRequest", "An access policy must specify tenantId and objectId.")
        with self.state.lock:
            vault = self.state.raw(ref.parent_id)
            current = vault["properties"].setdefault("accessPolicies", [])
            for p in policies:
                p = normalise_policy(p)
                match = next((c for c in current if _same_principal(c, p)), None)
                if kind == "replace" or (kind == "add" and match is None):
                    if match is None:
                        current.append(p)
                    else:
                        match["permissions"] = copy.deepcopy(p["permissions"])
                elif kind == "add":
                    for perm_kind, values in p["permissions"].items():
                        have = match["permissions"].setdefault(perm_kind, [])
                        have += [v for v in values if v.lower() not in {h.lower() for h in have}]
                elif match is not None and not any(p["permissions"].values()):   # remove all
                    current.remove(match)
                elif match is not None:   # remove these permissions
                    for perm_kind, values in p["permissions"].items():
                        drop = {v.lower() for v in values}
                        match["permissions"][perm_kind] = [v for v in match["permissions"].get(perm_kind, [])
                                                           if v.lower() not in drop]
                    if not any(match["permissions"].get(k) for k in match["permissions"]):
                        current.remove(match)
            vault["systemData"] = system_data(req, self.sb, vault.get("systemData"))
            return Response(200, {"id": ref.id, "name": ref.name, "type": POLICY_TYPE,
                                  "location": vault.get("location"),
                                  "properties": {"accessPolicies": copy.deepcopy(current)}})
