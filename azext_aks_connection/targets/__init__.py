# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""THE table of targets: one record per Azure service a cluster can be connected to, one module per family.

Pure data (standard library only): the loader builds commands, arguments and help from it, and the provider layer
drives every step from it. Each family module (``storage.py``, ``cosmos.py``, ``databases.py`` …) holds its
records (``TARGETS``), its built-in roles (``ROLES``) and one :class:`~.base.Family` class: how its values are
fetched, whether its key auth is off, and its IP firewall (``provider/target.py`` and ``provider/firewall.py``
dispatch to it). Adding a target of an existing family is adding one record to its module; a new family is a new
module, listed below.

Configuration keys name a *field* whose value the provider fills in:
- fields the target's fetcher returns (``endpoint``, ``connection_string``, ``account_key``, …);
  secret fields are fetched only for secret auth (no listKeys call for identity auth);
- fields of the auth: ``client_id``, ``tenant_id``, ``client_secret`` (service principal);
- a literal value: a field starting with ``=`` (``"=true"``);
- a template over all of the above: a field holding ``{name}`` (``"rediss://:{key!u}@{host}:{port}/0"``),
  formatted by :func:`config_value`; conversions ``!u`` (URL-encode), ``!q`` (libpq quoting), ``!c``
  (ADO.NET / ODBC quoting) and ``!b`` (JDBC SQL Server braces) quote a value only when it needs it;
- fields of the target id: ``subscription``, ``target_resource_group`` and every name argument (``database``,
  ``key_space``, ``graph`` …), parsed from the target id by ``provider/target.fetch_values``;
- values the user passes (``user_values``: ``user`` and ``password`` from ``--secret name=… secret=…``,
  Confluent's ``--bootstrap-server`` …) for the targets whose secret the user owns.

A configuration key is a credential (``credential=True``, blanked in every output) when its value holds a
field the fetcher returns only with ``with_secret=True``, ``client_secret``, or a user value marked
``credential``.
"""
from azext_aks_connection.targets import (appconfig, base, cognitive, cosmos, databases, insights, keyvault,
                                          messaging, partner, redis, signalr, storage)
from azext_aks_connection.targets.base import (
    AUTH_CSI, AUTH_SECRET, AUTH_SERVICE_PRINCIPAL, AUTH_WORKLOAD_IDENTITY, CLIENT_TYPES_DATABASE, CLIENT_TYPES_REDIS,
    CLIENT_TYPES_STORAGE, IDENTITY_AUTH, WIRE_AUTH_TYPE, ConfigKey, Family, NameArg, Target, UserValue,
    config_value, configurations, fields_of)

__all__ = ["TARGETS", "BUILTIN_ROLES", "IMPLEMENTED_AUTH", "AUTH_CSI", "AUTH_SECRET", "AUTH_SERVICE_PRINCIPAL",
           "AUTH_WORKLOAD_IDENTITY", "CLIENT_TYPES_DATABASE", "CLIENT_TYPES_REDIS", "CLIENT_TYPES_STORAGE",
           "IDENTITY_AUTH", "WIRE_AUTH_TYPE", "ConfigKey", "Family", "NameArg", "Target", "UserValue", "auth_of",
           "config_value", "configurations", "default_auth_type", "fields_of", "offered_auth_types",
           "target_of_resource_id"]

_FAMILIES = (storage, keyvault, cosmos, redis, databases, partner, messaging, appconfig, signalr, cognitive,
             insights)

# The order of the table: commands, help, parameters and linter_exclusions.yml are generated in it.
_ORDER = ("storage-blob", "keyvault", "storage-queue", "storage-table", "storage-file", "cosmos-sql", "cosmos-mongo",
          "cosmos-cassandra", "cosmos-gremlin", "cosmos-table", "redis", "redis-enterprise", "postgres-flexible",
          "postgres", "mysql-flexible", "mysql", "sql", "neon-postgres", "mongodb-atlas", "eventhub", "servicebus",
          "confluent-cloud", "appconfig", "signalr", "webpubsub", "cognitiveservices", "app-insights")


def _table():
    records = {}
    for family in _FAMILIES:
        for name, target in family.TARGETS.items():
            assert name not in records, f"target {name} is in two family modules"
            records[name] = target
    # Listed targets first, in their order; a target not listed yet comes after them, in its module's order.
    return dict(sorted(records.items(), key=lambda item: _ORDER.index(item[0]) if item[0] in _ORDER else len(_ORDER)))


TARGETS = _table()

# Built-in Azure role definitions the table refers to by name: name -> role definition GUID (the same in
# every tenant). --role also takes other names (looked up) and GUIDs / role definition ids. The roles
# Service Connector assigns by default are listed in learn.microsoft.com/azure/service-connector/
# concept-microsoft-entra-roles (MicrosoftDocs/azure-docs articles/service-connector/concept-microsoft-entra-roles.md).
BUILTIN_ROLES = dict(base.ROLES)
for _family in _FAMILIES:
    BUILTIN_ROLES.update(_family.ROLES)

# Auth types the provider layer implements today; an auth type of the table that is not here is
# not offered as an argument (so nobody can call a half-built path).
IMPLEMENTED_AUTH = (AUTH_SECRET, AUTH_WORKLOAD_IDENTITY, AUTH_SERVICE_PRINCIPAL)


def auth_of(connection):
    """The AUTH_* of a connection record or LinkerResource: Key Vault CSI and workload identity are both
    userAssignedIdentity on the wire; CSI is told apart by its target's connectAsKubernetesCsiDriver."""
    if ((connection.get("targetService") or {}).get("resourceProperties") or {}).get("connectAsKubernetesCsiDriver"):
        return AUTH_CSI
    wire = (connection.get("authInfo") or {}).get("authType")
    return {v: k for k, v in WIRE_AUTH_TYPE.items() if k != AUTH_CSI}.get(wire, AUTH_SECRET)


def target_of_resource_id(resource_id):
    """The table's target name for an ARM target id (a Service Connector linker's targetService.id), or None."""
    import re
    best, best_length = None, -1          # the most specific template that matches
    for name, target in TARGETS.items():
        template = target.id_template or ""
        if not template.startswith("/subscriptions/"):
            continue
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + r"\Z"
        if re.match(pattern, resource_id or "", re.IGNORECASE) and len(template) > best_length:
            best, best_length = name, len(template)
    return best


def offered_auth_types(target):
    return [a for a in target.auth_types if a in IMPLEMENTED_AUTH]


def default_auth_type(target):
    """The auth used when none is given: the first one that needs no value from the user (the secret the
    target gives). None when every auth type needs a value (an identity, a service principal, or a secret
    the user passes with --secret KEY=VALUE). Confluent Cloud's values come with their own options, so
    its secret auth is implied."""
    offered = offered_auth_types(target)
    if AUTH_SECRET not in offered or any(v.option == "--secret" for v in target.user_values):
        return None
    return AUTH_SECRET
