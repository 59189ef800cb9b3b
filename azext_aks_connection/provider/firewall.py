"""IP firewall rules on targets: admit the cluster's egress IPs, as Service Connector does for AKS.

One reader per mechanism (``Target.firewall``): ``read(arm, target, resource_id, resource_body)`` gives
:class:`Rules`, what the target admits now (all networks; public access disabled: IP rules do not apply, it is
reached through private endpoints; no IP rules at all; or the rules, which admit some addresses), and how to add
rules to what it read. Everything judges from it:

- ``admits(...)``: the read-only :func:`verdict` (state, admitted, missing), for ``validate`` and the Firewall
  step of the plan (``create --dry-run`` lists ``missing`` as what create adds). The "allow Azure services" rule
  (0.0.0.0 on SQL / MySQL / PostgreSQL, Cosmos DB) admits every Azure address, the cluster's egress among them:
  the verdict is open, and ``missing`` still names the addresses without a rule of their own, which create adds.
- ``ensure_rules(arm, target, resource_id, resource_body, ips) -> {"added", "present", "skipped_reason"}``:
  idempotent: the same read, and a write only when an IP is missing (one write carrying the missing /32 rules;
  rules that name one address each where the service has no list); ``present``: IPs an existing rule already
  admits (a rule for the address or a range holding it); ``skipped_reason``: nothing to do and why (a target that
  admits all networks: adding a rule would shut every other client out; public access disabled; no IP rules).
  Long-running writes are polled at the service's Retry-After, else at a short growing interval
  (``retry.Backoff``). Safe under concurrent writers: a list-valued rule set is written whole (PATCH/PUT of the
  list), and these APIs take no ETag precondition, so two clusters admitted at once could each write the list
  they read and the last one would drop the other's rule (azure-cli#29800 is the same for `az storage account
  network-rule add`). So the list is read again right before the write (not the body the command read at its
  start), and after a write the rules are read again, and once more after about one write's duration (a writer
  that read before ours lands within it); any of ours that is gone is added again (merged with what is there
  now), with a jittered pause, a bounded number of times: ``added`` only ever lists rules that are there when
  the function returns.
- ``remove_rules`` (delete --cleanup) and ``rule_command`` (the az command validate recommends).

Mechanisms:

  storage        storage account properties.networkAcls.ipRules [{value: "1.2.3.4", action}] (PATCH account;
                 /31 and /32 ranges are refused by Storage: single addresses are written bare)
  keyvault       vault properties.networkAcls.ipRules [{value: "1.2.3.4/32"}] (PATCH vault)
  messaging      Service Bus / Event Hubs {namespace}/networkRuleSets/default ipRules [{ipMask, action}] (PUT)
  server-rules   SQL, PostgreSQL and MySQL (single and flexible) {server}/firewallRules/{name}
                 {startIpAddress, endIpAddress} (PUT per address; long-running on the flexible servers)
  redis          Azure Cache for Redis {cache}/firewallRules/{name} {startIP, endIP} (PUT per address). A cache
                 without rules admits every address: then nothing is added.
  cosmos         Cosmos DB account properties.ipRules [{ipAddressOrRange}] (PATCH account, long-running). No
                 rules and no virtual network filter = all networks: then nothing is added.
  cognitive      Cognitive Services account properties.networkAcls.ipRules [{value}] (PATCH account)
  signalr        SignalR / Web PubSub properties.networkACLs.ipRules [{value, action}] (PATCH, long-running):
                 ordered, first match wins; new Allow rules go first. The default rules allow 0.0.0.0/0.
  no-ip-rules    App Configuration, Redis Enterprise, Application Insights (public access or private
                 endpoints only), and the non-Azure targets (Neon, MongoDB Atlas, Confluent Cloud): a reason.
"""
import collections
import ipaddress
import time

from azext_aks_connection.provider import retry
from azext_aks_connection.provider.arm import ArmError
from azext_aks_connection.provider.errors import arm_error

