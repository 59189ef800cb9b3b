# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.ServiceBus and Microsoft.EventHub namespaces (the servicebus and eventhub targets); the two
providers share their namespace, authorization-rule and network-rule-set shapes.

  GET  namespaces/{ns}                                               serviceBusEndpoint, status, sku, ...
  GET  namespaces/{ns}/authorizationRules[/{rule}]                   rights
  POST namespaces/{ns}/authorizationRules/{rule}/listKeys            primaryConnectionString,
                                                                     secondaryConnectionString, primaryKey,
                                                                     secondaryKey, keyName
  GET|PUT namespaces/{ns}/networkRuleSets/default                    the firewall: defaultAction,
                                                                     ipRules [{ipMask, action}], ... (sync)
Every namespace has the RootManageSharedAccessKey rule (Listen, Manage, Send) and the default network
rule set (defaultAction Allow, no rules), as Azure creates them.
"""
import copy

from sandbox.arm import targetkit
from sandbox.arm.common import arm_error, iso, system_data
from sandbox.core import Response

ROOT_RULE = "RootManageSharedAccessKey"
PROVIDERS = {
    "Microsoft.ServiceBus": ["2026-01-01", "2024-01-01", "2023-01-01-preview", "2022-10-01-preview",
                             "2022-01-01-preview", "2021-11-01", "2021-06-01-preview", "2021-01-01-preview",
                             "2017-04-01"],
    "Microsoft.EventHub": ["2026-01-01", "2025-05-01-preview", "2024-05-01-preview", "2024-01-01",
                           "2023-01-01-preview", "2022-10-01-preview", "2022-01-01-preview", "2021-11-01",
                           "2021-06-01-preview", "2017-04-01"],
}


def register(registry):
    for ns, versions in PROVIDERS.items():
        attrs = {"api_versions": tuple(versions)}
        registry.add(NamespaceHandler, type_name=f"{ns}/namespaces", wire_type=f"{ns}/Namespaces", **attrs)
        registry.add(AuthorizationRuleHandler, type_name=f"{ns}/namespaces/authorizationRules",
                     wire_type=f"{ns}/Namespaces/AuthorizationRules", **attrs)
        registry.add(NetworkRuleSetHandler, type_name=f"{ns}/namespaces/networkRuleSets",
                     wire_type=f"{ns}/Namespaces/NetworkRuleSets", **attrs)
        registry.namespace(ns, {"operations": versions, "checkNameAvailability": versions,
                                "namespaces/eventhubs" if ns.endswith("EventHub") else "namespaces/queues": versions})


def endpoint(name):
    return f"https://{name}.servicebus.windows.net:443/"


def connection_string(name, rule, key):
    return f"Endpoint=sb://{name}.servicebus.windows.net/;SharedAccessKeyName={rule};SharedAccessKey={key}"


def seed_namespace(state, provider, resource_group, name, location=None, sku="Standard"):
    """A namespace of ``provider`` (Microsoft.ServiceBus | Microsoft.EventHub) with its root rule (random keys)
    and default network rule set. Returns the namespace."""
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        region = targetkit.region_name(location)
        rid = targetkit.resource_id(state, resource_group, f"{provider}/namespaces", name)
        now = iso()
        props = {"minimumTlsVersion": "1.2", "publicNetworkAccess": "Enabled", "disableLocalAuth": False,
                 "zoneRedundant": False, "provisioningState": "Succeeded",
                 "metricId": f"{state.sb.subscription_id}:{name}", "createdAt": now, "updatedAt": now,
                 "serviceBusEndpoint": endpoint(name), "status": "Active"}
        sku_body = {"name": sku, "tier": sku}
        if provider == "Microsoft.EventHub":
            props.update({"isAutoInflateEnabled": False, "maximumThroughputUnits": 0, "kafkaEnabled": True})
            sku_body["capacity"] = 1
        else:
            props["premiumMessagingPartitions"] = 0
        ns = targetkit.store(state, rid, f"{provider}/Namespaces", props, region, tags={}, sku=sku_body)
        rule = targetkit.store(state, f"{rid}/authorizationRules/{ROOT_RULE}",
                               f"{provider}/Namespaces/AuthorizationRules",
                               {"rights": ["Listen", "Manage", "Send"]}, region)
        state.meta_of(rule["id"])["keys"] = [targetkit.new_key(), targetkit.new_key()]
        targetkit.store(state, f"{rid}/networkRuleSets/default", f"{provider}/Namespaces/NetworkRuleSets",
                        _rule_set_props({}, "Enabled"), region)
        return ns


def _rule_set_props(props, public_network_access):
    out = {"publicNetworkAccess": props.get("publicNetworkAccess") or public_network_access,
           "defaultAction": props.get("defaultAction") or "Allow",
           "virtualNetworkRules": copy.deepcopy(props.get("virtualNetworkRules") or []),
           "ipRules": [{"ipMask": r.get("ipMask"), "action": r.get("action") or "Allow"}
                       for r in props.get("ipRules") or []],
           "trustedServiceAccessEnabled": bool(props.get("trustedServiceAccessEnabled", False))}
    return out


def tier_has_rules(namespace_id, tier):
    """Whether a namespace of ``tier`` takes IP / VNet rules: Service Bus Premium; Event Hubs any tier but Basic."""
    if "/microsoft.servicebus/" in namespace_id.lower():
        return tier.lower() == "premium"
    return tier.lower() != "basic"


class NamespaceHandler(targetkit.TargetHandler):
    type_name = "Microsoft.ServiceBus/namespaces"


class AuthorizationRuleHandler(targetkit.TargetHandler):
    type_name = "Microsoft.ServiceBus/namespaces/authorizationRules"
    list_by_subscription = False
    list_by_resource_group = False
    actions = {"listkeys": "list_keys"}

    def list_keys(self, req, ref):
        with self.state.lock:
            rule = self.require(ref)
            keys = self.state.meta_of(ref.id).get("keys") or []
            ns = ref.names[0]
            return Response(200, {"primaryConnectionString": connection_string(ns, rule["name"], keys[0]),
                                  "secondaryConnectionString": connection_string(ns, rule["name"], keys[1]),
                                  "primaryKey": keys[0], "secondaryKey": keys[1], "keyName": rule["name"]})


class NetworkRuleSetHandler(targetkit.TargetHandler):
    """``networkRuleSets/default``: PUT replaces the rule set (synchronous, 200) and keeps the namespace's
    publicNetworkAccess in step."""

    type_name = "Microsoft.ServiceBus/namespaces/networkRuleSets"
    methods = frozenset({"GET", "PUT"})
    list_by_subscription = False
    list_by_resource_group = False

    def put(self, req, ref, body):
        if ref.name.lower() != "default":
            raise arm_error(400, "BadRequest", f"The network rule set name '{ref.name}' is invalid: "
                                               "a namespace has one network rule set, named 'default'.")
        props = body.get("properties")
        if not isinstance(props, dict):
            raise arm_error(400, "BadRequest", "The request body must contain 'properties'.")
        for r in props.get("ipRules") or []:
            if not isinstance(r, dict) or not r.get("ipMask"):
                raise arm_error(400, "BadRequest", "Each ipRules entry needs an ipMask (an IPv4 address or CIDR).")
        with self.state.lock:
            ns = self.state.raw(ref.parent_id)
            res = self.require(ref)
            tier = str((ns.get("sku") or {}).get("tier") or "")
            if (props.get("ipRules") or props.get("virtualNetworkRules")) and not tier_has_rules(ref.parent_id, tier):
                # Service Bus: IP and VNet rules on Premium only; Event Hubs: not on Basic (reference-network.md S9,
                # S11). The code and wording Azure answers with are not recorded: a 400 naming the tier.
                raise arm_error(400, "BadRequest", f"IP rules and virtual network rules are not supported on the "
                                                   f"{tier} tier of this namespace.")
            new = _rule_set_props(props, ns["properties"].get("publicNetworkAccess") or "Enabled")
            if new != res["properties"]:
                res["properties"] = new
                res["systemData"] = system_data(req, self.sb, res.get("systemData"))
                ns["properties"]["publicNetworkAccess"] = new["publicNetworkAccess"]
                ns["properties"]["updatedAt"] = iso()
            return Response(200, self.render(res, req))
