# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.DocumentDB (Cosmos DB): databaseAccounts of the five APIs and the child resources the
cosmos-* target ids name.

  GET   databaseAccounts/{a}                       documentEndpoint, kind, capabilities, ipRules, locations, ...
  PATCH databaseAccounts/{a}                       long-running: 200 + Azure-AsyncOperation + Location, the
                                                   account in provisioningState Updating with its old
                                                   properties; the patch lands when the operation ends. A
                                                   second write while one runs gets 412 PreconditionFailed.
  POST  databaseAccounts/{a}/listKeys              primaryMasterKey, secondaryMasterKey,
                                                   primaryReadonlyMasterKey, secondaryReadonlyMasterKey
  POST  databaseAccounts/{a}/readonlykeys          primaryReadonlyMasterKey, secondaryReadonlyMasterKey (GET too)
  POST  databaseAccounts/{a}/listConnectionStrings {"connectionStrings": [{connectionString, description,
                                                   keyKind, type}]}
  GET   .../sqlDatabases/{d} | mongodbDatabases/{d} | cassandraKeyspaces/{k} | gremlinDatabases/{d}
        [/graphs/{g}] | tables/{t}                 {"properties": {"resource": {"id", "_rid", ...}}}; a child
                                                   of another API than the account's answers 400, as Azure