LRO_TIMEOUT = 1800          # seconds; firewall writes finish in seconds to a few minutes
VERIFY_ATTEMPTS = 8         # write, read back (twice), re-add what a concurrent writer dropped
TERMINAL = {"succeeded", "failed", "canceled", "cancelled"}

NO_IP_RULES = {
    "appconfig": "App Configuration has no IP firewall rules: a store is reached over its public endpoint "
                 "(publicNetworkAccess) or through private endpoints.",
    "redis-enterprise": "Azure Cache for Redis Enterprise has no IP firewall rules: a cluster is reached over "
                        "its public endpoint or through private endpoints.",
    "app-insights": "Application Insights takes telemetry from any network: there are no IP rules to add.",
    "neon-postgres": "Neon Serverless Postgres keeps its IP allow list in the Neon console, not in Azure "
                     "Resource Manager: allow the cluster's egress IPs there.",
    "mongodb-atlas": "MongoDB Atlas keeps its IP access list in Atlas, not in Azure Resource Manager: allow "
                     "the cluster's egress IPs there.",
    "confluent-cloud": "Confluent Cloud is not an Azure resource: manage its network access in Confluent Cloud.",
}


def result(added=(), present=(), skipped_reason=None):
    return {"added": list(added), "present": list(present), "skipped_reason": skipped_reason}


def rule_name(ip):
    """Deterministic firewall rule name for one address, valid for SQL, PostgreSQL, MySQL and Redis (letters,
    digits and '_'): a re-run finds the rule it made instead of adding another."""
    return "aksconnection_" + str(ip).replace(".", "_")


def _ipv4s(ips):
    out = []
    for ip in ips or ():
        addr = ipaddress.ip_address(str(ip).split("/", maxsplit=1)[0].strip())
        if addr.version == 4 and str(addr) not in out:
            out.append(str(addr))
    return out


def covers(entry, ip):
    """True when firewall entry ``entry`` ("1.2.3.4", "1.2.3.0/24", "0.0.0.0/0") admits ``ip``."""
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(str(entry).strip(), strict=False)
    except ValueError:
        return False


def covers_range(start, end, ip):
    try:
        return ipaddress.ip_address(start) <= ipaddress.ip_address(ip) <= ipaddress.ip_address(end)
    except ValueError:
        return False


def _disabled(*values):
    return any(str(v or "").lower() == "disabled" for v in values)


def _public_disabled(target, what="IP rules"):
    return f"Public network access is disabled on the {target.display}: {what} do not apply (it is reached " \
           "through private endpoints). Give the cluster a network path to it instead."


def _all_networks(target, why):
    return f"The {target.display} admits all networks ({why}): nothing to add; a rule would shut out every " \
           "other client."


# --------------------------------------------------------------------------- requests and long-running writes

# pylint: disable-next=too-many-positional-arguments  # the parts of one ARM write, each needed
def _send(arm, method, path, api_version, body, what, poll_resource=None):
    try:
        # raw: a generic write by id with the target's api-version (targets.py): one code path for every mechanism
        status, answer, headers = arm.send(method, path, api_version, body=body)
    except ArmError as exc:
        raise arm_error(exc, what) from exc
    return wait(arm, status, answer, headers, what, poll_resource=poll_resource)


