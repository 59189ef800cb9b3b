# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.Resources: tenants, subscriptions, locations, resource groups, providers, generic listings."""
import copy

from sandbox.arm import common, denials
from sandbox.arm.common import arm_error, rg_not_found
from sandbox.core import Response

# Namespaces the sandbox knows without serving their resource types yet: requests for them
# answer InvalidResourceType rather than InvalidResourceNamespace, and `az provider` lists them.
KNOWN_NAMESPACES = {
    "Microsoft.Resources": {"resourceGroups": ["2024-11-01", "2022-09-01"], "subscriptions": ["2022-12-01"],
                            "tenants": ["2022-12-01"], "deployments": ["2024-11-01"]},
    "Microsoft.ManagedIdentity": {"userAssignedIdentities": ["2024-11-30", "2023-01-31"]},
    "Microsoft.Authorization": {"roleAssignments": ["2022-04-01"], "roleDefinitions": ["2022-04-01"]},
    "Microsoft.KeyVault": {"vaults": ["2024-11-01", "2023-07-01"]},
    "Microsoft.ServiceLinker": {"linkers": ["2024-07-01-preview", "2022-05-01"]},
    "Microsoft.Kubernetes": {"connectedClusters": ["2024-01-01"]},
    "Microsoft.ExtendedLocation": {"customLocations": ["2021-08-15"]},
    "Microsoft.Compute": {"virtualMachines": ["2024-11-01"]},
    "Microsoft.OperationalInsights": {"workspaces": ["2023-09-01"]},
    "Microsoft.Insights": {"components": ["2020-02-02"]},
    "Microsoft.ContainerRegistry": {"registries": ["2023-07-01"]},
    "Microsoft.DocumentDB": {"databaseAccounts": ["2024-11-15"]},
    "Microsoft.Sql": {"servers": ["2023-08-01"]},
    "Microsoft.DBforPostgreSQL": {"flexibleServers": ["2024-08-01"]},
    "Microsoft.DBforMySQL": {"flexibleServers": ["2023-12-30"]},
    "Microsoft.Cache": {"redis": ["2024-11-01"]},
    "Microsoft.ServiceBus": {"namespaces": ["2022-10-01-preview"]},
    "Microsoft.EventHub": {"namespaces": ["2024-01-01"]},
    "Microsoft.SignalRService": {"signalR": ["2024-03-01"], "webPubSub": ["2024-03-01"]},
    "Microsoft.Web": {"sites": ["2024-04-01"]},
    "Microsoft.App": {"containerApps": ["2024-03-01"]},
    "Microsoft.AppConfiguration": {"configurationStores": ["2024-05-01"]},
    "Microsoft.CognitiveServices": {"accounts": ["2024-10-01"]},
    "Microsoft.Search": {"searchServices": ["2023-11-01"]},
    "Microsoft.AppPlatform": {"Spring": ["2024-05-01-preview"]},
}

LOCATIONS = [("eastus", "East US", "US"), ("eastus2", "East US 2", "US"), ("westus2", "West US 2", "US"),
             ("westus3", "West US 3", "US"), ("centralus", "Central US", "US"),
             ("westeurope", "West Europe", "Europe"), ("northeurope", "North Europe", "Europe"),
             ("uksouth", "UK South", "UK"), ("southeastasia", "Southeast Asia", "Asia Pacific")]


def register(registry):
    for ns, types in KNOWN_NAMESPACES.items():
        registry.namespace(ns, types)


# --------------------------------------------------------------------------- shapes

def subscription_body(sb):
    return {
        "id": f"/subscriptions/{sb.subscription_id}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": sb.subscription_id,
        "tenantId": sb.tenant_id,
        "displayName": "Sandbox subscription",
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                 "spendingLimit": "Off"},
        "tags": {},
    }


def tenant_body(sb):
    return {"id": f"/tenants/{sb.tenant_id}", "tenantId": sb.tenant_id, "countryCode": "US",
            "displayName": "Sandbox tenant", "domains": ["sandbox.onmicrosoft.com"], "tenantCategory": "Home",
            "defaultDomain": "sandbox.onmicrosoft.com", "tenantType": "AAD"}


