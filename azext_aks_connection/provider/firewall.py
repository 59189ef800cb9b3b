# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""IP firewall rules on targets: admit the cluster's egress IPs, as Service Connector does for AKS.

The generic part. What differs per family (how its firewall is read, written and named in a command) is its
family class in ``targets/<family>.py`` (``Target.family``); the functions here dispatch to it, so callers name no
family. ``read(arm, target, resource_id, resource_body)`` gives :class:`Rules`, what the target admits now (all
networks; public access disabled: IP rules do not apply, it is reached through private endpoints; no IP rules at
all; or the rules, which admit some addresses), and how to add rules to what it read. Everything judges from it:

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
  (``retry.Backoff``; :func:`sdk_polling` for SDK writes). Safe under concurrent writers: a list-valued rule set
  (``Family.rule_list``) is written whole, and these APIs take no ETag precondition, so two clusters admitted at
  once could each write the list they read and the last one would drop the other's rule (azure-cli#29800 is the
  same for `az storage account network-rule add`). So the list is read again right before the write (not the body
  the command read at its start), and after a write the rules are read again, and once more after about one
  write's duration (a writer that read before ours lands within it); any of ours that is gone is added again
  (merged with what is there now), with a jittered pause, a bounded number of times: ``added`` only ever lists
  rules that are there when the function returns.
- ``remove_rules`` (delete --cleanup) and ``rule_command`` (the az command validate recommends).
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


def _no_ip_rules_reasons():
    from azext_aks_connection.targets import TARGETS
    return {name: t.family.no_ip_rules for name, t in TARGETS.items() if t.family.no_ip_rules}


# Why a target has no IP rules to add, by target name (from its family: targets/<family>.py).
NO_IP_RULES = _no_ip_rules_reasons()


def result(added=(), present=(), skipped_reason=None):
    return {"added": list(added), "present": list(present), "skipped_reason": skipped_reason}


def rule_name(ip):
    """Deterministic firewall rule name for one address, valid for SQL, PostgreSQL, MySQL and Redis (letters,
    digits and '_'): a re-run finds the rule it made instead of adding another."""
    return "aksconnection_" + str(ip).replace(".", "_")


def _ipv4s(ips):
    out = []
    for ip in ips or ():
        if str(ip).startswith("/subscriptions/"):      # a node subnet, admitted by a virtual network rule
            out.append(str(ip))
            continue
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


def disabled(*values):
    return any(str(v or "").lower() == "disabled" for v in values)


def public_disabled(target, what="IP rules"):
    return f"Public network access is disabled on the {target.display}: {what} do not apply (it is reached " \
           "through private endpoints). Give the cluster a network path to it instead."


def _all_networks(target, why):
    return f"The {target.display} admits all networks ({why}): nothing to add; a rule would shut out every " \
           "other client."


# --------------------------------------------------------------------------- requests and long-running writes

# pylint: disable-next=too-many-positional-arguments  # the parts of one ARM write, each needed
# pylint: disable-next=too-many-positional-arguments  # the parts of one ARM write, each needed
def send(arm, method, path, api_version, body, what, poll_resource=None):
    """A raw write by id (for the families whose SDK this project does not use: their module says why), followed
    to its end (:func:`wait`)."""
    try:
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
    try:  # raw: a read by id with the target's api-version (the table's), or a next page by its link
        return arm.get(path, api_version) or {}
    except ArmError as exc:
        raise arm_error(exc, what) from exc


get = _get     # a family's read by id (the generic loops below call it _get)


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
    """The target's IP firewall as its family reads it (``Target.family.read_firewall``): :class:`Rules`."""
    return target.family.read_firewall(arm, target, resource_id, resource_body)


def admits(arm, target, resource_id, resource_body, ips):
    """The :func:`verdict` of the target's firewall for ``ips`` (the cluster's egress addresses; IPv4 only) now.
    Validate's judgement, and (``missing``) what create would add; it never writes."""
    return _judge(read(arm, target, resource_id, resource_body), _ipv4s(ips))


# --------------------------------------------------------------------------- what the families build on

def _ip_rules(family, props):
    """(the object holding the ipRules list, a copy of the list) of a list-valued family, in ``props`` read."""
    holder = family.rule_list.holder
    container = dict(props.get(holder) or {}) if holder else props
    return container, family.listed_rules(container)


ip_rules = _ip_rules


def _write_list(arm, target, resource_id, props, rules, *, what):
    """Write a list-valued firewall's ipRules whole: ``rules`` in place of the list in ``props`` (as read)."""
    target.family.write_rules(arm, target, resource_id, props, rules, what)


def list_adder(arm, target, resource_id, props, new_list):
    """``Rules.add`` of a list-valued family: ``new_list(ips)`` (the list read, with rules for ``ips``) written."""
    def add(ips):
        _write_list(arm, target, resource_id, props, new_list(ips),
                    what=f"Adding firewall rules for {', '.join(ips)} to {target.display} "
                         f"'{resource_id.split('/')[-1]}'")
    return add


# pylint: disable-next=too-many-positional-arguments  # a reader's inputs and the family's two choices
def acl_rules(arm, target, resource_id, resource_body, single_value, extra=None):
    """properties.networkAcls {defaultAction, ipRules [{value}]} (Storage, Key Vault, Cognitive Services: the same
    shape): ``single_value(ip)`` is how one address is written, ``extra`` what each new entry carries besides."""
    props = _props(resource_body)
    if disabled(props.get("publicNetworkAccess")):
        return Rules(CLOSED, public_disabled(target))
    acls, rules = _ip_rules(target.family, props)
    if str(acls.get("defaultAction") or "Allow").lower() == "allow":
        return Rules(OPEN, "networkAcls.defaultAction is Allow")
    return Rules(CHECKED, admitted=lambda ip: any(covers(r.get("value"), ip) for r in rules),
                 add=list_adder(arm, target, resource_id, props, lambda ips: rules + [
                     {"value": single_value(ip), **(extra or {})} for ip in ips]))


