# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.Cache: Redis (the redis target) and redisEnterprise (the redis-enterprise target).

  GET    Redis/{c}                                  hostName <name>.redis.cache.windows.net, port 6379,
                                                    sslPort 6380, enableNonSslPort, sku (in properties), ...
  POST   Redis/{c}/listKeys                         {"primaryKey", "secondaryKey"}
  PUT    Redis/{c}/firewallRules/{r}                {"properties": {"startIP", "endIP"}}: synchronous, 201 / 200;
                                                    answered with ``name: "<cache>/<rule>"``; a rule name is
                                                    letters, digits and '_' only
  DELETE Redis/{c}/firewallRules/{r}                200 (204 when absent)
  PATCH  Redis/{c}                                  {"tags"} only: 200, synchronous. {"properties": {...}} (e.g.
                                                    {"redisConfiguration": {"aad-enabled": "true"}}, merged into
                                                    the configuration): 202 + body (provisioningState Updating) +
                                                    Azure-AsyncOperation + Location; the change shows when the
                                                    operation ends. 409 Conflict while the cache is updating.
  GET    Redis/{c}/accessPolicies[/{name}]          the built-in "Data Owner", "Data Contributor", "Data Reader"
                                                    (type BuiltIn); custom policies are not served
  PUT    Redis/{c}/accessPolicyAssignments/{a}      {"properties": {"accessPolicyName", "objectId",
                                                    "objectIdAlias"}}: 201 (new) / 200, provisioningState
                                                    Updating + Azure-AsyncOperation until the operation ends; an
                                                    identical PUT: 200 Succeeded, no operation. 400
                                                    InvalidAccessPolicyAssignment when another assignment holds
                                                    the objectId, or {a} holds another objectId
  DELETE Redis/{c}/accessPolicyAssignments/{a}      202 + Location (Deleting until it ends); 204 when absent
  GET    Redis/{c}/accessPolicyAssignments[/{a}]    (access policies: api-versions 2023-05-01-preview and later)
  GET    redisEnterprise/{c}                        hostName <name>.<region>.redisenterprise.cache.azure.net
  GET    redisEnterprise/{c}/databases/default      port 10000, clientProtocol Encrypted, ...
  POST   redisEnterprise/{c}/databases/default/listKeys   {"primaryKey", "secondaryKey"}
