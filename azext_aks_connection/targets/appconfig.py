# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""App Configuration: the record and the family's behaviour.

Values (``fetch``): endpoint | secret: connection_string (the first read-write access key's).

Network rule: none. A store has no IP rule property, only publicNetworkAccess (Enabled / Disabled) and private
endpoints, and no service endpoint. Source: App Configuration "network access errors"
(learn.microsoft.com/azure/azure-app-configuration/network-access-errors); reference-network.md S18.
"""
from azext_aks_connection.targets.base import (AUTH_SECRET, AUTH_SERVICE_PRINCIPAL, AUTH_WORKLOAD_IDENTITY,
                                               IDENTITY_AUTHS, ConfigKey, Family, NameArg, Target, identity_keys, ops,
                                               props, rid)

ROLES = {
    "App Configuration Data Owner": "5ae67dd6-50cb-40e7-96ff-dc2bfa4b606b",
    "App Configuration Data Reader": "516239f1-63e1-4d78-a4de-a74fb236a071",
}


class AppConfig(Family):
    name = "appconfig"
    key_auth = ("disableLocalAuth", True, "local auth is disabled")

    def fetch(self, arm, target, target_id, resource, with_secret):
        values = {"endpoint": props(resource).get("endpoint") or f"https://{resource['name']}.azconfig.io"}
        if with_secret:
            keys = ops().post(arm, ops().resource_id(target, target_id), "listKeys", target,
                              f"Listing the access keys of App Configuration store '{resource['name']}'"
                              ).get("value") or []
            writable = [k for k in keys if not k.get("readOnly")]
            values["connection_string"] = (writable or keys)[0]["connectionString"]
        return values


_APPCONFIG_WI, _APPCONFIG_SP = identity_keys("AZURE_APPCONFIGURATION", "ENDPOINT")

TARGETS = {
    "appconfig": Target(
        name="appconfig",
        display="App Configuration",
        resource_type="Microsoft.AppConfiguration/configurationStores",
        api_version="2024-05-01",
        id_template=rid("Microsoft.AppConfiguration/configurationStores", "config_store"),
        name_args=[NameArg("config_store", ["--app-config"], "Name of the app configuration.", "MyConfigStore")],
        auth_types=IDENTITY_AUTHS,
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "none"],
        # Keys: how-to-integrate-app-configuration.md.
        config_keys={
            AUTH_SECRET: {"default": [ConfigKey("AZURE_APPCONFIGURATION_CONNECTIONSTRING", "connection_string", True)]},
            AUTH_WORKLOAD_IDENTITY: {"default": _APPCONFIG_WI},
            AUTH_SERVICE_PRINCIPAL: {"default": _APPCONFIG_SP},
        },
        family=AppConfig(no_ip_rules="App Configuration has no IP firewall rules: a store is reached over its public "
                                     "endpoint (publicNetworkAccess) or through private endpoints."),
        roles=["App Configuration Data Reader"],
        endpoint="https://{name}.azconfig.io",
    ),
}
