# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Azure Native ISV (Marketplace) targets: Neon Serverless Postgres (Neon.Postgres) and MongoDB Atlas (MongoDB.Atlas).

The app's secret is the user's (host / database / user / password for Neon, the cluster's connection string for
Atlas): Azure holds the organization, which `az aks connection` reads to check the target exists.

Neon.Postgres (REST spec liftrneon, stable 2025-03-01)
  GET|PUT|PATCH|DELETE  organizations/{org}             tracked resource; {"properties": {marketplaceDetails,
                                                        userDetails, companyDetails, partnerOrganizationProperties,
                                                        projectProperties, provisioningState}}
      PUT new: 201 + Azure-AsyncOperation, provisioningState Accepted until the operation ends (Succeeded, and
      marketplaceDetails.subscriptionStatus PendingFulfillmentStart -> Subscribed); PUT existing: 200, synchronous.
      PATCH: 200, synchronous (tags / properties merged). DELETE: 202 + Location (204 when absent).
  GET (list)            organizations/{org}/projects, .../projects/{p}/branches, .../branches/{b}/neonDatabases
  GET                   .../projects/{p}, .../branches/{b}, .../neonDatabases/{d}      read-only (seeded)
  POST                  .../projects/{p}/getConnectionUri   {databaseName, roleName, branchId, endpointId,
                                                        isPooled} -> the same + connectionStringUri
  api-versions: organizations 2024-08-01-preview .. 2025-06-23-preview; the children from 2025-02-01-preview.

MongoDB.Atlas (REST spec liftrmongodb, stable 2025-06-01)
  GET|PUT|PATCH|DELETE  organizations/{org}             {"properties": {marketplace, user, partnerProperties,
                                                        provisioningState}}; same write behaviour as Neon's
  api-versions: 2024-11-18-preview, 2025-06-01, 2026-03-01-preview.

