# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The target table against the built-in's table, and every configuration key against what fills it:
fetchers run on fake GET bodies through a fake ARM that records every call."""
import re
import string

import pytest

from azext_aks_connection import targets as t
from azext_aks_connection.provider import target as target_ops

# The built-in's SUPPORTED_AUTH_TYPE[RESOURCE.KubernetesCluster] (default first) and
# SUPPORTED_CLIENT_TYPE[aks] (= the WebApp lists), newest _resource_config.py.
WI, SECRET, SP = t.AUTH_WORKLOAD_IDENTITY, t.AUTH_SECRET, t.AUTH_SERVICE_PRINCIPAL
IDENTITY = [WI, SECRET, SP]
DB = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "php", "ruby", "django", "springBoot", "none"]
STORAGE = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "springBoot", "none"]
REDIS = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "springBoot", "none"]
BUILTIN = {
    "app-insights": ([SECRET], ["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "none"]),
    "appconfig": (IDENTITY, ["dotnet", "dotnet-internal", "java", "python", "nodejs", "none"]),
    "cognitiveservices": (IDENTITY, ["dotnet", "python", "none"]),
    "confluent-cloud": ([SECRET], ["dotnet", "dotnet-internal", "java", "python", "go", "springBoot", "none"]),
    "cosmos-cassandra": (IDENTITY, REDIS),
    "cosmos-gremlin": (IDENTITY, ["dotnet", "dotnet-internal", "java", "python", "nodejs", "php", "none"]),
    "cosmos-mongo": (IDENTITY, ["dotnet", "dotnet-internal", "java", "nodejs", "go", "springBoot", "none"]),
    "cosmos-sql": (IDENTITY, STORAGE),
    "cosmos-table": (IDENTITY, STORAGE),
    "eventhub": (IDENTITY, ["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "springBoot",
                            "kafka-springBoot", "none"]),
    "keyvault": ([WI, SP], STORAGE),
    "mongodb-atlas": ([SECRET], DB),
    "mysql": ([SECRET], DB),
    "mysql-flexible": ([SECRET], DB),
    "neon-postgres": ([SECRET], DB),
    "postgres": ([SECRET], DB),
    "postgres-flexible": ([SECRET], DB),
    "redis": (IDENTITY, REDIS),
    "redis-enterprise": ([SECRET], REDIS),
    "servicebus": (IDENTITY, REDIS),
    "signalr": (IDENTITY, ["dotnet", "dotnet-internal", "none"]),
    "sql": ([SECRET], DB),
    "storage-blob": (IDENTITY, STORAGE),
    "storage-file": ([SECRET], ["dotnet", "dotnet-internal", "java", "python", "nodejs", "php", "ruby", "springBoot",
                                "none"]),
    "storage-queue": (IDENTITY, STORAGE),
    "storage-table": (IDENTITY, ["dotnet", "dotnet-internal", "java", "python", "nodejs", "none"]),
    "webpubsub": (IDENTITY, ["dotnet", "dotnet-internal", "java", "python", "nodejs", "none"]),
}

# Every credential value below holds S3CRET, so a rendered value shows whether a credential leaked into a
# key not flagged as one.
S = "S3CRET"
AUTH_VALUES = {
    WI: {"client_id": "cid-0000"},
    SP: {"client_id": "cid-0000", "tenant_id": "tid-0000", "client_secret": f"sp-{S}"},
    t.AUTH_CSI: {"client_id": "cid-csi", "tenant_id": "tid-0000"},
    SECRET: {},
}
USER_VALUES = {"user": "app_user", "password": f"p@ss;w rd'{S}}}", "connection_string":
               f"mongodb+srv://u:{S}@c0.abcd.mongodb.net/?retryWrites=true", "host": "ep-x.eastus2.azure.neon.tech",
               "database": "neondb", "kafka_key": "KKEY", "kafka_secret": f"k-{S}",
               "schema_registry": "https://psrc-x.westus2.azure.confluent.cloud", "schema_key": "SKEY",
               "schema_secret": f"s-{S}"}

_STORAGE_BODY = {"name": "acct", "properties": {"primaryEndpoints": {
    s: f"https://acct.{s}.core.windows.net/" for s in ("blob", "queue", "table", "file")}}}
_COSMOS_BODY = {"name": "acct", "location": "East US", "properties": {
    "documentEndpoint": "https://acct.documents.azure.com:443/", "writeLocations": [{"locationName": "East US"}]}}
_MESSAGING_BODY = {"name": "ns", "properties": {"serviceBusEndpoint": "https://ns.servicebus.windows.net:443/"}}
_SERVER_BODY = {"name": "srv", "properties": {"fullyQualifiedDomainName": "srv.example.database.azure.com"}}
_SB_KEYS = {"primaryConnectionString": "Endpoint=sb://ns.servicebus.windows.net/;"
                                       f"SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={S}"}
_COSMOS_KEYS = {"listKeys": {"primaryMasterKey": f"cosmos-{S}=="},
                "listConnectionStrings": {"connectionStrings": [
                    {"connectionString": f"mongodb://acct:{S}@acct.mongo.cosmos.azure.com:10255/?ssl=true",
                     "description": "Primary MongoDB Connection String"}]}}

# target -> (GET body of the resource, {action: answer}, {id suffix: GET body} of other reads)
FIXTURES = {
    "storage-blob": (_STORAGE_BODY, {"listKeys": {"keys": [{"value": f"st-{S}=="}]}}, {}),
    "storage-queue": (_STORAGE_BODY, {"listKeys": {"keys": [{"value": f"st-{S}=="}]}}, {}),
    "storage-table": (_STORAGE_BODY, {"listKeys": {"keys": [{"value": f"st-{S}=="}]}}, {}),
    "storage-file": (_STORAGE_BODY, {"listKeys": {"keys": [{"value": f"st-{S}=="}]}}, {}),
    "keyvault": ({"name": "kv", "properties": {"vaultUri": "https://kv.vault.azure.net/", "tenantId": "tid"}}, {}, {}),
    "cosmos-sql": (_COSMOS_BODY, _COSMOS_KEYS, {}),
    "cosmos-mongo": (_COSMOS_BODY, _COSMOS_KEYS, {}),
    "cosmos-cassandra": (_COSMOS_BODY, _COSMOS_KEYS, {}),
    "cosmos-gremlin": (_COSMOS_BODY, _COSMOS_KEYS, {}),
    "cosmos-table": (_COSMOS_BODY, _COSMOS_KEYS, {}),
    "eventhub": (_MESSAGING_BODY, {"listKeys": _SB_KEYS}, {}),
    "servicebus": (_MESSAGING_BODY, {"listKeys": _SB_KEYS}, {}),
    "redis": ({"name": "cache", "properties": {"hostName": "cache.redis.cache.windows.net", "sslPort": 6380}},
              {"listKeys": {"primaryKey": f"redis/{S}+="}}, {}),
    "redis-enterprise": ({"name": "re", "properties": {"hostName": "re.eastus.redisenterprise.cache.azure.net"}},
                         {"listKeys": {"primaryKey": f"re-{S}"}}, {"/databases/MyDB": {"properties": {"port": 10000}}}),
    "appconfig": ({"name": "cfg", "properties": {"endpoint": "https://cfg.azconfig.io"}},
                  {"listKeys": {"value": [{"readOnly": True, "connectionString": "Endpoint=ro;Id=r;Secret=RO"},
                                          {"readOnly": False,
                                           "connectionString": f"Endpoint=https://cfg.azconfig.io;Id=i;Secret={S}"}]}},
                  {}),
    "signalr": ({"name": "sr", "properties": {"hostName": "sr.service.signalr.net"}},
                {"listKeys": {"primaryConnectionString": f"Endpoint=https://sr.service.signalr.net;AccessKey={S};"
                                                         "Version=1.0;"}}, {}),
    "webpubsub": ({"name": "wps", "properties": {"hostName": "wps.webpubsub.azure.com"}},
                  {"listKeys": {"primaryConnectionString": f"Endpoint=https://wps.webpubsub.azure.com;AccessKey={S};"
                                                           "Version=1.0;"}}, {}),
    "cognitiveservices": ({"name": "cog", "properties": {"endpoint": "https://cog.cognitiveservices.azure.com/"}},
                          {"listKeys": {"key1": f"cog-{S}", "key2": "other"}}, {}),
    "app-insights": ({"name": "ai", "properties": {"ConnectionString": f"InstrumentationKey={S};IngestionEndpoint=x"}},
                     {}, {}),
    "postgres": (_SERVER_BODY, {}, {}),
    "postgres-flexible": (_SERVER_BODY, {}, {}),
    "mysql": (_SERVER_BODY, {}, {}),
    "mysql-flexible": (_SERVER_BODY, {}, {}),
    "sql": (_SERVER_BODY, {}, {}),
    "neon-postgres": ({"name": "MyOrganization", "properties": {}}, {}, {}),
    "mongodb-atlas": ({"name": "MongoDBAtlasServer", "properties": {}}, {}, {}),
    "confluent-cloud": ({}, {}, {}),
}


class FakeArm:
    """Arm's surface (send/get/post): answers from the fixtures, records (method, path, secret)."""
    _base = "https://management.example"

    def __init__(self, actions=None, reads=None):
        self.actions, self.reads, self.calls = actions or {}, reads or {}, []

    # pylint: disable-next=unused-argument
    def send(self, method, path, api_version=None, body=None, secret=False, headers=None):
        self.calls.append((method, path, secret))
        if method == "POST":
            return 200, self.actions[path.rsplit("/", 1)[1]], {}
        for suffix, answer in self.reads.items():
            if path.endswith(suffix):
                return 200, answer, {}
        raise AssertionError(f"unexpected {method} {path}")

    def get(self, resource_id, api_version):
        return self.send("GET", resource_id, api_version)[1]

    def post(self, resource_id, action, api_version, body=None, secret=False):
        return self.send("POST", resource_id + "/" + action, api_version, body=body, secret=secret)[1]


