"""Read-only twin of provider/firewall.py: does the target's IP firewall admit these addresses now?

One function per mechanism (``Target.firewall``), ``admits(arm, target, resource_id, resource_body, ips)``,
returning a :func:`verdict`; none of them writes. The mechanisms and where each keeps its rules are described
in firewall.py's docstring; the rules for "admits all networks" and "public access disabled" are the same as
there, so validate and create agree on what needs a rule. One addition: the "allow Azure services" rule
(0.0.0.0 on SQL / MySQL / PostgreSQL, Cosmos DB) admits every Azure address, the cluster's egress among them:
the read side counts it as open, while create still adds its own rule.

``rule_command(target, resource_id, ip)``: the az command that adds a rule for one address on the target, or
None for a mechanism without such a command (SignalR / Web PubSub, the targets without IP rules).
"""
from azext_aks_connection.provider import firewall
from azext_aks_connection.provider.arm import ArmError
from azext_aks_connection.provider.errors import arm_error

OPEN, CLOSED, NO_RULES, CHECKED = "open", "public-access-disabled", "no-ip-rules", "checked"
AZURE_SERVICES = "0.0.0.0"      # the "allow Azure services" rule: SQL / MySQL / PostgreSQL 0.0.0.0-0.0.0.0, Cosmos

# firewall.py's own tests and wording, so create and validate agree on what "disabled" means
_disabled = firewall._disabled                  # pylint: disable=protected-access
_public_disabled = firewall._public_disabled    # pylint: disable=protected-access


def verdict(state, admitted=(), missing=(), reason=None):
    """``state``: OPEN (all networks admitted), CLOSED (public access disabled: IP rules do not apply),
    NO_RULES (the service has no IP rules), CHECKED (``admitted`` / ``missing`` say which addresses pass)."""
    return {"state": state, "admitted": list(admitted), "missing": list(missing), "reason": reason}


def _checked(ips, admitted):
    ok = [ip for ip in ips if admitted(ip)]
    return verdict(CHECKED, ok, [ip for ip in ips if ip not in ok])


def _props(body):
    return (body or {}).get("properties") or {}


def _get(arm, path, api_version, what):
    try:
        return arm.get(path, api_version) or {}
    except ArmError as exc:
        raise arm_error(exc, what) from exc


def _acl_rules(arm, target, resource_id, resource_body, ips):  # pylint: disable=unused-argument
    props = _props(resource_body)
    if _disabled(props.get("publicNetworkAccess")):
        return verdict(CLOSED, reason=_public_disabled(target))
    acls = props.get("networkAcls") or {}
    if str(acls.get("defaultAction") or "Allow").lower() == "allow":
        return verdict(OPEN, reason="networkAcls.defaultAction is Allow")
    rules = acls.get("ipRules") or []
    return _checked(ips, lambda ip: any(firewall.covers(r.get("value"), ip) for r in rules))


def _messaging(arm, target, resource_id, resource_body, ips):
    rule_set = _props(_get(arm, resource_id + "/networkRuleSets/default", target.api_version,
                           f"Reading the network rules of namespace '{resource_body.get('name')}'"))
    if _disabled(rule_set.get("publicNetworkAccess"), _props(resource_body).get("publicNetworkAccess")):
        return verdict(CLOSED, reason=_public_disabled(target))
    if str(rule_set.get("defaultAction") or "Allow").lower() == "allow":
        return verdict(OPEN, reason="networkRuleSets/default defaultAction is Allow")
    rules = rule_set.get("ipRules") or []
    return _checked(ips, lambda ip: any(firewall.covers(r.get("ipMask"), ip) and
                                        str(r.get("action") or "Allow").lower() == "allow" for r in rules))


def _rules_per_address(start_key, end_key, none_admits_all):
    def check(arm, target, resource_id, resource_body, ips):
        props = _props(resource_body)
        if _disabled(props.get("publicNetworkAccess"), (props.get("network") or {}).get("publicNetworkAccess")):
            return verdict(CLOSED, reason=_public_disabled(target, "firewall rules"))
        listed = _get(arm, resource_id + "/firewallRules", target.api_version,
                      f"Listing the firewall rules of '{resource_body.get('name')}'").get("value") or []
        rules = [_props(r) for r in listed]
        if none_admits_all and not rules:
            return verdict(OPEN, reason="it has no firewall rules")
        if any(r.get(start_key) == AZURE_SERVICES and r.get(end_key) == AZURE_SERVICES for r in rules):
            return verdict(OPEN, reason="a 0.0.0.0 rule admits Azure services, the cluster's egress among them")
        return _checked(ips, lambda ip: any(firewall.covers_range(r.get(start_key), r.get(end_key), ip)
                                            for r in rules))
    return check