Seeded (``seed_neon`` / ``seed_atlas``): one organization each; Neon's with a project, its ``main`` branch, the
``neondb`` database owned by ``neondb_owner`` and a read-write endpoint. ``user_values`` gives what a user would
copy from the partner's portal: Neon {host, database, user, password}, Atlas {connection_string}.
"""
import copy
import re
import secrets

from sandbox.arm import common, targetkit
from sandbox.arm.common import arm_error, iso, new_guid, system_data
from sandbox.core import Response

NEON = "Neon.Postgres"
ATLAS = "MongoDB.Atlas"
NEON_ORG_VERSIONS = ["2025-06-23-preview", "2025-03-01", "2025-03-01-preview", "2025-02-01-preview",
                     "2024-12-22-preview", "2024-08-01-preview"]
NEON_CHILD_VERSIONS = ["2025-06-23-preview", "2025-03-01", "2025-03-01-preview", "2025-02-01-preview"]
ATLAS_VERSIONS = ["2026-03-01-preview", "2025-06-01", "2024-11-18-preview"]

ORG_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_\-.: ]*$")
NEON_OFFER = {"publisherId": "neon1722366567200", "offerId": "neon_serverless_postgres_azure_prod",
              "planId": "neon_serverless_postgres_azure_prod_free", "planName": "Free Plan", "termUnit": "P1M",
              "termId": "gmz7xq9ge3py"}
ATLAS_OFFER = {"publisherId": "mongodb", "offerId": "mongodb_atlas_azure_native_prod", "planId": "azure_native",
               "planName": "Pay as You Go", "termUnit": "P1M", "termId": "gmz7xq9ge3py"}
SANDBOX_USER = {"firstName": "Sandbox", "lastName": "User", "emailAddress": "sandbox.user@contoso.com",
                "upn": "sandbox.user@contoso.com", "phoneNumber": ""}
NEON_DEFAULT_LOCATION = "eastus2"
NEON_DB, NEON_ROLE, NEON_BRANCH, NEON_PROJECT = "neondb", "neondb_owner", "main", "sandbox-project"
_WORDS = ("cool", "quiet", "bold", "snowy", "lively", "misty", "sparkling", "wandering")
_NOUNS = ("river", "forest", "meadow", "sun", "cloud", "hill", "lake", "frost")


def register(registry):
    registry.add(NeonOrganizationHandler)
    registry.add(NeonChildHandler, type_name=f"{NEON}/organizations/projects",
                 actions={"getconnectionuri": "get_connection_uri"})
    registry.add(NeonChildHandler, type_name=f"{NEON}/organizations/projects/branches")
    registry.add(NeonChildHandler, type_name=f"{NEON}/organizations/projects/branches/neonDatabases")
    registry.add(AtlasOrganizationHandler)
    registry.namespace(NEON, {"operations": NEON_ORG_VERSIONS, "locations": NEON_ORG_VERSIONS,
                              "locations/operationStatuses": NEON_ORG_VERSIONS})
    registry.namespace(ATLAS, {"operations": ATLAS_VERSIONS, "locations": ATLAS_VERSIONS,
                               "locations/operationStatuses": ATLAS_VERSIONS})


def _friendly_id(prefix=""):
    return (f"{prefix}{secrets.choice(_WORDS)}-{secrets.choice(_NOUNS)}-"
            f"{secrets.randbelow(10 ** 8):08d}")


def _dig(obj, path):
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


# --------------------------------------------------------------------------- organizations

class OrganizationHandler(targetkit.TargetHandler):
    """A Liftr partner organization: a tracked resource whose create is long-running."""

    methods = frozenset({"GET", "PUT", "PATCH", "DELETE"})
    required = ()                  # property paths (under properties) a PUT must carry
    marketplace_key = "marketplaceDetails"
    partner_key = "partnerOrganizationProperties"

    def _check_name(self, ref):
        if not (1 <= len(ref.name) <= 50 and ORG_NAME_RE.match(ref.name)):
            raise arm_error(400, "InvalidResourceName",
                            f"The resource name '{ref.name}' is invalid. It must be 1 to 50 characters, start with a "
                            "letter or digit and contain only letters, digits, '_', '-', '.', ':' and spaces.")

    def on_created(self, props, name):
        """The partner's side of a new organization: ids the partner assigns."""

    def put(self, req, ref, body):
        self._check_name(ref)
        location = (body.get("location") or "").replace(" ", "").lower()
        if not location:
            raise arm_error(400, "LocationRequired", "The location property is required for this definition.")
        props = body.get("properties")
        if not isinstance(props, dict):
            raise arm_error(400, "InvalidRequestContent",
                            "The request content was invalid and could not be deserialized: Required property "
                            "'properties' not found in JSON.")
        for path in self.required:
            if _dig(props, path) in (None, ""):
                raise arm_error(400, "InvalidRequestContent",
                                f"The request content was invalid and could not be deserialized: Required property "
                                f"'{path.rsplit('.', 1)[-1]}' not found in JSON. Path 'properties.{path}'.")
        props = copy.deepcopy(props)
        props.pop("provisioningState", None)
        with self.state.lock:
            existing = self.state.raw(ref.id)
            if existing is not None:
                self.require_ready(existing)
                before = copy.deepcopy(existing)
                # What the partner keeps: its organization id, the marketplace subscription's status.
                keep = existing["properties"]
                props.setdefault(self.partner_key, {})
                if isinstance(props[self.partner_key], dict):
                    for k in ("organizationId",):
                        if keep.get(self.partner_key, {}).get(k):
                            props[self.partner_key][k] = keep[self.partner_key][k]
                status = (keep.get(self.marketplace_key) or {}).get("subscriptionStatus")
                if status and isinstance(props.get(self.marketplace_key), dict):
                    props[self.marketplace_key]["subscriptionStatus"] = status
                props["provisioningState"] = "Succeeded"
                existing["properties"] = props
                existing["tags"] = dict(body.get("tags") or {})
                if "identity" in body:
                    existing["identity"] = copy.deepcopy(body["identity"])
                targetkit.bump_if_changed(before, existing, req, self.sb)
                return Response(200, self.render(existing, req))
            props.setdefault(self.marketplace_key, {})["subscriptionStatus"] = "PendingFulfillmentStart"
            res = {"id": ref.id, "name": ref.name, "type": self.type_name, "location": location,
                   "tags": dict(body.get("tags") or {})}
            if "identity" in body:
                res["identity"] = copy.deepcopy(body["identity"])
            res["properties"] = props
            res["systemData"] = system_data(req, self.sb)
            self.state.store(res)

            def finish(cur):
                cur["properties"].setdefault(self.marketplace_key, {})["subscriptionStatus"] = "Subscribed"
                self.on_created(cur["properties"], cur["name"])

            op = targetkit.start_lro(self, req, res, finish, transient="Accepted", kind="organizations")
            return Response(201, self.render(res, req), self.lro.headers(req, op))

    def patch(self, req, ref, body):
        with self.state.lock:
            res = self.require(ref)
            self.require_ready(res)
            before = copy.deepcopy(res)
            if "tags" in body:
                res["tags"] = dict(body.get("tags") or {})
            props = copy.deepcopy(body.get("properties") or {})
            props.pop("provisioningState", None)
            res["properties"] = common.deep_merge(res["properties"], props)
            targetkit.bump_if_changed(before, res, req, self.sb)
            return Response(200, self.render(res, req))

    def delete(self, req, ref):
        with self.state.lock:
            res = self.state.raw(ref.id)
            if res is None:
                return Response(204)
            self.require_ready(res)
            res["properties"]["provisioningState"] = "Deleting"
            base = (f"/subscriptions/{ref.subscription}/providers/{ref.namespace}/locations/"
                    f"{res.get('location') or self.sb.location}")
            op_id = new_guid()

            def complete(op):  # pylint: disable=unused-argument
                self.state.remove_tree(ref.id)

            op = self.lro.start("organizations", ref.id, f"{base}/operationStatuses/{op_id}",
                                f"{base}/operationResults/{op_id}", on_complete=complete, op_id=op_id, req=req)
            return Response(202, None, self.lro.headers(req, op, async_header=False, location=True))