def example_id(target):
    """The target's id template filled with its name arguments' placeholders."""
    fields = {"subscription": "00000000-0000-0000-0000-000000000000", "target_resource_group": "TargetRG"}
    fields.update({a.dest: a.placeholder for a in target.name_args})
    return target.id_template.format(**fields), fields


def fetch(name, with_secret):
    target = t.TARGETS[name]
    body, actions, reads = FIXTURES[name]
    arm = FakeArm(actions, reads)
    tid, _ = example_id(target)
    return target_ops.fetch_values(arm, target, tid, body, with_secret=with_secret), arm


def auths(target):
    return list(target.auth_types) + ([t.AUTH_CSI] if target.csi else [])


def values_for(name, auth):
    fetched, _ = fetch(name, with_secret=auth == SECRET)
    values = dict(fetched)
    values.update(AUTH_VALUES[auth])
    if auth == SECRET:
        values.update({v.field: USER_VALUES[v.field] for v in t.TARGETS[name].user_values})
    return values


def secret_fields(name):
    """Fields holding a credential: what the fetcher adds only with the secret, the SP secret, the user's
    credential values."""
    with_key, _ = fetch(name, True)
    without, _ = fetch(name, False)
    out = {f for f in with_key if f not in without} | {"client_secret"}
    return out | {v.field for v in t.TARGETS[name].user_values if v.credential}


