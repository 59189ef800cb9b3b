# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Azure Database for PostgreSQL and MySQL (flexible and single server) and Azure SQL Database: the records and the
family's behaviour. The user owns the secret: the user name and password come from ``--secret name=… secret=…``.

Values (``fetch``): host (the server's fully qualified domain name).

Network rule: child resources {server}/firewallRules/{name} {startIpAddress, endIpAddress}, one per address
(long-running on PostgreSQL / MySQL, synchronous on SQL); 0.0.0.0-0.0.0.0 is "allow Azure services" (every Azure
address). Only public-access servers have them: a VNet-integrated flexible server has no public endpoint. A node
subnet with the Microsoft.Sql service endpoint (SQL Database, single servers; it serves the subnet's own region)
reaches the server from private addresses, which no IP rule matches; flexible servers have no service endpoint.
No same-region exception is documented (unconfirmed). Source: "Virtual Network service endpoints"
(learn.microsoft.com/azure/virtual-network/virtual-network-service-endpoints-overview),
"Firewall rules in Azure Database for PostgreSQL - Flexible Server" (learn.microsoft.com/azure/postgresql/
flexible-server/concepts-firewall-rules), MySQL flexible "Connectivity and networking concepts", "IP firewall rules -
Azure SQL Database" (learn.microsoft.com/azure/azure-sql/database/firewall-configure); reference-network.md S13-S15.
"""
from azext_aks_connection.targets.base import (AUTH_SECRET, CLIENT_TYPES_DATABASE, ConfigKey, Family, NameArg, Target,
                                               UserValue, fw, id_parts, props, rid, secret_only)

ROLES = {}          # the user's own database login: no role

# variant -> (the SDK azure-cli ships for its firewall rules: "<package>:<client>", long-running writes),
# (az command group, server option, rule option) of the by-hand command; PostgreSQL single server has no command
# in current az versions (retired): it gets none.
_SERVERS = {
    "sql": (("azure.mgmt.sql:SqlManagementClient", False), ("sql server", "-s", "-n")),
    "postgres-flexible": (("azure.mgmt.rdbms.postgresql_flexibleservers:PostgreSQLManagementClient", True),
                          ("postgres flexible-server", "-s", "-n")),
    "mysql-flexible": (("azure.mgmt.rdbms.mysql_flexibleservers:MySQLManagementClient", True),
                       ("mysql flexible-server", "-n", "-r")),
    "postgres": (("azure.mgmt.rdbms.postgresql:PostgreSQLManagementClient", True), None),
    "mysql": (("azure.mgmt.rdbms.mysql:MySQLManagementClient", True), ("mysql server", "-s", "-n")),
}


def _call(operations, verb, lro, *args):
    """``operations.<verb>(*args)``; long-running: ``begin_<verb>`` followed to its end (firewall.sdk_polling: the
    service's Retry-After, else a short growing interval)."""
    def call():
        if not lro:
            return getattr(operations, verb)(*args)
        return getattr(operations, "begin_" + verb)(*args, polling=fw().sdk_polling()).result()
    return call


class DatabaseServer(Family):
    """A database server; ``variant``: its kind (a key of _SERVERS). Rules are written with its SDK."""
    name = "database-server"
    firewall = "server-rules"
    per_address = True
    endpoint_regional = True        # Microsoft.Sql serves the subnet's own region only

    @property
    def source(self):
        return self.name

    @property
    def service_endpoint(self):
        """Azure SQL and the single servers: Microsoft.Sql; flexible servers have no service endpoint."""
        return None if self.variant.endswith("-flexible") else "Microsoft.Sql"

    def fetch(self, arm, target, target_id, resource, with_secret):
        return {"host": props(resource).get("fullyQualifiedDomainName") or
                target.endpoint.format(name=resource["name"])}

    def read_firewall(self, arm, target, resource_id, resource_body):
        return fw().rules_per_address(arm, target, resource_id, resource_body, ("startIpAddress", "endIpAddress"),
                                      none_admits_all=False)

    def _rules(self, arm, resource_id):
        """(the client's firewall_rules operations, the models module, long-running, group, server) of the server."""
        import importlib
        client, lro = _SERVERS[self.variant][0]
        rules = fw().sdk_client(arm, client, resource_id).firewall_rules
        _, group, server = id_parts(resource_id)
        return rules, importlib.import_module(client.split(":")[0] + ".models"), lro, group, server

    def add_rule(self, arm, target, resource_id, ip):  # pylint: disable=unused-argument
        """``firewall_rules.(begin_)create_or_update`` under the deterministic name."""
        rules, models, lro, group, server = self._rules(arm, resource_id)
        name = fw().rule_name(ip)
        call = _call(rules, "create_or_update", lro, group, server, name,
                     models.FirewallRule(start_ip_address=ip, end_ip_address=ip))
        fw().sdk_write(arm, f"Adding firewall rule {name} ({ip}) to '{server}'", "PUT",
                       f"{resource_id}/firewallRules/{name}", call)

    def remove_rules(self, arm, target, resource_id, ips):
        """``firewall_rules.(begin_)delete`` of the rule named for each address (one already gone is fine)."""
        rules, _, lro, group, server = self._rules(arm, resource_id)
        for ip in ips:
            name = fw().rule_name(ip)
            fw().sdk_write(arm, f"Removing firewall rule {name} from '{server}'", "DELETE",
                           f"{resource_id}/firewallRules/{name}", _call(rules, "delete", lro, group, server, name),
                           missing_ok=True)
        return list(ips)

    def rule_command(self, target, resource_id, ip, resource_body=None):
        command = _SERVERS[self.variant][1]
        if command is None:
            return None
        (group, server, rule), (sub, rg, name) = command, id_parts(resource_id)
        return (f"az {group} firewall-rule create --subscription {sub} -g {rg} {server} {name} {rule} "
                f"{fw().rule_name(ip)} --start-ip-address {ip} --end-ip-address {ip}")


DB_USER_VALUES = [
    UserValue("user", "--secret", "name", "The database user name.", False),
    UserValue("password", "--secret", "secret", "The database user's password.", True),
]


def postgres_keys(prefix, *, port="5432", login="{user}", login_c="{user!c}", login_u="{user!u}", login_q="{user!q}"):
    """Secret keys of PostgreSQL (Azure Database for PostgreSQL single / flexible server, Neon) per client type.
    Source: how-to-integrate-postgres.md "Connection string" tabs (ms.date 11/21/2025) and
    how-to-integrate-neon-postgres.md. The docs' .NET sample omits Password=…; it is added so the string
    opens a connection without the app appending it (the documented Java/Python/Go strings carry it)."""
    host, db = "{host}", "{database}"
    libpq = f"host={host} port={port} dbname={db} sslmode=require user={login_q} password={{password!q}}"
    return {
        "dotnet": [ConfigKey(f"{prefix}_CONNECTIONSTRING",
                             f"Server={host};Database={db};Port={port};Ssl Mode=Require;User Id={login_c};"
                             "Password={password!c};", True)],
        "java": [ConfigKey(f"{prefix}_CONNECTIONSTRING",
                           f"jdbc:postgresql://{host}:{port}/{db}?sslmode=require&user={login_u}"
                           "&password={password!u}", True)],
        "springBoot": [ConfigKey("spring.datasource.url", f"jdbc:postgresql://{host}:{port}/{db}?sslmode=require",
                                 False),
                       ConfigKey("spring.datasource.username", login, False),
                       ConfigKey("spring.datasource.password", "password", True)],
        "python": [ConfigKey(f"{prefix}_CONNECTIONSTRING",
                             f"dbname={db} host={host} port={port} sslmode=require user={login_q} "
                             "password={password!q}", True)],
        "django": [ConfigKey(f"{prefix}_NAME", "database", False), ConfigKey(f"{prefix}_HOST", "host", False),
                   ConfigKey(f"{prefix}_USER", login, False), ConfigKey(f"{prefix}_PASSWORD", "password", True)],
        "go": [ConfigKey(f"{prefix}_CONNECTIONSTRING",
                         f"host={host} dbname={db} sslmode=require user={login_q} password={{password!q}}", True)],
        "nodejs": [ConfigKey(f"{prefix}_HOST", "host", False), ConfigKey(f"{prefix}_USER", login, False),
                   ConfigKey(f"{prefix}_PASSWORD", "password", True),
                   ConfigKey(f"{prefix}_DATABASE", "database", False),
                   ConfigKey(f"{prefix}_PORT", "=" + port, False), ConfigKey(f"{prefix}_SSL", "=true", False)],
        "php": [ConfigKey(f"{prefix}_CONNECTIONSTRING", libpq, True)],
        "ruby": [ConfigKey(f"{prefix}_CONNECTIONSTRING", libpq, True)],
        "default": [ConfigKey(f"{prefix}_HOST", "host", False), ConfigKey(f"{prefix}_USERNAME", login, False),
                    ConfigKey(f"{prefix}_DATABASE", "database", False), ConfigKey(f"{prefix}_PORT", "=" + port, False),
                    ConfigKey(f"{prefix}_SSL", "=true", False), ConfigKey(f"{prefix}_PASSWORD", "password", True)],
    }


def _mysql_keys(login="{user}", login_c="{user!c}", login_u="{user!u}"):
    """Secret keys of Azure Database for MySQL (single / flexible server) per client type.
    Source: how-to-integrate-mysql.md "Connection string" tabs. PHP's AZURE_MYSQL_FLAG: the docs print
    ``MySQL_CLIENT_SSL``; the mysqli constant it stands for is MYSQLI_CLIENT_SSL, used here."""
    p, host, db = "AZURE_MYSQL", "{host}", "{database}"
    return {
        "dotnet": [ConfigKey(f"{p}_CONNECTIONSTRING",
                             f"Server={host};Database={db};Port=3306;User Id={login_c};Password={{password!c}};"
                             "SSL Mode=Required", True)],
        "java": [ConfigKey(f"{p}_CONNECTIONSTRING",
                           f"jdbc:mysql://{host}:3306/{db}?sslmode=required&user={login_u}&password={{password!u}}",
                           True)],
        "springBoot": [ConfigKey("spring.datasource.url", f"jdbc:mysql://{host}:3306/{db}?sslmode=required", False),
                       ConfigKey("spring.datasource.username", login, False),
                       ConfigKey("spring.datasource.password", "password", True)],
        "python": [ConfigKey(f"{p}_NAME", "database", False), ConfigKey(f"{p}_HOST", "host", False),
                   ConfigKey(f"{p}_USER", login, False), ConfigKey(f"{p}_PASSWORD", "password", True)],
        "django": [ConfigKey(f"{p}_NAME", "database", False), ConfigKey(f"{p}_HOST", "host", False),
                   ConfigKey(f"{p}_USER", login, False), ConfigKey(f"{p}_PASSWORD", "password", True)],
        "go": [ConfigKey(f"{p}_CONNECTIONSTRING", f"{login}:{{password}}@tcp({host}:3306)/{db}?tls=true", True)],
        "nodejs": [ConfigKey(f"{p}_HOST", "host", False), ConfigKey(f"{p}_USER", login, False),
                   ConfigKey(f"{p}_PASSWORD", "password", True), ConfigKey(f"{p}_DATABASE", "database", False),
                   ConfigKey(f"{p}_PORT", "=3306", False), ConfigKey(f"{p}_SSL", "=true", False)],
        "php": [ConfigKey(f"{p}_DBNAME", "database", False), ConfigKey(f"{p}_HOST", "host", False),
                ConfigKey(f"{p}_PORT", "=3306", False), ConfigKey(f"{p}_FLAG", "=MYSQLI_CLIENT_SSL", False),
                ConfigKey(f"{p}_USERNAME", login, False), ConfigKey(f"{p}_PASSWORD", "password", True)],
        "ruby": [ConfigKey(f"{p}_DATABASE", "database", False), ConfigKey(f"{p}_HOST", "host", False),
                 ConfigKey(f"{p}_USERNAME", login, False), ConfigKey(f"{p}_PASSWORD", "password", True),
                 ConfigKey(f"{p}_SSLMODE", "=required", False)],
        "default": [ConfigKey(f"{p}_HOST", "host", False), ConfigKey(f"{p}_USERNAME", login, False),
                    ConfigKey(f"{p}_PASSWORD", "password", True), ConfigKey(f"{p}_DATABASE", "database", False),
                    ConfigKey(f"{p}_PORT", "=3306", False), ConfigKey(f"{p}_SSL", "=true", False)],
    }


# Source: how-to-integrate-sql-database.md "Connection string" tabs. The docs' .NET sample omits User ID=…;
# it is added so the string authenticates (the Java and Go strings carry the user).
_SQL_KEYS = {
    "dotnet": [ConfigKey("AZURE_SQL_CONNECTIONSTRING",
                         "Data Source={host},1433;Initial Catalog={database};User ID={user!c};Password={password!c}",
                         True)],
    "java": [ConfigKey("AZURE_SQL_CONNECTIONSTRING",
                       "jdbc:sqlserver://{host}:1433;databaseName={database};user={user!b};password={password!b};",
                       True)],
    "springBoot": [ConfigKey("spring.datasource.url", "jdbc:sqlserver://{host}:1433;databaseName={database};", False),
                   ConfigKey("spring.datasource.username", "user", False),
                   ConfigKey("spring.datasource.password", "password", True)],
    "python": [ConfigKey("AZURE_SQL_SERVER", "host", False), ConfigKey("AZURE_SQL_PORT", "=1433", False),
               ConfigKey("AZURE_SQL_DATABASE", "database", False), ConfigKey("AZURE_SQL_USER", "user", False),
               ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
    "django": [ConfigKey("AZURE_SQL_HOST", "host", False), ConfigKey("AZURE_SQL_PORT", "=1433", False),
               ConfigKey("AZURE_SQL_NAME", "database", False), ConfigKey("AZURE_SQL_USER", "user", False),
               ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
    "go": [ConfigKey("AZURE_SQL_CONNECTIONSTRING",
                     "server={host};port=1433;database={database};user id={user!c};password={password!c};", True)],
    "nodejs": [ConfigKey("AZURE_SQL_SERVER", "host", False), ConfigKey("AZURE_SQL_PORT", "=1433", False),
               ConfigKey("AZURE_SQL_DATABASE", "database", False), ConfigKey("AZURE_SQL_USERNAME", "user", False),
               ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
    "php": [ConfigKey("AZURE_SQL_SERVERNAME", "{host},1433", False), ConfigKey("AZURE_SQL_DATABASE", "database", False),
            ConfigKey("AZURE_SQL_UID", "user", False), ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
    "ruby": [ConfigKey("AZURE_SQL_HOST", "host", False), ConfigKey("AZURE_SQL_PORT", "=1433", False),
             ConfigKey("AZURE_SQL_DATABASE", "database", False), ConfigKey("AZURE_SQL_USERNAME", "user", False),
             ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
    "default": [ConfigKey("AZURE_SQL_HOST", "host", False), ConfigKey("AZURE_SQL_PORT", "=1433", False),
                ConfigKey("AZURE_SQL_DATABASE", "database", False), ConfigKey("AZURE_SQL_USERNAME", "user", False),
                ConfigKey("AZURE_SQL_PASSWORD", "password", True)],
}

TARGETS = {
    "postgres-flexible": Target(
        name="postgres-flexible",
        display="Azure Database for PostgreSQL flexible server",
        resource_type="Microsoft.DBforPostgreSQL/flexibleServers",
        api_version="2024-08-01",
        id_template=rid("Microsoft.DBforPostgreSQL/flexibleServers/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of postgres flexible server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of postgres flexible database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        config_keys=secret_only(postgres_keys("AZURE_POSTGRESQL")),
        family=DatabaseServer("postgres-flexible"),
        user_values=DB_USER_VALUES,
        endpoint="{name}.postgres.database.azure.com",
    ),
    "postgres": Target(
        name="postgres",
        display="Azure Database for PostgreSQL single server",
        resource_type="Microsoft.DBforPostgreSQL/servers",
        api_version="2017-12-01",
        id_template=rid("Microsoft.DBforPostgreSQL/servers/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of postgres server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of postgres database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        # Single servers log in as <user>@<server> (how-to-integrate-postgres.md, 2022 revision).
        config_keys=secret_only(postgres_keys("AZURE_POSTGRESQL", login="{user}@{server}", login_c="{user}@{server}",
                                              login_u="{user!u}%40{server}", login_q="{user}@{server}")),
        family=DatabaseServer("postgres"),
        user_values=DB_USER_VALUES,
        endpoint="{name}.postgres.database.azure.com",
        deprecated=True,
    ),
    "mysql-flexible": Target(
        name="mysql-flexible",
        display="Azure Database for MySQL flexible server",
        resource_type="Microsoft.DBforMySQL/flexibleServers",
        api_version="2023-12-30",
        id_template=rid("Microsoft.DBforMySQL/flexibleServers/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of the mysql flexible server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of the mysql flexible database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        config_keys=secret_only(_mysql_keys()),
        family=DatabaseServer("mysql-flexible"),
        user_values=DB_USER_VALUES,
        endpoint="{name}.mysql.database.azure.com",
    ),
    "mysql": Target(
        name="mysql",
        display="Azure Database for MySQL single server",
        resource_type="Microsoft.DBforMySQL/servers",
        api_version="2017-12-01",
        # The built-in spells the namespace Microsoft.DBForMySQL here; ARM ids are case-insensitive.
        id_template=rid("Microsoft.DBForMySQL/servers/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of the mysql server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of the mysql database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        config_keys=secret_only(_mysql_keys(login="{user}@{server}", login_c="{user}@{server}",
                                            login_u="{user!u}%40{server}")),
        family=DatabaseServer("mysql"),
        user_values=DB_USER_VALUES,
        endpoint="{name}.mysql.database.azure.com",
        deprecated=True,
    ),
    "sql": Target(
        name="sql",
        display="Azure SQL Database",
        resource_type="Microsoft.Sql/servers",
        api_version="2023-08-01",
        id_template=rid("Microsoft.Sql/servers/databases", "server", "database"),
        name_args=[NameArg("server", ["--server"], "Name of the sql server.", "MyServer"),
                   NameArg("database", ["--database"], "Name of the sql database.", "MyDB")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        config_keys=secret_only(_SQL_KEYS),
        family=DatabaseServer("sql"),
        user_values=DB_USER_VALUES,
        endpoint="{name}.database.windows.net",
    ),
}