def wait(arm, status, body, headers, what, *, poll_resource=None, timeout=LRO_TIMEOUT):
    """Follow a long-running write to its end: the Azure-AsyncOperation URL if the service gave one, else the
    Location URL of a 202, else (``poll_resource=(id, api-version)``) the resource until its
    provisioningState is terminal. Waits as long as each answer's Retry-After says (when it says nothing: 0.5 s
    growing to 5 s, ``retry.Backoff``), at most ``timeout`` seconds."""
    # retry.poll, not azure-core's LROPoller: these writes are raw calls by id (Arm.send), with no SDK's
    # deserializer or pipeline response to hand it; the delay policy is the same (retry.Backoff).
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    state = str(_props(body).get("provisioningState") or "").lower() if isinstance(body, dict) else ""
    async_url = lower.get("azure-asyncoperation")
    location = lower.get("location") if status == 202 else None
    if not async_url and not location and not (poll_resource and state and state not in TERMINAL):
        _raise_if_failed(state, body, what)
        return body

    def step():
        try:
            if async_url:
                _, answer, last = arm.send("GET", async_url)
                op = str((answer or {}).get("status") or "").lower()
            elif location:
                code, answer, last = arm.send("GET", location)
                return retry.Pending(headers=last) if code == 202 else answer
            else:
                answer, last = arm.get(*poll_resource), {}
                op = str(((answer or {}).get("properties") or {}).get("provisioningState") or "").lower()
        except ArmError as exc:
            raise arm_error(exc, what) from exc
        if op not in TERMINAL:
            return retry.Pending(headers=last)
        _raise_if_failed(op, answer, what)
        return answer

    def timed_out(_):
        from azure.cli.core.azclierror import AzureResponseError
        return AzureResponseError(f"{what} did not finish within {timeout} s.",
                                  recommendation="Check the resource in the portal, then run the command again.")

    return retry.poll(step, seconds=timeout, timed_out=timed_out, first=headers or {})


def _raise_if_failed(state, body, what):
    if state in ("failed", "canceled", "cancelled"):
        from azure.cli.core.azclierror import AzureResponseError
        err = (body or {}).get("error") or {}
        raise AzureResponseError(f"{what} failed: ({err.get('code') or state}) {err.get('message') or ''}".strip())


def _get(arm, path, api_version, what):
    try:  # raw: a read by id with the target's api-version (targets.py)
        return arm.get(path, api_version) or {}
    except ArmError as exc:
        raise arm_error(exc, what) from exc


def _props(body):
    return (body or {}).get("properties") or {}


# --------------------------------------------------------------------------- what the target admits: one reader

OPEN, CLOSED, NO_RULES, CHECKED = "open", "public-access-disabled", "no-ip-rules", "checked"
AZURE_SERVICES = "0.0.0.0"      # the "allow Azure services" rule: SQL / MySQL / PostgreSQL 0.0.0.0-0.0.0.0, Cosmos


Rules = collections.namedtuple("Rules", "state reason admitted add", defaults=(None, None, None))
Rules.__doc__ = """One read of a target's IP firewall by its mechanism (the only one: create, validate and --dry-run
judge from it). ``state``: OPEN (all networks admitted), CLOSED (public access disabled: IP rules do not apply),
NO_RULES (the service has none), CHECKED (its rules decide); ``reason``: why (OPEN, CLOSED, NO_RULES). Where rules
decide, ``admitted(ip)`` over the rules read and ``add(ips)``, which writes rules for ``ips`` into what was read
(reading never writes). OPEN with ``admitted``: the "allow Azure services" rule (0.0.0.0) admits the cluster, but
it is the user's to remove: create still adds a rule of its own for each address."""


def verdict(state, admitted=(), missing=(), reason=None):
    """What :func:`admits` answers: the :class:`Rules` state and reason, and (where rules decide) which addresses
    a rule admits and which are ``missing`` one: the rules create adds."""
    return {"state": state, "admitted": list(admitted), "missing": list(missing), "reason": reason}


def _judge(rules, ips):
    if rules.admitted is None:
        return verdict(rules.state, reason=rules.reason)
    admitted = [ip for ip in ips if rules.admitted(ip)]
    return verdict(rules.state, admitted, [ip for ip in ips if ip not in admitted], rules.reason)


def read(arm, target, resource_id, resource_body):
    """The target's IP firewall as its mechanism (``Target.firewall``) reads it: :class:`Rules`."""
    return MECHANISMS.get(target.firewall or "no-ip-rules", _no_ip_rules)(arm, target, resource_id, resource_body)