def location_body(sb, name, display, geo):
    return {"id": f"/subscriptions/{sb.subscription_id}/locations/{name}", "name": name, "type": "Region",
            "displayName": display, "regionalDisplayName": f"({geo}) {display}",
            "metadata": {"regionType": "Physical", "regionCategory": "Recommended", "geographyGroup": geo,
                         "physicalLocation": display, "pairedRegion": []}}


def put_resource_group(state, name, location, tags=None, managed_by=None):
    with state.lock:
        rid = state.rg_id(name)
        existing = state.raw(rid)
        rg = {"id": existing["id"] if existing else rid, "name": existing["name"] if existing else name,
              "type": "Microsoft.Resources/resourceGroups",
              "location": (existing or {}).get("location") or location.replace(" ", "").lower(),
              "tags": tags if tags is not None else (existing or {}).get("tags", {}),
              "properties": {"provisioningState": "Succeeded"}}
        if managed_by or (existing or {}).get("managedBy"):
            rg["managedBy"] = managed_by or existing["managedBy"]
        return state.store(rg)


def provider_body(state, ns):
    reg = state.registry
    canonical = reg.canonical_namespace(ns)
    display = {name: shown for name, shown, _ in LOCATIONS}
    types = [{"resourceType": t, "locations": [display.get(loc, loc) for loc in locs], "apiVersions": versions,
              "capabilities": "None"}
             for t, (versions, locs) in sorted(reg.types_of(canonical).items())]
    return {"id": f"/subscriptions/{state.sb.subscription_id}/providers/{canonical}", "namespace": canonical,
            "registrationState": state.provider_state(canonical), "registrationPolicy": "RegistrationRequired",
            "resourceTypes": types}


# --------------------------------------------------------------------------- routes

SUB = r"/subscriptions/([^/]+)"


