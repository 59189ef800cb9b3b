# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.DBforPostgreSQL and Microsoft.DBforMySQL: flexible servers (postgres-flexible, mysql-flexible)
and single servers (postgres, mysql), their databases and firewall rules.

  GET    {flexibleServers|servers}/{s}                         fullyQualifiedDomainName, administratorLogin,
                                                               version, state / userVisibleState, network, ...
  GET    {flexibleServers|servers}/{s}/databases[/{d}]         charset, collation
  PUT    {flexibleServers|servers}/{s}/firewallRules/{r}       {"properties": {"startIpAddress", "endIpAddress"}}:
                                                               long-running, 202 + Azure-AsyncOperation
                                                               (.../azureAsyncOperation/{id}) + Location
                                                               (.../operationResults/{id}); the rule is there
                                                               when the operation ends
  DELETE {flexibleServers|servers}/{s}/firewallRules/{r}       202, the same way (204 when absent)
  GET    {flexibleServers|servers}/{s}/firewallRules[/{r}]
There is no keys API: the password is the user's (``--secret name=.. secret=..``); the sandbox keeps the
seeded administrator password beside the server (``meta``) and lists it in the seeds document.
"""
from sandbox.arm import targetkit
from sandbox.arm.common import iso

PG, MY = "Microsoft.DBforPostgreSQL", "Microsoft.DBforMySQL"
FLEX_VERSIONS = {
    # + the versions the shipped SDKs send: azure-mgmt-postgresqlflexibleservers 2026-04-01-preview,
    # azure-mgmt-mysqlflexibleservers 2025-12-01-preview (a version an SDK ships is one ARM routes).
    PG: ["2026-04-01-preview", "2025-08-01", "2025-06-01-preview", "2024-11-01-preview", "2024-08-01",
         "2024-03-01-preview", "2023-12-01-preview", "2023-06-01-preview", "2023-03-01-preview", "2022-12-01",
         "2022-03-08-preview", "2021-06-01"],
    MY: ["2025-12-01-preview", "2024-02-01-preview", "2023-12-30", "2023-12-01-preview", "2023-10-01-preview",
         "2023-06-30", "2023-06-01-preview", "2022-09-30-preview", "2022-01-01", "2021-12-01-preview", "2021-05-01"],
}
SINGLE_VERSIONS = ["2020-01-01", "2018-06-01", "2017-12-01-preview", "2017-12-01"]
DNS = {PG: "postgres.database.azure.com", MY: "mysql.database.azure.com"}
SYSTEM_DATABASES = {("flexibleServers", PG): [("postgres", "UTF8", "en_US.utf8"),
                                              ("azure_maintenance", "UTF8", "en_US.utf8"),
                                              ("azure_sys", "UTF8", "en_US.utf8")],
                    ("flexibleServers", MY): [("information_schema", "utf8mb3", "utf8mb3_general_ci"),
                                              ("mysql", "utf8mb4", "utf8mb4_0900_ai_ci"),
                                              ("performance_schema", "utf8mb4", "utf8mb4_0900_ai_ci"),
                                              ("sys", "utf8mb4", "utf8mb4_0900_ai_ci")],
                    ("servers", PG): [("postgres", "UTF8", "English_United States.1252"),
                                      ("azure_maintenance", "UTF8", "English_United States.1252"),
                                      ("azure_sys", "UTF8", "English_United States.1252")],
                    ("servers", MY): [("information_schema", "utf8", "utf8_general_ci"),
                                      ("mysql", "latin1", "latin1_swedish_ci"),
                                      ("performance_schema", "utf8", "utf8_general_ci"),
                                      ("sys", "utf8", "utf8_general_ci")]}
USER_DB_CHARSET = {("flexibleServers", PG): ("UTF8", "en_US.utf8"),
                   ("flexibleServers", MY): ("utf8mb4", "utf8mb4_0900_ai_ci"),
                   ("servers", PG): ("UTF8", "English_United States.1252"),
                   ("servers", MY): ("utf8", "utf8_general_ci")}


def register(registry):
    for ns in (PG, MY):
        for kind, versions in (("flexibleServers", FLEX_VERSIONS[ns]), ("servers", SINGLE_VERSIONS)):
            attrs = {"api_versions": tuple(versions)}
            registry.add(ServerHandler, type_name=f"{ns}/{kind}", **attrs)
            registry.add(DatabaseHandler, type_name=f"{ns}/{kind}/databases", **attrs)
            registry.add(targetkit.FirewallRuleHandler, type_name=f"{ns}/{kind}/firewallRules", long_running=True,
                         **attrs)
        registry.namespace(ns, {"operations": FLEX_VERSIONS[ns], "locations/capabilities": FLEX_VERSIONS[ns],
                                "locations/azureAsyncOperation": FLEX_VERSIONS[ns],
                                "locations/operationResults": FLEX_VERSIONS[ns]})


def _server_props(ns, kind, name, login, location):
    fqdn = f"{name}.{DNS[ns]}"
    if kind == "servers":
        return {"administratorLogin": login,
                "storageProfile": {"storageMB": 5120, "backupRetentionDays": 7, "geoRedundantBackup": "Disabled",
                                   "storageAutogrow": "Enabled"},
                "version": "11" if ns == PG else "5.7", "sslEnforcement": "Enabled", "minimalTlsVersion": "TLS1_2",
                "userVisibleState": "Ready", "fullyQualifiedDomainName": fqdn, "earliestRestoreDate": iso(),
                "replicationRole": "None", "masterServerId": "", "replicaCapacity": 5, "byokEnforcement": "Disabled",
                "privateEndpointConnections": [], "infrastructureEncryption": "Disabled",
                "publicNetworkAccess": "Enabled"}
    props = {"administratorLogin": login, "fullyQualifiedDomainName": fqdn, "state": "Ready",
             "availabilityZone": "1", "network": {"publicNetworkAccess": "Enabled"},
             "highAvailability": {"mode": "Disabled", "state": "NotEnabled"},
             "backup": {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled", "earliestRestoreDate": iso()},
             "maintenanceWindow": {"customWindow": "Disabled", "dayOfWeek": 0, "startHour": 0, "startMinute": 0},
             "dataEncryption": {"type": "SystemManaged"}, "replicationRole": "Primary" if ns == PG else "None",
             "replicaCapacity": 5 if ns == PG else 10}
    if ns == PG:
        props.update({"version": "16", "minorVersion": "4",
                      "storage": {"iops": 120, "tier": "P4", "storageSizeGB": 32, "autoGrow": "Disabled",
                                  "type": ""},
                      "authConfig": {"activeDirectoryAuth": "Disabled", "passwordAuth": "Enabled"},
                      "replica": {"role": "Primary", "capacity": 5}})
    else:
        props.update({"version": "8.0.21",
                      "storage": {"storageSizeGB": 20, "iops": 360, "autoGrow": "Enabled", "autoIoScaling": "Enabled",
                                  "logOnDisk": "Disabled", "storageSku": "Premium_LRS"}})
    return props


def seed_server(state, namespace, kind, resource_group, name, databases=(), login="sandboxadmin", password=None,
                location=None):
    """A server (``kind`` flexibleServers | servers of ``namespace``) with its system databases plus
    ``databases``. Returns the server."""
    ns = PG if namespace.lower() == PG.lower() else MY
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        rid = targetkit.resource_id(state, resource_group, f"{ns}/{kind}", name)
        if kind == "servers":
            sku = {"name": "GP_Gen5_2", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 2}
            where = location
        else:
            sku = {"name": "Standard_B1ms", "tier": "Burstable"}
            where = targetkit.region_name(location)
        res = targetkit.store(state, rid, f"{ns}/{kind}", _server_props(ns, kind, name, login, location), where,
                              tags={}, sku=sku)
        state.meta_of(rid)["administratorLoginPassword"] = password or (targetkit.new_key(18) + "aA1!")
        charset, collation = USER_DB_CHARSET[(kind, ns)]
        for db, cs, coll in SYSTEM_DATABASES[(kind, ns)] + [(d, charset, collation) for d in databases]:
            targetkit.store(state, f"{rid}/databases/{db}", f"{ns}/{kind}/databases",
                            {"charset": cs, "collation": coll})
        return res


class ServerHandler(targetkit.TargetHandler):
    type_name = f"{PG}/flexibleServers"


class DatabaseHandler(targetkit.TargetHandler):
    type_name = f"{PG}/flexibleServers/databases"
    list_by_subscription = False
    list_by_resource_group = False
