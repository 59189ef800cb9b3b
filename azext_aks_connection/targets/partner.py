# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Partner services (Neon Serverless Postgres, MongoDB Atlas: Azure Marketplace resources; Apache Kafka on Confluent
Cloud: not an Azure resource): the records and the family's behaviour. The user owns the secret.

Values (``fetch``): a Marketplace resource: name (it exists; everything else comes from the user); Confluent
Cloud: nothing.

Network rule: none in Azure Resource Manager: each keeps its IP access list in its own console (Neon, Atlas,
Confluent Cloud); the family only says so. Source: how-to-integrate-neon-postgres.md, -mongodb-atlas.md,
-confluent-kafka.md (Service Connector docs).
"""
from azext_aks_connection.targets.base import (AUTH_SECRET, CLIENT_TYPES_DATABASE, ConfigKey, Family, NameArg, Target,
                                               UserValue, rid, secret_only)
from azext_aks_connection.targets.databases import DB_USER_VALUES, postgres_keys

ROLES = {}


class Partner(Family):
    """``variant`` "arm-resource": a Marketplace resource read by id; None: no Azure resource at all."""

    @property
    def source(self):
        return self.variant or "none"

    def fetch(self, arm, target, target_id, resource, with_secret):
        return {"name": resource.get("name")} if self.variant else {}


TARGETS = {
    "neon-postgres": Target(
        name="neon-postgres",
        display="Neon Serverless Postgres",
        resource_type="Neon.Postgres/organizations",
        api_version="2025-03-01",
        # The built-in's template is one fixed test id (subscription, group and organization spelled out)
        # with --server/--database that are not in it: they only go into the connection string. Here the
        # organization is named like every other target; --server (the Neon endpoint host) and --database
        # are user values.
        id_template=rid("Neon.Postgres/organizations", "organization"),
        name_args=[NameArg("organization", ["--organization"], "Name of the Neon organization resource.",
                           "MyOrganization")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        # Keys: how-to-integrate-neon-postgres.md (same shapes as PostgreSQL, NEON_POSTGRESQL_ prefix).
        config_keys=secret_only(postgres_keys("NEON_POSTGRESQL")),
        family=Partner("arm-resource", "Neon Serverless Postgres keeps its IP allow list in the Neon console, not in "
                       "Azure Resource Manager: allow the cluster's egress IPs there."),
        user_values=[UserValue("host", "--server", None,
                               "Host of the Neon compute endpoint, e.g. ep-cool-name-a1b2c3.eastus2.azure.neon.tech.",
                               False),
                     UserValue("database", "--database", None, "Name of the Neon database.", False)]
        + DB_USER_VALUES,
    ),
    "mongodb-atlas": Target(
        name="mongodb-atlas",
        display="MongoDB Atlas",
        resource_type="MongoDB.Atlas/organizations",
        api_version="2025-06-01",
        id_template=rid("MongoDB.Atlas/organizations", "server"),
        name_args=[NameArg("server", ["--server"], "Name of the MongoDB Atlas server.", "MongoDBAtlasServer")],
        auth_types=[AUTH_SECRET],
        client_types=CLIENT_TYPES_DATABASE,
        # Keys: how-to-integrate-mongodb-atlas.md (Java adds the jdbc: scheme). The built-in takes
        # --secret secret=<connection string> and sends name "NA".
        config_keys=secret_only({
            "java": [ConfigKey("MONGODBATLAS_CLUSTER_CONNECTIONSTRING", "jdbc:{connection_string}", True)],
            "default": [ConfigKey("MONGODBATLAS_CLUSTER_CONNECTIONSTRING", "connection_string", True)],
        }),
        family=Partner("arm-resource", "MongoDB Atlas keeps its IP access list in Atlas, not in Azure Resource "
                       "Manager: allow the cluster's egress IPs there."),
        user_values=[UserValue("connection_string", "--secret", "secret",
                               "The cluster's connection string, mongodb+srv://USER:PASSWORD@CLUSTER/….", True)],
    ),
    "confluent-cloud": Target(
        name="confluent-cloud",
        display="Apache Kafka on Confluent Cloud",
        resource_type=None,            # not an Azure resource: nothing to read, no keys API, no firewall
        api_version=None,
        # Not an ARM id: the target is its bootstrap server endpoint (what the built-in sends as
        # targetService {type: ConfluentBootstrapServer, endpoint}), as the built-in's fabric-sql template is
        # an endpoint URL. No resource group.
        id_template="{bootstrap_server}",
        name_args=[NameArg("bootstrap_server", ["--bootstrap-server"],
                           "Kafka bootstrap server url, e.g. pkc-xxxx.eastus.azure.confluent.cloud:9092.",
                           "pkc-xxxx.eastus.azure.confluent.cloud:9092")],
        auth_types=[AUTH_SECRET],
        client_types=["dotnet", "dotnet-internal", "java", "python", "go", "springBoot", "none"],
        # Keys: how-to-integrate-confluent-kafka.md. The built-in records two connections: <name> (type
        # ConfluentBootstrapServer: the KAFKA keys) and <name>_schema (ConfluentSchemaRegistry: the
        # SCHEMAREGISTRY keys).
        config_keys=secret_only({
            "springBoot": [
                ConfigKey("spring.kafka.properties.bootstrap.servers", "bootstrap_server", False),
                ConfigKey("spring.kafka.properties.sasl.jaas.config",
                          "org.apache.kafka.common.security.plain.PlainLoginModule required "
                          "username='{kafka_key}' password='{kafka_secret}';", True),
                ConfigKey("spring.kafka.properties.schema.registry.url", "schema_registry", False),
                ConfigKey("spring.kafka.properties.schema.registry.basic.auth.user.info",
                          "{schema_key}:{schema_secret}", True),
            ],
            "default": [
                ConfigKey("AZURE_CONFLUENTCLOUDKAFKA_BOOTSTRAPSERVER", "bootstrap_server", False),
                ConfigKey("AZURE_CONFLUENTCLOUDKAFKA_KAFKASASLCONFIG",
                          "org.apache.kafka.common.security.plain.PlainLoginModule required "
                          "username='{kafka_key}' password='{kafka_secret}';", True),
                ConfigKey("AZURE_CONFLUENTCLOUDSCHEMAREGISTRY_URL", "schema_registry", False),
                ConfigKey("AZURE_CONFLUENTCLOUDSCHEMAREGISTRY_USERINFO", "{schema_key}:{schema_secret}", True),
            ],
        }),
        family=Partner(no_ip_rules="Confluent Cloud is not an Azure resource: manage its network access in "
                       "Confluent Cloud."),
        # The built-in's own arguments for this target (all required, with --bootstrap-server), in place
        # of --secret.
        user_values=[
            UserValue("kafka_key", "--kafka-key", None, "Kafka API key (the SASL user name).", False),
            UserValue("kafka_secret", "--kafka-secret", None, "Kafka API secret.", True),
            UserValue("schema_registry", "--schema-registry", None,
                      "Schema registry url, e.g. https://psrc-xxxx.westus2.azure.confluent.cloud.", False),
            UserValue("schema_key", "--schema-key", None, "Schema registry API key.", False),
            UserValue("schema_secret", "--schema-secret", None, "Schema registry API secret.", True),
        ],
        service_type="ConfluentBootstrapServer",
    ),
}
