# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The targets of the sandbox's Service Connector RP whose secret is the user's (sandbox/arm/servicelinker.py): the
databases (postgres, postgres-flexible, mysql, mysql-flexible, sql), Neon Serverless Postgres, MongoDB Atlas and
Apache Kafka on Confluent Cloud. Secret auth only on AKS (azure-cli ``_resource_config.SUPPORTED_AUTH_TYPE
[KubernetesCluster]``; the passwordless extension's workload identity for the databases is not emulated). What the
Secret holds per client type is Microsoft's docs' "Default environment variable names" (MicrosoftDocs azure-docs
``articles/service-connector/how-to-integrate-postgres.md``, ``-mysql.md``, ``-sql-database.md``,
``-neon-postgres.md``, ``-mongodb-atlas.md``, ``-confluent-kafka.md``), never the extension's table.

How the built-in sends them (azure-cli serviceconnector ``custom.py``, ``action.py``, ``_resource_config.py``):

* a database: ``authInfo {"authType": "secret", "name": <user>, "secretInfo": {"secretType": "rawValue",
  "value": <password>}}`` on the database's id;
* mongodb-atlas: the same, ``name`` forced to ``"NA"``, the value the cluster's connection string; the target id
  is the template's, whose subscription is a fixed placeholder (``aaaabbbb-0000-cccc-1111-dddd2222eeee``);
* neon-postgres: the template's fixed id (placeholder subscription, ``testrg``, ``neontest``) and
  ``configurationInfo.additionalConnectionStringProperties {"Server": <host>, "Database": <db>}``;
* confluent-cloud: no target id: two linkers, ``<name>`` with ``targetService {"type": "ConfluentBootstrapServer",
  "endpoint": <bootstrap server>}`` (the Kafka key and secret as name / secret) and ``<name>_schema`` with
  ``{"type": "ConfluentSchemaRegistry", "endpoint": <url>}`` (the registry's key and secret).

The RP cannot read the partner targets (placeholder ids, no ARM resource): it does not check they exist. The user's
password is kept out of every answer (``authInfo.secretInfo`` is null on GET) and out of the request log; it reaches
the Secret only. Single-server (deprecated) logins are ``<user>@<server>``, as the docs show them.
"""

# client type -> how the database's configurations are spelt ("conn": one connection string; a tuple: keys)
PG_CLIENTS = {"java": "jdbc", "springBoot": "spring", "python": "libpq-python", "go": "libpq-go", "php": "libpq",
              "ruby": "libpq", "django": ("NAME", "HOST", "USER", "PASSWORD"),
              "nodejs": ("HOST", "USER", "PASSWORD", "DATABASE", "PORT", "SSL")}
MY_CLIENTS = {"java": "jdbc", "springBoot": "spring", "go": "go", "python": ("NAME", "HOST", "USER", "PASSWORD"),
              "django": ("NAME", "HOST", "USER", "PASSWORD"),
              "nodejs": ("HOST", "USER", "PASSWORD", "DATABASE", "PORT", "SSL"),
              "php": ("DBNAME", "HOST", "PORT", "FLAG", "USERNAME", "PASSWORD"),
              "ruby": ("DATABASE", "HOST", "USERNAME", "PASSWORD", "SSLMODE")}
SQL_CLIENTS = {"java": "jdbc", "springBoot": "spring", "go": "go",
               "python": ("SERVER", "PORT", "DATABASE", "USER", "PASSWORD"),
               "django": ("SERVER", "PORT", "DATABASE", "USER", "PASSWORD"),
               "nodejs": ("SERVER", "PORT", "DATABASE", "USERNAME", "PASSWORD"),
               "php": ("SERVERNAME", "DATABASE", "UID", "PASSWORD"),
               "ruby": ("HOST", "PORT", "DATABASE", "USERNAME", "PASSWORD")}
JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required username='{user}' password='{password}';"


def _server(kind, resource, link, suffix):
    """(host, database, user) of a database target."""
    target_id = link["props"]["targetService"].get("id") or ""
    name = target_id.split("/")[8] if target_id.count("/") >= 8 else resource["name"]
    host = (resource.get("properties") or {}).get("fullyQualifiedDomainName") or f"{name}.{suffix}"
    user = link["user"] or ""
    if kind == "single" and "@" not in user:
        user = f"{user}@{name}"
    return host, target_id.rsplit("/", 1)[-1], user


def _pg(host, db, user, password, style):
    return {"dotnet": f"Server={host};Database={db};Port=5432;Ssl Mode=Require;User Id={user};Password={password};",
            "jdbc": f"jdbc:postgresql://{host}:5432/{db}?sslmode=require&user={user}&password={password}",
            "libpq-python": f"dbname={db} host={host} port=5432 sslmode=require user={user} password={password}",
            "libpq-go": f"host={host} dbname={db} sslmode=require user={user} password={password}",
            "libpq": f"host={host} port=5432 dbname={db} sslmode=require user={user} password={password}"}[style]


def _postgres_values(kind):
    def values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
        if kind == "neon":
            extra = (link["props"].get("configurationInfo") or {}).get("additionalConnectionStringProperties") or {}
            host, db, user = extra.get("Server") or "", extra.get("Database") or "", link["user"] or ""
        else:
            host, db, user = _server(kind, resource, link, "postgres.database.azure.com")
        pw = link["password"]
        style = PG_CLIENTS.get(client_type, "dotnet")
        out = {"NAME": db, "DATABASE": db, "HOST": host, "USER": user, "PASSWORD": pw, "PORT": "5432", "SSL": "true",
               "spring.datasource.url": f"jdbc:postgresql://{host}:5432/{db}?sslmode=require",
               "spring.datasource.username": user, "spring.datasource.password": pw}
        if isinstance(style, str) and style != "spring":
            out["CONNECTIONSTRING"] = _pg(host, db, user, pw, style)
        return out
    return values


def _mysql_values(kind):
    def values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
        host, db, user = _server(kind, resource, link, "mysql.database.azure.com")
        pw = link["password"]
        style = MY_CLIENTS.get(client_type, "dotnet")
        out = {"NAME": db, "DBNAME": db, "DATABASE": db, "HOST": host, "USER": user, "USERNAME": user, "PASSWORD": pw,
               "PORT": "3306", "SSL": "true", "FLAG": "MYSQLI_CLIENT_SSL", "SSLMODE": "required",
               "spring.datasource.url": f"jdbc:mysql://{host}:3306/{db}?sslmode=required",
               "spring.datasource.username": user, "spring.datasource.password": pw}
        conn = {"dotnet": f"Server={host};Database={db};Port=3306;User Id={user};Password={pw};SSL Mode=Required;",
                "jdbc": f"jdbc:mysql://{host}:3306/{db}?sslmode=required&user={user}&password={pw}",
                "go": f"{user}:{pw}@tcp({host}:3306)/{db}?tls=true"}
        if isinstance(style, str) and style in conn:
            out["CONNECTIONSTRING"] = conn[style]
        return out
    return values


def _sql_values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
    host, db, user = _server("sql", resource, link, "database.windows.net")
    pw = link["password"]
    style = SQL_CLIENTS.get(client_type, "dotnet")
    out = {"SERVER": host, "SERVERNAME": host, "HOST": host, "PORT": "1433", "DATABASE": db, "USER": user,
           "USERNAME": user, "UID": user, "PASSWORD": pw,
           "spring.datasource.url": f"jdbc:sqlserver://{host}:1433;databaseName={db};",
           "spring.datasource.username": user, "spring.datasource.password": pw}
    conn = {"dotnet": f"Data Source={host},1433;Initial Catalog={db};User ID={user};Password={pw}",
            "jdbc": f"jdbc:sqlserver://{host}:1433;databaseName={db};user={user};password={pw};",
            "go": f"server={host};port=1433;database={db};user id={user};password={pw};"}
    if isinstance(style, str) and style in conn:
        out["CONNECTIONSTRING"] = conn[style]
    return out


def _client_pairs(clients):
    """The configurations of a database for the client type: a connection string, the client's keys, or Spring's
    datasource properties."""
    def pairs(spec, values, client_type, auth_type):  # pylint: disable=unused-argument
        style = clients.get(client_type, "dotnet")
        if style == "spring":
            return [(k, values[k]) for k in ("spring.datasource.url", "spring.datasource.username",
                                             "spring.datasource.password")]
        keys = style if isinstance(style, tuple) else ("CONNECTIONSTRING",)
        return [(f"{spec['prefix']}_{k}", values[k]) for k in keys]
    return pairs


def _atlas_values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
    return {"CONNECTIONSTRING": link["password"], "spring.data.mongodb.uri": link["password"]}


def _atlas_pairs(spec, values, client_type, auth_type):  # pylint: disable=unused-argument
    if client_type == "springBoot":
        return [("spring.data.mongodb.uri", values["CONNECTIONSTRING"])]
    return [(f"{spec['prefix']}_CONNECTIONSTRING", values["CONNECTIONSTRING"])]


def _kafka_values(state, resource, auth_type, client_type, link):  # pylint: disable=unused-argument
    endpoint = link["props"]["targetService"].get("endpoint") or ""
    return {"BOOTSTRAPSERVER": endpoint, "KAFKASASLCONFIG": JAAS.format(user=link["user"], password=link["password"]),
            "URL": endpoint, "USERINFO": f"{link['user']}:{link['password']}"}


def _kafka_pairs(spring, keys):
    def pairs(spec, values, client_type, auth_type):  # pylint: disable=unused-argument
        if client_type == "springBoot":
            return [(s, values[k]) for s, k in zip(spring, keys)]
        return [(f"{spec['prefix']}_{k}", values[k]) for k in keys]
    return pairs


def _database(name, prefix, values, clients, **extra):
    return dict({"name": name, "prefix": prefix, "kind": "database", "suffix": "", "roles": [], "auth": ("secret",),
                 "user_secret": True, "values": values, "pairs": _client_pairs(clients),
                 "keys": {"secret": ["CONNECTIONSTRING"]}}, **extra)


def database_targets():
    """{lower-case full type of the target id (or the targetService type of a target with no id): record}."""
    pg, my = "AZURE_POSTGRESQL", "AZURE_MYSQL"
    return {
        # how-to-integrate-postgres (single server: deprecated, still served)
        "microsoft.dbforpostgresql/servers/databases":
            _database("postgres", pg, _postgres_values("single"), PG_CLIENTS),
        "microsoft.dbforpostgresql/flexibleservers/databases":
            _database("postgres-flexible", pg, _postgres_values("flexible"), PG_CLIENTS),
        # how-to-integrate-mysql
        "microsoft.dbformysql/servers/databases": _database("mysql", my, _mysql_values("single"), MY_CLIENTS),
        "microsoft.dbformysql/flexibleservers/databases":
            _database("mysql-flexible", my, _mysql_values("flexible"), MY_CLIENTS),
        # how-to-integrate-sql-database
        "microsoft.sql/servers/databases": _database("sql", "AZURE_SQL", _sql_values, SQL_CLIENTS),
        # how-to-integrate-neon-postgres: the formats of PostgreSQL, on the host the user names
        "neon.postgres/organizations": _database("neon-postgres", pg, _postgres_values("neon"), PG_CLIENTS,
                                                 unchecked=True),
        # how-to-integrate-mongodb-atlas: the cluster's connection string, as the user gave it
        "mongodb.atlas/organizations": {
            "name": "mongodb-atlas", "prefix": "AZURE_MONGODB", "kind": "partner", "suffix": "", "roles": [],
            "auth": ("secret",), "user_secret": True, "unchecked": True, "values": _atlas_values,
            "pairs": _atlas_pairs, "keys": {"secret": ["CONNECTIONSTRING"]}},
        # how-to-integrate-confluent-kafka: no ARM resource; the bootstrap server's and the schema registry's linkers
        "confluentbootstrapserver": {
            "name": "confluent-cloud", "prefix": "AZURE_CONFLUENTCLOUDKAFKA", "kind": "partner", "roles": [],
            "auth": ("secret",), "user_secret": True, "no_resource": True, "values": _kafka_values,
            "pairs": _kafka_pairs(("spring.kafka.properties.bootstrap.servers",
                                   "spring.kafka.properties.sasl.jaas.config"), ("BOOTSTRAPSERVER", "KAFKASASLCONFIG")),
            "keys": {"secret": ["BOOTSTRAPSERVER", "KAFKASASLCONFIG"]}},
        "confluentschemaregistry": {
            "name": "confluent-cloud (schema registry)", "prefix": "AZURE_CONFLUENTCLOUDSCHEMAREGISTRY",
            "kind": "partner", "roles": [], "auth": ("secret",), "user_secret": True, "no_resource": True,
            "values": _kafka_values,
            "pairs": _kafka_pairs(("spring.kafka.properties.schema.registry.url",
                                   "spring.kafka.properties.schema.registry.basic.auth.user.info"),
                                  ("URL", "USERINFO")),
            "keys": {"secret": ["URL", "USERINFO"]}},
    }
