"""IP firewall rules on targets: admit the cluster's egress IPs, as Service Connector does for AKS.

One function per mechanism (``Target.firewall``), all of the form
``ensure_rules(arm, target, resource_id, resource_body, ips) -> {"added", "present", "skipped_reason"}``:

- idempotent: read the rules, compare, write only when an IP is missing (one write carrying the missing
  /32 rules; rules that name one address each where the service has no list);
- ``present``: IPs an existing rule already admits (a rule for the address or a range holding it);
- ``skipped_reason``: nothing to do and why: the target admits all networks (adding a rule would shut
  every other client out), public access is disabled (IP rules do not apply: private endpoints), or the
  service has no IP rules at all;
- long-running writes are polled at the service's Retry-After, else at a short growing interval (``arm.Backoff``);
- safe under concurrent writers: a list-valued rule set is written whole (PATCH/PUT of the list), and these APIs
  take no ETag precondition, so two clusters admitted at once could each write the list they read and the last one
  would drop the other's rule (azure-cli#29800 is the same for `az storage account network-rule add`). After a
  write the rules are read again, and once more after about one write's duration (a writer that read before ours
  lands within it); any of ours that is gone is added again (merged with what is there now), with a jittered
  pause, a bounded number of times: ``added`` only ever lists rules that are there when the function returns.

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
import ipaddress
import random
import time

from azext_aks_connection.provider.arm import ArmError, Backoff, pause
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


def _split(ips, admitted):
    present = [ip for ip in ips if admitted(ip)]
    return present, [ip for ip in ips if ip not in present]


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
        status, answer, headers = arm.send(method, path, api_version, body=body)
    except ArmError as exc:
        raise arm_error(exc, what) from exc
    return wait(arm, status, answer, headers, what, poll_resource=poll_resource)


def wait(arm, status, body, headers, what, *, poll_resource=None, timeout=LRO_TIMEOUT):
    """Follow a long-running write to its end: the Azure-AsyncOperation URL if the service gave one, else the
    Location URL of a 202, else (``poll_resource=(id, api-version)``) the resource until its
    provisioningState is terminal. Waits as long as each answer's Retry-After says (when it says nothing: 0.5 s
    growing to 5 s, ``arm.Backoff``)."""
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    state = str(_props(body).get("provisioningState") or "").lower() if isinstance(body, dict) else ""
    async_url = lower.get("azure-asyncoperation")
    location = lower.get("location") if status == 202 else None
    if not async_url and not location and not (poll_resource and state and state not in TERMINAL):
        _raise_if_failed(state, body, what)
        return body
    deadline = time.monotonic() + timeout
    last, backoff = headers, Backoff()
    while True:
        if time.monotonic() > deadline:
            from azure.cli.core.azclierror import AzureResponseError
            raise AzureResponseError(f"{what} did not finish within {timeout} s.",
                                     recommendation="Check the resource in the portal, then run the command again.")
        pause(backoff.delay(last))
        try:
            if async_url:
                _, answer, last = arm.send("GET", async_url)
                op = str((answer or {}).get("status") or "").lower()
                if op in TERMINAL:
                    _raise_if_failed(op, answer, what)
                    return answer
            elif location:
                code, answer, last = arm.send("GET", location)
                if code != 202:
                    return answer
            else:
                answer = arm.get(*poll_resource)
                last = {}
                op = str(((answer or {}).get("properties") or {}).get("provisioningState") or "").lower()
                if op in TERMINAL:
                    _raise_if_failed(op, answer, what)
                    return answer
        except ArmError as exc:
            raise arm_error(exc, what) from exc


def _raise_if_failed(state, body, what):
    if state in ("failed", "canceled", "cancelled"):
        from azure.cli.core.azclierror import AzureResponseError
        err = (body or {}).get("error") or {}
        raise AzureResponseError(f"{what} failed: ({err.get('code') or state}) {err.get('message') or ''}".strip())


def _get(arm, path, api_version, what):
    try:
        return arm.get(path, api_version) or {}
    except ArmError as exc:
        raise arm_error(exc, what) from exc


def _props(body):
    return (body or {}).get("properties") or {}


# --------------------------------------------------------------------------- mechanisms

def _acl_entry(kind, value):
    return {"value": value, "action": "Allow"} if kind == "storage" else {"value": value}


def _acl_rules(kind, single_value):
    """storage / keyvault / cognitive: properties.networkAcls {defaultAction, ipRules [{value}]} (PATCH)."""
    def ensure(arm, target, resource_id, resource_body, ips):
        props = _props(resource_body)
        if _disabled(props.get("publicNetworkAccess")):
            return result(skipped_reason=_public_disabled(target))
        acls = props.get("networkAcls") or {}
        if str(acls.get("defaultAction") or "Allow").lower() == "allow":
            return result(skipped_reason=_all_networks(target, "networkAcls.defaultAction Allow"))
        rules = list(acls.get("ipRules") or [])
        present, missing = _split(ips, lambda ip: any(covers(r.get("value"), ip) for r in rules))
        if missing:
            new = dict(acls)
            new["ipRules"] = rules + [_acl_entry(kind, single_value(ip)) for ip in missing]
            _send(arm, "PATCH", resource_id, target.api_version, {"properties": {"networkAcls": new}},
                  f"Adding IP rules {', '.join(missing)} to {target.display} '{resource_body.get('name')}'",
                  poll_resource=(resource_id, target.api_version))
        return result(missing, present)
    return ensure


def _messaging(arm, target, resource_id, resource_body, ips):
    """Service Bus / Event Hubs: the namespace's one network rule set, replaced whole (PUT)."""
    path = resource_id + "/networkRuleSets/default"
    name = resource_body.get("name")
    rule_set = _props(_get(arm, path, target.api_version, f"Reading the network rules of namespace '{name}'"))
    if _disabled(rule_set.get("publicNetworkAccess"), _props(resource_body).get("publicNetworkAccess")):
        return result(skipped_reason=_public_disabled(target))
    if str(rule_set.get("defaultAction") or "Allow").lower() == "allow":
        return result(skipped_reason=_all_networks(target, "networkRuleSets/default defaultAction Allow"))
    rules = list(rule_set.get("ipRules") or [])
    present, missing = _split(ips, lambda ip: any(covers(r.get("ipMask"), ip) and
                                                  str(r.get("action") or "Allow").lower() == "allow" for r in rules))
    if missing:
        body = {k: rule_set[k] for k in ("publicNetworkAccess", "defaultAction", "virtualNetworkRules",
                                         "trustedServiceAccessEnabled") if k in rule_set}
        body["ipRules"] = rules + [{"ipMask": f"{ip}/32", "action": "Allow"} for ip in missing]
        _send(arm, "PUT", path, target.api_version, {"properties": body},
              f"Adding IP rules {', '.join(missing)} to namespace '{name}'")
    return result(missing, present)


