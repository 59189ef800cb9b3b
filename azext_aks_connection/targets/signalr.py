# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""SignalR Service and Web PubSub: the records and the family's behaviour.

Values (``fetch``): host | secret: connection_string (the primary one: Endpoint=…;AccessKey=…;Version=1.0;).

Network rule: properties.networkACLs.ipRules [{value, action: Allow|Deny}], ordered, the first match decides (new
Allow rules go first; the default rules allow 0.0.0.0/0); PATCH of the resource, long-running; no effect on
private-endpoint traffic; Web PubSub takes up to 30 rules, IPv4 and IPv6, CIDRs and service tags. Source: Web
PubSub "howto-secure-network-access-control" (learn.microsoft.com/azure/azure-web-pubsub/
howto-secure-network-access-control), `az signalr network-rule ip-rule`; reference-network.md S19, S20.
"""
from azext_aks_connection.targets.base import (AUTH_SECRET, AUTH_SERVICE_PRINCIPAL, AUTH_WORKLOAD_IDENTITY,
                                               IDENTITY_AUTHS, ConfigKey, Family, NameArg, RuleList, Target, fw,
                                               identity_keys, ops, props, rid)

ROLES = {
    "SignalR Service Owner": "7e4f1700-ea5a-4f59-8f37-079cfe29dce3",
    "SignalR/Web PubSub Contributor": "8cf5e20a-e4b2-4e9d-b3a1-5ceb692c2761",
}


class SignalR(Family):
    """A SignalR or Web PubSub service. Its rules are written raw (Family.write_rules), one write for both: Web PubSub
    has no SDK in azure-cli (`az webpubsub` is an extension), and azure-mgmt-signalr's models (msrest, its
    2023-08-01-preview) would drop what they do not know of the 2024-03-01 ACLs read. No by-hand command is offered
    (the rules are ordered)."""
    name = "signalr"
    firewall = "signalr"
    key_auth = ("disableLocalAuth", True, "local auth is disabled")
    rule_list = RuleList("", "networkACLs", "value")

    def fetch(self, arm, target, target_id, resource, with_secret):
        return ops().endpoint_and_key(arm, target, target_id, resource, with_secret, what=target.display,
                                      names=("hostName", "host", "primaryConnectionString", "connection_string"))

    def read_firewall(self, arm, target, resource_id, resource_body):
        f, p = fw(), props(resource_body)
        if f.disabled(p.get("publicNetworkAccess")):
            return f.Rules(f.CLOSED, f.public_disabled(target))
        _, rules = f.ip_rules(self, p)
        if not rules:
            return f.Rules(f.OPEN, "it has no IP rules")

        def allowed(ip):
            for r in rules:                      # ordered: the first rule that matches decides
                if f.covers(r.get("value"), ip):
                    return str(r.get("action") or "Allow").lower() == "allow"
            return False                         # no rule matches: refused

        first = rules[0].get("value")
        if f.covers(first, "0.0.0.0") and f.covers(first, "255.255.255.255") and allowed("0.0.0.0"):
            return f.Rules(f.OPEN, "its first IP rule allows 0.0.0.0/0")
        return f.Rules(f.CHECKED, admitted=allowed, add=f.list_adder(arm, target, resource_id, p, lambda ips: [
            {"value": f"{ip}/32", "action": "Allow"} for ip in ips] + rules))


_WEBPUBSUB_WI, _WEBPUBSUB_SP = identity_keys("AZURE_WEBPUBSUB", "HOST", field="host")

TARGETS = {
    "signalr": Target(
        name="signalr",
        display="SignalR Service",
        resource_type="Microsoft.SignalRService/SignalR",
        api_version="2024-03-01",
        id_template=rid("Microsoft.SignalRService/SignalR", "signalr"),
        name_args=[NameArg("signalr", ["--signalr"], "Name of the signalr service.", "MySignalR")],
        auth_types=IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "none"],
        # Keys: how-to-integrate-signalr.md: one connection string for every auth type.
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey("AZURE_SIGNALR_CONNECTIONSTRING", "connection_string", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": [ConfigKey(
                "AZURE_SIGNALR_CONNECTIONSTRING",
                "Endpoint=https://{host};AuthType=aad;ClientId={client_id};Version=1.0;", False)]},
            AUTH_SERVICE_PRINCIPAL: {"default": [ConfigKey(
                "AZURE_SIGNALR_CONNECTIONSTRING",
                "Endpoint=https://{host};AuthType=aad;ClientId={client_id};ClientSecret={client_secret};"
                "TenantId={tenant_id};Version=1.0;", True)]},
        },
        family=SignalR(),
        roles=["SignalR Service Owner"],
        endpoint="{name}.service.signalr.net",
    ),
    "webpubsub": Target(
        name="webpubsub",
        display="Web PubSub",
        resource_type="Microsoft.SignalRService/WebPubSub",
        api_version="2024-03-01",
        id_template=rid("Microsoft.SignalRService/WebPubSub", "webpubsub"),
        name_args=[NameArg("webpubsub", ["--webpubsub"], "Name of the webpubsub service.", "MyWebPubSub")],
        auth_types=IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "none"],
        # Keys: how-to-integrate-web-pubsub.md.
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey("AZURE_WEBPUBSUB_CONNECTIONSTRING", "connection_string", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _WEBPUBSUB_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _WEBPUBSUB_SP},
        },
        family=SignalR(),
        # concept-microsoft-entra-roles.md lists SignalR/Web PubSub Contributor for Web PubSub.
        roles=["SignalR/Web PubSub Contributor"],
        endpoint="{name}.webpubsub.azure.com",
    ),
}