def test_every_target_of_the_builtin_is_in_the_table():
    assert sorted(t.TARGETS) == sorted(BUILTIN)
    assert len(t.TARGETS) == 27
    for name, target in t.TARGETS.items():
        assert target.name == name
        assert isinstance(target.family, t.Family) and target.secret_source, name    # its fetcher, in its module


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_auth_types_default_first_and_client_types_as_the_builtin(name):
    target = t.TARGETS[name]
    auth_types, client_types = BUILTIN[name]
    assert target.auth_types == auth_types
    assert target.auth_types[0] == auth_types[0]          # the default
    assert target.client_types == client_types


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_id_template_parses_its_own_example(name):
    target = t.TARGETS[name]
    placeholders = {f for _, f, _, _ in string.Formatter().parse(target.id_template) if f}
    assert placeholders - {"subscription", "target_resource_group"} == {a.dest for a in target.name_args}
    tid, fields = example_id(target)
    m = target.id_regex().match(tid)
    assert m, tid
    assert m.groupdict() == {k: v for k, v in fields.items() if k in placeholders}
    assert target.id_regex().match(tid.lower()), "ARM ids are case-insensitive"
    assert not target.id_regex().match(tid + "/extra")
    rid = target_ops.resource_id(target, tid)
    if target.resource_type is None:
        assert rid is None and target.service_type != "AzureResource"
        return
    # The resource holding keys and firewall is the id's prefix of the resource type's depth.
    provider_part = rid.split("/providers/", 1)[1]
    ns, *types = target.resource_type.split("/")
    segments = provider_part.split("/")
    assert segments[0].lower() == ns.lower() and [s.lower() for s in segments[1::2]] == [x.lower() for x in types]
    assert tid.lower().startswith(rid.lower())


