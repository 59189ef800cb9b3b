# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The local engine: a connection made from this az process, step by step (provider/plan.py), and recorded in the
cluster (provider/store.py). ``--dry-run`` prints the same plan's diffs and writes nothing."""
from azext_aks_connection.provider import graph
from azext_aks_connection.provider import record as records
from azext_aks_connection.provider import steps as s
from azext_aks_connection.provider import store as store_ops
from azext_aks_connection.provider.plan import Plan
from azext_aks_connection.provider.record import CREATING, SUCCEEDED, UPDATING, carried, merge_provisioned, same


def create(cmd, spec, progress, no_wait=False, dry_run=False):  # pylint: disable=unused-argument
    """Apply the plan for ``spec``; returns (record, provisioning state). ``dry_run``: returns the plan's
    output instead, with nothing written. Every step is synchronous and short but the cluster update, which is
    waited for: ``no_wait`` changes nothing here."""
    plan = Plan(cmd, spec, progress)
    plan.read()
    plan.check()
    refuse_missing_permissions(plan)
    store = plan.found["store"]
    existing = store.find(spec.name)
    # For the caller to name what the connection used before and no longer does (an update's old grants).
    spec.previous = existing
    spec.others = lambda: store.others(spec.name)      # listed only if a caller needs them
    if dry_run:
        output = dry_run_output(plan, existing)
        if output["pendingChanges"]:
            review_access(plan)
        return output, None
    base = carried(existing, plan)
    if not any(x.pending() for x in plan.steps):
        record = records.new_record(plan, existing, SUCCEEDED, merge_provisioned(
            base, [x.in_place() for x in plan.steps] + [plan.auth.provisioned()], []))
        if existing and same(existing, record):
            return existing, SUCCEEDED        # nothing to change: no write at all
        review_access(plan)
        progress(f"Recording the connection in namespace {store.namespace}")
        store.put(record)
        return record, SUCCEEDED
    review_access(plan)
    # The intent, written right before the first write: what this run sets out to make, for a re-run and delete
    # to find.
    plan.intent.store = store
    plan.intent.record = records.new_record(plan, existing, UPDATING if existing else CREATING, merge_provisioned(
        base, [plan.auth.provisioned()], [], keep_uses=True), plan.changes())
    applied = apply(plan)
    provisioned = merge_provisioned(base, [p for p, _ in applied.values()] + [plan.auth.provisioned()],
                                    [i for _, made in applied.values() for i in made])
    record = records.new_record(plan, existing, SUCCEEDED, provisioned)
    progress(f"Recording the connection in namespace {store.namespace}")
    store.put(record)
    return record, SUCCEEDED


def review_access(plan):
    """The Kubernetes access reviews left for a plan that writes (apply: plan_reads._check_access), made now:
    before its first write, and for --dry-run when it would write."""
    review = (plan.found.get("access") or {}).pop("review", None)
    if review is not None:
        review()


def refuse_missing_permissions(plan):
    """Before anything is written (and for --dry-run): every Azure action the steps with changes need, checked
    against the caller's permissions at each scope (provider/permissions.py)."""
    from azext_aks_connection.provider import permissions
    needed = [need for step in plan.steps if step.changes() for need in step.permissions()]
    permissions.refuse_missing(plan.cmd.cli_ctx, needed, what=f"make connection '{plan.spec.name}'",
                               subscription=plan.spec.cluster.subscription)


def dry_run_output(plan, existing):
    """The plan as it would run: each step with what it would create or change (credential values masked), or
    in place; then the record. ``pendingChanges`` counts the items (0: nothing would change)."""
    rows = []
    for step in plan.steps:
        found = step.changes()
        rows.extend(found or [s.item(step.name, "none", "", None, "", inPlace=True)])
    record = records.new_record(plan, existing, SUCCEEDED, merge_provisioned(
        carried(existing, plan), [x.in_place() for x in plan.steps if not x.pending()] +
        [plan.auth.provisioned()], []))
    if existing is None:
        rows.append(s.item("record", s.CREATE, "v1/ConfigMap", plan.store_namespace, store_ops.configmap_name(
            plan.spec.name), state=SUCCEEDED))
    elif rows and any(r["action"] != "none" for r in rows) or not same(existing, record):
        rows.append(s.item("record", s.UPDATE, "v1/ConfigMap", plan.store_namespace, store_ops.configmap_name(
            plan.spec.name), state=SUCCEEDED))
    pending = [r for r in rows if r["action"] != "none"]
    return {"id": plan.spec.id, "name": plan.spec.name, "engine": "local", "dryRun": True,
            "pendingChanges": len(pending), "steps": rows}


def apply(plan):
    """Apply every step that has something to do, each once what it needs is applied. Returns
    {step: (provisioned, made)}; a failure records the connection as Failed and re-raises."""
    todo = [x for x in plan.steps if x.pending()]
    if todo:
        plan.progress("Applying " + ", ".join(x.name for x in todo))
    try:
        applied = graph.run({x.name: (x.apply, _needs(plan, x, {y.name for y in todo})) for x in todo})
    except graph.NodeFailed as failure:
        plan.intent.release()
        plan.intent.record_failure(failure)
        raise failure.error
    except KeyboardInterrupt:
        plan.intent.release()          # interrupted: the record says so, and a re-run can take over at once
        plan.intent.record_failure(graph.NodeFailed("interrupted", KeyboardInterrupt("interrupted (Ctrl+C)"), {}))
        raise
    plan.intent.release()
    return {x.name: applied.get(x.name) or (x.in_place(), []) for x in plan.steps}


def _needs(plan, step, todo):
    """The steps of ``todo`` that ``step`` waits for: its needs, and through a step with nothing to do, that
    step's own (the ServiceAccount waits for the cluster update even when the namespace is there)."""
    out = set()
    for name in step.needs:
        if name in todo:
            out.add(name)
        elif plan.step(name) is not None:
            out |= set(_needs(plan, plan.step(name), todo))
    return tuple(sorted(out))
