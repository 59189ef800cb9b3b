# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The plan's reads: every read at once, each as soon as what it needs is there (provider/graph.py). create reads
what it writes and reviews its access to the cluster; validate (the plan of a record) reads only what the record
names, and keeps a read that failed for the step that needs it to explain."""
from azext_aks_connection import targets as t
from azext_aks_connection._validators import secret_name
from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider import graph
from azext_aks_connection.provider import identity as identity_ops
from azext_aks_connection.provider import linkers
from azext_aks_connection.provider import steps as s
from azext_aks_connection.provider import store as store_ops
from azext_aks_connection.provider import target as target_ops

# validate: why a step whose read needs a failed read is not checked
UNREAD = {"target": "the target cannot be read (see the target check).",
          "identity": "the identity does not exist (see the identity check).",
          "cluster": "the cluster cannot be read."}


def read(plan):
    """Every read of the plan at once, each as soon as what it needs is there."""
    plan.progress("Reading the cluster, the target and what the connection needs")
    candidates = [cls(plan) for cls in s.CANDIDATES]
    nodes = _validate_reads(plan) if plan.validating else _create_reads(plan)
    nodes.update(plan.auth.reads())
    nodes = {name: (_keep(plan, name, fn), needs) for name, (fn, needs) in nodes.items()}
    nodes.update({"step:" + x.name: (_step_reader(plan, x), x.read_needs) for x in candidates})
    graph.run_or_raise(nodes)
    plan.steps = [x for x in candidates if x.part]


def _create_reads(plan):
    cmd, spec = plan.cmd, plan.spec
    nodes = {
        "cluster": (lambda: cluster_ops.get_cluster(cmd, spec.cluster), ()),
        "target": (lambda: target_ops.get_target(plan.arm, plan.target, spec.target_id), ()),
        "linker": (lambda: graph.or_error(linkers.get_linker, cmd, spec.cluster, spec.name), ()),
        "kube": (lambda: cluster_ops.kube_api(cmd, spec.cluster), ()),
        "values": (lambda: _read_values(plan), ("target",)),
        # The access reviews, with the create's own reads in the same round (their answers are proof enough).
        "access": (lambda: _check_access(plan), ("kube", "cluster", "identity")),
        "store": (lambda: plan.found["access"]["store"], ("access",)),
        "roles": (lambda: _read_roles(plan), ()),
    }
    if plan.write_config:
        nodes["secret"] = (lambda: plan.found["access"]["secret"], ("access",))
    return nodes


def _validate_reads(plan):
    """validate reads what the connection's record names, and nothing it would need only to write."""
    from azext_aks_connection.provider import kube as kube_ops
    cmd, spec = plan.cmd, plan.spec
    secret = plan.k8s_names.get("secret")
    kube = plan.store.api if plan.store is not None else cluster_ops.kube_api(cmd, spec.cluster)
    return {
        "cluster": (lambda: cluster_ops.get_cluster(cmd, spec.cluster), ()),
        "target": (lambda: target_ops.get_target(plan.arm, plan.target, spec.target_id), ()),
        "kube": (lambda: kube, ()),
        "access": (lambda: {}, ()),
        "values": (lambda: target_ops.fetch_values(plan.arm, plan.target, spec.target_id, plan.found["target"],
                                                   with_secret=spec.auth == t.AUTH_SECRET), ("target",)),
        "roles": (lambda: _read_roles(plan), ()),
        "secret": (lambda: kube_ops.read_secret(kube, spec.namespace, secret) if secret else None, ()),
    }


def _keep(plan, name, fn):
    def node():
        if plan.validating and any(n in plan.errors for n in _needs_of(name)):
            plan.errors[name] = s.NotChecked(UNREAD["target"])
            return
        try:
            plan.found[name] = fn()
        except Exception as exc:  # pylint: disable=broad-except  # validate: the step that needs it says so
            if not plan.validating:
                raise
            plan.errors[name] = exc
        if name == "cluster":
            plan.cluster = plan.found.get(name)
    return node


def _needs_of(name):
    return ("target",) if name == "values" else ()


def _step_reader(plan, step):
    def node():
        step.part = plan.applies(step.name)
        if not step.part:
            return
        failed = [n for n in step.read_needs if n in plan.errors]
        if failed:
            step.read_error = s.NotChecked(UNREAD.get(failed[0], f"the {failed[0]} cannot be read."))
            return
        try:
            step.current = step.read()
        except Exception as exc:  # pylint: disable=broad-except  # validate: explained by the step
            if not plan.validating:
                raise
            step.read_error = exc
    return node


def _read_values(plan):
    # --secret on a target whose keys are off: refused before its keys are asked for
    target_ops.refuse_key_auth_disabled(plan.target, plan.found["target"], plan.spec.auth)
    return target_ops.fetch_values(plan.arm, plan.target, plan.spec.target_id, plan.found["target"],
                                   with_secret=plan.spec.auth == t.AUTH_SECRET)


def _read_roles(plan):
    names = plan.role_names()
    if not ((plan.grant or plan.validating) and plan.has_principal() and names):
        return []
    return identity_ops.resolve_roles(plan.arm, plan.scope, names)


def _check_access(plan):
    """The API server answers, and we may write what we write (SelfSubjectAccessReviews), with the reads of
    the connection's own objects in the same round: {"store": Store, "secret": V1Secret | None, "account":
    V1ServiceAccount | None (workload identity, once the identity is known)}. Under apply (reads shared: many
    plans, and on a re-run most write nothing) the reviews wait for a plan that writes: "review", called by
    local_engine.review_access."""
    from azext_aks_connection.provider import kube as kube_ops
    from azext_aks_connection.provider import kubeaccess, shared
    kube, ref, cluster, spec = plan.found["kube"], plan.spec.cluster, plan.found["cluster"], plan.spec
    ns, wi = spec.namespace, spec.auth == t.AUTH_WORKLOAD_IDENTITY
    reads = {"store": (lambda: store_ops.Store.read_one(kube, plan.store_namespace, spec.name),
                       ("get", "configmaps", plan.store_namespace))}
    if plan.write_config:
        reads["secret"] = (lambda: kube_ops.read_secret(kube, ns, secret_name(spec.name)), ("get", "secrets", ns))
    if wi and isinstance(plan.found.get("identity"), dict):
        reads["account"] = (lambda: kube_ops.read_service_account(kube, ns, plan.k8s_names["serviceAccount"]),
                            ("get", "serviceaccounts", ns))
    with kubeaccess.reaching(kube, ref, cluster):
        return kubeaccess.preflight_create(kube, ref, cluster, plan.store_namespace, ns,
                                           secret=plan.write_config, service_account=wi, reads=reads,
                                           defer=shared.active())