The firewall is the account's ``properties.ipRules [{ipAddressOrRange}]`` (plus
``isVirtualNetworkFilterEnabled`` / ``virtualNetworkRules``), written with the PATCH.
"""
import copy
import hashlib
import time
from urllib.parse import quote

from sandbox.arm import common, targetkit
from sandbox.arm.common import arm_error, stable_guid
from sandbox.core import Response

NS = "Microsoft.DocumentDB"
ACCOUNT = f"{NS}/databaseAccounts"
API_VERSIONS = ["2026-03-15", "2024-11-15", "2024-08-15", "2024-05-15", "2024-02-15-preview", "2023-11-15",
                "2023-09-15", "2023-04-15", "2022-11-15", "2022-08-15", "2021-10-15", "2021-04-15", "2021-01-15",
                "2019-12-12"]

# api -> (kind, capability, EnabledApiTypes, defaultExperience tag)
APIS = {
    "sql": ("GlobalDocumentDB", None, "Sql", "Core (SQL)"),
    "mongo": ("MongoDB", "EnableMongo", "MongoDB", "Azure Cosmos DB for MongoDB API"),
    "cassandra": ("GlobalDocumentDB", "EnableCassandra", "Cassandra", "Cassandra"),
    "gremlin": ("GlobalDocumentDB", "EnableGremlin", "Gremlin, Sql", "Gremlin (graph)"),
    "table": ("GlobalDocumentDB", "EnableTable", "Table, Sql", "Azure Table"),
}
# child type -> the API whose accounts have it
CHILD_APIS = {"sqlDatabases": "sql", "mongodbDatabases": "mongo", "cassandraKeyspaces": "cassandra",
              "gremlinDatabases": "gremlin", "gremlinDatabases/graphs": "gremlin", "tables": "table"}
API_LABEL = {"sql": "Sql", "mongo": "MongoDB", "cassandra": "Cassandra", "gremlin": "Gremlin", "table": "Table"}


def register(registry):
    registry.add(AccountHandler)
    for child, api in CHILD_APIS.items():
        registry.add(ChildHandler, type_name=f"{ACCOUNT}/{child}", api=api)
    registry.namespace(NS, {"operations": API_VERSIONS, "databaseAccountNames": API_VERSIONS,
                            "locations": API_VERSIONS, "locations/operationsStatus": API_VERSIONS})


def api_of(account):
    """The API of an account: sql | mongo | cassandra | gremlin | table."""
    if (account.get("kind") or "").lower() == "mongodb":
        return "mongo"
    caps = {c.get("name", "").lower() for c in (account.get("properties") or {}).get("capabilities") or []}
    for api, (_, cap, _, _) in APIS.items():
        if cap and cap.lower() in caps:
            return api
    return "sql"


def _location_entry(name, location):
    return {"id": f"{name}-{location}", "locationName": targetkit.region_name(location),
            "documentEndpoint": f"https://{name}-{location}.documents.azure.com:443/",
            "provisioningState": "Succeeded", "failoverPriority": 0, "isZoneRedundant": False}


def seed_account(state, resource_group, name, api="sql", location=None):
    """A Cosmos DB account of ``api`` (sql | mongo | cassandra | gremlin | table) with random keys."""
    kind, cap, enabled, experience = APIS[api]
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        rid = targetkit.resource_id(state, resource_group, ACCOUNT, name)
        loc = _location_entry(name, location)
        props = {
            "provisioningState": "Succeeded",
            "documentEndpoint": f"https://{name}.documents.azure.com:443/",
            "publicNetworkAccess": "Enabled", "enableAutomaticFailover": False,
            "enableMultipleWriteLocations": False, "enablePartitionKeyMonitor": False,
            "isVirtualNetworkFilterEnabled": False, "virtualNetworkRules": [], "EnabledApiTypes": enabled,
            "disableKeyBasedMetadataWriteAccess": False, "enableFreeTier": False, "enableAnalyticalStorage": False,
            "analyticalStorageConfiguration": {"schemaType": "WellDefined"}, "instanceId": stable_guid(rid),
            "createMode": "Default", "databaseAccountOfferType": "Standard", "defaultIdentity": "FirstPartyIdentity",
            "networkAclBypass": "None", "disableLocalAuth": False, "enablePartitionMerge": False,
            "minimalTlsVersion": "Tls12",
            "consistencyPolicy": {"defaultConsistencyLevel": "Session", "maxIntervalInSeconds": 5,
                                  "maxStalenessPrefix": 100},
            "configurationOverrides": {},
            "writeLocations": [dict(loc)], "readLocations": [dict(loc)], "locations": [dict(loc)],
            "failoverPolicies": [{"id": loc["id"], "locationName": loc["locationName"], "failoverPriority": 0}],
            "cors": [], "capabilities": [{"name": cap}] if cap else [], "ipRules": [],
            "backupPolicy": {"type": "Periodic", "periodicModeProperties": {
                "backupIntervalInMinutes": 240, "backupRetentionIntervalInHours": 8,
                "backupStorageRedundancy": "Geo"}},
            "networkAclBypassResourceIds": [],
        }
        if api == "mongo":
            props["apiProperties"] = {"serverVersion": "4.2"}
        res = targetkit.store(state, rid, ACCOUNT, props, targetkit.region_name(location),
                              tags={"defaultExperience": experience, "hidden-cosmos-mmspecial": ""},
                              kind=kind, identity={"type": "None"})
        keys = [targetkit.new_key(64) for _ in range(4)]
        state.meta_of(rid)["keys"] = dict(zip(("primaryMasterKey", "secondaryMasterKey",
                                               "primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"), keys))
        return res


def _rid(resource_id):
    return hashlib.sha256(resource_id.lower().encode()).digest()[:6].hex()


def seed_child(state, account_id, child_path):
    """A child of an account: ``child_path`` like ``sqlDatabases/orders`` or ``gremlinDatabases/g/graphs/orders``."""
    with state.lock:
        rid = f"{account_id}/{child_path}"
        segs = child_path.split("/")
        type_name = ACCOUNT + "/" + "/".join(segs[0::2])
        name = segs[-1]
        resource = {"id": name, "_rid": _rid(rid), "_ts": int(time.time()), "_etag": f'"{stable_guid(rid)}"'}
        if segs[-2] in ("sqlDatabases", "gremlinDatabases"):
            resource.update({"_self": f"dbs/{_rid(rid)}/", "_colls": "colls/", "_users": "users/"})
        if segs[-2] == "graphs":
            resource.update({"indexingPolicy": {"indexingMode": "consistent", "automatic": True,
                                                "includedPaths": [{"path": "/*"}],
                                                "excludedPaths": [{"path": "/\"_etag\"/?"}]},
                             "partitionKey": {"paths": ["/pk"], "kind": "Hash", "version": 2},
                             "_self": f"dbs/{_rid(rid)}/colls/{_rid(rid)}/"})
        if segs[-2] == "mongodbDatabases":
            resource = {"id": name}
        return targetkit.store(state, rid, type_name, {"resource": resource})


def connection_strings(name, api, keys):
    out = []
    sql = f"https://{name}.documents.azure.com:443/"
    pairs = (("Primary", "primaryMasterKey", "Primary"), ("Secondary", "secondaryMasterKey", "Secondary"),
             ("Primary Read-Only", "primaryReadonlyMasterKey", "PrimaryReadonly"),
             ("Secondary Read-Only", "secondaryReadonlyMasterKey", "SecondaryReadonly"))
    if api == "mongo":
        for label, key, kind in pairs:
            out.append({"connectionString": f"mongodb://{name}:{quote(keys[key], safe='')}@{name}.mongo.cosmos.azure"
                                            f".com:10255/?ssl=true&replicaSet=globaldb&retrywrites=false"
                                            f"&maxIdleTimeMS=120000&appName=@{name}@",
                        "description": f"{label} MongoDB Connection String", "keyKind": kind, "type": "MongoDB"})
        return out
    for label, key, kind in pairs:
        out.append({"connectionString": f"AccountEndpoint={sql};AccountKey={keys[key]};",
                    "description": f"{label} SQL Connection String", "keyKind": kind, "type": "Sql"})
    if api == "table":
        for label, key, kind in pairs:
            out.append({"connectionString": f"DefaultEndpointsProtocol=https;AccountName={name};AccountKey="
                                            f"{keys[key]};TableEndpoint=https://{name}.table.cosmos.azure.com:443/;",
                        "description": f"{label} Table Connection String", "keyKind": kind, "type": "Table"})
    return out


class AccountHandler(targetkit.TargetHandler):
    type_name = ACCOUNT
    methods = frozenset({"GET", "PATCH"})
    api_versions = tuple(API_VERSIONS)
    actions = {"listkeys": "list_keys", "readonlykeys": "readonly_keys",
               "listconnectionstrings": "list_connection_strings"}
    PATCHABLE = ("tags", "identity")

    def busy_error(self, res):
        return arm_error(412, "PreconditionFailed",
                         f"There is already an operation in progress which requires exclusive lock on this service "
                         f"{res['name']}. Please retry the operation after sometime.")

    def patch(self, req, ref, body):
        props = copy.deepcopy(body.get("properties") or {})
        for rule in props.get("ipRules") or []:
            if not isinstance(rule, dict) or not rule.get("ipAddressOrRange"):
                raise arm_error(400, "BadRequest", "Each ipRules entry needs ipAddressOrRange (an IPv4 address or "
                                                   "CIDR range).")
        for k in ("provisioningState", "documentEndpoint", "instanceId", "writeLocations", "readLocations"):
            props.pop(k, None)
        with self.state.lock:
            res = self.require(ref)
            self.require_ready(res)
            top = {k: copy.deepcopy(body[k]) for k in self.PATCHABLE if k in body}

            def finish(cur):
                before = copy.deepcopy(cur)
                for k, v in top.items():
                    cur[k] = v
                cur["properties"].update(props)
                targetkit.bump_if_changed(before, cur, req, self.sb)

            op = targetkit.start_lro(self, req, res, finish, status_base=self._status_base(ref, res),
                                     location_header=True, status_segment="operationsStatus",
                                     kind="databaseAccounts")
            return Response(200, self.render(res, req), self.lro.headers(req, op, location=True))

    @staticmethod
    def _status_base(ref, res):
        return f"/subscriptions/{ref.subscription}/providers/{NS}/locations/" \
               f"{res['location'].replace(' ', '').lower()}"

    def _keys(self, ref):
        return dict(self.state.meta_of(ref.id).get("keys") or {})

    def list_keys(self, req, ref):
        with self.state.lock:
            self.require(ref)
            return Response(200, self._keys(ref))

    def readonly_keys(self, req, ref):
        with self.state.lock:
            self.require(ref)
            keys = self._keys(ref)
            return Response(200, {k: keys[k] for k in ("primaryReadonlyMasterKey", "secondaryReadonlyMasterKey")})

    def list_connection_strings(self, req, ref):
        with self.state.lock:
            res = self.require(ref)
            return Response(200, {"connectionStrings": connection_strings(res["name"], api_of(res), self._keys(ref))})


class ChildHandler(targetkit.TargetHandler):
    """A read-only child (database, keyspace, graph, table) of an account of the matching API."""

    type_name = f"{ACCOUNT}/sqlDatabases"
    api_versions = tuple(API_VERSIONS)
    list_by_subscription = False
    list_by_resource_group = False
    api = "sql"

    def _check_api(self, ref_id):
        ref = common.parse_path(ref_id)
        account_id = ref.id if len(ref.types) == 1 else "/".join(ref.id.split("/")[:9])
        account = self.state.raw(account_id)
        if account is not None and api_of(account) != self.api:
            raise arm_error(400, "BadRequest", f"Requests for API {API_LABEL[self.api].lower()} are not supported "
                                               f"for this account.")

    def get(self, req, ref):
        self._check_api(ref.id)
        return super().get(req, ref)

    def list_children(self, req, parent_id):
        self._check_api(parent_id)
        with self.state.lock:
            items = [r for r in self.state.under(parent_id)
                     if r.get("type", "").lower() == self.type_name.lower()
                     and r["id"].lower().rsplit("/", 2)[0] == parent_id.lower()]
        return self.list(req, sorted(items, key=lambda r: r["name"].lower()))
