# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""What every family module of the target table shares: the record (:class:`Target`), its configuration keys and
name arguments, the key formatting, and :class:`Family`, the base of each family's behaviour class.

Pure data and standard library: the loader imports it. A family's behaviour (``provider/`` helpers, SDKs) is
imported inside its methods, when a command runs.
"""
import string
from collections import namedtuple
from urllib.parse import quote

# Auth types as the user names them (the argument is --<name>).
AUTH_SECRET = "secret"
AUTH_WORKLOAD_IDENTITY = "workload-identity"
AUTH_SERVICE_PRINCIPAL = "service-principal"
AUTH_CSI = "enable-csi"     # Key Vault through the AKS azureKeyvaultSecretsProvider add-on (its own identity)

# What each auth type is called on the wire (LinkerResource.authInfo.authType).
WIRE_AUTH_TYPE = {
    AUTH_SECRET: "secret",
    AUTH_WORKLOAD_IDENTITY: "userAssignedIdentity",
    AUTH_SERVICE_PRINCIPAL: "servicePrincipalSecret",
    AUTH_CSI: "userAssignedIdentity",
}
IDENTITY_AUTH = (AUTH_WORKLOAD_IDENTITY, AUTH_SERVICE_PRINCIPAL)   # get a data-plane role on the target
IDENTITY_AUTHS = [AUTH_WORKLOAD_IDENTITY, AUTH_SECRET, AUTH_SERVICE_PRINCIPAL]   # the usual order, default first

# Client types per target: SUPPORTED_CLIENT_TYPE[RESOURCE.KubernetesCluster] of the built-in's
# _resource_config.py (the WebApp lists, shared by every source).
CLIENT_TYPES_STORAGE = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "springBoot", "none"]
CLIENT_TYPES_DATABASE = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "php", "ruby", "django",
                         "springBoot", "none"]
CLIENT_TYPES_REDIS = ["dotnet", "dotnet-internal", "java", "python", "nodejs", "go", "springBoot", "none"]

# Built-in roles that belong to no family (each family module lists its own in ROLES; __init__ merges them).
ROLES = {
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
}

MANAGEMENT_SCOPE = "=https://management.azure.com/.default"
CLIENT_ID = "client_id"

NameArg = namedtuple("NameArg", "dest options help placeholder")
# key: configuration name; field: what fills it (see targets/__init__.py); credential: blanked in every output.
ConfigKey = namedtuple("ConfigKey", "key field credential")
# A value the user passes for a target whose secret the user owns (the target's management API cannot
# give it). field: the name configuration keys use; option: the argument carrying it; key: for options
# of the KEY=VALUE form (``--secret name=… secret=…``) the key inside it, else None (the option's own
# value); credential: never printed, never logged, never stored in the connection record.
UserValue = namedtuple("UserValue", "field option key help credential")
# A firewall whose IP rules are one list, written whole: the path below the resource holding it ("" for the
# resource itself), the property holding the ipRules list (None: the properties themselves), an entry's address key.
RuleList = namedtuple("RuleList", "path holder address")


class Target:  # pylint: disable=too-few-public-methods,too-many-instance-attributes
    # pylint: disable-next=too-many-locals
    def __init__(self, *, name, display, resource_type, api_version, id_template, name_args,
                 auth_types, client_types, config_keys, family, roles=(),
                 resource_suffix="", csi_roles=(), user_values=(), endpoint=None, data_access_policy=None,
                 service_type="AzureResource", deprecated=False, secret_in_resource=False, logical_child=False):
        self.name = name
        self.display = display
        self.resource_type = resource_type            # ARM type of the resource holding keys and firewall
        self.api_version = api_version                # api-version used for that resource
        self.id_template = id_template                # the target id users pass in --target-id (None: no ARM id)
        self.resource_suffix = resource_suffix        # target id = resource id + this suffix
        self.name_args = name_args
        self.auth_types = auth_types                  # default first, as the built-in orders them
        self.client_types = client_types
        self.config_keys = config_keys                # {auth: {client type or "default": [ConfigKey]}}
        self.family = family                          # its family's behaviour (a Family): values, key auth, firewall
        self.roles = list(roles)                      # data-plane role(s) for identity auth (default first)
        self.csi_roles = list(csi_roles)              # role(s) of the KV CSI add-on identity; non-empty = --enable-csi
        # What the user passes because the target cannot hand it out (see UserValue). The argument wiring
        # reads these: --secret KEY=VALUE keys, or options of their own (Confluent's --bootstrap-server …).
        self.user_values = list(user_values)
        # Data-plane endpoint in the public cloud, for help texts and as the fetcher's fallback when the
        # resource GET does not carry it ({name}: the resource name).
        self.endpoint = endpoint
        # Redis grants data access with its own access policies, not Azure roles: the policy an identity
        # gets (PUT {cache}/accessPolicyAssignments/{name} {accessPolicyName, objectId, objectIdAlias}).
        self.data_access_policy = data_access_policy
        # LinkerResource targetService.type: AzureResource, or ConfluentBootstrapServer for Confluent Cloud.
        self.service_type = service_type
        self.deprecated = deprecated                  # the built-in marks the command deprecated
        # The resource's own GET body holds a credential (App Insights: InstrumentationKey, ConnectionString):
        # read it with the debug log of the body off.
        self.secret_in_resource = secret_in_resource
        # The target id's part below the resource (Redis ".../databases/0") names no ARM resource: not read.
        self.logical_child = logical_child

    @property
    def secret_source(self):
        """Where its values come from: the family's fetcher ("storage:blob", "messaging", …)."""
        return self.family.source

    @property
    def firewall(self):
        """The family's firewall mechanism ("storage", "server-rules", …; "no-ip-rules")."""
        return self.family.firewall

    @property
    def wire_name(self):
        """storage-blob -> storageblob: the prefix of generated connection names."""
        return self.name.replace("-", "")

    @property
    def csi(self):
        return bool(self.csi_roles)

    @property
    def user_secret(self):
        """True when the secret auth needs values from the user (``--secret name=… secret=…`` …)."""
        return bool(self.user_values)

    def keys_for(self, auth, client_type):
        per_client = self.config_keys.get(auth, {})
        return per_client.get(client_type) or per_client.get("default", [])

    def id_regex(self):
        import re
        if not self.id_template:
            return re.compile(r"^(?!)")       # no ARM id: matches nothing
        pattern = re.escape(self.id_template)
        for field in ("subscription", "target_resource_group") + tuple(a.dest for a in self.name_args):
            pattern = pattern.replace(re.escape("{" + field + "}"), f"(?P<{field}>[^/]+)")
        return re.compile("^" + pattern + "$", re.IGNORECASE)