def admits(arm, target, resource_id, resource_body, ips):
    """The :func:`verdict` of the target's firewall for ``ips`` (the cluster's egress addresses; IPv4 only) now.
    Validate's judgement, and (``missing``) what create would add; it never writes."""
    return _judge(read(arm, target, resource_id, resource_body), _ipv4s(ips))


# list-valued mechanisms (their rules are one list, written whole): the path below the resource holding the list,
# the property holding it (None: the properties themselves), an entry's address key
_LISTS = {
    "storage": ("", "networkAcls", "value"),
    "keyvault": ("", "networkAcls", "value"),
    "cognitive": ("", "networkAcls", "value"),
    "signalr": ("", "networkACLs", "value"),
    "cosmos": ("", None, "ipAddressOrRange"),
    "messaging": ("/networkRuleSets/default", None, "ipMask"),
}
LIST_VALUED = tuple(_LISTS)
_RULE_SET_KEYS = ("publicNetworkAccess", "defaultAction", "virtualNetworkRules", "trustedServiceAccessEnabled")


def _ip_rules(kind, props):
    """(the object holding the ipRules list, a copy of the list) of a list-valued mechanism, in ``props`` read."""
    holder = _LISTS[kind][1]
    container = dict(props.get(holder) or {}) if holder else props
    return container, list(container.get("ipRules") or [])


def _write_list(arm, target, resource_id, props, rules, *, what):
    """Write a list-valued mechanism's ipRules whole: ``rules`` in place of the list in ``props`` (as read)."""
    kind = target.firewall
    suffix, holder, _ = _LISTS[kind]
    if holder:
        body = {holder: dict(_ip_rules(kind, props)[0], ipRules=rules)}
    elif kind == "messaging":
        body = dict({k: props[k] for k in _RULE_SET_KEYS if k in props}, ipRules=rules)
    else:
        body = {"ipRules": rules}
    _send(arm, "PUT" if kind == "messaging" else "PATCH", resource_id + suffix, target.api_version,
          {"properties": body}, what, poll_resource=None if kind == "messaging" else (resource_id, target.api_version))


def _list_adder(arm, target, resource_id, props, new_list):
    """``Rules.add`` of a list-valued mechanism: ``new_list(ips)`` (the list read, with rules for ``ips``) written."""
    def add(ips):
        _write_list(arm, target, resource_id, props, new_list(ips),
                    what=f"Adding IP rules {', '.join(ips)} to {target.display} '{resource_id.split('/')[-1]}'")
    return add


def _acl_rules(single_value):
    """storage / keyvault / cognitive: properties.networkAcls {defaultAction, ipRules [{value}]} (PATCH)."""
    def read_acls(arm, target, resource_id, resource_body):
        props = _props(resource_body)
        if _disabled(props.get("publicNetworkAccess")):
            return Rules(CLOSED, _public_disabled(target))
        acls, rules = _ip_rules(target.firewall, props)
        if str(acls.get("defaultAction") or "Allow").lower() == "allow":
            return Rules(OPEN, "networkAcls.defaultAction is Allow")
        extra = {"action": "Allow"} if target.firewall == "storage" else {}
        return Rules(CHECKED, admitted=lambda ip: any(covers(r.get("value"), ip) for r in rules),
                     add=_list_adder(arm, target, resource_id, props, lambda ips: rules + [
                         {"value": single_value(ip), **extra} for ip in ips]))
    return read_acls