def _rules_per_address(start_key, end_key, none_admits_all):
    """{server}/firewallRules/{name}: one rule per address, PUT under a deterministic name."""
    def ensure(arm, target, resource_id, resource_body, ips):
        props = _props(resource_body)
        if _disabled(props.get("publicNetworkAccess"), (props.get("network") or {}).get("publicNetworkAccess")):
            return result(skipped_reason=_public_disabled(target, "firewall rules"))
        name = resource_body.get("name")
        listed = _get(arm, resource_id + "/firewallRules", target.api_version,
                      f"Listing the firewall rules of '{name}'").get("value") or []
        rules = [_props(r) for r in listed]
        if none_admits_all and not rules:
            return result(skipped_reason=_all_networks(target, "it has no firewall rules"))
        present, missing = _split(ips, lambda ip: any(covers_range(r.get(start_key), r.get(end_key), ip)
                                                      for r in rules))
        for ip in missing:
            _send(arm, "PUT", f"{resource_id}/firewallRules/{rule_name(ip)}", target.api_version,
                  {"properties": {start_key: ip, end_key: ip}},
                  f"Adding firewall rule {rule_name(ip)} ({ip}) to '{name}'")
        return result(missing, present)
    return ensure


def _cosmos(arm, target, resource_id, resource_body, ips):
    props = _props(resource_body)
    if _disabled(props.get("publicNetworkAccess")):
        return result(skipped_reason=_public_disabled(target))
    rules = list(props.get("ipRules") or [])
    if not rules and not props.get("isVirtualNetworkFilterEnabled"):
        return result(skipped_reason=_all_networks(target, "no IP rules and no virtual network filter"))
    present, missing = _split(ips, lambda ip: any(covers(r.get("ipAddressOrRange"), ip) for r in rules))
    if missing:
        _send(arm, "PATCH", resource_id, target.api_version,
              {"properties": {"ipRules": rules + [{"ipAddressOrRange": ip} for ip in missing]}},
              f"Adding IP rules {', '.join(missing)} to Cosmos DB account '{resource_body.get('name')}'",
              poll_resource=(resource_id, target.api_version))
    return result(missing, present)