def fw():
    """provider/firewall.py, imported when a family's firewall is used (never on the loader path)."""
    from azext_aks_connection.provider import firewall
    return firewall


def ops():
    """provider/target.py (reads and keys actions by id), imported when a family's values are fetched."""
    from azext_aks_connection.provider import target
    return target


def props(body):
    return (body or {}).get("properties") or {}


def id_parts(resource_id):
    """(subscription, resource group, name) of an ARM resource id."""
    parts = resource_id.split("/")
    return parts[2], parts[4], parts[8] if len(parts) > 8 else parts[-1]


class Family:
    """How a family of targets behaves: where its values come from, whether its key auth is off, and its IP firewall
    (read, judged, added to, removed from; the az command a user can run instead). provider/target.py and
    provider/firewall.py call it; a family module subclasses it and overrides what differs.

    This base: a fetcher that returns nothing, keys that cannot be switched off, and no IP rules (``no_ip_rules``:
    why)."""
    name = "none"               # the fetcher's name (Target.secret_source, with the variant: "storage:blob")
    firewall = "no-ip-rules"    # the firewall mechanism's name (Target.firewall)
    # Key (local) auth switched off: (property, value meaning "off", how the portal names it). Azure still
    # answers listKeys on such a resource, but its data plane refuses every key.
    key_auth = None
    rule_list = None            # a RuleList: its IP rules are one list, written whole
    per_address = False         # its IP rules are one named rule per address
    reads_target_id = False     # its fetcher reads the target id's child itself (get_target does not)
    # What admits a pod (provider/netpath.py): the service endpoint of the service (on a node subnet it makes the
    # pods' requests arrive from private addresses: IP rules stop matching); whether that endpoint serves its own
    # region only; whether same-region requests arrive from private addresses anyway (Storage); whether the family
    # writes virtual network rules for the node subnets.
    service_endpoint = None
    endpoint_regional = False
    same_region_private = False
    vnet_rules = False

    def __init__(self, variant=None, no_ip_rules=None):
        self.variant = variant
        self.no_ip_rules = no_ip_rules

    @property
    def source(self):
        return f"{self.name}:{self.variant}" if self.variant else self.name

    def fetch(self, arm, target, target_id, resource, with_secret):  # pylint: disable=unused-argument
        """{field: value} the target's configuration keys read. ``with_secret=False`` (identity auth): no keys API
        is called and no credential returned."""
        return {}

    def read_firewall(self, arm, target, resource_id, resource_body):  # pylint: disable=unused-argument
        """What the target admits now: a provider/firewall.Rules."""
        f = fw()
        return f.Rules(f.NO_RULES, self.no_ip_rules or f"The {target.display} has no IP firewall rules.")

    # pylint: disable-next=too-many-positional-arguments  # the parts of one write, each needed
    def write_rules(self, arm, target, resource_id, read, rules, what):
        """A list-valued firewall: ``rules`` in place of the list in ``read`` (the properties read), PATCHed onto the
        resource and followed to its end. Raw: for a family whose SDK azure-cli does not ship (Web PubSub; see its
        module); the others override this with their SDK's write."""
        holder = self.rule_list.holder
        body = {holder: dict(read.get(holder) or {}, ipRules=rules)} if holder else {"ipRules": rules}
        fw().send(arm, "PATCH", resource_id, target.api_version, {"properties": body}, what,
                  poll_resource=(resource_id, target.api_version))

    def listed_rules(self, container):
        """The entries of a list-valued firewall, as read and as written back whole (``write_rules``)."""
        return list(container.get("ipRules") or [])

    def remove_rules(self, arm, target, resource_id, ips):  # pylint: disable=unused-argument
        """A per-address firewall: delete the rules this extension named for ``ips``; the addresses removed."""
        return []

    def rule_command(self, target, resource_id, ip, resource_body=None):  # pylint: disable=unused-argument
        """The az command adding a rule for ``ip`` by hand (None: there is none to give)."""
        return None