class NeonOrganizationHandler(OrganizationHandler):
    type_name = f"{NEON}/organizations"
    api_versions = tuple(NEON_ORG_VERSIONS)
    locations = ("eastus", "eastus2", "westus2", "westus3", "germanywestcentral", "centraluseuap")
    required = ("marketplaceDetails", "marketplaceDetails.offerDetails", "marketplaceDetails.offerDetails.publisherId",
                "marketplaceDetails.offerDetails.offerId", "marketplaceDetails.offerDetails.planId", "userDetails",
                "companyDetails")

    def on_created(self, props, name):
        partner = props.setdefault("partnerOrganizationProperties", {})
        partner.setdefault("organizationName", name)
        partner.setdefault("organizationId", "org-" + _friendly_id())
        partner.setdefault("singleSignOnProperties", {"singleSignOnState": "Initial", "aadDomains": []})


class AtlasOrganizationHandler(OrganizationHandler):
    type_name = f"{ATLAS}/organizations"
    api_versions = tuple(ATLAS_VERSIONS)
    locations = ("eastus", "eastus2", "westus2", "westus3", "westeurope", "northeurope", "centraluseuap")
    marketplace_key = "marketplace"
    partner_key = "partnerProperties"
    required = ("marketplace", "marketplace.subscriptionId", "marketplace.offerDetails",
                "marketplace.offerDetails.publisherId", "marketplace.offerDetails.offerId",
                "marketplace.offerDetails.planId", "user", "user.firstName", "user.lastName", "user.emailAddress")

    def on_created(self, props, name):
        partner = props.setdefault("partnerProperties", {})
        partner.setdefault("organizationName", name)
        org_id = partner.setdefault("organizationId", secrets.token_hex(12))
        partner.setdefault("redirectUrl", f"https://cloud.mongodb.com/v2#/org/{org_id}/projects")


