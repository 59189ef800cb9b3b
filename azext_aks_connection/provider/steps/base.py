# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""A step: one thing a connection needs, and the one place that knows it. Each step is data plus these verbs:

    read()      what is there now (run with the plan's other reads, before anything is written)
                (read_after_update(), where a step has one: what it reads again after the cluster update)
    changes()   the diff: what ``apply`` would create or change, [item], empty when it is in place
    apply()     make it so; returns (provisioned, created): what the connection uses, and the items it made
    remove()    (class method, delete --cleanup) undo one item this connection made
    explain()   validate's rows for this step, made from changes(): a row fails (or warns) exactly when the diff
                is not empty, so validate and --dry-run cannot disagree
    permissions the Azure actions apply needs, with the scope they apply to (for a permission preflight)

``needs`` names the steps whose apply must finish first (the federated credential needs the OIDC issuer the
cluster update turns on). An item is a dict: {step, action (create | update), resource, id, name, detail}; a
``detail["severity"]`` of "warning" marks a change a pod does not depend on (an extra Secret key, a missing
ownership annotation): validate warns about it, --dry-run still lists it. The plan's items are recorded before
the first write (provider/plan.py), so whatever a failed or interrupted run made can be found again.
"""
from collections import namedtuple

CREATE, UPDATE = "create", "update"
AFTER_CLUSTER_UPDATE = "(known after the cluster update)"
SUCCESS, FAILURE, WARNING = "success", "failure", "warning"

Row = namedtuple("Row", "result message recommendation code")
Check = namedtuple("Check", "name description")


def item(step, action, resource, rid, name, **detail):
    return {"step": step, "action": action, "resource": resource, "id": rid, "name": name, "detail": detail}


def ok(message=None):
    return Row(SUCCESS, message, None, None)


def fail(message, recommendation, code=None):
    return Row(FAILURE, message, recommendation, code)


def warn(message, recommendation=None, code=None):
    return Row(WARNING, message, recommendation, code)


def upper_first(text):
    return text[:1].upper() + text[1:]


class NotChecked(Exception):
    """A fact a check needs is missing (another check reports why): validate says "Not checked: <reason>"."""


class Step:
    """One thing a connection needs (see the module docstring)."""
    name = "step"
    needs = ()          # steps applied first
    read_needs = ()     # the plan's reads this step's read uses
    checks = ()         # validate's rows of this step: Check(name, description), in order
    opted_out_by = ""   # the --opt-out value that leaves this step to the user ("auth")

    def __init__(self, plan):
        self.plan = plan
        self.current = None
        self.part = False       # part of this connection's plan (decided once its reads are in: plan.applies)
        self.read_error = None  # validate: why read() could not run, or what it raised

    def read(self):
        return None

    def changes(self):
        return []

    def pending(self):
        """Apply must run (changes, or something to wait for) even if nothing is listed as a change."""
        return bool(self.changes())

    def in_place(self):
        """What the connection uses when nothing changes: the record's ``provisioned`` entries."""
        return {}

    def apply(self):
        return self.in_place(), []

    def permissions(self):
        """[(Azure action, scope)] apply needs when it has changes to make."""
        return []

    @classmethod
    def remove(cls, arm, entry, target):
        """delete --cleanup: remove one item this step made (absent already: fine). The steps in REMOVERS have one;
        what the others make is removed by its own means (Kubernetes objects by their connection-id annotation,
        firewall rules by firewall.remove_rules, cluster features by cluster.disable_features)."""

    # ---- validate
    def explain(self):
        """[(Check, Row)]: one row per check of this step. Derived from the diff: success when changes() is empty
        (a caveat() may still warn what cannot be known), else describe(changes) — a failure, or a warning when
        every change is one a pod does not depend on. A step the user opted out of warns instead of failing."""
        return [(check, self._soften(row)) for check, row in zip(self.checks, self._rows())]

    def _rows(self):
        if self.read_error is not None:
            return [row_of_error(self.read_error)] * len(self.checks)
        try:
            changes = self.changes()
            return self.describe(changes) if changes else self.caveat()
        except NotChecked as exc:
            return [row_of_error(exc)] * len(self.checks)

    def describe(self, changes):
        """[Row] per check for a non-empty diff (a step with one check returns one row): each step says what its
        changes mean for a pod; by default, the changes themselves."""
        pending = ", ".join(f"{c['action']} {c['resource']} {c['name']}" for c in changes)
        return [fail(f"Not in place: {pending}.", None, "ChangesPending")] * len(self.checks)

    def caveat(self):
        """[Row] per check when nothing would change: ok, or a warning about what cannot be checked."""
        return [ok()] * len(self.checks)

    def _soften(self, row):
        """--opt-out auth: the user took this over; what is missing is theirs to decide (a warning)."""
        if row.result == FAILURE and self.opted_out_by and self.opted_out_by in self.plan.spec.opt_out:
            return Row(WARNING, row.message + f" The connection was made with --opt-out {self.opted_out_by}, which "
                       "leaves this to you.", row.recommendation, row.code)
        return row


def severity(changes):
    return WARNING if all((c.get("detail") or {}).get("severity") == WARNING for c in changes) else FAILURE


def row_of_error(exc):
    if isinstance(exc, NotChecked):
        return warn(f"Not checked: {exc}")
    recs = getattr(exc, "recommendations", None) or []
    return fail(getattr(exc, "error_msg", None) or str(exc), " ".join(recs) or None, type(exc).__name__)
