# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Application Insights: the record and the family's behaviour.

Values (``fetch``): name | secret: connection_string, a property of the component (no keys API): returned for
secret auth only, since it carries the instrumentation key.

Network rule: none. A component takes telemetry from any network (publicNetworkAccessForIngestion / ForQuery,
private ingestion through an Azure Monitor Private Link Scope). Source: Update-AzApplicationInsights
(learn.microsoft.com/powershell/module/az.applicationinsights/update-azapplicationinsights); reference-network.md S22.
"""
from azext_aks_connection.targets.base import AUTH_SECRET, ConfigKey, Family, NameArg, Target, props, rid, secret_only

ROLES = {}


class AppInsights(Family):
    name = "app-insights"

    def fetch(self, arm, target, target_id, resource, with_secret):
        values = {"name": resource["name"]}
        if with_secret:
            p = props(resource)
            conn = p.get("ConnectionString") or p.get("connectionString")
            if not conn:
                from azure.cli.core.azclierror import ResourceNotFoundError
                raise ResourceNotFoundError(f"Application Insights component '{resource['name']}' has no connection "
                                            "string.", recommendation="Check the component in the portal (Overview).")
            values["connection_string"] = conn
        return values


TARGETS = {
    "app-insights": Target(
        name="app-insights",
        display="Application Insights",
        resource_type="Microsoft.Insights/components",
        api_version="2020-02-02",
        # The built-in spells the namespace microsoft.insights; ARM ids are case-insensitive.
        id_template=rid("microsoft.insights/components", "appinsights"),
        name_args=[NameArg("appinsights", ["--app-insights"], "Name of the app insights.", "MyAppInsights")],
        auth_types=[AUTH_SECRET],
        client_types=["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "none"],
        # The variable every Application Insights / Azure Monitor SDK reads. Service Connector has no
        # how-to-integrate page for Application Insights: this name is not confirmed from its docs.
        config_keys=secret_only({"default": [ConfigKey("APPLICATIONINSIGHTS_CONNECTION_STRING", "connection_string",
                                                       True)]}),
        family=AppInsights(no_ip_rules="Application Insights takes telemetry from any network: there are no IP rules "
                                       "to add."),
        secret_in_resource=True,
    ),
}