# --------------------------------------------------------------------------- Neon projects, branches, databases

class NeonChildHandler(targetkit.TargetHandler):
    """Read-only Neon children (seeded): projects, branches, databases."""

    api_versions = tuple(NEON_CHILD_VERSIONS)
    list_by_subscription = False
    list_by_resource_group = False

    def get_connection_uri(self, req, ref):
        """POST .../projects/{p}/getConnectionUri: the connection string of a database of the project."""
        body = common.json_body(req)
        with self.state.lock:
            project = self.require(ref)
            info = self.state.meta_of(project["id"]).get("neon") or {}
            branches = info.get("branches") or {}
            branch = next((b for b in branches.values()
                           if body.get("branchId") in (None, "", b["entityId"], b["name"])), None)
            if branch is None:
                raise arm_error(400, "BadRequest", f"Branch '{body.get('branchId')}' was not found in project "
                                                   f"'{ref.name}'.")
            database = body.get("databaseName") or branch["databaseName"]
            role = body.get("roleName") or branch["roleName"]
            endpoint = body.get("endpointId") or branch["endpointId"]
            if database not in branch["databases"]:
                raise arm_error(400, "BadRequest", f"Database '{database}' was not found in branch "
                                                   f"'{branch['name']}'.")
            if role not in branch["roles"]:
                raise arm_error(400, "BadRequest", f"Role '{role}' was not found in branch '{branch['name']}'.")
            if endpoint != branch["endpointId"]:
                raise arm_error(400, "BadRequest", f"Endpoint '{endpoint}' was not found in branch "
                                                   f"'{branch['name']}'.")
            pooled = bool(body.get("isPooled"))
            host = neon_host(endpoint, info["region"], pooled)
            out = {"projectId": info["projectId"], "branchId": branch["entityId"], "databaseName": database,
                   "roleName": role, "endpointId": endpoint, "isPooled": pooled,
                   "connectionStringUri": f"postgresql://{role}:{branch['roles'][role]}@{host}/{database}"
                                          f"?sslmode=require"}
            return Response(200, out)


def neon_host(endpoint_id, region, pooled=False):
    return f"{endpoint_id}{'-pooler' if pooled else ''}.{region}.azure.neon.tech"


# --------------------------------------------------------------------------- seeding

def _base(entity_id, name):
    return {"entityId": entity_id, "entityName": name, "createdAt": iso(), "provisioningState": "Succeeded",
            "attributes": []}


