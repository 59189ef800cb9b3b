# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Service Bus and Event Hubs: the records and the family's behaviour.

Values (``fetch``): name, endpoint (the fully qualified namespace) | secret: connection_string (the
RootManageSharedAccessKey rule's primary connection string: the rule every namespace has).

Network rule: the namespace's child {namespace}/networkRuleSets/default {defaultAction, ipRules [{ipMask, action}],
virtualNetworkRules, publicNetworkAccess, trustedServiceAccessEnabled}, replaced whole (PUT); IPv4 only; Service
Bus: Premium only; Event Hubs: not on Basic; zero IP and VNet rules leave the namespace open even with defaultAction
Deny. A node subnet with the Microsoft.ServiceBus / Microsoft.EventHub service endpoint reaches the namespace from
private addresses, which no IP rule matches (reference-network.md S4). A namespace of a tier without IP rules
(Service Bus Basic / Standard, Event Hubs Basic) says so, and no rule is added or claimed. Source: "Configure IP
firewall rules for Azure Service Bus" (learn.microsoft.com/azure/service-bus-messaging/service-bus-ip-filtering),
"Azure Event Hubs Firewall Rules" (learn.microsoft.com/azure/event-hubs/event-hubs-ip-filtering); reference-network.md
S9-S12.
"""
from urllib.parse import urlparse

from azext_aks_connection.targets.base import (AUTH_SECRET, AUTH_SERVICE_PRINCIPAL, AUTH_WORKLOAD_IDENTITY, CLIENT_ID,
                                               CLIENT_TYPES_REDIS, IDENTITY_AUTHS, ConfigKey, Family, NameArg,
                                               RuleList, Target, fw, id_parts, identity_keys, ops, props, rid)

ROLES = {
    "Azure Service Bus Data Owner": "090c5cfd-751d-490a-894a-3ce6f1109419",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Event Hubs Data Owner": "f526a384-b230-433a-b45c-95f59c4a2dec",
    "Azure Event Hubs Data Receiver": "a638d3c7-ab3a-418d-83e6-5f17a39d4fde",
    "Azure Event Hubs Data Sender": "2b629674-e913-4c01-ae53-ef4638d8f975",
}
_RULE_SET_KEYS = ("publicNetworkAccess", "defaultAction", "virtualNetworkRules", "trustedServiceAccessEnabled")
_CLIENTS = {"servicebus": "azure.mgmt.servicebus:ServiceBusManagementClient",     # the SDK azure-cli ships
            "eventhubs": "azure.mgmt.eventhub:EventHubManagementClient"}


class Messaging(Family):
    """A Service Bus or Event Hubs namespace (``variant``: the az command group, servicebus / eventhubs); its rule
    set is written with azure-mgmt-servicebus / azure-mgmt-eventhub."""
    name = "messaging"
    firewall = "messaging"
    key_auth = ("disableLocalAuth", True, "local (SAS key) authentication is disabled")
    rule_list = RuleList("/networkRuleSets/default", None, "ipMask")

    @property
    def source(self):
        return self.name

    @property
    def service_endpoint(self):
        return "Microsoft.ServiceBus" if self.variant == "servicebus" else "Microsoft.EventHub"

    def fetch(self, arm, target, target_id, resource, with_secret):
        name = resource["name"]
        sb_endpoint = props(resource).get("serviceBusEndpoint") or f"https://{name}.servicebus.windows.net:443/"
        values = {"name": name, "endpoint": urlparse(sb_endpoint).hostname}
        if with_secret:
            rule = ops().resource_id(target, target_id) + "/authorizationRules/RootManageSharedAccessKey"
            keys = ops().post(arm, rule, "listKeys", target, f"Listing the keys of {target.display} namespace '{name}'")
            values["connection_string"] = keys["primaryConnectionString"]
        return values

    def read_firewall(self, arm, target, resource_id, resource_body):
        """The namespace's one network rule set, read from ARM (not the namespace body) and replaced whole (PUT); a
        tier without IP rules says so (no rule set is read: there is nothing to judge)."""
        f = fw()
        tier = str((resource_body.get("sku") or {}).get("tier") or "")
        if f.disabled(props(resource_body).get("publicNetworkAccess")):
            return f.Rules(f.CLOSED, f.public_disabled(target))
        if tier and (tier.lower() != "premium" if self.variant == "servicebus" else tier.lower() == "basic"):
            return f.Rules(f.NO_RULES, (
                f"The {target.display} namespace '{resource_body.get('name')}' is on the {tier} tier, which has no IP "
                f"rules ({'Premium only' if self.variant == 'servicebus' else 'Standard and above'}): it admits "
                "every network unless its public access is disabled; no rule is added or claimed."))
        rule_set = props(f.get(arm, resource_id + self.rule_list.path, target.api_version,
                               f"Reading the network rules of namespace '{resource_body.get('name')}'"))
        if f.disabled(rule_set.get("publicNetworkAccess"), props(resource_body).get("publicNetworkAccess")):
            return f.Rules(f.CLOSED, f.public_disabled(target))
        if str(rule_set.get("defaultAction") or "Allow").lower() == "allow":
            return f.Rules(f.OPEN, "networkRuleSets/default defaultAction is Allow")
        _, rules = f.ip_rules(self, rule_set)
        allows = [r.get("ipMask") for r in rules if str(r.get("action") or "Allow").lower() == "allow"]
        return f.Rules(f.CHECKED, admitted=lambda ip: any(f.covers(mask, ip) for mask in allows),
                       add=f.list_adder(arm, target, resource_id, rule_set, lambda ips: rules + [
                           {"ipMask": f"{ip}/32", "action": "Allow"} for ip in ips]))

    # pylint: disable-next=too-many-positional-arguments  # Family.write_rules's signature
    def write_rules(self, arm, target, resource_id, read, rules, what):
        """``namespaces.create_or_update_network_rule_set`` (a PUT of the whole rule set: what was read, ``rules`` as
        its ipRules), at the api-version it was read with."""
        _, group, name = id_parts(resource_id)
        client = fw().sdk_client(arm, _CLIENTS[self.variant], resource_id, api_version=target.api_version)
        body = {"properties": dict({k: read[k] for k in _RULE_SET_KEYS if k in read}, ipRules=rules)}
        fw().sdk_write(arm, what, "PUT", resource_id + self.rule_list.path,
                       lambda: client.namespaces.create_or_update_network_rule_set(group, name, body))

    def rule_command(self, target, resource_id, ip, resource_body=None):
        sub, group, name = id_parts(resource_id)
        return (f"az {self.variant} namespace network-rule-set ip-rule add --subscription {sub} -g {group} "
                f"--namespace-name {name} --ip-rule ip-address={ip} action=Allow")


# Keys: how-to-integrate-event-hubs.md, how-to-integrate-service-bus.md.
_EVENTHUB_WI, _EVENTHUB_SP = identity_keys("AZURE_EVENTHUB", "FULLYQUALIFIEDNAMESPACE")
_SERVICEBUS_WI, _SERVICEBUS_SP = identity_keys("AZURE_SERVICEBUS", "FULLYQUALIFIEDNAMESPACE")

TARGETS = {
    "eventhub": Target(
        name="eventhub",
        display="Event Hubs",
        resource_type="Microsoft.EventHub/namespaces",
        api_version="2024-01-01",
        id_template=rid("Microsoft.EventHub/namespaces", "namespace"),
        name_args=[NameArg("namespace", ["--namespace"], "Name of the eventhub namespace.", "MyNamespace")],
        auth_types=IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "springBoot", "kafka-springBoot",
                      "none"],
        # Keys: how-to-integrate-event-hubs.md.
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_EVENTHUB_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [ConfigKey("spring.cloud.azure.storage.connection-string", "connection_string", True),
                               ConfigKey("spring.cloud.azure.eventhubs.connection-string", "connection_string", True)],
                "kafka-springBoot": [ConfigKey("spring.cloud.azure.eventhubs.connection-string", "connection_string",
                                               True)],
            },
            AUTH_WORKLOAD_IDENTITY: {
                "default": _EVENTHUB_WI,
                "springBoot": [
                    ConfigKey("spring.cloud.azure.eventhub.namespace", "endpoint", False),
                    ConfigKey("spring.cloud.azure.client-id", CLIENT_ID, False),
                    ConfigKey("spring.cloud.azure.eventhubs.namespace", "endpoint", False),
                    ConfigKey("spring.cloud.azure.eventhubs.credential.client-id", CLIENT_ID, False),
                    ConfigKey("spring.cloud.azure.eventhubs.credential.managed-identity-enabled", "=true", False),
                ],
                "kafka-springBoot": [
                    ConfigKey("spring.kafka.bootstrap-servers", "endpoint", False),
                    ConfigKey("spring.kafka.properties.azure.credential.managed-identity-enabled", "=true", False),
                    ConfigKey("spring.kafka.properties.azure.credential.client-id", CLIENT_ID, False),
                ],
            },
            AUTH_SERVICE_PRINCIPAL: {
                "default": _EVENTHUB_SP,
                "springBoot": [
                    ConfigKey("spring.cloud.azure.eventhub.namespace", "endpoint", False),
                    ConfigKey("spring.cloud.azure.client-id", CLIENT_ID, False),
                    ConfigKey("spring.cloud.azure.tenant-id", "tenant_id", False),
                    ConfigKey("spring.cloud.azure.client-secret", "client_secret", True),
                    ConfigKey("spring.cloud.azure.eventhubs.namespace", "endpoint", False),
                    ConfigKey("spring.cloud.azure.eventhubs.credential.client-id", CLIENT_ID, False),
                    ConfigKey("spring.cloud.azure.eventhubs.credential.client-secret", "client_secret", True),
                    ConfigKey("spring.cloud.azure.eventhubs.profile.tenant-id", "tenant_id", False),
                ],
                "kafka-springBoot": [
                    ConfigKey("spring.kafka.bootstrap-servers", "endpoint", False),
                    ConfigKey("spring.kafka.properties.azure.credential.client-id", CLIENT_ID, False),
                    ConfigKey("spring.kafka.properties.azure.credential.client-secret", "client_secret", True),
                    ConfigKey("spring.kafka.properties.azure.profile.tenant-id", "tenant_id", False),
                ],
            },
        },
        family=Messaging("eventhubs"),
        roles=["Azure Event Hubs Data Receiver", "Azure Event Hubs Data Sender"],
        endpoint="{name}.servicebus.windows.net",
    ),
    "servicebus": Target(
        name="servicebus",
        display="Service Bus",
        resource_type="Microsoft.ServiceBus/namespaces",
        api_version="2024-01-01",
        id_template=rid("Microsoft.ServiceBus/namespaces", "namespace"),
        name_args=[NameArg("namespace", ["--namespace"], "Name of the servicebus namespace.", "MyNamespace")],
        auth_types=IDENTITY_AUTHS,
        client_types=CLIENT_TYPES_REDIS,
        # Keys: how-to-integrate-service-bus.md.
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_SERVICEBUS_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [ConfigKey("spring.cloud.azure.servicebus.connection-string", "connection_string", True)],
            },
            AUTH_WORKLOAD_IDENTITY: {
                "default": _SERVICEBUS_WI,
                "springBoot": [ConfigKey("spring.cloud.azure.servicebus.namespace", "endpoint", False),
                               ConfigKey("spring.cloud.azure.client-id", CLIENT_ID, False)],
            },
            AUTH_SERVICE_PRINCIPAL: {
                "default": _SERVICEBUS_SP,
                "springBoot": [ConfigKey("spring.cloud.azure.servicebus.namespace", "endpoint", False),
                               ConfigKey("spring.cloud.azure.client-id", CLIENT_ID, False),
                               ConfigKey("spring.cloud.azure.tenant-id", "tenant_id", False),
                               ConfigKey("spring.cloud.azure.client-secret", "client_secret", True)],
            },
        },
        family=Messaging("servicebus"),
        roles=["Azure Service Bus Data Receiver", "Azure Service Bus Data Sender"],
        endpoint="{name}.servicebus.windows.net",
    ),
}