def _signalr(arm, target, resource_id, resource_body, ips):
    """SignalR / Web PubSub networkACLs.ipRules: ordered, first match decides; Allow rules are put first."""
    props = _props(resource_body)
    if _disabled(props.get("publicNetworkAccess")):
        return result(skipped_reason=_public_disabled(target))
    acls = props.get("networkACLs") or {}
    rules = list(acls.get("ipRules") or [])
    if not rules:
        return result(skipped_reason=_all_networks(target, "it has no IP rules"))

    def decision(ip):
        for r in rules:
            if covers(r.get("value"), ip):
                return str(r.get("action") or "Allow").lower()
        return "deny"                       # no rule matches: refused

    first = rules[0]
    if covers(first.get("value"), "0.0.0.0") and covers(first.get("value"), "255.255.255.255") and \
            str(first.get("action") or "Allow").lower() == "allow":
        return result(skipped_reason=_all_networks(target, "its first IP rule allows 0.0.0.0/0"))
    present, missing = _split(ips, lambda ip: decision(ip) == "allow")
    if missing:
        new = dict(acls)
        new["ipRules"] = [{"value": f"{ip}/32", "action": "Allow"} for ip in missing] + rules
        _send(arm, "PATCH", resource_id, target.api_version, {"properties": {"networkACLs": new}},
              f"Adding IP rules {', '.join(missing)} to {target.display} '{resource_body.get('name')}'",
              poll_resource=(resource_id, target.api_version))
    return result(missing, present)


def _no_ip_rules(arm, target, resource_id, resource_body, ips):  # pylint: disable=unused-argument
    return result(skipped_reason=NO_IP_RULES.get(target.name) or f"The {target.display} has no IP firewall rules.")


MECHANISMS = {
    "storage": _acl_rules("storage", lambda ip: ip),
    "keyvault": _acl_rules("keyvault", lambda ip: f"{ip}/32"),
    "cognitive": _acl_rules("cognitive", lambda ip: ip),
    "messaging": _messaging,
    "server-rules": _rules_per_address("startIpAddress", "endIpAddress", none_admits_all=False),
    "redis": _rules_per_address("startIP", "endIP", none_admits_all=True),
    "cosmos": _cosmos,
    "signalr": _signalr,
    "no-ip-rules": _no_ip_rules,
}


LIST_VALUED = ("storage", "keyvault", "cognitive", "messaging", "cosmos", "signalr")   # one list, written whole


def ensure_rules(arm, target, resource_id, resource_body, ips):
    """Admit ``ips`` (the cluster's egress IPs) on the target by its mechanism; see the module docstring."""
    mechanism = MECHANISMS.get(target.firewall or "no-ip-rules", _no_ip_rules)
    addresses = _ipv4s(ips)
    if not addresses:
        return result(skipped_reason="The cluster has no public egress IPv4 address to admit.")
    started = time.monotonic()
    if target.firewall in LIST_VALUED and target.firewall != "messaging":
        # A list written whole is merged into what is there right now, not into the body the command read at its
        # start (seconds ago: another writer may have written since). Service Bus / Event Hubs read their rule
        # set inside the mechanism already.
        resource_body = _get(arm, resource_id, target.api_version, f"Reading the {target.display}")
    outcome = mechanism(arm, target, resource_id, resource_body, addresses)
    if not outcome["added"] or target.firewall not in LIST_VALUED:
        return outcome          # per-address rules have names of their own: no other writer replaces them
    # Read back what was written: a concurrent writer of the same list may have replaced it with its own read. A
    # writer that read before our write lands about one read-and-write's duration later at most, so once our rules
    # are seen they are confirmed once more after that long (measured from our read, not fixed; only after a write
    # of ours).
    write_seconds = min(10.0, time.monotonic() - started)
    first_present, added = list(outcome["present"]), list(outcome["added"])
    confirmed = False
    for attempt in range(VERIFY_ATTEMPTS):
        fresh = _get(arm, resource_id, target.api_version, f"Reading the {target.display} back")
        again = mechanism(arm, target, resource_id, fresh, addresses)
        if again.get("skipped_reason"):
            # Opened to all networks (or public access turned off) meanwhile: nothing of ours is needed any more.
            return result(present=first_present, skipped_reason=again["skipped_reason"])
        if not again["added"]:
            if confirmed:
                return result(added, first_present)
            confirmed = True
            pause(write_seconds)
            continue
        confirmed = False
        added = sorted(set(added) | set(again["added"]))
        pause(min(4.0, 0.25 * 2 ** attempt) * (0.5 + random.random()))     # contention: spread the writers out
    from azure.cli.core.azclierror import AzureResponseError
    raise AzureResponseError(
        f"The IP rules for {', '.join(addresses)} on the {target.display} '{resource_body.get('name')}' kept being "
        f"replaced by another writer ({VERIFY_ATTEMPTS} attempts).",
        recommendation="Another client is rewriting the target's network rules at the same time: re-run the command "
        "when it is done (it adds only what is missing).")


