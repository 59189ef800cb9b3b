"""The plan of a connection: its steps (provider/steps/) built from the target record and the auth type's class
(auth/), read together, checked, then applied, each as soon as what it needs is done (provider/graph.py):

    reads   cluster · target · identity · roles · linker · kube credentials → reachability + access review
            → store, Secret · and each step's own read (role assignments, federated credentials, firewall, …)
    checks  every refusal that can be known before writing (nothing is written before all have passed)
    intent  the record, state Creating/Updating, with the plan's items: what this run sets out to make
    apply   cluster features ─┬─ federated credential · CSI roles / access policy · namespace → ServiceAccount
            firewall · roles · └─ Secret
            redis access
    record  Succeeded with what was made; on a failure, Failed with the failing step, its error and what was made

``--dry-run`` stops after the checks and prints the steps' changes (provider/local_engine.py). ``validate`` reads
the plan of the connection as recorded (``Plan.for_record``: no access review, nothing refused, a read that fails
kept for its step to explain) and prints each step's explain(): both are views of the same diffs.
"""
from knack.log import get_logger

from azext_aks_connection import targets as t
from azext_aks_connection._validators import secret_name
from azext_aks_connection.auth import AUTH_CLASSES
from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider import graph
from azext_aks_connection.provider import identity as identity_ops
from azext_aks_connection.provider import linkers
from azext_aks_connection.provider import steps as s
from azext_aks_connection.provider import store as store_ops
from azext_aks_connection.provider import target as target_ops
from azext_aks_connection.provider.arm import Arm
from azext_aks_connection.provider.lease import Intent
from azext_aks_connection.provider.refusals import (refuse_conflicts, refuse_leased, refuse_shadowing,
                                                    refuse_shared_secret)

logger = get_logger(__name__)

# validate: why a step whose read needs a failed read is not checked
_UNREAD = {"target": "the target cannot be read (see the target check).",
           "identity": "the identity does not exist (see the identity check).",
           "cluster": "the cluster cannot be read."}


def parallel(**calls):
    """Run independent calls at once; returns {name: result}; re-raises the first failure."""
    return graph.run_or_raise({name: (fn, ()) for name, fn in calls.items()})


def configurations(spec, values):
    """[{name, value, credential}] for the spec's auth and client type; --customized-keys renames."""
    return [{"name": spec.customized_keys.get(c["name"], c["name"]), "value": c["value"],
             "credential": c["credential"]}
            for c in t.configurations(spec.target, spec.auth, spec.client_type, values)]