def test_resource_id_finds_the_server_cluster_and_account():
    sub = "/subscriptions/s/resourceGroups/rg/providers"
    cases = {
        "postgres-flexible": (f"{sub}/Microsoft.DBforPostgreSQL/flexibleServers/pg/databases/db",
                              f"{sub}/Microsoft.DBforPostgreSQL/flexibleServers/pg"),
        "redis-enterprise": (f"{sub}/Microsoft.Cache/redisEnterprise/re/databases/default",
                             f"{sub}/Microsoft.Cache/redisEnterprise/re"),
        "cosmos-gremlin": (f"{sub}/Microsoft.DocumentDB/databaseAccounts/a/gremlinDatabases/d/graphs/g",
                           f"{sub}/Microsoft.DocumentDB/databaseAccounts/a"),
        "storage-blob": (f"{sub}/Microsoft.Storage/storageAccounts/st/blobServices/default",
                         f"{sub}/Microsoft.Storage/storageAccounts/st"),
        "keyvault": (f"{sub}/Microsoft.KeyVault/vaults/kv", f"{sub}/Microsoft.KeyVault/vaults/kv"),
    }
    for name, (tid, rid) in cases.items():
        assert target_ops.resource_id(t.TARGETS[name], tid) == rid


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_config_key_field_is_produced(name):
    """For every auth type and client type: each field a key reads comes from the fetcher, the target id,
    the auth or the user; a literal needs nothing. Every key renders."""
    target = t.TARGETS[name]
    for auth in auths(target):
        values = values_for(name, auth)
        for client in target.client_types:
            keys = target.keys_for(auth, client)
            assert keys, (name, auth, client)
            assert len({k.key for k in keys}) == len(keys), (name, auth, client)
            for k in keys:
                missing = [f for f in t.fields_of(k.field) if f not in values]
                assert not missing, (name, auth, client, k.key, missing)
                value = t.config_value(k, values)
                assert isinstance(value, str) and value, (name, auth, client, k.key)
        assert set(target.config_keys) <= set(auths(target)), name
        for per_client in target.config_keys.values():
            assert set(per_client) <= set(target.client_types) | {"default"}, name


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_without_secret_no_keys_api_is_called(name):
    _, arm = fetch(name, with_secret=False)
    assert all(method == "GET" and not secret for method, _, secret in arm.calls), arm.calls
    _, arm = fetch(name, with_secret=True)
    assert all(secret for method, _, secret in arm.calls if method == "POST"), "keys answers stay out of logs"
    assert all(S not in str(v) for v in fetch(name, with_secret=False)[0].values())


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_credential_flag_on_every_key_that_holds_a_credential(name):
    target = t.TARGETS[name]
    secrets = secret_fields(name)
    for auth in auths(target):
        values = values_for(name, auth)
        for client in target.client_types:
            for k in target.keys_for(auth, client):
                holds = bool(set(t.fields_of(k.field)) & secrets)
                assert k.credential == holds, (name, auth, client, k.key)
                assert (S in t.config_value(k, values)) == k.credential, (name, auth, client, k.key)