def _messaging(arm, target, resource_id, resource_body):
    """Service Bus / Event Hubs: the namespace's one network rule set, read from ARM and replaced whole (PUT)."""
    rule_set = _props(_get(arm, resource_id + "/networkRuleSets/default", target.api_version,
                           f"Reading the network rules of namespace '{resource_body.get('name')}'"))
    if _disabled(rule_set.get("publicNetworkAccess"), _props(resource_body).get("publicNetworkAccess")):
        return Rules(CLOSED, _public_disabled(target))
    if str(rule_set.get("defaultAction") or "Allow").lower() == "allow":
        return Rules(OPEN, "networkRuleSets/default defaultAction is Allow")
    _, rules = _ip_rules("messaging", rule_set)
    allows = [r.get("ipMask") for r in rules if str(r.get("action") or "Allow").lower() == "allow"]
    return Rules(CHECKED, admitted=lambda ip: any(covers(mask, ip) for mask in allows),
                 add=_list_adder(arm, target, resource_id, rule_set, lambda ips: rules + [
                     {"ipMask": f"{ip}/32", "action": "Allow"} for ip in ips]))


def _rules_per_address(start_key, end_key, none_admits_all):
    """{server}/firewallRules/{name}: one rule per address, PUT under a deterministic name."""
    def read_server_rules(arm, target, resource_id, resource_body):
        props = _props(resource_body)
        if _disabled(props.get("publicNetworkAccess"), (props.get("network") or {}).get("publicNetworkAccess")):
            return Rules(CLOSED, _public_disabled(target, "firewall rules"))
        name = resource_body.get("name")
        listed = _get(arm, resource_id + "/firewallRules", target.api_version,
                      f"Listing the firewall rules of '{name}'").get("value") or []
        rules = [_props(r) for r in listed]
        if none_admits_all and not rules:
            return Rules(OPEN, "it has no firewall rules")

        def add(ips):
            for ip in ips:
                _send(arm, "PUT", f"{resource_id}/firewallRules/{rule_name(ip)}", target.api_version,
                      {"properties": {start_key: ip, end_key: ip}},
                      f"Adding firewall rule {rule_name(ip)} ({ip}) to '{name}'")
        azure = any(r.get(start_key) == AZURE_SERVICES and r.get(end_key) == AZURE_SERVICES for r in rules)
        return Rules(OPEN if azure else CHECKED,
                     "a 0.0.0.0 rule admits Azure services, the cluster's egress among them" if azure else None,
                     lambda ip: any(covers_range(r.get(start_key), r.get(end_key), ip) for r in rules), add)
    return read_server_rules


def _cosmos(arm, target, resource_id, resource_body):
    """Cosmos DB properties.ipRules (PATCH, long-running); no rules and no virtual network filter: all networks."""
    props = _props(resource_body)
    if _disabled(props.get("publicNetworkAccess")):
        return Rules(CLOSED, _public_disabled(target))
    _, rules = _ip_rules("cosmos", props)
    if not rules and not props.get("isVirtualNetworkFilterEnabled"):
        return Rules(OPEN, "no IP rules and no virtual network filter")
    azure = any(str(r.get("ipAddressOrRange") or "").strip() == AZURE_SERVICES for r in rules)
    return Rules(OPEN if azure else CHECKED,
                 "the 0.0.0.0 rule admits Azure datacenters, the cluster's egress among them" if azure else None,
                 lambda ip: any(covers(r.get("ipAddressOrRange"), ip) for r in rules),
                 _list_adder(arm, target, resource_id, props,
                             lambda ips: rules + [{"ipAddressOrRange": ip} for ip in ips]))


def _signalr(arm, target, resource_id, resource_body):
    """SignalR / Web PubSub networkACLs.ipRules: ordered, first match decides; Allow rules are put first."""
    props = _props(resource_body)
    if _disabled(props.get("publicNetworkAccess")):
        return Rules(CLOSED, _public_disabled(target))
    _, rules = _ip_rules("signalr", props)
    if not rules:
        return Rules(OPEN, "it has no IP rules")

    def allowed(ip):
        for r in rules:                      # ordered: the first rule that matches decides
            if covers(r.get("value"), ip):
                return str(r.get("action") or "Allow").lower() == "allow"
        return False                         # no rule matches: refused

    first = rules[0].get("value")
    if covers(first, "0.0.0.0") and covers(first, "255.255.255.255") and allowed("0.0.0.0"):
        return Rules(OPEN, "its first IP rule allows 0.0.0.0/0")
    return Rules(CHECKED, admitted=allowed, add=_list_adder(arm, target, resource_id, props, lambda ips: [
        {"value": f"{ip}/32", "action": "Allow"} for ip in ips] + rules))


