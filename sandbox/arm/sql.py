# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.Sql (the sql target): servers, databases, firewallRules.

  GET    servers/{s}                        fullyQualifiedDomainName <name>.database.windows.net,
                                            administratorLogin, version 12.0, state Ready, publicNetworkAccess
  GET    servers/{s}/databases[/{d}]        tracked (location, sku, kind), status Online, collation, ...; the
                                            server's ``master`` database is there too
  PUT    servers/{s}/firewallRules/{r}      {"properties": {"startIpAddress", "endIpAddress"}}: synchronous,
                                            201 created / 200 updated (or unchanged)
  DELETE servers/{s}/firewallRules/{r}      200 (204 when absent)
There is no keys API: the password is the user's; the seeded administrator password is kept beside the
server and listed in the seeds document.
"""
import re

from sandbox.arm import targetkit
from sandbox.arm.common import iso, stable_guid

NS = "Microsoft.Sql"
API_VERSIONS = ["2024-11-01-preview", "2024-05-01-preview", "2023-08-01", "2023-08-01-preview",
                "2023-05-01-preview", "2023-02-01-preview", "2022-11-01-preview", "2022-05-01-preview",
                "2021-11-01", "2021-02-01-preview", "2020-11-01-preview", "2014-04-01"]


def register(registry):
    attrs = {"api_versions": tuple(API_VERSIONS)}
    registry.add(ServerHandler, **attrs)
    registry.add(DatabaseHandler, **attrs)
    registry.add(targetkit.FirewallRuleHandler, type_name=f"{NS}/servers/firewallRules",
                 name_re=re.compile(r"^[^<>*%&:\\/?]{0,127}[^<>*%&:\\/?.]$"),
                 name_rule="any character but <>*%&:\\/? (and not ending in '.')", **attrs)
    registry.namespace(NS, {"operations": API_VERSIONS, "checkNameAvailability": API_VERSIONS,
                            "locations": API_VERSIONS})


def _database(state, server, name, system=False):
    rid = f"{server['id']}/databases/{name}"
    loc = server["location"]
    if system:
        sku = {"name": "System", "tier": "System", "capacity": 0}
        kind = "v12.0,system"
        props = {"collation": "SQL_Latin1_General_CP1_CI_AS", "maxSizeBytes": 32212254720, "status": "Online",
                 "databaseId": stable_guid(rid), "creationDate": iso(), "currentServiceObjectiveName": "System0",
                 "requestedServiceObjectiveName": "System0", "defaultSecondaryLocation": "westus",
                 "catalogCollation": "SQL_Latin1_General_CP1_CI_AS", "zoneRedundant": False,
                 "readScale": "Disabled", "currentSku": dict(sku), "currentBackupStorageRedundancy": "Local",
                 "requestedBackupStorageRedundancy": "Local", "isLedgerOn": False,
                 "isInfraEncryptionEnabled": False}
        return targetkit.store(state, rid, f"{NS}/servers/databases", props, loc, tags={}, sku=sku, kind=kind,
                               managedBy=server["id"])
    sku = {"name": "GP_S_Gen5", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 2}
    props = {"collation": "SQL_Latin1_General_CP1_CI_AS", "maxSizeBytes": 34359738368, "status": "Online",
             "databaseId": stable_guid(rid), "creationDate": iso(), "currentServiceObjectiveName": "GP_S_Gen5_2",
             "requestedServiceObjectiveName": "GP_S_Gen5_2", "defaultSecondaryLocation": "westus",
             "catalogCollation": "SQL_Latin1_General_CP1_CI_AS", "zoneRedundant": False, "earliestRestoreDate": iso(),
             "readScale": "Disabled", "currentSku": dict(sku), "currentBackupStorageRedundancy": "Geo",
             "requestedBackupStorageRedundancy": "Geo", "minCapacity": 0.5, "autoPauseDelay": 60,
             "maintenanceConfigurationId": f"/subscriptions/{state.sb.subscription_id}/providers/"
                                           "Microsoft.Maintenance/publicMaintenanceConfigurations/SQL_Default",
             "isLedgerOn": False, "isInfraEncryptionEnabled": False, "availabilityZone": "NoPreference"}
    return targetkit.store(state, rid, f"{NS}/servers/databases", props, loc, tags={}, sku=sku,
                           kind="v12.0,user,vcore,serverless")


def seed_server(state, resource_group, name, databases=(), login="sandboxadmin", password=None, location=None):
    """A logical SQL server with ``master`` plus ``databases``. Returns the server."""
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        rid = targetkit.resource_id(state, resource_group, f"{NS}/servers", name)
        props = {"administratorLogin": login, "version": "12.0", "state": "Ready",
                 "fullyQualifiedDomainName": f"{name}.database.windows.net", "privateEndpointConnections": [],
                 "minimalTlsVersion": "1.2", "publicNetworkAccess": "Enabled",
                 "restrictOutboundNetworkAccess": "Disabled"}
        server = targetkit.store(state, rid, f"{NS}/servers", props, location, tags={}, kind="v12.0")
        state.meta_of(rid)["administratorLoginPassword"] = password or (targetkit.new_key(18) + "aA1!")
        _database(state, server, "master", system=True)
        for db in databases:
            _database(state, server, db)
        return server


class ServerHandler(targetkit.TargetHandler):
    type_name = f"{NS}/servers"


class DatabaseHandler(targetkit.TargetHandler):
    type_name = f"{NS}/servers/databases"
    list_by_subscription = False
    list_by_resource_group = False
