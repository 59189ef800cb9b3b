# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`az aks connection delete`, and what a delete or an update leaves behind: the record removed (and with
--cleanup what the connection made that no other connection uses), then what was done and what is left, each with
the command that removes it."""
from azure.cli.core.azclierror import InvalidArgumentValueError
from knack.log import get_logger

from azext_aks_connection import _validators as v
from azext_aks_connection.custom import _exit_code_of_plan, _progress, _records, cluster_must_exist

logger = get_logger(__name__)


def connection_delete(cmd, resource_group_name=None, cluster=None, connection_name=None, connection_id=None, *,
                      no_wait=False, cleanup=False, cleanup_features=False, dry_run=False, break_lease=False):
    """Remove the connection's record. What it made stays unless --cleanup (then removed, but for what another
    connection uses); either way it is named. A connection that did not finish (Creating, Updating, Failed) is
    found with what it set out to make; one with no record by the connection-id annotation of its objects."""
    from azext_aks_connection.provider import cleanup as cleanup_ops
    if cleanup_features and not cleanup:
        raise InvalidArgumentValueError("--cleanup-features works with --cleanup.",
                                        recommendation="Add --cleanup.")
    cluster_ref, name = v.resolve_connection(cmd, resource_group_name, cluster, connection_name, connection_id)
    store = _records(cmd, cluster_ref)
    record = store.find(name)
    connection_id = cluster_ref.connection_id(record["name"] if record else name)
    if record is None:
        cluster_must_exist(cmd, cluster_ref)        # a mistyped cluster is an error, not "nothing to delete"
        if not dry_run and _delete_a_linker(cmd, cluster_ref, name, no_wait):
            return None
        entries = cleanup_ops.orphans(store.api, connection_id)
        if not entries and not dry_run:
            logger.warning("Connection '%s' does not exist on cluster '%s': nothing to delete.", name,
                           cluster_ref.name)
            return None
        others = list(store.records.values())
        record = {"name": name}
    else:
        from azext_aks_connection.provider.refusals import refuse_leased
        refuse_leased(record, take_over=break_lease)    # another command is changing it: refused, nothing removed
        name = record["name"]
        others = [r for n, r in store.records.items() if n != name]
        entries = cleanup_ops.made_by(record)
    cleanup_ops.weigh(entries, record, others, cleanup_features=cleanup_features)
    if dry_run:
        return _deletion_plan(cmd, connection_id, name, record, entries, cleanup=cleanup)
    progress = _progress(cmd)
    try:
        for other, items in cleanup_ops.hand_over(entries, others):
            progress(f"Handing {len(items)} shared item(s) over to connection '{other['name']}'")
            store.put(other)        # compare-and-swap: a record changed meanwhile fails this delete, unwritten
        if cleanup:
            cleanup_ops.remove(cmd, cluster_ref, record, entries, api_client=store.api, connection_id=connection_id,
                               progress=progress, others=others)
        else:       # said before the record goes: what a delete killed at its one write has said already
            _say_what_was_done(record, entries, others, cleanup)
        if record.get("v"):
            progress(f"Removing the record of connection '{name}' from namespace {store.namespace}")
            store.delete(name)
    finally:
        progress.end()
    if cleanup:
        _say_what_was_done(record, entries, others, cleanup)
    return None


def _deletion_plan(cmd, connection_id, name, record, entries, *, cleanup):
    """delete --dry-run: what delete would remove (with --cleanup) and keep; exit 2 when it would remove any."""
    rows = [dict(e, action=e["action"] if cleanup or e["action"] == "keep" else "keep",
                 reason=e["reason"] or (None if cleanup else "delete keeps it without --cleanup")) for e in entries]
    if record.get("v"):
        rows.append({"step": "record", "action": "remove", "id": connection_id, "name": name, "detail": {},
                     "reason": None, "command": None})
    out = {"id": connection_id, "name": name, "dryRun": True, "steps": rows,
           "pendingChanges": len([r for r in rows if r["action"] == "remove"])}
    _exit_code_of_plan(cmd, out)
    return out


def _say_what_was_done(record, entries, others, cleanup):
    from azext_aks_connection.provider import record as plan
    removed = [e for e in entries if e["action"] == "remove" and e.get("outcome") in ("deleted", "disabled")]
    kept = [e for e in entries if e["action"] == "keep" and e["step"] != "clusterFeatures"]
    if not cleanup:
        if record.get("v"):
            _say_what_is_left(record, others)
        features = sorted({f for e in entries if e["step"] == "clusterFeatures" and not e.get("users")
                           for f in e["detail"].get("enable") or []})
        if features:
            logger.warning("Kept on AKS cluster '%s': %s, turned on by this connection (delete --cleanup "
                           "--cleanup-features turns off what it can; the OIDC issuer stays on).",
                           next(e["name"] for e in entries if e["step"] == "clusterFeatures"), ", ".join(features))
        grants = {x.lower() for x in ((record.get("provisioned") or {}).get("roleAssignments") or []) +
                  [(record.get("provisioned") or {}).get("federatedCredential") or ""] if x}
        unnamed = [e for e in entries if e["action"] == "remove" and e["step"] not in ("secret", "serviceAccount")
                   and (e["id"] or "").lower() not in grants] if record.get("v") else \
            [e for e in entries if e["action"] == "remove"]
        if unnamed:
            intro = f"Also made by connection '{record['name']}' ({plan.state_of(record)}) and left in place" \
                if record.get("v") else f"Connection '{record['name']}' does not exist (it has no record): nothing " \
                "to delete. Left in place from it, found by their connection-id annotation"
            logger.warning("%s: %s. Remove them with 'az aks connection delete … --cleanup'%s.", intro,
                           ", ".join(_what(e) for e in unnamed),
                           ", or: " + "; ".join(e["command"] for e in unnamed if e["command"])
                           if any(e["command"] for e in unnamed) else "")
        return
    if removed:
        logger.warning("Removed what connection '%s' made: %s.", record["name"], ", ".join(_what(e) for e in removed))
    not_ours = [e for e in entries if e.get("outcome") == "not ours"]
    if not_ours:
        logger.warning("Kept, no longer written by this connection (another connection-id annotation): %s.",
                       ", ".join(_what(e) for e in not_ours))
    if kept:
        logger.warning("Kept: %s.", "; ".join(f"{_what(e)} ({e['reason']})" for e in kept))


def _what(entry):
    step = entry["step"]
    if step == "firewall":
        return f"firewall rule for {entry['name']} on {entry['id'].split('/')[-1]}"
    if step in ("secret", "serviceAccount"):
        return f"{step} {entry['name']} in namespace {entry['detail'].get('namespace')}"
    if step == "clusterFeatures":
        return f"{', '.join(entry['detail'].get('disable') or [])} on AKS cluster {entry['name']}"
    return f"{step} {entry['id']}"


def _delete_a_linker(cmd, cluster_ref, name, no_wait):
    """A Service Connector connection of that name is deleted through Service Connector. True when there was one."""
    from azext_aks_connection.provider import linkers, sc_engine
    try:
        linker = linkers.get_linker(cmd, cluster_ref, name)
    except linkers.Unavailable:
        return False
    if linker is None:
        return False
    progress = _progress(cmd)
    try:
        sc_engine.delete(cmd, cluster_ref, linker["name"], progress, no_wait=no_wait)
    finally:
        progress.end()
    names = linker.get("kubernetesResourceName") or {}
    logger.warning("Service Connector connection '%s' is deleted; as Service Connector does, it left %s in namespace "
                   "'%s'.", linker["name"], ", ".join(f"{k} {v}" for k, v in sorted(names.items())),
                   linker.get("scope") or "default")
    return True


def say_what_is_no_longer_used(before, after, others):
    """An update that changed the auth, identity, roles or opt-outs: name what the connection used before and
    no longer does (it stays in place: workloads may still rely on it), with the commands that remove it.
    ``others``: () -> the other connections' records (read only when something is no longer used)."""
    ns = before.get("scope") or "default"
    new_kinds = after.get("kubernetesResourceName") or {}
    new_grants = after.get("provisioned") or {}
    old_grants = before.get("provisioned") or {}
    kinds = {k: v for k, v in (before.get("kubernetesResourceName") or {}).items() if new_kinds.get(k) != v}
    roles = [r for r in old_grants.get("roleAssignments") or []
             if r.lower() not in {x.lower() for x in new_grants.get("roleAssignments") or []}]
    fic = old_grants.get("federatedCredential")
    fic = fic if fic and fic != new_grants.get("federatedCredential") else None
    if not (kinds or roles or fic):
        return
    left = {"scope": ns, "kubernetesResourceName": kinds,
            "provisioned": {"roleAssignments": roles, "federatedCredential": fic}}
    _say_what_is_left(left, list(others()) + [after], intro="No longer used by this connection and left in place")