def rules_per_address(arm, target, resource_id, resource_body, keys, *, none_admits_all):
    """{server}/firewallRules/{name} (SQL, PostgreSQL, MySQL, Redis): one rule per address, added under a
    deterministic name by ``target.family.add_rule(arm, target, resource_id, ip)``. ``keys``: (start, end) property
    names; ``none_admits_all``: no rules means every address is admitted."""
    start_key, end_key = keys
    props = _props(resource_body)
    if disabled(props.get("publicNetworkAccess"), (props.get("network") or {}).get("publicNetworkAccess")):
        return Rules(CLOSED, public_disabled(target, "firewall rules"))
    what = f"Listing the firewall rules of '{resource_body.get('name')}'"
    page = _get(arm, resource_id + "/firewallRules", target.api_version, what)
    listed = list(page.get("value") or [])
    while page.get("nextLink"):             # to the last page (the link carries its own api-version)
        page = _get(arm, page["nextLink"], None, what)
        listed += page.get("value") or []
    rules = [_props(r) for r in listed]
    if none_admits_all and not rules:
        return Rules(OPEN, "it has no firewall rules")

    def add(ips):
        for ip in ips:
            target.family.add_rule(arm, target, resource_id, ip)
    azure = any(r.get(start_key) == AZURE_SERVICES and r.get(end_key) == AZURE_SERVICES for r in rules)
    return Rules(OPEN if azure else CHECKED,
                 "a 0.0.0.0 rule admits Azure services, the cluster's egress among them" if azure else None,
                 lambda ip: any(covers_range(r.get(start_key), r.get(end_key), ip) for r in rules), add)


def sdk_client(arm, client, resource_id, api_version=None):
    """The management client ``client`` ("<package>:<class>") for the subscription of ``resource_id``
    (_client_factory.cf_target_family)."""
    from azext_aks_connection._client_factory import cf_target_family
    return cf_target_family(arm.cli_ctx, resource_id.split("/")[2], client, api_version)


def sdk_polling():
    """retry.sdk_polling that also waits the first answer's Retry-After before its first poll, as :func:`wait` does."""
    return retry.sdk_polling(wait_first=True)


def sdk_write(arm, what, method, path, call, *, missing_ok=False):
    """``call()``, an SDK write (a long-running one waits for its poller's result inside ``call``), failing as a raw
    write does: an ARM error with its cause and fix (errors.arm_error). ``missing_ok``: a 404 is no failure (a
    delete of what is gone already)."""
    from azext_aks_connection.provider.arm import sdk_call
    try:
        return sdk_call(arm.cli_ctx, method, path, call)
    except ArmError as exc:
        if missing_ok and exc.status_code == 404:
            return None
        raise arm_error(exc, what) from exc


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
    """Admit ``ips`` (the cluster's egress IPs) on the target by its mechanism; see the module docstring. The
    writers of one target in this process take turns (apply): the next one finds the rule there, and writes nothing."""
    from azext_aks_connection.provider import shared
    with shared.lock(("firewall", (resource_id or "").lower())):
        return _ensure_rules(arm, target, resource_id, resource_body, ips)


def _ensure_rules(arm, target, resource_id, resource_body, ips):
    addresses = _ipv4s(ips)
    if not addresses:
        return result(skipped_reason="The cluster has no public egress IPv4 address to admit.")
    started = time.monotonic()
    if target.family.rule_list and not target.family.rule_list.path:
        # A list written whole is merged into what is there right now, not into the body the command read at its
        # start (seconds ago: another writer may have written since). Service Bus / Event Hubs read their rule
        # set in their reader already.
        resource_body = _get(arm, resource_id, target.api_version, f"Reading the {target.display}")
    outcome = _admit(arm, target, resource_id, resource_body, addresses)
    if not outcome["added"] or target.family.rule_list is None:
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
    return str(value or "").strip().lower() in (ip.lower(), f"{ip}/32")


def remove_rules(arm, target, resource_id, ips):
    """Remove the rules this extension added for ``ips`` (a rule per address, or the address's entry in the
    target's list, re-read and confirmed gone: another writer may rewrite the list meanwhile). Returns the
    addresses whose rule was removed."""
    kind = target.family
    if kind.per_address:
        return kind.remove_rules(arm, target, resource_id, ips)     # one named rule per address, deleted by name
    if kind.rule_list is None:
        return []
    suffix, _, value_key = kind.rule_list

    def remove(attempt):
        props = _props(_get(arm, resource_id + suffix, target.api_version, f"Reading the {target.display}"))
        rules = _ip_rules(kind, props)[1]
        keep = [r for r in rules if not any(_ours(r.get(value_key) or r.get("id"), ip) for ip in ips)]
        if len(keep) == len(rules):
            return list(ips)        # none (left) of ours: done
        _write_list(arm, target, resource_id, props, keep,
                    what=f"Removing firewall rules for {', '.join(ips)} from {target.display} "
                         f"'{resource_id.split('/')[-1]}'")
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

def rule_command(target, resource_id, ip, resource_body=None):
    """The az command adding one rule for ``ip`` on the target, as its family writes it (None when there is none to
    give: SignalR / Web PubSub, the targets without IP rules)."""
    if not resource_id:
        return None
    return target.family.rule_command(target, resource_id, ip, resource_body)
