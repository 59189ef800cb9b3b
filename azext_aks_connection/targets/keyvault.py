# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Key Vault: the record and the family's behaviour.

Values (``fetch``): name, endpoint, vault_tenant_id. A vault has no key to hand out: its endpoint and name are all
a client needs besides an identity (no secret auth).

Network rule: the vault's properties.networkAcls.ipRules [{value: "1.2.3.4/32"}] with defaultAction Deny (data
plane only); RFC1918 ranges and IPv6 are refused. No same-region exception is documented (azure-docs#88450 asks;
unconfirmed): the egress IP is taken to be admitted. A node subnet with the Microsoft.KeyVault service endpoint
reaches the vault from private addresses, which no IP rule matches (virtual network rules do). Source: "Configure
Azure Key Vault firewalls and virtual networks" (learn.microsoft.com/azure/key-vault/general/network-security),
"Virtual Network service endpoints" (learn.microsoft.com/azure/virtual-network/
virtual-network-service-endpoints-overview); reference-network.md S4-S7, S24.
"""
from azext_aks_connection.targets.base import (AUTH_CSI, AUTH_SERVICE_PRINCIPAL, AUTH_WORKLOAD_IDENTITY,
                                               MANAGEMENT_SCOPE, ConfigKey, Family, NameArg, RuleList, Target, fw,
                                               id_parts, identity_keys, spring_identity)

ROLES = {
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Certificate User": "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
    "Key Vault Reader": "21090545-7ca7-4776-b22c-e363652d74d2",
}


class KeyVault(Family):
    """A vault; its rules are written with azure-mgmt-keyvault."""
    name = "keyvault"
    firewall = "keyvault"
    rule_list = RuleList("", "networkAcls", "value")
    service_endpoint = "Microsoft.KeyVault"

    def fetch(self, arm, target, target_id, resource, with_secret):
        props = resource.get("properties") or {}
        return {"name": resource["name"],
                "endpoint": props.get("vaultUri") or f"https://{resource['name']}.vault.azure.net/",
                "vault_tenant_id": props.get("tenantId")}

    def read_firewall(self, arm, target, resource_id, resource_body):
        return fw().acl_rules(arm, target, resource_id, resource_body, lambda ip: f"{ip}/32")

    # pylint: disable-next=too-many-positional-arguments  # Family.write_rules's signature
    def write_rules(self, arm, target, resource_id, read, rules, what):
        """``vaults.update`` (a PATCH of the vault) with the network ACLs read and ``rules`` as their ipRules, at the
        api-version they were read with. No ETag on this API: provider/firewall.py reads back and retries."""
        _, group, name = id_parts(resource_id)
        client = fw().sdk_client(arm, "azure.mgmt.keyvault:KeyVaultManagementClient", resource_id,
                                 api_version=target.api_version)
        body = {"properties": {"networkAcls": dict(read.get("networkAcls") or {}, ipRules=rules)}}
        fw().sdk_write(arm, what, "PATCH", resource_id, lambda: client.vaults.update(group, name, body))

    def rule_command(self, target, resource_id, ip, resource_body=None):
        sub, group, name = id_parts(resource_id)
        return f"az keyvault network-rule add --subscription {sub} -g {group} -n {name} --ip-address {ip}/32"


_KEY_VAULT = "/subscriptions/{subscription}/resourceGroups/{target_resource_group}" \
             "/providers/Microsoft.KeyVault/vaults/{vault}"
_KV_WI, _KV_SP = identity_keys("AZURE_KEYVAULT", extra=[ConfigKey("AZURE_KEYVAULT_SCOPE", MANAGEMENT_SCOPE, False)])
_KV_SPRING_WI, _KV_SPRING_SP = spring_identity(
    "spring.cloud.azure.keyvault.secret", "spring.cloud.azure.keyvault.secret.property-sources[0].endpoint")

TARGETS = {
    "keyvault": Target(
        name="keyvault",
        display="Key Vault",
        resource_type="Microsoft.KeyVault/vaults",
        api_version="2023-07-01",
        id_template=_KEY_VAULT,
        name_args=[NameArg("vault", ["--vault"], "Name of the key vault.", "MyVault")],
        auth_types=[AUTH_WORKLOAD_IDENTITY, AUTH_SERVICE_PRINCIPAL],
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "springBoot", "none"],
        config_keys={
            AUTH_WORKLOAD_IDENTITY: {"default": _KV_WI, "springBoot": _KV_SPRING_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _KV_SP, "springBoot": _KV_SPRING_SP},
            # What a SecretProviderClass needs (keyvaultName, tenantId, userAssignedIdentityID).
            AUTH_CSI: {"default": [ConfigKey("AZURE_KEYVAULT_NAME", "name", False),
                                   ConfigKey("AZURE_KEYVAULT_RESOURCEENDPOINT", "endpoint", False),
                                   ConfigKey("AZURE_KEYVAULT_TENANTID", "tenant_id", False),
                                   ConfigKey("AZURE_KEYVAULT_CLIENTID", "client_id", False),
                                   ConfigKey("AZURE_KEYVAULT_SCOPE", MANAGEMENT_SCOPE, False)]},
        },
        family=KeyVault(),
        # Service Connector's defaults (concept-microsoft-entra-roles.md): read secrets and certificates, for the
        # workload identity, the service principal and the CSI add-on identity alike.
        roles=["Key Vault Secrets User", "Key Vault Certificate User"],
        csi_roles=["Key Vault Secrets User", "Key Vault Certificate User"],
    ),
}