class Plan:  # pylint: disable=too-many-instance-attributes  # the one model the steps read
    """The steps of one connection spec, what their reads found, and what applying them made."""

    def __init__(self, cmd, spec, progress, *, record=None, store=None):
        self.cmd, self.spec, self.progress = cmd, spec, progress
        self.record, self.store = record, store       # validate: the record judged, the store it came from
        self.validating = record is not None
        self.target = spec.target
        self.target_sub = spec.target_id.split("/")[2] if (spec.target_id or "").lower().startswith(
            "/subscriptions/") else spec.cluster.subscription     # Confluent Cloud: an endpoint, not an ARM id
        self.arm = Arm(cmd.cli_ctx, subscription_id=self.target_sub)
        self.scope = target_ops.resource_id(self.target, spec.target_id)   # where roles and access policies go
        self.grant = "auth" not in spec.opt_out       # --opt-out auth: no cluster feature, credential, role, policy
        self.write_config = "configinfo" not in spec.opt_out
        iid = spec.auth_info.get("identity_id") if spec.auth == t.AUTH_WORKLOAD_IDENTITY else None
        self.id_arm = Arm(cmd.cli_ctx, subscription_id=iid.split("/")[2]) if iid else None
        self.auth = AUTH_CLASSES[spec.auth](self)
        self.store_namespace = store.namespace if store is not None else store_ops.namespace(cmd.cli_ctx)
        self.found = {}
        self.errors = {}              # validate: read name -> what it raised
        self.steps = []
        self.cluster = None           # the cluster as it is now (after the cluster update, when there was one)
        self.waited = False           # a long cluster update ran: what was read before it is read again
        self._after_update = {}       # step name -> Future of its read_after_update, started as the update ended
        self.intent = Intent(cmd, spec.name, progress)
        self.fix = None               # validate: the commands its fixes name (provider/validate.py Fixes)
        if self.grant and self.has_principal() and self.role_names():
            graph.prefetch("azure.mgmt.authorization")          # the roles are read once the identity is known

    # ---- what the reads found
    def identity(self):
        ident = self.found.get("identity")
        if isinstance(ident, s.NotChecked):
            raise ident
        if isinstance(ident, Exception):
            if self.validating:
                raise s.NotChecked(_UNREAD["identity"])
            raise ident
        return ident

    def given_identity(self):
        ident = self.found.get("identity")
        return ident if isinstance(ident, dict) else {"id": self.spec.auth_info["identity_id"]}

    def step(self, name):
        return next((x for x in self.steps if x.name == name), None)

    def cluster_update_succeeded(self):
        """A poll found the cluster update succeeded (the SDK reads the cluster once more before it returns): the
        steps' reads of what the update does not change, which must come after the wait, start now, alongside
        that final GET (the federated credentials: one ARM round trip off a workload-identity create)."""
        for step in self.steps:
            if hasattr(step, "read_after_update"):
                self._after_update[step.name] = graph.start(step.read_after_update)

    def cluster_update_waits(self):
        """The cluster update goes on waiting (for someone else's update): what cluster_update_succeeded started
        is from before that wait, so it is not used; the steps read again after it."""
        self._after_update.clear()

    def read_after_update(self, step):
        """``step``'s read_after_update(): the one started as the update ended, else made now."""
        future = self._after_update.pop(step.name, None)
        return future.result() if future is not None else step.read_after_update()

    def tenant_id(self):
        vault_tenant = ((self.found.get("target") or {}).get("properties") or {}).get("tenantId")
        ident = self.found.get("identity")
        return vault_tenant or self.found.get("tenant") or (ident.get("tenant_id") if isinstance(ident, dict)
                                                            else None)

    def vault_policy(self):
        """A Key Vault in access-policy mode ignores Azure roles on its data: its principals get an access policy."""
        return bool(self.target.csi) and not ((self.found.get("target") or {}).get("properties") or {}).get(
            "enableRbacAuthorization")

    def role_names(self):
        return self.spec.roles or (self.target.csi_roles if self.spec.auth == t.AUTH_CSI else self.target.roles)

    def has_principal(self):
        return self.spec.auth in (t.AUTH_WORKLOAD_IDENTITY, t.AUTH_CSI) or bool(
            self.spec.auth == t.AUTH_SERVICE_PRINCIPAL and self.spec.auth_info.get("object_id"))

    # pylint: disable-next=too-many-return-statements,too-many-branches  # one rule per step, in one place
    def applies(self, name):
        """Whether step ``name`` is part of this connection's plan (the one place that decides)."""
        spec, grant = self.spec, self.grant or self.validating    # validate explains what --opt-out auth left
        if name == "clusterFeatures":
            return grant and any(self.auth.features.values())
        if name == "firewall":
            return "publicnetwork" not in spec.opt_out and bool(self.target.firewall)
        if name == "redisAccess":
            return grant and bool(self.target.data_access_policy) and self.has_principal()
        if name == "accessPolicy":
            return grant and self.has_principal() and self.vault_policy()
        if name == "roleAssignment":
            return grant and self.has_principal() and not self.vault_policy() and bool(self.found.get("roles"))
        if name == "federatedCredential":
            return grant and spec.auth == t.AUTH_WORKLOAD_IDENTITY
        if name == "namespace":         # validate: the Secret and ServiceAccount checks say what is missing
            return not self.validating and (self.write_config or spec.auth == t.AUTH_WORKLOAD_IDENTITY)
        if name == "serviceAccount":
            return spec.auth == t.AUTH_WORKLOAD_IDENTITY
        return name == "secret" and self.write_config

    def values(self):
        values = dict(self.found.get("values") or {})
        values.update(self.spec.auth_info.get("user_values") or {})   # what the user gave (--secret name=… secret=…)
        values.update(self.auth.values())
        return values

    def values_pending(self):
        return s.AFTER_CLUSTER_UPDATE in self.values().values()

    def configurations(self):
        if self.validating:
            return self._recorded_configurations()
        return configurations(self.spec, self.values())

    def _recorded_configurations(self):
        """validate: the keys of the record's auth and client type (those it recorded), each computed again from
        what the target gives now where every field it reads is known; else the value recorded (never a
        credential); else UNKNOWN (only its presence is checked). --customized-keys renames are followed."""
        recorded = {c.get("name"): c for c in self.record.get("configurations") or []}
        known = dict(self.found.get("values") or {})
        known["client_id"] = self.auth.client_id()
        out = []
        for k in self.target.keys_for(self.spec.auth, self.spec.client_type or "none"):
            name = self.spec.customized_keys.get(k.key, k.key)
            if recorded and name not in recorded:
                continue
            if all(known.get(f) is not None for f in t.fields_of(k.field)):
                value = t.config_value(k, known)
            elif not k.credential and (recorded.get(name) or {}).get("value"):
                value = recorded[name]["value"]
            else:
                value = s.UNKNOWN
            out.append({"name": name, "value": value, "credential": k.credential})
        return out

    @property
    def k8s_names(self):
        return self.auth.k8s_names()

    # ---- reads and checks: nothing is written before all have passed
    def read(self):
        """Every read of the plan at once, each as soon as what it needs is there."""
        self.progress("Reading the cluster, the target and what the connection needs")
        candidates = [cls(self) for cls in s.CANDIDATES]
        nodes = self._validate_reads() if self.validating else self._create_reads()
        nodes.update(self.auth.reads())
        nodes = {name: (self._keep(name, fn), needs) for name, (fn, needs) in nodes.items()}
        nodes.update({"step:" + x.name: (self._step_reader(x), x.read_needs) for x in candidates})
        graph.run_or_raise(nodes)
        self.steps = [x for x in candidates if x.part]

    def _create_reads(self):
        cmd, spec = self.cmd, self.spec
        nodes = {
            "cluster": (lambda: cluster_ops.get_cluster(cmd, spec.cluster), ()),
            "target": (lambda: target_ops.get_target(self.arm, self.target, spec.target_id), ()),
            "linker": (lambda: _or_error(linkers.get_linker, cmd, spec.cluster, spec.name), ()),
            "kube": (lambda: cluster_ops.kube_api(cmd, spec.cluster), ()),
            "values": (self._read_values, ("target",)),
            # The access reviews, with the create's own reads in the same round (their answers are proof enough).
            "access": (self._check_access, ("kube", "cluster", "identity")),
            "store": (lambda: self.found["access"]["store"], ("access",)),
            "roles": (self._read_roles, ()),
        }
        if self.write_config:
            nodes["secret"] = (lambda: self.found["access"]["secret"], ("access",))
        return nodes

    def _validate_reads(self):
        """validate reads what the connection's record names, and nothing it would need only to write."""
        from azext_aks_connection.provider import kube as kube_ops
        cmd, spec = self.cmd, self.spec
        secret = self.k8s_names.get("secret")
        kube = self.store.api if self.store is not None else cluster_ops.kube_api(cmd, spec.cluster)
        return {
            "cluster": (lambda: cluster_ops.get_cluster(cmd, spec.cluster), ()),
            "target": (lambda: target_ops.get_target(self.arm, self.target, spec.target_id), ()),
            "kube": (lambda: kube, ()),
            "access": (lambda: {}, ()),
            "values": (lambda: target_ops.fetch_values(self.arm, self.target, spec.target_id, self.found["target"],
                                                       with_secret=spec.auth == t.AUTH_SECRET), ("target",)),
            "roles": (self._read_roles, ()),
            "secret": (lambda: kube_ops.read_secret(kube, spec.namespace, secret) if secret else None, ()),
        }

    def _keep(self, name, fn):
        def node():
            if self.validating and any(n in self.errors for n in self._needs_of(name)):
                self.errors[name] = s.NotChecked(_UNREAD["target"])
                return
            try:
                self.found[name] = fn()
            except Exception as exc:  # pylint: disable=broad-except  # validate: the step that needs it says so
                if not self.validating:
                    raise
                self.errors[name] = exc
            if name == "cluster":
                self.cluster = self.found.get(name)
        return node

    def _needs_of(self, name):
        return ("target",) if name == "values" else ()

    def _step_reader(self, step):
        def read():
            step.part = self.applies(step.name)
            if not step.part:
                return
            failed = [n for n in step.read_needs if n in self.errors]
            if failed:
                step.read_error = s.NotChecked(_UNREAD.get(failed[0], f"the {failed[0]} cannot be read."))
                return
            try:
                step.current = step.read()
            except Exception as exc:  # pylint: disable=broad-except  # validate: explained by the step
                if not self.validating:
                    raise
                step.read_error = exc
        return read

    def _read_values(self):
        # --secret on a target whose keys are off: refused before its keys are asked for
        target_ops.refuse_key_auth_disabled(self.target, self.found["target"], self.spec.auth)
        return target_ops.fetch_values(self.arm, self.target, self.spec.target_id, self.found["target"],
                                       with_secret=self.spec.auth == t.AUTH_SECRET)

    def _read_roles(self):
        names = self.role_names()
        if not ((self.grant or self.validating) and self.has_principal() and names):
            return []
        return identity_ops.resolve_roles(self.arm, self.scope, names)

    def _check_access(self):
        """The API server answers, and we may write what we write (SelfSubjectAccessReviews), with the reads of
        the connection's own objects in the same round: {"store": Store, "secret": V1Secret | None, "account":
        V1ServiceAccount | None (workload identity, once the identity is known)}."""
        from azext_aks_connection.provider import kube as kube_ops
        from azext_aks_connection.provider import kubeaccess
        kube, ref, cluster, spec = self.found["kube"], self.spec.cluster, self.found["cluster"], self.spec
        ns, wi = spec.namespace, spec.auth == t.AUTH_WORKLOAD_IDENTITY
        reads = {"store": (lambda: store_ops.Store.read_one(kube, self.store_namespace, spec.name),
                           ("get", "configmaps", self.store_namespace))}
        if self.write_config:
            reads["secret"] = (lambda: kube_ops.read_secret(kube, ns, secret_name(spec.name)), ("get", "secrets", ns))
        if wi and isinstance(self.found.get("identity"), dict):
            reads["account"] = (lambda: kube_ops.read_service_account(kube, ns, self.k8s_names["serviceAccount"]),
                                ("get", "serviceaccounts", ns))
        with kubeaccess.reaching(kube, ref, cluster):
            return kubeaccess.preflight_create(kube, ref, cluster, self.store_namespace, ns,
                                               secret=self.write_config, service_account=wi, reads=reads)

    def check(self):
        spec, store = self.spec, self.found["store"]
        refuse_shadowing(spec, self.found["linker"])
        self.auth.check()
        if spec.must_exist and store.find(spec.name) is None:
            raise store.deleted_error(spec.name)    # an update of a connection deleted meanwhile: nothing written
        refuse_leased(store.find(spec.name))
        refuse_conflicts(spec, store.records)
        if self.write_config:
            from azext_aks_connection.provider import kube as kube_ops
            kube_ops.refuse_foreign_secret(self.found["secret"], spec.namespace)
            refuse_shared_secret(spec, self.found["secret"], store)
        if self.vault_policy() and spec.roles and self.grant and self.has_principal():
            logger.warning("Key vault '%s' uses access policies, not Azure RBAC: --role is ignored; the identity gets "
                           "an access policy instead.", self.found["target"].get("name"))

    def changes(self):
        return [i for x in self.steps for i in x.changes()]

    # ---- apply
    def before_write(self):
        self.intent.before_write()

    def note_planned(self, items):
        self.intent.note_planned(items)

    def release(self):
        self.intent.release()

    def apply(self):
        """Apply every step that has something to do, each once what it needs is applied. Returns
        {step: (provisioned, made)}; a failure records the connection as Failed and re-raises."""
        todo = [x for x in self.steps if x.pending()]
        if todo:
            self.progress("Applying " + ", ".join(x.name for x in todo))
        try:
            applied = graph.run({x.name: (x.apply, self._needs(x, {y.name for y in todo})) for x in todo})
        except graph.NodeFailed as failure:
            self.release()
            self.intent.record_failure(failure)
            raise failure.error
        except KeyboardInterrupt:
            self.release()          # interrupted: the record says so, and a re-run can take over at once
            self.intent.record_failure(graph.NodeFailed("interrupted", KeyboardInterrupt("interrupted (Ctrl+C)"), {}))
            raise
        self.release()
        return {x.name: applied.get(x.name) or (x.in_place(), []) for x in self.steps}

    def _needs(self, step, todo):
        """The steps of ``todo`` that ``step`` waits for: its needs, and through a step with nothing to do, that
        step's own (the ServiceAccount waits for the cluster update even when the namespace is there)."""
        out = set()
        for name in step.needs:
            if name in todo:
                out.add(name)
            elif self.step(name) is not None:
                out |= set(self._needs(self.step(name), todo))
        return tuple(sorted(out))


def _or_error(fn, *args, errors=Exception):
    """``fn(*args)``, or the exception (of ``errors``) it raised, for the caller to weigh."""
    try:
        return fn(*args)
    except errors as exc:  # pylint: disable=broad-except
        return exc


def create(cmd, spec, progress, no_wait=False, dry_run=False):
    from azext_aks_connection.provider import local_engine
    return local_engine.create(cmd, spec, progress, no_wait=no_wait, dry_run=dry_run)