def seed_neon(state, resource_group, name, location=None):
    """A subscribed Neon organization with project ``sandbox-project``, branch ``main``, database ``neondb``
    (owner ``neondb_owner``, random password) and a read-write endpoint. Returns the organization. Default
    location eastus2 (Neon on Azure runs in eastus2, westus3 and germanywestcentral, not eastus)."""
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location or NEON_DEFAULT_LOCATION)
        rid = targetkit.resource_id(state, resource_group, f"{NEON}/organizations", name)
        project_id, branch_id = _friendly_id(), "br-" + _friendly_id()
        endpoint_id = "ep-" + _friendly_id()
        database_id = f"{secrets.randbelow(10 ** 8):08d}"
        password = "npg_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")
        role = dict(_base(NEON_ROLE, NEON_ROLE), branchId=branch_id, permissions=[], isSuperUser=False)
        database = dict(_base(database_id, NEON_DB), branchId=branch_id, ownerName=NEON_ROLE)
        endpoint = dict(_base(endpoint_id, endpoint_id), projectId=project_id, branchId=branch_id,
                        endpointType="read_write")
        branch = dict(_base(branch_id, NEON_BRANCH), projectId=project_id, roleName=NEON_ROLE, databaseName=NEON_DB,
                      roles=[role], databases=[database], endpoints=[endpoint])
        project = dict(_base(project_id, NEON_PROJECT), regionId=f"azure-{location}", storage=0, pgVersion=17,
                       historyRetention=86400,
                       defaultEndpointSettings={"autoscalingLimitMinCu": 0.25, "autoscalingLimitMaxCu": 2},
                       branch=copy.deepcopy(branch), roles=[role], databases=[database], endpoints=[endpoint])
        props = {"marketplaceDetails": {"subscriptionId": new_guid(), "subscriptionStatus": "Subscribed",
                                        "offerDetails": dict(NEON_OFFER)},
                 "userDetails": dict(SANDBOX_USER),
                 "companyDetails": {"companyName": "Contoso", "country": "US", "officeAddress": "",
                                    "businessPhone": "", "domain": "contoso.com", "numberOfEmployees": 10},
                 "provisioningState": "Succeeded",
                 "partnerOrganizationProperties": {"organizationId": "org-" + _friendly_id(), "organizationName": name,
                                                   "singleSignOnProperties": {"singleSignOnState": "Initial",
                                                                              "aadDomains": []}},
                 "projectProperties": project}
        org = targetkit.store(state, rid, f"{NEON}/organizations", props, location, tags={})
        pid = f"{rid}/projects/{NEON_PROJECT}"
        targetkit.store(state, pid, f"{NEON}/organizations/projects",
                        {k: v for k, v in project.items() if k != "branch"})
        bid = f"{pid}/branches/{NEON_BRANCH}"
        targetkit.store(state, bid, f"{NEON}/organizations/projects/branches", branch)
        targetkit.store(state, f"{bid}/neonDatabases/{NEON_DB}",
                        f"{NEON}/organizations/projects/branches/neonDatabases", database)
        state.meta_of(pid)["neon"] = {
            "projectId": project_id, "region": location,
            "branches": {NEON_BRANCH: {"name": NEON_BRANCH, "entityId": branch_id, "databaseName": NEON_DB,
                                       "roleName": NEON_ROLE, "endpointId": endpoint_id, "databases": [NEON_DB],
                                       "roles": {NEON_ROLE: password}}}}
        state.meta_of(rid)["userValues"] = {"host": neon_host(endpoint_id, location), "database": NEON_DB,
                                            "user": NEON_ROLE, "password": password}
        return org


def seed_atlas(state, resource_group, name, location=None):
    """A subscribed MongoDB Atlas organization; its cluster's connection string is kept as the user's value."""
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        rid = targetkit.resource_id(state, resource_group, f"{ATLAS}/organizations", name)
        org_id = secrets.token_hex(12)
        props = {"marketplace": {"subscriptionId": new_guid(), "subscriptionStatus": "Subscribed",
                                 "offerDetails": dict(ATLAS_OFFER)},
                 "user": dict(SANDBOX_USER, companyName="Contoso"),
                 "partnerProperties": {"organizationId": org_id, "organizationName": name,
                                       "redirectUrl": f"https://cloud.mongodb.com/v2#/org/{org_id}/projects"},
                 "provisioningState": "Succeeded"}
        org = targetkit.store(state, rid, f"{ATLAS}/organizations", props, location, tags={})
        password = secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")
        cluster = re.sub(r"[^a-z0-9-]", "", name.lower()) or "cluster0"
        state.meta_of(rid)["userValues"] = {
            "connection_string": f"mongodb+srv://sandboxuser:{password}@{cluster}.{secrets.token_hex(3)[:5]}"
                                 f".mongodb.net/?retryWrites=true&w=majority&appName={cluster}"}
        return org


def user_values(state, organization_id):
    """What the user passes for a seeded organization (Neon: host, database, user, password; Atlas:
    connection_string), or ``{}``."""
    with state.lock:
        return dict(state.meta_of(organization_id).get("userValues") or {})
