# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""What ``delete`` leaves or removes: everything a connection made, found from its record (what it made, and for a
run that did not finish what it set out to make), or without a record from the connection-id annotation on
Kubernetes objects. ``--cleanup`` removes what only this connection uses; what another connection still uses is
kept and named; the record goes last, so an interrupted delete can be re-run and still finds what is left.

An entry: {step, action (remove | keep), id, name, detail, reason, command}: ``command`` removes it by hand.
"""
from azext_aks_connection import targets as t
from azext_aks_connection.provider import graph
from azext_aks_connection.provider import identity as identity_ops
from azext_aks_connection.provider import kube as kube_ops
from azext_aks_connection.provider import steps as s

REMOVE, KEEP = "remove", "keep"
ANNOTATION = "aks-connection/connection-id"


def _lower(value):
    return (value or "").lower()


def _entry(step, rid, name, command, **detail):
    return {"step": step, "action": REMOVE, "id": rid, "name": name, "detail": detail, "reason": None,
            "command": command}


def _arm_command(step, rid, detail):
    if step == "roleAssignment":
        return f"az role assignment delete --ids {rid}"
    if step == "federatedCredential":
        return f"az resource delete --ids {rid} --api-version {identity_ops.IDENTITY_API}"
    if step == "accessPolicy":
        parts = rid.split("/")
        return f"az keyvault delete-policy --subscription {parts[2]} -g {parts[4]} -n {parts[-1]} " \
               f"--object-id {detail.get('objectId')}"
    if step == "redisAccess":
        parts = rid.split("/")
        return f"az redis access-policy-assignment delete --subscription {parts[2]} -g {parts[4]} -n {parts[8]} " \
               f"--policy-assignment-name {parts[-1]}"
    return None


def made_by(record):
    """The entries of what the connection made: its record's made items, the items a run that did not finish set
    out to make, and its Kubernetes objects."""
    from azext_aks_connection.provider import record as plan
    ns = record.get("scope") or "default"
    grants = record.get("provisioned") or {}
    items = list(grants.get("created") or [])
    if plan.state_of(record) != plan.SUCCEEDED:
        items += [i for i in record.get("plan") or [] if plan.makes(i)]
    out, seen = [], set()
    for i in items:
        key = (i.get("step"), _lower(i.get("id")))
        if i.get("step") != "firewall" and key in seen or i.get("step") in ("namespace", "secret", "serviceAccount"):
            continue
        seen.add(key)
        detail = dict(i.get("detail") or {})
        if i["step"] == "firewall":
            for ip in [detail["ip"]] if detail.get("ip") else detail.get("admit") or []:
                if ("firewall", _lower(i["id"]), ip) not in seen:
                    seen.add(("firewall", _lower(i["id"]), ip))
                    out.append(_entry("firewall", i["id"], ip, None, ip=ip))
        elif i["step"] == "clusterFeatures":
            out.append(_entry("clusterFeatures", i["id"], i.get("name"), None, enable=detail.get("enable") or []))
        else:
            out.append(_entry(i["step"], i["id"], i.get("name") or i["id"].rstrip("/").split("/")[-1],
                              _arm_command(i["step"], i["id"], detail), **detail))
    for kind, name in sorted((record.get("kubernetesResourceName") or {}).items()):
        resource = "serviceaccount" if kind == "serviceAccount" else kind
        out.append(_entry(kind, f"{ns}/{name}", name, f"kubectl delete {resource} {name} -n {ns}", namespace=ns))
    return out


def _needs_features(record):
    auth = record.get("authInfo") or {}
    if auth.get("authMode") == "optOutAllAuth":
        return set()
    if ((record.get("targetService") or {}).get("resourceProperties") or {}).get("connectAsKubernetesCsiDriver"):
        return {"the azureKeyvaultSecretsProvider add-on"}
    return {"OIDC issuer", "workload identity"} if auth.get("authType") == "userAssignedIdentity" else set()


def _target_of(record):
    return _lower((record.get("targetService") or {}).get("id"))


def users_of(entry, record, others):
    """The other connections that use what ``entry`` names."""
    step, rid = entry["step"], _lower(entry["id"])
    out = []
    for other in others:
        grants = other.get("provisioned") or {}
        if step in ("secret", "serviceAccount"):
            uses = (other.get("scope") or "default") == entry["detail"].get("namespace") and \
                (other.get("kubernetesResourceName") or {}).get(step) == entry["name"]
        elif step == "firewall":
            uses = _target_of(other) == _target_of(record) and entry["name"] in (grants.get("firewall") or [])
        elif step == "accessPolicy":
            uses = bool(grants.get("accessPolicy")) and _target_of(other) == _target_of(record) and \
                _lower(grants.get("identity")) == _lower((record.get("provisioned") or {}).get("identity"))
        elif step == "clusterFeatures":
            uses = bool(_needs_features(other) & set(entry["detail"].get("enable") or []))
        else:
            ids = (grants.get("roleAssignments") or []) + [grants.get("federatedCredential"),
                                                           grants.get("accessPolicyAssignment")]
            uses = rid in {_lower(x) for x in ids if x}
        if uses:
            out.append(other)
    return out


def weigh(entries, record, others, cleanup_features=False):
    """Mark what is kept, and why: what another connection uses, and the cluster's features (kept unless
    ``cleanup_features``; the OIDC issuer always: AKS cannot turn it off). Each entry gets ``users``: the names
    of the other connections that use it (they take it over: the last one's delete --cleanup removes it)."""
    for e in entries:
        users = users_of(e, record, others)
        e["users"] = [u["name"] for u in users]
        reason = "used by another connection" if users else None
        if e["step"] == "clusterFeatures":
            needed = set().union(*[_needs_features(u) for u in users]) if users else set()
            wanted = [f for f in e["detail"].get("enable") or [] if f != "OIDC issuer" and f not in needed]
            e["detail"]["disable"] = wanted if cleanup_features else []
            if not cleanup_features:
                reason = "cluster features are kept unless --cleanup-features is given"
            elif not wanted:
                reason = "needed by other connections (and the OIDC issuer cannot be turned off)"
            else:
                reason = None
        if reason:
            e["action"], e["reason"] = KEEP, reason
    return entries


def hand_over(entries, others):
    """The records of other connections that take over what this one made and they use (so the last user's
    delete --cleanup removes it): [(updated copy of the record, items added)]."""
    import copy
    by_name = {r["name"]: r for r in others}
    copies, added = {}, {}
    for e in entries:
        if e["step"] in ("secret", "serviceAccount") or not e.get("users") or not e.get("id"):
            continue
        for name in e["users"]:
            record = copies.setdefault(name, copy.deepcopy(by_name[name]))    # the store's own copy stays as read
            grants = record.setdefault("provisioned", {})
            created = grants.setdefault("created", [])
            key = (e["step"], _lower(e["id"]), e["name"] if e["step"] == "firewall" else None)
            if key not in {(c.get("step"), _lower(c.get("id")), c.get("name") if c.get("step") == "firewall"
                            else None) for c in created}:
                item = {"step": e["step"], "id": e["id"], "name": e["name"], "detail": {
                    k: v for k, v in e["detail"].items() if k not in ("disable",)}}
                created.append(item)
                added.setdefault(name, []).append(item)
    return [(copies[n], items) for n, items in added.items()]


def orphans(api_client, connection_id):
    """Without a record: the Secrets and ServiceAccounts whose connection-id annotation names the connection."""
    from azext_aks_connection.provider.errors import kube_error
    from azext_aks_connection.provider.kube import ApiException, core_v1
    core = core_v1(api_client)
    selector = f"app.kubernetes.io/managed-by={kube_ops.MANAGED_BY}"
    out = []
    for kind, lister in (("secret", core.list_secret_for_all_namespaces),
                         ("serviceAccount", core.list_service_account_for_all_namespaces)):
        try:
            found = lister(label_selector=selector).items
        except ApiException as exc:
            raise kube_error(exc, f"Listing the {kind}s aks-connection wrote (all namespaces)") from exc
        for obj in found:
            if _lower((obj.metadata.annotations or {}).get(ANNOTATION)) == _lower(connection_id):
                ns, name = obj.metadata.namespace, obj.metadata.name
                resource = "serviceaccount" if kind == "serviceAccount" else kind
                out.append(_entry(kind, f"{ns}/{name}", name, f"kubectl delete {resource} {name} -n {ns}",
                                  namespace=ns))
    return out


def _arm_for(cmd, rid, cache):
    from azext_aks_connection.provider.arm import Arm
    sub = rid.split("/")[2]
    if sub not in cache:
        cache[sub] = Arm(cmd.cli_ctx, subscription_id=sub)
    return cache[sub]


def remove(cmd, cluster_ref, record, entries, *, api_client, connection_id, progress, others=()):
    """Remove the entries marked remove (concurrently where independent; Kubernetes objects only when their
    connection-id annotation names this connection, or one that no longer exists: a ServiceAccount names the
    first connection that made it). Returns the entries, each with its ``outcome``."""
    live = {_lower(cluster_ref.connection_id(r["name"])) for r in others if r.get("name")}

    def owned(owner):
        return _lower(owner) == _lower(connection_id) or (bool(owner) and _lower(owner) not in live)

    from azext_aks_connection.provider import firewall
    target = t.TARGETS.get((record or {}).get("target"))
    arms = {}
    todo = [e for e in entries if e["action"] == REMOVE]
    for kind, label in (("firewall", "firewall rules"), ("clusterFeatures", "cluster features")):
        if any(e["step"] == kind for e in todo):
            progress(f"Removing the connection's {label}")
    calls = {}
    walls = {}
    for e in todo:
        if e["step"] == "firewall":
            walls.setdefault(e["id"], []).append(e)
        elif e["step"] in ("secret", "serviceAccount"):
            kind = "Secret" if e["step"] == "secret" else "ServiceAccount"
            calls[f"{e['step']}:{e['id']}"] = (lambda e=e, kind=kind: e.update(outcome=kube_ops.delete_owned(
                api_client, kind, e["detail"]["namespace"], e["name"], owned)), ())
        elif e["step"] == "clusterFeatures":
            calls["clusterFeatures"] = (lambda e=e: e.update(outcome=_disable(cmd, cluster_ref, e, progress)), ())
        elif e["step"] in s.REMOVERS:
            calls[f"{e['step']}:{e['id']}"] = (lambda e=e: e.update(outcome=s.REMOVERS[e["step"]].remove(
                _arm_for(cmd, e["id"], arms), e, target) or "deleted"), ())
    for rid, group in walls.items():
        def admit_no_more(rid=rid, group=group):
            firewall.remove_rules(_arm_for(cmd, rid, arms), target, rid, [e["name"] for e in group])
            for e in group:
                e["outcome"] = "deleted"
        calls[f"firewall:{rid}"] = (admit_no_more, ())
    graph.run_or_raise(calls)
    return entries


def _disable(cmd, cluster_ref, entry, progress):
    from azext_aks_connection.provider import cluster as cluster_ops
    wanted = entry["detail"].get("disable") or []
    cluster_ops.disable_features(cmd, cluster_ref, progress, workload_identity="workload identity" in wanted,
                                 kv_csi=any("add-on" in w for w in wanted))
    return "disabled"