def add_routes(router, state, app):
    sb = state.sb

    def check_sub(sub):
        if sub.lower() != sb.subscription_id.lower():
            raise arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")

    def require_rg(name):
        rg = state.raw(state.rg_id(name))
        if rg is None:
            raise rg_not_found(name)
        return rg

    @router.route("GET", r"/tenants")
    def tenants(req):
        return Response(200, {"value": [tenant_body(sb)], "count": {"type": "Total", "value": 1}})

    @router.route("GET", r"/subscriptions")
    def subscriptions(req):
        return Response(200, {"value": [subscription_body(sb)], "count": {"type": "Total", "value": 1}})

    @router.route("GET", SUB)
    def subscription(req, sub):
        check_sub(sub)
        return Response(200, subscription_body(sb))

    @router.route("GET", SUB + r"/locations")
    def locations(req, sub):
        check_sub(sub)
        return Response(200, {"value": [location_body(sb, *loc) for loc in LOCATIONS]})

    # ---- resource groups

    @router.route("GET", SUB + r"/resourcegroups")
    def list_rgs(req, sub):
        check_sub(sub)
        with state.lock:
            rgs = [copy.deepcopy(r) for r in state.resources.values()
                   if r.get("type") == "Microsoft.Resources/resourceGroups"]
        return Response(200, {"value": sorted(rgs, key=lambda r: r["name"].lower())})

    @router.route(["GET", "HEAD"], SUB + r"/resourcegroups/([^/]+)")
    def get_rg(req, sub, name):
        check_sub(sub)
        with state.lock:
            rg = state.raw(state.rg_id(name))
            if rg is None:
                if req.method == "HEAD":
                    return Response(404)
                raise rg_not_found(name)
            if req.method == "HEAD":
                return Response(204)
            return Response(200, copy.deepcopy(rg))

    @router.route("PUT", SUB + r"/resourcegroups/([^/]+)")
    def put_rg(req, sub, name):
        check_sub(sub)
        body = common.json_body(req)
        with state.lock:
            existing = state.raw(state.rg_id(name))
            if existing is None and not body.get("location"):
                raise arm_error(400, "LocationRequired", "The location property is required for this definition.")
            if existing is not None and existing["properties"].get("provisioningState") == "Deleting":
                raise arm_error(409, "ResourceGroupBeingDeleted",
                                f"The resource group '{existing['name']}' is in deprovisioning state and cannot "
                                "perform this operation.")
            rg = put_resource_group(state, name, body.get("location") or existing["location"],
                                    tags=body.get("tags"), managed_by=body.get("managedBy"))
            return Response(200 if existing is not None else 201, copy.deepcopy(rg))

    @router.route("PATCH", SUB + r"/resourcegroups/([^/]+)")
    def patch_rg(req, sub, name):
        check_sub(sub)
        body = common.json_body(req)
        with state.lock:
            rg = require_rg(name)
            if "tags" in body:
                rg["tags"] = body["tags"] or {}
            if body.get("managedBy"):
                rg["managedBy"] = body["managedBy"]
            return Response(200, copy.deepcopy(rg))

    @router.route("DELETE", SUB + r"/resourcegroups/([^/]+)")
    def delete_rg(req, sub, name):
        check_sub(sub)
        with state.lock:
            rg = state.raw(state.rg_id(name))
            if rg is None:
                raise rg_not_found(name)
            rg["properties"]["provisioningState"] = "Deleting"
            rid = rg["id"]

            def complete(op):
                state.remove_tree(rid)

            op_id = common.new_guid().replace("-", "").upper()
            op = state.lro.start("resourceGroups", rid, None,
                                 f"/subscriptions/{sb.subscription_id}/operationresults/{op_id}",
                                 on_complete=complete, req=req)
            return Response(202, None, state.lro.headers(req, op, async_header=False, location=True))

    @router.route("GET", SUB + r"/resourcegroups/([^/]+)/resources")
    def rg_resources(req, sub, name):
        check_sub(sub)
        with state.lock:
            rg = require_rg(name)
            items = [generic_view(r) for r in state.under(rg["id"]) if _top_level(r)]
        return Response(200, {"value": items})

    @router.route("GET", SUB + r"/resources")
    def sub_resources(req, sub):
        check_sub(sub)
        with state.lock:
            items = [generic_view(r) for r in state.resources.values()
                     if r.get("type") != "Microsoft.Resources/resourceGroups" and _top_level(r)]
        return Response(200, {"value": items})

    # ---- providers

    @router.route("GET", SUB + r"/providers")
    def list_providers(req, sub):
        check_sub(sub)
        with state.lock:
            return Response(200, {"value": [provider_body(state, ns)
                                            for ns in sorted(state.registry.namespaces.values())]})

    @router.route("GET", SUB + r"/providers/([^/]+)")
    def get_provider(req, sub, ns):
        check_sub(sub)
        if not state.registry.known_namespace(ns):
            raise invalid_namespace(ns)
        with state.lock:
            return Response(200, provider_body(state, ns))

    @router.route("POST", SUB + r"/providers/([^/]+)/(register|unregister)")
    def register_provider(req, sub, ns, verb):
        check_sub(sub)
        if not state.registry.known_namespace(ns):
            raise invalid_namespace(ns)
        canonical = state.registry.canonical_namespace(ns)
        denials.check(state, req, f"{canonical}/{verb.lower()}/action", f"/subscriptions/{sub}")
        with state.lock:
            cur = state.provider_state(canonical)
            if verb.lower() == "register":
                transient, final = "Registering", "Registered"
            else:
                transient, final = "Unregistering", "NotRegistered"
            if cur != final:
                state.set_provider_state(canonical, transient)

                def complete(op):
                    if state.provider_state(canonical) == transient:
                        state.set_provider_state(canonical, final)

                state.lro.start("providers", None, on_complete=complete, req=req)
            return Response(200, provider_body(state, canonical))


def invalid_namespace(ns):
    return arm_error(400, "InvalidResourceNamespace", f"The resource namespace '{ns}' is invalid.")


def _top_level(res):
    ref = common.parse_path(res.get("id", ""))
    return ref is not None and len(ref.types) == 1 and not ref.scope_is_resource


def generic_view(res):
    """The GenericResource shape of `az resource list`."""
    out = {k: copy.deepcopy(res[k])
           for k in ("id", "name", "type", "location", "tags", "sku", "kind", "identity", "managedBy") if k in res}
    out.setdefault("tags", {})
    ts = (res.get("systemData") or {})
    if ts.get("createdAt"):
        out["createdTime"] = ts["createdAt"]
        out["changedTime"] = ts.get("lastModifiedAt", ts["createdAt"])
    out["provisioningState"] = (res.get("properties") or {}).get("provisioningState", "Succeeded")
    return out
