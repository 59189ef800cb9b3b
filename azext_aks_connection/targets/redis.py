# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Azure Cache for Redis and Redis Enterprise: the records and the family's behaviour.

Values (``fetch``): redis: host, port (TLS) | secret: key; redis-enterprise: host, port, database ("0") | secret: key.

Network rule: Azure Cache for Redis (Basic/Standard/Premium): child resources {cache}/firewallRules/{name}
{startIP, endIP}, one per address; a cache without rules admits every address (then nothing is added). Redis
Enterprise (legacy tiers) has no firewall rules and no publicNetworkAccess: private link only. Source: "Azure Cache
for Redis network isolation options" (learn.microsoft.com/azure/azure-cache-for-redis/cache-network-isolation);
reference-network.md S16, S17.
"""
from azext_aks_connection.targets.base import (AUTH_SECRET, AUTH_SERVICE_PRINCIPAL, AUTH_WORKLOAD_IDENTITY,
                                               CLIENT_TYPES_REDIS, IDENTITY_AUTHS, ConfigKey, Family, NameArg,
                                               Target, fw, id_parts, identity_keys, ops, props, rid)

ROLES = {}          # data access is granted with Redis access policies (Target.data_access_policy), not roles

_NO_IP_RULES = ("Azure Cache for Redis Enterprise has no IP firewall rules: a cluster is reached over its public "
                "endpoint or through private endpoints.")


class Redis(Family):
    """A cache; ``variant`` "enterprise": a Redis Enterprise cluster's database (no IP rules, no key switch). Its
    rules are written with azure-mgmt-redis."""
    name = "redis"

    def __init__(self, variant=None):
        super().__init__(variant, _NO_IP_RULES if variant == "enterprise" else None)
        self.enterprise = variant == "enterprise"
        self.firewall = "no-ip-rules" if self.enterprise else "redis"
        self.per_address = not self.enterprise
        self.reads_target_id = self.enterprise      # its fetcher reads the database (the target id)
        self.key_auth = None if self.enterprise else (
            "disableAccessKeyAuthentication", True, "access key authentication is disabled")

    @property
    def source(self):
        return "redis-enterprise" if self.enterprise else "redis"

    def fetch(self, arm, target, target_id, resource, with_secret):
        if self.enterprise:
            # Host from the cluster, port from the database (target id); keys belong to the database. Redis
            # Enterprise serves logical database 0 only, whatever the ARM database is named.
            database = ops().read(arm, target, target_id, f"Reading the Redis Enterprise database '{target_id}'")
            values = {"host": props(resource).get("hostName"), "port": str(props(database).get("port") or 10000),
                      "database": "0"}
            key_of, what = target_id, f"Redis Enterprise database '{target_id}'"
        else:
            values = {"host": props(resource).get("hostName") or f"{resource['name']}.redis.cache.windows.net",
                      "port": str(props(resource).get("sslPort") or 6380)}
            key_of, what = ops().resource_id(target, target_id), f"Redis cache '{resource['name']}'"
        if with_secret:
            values["key"] = ops().post(arm, key_of, "listKeys", target, f"Listing the keys of {what}")["primaryKey"]
        return values

    def read_firewall(self, arm, target, resource_id, resource_body):
        if self.enterprise:
            return super().read_firewall(arm, target, resource_id, resource_body)
        return fw().rules_per_address(arm, target, resource_id, resource_body, ("startIP", "endIP"),
                                      none_admits_all=True)

    def add_rule(self, arm, target, resource_id, ip):  # pylint: disable=unused-argument
        """azure-mgmt-redis ``firewall_rules.create_or_update`` under the deterministic name (synchronous)."""
        from azure.mgmt.redis.models import RedisFirewallRule
        rules, group, cache = self._rules(arm, resource_id)
        name = fw().rule_name(ip)
        fw().sdk_write(arm, f"Adding firewall rule {name} ({ip}) to '{cache}'", "PUT",
                       f"{resource_id}/firewallRules/{name}",
                       lambda: rules.create_or_update(group, cache, name, RedisFirewallRule(start_ip=ip, end_ip=ip)))

    def remove_rules(self, arm, target, resource_id, ips):
        """azure-mgmt-redis ``firewall_rules.delete`` of the rule named for each address (one already gone is fine)."""
        rules, group, cache = self._rules(arm, resource_id)
        for name in [fw().rule_name(ip) for ip in ips]:
            fw().sdk_write(arm, f"Removing firewall rule {name} from '{cache}'", "DELETE",
                           f"{resource_id}/firewallRules/{name}", lambda n=name: rules.delete(group, cache, n),
                           missing_ok=True)
        return list(ips)

    @staticmethod
    def _rules(arm, resource_id):
        """(the cache's firewall_rules operations, its resource group, its name)."""
        _, group, cache = id_parts(resource_id)
        return fw().sdk_client(arm, "azure.mgmt.redis:RedisManagementClient", resource_id).firewall_rules, group, cache

    def rule_command(self, target, resource_id, ip, resource_body=None):
        if self.enterprise:
            return None
        sub, group, name = id_parts(resource_id)
        return (f"az redis firewall-rules create --subscription {sub} -g {group} -n {name} "
                f"--rule-name {fw().rule_name(ip)} --start-ip {ip} --end-ip {ip}")


# Keys: how-to-integrate-redis-cache.md. Redis Enterprise has no page of its own; Service Connector names its keys
# like Azure Cache for Redis.
def _redis_secret_keys():
    uri = ConfigKey("AZURE_REDIS_CONNECTIONSTRING", "rediss://:{key!u}@{host}:{port}/{database}", True)
    return {
        "dotnet": [ConfigKey("AZURE_REDIS_CONNECTIONSTRING",
                             "{host}:{port},password={key},ssl=True,defaultDatabase={database}", True)],
        "dotnet-internal": [ConfigKey("AZURE_REDIS_CONNECTIONSTRING",
                                      "{host}:{port},password={key},ssl=True,defaultDatabase={database}", True)],
        "java": [uri], "python": [uri], "go": [uri], "nodejs": [uri],
        "springBoot": [ConfigKey("spring.redis.host", "host", False), ConfigKey("spring.redis.port", "port", False),
                       ConfigKey("spring.redis.database", "database", False),
                       ConfigKey("spring.redis.password", "key", True), ConfigKey("spring.redis.ssl", "=true", False)],
        "default": [ConfigKey("AZURE_REDIS_HOST", "host", False), ConfigKey("AZURE_REDIS_PORT", "port", False),
                    ConfigKey("AZURE_REDIS_DATABASE", "database", False),
                    ConfigKey("AZURE_REDIS_PASSWORD", "key", True),
                    ConfigKey("AZURE_REDIS_SSL", "=true", False)],
    }


_REDIS_WI, _REDIS_SP = identity_keys("AZURE_REDIS", "HOST", field="host")

TARGETS = {
    "redis": Target(
        name="redis",
        display="Azure Cache for Redis",
        resource_type="Microsoft.Cache/redis",
        api_version="2024-11-01",
        id_template=rid("Microsoft.Cache/redis/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of the redis server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of the redis database.", "MyDB")],
        auth_types=IDENTITY_AUTHS,
        client_types=CLIENT_TYPES_REDIS,
        # Keys: how-to-integrate-redis-cache.md.
        config_keys={
            AUTH_SECRET: _redis_secret_keys(),
            AUTH_WORKLOAD_IDENTITY: {"default": _REDIS_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _REDIS_SP},
        },
        family=Redis(),
        data_access_policy="Data Owner",
        logical_child=True,
        endpoint="{name}.redis.cache.windows.net",
    ),
    "redis-enterprise": Target(
        name="redis-enterprise",
        display="Azure Cache for Redis Enterprise",
        resource_type="Microsoft.Cache/redisEnterprise",
        api_version="2024-10-01",
        id_template=rid("Microsoft.Cache/redisEnterprise/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of the redis enterprise server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of the redis enterprise database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_REDIS,
        config_keys={AUTH_SECRET: _redis_secret_keys()},
        family=Redis("enterprise"),
        endpoint="{name}.{location}.redisenterprise.cache.azure.net",
    ),
}