def _say_what_is_left(record, others, intro=None):
    """Name what delete leaves in place and how to remove it, leaving out what another connection still uses
    (a ServiceAccount, a role assignment or a federated credential shared by connections of one identity)."""
    namespace = record.get("scope") or "default"
    used = {(r.get("scope") or "default", kind, obj) for r in others
            for kind, obj in (r.get("kubernetesResourceName") or {}).items()}
    grants_used = {g.lower() for r in others for g in ((r.get("provisioned") or {}).get("roleAssignments") or []) +
                   [(r.get("provisioned") or {}).get("federatedCredential") or ""] if g}
    kinds = record.get("kubernetesResourceName") or {}
    mine = {kind: obj for kind, obj in kinds.items() if (namespace, kind, obj) not in used}
    shared = {kind: obj for kind, obj in kinds.items() if kind not in mine}
    if mine:
        deletes = "; ".join(f"kubectl delete {'serviceaccount' if kind == 'serviceAccount' else kind} {obj} -n "
                            f"{namespace}" for kind, obj in sorted(mine.items()))
        logger.warning("%s in namespace '%s' (%s). Delete them with: %s",
                       intro or "The Kubernetes resources of this connection are left in place", namespace,
                       ", ".join(f"{kind} {obj}" for kind, obj in sorted(mine.items())), deletes)
    if shared:
        logger.warning("Kept in namespace '%s', used by other connections: %s.", namespace,
                       ", ".join(f"{kind} {obj}" for kind, obj in sorted(shared.items())))
    grants = record.get("provisioned") or {}
    roles = [rid for rid in grants.get("roleAssignments") or [] if rid.lower() not in grants_used]
    fic = grants.get("federatedCredential")
    fic = fic if fic and fic.lower() not in grants_used else None
    if roles or fic:
        logger.warning("%s: role assignments and the federated credential are kept (workloads may still rely on "
                       "them). Remove them with: %s", intro or "Deleted", "; ".join(
                           [f"az role assignment delete --ids {rid}" for rid in roles] +
                           ([f"az resource delete --ids {fic} --api-version 2023-01-31"] if fic else [])))
    kept = len(grants.get("roleAssignments") or []) - len(roles) + \
        (1 if grants.get("federatedCredential") and not fic else 0)
    if kept:
        logger.warning("%d role assignment(s) or federated credential(s) of this connection are kept: other "
                       "connections use them.", kept)