def _cosmos(arm, target, resource_id, resource_body, ips):  # pylint: disable=unused-argument
    props = _props(resource_body)
    if _disabled(props.get("publicNetworkAccess")):
        return verdict(CLOSED, reason=_public_disabled(target))
    rules = props.get("ipRules") or []
    if not rules and not props.get("isVirtualNetworkFilterEnabled"):
        return verdict(OPEN, reason="no IP rules and no virtual network filter")
    if any(str(r.get("ipAddressOrRange") or "").strip() == AZURE_SERVICES for r in rules):
        return verdict(OPEN, reason="the 0.0.0.0 rule admits Azure datacenters, the cluster's egress among them")
    return _checked(ips, lambda ip: any(firewall.covers(r.get("ipAddressOrRange"), ip) for r in rules))


def _signalr(arm, target, resource_id, resource_body, ips):  # pylint: disable=unused-argument
    props = _props(resource_body)
    if _disabled(props.get("publicNetworkAccess")):
        return verdict(CLOSED, reason=_public_disabled(target))
    rules = (props.get("networkACLs") or {}).get("ipRules") or []
    if not rules:
        return verdict(OPEN, reason="it has no IP rules")

    def allowed(ip):
        for r in rules:                      # ordered: the first rule that matches decides
            if firewall.covers(r.get("value"), ip):
                return str(r.get("action") or "Allow").lower() == "allow"
        return False
    return _checked(ips, allowed)


def _no_ip_rules(arm, target, resource_id, resource_body, ips):  # pylint: disable=unused-argument
    return verdict(NO_RULES, reason=firewall.NO_IP_RULES.get(target.name) or
                   f"The {target.display} has no IP firewall rules.")


MECHANISMS = {
    "storage": _acl_rules,
    "keyvault": _acl_rules,
    "cognitive": _acl_rules,
    "messaging": _messaging,
    "server-rules": _rules_per_address("startIpAddress", "endIpAddress", none_admits_all=False),
    "redis": _rules_per_address("startIP", "endIP", none_admits_all=True),
    "cosmos": _cosmos,
    "signalr": _signalr,
    "no-ip-rules": _no_ip_rules,
}


def admits(arm, target, resource_id, resource_body, ips):
    """The :func:`verdict` of the target's firewall for ``ips`` (the cluster's egress IPv4 addresses)."""
    mechanism = MECHANISMS.get(target.firewall or "no-ip-rules", _no_ip_rules)
    return mechanism(arm, target, resource_id, resource_body, list(ips))


def _parts(resource_id):
    parts = resource_id.split("/")
    return parts[2], parts[4], parts[8] if len(parts) > 8 else parts[-1]


# server-rules: provider/type (lower case) -> (az command group, server option, rule option). PostgreSQL single
# server has no command in current az versions (retired): it gets none.
_SERVER_GROUPS = {
    "microsoft.sql/servers": ("sql server", "-s", "-n"),
    "microsoft.dbforpostgresql/flexibleservers": ("postgres flexible-server", "-s", "-n"),
    "microsoft.dbformysql/flexibleservers": ("mysql flexible-server", "-n", "-r"),
    "microsoft.dbformysql/servers": ("mysql server", "-s", "-n"),
}


# pylint: disable-next=too-many-return-statements  # one command per mechanism
def rule_command(target, resource_id, ip, resource_body=None):
    """The az command adding one rule for ``ip`` on the target (None when there is none to give)."""
    if not resource_id:
        return None
    sub, rg, name = _parts(resource_id)
    where = f"--subscription {sub} -g {rg}"
    kind = target.firewall
    rtype = "/".join(resource_id.split("/")[6:8]).lower()
    if kind == "storage":
        return f"az storage account network-rule add {where} --account-name {name} --ip-address {ip}"
    if kind == "keyvault":
        return f"az keyvault network-rule add {where} -n {name} --ip-address {ip}/32"
    if kind == "cognitive":
        return f"az cognitiveservices account network-rule add {where} -n {name} --ip-address {ip}"
    if kind == "messaging":
        group = "servicebus" if rtype.startswith("microsoft.servicebus/") else "eventhubs"
        return (f"az {group} namespace network-rule-set ip-rule add {where} --namespace-name {name} "
                f"--ip-rule ip-address={ip} action=Allow")
    if kind == "server-rules" and rtype in _SERVER_GROUPS:
        group, server, rule = _SERVER_GROUPS[rtype]
        return (f"az {group} firewall-rule create {where} {server} {name} {rule} {firewall.rule_name(ip)} "
                f"--start-ip-address {ip} --end-ip-address {ip}")
    if kind == "redis":
        return (f"az redis firewall-rules create {where} -n {name} --rule-name {firewall.rule_name(ip)} "
                f"--start-ip {ip} --end-ip {ip}")
    if kind == "cosmos":
        rules = [r.get("ipAddressOrRange") for r in _props(resource_body).get("ipRules") or []
                 if r.get("ipAddressOrRange")]
        return f"az cosmosdb update {where} -n {name} --ip-range-filter {','.join(rules + [ip])}"
    return None
