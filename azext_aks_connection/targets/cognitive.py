# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Azure AI services (Cognitive Services): the record and the family's behaviour.

Values (``fetch``): endpoint | secret: key (listKeys key1).

Network rule: the account's properties.networkAcls.ipRules [{value}] with defaultAction Deny (PATCH of the account);
RFC1918, /31 and /32 refused (a single address is written bare); IPv4 only; up to 100 rules. An older revision of
the docs said same-region requests are not matched by IP rules; the current one does not: unproven. A node subnet
with the Microsoft.CognitiveServices service endpoint reaches the account from private addresses, which no IP rule
matches (reference-network.md S4). Source:
"Configure Azure AI services virtual networks" (learn.microsoft.com/azure/ai-services/
cognitive-services-virtual-networks); reference-network.md S21.
"""
from azext_aks_connection.targets.base import (AUTH_SECRET, AUTH_SERVICE_PRINCIPAL, AUTH_WORKLOAD_IDENTITY,
                                               IDENTITY_AUTHS, ConfigKey, Family, NameArg, RuleList, Target, fw,
                                               id_parts, identity_keys, ops, rid)

ROLES = {
    "Cognitive Services User": "a97b65f3-24c7-4388-baec-2e87135dc908",
    "Cognitive Services OpenAI Contributor": "a001fd3d-188f-4b5d-821b-7da978bf7442",
}


class Cognitive(Family):
    """An account; its rules are written with azure-mgmt-cognitiveservices."""
    name = "cognitiveservices"
    firewall = "cognitive"
    key_auth = ("disableLocalAuth", True, "local auth is disabled")
    rule_list = RuleList("", "networkAcls", "value")
    service_endpoint = "Microsoft.CognitiveServices"

    def fetch(self, arm, target, target_id, resource, with_secret):
        return ops().endpoint_and_key(arm, target, target_id, resource, with_secret,
                                      what="Cognitive Services account", names=("endpoint", "endpoint", "key1", "key"))

    def read_firewall(self, arm, target, resource_id, resource_body):
        return fw().acl_rules(arm, target, resource_id, resource_body, lambda ip: ip)

    # pylint: disable-next=too-many-positional-arguments  # Family.write_rules's signature
    def write_rules(self, arm, target, resource_id, read, rules, what):
        """``accounts.begin_update`` (a PATCH of the account, long-running) with the network ACLs read and ``rules``
        as their ipRules, at the api-version they were read with; polled with firewall.sdk_polling."""
        _, group, name = id_parts(resource_id)
        client = fw().sdk_client(arm, "azure.mgmt.cognitiveservices:CognitiveServicesManagementClient", resource_id,
                                 api_version=target.api_version)
        body = {"properties": {"networkAcls": dict(read.get("networkAcls") or {}, ipRules=rules)}}
        fw().sdk_write(arm, what, "PATCH", resource_id, lambda: client.accounts.begin_update(
            group, name, body, polling=fw().sdk_polling()).result())

    def rule_command(self, target, resource_id, ip, resource_body=None):
        sub, group, name = id_parts(resource_id)
        return (f"az cognitiveservices account network-rule add --subscription {sub} -g {group} -n {name} "
                f"--ip-address {ip}")


_COGNITIVE_WI, _COGNITIVE_SP = identity_keys("AZURE_COGNITIVESERVICES", "ENDPOINT")

TARGETS = {
    "cognitiveservices": Target(
        name="cognitiveservices",
        display="Azure AI services (Cognitive Services)",
        resource_type="Microsoft.CognitiveServices/accounts",
        api_version="2024-10-01",
        id_template=rid("Microsoft.CognitiveServices/accounts", "account"),
        name_args=[NameArg("account", ["--account"], "Name of the cognitive services account.", "MyAccount")],
        auth_types=IDENTITY_AUTHS,
        client_types=["dotnet", "python", "none"],
        # Keys: how-to-integrate-cognitive-services.md (Azure AI multi-service resource).
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey("AZURE_COGNITIVESERVICES_ENDPOINT", "endpoint", False),
                                      ConfigKey("AZURE_COGNITIVESERVICES_KEY", "key", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _COGNITIVE_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _COGNITIVE_SP},
        },
        family=Cognitive(),
        roles=["Cognitive Services User"],
        endpoint="https://{name}.cognitiveservices.azure.com/",
    ),
}
