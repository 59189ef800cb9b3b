# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.Insights/components (Application Insights; the app-insights target): GET / list.

The connection string is a property: ``properties.ConnectionString``
(``InstrumentationKey=..;IngestionEndpoint=https://<region>-8.in.applicationinsights.azure.com/;
LiveEndpoint=https://<region>.livediagnostics.monitor.azure.com/;ApplicationId=..``), beside
``InstrumentationKey`` and ``AppId``; there is no keys API and no IP firewall (only
publicNetworkAccessForIngestion / ...ForQuery). The service answers ``type`` in lower case.
"""
import uuid

from sandbox.arm import targetkit
from sandbox.arm.common import iso

TYPE = "Microsoft.Insights/components"
WIRE_TYPE = "microsoft.insights/components"
API_VERSIONS = ["2020-02-02", "2020-02-02-preview", "2018-05-01-preview", "2015-05-01"]


def register(registry):
    registry.add(ComponentHandler)
    registry.namespace("Microsoft.Insights", {"operations": API_VERSIONS})


def connection_string(ikey, location, app_id):
    return (f"InstrumentationKey={ikey};IngestionEndpoint=https://{location}-8.in.applicationinsights.azure.com/;"
            f"LiveEndpoint=https://{location}.livediagnostics.monitor.azure.com/;ApplicationId={app_id}")


def seed_component(state, resource_group, name, location=None):
    """An Application Insights component (random instrumentation key and app id). Returns it."""
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        rid = f"{state.rg_id(resource_group)}/providers/microsoft.insights/components/{name}"
        ikey, app_id = str(uuid.uuid4()), str(uuid.uuid4())
        props = {"ApplicationId": name, "AppId": app_id, "Application_Type": "web", "Flow_Type": "Bluefield",
                 "Request_Source": "rest", "InstrumentationKey": ikey,
                 "ConnectionString": connection_string(ikey, location, app_id), "Name": name,
                 "CreationDate": iso(), "TenantId": state.sb.subscription_id, "provisioningState": "Succeeded",
                 "SamplingPercentage": None, "RetentionInDays": 90, "IngestionMode": "ApplicationInsights",
                 "publicNetworkAccessForIngestion": "Enabled", "publicNetworkAccessForQuery": "Enabled",
                 "Ver": "v2"}
        return targetkit.store(state, rid, WIRE_TYPE, props, location, tags={}, kind="web",
                               etag='"' + str(uuid.uuid4()) + '"')


class ComponentHandler(targetkit.TargetHandler):
    type_name = TYPE
    wire_type = WIRE_TYPE
    api_versions = tuple(API_VERSIONS)