# --------------------------------------------------------------------------- removal (delete --cleanup)

def _ours(value, ip):
    """An IP rule entry that names exactly ``ip`` (bare or /32): the kind this extension writes."""
    return str(value or "").strip() in (ip, f"{ip}/32")


# mechanism -> (path of the resource holding the list, property holding it, list key, entry value key)
_LISTS = {
    "storage": ("", "networkAcls", "ipRules", "value"),
    "keyvault": ("", "networkAcls", "ipRules", "value"),
    "cognitive": ("", "networkAcls", "ipRules", "value"),
    "signalr": ("", "networkACLs", "ipRules", "value"),
    "cosmos": ("", None, "ipRules", "ipAddressOrRange"),
    "messaging": ("/networkRuleSets/default", None, "ipRules", "ipMask"),
}


def remove_rules(arm, target, resource_id, ips):
    """Remove the rules this extension added for ``ips`` (a rule per address, or the address's entry in the
    target's list, re-read and confirmed gone: another writer may rewrite the list meanwhile). Returns the
    addresses whose rule was removed."""
    kind = target.firewall
    if kind in ("server-rules", "redis"):
        for ip in ips:
            try:
                arm.send("DELETE", f"{resource_id}/firewallRules/{rule_name(ip)}", target.api_version)
            except ArmError as exc:
                if exc.status_code != 404:
                    raise arm_error(exc, f"Removing firewall rule {rule_name(ip)} from "
                                         f"'{resource_id.split('/')[-1]}'") from exc
        return list(ips)
    if kind not in _LISTS:
        return []
    suffix, holder, key, value_key = _LISTS[kind]
    path = resource_id + suffix
    for attempt in range(VERIFY_ATTEMPTS):
        props = _props(_get(arm, path, target.api_version, f"Reading the {target.display}"))
        container = dict(props.get(holder) or {}) if holder else props
        rules = list(container.get(key) or [])
        keep = [r for r in rules if not any(_ours(r.get(value_key), ip) for ip in ips)]
        if len(keep) == len(rules):
            return list(ips)        # none (left) of ours: done
        if attempt:
            pause(min(4.0, 0.25 * 2 ** attempt) * (0.5 + random.random()))     # another writer put them back
        if holder:
            body = {"properties": {holder: dict(container, **{key: keep})}}
        elif kind == "messaging":
            body = {"properties": dict({k: props[k] for k in ("publicNetworkAccess", "defaultAction",
                                                              "virtualNetworkRules", "trustedServiceAccessEnabled")
                                        if k in props}, ipRules=keep)}
        else:
            body = {"properties": {key: keep}}
        _send(arm, "PUT" if kind == "messaging" else "PATCH", path, target.api_version, body,
              f"Removing IP rules {', '.join(ips)} from {target.display} '{resource_id.split('/')[-1]}'",
              poll_resource=None if kind == "messaging" else (resource_id, target.api_version))
    from azure.cli.core.azclierror import AzureResponseError
    raise AzureResponseError(f"The IP rules for {', '.join(ips)} on the {target.display} kept coming back while they "
                             f"were removed ({VERIFY_ATTEMPTS} attempts).",
                             recommendation="Another client is rewriting the target's network rules: re-run the "
                             "delete when it is done.")