# --------------------------------------------------------------------------- configuration keys

def rid(provider_type, *names):
    """An ARM id template: /subscriptions/{subscription}/resourceGroups/{target_resource_group}/providers/
    NS/type/{name}[/type/{name}...] from ``NS/type[/type...]`` and the placeholders' names."""
    ns, *types = provider_type.split("/")
    tail = "/".join(f"{t}/{{{n}}}" for t, n in zip(types, names))
    return "/subscriptions/{subscription}/resourceGroups/{target_resource_group}/providers/" + ns + "/" + tail


def secret_only(keys_by_client):
    return {AUTH_SECRET: keys_by_client}


def spring_identity(prefix, endpoint_key, extra=()):
    """Spring Cloud Azure keys for workload identity and service principal (same prefix per service)."""
    wi = list(extra) + [ConfigKey(endpoint_key, "endpoint", False),
                        ConfigKey(prefix + ".credential.managed-identity-enabled", "=true", False),
                        ConfigKey(prefix + ".credential.client-id", "client_id", False)]
    sp = list(extra) + [ConfigKey(endpoint_key, "endpoint", False),
                        ConfigKey(prefix + ".credential.client-id", "client_id", False),
                        ConfigKey(prefix + ".credential.client-secret", "client_secret", True),
                        ConfigKey(prefix + ".profile.tenant-id", "tenant_id", False)]
    return wi, sp


def identity_keys(prefix, endpoint_suffix="RESOURCEENDPOINT", extra=(), field="endpoint"):
    """AZURE_<X>_… keys for workload identity and service principal (Service Connector's naming)."""
    wi = [ConfigKey(f"{prefix}_{endpoint_suffix}", field, False)] + list(extra) + \
        [ConfigKey(f"{prefix}_CLIENTID", "client_id", False)]
    sp = wi + [ConfigKey(f"{prefix}_CLIENTSECRET", "client_secret", True),
               ConfigKey(f"{prefix}_TENANTID", "tenant_id", False)]
    return wi, sp


# --------------------------------------------------------------------------- configuration values

class _ValueFormatter(string.Formatter):
    """str.format with quoting conversions that leave a value alone unless it needs quoting."""

    def convert_field(self, value, conversion):  # pylint: disable=too-many-return-statements  # one per conversion
        value = "" if value is None else str(value)
        if conversion == "u":                    # URL query / userinfo component
            return quote(value, safe="")
        if conversion == "q":                    # libpq keyword=value (psycopg, lib/pq, PHP pg, ruby-pg)
            if value and not any(c in value for c in " \t\n'\\"):
                return value
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        if conversion == "c":                    # ADO.NET / ODBC / go-mssqldb key=value;
            if value == value.strip() and not any(c in value for c in ';"\'{}='):
                return value
            return '"' + value.replace('"', '""') + '"'
        if conversion == "b":                    # JDBC SQL Server: {value} with } doubled
            if not any(c in value for c in ";{}="):
                return value
            return "{" + value.replace("}", "}}") + "}"
        return super().convert_field(value, conversion)


_FORMATTER = _ValueFormatter()


def fields_of(field):
    """The value names a ConfigKey field reads: [] for a literal, [field] for a plain field, the
    placeholders of a template."""
    if field.startswith("="):
        return []
    if "{" not in field:
        return [field]
    return [name for _, name, _, _ in _FORMATTER.parse(field) if name]


def config_value(key, values):
    """The value of ConfigKey ``key`` from ``values`` (fetcher output, target id fields, auth and user
    values). KeyError names the missing field."""
    field = key.field
    if field.startswith("="):
        return field[1:]
    if "{" not in field:
        return values[field]
    missing = [f for f in fields_of(field) if f not in values]
    if missing:
        raise KeyError(f"{key.key}: no value for {', '.join(missing)}")
    return _FORMATTER.vformat(field, (), values)


def configurations(target, auth, client_type, values):
    """[{name, value, credential}] of the target's keys for (auth, client type), values filled in."""
    return [{"name": k.key, "value": config_value(k, values), "credential": k.credential}
            for k in target.keys_for(auth, client_type)]