The redis target id ``.../Redis/{c}/databases/{n}`` names no ARM resource (a GET of it is 400
InvalidResourceType, as in Azure): read the cache, the id's parent. Redis Enterprise has no IP firewall.
"""
import copy
import re
import uuid

from sandbox.arm import common, targetkit
from sandbox.arm.common import arm_error, new_guid
from sandbox.core import Response

NS = "Microsoft.Cache"
REDIS_VERSIONS = ["2024-11-01", "2024-04-01-preview", "2024-03-01", "2023-08-01", "2023-05-01-preview",
                  "2023-04-01", "2022-06-01", "2022-05-01", "2021-06-01", "2020-12-01", "2020-06-01"]
# Access policies (Microsoft Entra data access) came with 2023-05-01-preview.
ACCESS_POLICY_VERSIONS = REDIS_VERSIONS[:REDIS_VERSIONS.index("2023-05-01-preview") + 1]
# The built-in access policies every cache has (name -> permissions).
BUILTIN_ACCESS_POLICIES = {
    "Data Owner": "+@all allkeys",
    "Data Contributor": "+@all -@dangerous +cluster|info +cluster|nodes +cluster|slots allkeys",
    "Data Reader": "+@read +@connection +cluster|info +cluster|nodes +cluster|slots allkeys",
}
ENTERPRISE_VERSIONS = ["2025-04-01", "2024-10-01", "2024-09-01-preview", "2024-02-01", "2023-11-01", "2023-07-01",
                       "2022-01-01", "2021-08-01", "2021-03-01"]


def register(registry):
    redis = {"api_versions": tuple(REDIS_VERSIONS)}
    registry.add(RedisHandler, **redis)
    registry.add(targetkit.FirewallRuleHandler, type_name=f"{NS}/redis/firewallRules",
                 wire_type=f"{NS}/Redis/firewallRules", start_key="startIP", end_key="endIP",
                 name_re=re.compile(r"^\w+$"), name_rule="letters, digits and '_'", qualified_name=True, **redis)
    registry.add(AccessPolicyHandler)
    registry.add(AccessPolicyAssignmentHandler)
    registry.add(EnterpriseHandler)
    registry.add(EnterpriseDatabaseHandler)
    registry.namespace(NS, {"operations": REDIS_VERSIONS, "checkNameAvailability": REDIS_VERSIONS,
                            "locations/operationResults": REDIS_VERSIONS,
                            "locations/asyncOperations": REDIS_VERSIONS})


def seed_redis(state, resource_group, name, location=None):
    """A Standard C1 cache with random access keys. Returns it."""
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        rid = f"{state.rg_id(resource_group)}/providers/{NS}/Redis/{name}"
        props = {"provisioningState": "Succeeded", "redisVersion": "6.0.14",
                 "sku": {"name": "Standard", "family": "C", "capacity": 1}, "enableNonSslPort": False,
                 "instances": [{"sslPort": 15000, "isMaster": True, "isPrimary": True},
                               {"sslPort": 15001, "isMaster": False, "isPrimary": False}],
                 "publicNetworkAccess": "Enabled",
                 "redisConfiguration": {"maxclients": "1000", "maxmemory-reserved": "125",
                                        "maxfragmentationmemory-reserved": "125", "maxmemory-delta": "125",
                                        "aad-enabled": "false"},
                 "accessKeys": None, "hostName": f"{name}.redis.cache.windows.net", "port": 6379, "sslPort": 6380,
                 "linkedServers": [], "minimumTlsVersion": "1.2", "disableAccessKeyAuthentication": False,
                 "updateChannel": "Stable"}
        res = targetkit.store(state, rid, f"{NS}/Redis", props, targetkit.region_name(location), tags={})
        state.meta_of(rid)["keys"] = {"primaryKey": targetkit.new_key(), "secondaryKey": targetkit.new_key()}
        return res


def seed_enterprise(state, resource_group, name, location=None):
    """A Redis Enterprise cluster with its ``default`` database (random keys). Returns the cluster."""
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        rid = targetkit.resource_id(state, resource_group, f"{NS}/redisEnterprise", name)
        props = {"hostName": f"{name}.{location}.redisenterprise.cache.azure.net", "provisioningState": "Succeeded",
                 "resourceState": "Running", "redisVersion": "7.2", "minimumTlsVersion": "1.2",
                 "privateEndpointConnections": []}
        res = targetkit.store(state, rid, f"{NS}/redisEnterprise", props, targetkit.region_name(location), tags={},
                              sku={"name": "Enterprise_E10", "capacity": 2})
        db = targetkit.store(state, f"{rid}/databases/default", f"{NS}/redisEnterprise/databases",
                             {"clientProtocol": "Encrypted", "port": 10000, "provisioningState": "Succeeded",
                              "resourceState": "Running", "clusteringPolicy": "OSSCluster",
                              "evictionPolicy": "VolatileLRU", "modules": [], "accessKeysAuthentication": "Enabled",
                              "deferUpgrade": "NotDeferred", "redisVersion": "7.2"})
        state.meta_of(db["id"])["keys"] = {"primaryKey": targetkit.new_key(), "secondaryKey": targetkit.new_key()}
        return res


class _KeysMixin:
    def list_keys(self, req, ref):
        with self.state.lock:
            self.require(ref)
            return Response(200, dict(self.state.meta_of(ref.id).get("keys") or {}))


def cache_busy_error(cache_id):
    return arm_error(409, "Conflict",
                     f"The resource '{cache_id}' is busy processing a previous update request or is undergoing "
                     "system maintenance.  As such, it is currently unable to accept the update request.  Please "
                     "try again later.")


def _status_base(cache_id, cache):
    ref = common.parse_path(cache_id)
    return (f"/subscriptions/{ref.subscription}/providers/{NS}/locations/"
            f"{(cache.get('location') or 'eastus').replace(' ', '').lower()}")


def _cache_ready(handler, cache):
    """409 while the cache runs an update (a PATCH)."""
    if handler.lro.in_flight(cache["id"]) is not None or \
            (cache.get("properties") or {}).get("provisioningState", "Succeeded") != "Succeeded":
        raise cache_busy_error(cache["id"])


class RedisHandler(_KeysMixin, targetkit.TargetHandler):
    type_name = f"{NS}/redis"
    wire_type = f"{NS}/Redis"
    methods = frozenset({"GET", "PATCH"})
    actions = {"listkeys": "list_keys"}
    READ_ONLY = ("provisioningState", "hostName", "port", "sslPort", "accessKeys", "linkedServers", "instances",
                 "privateEndpointConnections")

    def busy_error(self, res):
        return cache_busy_error(res["id"])

    def patch(self, req, ref, body):
        props = body.get("properties")
        if props is not None and not isinstance(props, dict):
            raise arm_error(400, "InvalidRequestContent", "The request content was invalid: 'properties' must be an "
                                                          "object.")
        props = copy.deepcopy(props or {})
        for k in self.READ_ONLY:
            props.pop(k, None)
        config = props.get("redisConfiguration")
        if config is not None:
            if not isinstance(config, dict):
                raise arm_error(400, "InvalidRequestContent", "redisConfiguration must be an object of strings.")
            aad = config.get("aad-enabled")
            if aad is not None and str(aad).lower() not in ("true", "false"):
                raise arm_error(400, "BadRequest", f"The value '{aad}' of redisConfiguration 'aad-enabled' is not "
                                                   "valid. Allowed values: 'true', 'false'.")
        with self.state.lock:
            res = self.require(ref)
            if not props:     # tags only: synchronous
                before = copy.deepcopy(res)
                if "tags" in body:
                    res["tags"] = dict(body.get("tags") or {})
                targetkit.bump_if_changed(before, res, req, self.sb)
                return Response(200, self.render(res, req))
            _cache_ready(self, res)
            tags = dict(body.get("tags") or {}) if "tags" in body else None

            def finish(cur):
                before = copy.deepcopy(cur)
                for k, v in props.items():
                    if k == "redisConfiguration":
                        v = dict(cur["properties"].get("redisConfiguration") or {}, **v)
                    cur["properties"][k] = v
                if tags is not None:
                    cur["tags"] = tags
                targetkit.bump_if_changed(before, cur, req, self.sb)

            op = targetkit.start_lro(self, req, res, finish, status_base=_status_base(ref.id, res),
                                     location_header=True, status_segment="asyncOperations", kind="redis")
            return Response(202, self.render(res, req), self.lro.headers(req, op, location=True))


# --------------------------------------------------------------------------- Microsoft Entra data access

class AccessPolicyHandler(targetkit.TargetHandler):
    """``{cache}/accessPolicies``: the built-in policies, read-only."""

    type_name = f"{NS}/redis/accessPolicies"
    api_versions = tuple(ACCESS_POLICY_VERSIONS)
    list_by_subscription = False
    list_by_resource_group = False

    @staticmethod
    def policy(cache_id, name):
        return {"id": f"{cache_id}/accessPolicies/{name}", "name": name, "type": f"{NS}/Redis/accessPolicies",
                "properties": {"provisioningState": "Succeeded", "permissions": BUILTIN_ACCESS_POLICIES[name],
                               "type": "BuiltIn"}}

    def _cache_id(self, cache_id):
        """The cache's id as stored (``.../Microsoft.Cache/Redis/{c}``): the policies' ids are built from it."""
        return (self.state.raw(cache_id) or {}).get("id") or cache_id

    def get(self, req, ref):
        name = builtin_policy_name(ref.name)
        if name is None:
            raise common.resource_not_found(ref)
        return Response(200, self.policy(self._cache_id(ref.parent_id), name))

    def list_children(self, req, parent_id):
        cid = self._cache_id(parent_id)
        return Response(200, {"value": [self.policy(cid, n) for n in BUILTIN_ACCESS_POLICIES]})


def builtin_policy_name(name):
    """The built-in policy called ``name`` (any case), spelt as Azure spells it; ``None`` when there is none."""
    return next((n for n in BUILTIN_ACCESS_POLICIES if n.lower() == (name or "").lower()), None)


class AccessPolicyAssignmentHandler(targetkit.TargetHandler):
    """``{cache}/accessPolicyAssignments/{name}``: a policy for a Microsoft Entra object (the Redis user)."""

    type_name = f"{NS}/redis/accessPolicyAssignments"
    wire_type = f"{NS}/Redis/accessPolicyAssignments"
    api_versions = tuple(ACCESS_POLICY_VERSIONS)
    methods = frozenset({"GET", "PUT", "DELETE"})
    list_by_subscription = False
    list_by_resource_group = False
    name_re = re.compile(r"^([a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]|[a-zA-Z0-9])$")
    FIELDS = ("accessPolicyName", "objectId", "objectIdAlias")

    def render(self, res, req=None):
        out = copy.deepcopy(res)
        out.pop("systemData", None)
        return out

    def _props(self, ref, body):
        if not (3 <= len(ref.name) <= 63 and self.name_re.match(ref.name)):
            raise arm_error(400, "InvalidResourceName",
                            f"The access policy assignment name '{ref.name}' is invalid: 3 to 63 letters, digits or "
                            "'-', starting and ending with a letter or digit.")
        props = body.get("properties")
        if not isinstance(props, dict):
            raise arm_error(400, "InvalidRequestContent", "The request content was invalid: 'properties' is required.")
        for k in self.FIELDS:
            if not isinstance(props.get(k), str) or not props[k].strip():
                raise arm_error(400, "InvalidRequestContent",
                                f"The request content was invalid: 'properties.{k}' is required.")
        try:
            uuid.UUID(props["objectId"])
        except ValueError:
            raise arm_error(400, "InvalidRequestContent",  # pylint: disable=raise-missing-from
                            f"The objectId '{props['objectId']}' is not a valid GUID.")
        if builtin_policy_name(props["accessPolicyName"]) is None:
            raise arm_error(400, "BadRequest", f"The access policy '{props['accessPolicyName']}' does not exist on "
                                               f"this cache. Built-in policies: {', '.join(BUILTIN_ACCESS_POLICIES)}.")
        return {k: props[k] for k in self.FIELDS}

    @staticmethod
    def duplicate_error():
        return arm_error(400, "InvalidAccessPolicyAssignment",
                         "An invalid access policy assignment was detected due to duplicate entries. Please review "
                         "and ensure that each assignment has a unique combination of assignmentName, policyName, and "
                         "objectId to avoid such duplicates. For more information, please refer to the following "
                         "link: https://aka.ms/redis/MicrosoftEntraAuthenticationPrerequisites.")

    def _others(self, cache_id, rid):
        return [r for r in self.state.under(cache_id)
                if r.get("type", "").lower() == self.wire_type.lower() and r["id"].lower() != rid.lower()]

    def _start(self, req, cache, rid, complete, location):
        op_id = new_guid()
        base = _status_base(cache["id"], cache)
        return self.lro.start("accessPolicyAssignments", rid, f"{base}/asyncOperations/{op_id}",
                              f"{base}/operationResults/{op_id}" if location else None, on_complete=complete,
                              op_id=op_id, req=req)

    def put(self, req, ref, body):
        props = self._props(ref, body)
        with self.state.lock:
            cache = self.state.raw(ref.parent_id)
            existing = self.state.raw(ref.id)
            if existing is not None:
                self.require_ready(existing)
            _cache_ready(self, cache)
            oid = props["objectId"].lower()
            if existing is not None and existing["properties"]["objectId"].lower() != oid:
                raise self.duplicate_error()
            if any(r["properties"].get("objectId", "").lower() == oid for r in self._others(cache["id"], ref.id)):
                raise self.duplicate_error()
            if existing is not None and existing["properties"]["provisioningState"] == "Succeeded" and \
                    {k: existing["properties"][k] for k in self.FIELDS} == props:
                return Response(200, self.render(existing, req))
            res = {"id": ref.id, "name": ref.name, "type": self.wire_type,
                   "properties": dict(props, provisioningState="Updating")}
            self.state.store(res)

            def complete(op):  # pylint: disable=unused-argument
                cur = self.state.raw(ref.id)
                if cur is not None:
                    cur["properties"]["provisioningState"] = "Succeeded"

            op = self._start(req, cache, ref.id, complete, location=False)
            return Response(200 if existing is not None else 201, self.render(res, req), self.lro.headers(req, op))

    def delete(self, req, ref):
        with self.state.lock:
            res = self.state.raw(ref.id)
            if res is None:
                return Response(204)
            self.require_ready(res)
            cache = self.state.raw(ref.parent_id)
            _cache_ready(self, cache)
            res["properties"]["provisioningState"] = "Deleting"

            def complete(op):  # pylint: disable=unused-argument
                self.state.remove_tree(ref.id)

            op = self._start(req, cache, ref.id, complete, location=True)
            return Response(202, None, self.lro.headers(req, op, async_header=False, location=True))


class EnterpriseHandler(targetkit.TargetHandler):
    type_name = f"{NS}/redisEnterprise"
    api_versions = tuple(ENTERPRISE_VERSIONS)


class EnterpriseDatabaseHandler(_KeysMixin, targetkit.TargetHandler):
    type_name = f"{NS}/redisEnterprise/databases"
    api_versions = tuple(ENTERPRISE_VERSIONS)
    list_by_subscription = False
    list_by_resource_group = False
    actions = {"listkeys": "list_keys"}