def _no_ip_rules(arm, target, resource_id, resource_body):  # pylint: disable=unused-argument
    return Rules(NO_RULES, NO_IP_RULES.get(target.name) or f"The {target.display} has no IP firewall rules.")


MECHANISMS = {
    "storage": _acl_rules(lambda ip: ip),
    "keyvault": _acl_rules(lambda ip: f"{ip}/32"),
    "cognitive": _acl_rules(lambda ip: ip),
    "messaging": _messaging,
    "server-rules": _rules_per_address("startIpAddress", "endIpAddress", none_admits_all=False),
    "redis": _rules_per_address("startIP", "endIP", none_admits_all=True),
    "cosmos": _cosmos,
    "signalr": _signalr,
    "no-ip-rules": _no_ip_rules,
}


# --------------------------------------------------------------------------- writes (create)

def _admit(arm, target, resource_id, resource_body, ips):
    """One read of the target's firewall and, for what it lacks, one write: a :func:`result`."""
    rules = read(arm, target, resource_id, resource_body)
    seen = _judge(rules, ips)
    if seen["missing"]:
        rules.add(seen["missing"])
    if rules.admitted is not None:
        return result(seen["missing"], seen["admitted"])
    return result(skipped_reason=_all_networks(target, rules.reason) if rules.state == OPEN else rules.reason)


def ensure_rules(arm, target, resource_id, resource_body, ips):
    """Admit ``ips`` (the cluster's egress IPs) on the target by its mechanism; see the module docstring."""
    addresses = _ipv4s(ips)
    if not addresses:
        return result(skipped_reason="The cluster has no public egress IPv4 address to admit.")
    started = time.monotonic()
    if target.firewall in LIST_VALUED and target.firewall != "messaging":
        # A list written whole is merged into what is there right now, not into the body the command read at its
        # start (seconds ago: another writer may have written since). Service Bus / Event Hubs read their rule
        # set in their reader already.
        resource_body = _get(arm, resource_id, target.api_version, f"Reading the {target.display}")
    outcome = _admit(arm, target, resource_id, resource_body, addresses)
    if not outcome["added"] or target.firewall not in LIST_VALUED:
        return outcome          # per-address rules have names of their own: no other writer replaces them
    return _confirm(arm, target, resource_id, addresses, outcome, write_seconds=time.monotonic() - started)


def _confirm(arm, target, resource_id, addresses, outcome, *, write_seconds):
    """Read back what was written: a concurrent writer of the same list may have replaced it with its own read. A
    writer that read before our write lands about one read-and-write's duration later at most, so once our rules
    are seen they are confirmed once more after that long (measured from our read, not fixed; only after a write
    of ours)."""
    write_seconds = min(10.0, write_seconds)
    first_present, added = list(outcome["present"]), list(outcome["added"])
    confirmed = False

    def verify(_):
        nonlocal added, confirmed
        fresh = _get(arm, resource_id, target.api_version, f"Reading the {target.display} back")
        again = _admit(arm, target, resource_id, fresh, addresses)
        if again.get("skipped_reason"):
            # Opened to all networks (or public access turned off) meanwhile: nothing of ours is needed any more.
            return result(present=first_present, skipped_reason=again["skipped_reason"])
        if not again["added"]:
            if confirmed:
                return result(added, first_present)
            confirmed = True
            raise retry.Again(delay=write_seconds)
        confirmed = False
        added = sorted(set(added) | set(again["added"]))
        raise retry.Again()         # contention: the jittered backoff spreads the writers out

    def exhausted(_):
        from azure.cli.core.azclierror import AzureResponseError
        return AzureResponseError(
            f"The IP rules for {', '.join(addresses)} on the {target.display} '{resource_id.split('/')[-1]}' kept "
            f"being replaced by another writer ({VERIFY_ATTEMPTS} attempts).",
            recommendation="Another client is rewriting the target's network rules at the same time: re-run the "
            "command when it is done (it adds only what is missing).")

    # between the writers of one list: 0.25 s doubling to 4 s, each times 0.5-1.5
    return retry.call(verify, attempts=VERIFY_ATTEMPTS, exhausted=exhausted,
                      backoff=retry.Backoff(first=0.25, factor=2.0, cap=4.0, jitter=(0.5, 1.5)))


