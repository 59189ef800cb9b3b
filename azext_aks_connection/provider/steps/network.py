# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The target's firewall admits the cluster's traffic (M-T2): its egress IPs, or (where the requests arrive from the
node subnets' private addresses: provider/netpath.py) a virtual network rule per node subnet. How each family's
firewall is read, judged and written is the family's (provider/firewall.py dispatches to it); where no rule this
tool writes can admit the pods, create refuses before any write and validate fails, with the same words."""
from knack.log import get_logger

from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider.steps.base import CREATE, UPDATE, WARNING, Check, Step, fail, item, ok, warn

logger = get_logger(__name__)


class Firewall(Step):
    # pylint: disable=unsubscriptable-object  # current: {ips, note, verdict, path}, set by read() before any other verb
    name = "firewall"
    read_needs = ("cluster", "target")
    checks = (Check("Target firewall",
                    "The target's IP firewall admits the cluster's current egress IP(s) (skipped with --opt-out "
                    "publicnetwork)."),)

    def read(self):
        from azext_aks_connection.provider import firewall, netpath
        from azext_aks_connection.provider.arm import Arm
        plan = self.plan
        cluster_arm = Arm(plan.cmd.cli_ctx, subscription_id=plan.spec.cluster.subscription)
        path = netpath.read(cluster_arm, plan.target, plan.found["target"], plan.found["cluster"])
        # no rule of ours can admit the pods (blocked): none is judged, none is added
        ips, note = cluster_ops.egress_ips(cluster_arm, plan.found["cluster"]) \
            if path.ips_work and not path.blocked else ([], None)
        note = "; ".join(n for n in (note, path.unknown) if n) or None
        ips = ips + list(path.subnets)      # what is admitted: the egress IPs and / or the node subnets
        # validate judges a firewall with no known egress too (it may have no IP rules at all)
        verdict = firewall.admits(plan.arm, plan.target, plan.scope, plan.found["target"], ips) \
            if ips or plan.validating or path.blocked else None
        return {"ips": ips, "note": note, "verdict": verdict, "path": path}

    def _blocked(self):
        from azext_aks_connection.provider import netpath
        return netpath.blocking(self.current["path"], self._verdict())

    def refuse(self):
        """create, --dry-run: refused before any write when no rule this tool writes can admit the pods."""
        from azext_aks_connection.provider import netpath
        netpath.refuse(self._blocked())

    def _verdict(self):
        return self.current["verdict"] or {}

    def _missing(self):
        """The addresses create adds a rule for: the reader's ``missing`` (ensure_rules writes just these)."""
        return self._verdict().get("missing") or []

    def changes(self):
        from azext_aks_connection.provider import firewall
        missing = self._missing()
        if not missing:
            return []
        # Open to all networks already (an "allow Azure services" rule): create still adds a rule of its own,
        # which no pod waits for.
        extra = {"severity": WARNING} if self._verdict().get("state") == firewall.OPEN else {}
        return [item(self.name, UPDATE, self.plan.target.display, self.plan.scope,
                     self.plan.found["target"].get("name"), admit=missing, **extra)]

    def pending(self):
        # no IP: apply says so (but where no rule can admit, create refused, or the target is open)
        return bool(self._missing()) or not (self.current["ips"] or self.current["path"].blocked)

    def permissions(self):
        """The write of the target's rules: a named rule per address (firewallRules), a rule set of its own
        (networkRuleSets), or the resource itself; a virtual network rule also joins the subnet through its service
        endpoint (Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action on the subnet)."""
        target = self.plan.target
        if not target.resource_type:
            return []
        family = target.family
        path = family.rule_list.path.strip("/") if family.rule_list else ""
        child = "/firewallRules" if family.per_address else ("/" + path.split("/")[0] if path else "")
        joins = [("Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action", subnet)
                 for subnet in self._missing() if subnet.startswith("/subscriptions/")]
        return [(f"{target.resource_type}{child}/write", self.plan.scope)] + joins

    def in_place(self):
        admitted = self._verdict().get("admitted") or []
        return {"firewall": sorted(admitted)} if admitted else {}

    def apply(self):
        if self._missing():
            self.plan.before_write()
        outcome = self._admit(self.current["ips"], self.current["note"])
        admitted = sorted(set(outcome.get("added") or []) | set(outcome.get("present") or []))
        made = [item(self.name, CREATE, self.plan.target.display, self.plan.scope, ip, ip=ip)
                for ip in outcome.get("added") or []]
        return ({"firewall": admitted} if admitted else {}), made

    def _admit(self, ips, note):
        """Admit the cluster's egress IPs on the target, and say what was and was not done."""
        from azext_aks_connection.provider import firewall
        plan = self.plan
        display = plan.target.display
        if not ips:
            logger.warning("No firewall rule was added on the %s: %s. If the target restricts networks, allow the "
                           "cluster's egress address yourself, or pass --opt-out publicnetwork to skip this step.",
                           display, note)
            return {"added": [], "present": [], "skipped_reason": note}
        plan.progress(f"Admitting the cluster's {named(ips)} on the {display}")
        outcome = firewall.ensure_rules(plan.arm, plan.target, plan.scope, plan.found["target"], ips)
        if outcome.get("added"):
            logger.warning("Added firewall rule(s) for %s on the %s.", named(outcome["added"], bare=True), display)
        elif outcome.get("skipped_reason"):
            logger.info("Firewall: %s", outcome["skipped_reason"])
        if note:
            logger.warning("Firewall: %s.", note)
        return outcome

    # ---- validate
    def _name(self):
        return self.plan.found["target"].get("name") or self.plan.scope.split("/")[-1]

    def caveat(self):
        from azext_aks_connection.provider import firewall
        verdict, display = self._verdict(), self.plan.target.display
        blocked = self._blocked()
        if blocked:
            return [fail(blocked.blocked, blocked.fix, blocked.code)]
        ipv4 = [ip for ip in self.current["ips"] if ":" not in ip]
        if verdict.get("state") == firewall.OPEN:
            return [ok(f"The {display} admits all networks ({verdict['reason']}).")]
        unchecked = {firewall.NO_RULES: "NoIpRules", firewall.CLOSED: "PublicAccessDisabled"}.get(verdict.get("state"))
        if unchecked:
            return [warn(f"Not checked: {verdict['reason']}", None, unchecked)]
        if self.current["path"].unknown:
            return [warn(f"Not checked: {self.current['path'].unknown}.", None, "SubnetUnreadable")]
        if not ipv4:
            return [warn(f"Not checked: the egress IP of AKS cluster '{self.plan.spec.cluster.name}' is not known "
                         f"({self.current['note']}).",
                         f"Make sure the {display} '{self._name()}' admits the address the cluster's traffic leaves "
                         "from (your firewall's or NVA's public IP).", "EgressUnknown")]
        return [ok()]

    def describe(self, changes):
        from azext_aks_connection.provider import firewall
        from azext_aks_connection import targets
        plan, verdict, missing = self.plan, self._verdict(), changes[0]["detail"]["admit"]
        display, name = plan.target.display, self._name()
        if verdict.get("state") == firewall.OPEN:
            return [warn(f"The {display} admits all networks ({verdict['reason']}); the connection's own rule for "
                         f"{', '.join(missing)} is missing (a re-run adds it).",
                         f"Re-apply the connection: {plan.fix.update_command()}", "FirewallRuleMissing")]
        recorded = ((plan.record or {}).get("provisioned") or {}).get("firewall") or []
        stale = sorted(set(recorded) - set(self.current["ips"]))
        text = f"The {display} '{name}' does not admit the cluster's {named(missing)}: connections from the " \
            "cluster are refused."
        if stale:
            text += (f" The rule(s) this connection added for {', '.join(stale)} are stale: AKS cluster "
                     f"'{plan.spec.cluster.name}' no longer sends traffic from there (its egress changed).")
        rules = [firewall.rule_command(plan.target, plan.scope, ip, plan.found["target"]) for ip in missing]
        by_hand = " && ".join(r for r in rules if r) if all(rules) else None
        if plan.spec.auth == targets.AUTH_SERVICE_PRINCIPAL and by_hand:
            fix = (f"Admit {'it' if len(missing) == 1 else 'them'}: {by_hand}; or re-apply the connection "
                   f"(it adds what is missing): {plan.fix.update_command()}")
        else:
            fix = f"Re-apply the connection (it adds the missing rule, nothing else): {plan.fix.update_command()}" + \
                (f"; or add the rule yourself: {by_hand}" if by_hand else "")
        return [fail(text, fix, "FirewallRuleStale" if stale else "FirewallRuleMissing")]


def named(entries, bare=False):
    """What a rule admits, in words: the egress IP(s), and / or the node subnet(s) (a virtual network rule each)."""
    ips = [e for e in entries if not e.startswith("/subscriptions/")]
    subnets = [e for e in entries if e.startswith("/subscriptions/")]
    parts = ([", ".join(ips) if bare else f"egress IP(s) {', '.join(ips)}"] if ips else []) + \
        ([f"node subnet(s) {', '.join(subnets)} (virtual network rule)"] if subnets else [])
    return "; ".join(parts)
