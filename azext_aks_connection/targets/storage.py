# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Azure Storage (blob, queue, table, file): the records and the family's behaviour.

Values (``fetch``): account_name, endpoint | secret: connection_string, account_key (listKeys of the account).

Network rule: the account's properties.networkAcls.ipRules [{value, action: "Allow"}] with defaultAction Deny;
/31 and /32 prefixes are refused (a single address is written bare), as are RFC1918 ranges and IPv6. Requests from
the account's own region use private Azure addresses ("IP network rules have no effect on requests that originate
from the same Azure region as the storage account"): an egress-IP rule admits a cluster in another region only, and
not once its subnet has a Microsoft.Storage service endpoint (Microsoft.Storage.Global: for every region). What
admits a node subnet is networkAcls.virtualNetworkRules [{id: subnet, action: "Allow"}], which Azure accepts only
for a subnet with the endpoint (400 NetworkAclsValidationFailure SubnetsHaveNoServiceEndpointsConfigured); it
needs Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action on the subnet. Same region on the
AKS-managed VNet: no rule admits the pods (a private endpoint does). Source: "Configure Azure Storage firewalls and
virtual networks" (learn.microsoft.com/azure/storage/common/storage-network-security), "Virtual Network service
endpoints" (learn.microsoft.com/azure/virtual-network/virtual-network-service-endpoints-overview), the
storageAccounts template reference (IPRule, VirtualNetworkRule); reference-network.md S1-S4, S7.
"""
from azext_aks_connection.targets.base import (AUTH_SECRET, AUTH_SERVICE_PRINCIPAL, AUTH_WORKLOAD_IDENTITY,
                                               CLIENT_TYPES_STORAGE, IDENTITY_AUTHS, ConfigKey, Family, NameArg,
                                               RuleList, Target, fw, id_parts, identity_keys, ops, props,
                                               spring_identity)

ROLES = {
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
}


class Storage(Family):
    """A storage account; ``variant``: the service (blob, queue, table, file) whose endpoint the keys name."""
    name = "storage"
    firewall = "storage"
    key_auth = ("allowSharedKeyAccess", False, "shared key access is disabled")
    rule_list = RuleList("", "networkAcls", "value")
    service_endpoint = "Microsoft.Storage"
    endpoint_regional = True
    same_region_private = True
    vnet_rules = True

    def fetch(self, arm, target, target_id, resource, with_secret):
        service = self.variant
        endpoints = props(resource).get("primaryEndpoints") or {}
        endpoint = endpoints.get(service) or f"https://{resource['name']}.{service}.core.windows.net/"
        values = {"account_name": resource["name"], "endpoint": endpoint}
        if not with_secret:
            return values
        keys = ops().post(arm, ops().resource_id(target, target_id), "listKeys", target,
                          f"Listing the keys of storage account '{resource['name']}'").get("keys") or []
        key = keys[0]["value"]
        scheme = "http" if endpoint.startswith("http://") else "https"
        # Name the service endpoint explicitly: right for every cloud, sovereign or local (Azurite).
        conn = (f"DefaultEndpointsProtocol={scheme};AccountName={resource['name']};AccountKey={key};"
                f"{service.capitalize()}Endpoint={endpoint}")
        values.update(connection_string=conn, account_key=key)
        return values

    def read_firewall(self, arm, target, resource_id, resource_body):
        """The IP rules, and the virtual network rules: a node subnet (its id) is admitted by a rule naming it."""
        f = fw()
        rules = f.acl_rules(arm, target, resource_id, resource_body, lambda ip: ip, {"action": "Allow"})
        if rules.admitted is None:
            return rules
        listed = f.ip_rules(self, props(resource_body))[1]
        subnets = {str(r.get("id") or "").lower() for r in listed if r.get("id")}

        def admitted(entry):
            return entry.lower() in subnets if entry.startswith("/subscriptions/") else rules.admitted(entry)
        return rules._replace(admitted=admitted, add=f.list_adder(
            arm, target, resource_id, props(resource_body), lambda entries: listed + [
                {"id": e, "action": "Allow"} if e.startswith("/subscriptions/") else {"value": e, "action": "Allow"}
                for e in entries]))

    def listed_rules(self, container):
        """ipRules, then virtualNetworkRules (``write_rules`` tells them apart by their ``id``)."""
        return list(container.get("ipRules") or []) + list(container.get("virtualNetworkRules") or [])

    # pylint: disable-next=too-many-positional-arguments  # Family.write_rules's signature
    def write_rules(self, arm, target, resource_id, read, rules, what):
        """azure-mgmt-storage ``storage_accounts.update`` (a PATCH of the account) with the network rule set read and
        ``rules`` as its ipRules. The API takes no ETag: provider/firewall.py reads back and retries."""
        from azure.mgmt.storage.models import NetworkRuleSet, StorageAccountUpdateParameters
        client = fw().sdk_client(arm, "azure.mgmt.storage:StorageManagementClient", resource_id,
                                 api_version=target.api_version)
        _, group, name = id_parts(resource_id)
        acls = dict(read.get("networkAcls") or {}, ipRules=[r for r in rules if not r.get("id")])  # unknown fields
        if "virtualNetworkRules" in acls or any(r.get("id") for r in rules):                    # kept as read
            acls["virtualNetworkRules"] = [r for r in rules if r.get("id")]
        rule_set = NetworkRuleSet(acls)
        fw().sdk_write(arm, what, "PATCH", resource_id, lambda: client.storage_accounts.update(
            group, name, StorageAccountUpdateParameters(network_rule_set=rule_set)))

    def rule_command(self, target, resource_id, ip, resource_body=None):
        sub, group, name = id_parts(resource_id)
        what = f"--subnet {ip}" if ip.startswith("/subscriptions/") else f"--ip-address {ip}"
        return f"az storage account network-rule add --subscription {sub} -g {group} --account-name {name} {what}"


_STORAGE_ACCOUNT = "/subscriptions/{subscription}/resourceGroups/{target_resource_group}" \
                   "/providers/Microsoft.Storage/storageAccounts/{account}"
_BLOB_WI, _BLOB_SP = identity_keys("AZURE_STORAGEBLOB")
_BLOB_SPRING_WI, _BLOB_SPRING_SP = spring_identity(
    "spring.cloud.azure.storage.blob", "spring.cloud.azure.storage.blob.endpoint",
    extra=[ConfigKey("spring.cloud.azure.storage.blob.account-name", "account_name", False)])
# Keys: how-to-integrate-storage-queue.md, -storage-table.md, -storage-file.md.
_QUEUE_WI, _QUEUE_SP = identity_keys("AZURE_STORAGEQUEUE")
_TABLE_WI, _TABLE_SP = identity_keys("AZURE_STORAGETABLE")
_STORAGE_NAME_ARGS = [NameArg("account", ["--account"], "Name of the storage account.", "MyAccount")]

TARGETS = {
    "storage-blob": Target(
        name="storage-blob",
        display="Storage Blob",
        resource_type="Microsoft.Storage/storageAccounts",
        api_version="2023-05-01",
        id_template=_STORAGE_ACCOUNT + "/blobServices/default",
        resource_suffix="/blobServices/default",
        name_args=[NameArg("account", ["--account"], "Name of the storage account.", "MyAccount")],
        auth_types=[AUTH_WORKLOAD_IDENTITY, AUTH_SECRET, AUTH_SERVICE_PRINCIPAL],
        client_types=CLIENT_TYPES_STORAGE,
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_STORAGEBLOB_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [
                    ConfigKey("azure.storage.account-name", "account_name", False),
                    ConfigKey("azure.storage.account-key", "account_key", True),
                    ConfigKey("azure.storage.blob-endpoint", "endpoint", False),
                    ConfigKey("spring.cloud.azure.storage.blob.account-name", "account_name", False),
                    ConfigKey("spring.cloud.azure.storage.blob.account-key", "account_key", True),
                    ConfigKey("spring.cloud.azure.storage.blob.endpoint", "endpoint", False),
                ],
            },
            AUTH_WORKLOAD_IDENTITY: {"default": _BLOB_WI, "springBoot": _BLOB_SPRING_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _BLOB_SP, "springBoot": _BLOB_SPRING_SP},
        },
        family=Storage("blob"),
        roles=["Storage Blob Data Contributor"],
    ),
    "storage-queue": Target(
        name="storage-queue",
        display="Storage Queue",
        resource_type="Microsoft.Storage/storageAccounts",
        api_version="2023-05-01",
        id_template=_STORAGE_ACCOUNT + "/queueServices/default",
        resource_suffix="/queueServices/default",
        name_args=_STORAGE_NAME_ARGS,
        auth_types=IDENTITY_AUTHS,
        client_types=CLIENT_TYPES_STORAGE,
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_STORAGEQUEUE_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [
                    ConfigKey("spring.cloud.azure.storage.account", "account_name", False),
                    ConfigKey("spring.cloud.azure.storage.access-key", "account_key", True),
                    ConfigKey("spring.cloud.azure.storage.queue.account-name", "account_name", False),
                    ConfigKey("spring.cloud.azure.storage.queue.account-key", "account_key", True),
                    ConfigKey("spring.cloud.azure.storage.queue.endpoint", "endpoint", False),
                ],
            },
            AUTH_WORKLOAD_IDENTITY: {"default": _QUEUE_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _QUEUE_SP},
        },
        family=Storage("queue"),
        roles=["Storage Queue Data Contributor"],
        endpoint="https://{name}.queue.core.windows.net/",
    ),
    "storage-table": Target(
        name="storage-table",
        display="Storage Table",
        resource_type="Microsoft.Storage/storageAccounts",
        api_version="2023-05-01",
        id_template=_STORAGE_ACCOUNT + "/tableServices/default",
        resource_suffix="/tableServices/default",
        name_args=_STORAGE_NAME_ARGS,
        auth_types=IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "none"],
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey("AZURE_STORAGETABLE_CONNECTIONSTRING", "connection_string", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _TABLE_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _TABLE_SP},
        },
        family=Storage("table"),
        roles=["Storage Table Data Contributor"],
        endpoint="https://{name}.table.core.windows.net/",
    ),
    "storage-file": Target(
        name="storage-file",
        display="Storage File",
        resource_type="Microsoft.Storage/storageAccounts",
        api_version="2023-05-01",
        id_template=_STORAGE_ACCOUNT + "/fileServices/default",
        resource_suffix="/fileServices/default",
        name_args=_STORAGE_NAME_ARGS,
        auth_types=[AUTH_SECRET],
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "php", "ruby", "springBoot", "none"],
        config_keys={
            AUTH_SECRET: {
                "default": [ConfigKey("AZURE_STORAGEFILE_CONNECTIONSTRING", "connection_string", True)],
                "springBoot": [
                    ConfigKey("azure.storage.account-name", "account_name", False),
                    ConfigKey("azure.storage.account-key", "account_key", True),
                    ConfigKey("azure.storage.file-endpoint", "endpoint", False),
                    ConfigKey("spring.cloud.azure.storage.fileshare.account-name", "account_name", False),
                    ConfigKey("spring.cloud.azure.storage.fileshare.account-key", "account_key", True),
                    ConfigKey("spring.cloud.azure.storage.fileshare.endpoint", "endpoint", False),
                ],
            },
        },
        family=Storage("file"),
        endpoint="https://{name}.file.core.windows.net/",
    ),
}