# --------------------------------------------------------------------------- removal (delete --cleanup)

def _ours(value, ip):
    """An IP rule entry that names exactly ``ip`` (bare or /32): the kind this extension writes."""
    return str(value or "").strip() in (ip, f"{ip}/32")


def remove_rules(arm, target, resource_id, ips):
    """Remove the rules this extension added for ``ips`` (a rule per address, or the address's entry in the
    target's list, re-read and confirmed gone: another writer may rewrite the list meanwhile). Returns the
    addresses whose rule was removed."""
    kind = target.firewall
    if kind in ("server-rules", "redis"):
        for ip in ips:
            try:
                # raw: a delete by id with the target's api-version (targets.py)
                arm.send("DELETE", f"{resource_id}/firewallRules/{rule_name(ip)}", target.api_version)
            except ArmError as exc:
                if exc.status_code != 404:
                    raise arm_error(exc, f"Removing firewall rule {rule_name(ip)} from "
                                         f"'{resource_id.split('/')[-1]}'") from exc
        return list(ips)
    if kind not in _LISTS:
        return []
    suffix, _, value_key = _LISTS[kind]

    def remove(attempt):
        props = _props(_get(arm, resource_id + suffix, target.api_version, f"Reading the {target.display}"))
        rules = _ip_rules(kind, props)[1]
        keep = [r for r in rules if not any(_ours(r.get(value_key), ip) for ip in ips)]
        if len(keep) == len(rules):
            return list(ips)        # none (left) of ours: done
        _write_list(arm, target, resource_id, props, keep,
                    what=f"Removing IP rules {', '.join(ips)} from {target.display} '{resource_id.split('/')[-1]}'")
        # Read back at once; found there again after that, another writer put them back: the jittered backoff
        # spreads the writers out.
        raise retry.Again(delay=0 if attempt == 0 else None)

    def exhausted(_):
        from azure.cli.core.azclierror import AzureResponseError
        return AzureResponseError(
            f"The IP rules for {', '.join(ips)} on the {target.display} kept coming back while they were removed "
            f"({VERIFY_ATTEMPTS} attempts).",
            recommendation="Another client is rewriting the target's network rules: re-run the delete when it is "
            "done.")

    return retry.call(remove, attempts=VERIFY_ATTEMPTS, exhausted=exhausted,
                      backoff=retry.Backoff(first=0.5, factor=2.0, cap=4.0, jitter=(0.5, 1.5)))


# --------------------------------------------------------------------------- the az command a user can run instead

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
    """The az command adding one rule for ``ip`` on the target (None when there is none to give: SignalR / Web
    PubSub, the targets without IP rules)."""
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
        return (f"az {group} firewall-rule create {where} {server} {name} {rule} {rule_name(ip)} "
                f"--start-ip-address {ip} --end-ip-address {ip}")
    if kind == "redis":
        return (f"az redis firewall-rules create {where} -n {name} --rule-name {rule_name(ip)} "
                f"--start-ip {ip} --end-ip {ip}")
    if kind == "cosmos":
        rules = [r.get("ipAddressOrRange") for r in _props(resource_body).get("ipRules") or []
                 if r.get("ipAddressOrRange")]
        return f"az cosmosdb update {where} -n {name} --ip-range-filter {','.join(rules + [ip])}"
    return None