def test_user_values_declare_what_the_user_passes():
    db = {"mysql", "mysql-flexible", "postgres", "postgres-flexible", "sql", "neon-postgres"}
    for name in db:
        by_key = {(v.option, v.key): v for v in t.TARGETS[name].user_values}
        assert by_key[("--secret", "name")].field == "user" and not by_key[("--secret", "name")].credential
        assert by_key[("--secret", "secret")].field == "password" and by_key[("--secret", "secret")].credential
    neon = {v.option: v.field for v in t.TARGETS["neon-postgres"].user_values if v.key is None}
    assert neon == {"--server": "host", "--database": "database"}
    atlas = t.TARGETS["mongodb-atlas"].user_values
    assert [(v.option, v.key, v.field, v.credential) for v in atlas] == [
        ("--secret", "secret", "connection_string", True)]
    kafka = {v.option for v in t.TARGETS["confluent-cloud"].user_values}
    assert kafka | {a.options[0] for a in t.TARGETS["confluent-cloud"].name_args} == {
        "--bootstrap-server", "--kafka-key", "--kafka-secret", "--schema-registry", "--schema-key", "--schema-secret"}
    for name, target in t.TARGETS.items():
        assert bool(target.user_values) == (name in db | {"mongodb-atlas", "confluent-cloud"}), name


def test_default_auth_type():
    assert t.default_auth_type(t.TARGETS["storage-file"]) == SECRET
    assert t.default_auth_type(t.TARGETS["redis"]) == SECRET          # identity ones need a value
    assert t.default_auth_type(t.TARGETS["keyvault"]) is None
    assert t.default_auth_type(t.TARGETS["postgres-flexible"]) is None  # --secret name=… secret=… needed
    assert t.default_auth_type(t.TARGETS["confluent-cloud"]) == SECRET  # its values have their own options


def test_roles_are_builtin_roles_with_their_guids():
    guid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    assert all(guid.match(g) for g in t.BUILTIN_ROLES.values())
    for name, target in t.TARGETS.items():
        for role in target.roles + target.csi_roles:
            assert role in t.BUILTIN_ROLES, (name, role)
        identity = set(target.auth_types) & set(t.IDENTITY_AUTH)
        assert bool(target.roles or target.data_access_policy) == bool(identity), name


def test_firewall_mechanism_for_every_target():
    from azext_aks_connection.provider import firewall
    for name, target in t.TARGETS.items():
        assert isinstance(target.family, t.Family) and target.firewall, name
        if target.firewall == "no-ip-rules":
            assert name in firewall.NO_IP_RULES
        else:       # rules the generic ensure / remove know how to write: one list, or one rule per address
            assert bool(target.family.rule_list) != target.family.per_address, name


def _render(name, auth, client):
    return {k.key: t.config_value(k, values_for(name, auth)) for k in t.TARGETS[name].keys_for(auth, client)}


