"""Microsoft.Cache: Redis (the redis target) and redisEnterprise (the redis-enterprise target).

  GET    Redis/{c}                                  hostName <name>.redis.cache.windows.net, port 6379,
                                                    sslPort 6380, enableNonSslPort, sku (in properties), ...
  POST   Redis/{c}/listKeys                         {"primaryKey", "secondaryKey"}
  PUT    Redis/{c}/firewallRules/{r}                {"properties": {"startIP", "endIP"}}: synchronous, 201 / 200;
                                                    answered with ``name: "<cache>/<rule>"``; a rule name is
                                                    letters, digits and '_' only
  DELETE Redis/{c}/firewallRules/{r}                200 (204 when absent)
  GET    redisEnterprise/{c}                        hostName <name>.<region>.redisenterprise.cache.azure.net
  GET    redisEnterprise/{c}/databases/default      port 10000, clientProtocol Encrypted, ...
  POST   redisEnterprise/{c}/databases/default/listKeys   {"primaryKey", "secondaryKey"}
The redis target id ``.../Redis/{c}/databases/{n}`` names no ARM resource (a GET of it is 400
InvalidResourceType, as in Azure): read the cache, the id's parent. Redis Enterprise has no IP firewall.
"""
import re

from sandbox.arm import targetkit
from sandbox.core import Response

NS = "Microsoft.Cache"
REDIS_VERSIONS = ["2024-11-01", "2024-04-01-preview", "2024-03-01", "2023-08-01", "2023-05-01-preview",
                  "2023-04-01", "2022-06-01", "2022-05-01", "2021-06-01", "2020-12-01", "2020-06-01"]
ENTERPRISE_VERSIONS = ["2025-04-01", "2024-10-01", "2024-09-01-preview", "2024-02-01", "2023-11-01", "2023-07-01",
                       "2022-01-01", "2021-08-01", "2021-03-01"]


def register(registry):
    redis = {"api_versions": tuple(REDIS_VERSIONS)}
    registry.add(RedisHandler, **redis)
    registry.add(targetkit.FirewallRuleHandler, type_name=f"{NS}/redis/firewallRules",
                 wire_type=f"{NS}/Redis/firewallRules", start_key="startIP", end_key="endIP",
                 name_re=re.compile(r"^\w+$"), name_rule="letters, digits and '_'", qualified_name=True, **redis)
    registry.add(EnterpriseHandler)
    registry.add(EnterpriseDatabaseHandler)
    registry.namespace(NS, {"operations": REDIS_VERSIONS, "checkNameAvailability": REDIS_VERSIONS,
                            "locations/operationResults": REDIS_VERSIONS})


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


class RedisHandler(_KeysMixin, targetkit.TargetHandler):
    type_name = f"{NS}/redis"
    wire_type = f"{NS}/Redis"
    actions = {"listkeys": "list_keys"}


class EnterpriseHandler(targetkit.TargetHandler):
    type_name = f"{NS}/redisEnterprise"
    api_versions = tuple(ENTERPRISE_VERSIONS)


class EnterpriseDatabaseHandler(_KeysMixin, targetkit.TargetHandler):
    type_name = f"{NS}/redisEnterprise/databases"
    api_versions = tuple(ENTERPRISE_VERSIONS)
    list_by_subscription = False
    list_by_resource_group = False
    actions = {"listkeys": "list_keys"}
