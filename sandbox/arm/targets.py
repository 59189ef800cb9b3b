# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""One resource per Azure-resource-backed target of ``az aks connection``, by target name.

``TARGET_TEMPLATES`` are the target id templates of the built-in Service Connector
(``_resource_config.TARGET_RESOURCES``), spelt as it spells them; :func:`seed_target` creates what a
template names and returns the filled-in id, the ``--target-id`` a user passes. ARM ids are
case-insensitive, so a GET of that id (or, for redis, of the cache it names) works whatever the case.

neon-postgres and mongodb-atlas take their secret from the user but name an ARM resource, the partner
organization (Neon.Postgres / MongoDB.Atlas, see :mod:`sandbox.arm.marketplace`); the built-in spells their
templates with a fixed placeholder subscription (and, for Neon, a fixed organization) it never reads, so these
two are the extension's templates. confluent-cloud has no ARM resource and is not seeded.
"""
from sandbox.arm import appconfiguration, cache, cognitiveservices, dbservers, documentdb, insights, keyvault
from sandbox.arm import marketplace, messaging, signalrservice, sql, storage

_P = "/subscriptions/{subscription}/resourceGroups/{target_resource_group}/providers/"
TARGET_TEMPLATES = {
    "app-insights": _P + "microsoft.insights/components/{appinsights}",
    "appconfig": _P + "Microsoft.AppConfiguration/configurationStores/{config_store}",
    "cognitiveservices": _P + "Microsoft.CognitiveServices/accounts/{account}",
    "cosmos-cassandra": _P + "Microsoft.DocumentDB/databaseAccounts/{account}/cassandraKeyspaces/{key_space}",
    "cosmos-gremlin": _P + "Microsoft.DocumentDB/databaseAccounts/{account}/gremlinDatabases/{database}/graphs/{graph}",
    "cosmos-mongo": _P + "Microsoft.DocumentDB/databaseAccounts/{account}/mongodbDatabases/{database}",
    "cosmos-sql": _P + "Microsoft.DocumentDB/databaseAccounts/{account}/sqlDatabases/{database}",
    "cosmos-table": _P + "Microsoft.DocumentDB/databaseAccounts/{account}/tables/{table}",
    "eventhub": _P + "Microsoft.EventHub/namespaces/{namespace}",
    "keyvault": _P + "Microsoft.KeyVault/vaults/{vault}",
    "mongodb-atlas": _P + "MongoDB.Atlas/organizations/{server}",
    "mysql": _P + "Microsoft.DBForMySQL/servers/{server}/databases/{database}",
    "mysql-flexible": _P + "Microsoft.DBforMySQL/flexibleServers/{server}/databases/{database}",
    "neon-postgres": _P + "Neon.Postgres/organizations/{organization}",
    "postgres": _P + "Microsoft.DBforPostgreSQL/servers/{server}/databases/{database}",
    "postgres-flexible": _P + "Microsoft.DBforPostgreSQL/flexibleServers/{server}/databases/{database}",
    "redis": _P + "Microsoft.Cache/redis/{server}/databases/{database}",
    "redis-enterprise": _P + "Microsoft.Cache/redisEnterprise/{server}/databases/{database}",
    "servicebus": _P + "Microsoft.ServiceBus/namespaces/{namespace}",
    "signalr": _P + "Microsoft.SignalRService/SignalR/{signalr}",
    "sql": _P + "Microsoft.Sql/servers/{server}/databases/{database}",
    "storage-blob": _P + "Microsoft.Storage/storageAccounts/{account}/blobServices/default",
    "storage-file": _P + "Microsoft.Storage/storageAccounts/{account}/fileServices/default",
    "storage-queue": _P + "Microsoft.Storage/storageAccounts/{account}/queueServices/default",
    "storage-table": _P + "Microsoft.Storage/storageAccounts/{account}/tableServices/default",
    "webpubsub": _P + "Microsoft.SignalRService/WebPubSub/{webpubsub}",
}
NO_ARM_RESOURCE = ("confluent-cloud",)
# A region other than the sandbox's own (sandbox/context.py LOCATION, where its clusters are): a target seeded here
# is reached over the cluster's public egress address (Azure Storage ignores IP rules from its own region).
OTHER_REGION = "westus2"

# The name fields of each template, in order, and the default child names (the first field is the
# resource's own name, given to seed_target).
CHILD_DEFAULTS = {"key_space": "orders", "database": "orders", "graph": "orders", "table": "orders"}
CHILD_DEFAULTS_BY_TARGET = {"redis": {"database": "0"}, "redis-enterprise": {"database": "default"}}


def target_id(state, target, resource_group, name, **children):
    fields = dict(CHILD_DEFAULTS, **CHILD_DEFAULTS_BY_TARGET.get(target, {}))
    fields.update(children)
    name_field = TARGET_TEMPLATES[target].split("{target_resource_group}/providers/")[1].split("{")[1].split("}")[0]
    fields[name_field] = name
    return TARGET_TEMPLATES[target].format(subscription=state.sb.subscription_id,
                                           target_resource_group=resource_group, **fields)


def seed_target(state, target, resource_group, name, location=None, **children):
    """Create the resource(s) ``target``'s id names (``name`` = the account / server / namespace / ...;
    ``children`` = database / key_space / graph / table names, default ``orders``) and return the target
    id, spelt as the built-in's template. Storage targets reuse (or create) the account ``name``."""
    tid = target_id(state, target, resource_group, name, **children)
    fields = dict(CHILD_DEFAULTS, **CHILD_DEFAULTS_BY_TARGET.get(target, {}))
    fields.update(children)
    if target == "app-insights":
        insights.seed_component(state, resource_group, name, location)
    elif target == "appconfig":
        appconfiguration.seed_store(state, resource_group, name, location)
    elif target == "cognitiveservices":
        cognitiveservices.seed_account(state, resource_group, name, location)
    elif target.startswith("cosmos-"):
        api = target.split("-", 1)[1]
        account = documentdb.seed_account(state, resource_group, name, api, location)
        if api == "gremlin":
            documentdb.seed_child(state, account["id"], f"gremlinDatabases/{fields['database']}")
            documentdb.seed_child(state, account["id"],
                                  f"gremlinDatabases/{fields['database']}/graphs/{fields['graph']}")
        else:
            child = {"cassandra": "cassandraKeyspaces/" + fields["key_space"],
                     "mongo": "mongodbDatabases/" + fields["database"], "sql": "sqlDatabases/" + fields["database"],
                     "table": "tables/" + fields["table"]}[api]
            documentdb.seed_child(state, account["id"], child)
    elif target in ("eventhub", "servicebus"):
        # Service Bus: Premium, the tier whose firewall takes IP rules (a Standard one is seeded by tests that
        # need it: messaging.seed_namespace)
        messaging.seed_namespace(state, "Microsoft.EventHub" if target == "eventhub" else "Microsoft.ServiceBus",
                                 resource_group, name, location, sku="Standard" if target == "eventhub" else "Premium")
    elif target == "keyvault":
        if state.get(tid) is None:
            keyvault.seed_vault(state, resource_group, name, True, location, None)
    elif target == "mongodb-atlas":
        marketplace.seed_atlas(state, resource_group, name, location)
    elif target == "neon-postgres":
        marketplace.seed_neon(state, resource_group, name, location)
    elif target in ("mysql", "mysql-flexible", "postgres", "postgres-flexible"):
        ns = dbservers.MY if target.startswith("mysql") else dbservers.PG
        kind = "flexibleServers" if target.endswith("-flexible") else "servers"
        dbservers.seed_server(state, ns, kind, resource_group, name, [fields["database"]], location=location)
    elif target == "sql":
        sql.seed_server(state, resource_group, name, [fields["database"]], location=location)
    elif target == "redis":
        cache.seed_redis(state, resource_group, name, location)
    elif target == "redis-enterprise":
        cache.seed_enterprise(state, resource_group, name, location)
    elif target in ("signalr", "webpubsub"):
        signalrservice.seed_service(state, "SignalR" if target == "signalr" else "WebPubSub", resource_group, name,
                                    location)
    elif target.startswith("storage-"):
        if state.get(state.storage_account_id(resource_group, name)) is None:
            storage.seed_account(state, resource_group, name, None, storage.core_endpoints(name), location, [], {})
    else:
        raise KeyError(f"unknown target {target!r}; known: {sorted(TARGET_TEMPLATES)}")
    return tid