def test_rendered_values_quote_only_what_needs_quoting():
    pw = USER_VALUES["password"]
    py = _render("postgres-flexible", SECRET, "python")["AZURE_POSTGRESQL_CONNECTIONSTRING"]
    assert py == ("dbname=MyDB host=srv.example.database.azure.com port=5432 sslmode=require user=app_user "
                  "password='p@ss;w rd\\'S3CRET}'")
    dotnet = _render("postgres-flexible", SECRET, "dotnet")["AZURE_POSTGRESQL_CONNECTIONSTRING"]
    assert dotnet.endswith(f'User Id=app_user;Password="{pw}";')
    java = _render("postgres-flexible", SECRET, "java")["AZURE_POSTGRESQL_CONNECTIONSTRING"]
    assert java.endswith("&user=app_user&password=p%40ss%3Bw%20rd%27S3CRET%7D")
    single = _render("postgres", SECRET, "none")["AZURE_POSTGRESQL_USERNAME"]
    assert single == "app_user@MyServer"
    sql = _render("sql", SECRET, "java")["AZURE_SQL_CONNECTIONSTRING"]
    assert sql.endswith(";user=app_user;password={p@ss;w rd'S3CRET}}};")
    redis = _render("redis", SECRET, "python")["AZURE_REDIS_CONNECTIONSTRING"]
    assert redis == "rediss://:redis%2FS3CRET%2B%3D@cache.redis.cache.windows.net:6380/MyDB"
    table = _render("cosmos-table", SECRET, "none")["AZURE_COSMOS_CONNECTIONSTRING"]
    assert table == ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=cosmos-S3CRET==;"
                     "TableEndpoint=https://acct.table.cosmos.azure.com:443/;")
    wi = _render("cosmos-sql", WI, "none")
    assert wi["AZURE_COSMOS_LISTCONNECTIONSTRINGURL"] == (
        "https://management.example/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/TargetRG/"
        "providers/Microsoft.DocumentDB/databaseAccounts/MyAccount/listConnectionStrings?api-version=2021-04-15")
    assert wi["AZURE_COSMOS_SCOPE"] == "https://management.azure.com/.default"
    gremlin = _render("cosmos-gremlin", SECRET, "none")
    assert gremlin["AZURE_COSMOS_USERNAME"] == "/dbs/MyDB/colls/MyGraph"
    assert gremlin["AZURE_COSMOS_HOSTNAME"] == "acct.gremlin.cosmos.azure.com"
    re_ = _render("redis-enterprise", SECRET, "none")
    assert (re_["AZURE_REDIS_HOST"], re_["AZURE_REDIS_PORT"], re_["AZURE_REDIS_DATABASE"]) == (
        "re.eastus.redisenterprise.cache.azure.net", "10000", "0")
    sr = _render("signalr", WI, "none")["AZURE_SIGNALR_CONNECTIONSTRING"]
    assert sr == "Endpoint=https://sr.service.signalr.net;AuthType=aad;ClientId=cid-0000;Version=1.0;"
    eh = _render("eventhub", WI, "kafka-springBoot")
    assert eh["spring.kafka.bootstrap-servers"] == "ns.servicebus.windows.net"
    kafka = _render("confluent-cloud", SECRET, "none")
    assert kafka["AZURE_CONFLUENTCLOUDKAFKA_BOOTSTRAPSERVER"] == "pkc-xxxx.eastus.azure.confluent.cloud:9092"
    assert kafka["AZURE_CONFLUENTCLOUDSCHEMAREGISTRY_USERINFO"] == "SKEY:s-S3CRET"
    assert _render("mongodb-atlas", SECRET, "java")["MONGODBATLAS_CLUSTER_CONNECTIONSTRING"].startswith(
        "jdbc:mongodb+srv://")
    assert _render("neon-postgres", SECRET, "nodejs")["NEON_POSTGRESQL_HOST"] == "ep-x.eastus2.azure.neon.tech"


def test_configurations_and_missing_values():
    rows = t.configurations(t.TARGETS["redis"], WI, "python", values_for("redis", WI))
    assert rows == [{"name": "AZURE_REDIS_HOST", "value": "cache.redis.cache.windows.net", "credential": False},
                    {"name": "AZURE_REDIS_CLIENTID", "value": "cid-0000", "credential": False}]
    with pytest.raises(KeyError, match="password"):
        t.config_value(t.ConfigKey("X", "{user}:{password}", True), {"user": "u"})


def test_local_auth_disabled_refuses_secret_auth():
    from azure.cli.core.azclierror import ValidationError
    body, actions, reads = FIXTURES["appconfig"]
    body = dict(body, properties=dict(body["properties"], disableLocalAuth=True))
    target = t.TARGETS["appconfig"]
    tid, _ = example_id(target)
    with pytest.raises(ValidationError, match="local auth is disabled"):
        target_ops.fetch_values(FakeArm(actions, reads), target, tid, body, with_secret=True)
    assert target_ops.fetch_values(FakeArm(actions, reads), target, tid, body, with_secret=False)["endpoint"]


def test_non_arm_target_reads_nothing():
    target = t.TARGETS["confluent-cloud"]
    arm = FakeArm()
    assert target_ops.get_target(arm, target, "pkc-1.eastus.azure.confluent.cloud:9092") == {}
    values = target_ops.fetch_values(arm, target, "pkc-1.eastus.azure.confluent.cloud:9092", {})
    assert values == {"bootstrap_server": "pkc-1.eastus.azure.confluent.cloud:9092"} and not arm.calls
