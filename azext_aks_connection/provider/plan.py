"""The plan of a connection: its steps (provider/steps.py) built from the target record and one small class per
auth type, read together, checked, then applied, each as soon as what it needs is done (provider/graph.py):

    reads   cluster · target · identity · roles · linker · kube credentials → reachability + access review
            → store, Secret · and each step's own read (role assignments, federated credentials, firewall, …)
    checks  every refusal that can be known before writing (nothing is written before all have passed)
    intent  the record, state Creating/Updating, with the plan's items: what this run sets out to make
    apply   cluster features ─┬─ federated credential · CSI roles / access policy · namespace → ServiceAccount
            firewall · roles · └─ Secret
            redis access
    record  Succeeded with what was made; on a failure, Failed with the failing step, its error and what was made

``--dry-run`` stops after the checks and prints the steps' changes. A run with nothing to change writes nothing.
A failed or interrupted run leaves its record (Creating / Updating / Failed) naming what it set out to make:
a re-run converges (every step reads first, names are deterministic) and ``delete`` finds all of it.
"""
import threading

from knack.log import get_logger

from azext_aks_connection import model
from azext_aks_connection import targets as t
from azext_aks_connection._validators import secret_name
from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider import graph
from azext_aks_connection.provider import identity as identity_ops
from azext_aks_connection.provider import linkers
from azext_aks_connection.provider import steps as s
from azext_aks_connection.provider import store as store_ops
from azext_aks_connection.provider import target as target_ops
from azext_aks_connection.provider.arm import Arm

logger = get_logger(__name__)

SUCCEEDED, FAILED = "Succeeded", "Failed"
LEASE_SECONDS = 60      # an unfinished record's lease (renewed every third of it while the run lasts)
CANDIDATES = (s.ClusterFeatures, s.Firewall, s.RoleAssignments, s.VaultAccessPolicy, s.RedisAccess,
              s.FederatedCredential, s.Namespace, s.ServiceAccount, s.Secret)


def parallel(**calls):
    """Run independent calls at once; returns {name: result}; re-raises the first failure."""
    return graph.run_or_raise({name: (fn, ()) for name, fn in calls.items()})


def _now(later=0.0):
    import datetime
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=later)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lease(seconds):
    return {"until": _now(seconds)}


def _caller(cmd):
    try:
        from azure.cli.core._profile import Profile
        return Profile(cli_ctx=cmd.cli_ctx).get_current_account_user()
    except Exception:  # pylint: disable=broad-except
        return None


def configurations(spec, values):
    """[{name, value, credential}] for the spec's auth and client type; --customized-keys renames."""
    return [{"name": spec.customized_keys.get(c["name"], c["name"]), "value": c["value"],
             "credential": c["credential"]}
            for c in t.configurations(spec.target, spec.auth, spec.client_type, values)]


def _tenant(cmd, subscription):
    from azure.cli.core._profile import Profile
    try:
        return Profile(cli_ctx=cmd.cli_ctx).get_subscription(subscription).get("tenantId")
    except Exception:  # pylint: disable=broad-except
        return Profile(cli_ctx=cmd.cli_ctx).get_subscription().get("tenantId")


def _or_error(fn, *args, errors=Exception):
    """``fn(*args)``, or the exception (of ``errors``) it raised, for the caller to weigh."""
    try:
        return fn(*args)
    except errors as exc:  # pylint: disable=broad-except
        return exc


# --------------------------------------------------------------------------- one class per auth type

class Auth:
    """What an auth type adds to the plan: its reads, its principal, its values and Kubernetes objects."""
    features = {"workload_identity": False, "kv_csi": False}
    vault_permissions = identity_ops.KV_APP_PERMISSIONS

    def __init__(self, plan):
        self.plan = plan

    def reads(self):
        return {}

    def principal(self):
        return None

    def principal_after_cluster_update(self):
        return False

    def principal_label(self):
        return ""

    def alias(self):
        return None

    def values(self):
        return {}

    def k8s_names(self):
        return {"secret": secret_name(self.plan.spec.name)} if self.plan.write_config else {}

    def check(self):
        pass

    def provisioned(self):
        return {}


class SecretAuth(Auth):
    pass


class WorkloadIdentityAuth(Auth):
    @property
    def features(self):
        return {"workload_identity": self.plan.grant, "kv_csi": False}

    def reads(self):
        plan = self.plan
        return {"identity": (lambda: _or_error(identity_ops.get_identity, plan.id_arm,
                                               plan.spec.auth_info["identity_id"]), ())}

    def principal(self):
        return self.plan.identity()["principal_id"]

    def alias(self):
        return self.plan.identity().get("name")

    def values(self):
        ident = self.plan.identity()
        return {"client_id": ident["client_id"], "tenant_id": ident["tenant_id"]}

    def k8s_names(self):
        names = super().k8s_names()
        names["serviceAccount"] = identity_ops.service_account_name(self.plan.identity()["client_id"])
        return names

    def check(self):
        plan = self.plan
        # The cluster's own identities are refused by id first: the kubelet one may not be readable.
        identity_ops.refuse_cluster_identity(plan.found["cluster"], plan.given_identity())
        ident = plan.identity()
        plan.spec.auth_info["client_id"] = ident["client_id"]
        fic = plan.step("federatedCredential")
        if fic is not None:        # a federated credential slot is free (or ours exists), before anything is written
            identity_ops.check_fic_slot(plan.id_arm, ident, plan.spec.namespace,
                                        cluster_ops.issuer_of(plan.found["cluster"]), existing=fic.current)

    def provisioned(self):
        return {"identity": self.plan.identity()["id"]}


class ServicePrincipalAuth(Auth):
    def reads(self):
        return {"tenant": (lambda: _tenant(self.plan.cmd, self.plan.target_sub), ())}

    def principal(self):
        return self.plan.spec.auth_info.get("object_id")

    def values(self):
        info = self.plan.spec.auth_info
        return {"client_id": info["client_id"], "client_secret": info["client_secret"],
                "tenant_id": self.plan.found.get("tenant")}


class CsiAuth(Auth):
    """Key Vault through the CSI driver: the cluster's azureKeyvaultSecretsProvider add-on identity reads it."""
    vault_permissions = identity_ops.KV_READ_PERMISSIONS

    @property
    def features(self):
        return {"workload_identity": False, "kv_csi": self.plan.grant}

    def reads(self):
        return {"tenant": (lambda: _tenant(self.plan.cmd, self.plan.target_sub), ())}

    def _addon_identity(self):
        return cluster_ops.addon_identity(self.plan.cluster)

    def principal(self):
        return self._addon_identity().get("objectId")

    def principal_after_cluster_update(self):
        return not cluster_ops.addon_identity(self.plan.found["cluster"]).get("objectId")

    def principal_label(self):
        return f"the {cluster_ops.KV_ADDON} add-on's identity {s.AFTER_CLUSTER_UPDATE}"

    def values(self):
        return {"client_id": self._addon_identity().get("clientId") or s.AFTER_CLUSTER_UPDATE,
                "tenant_id": self.plan.found.get("tenant")}

    def check(self):
        if self.plan.grant or self._addon_identity().get("clientId"):
            return
        from azure.cli.core.azclierror import ValidationError
        ref = self.plan.spec.cluster
        raise ValidationError(f"The {cluster_ops.KV_ADDON} add-on of AKS cluster '{ref.name}' is off "
                              "and --opt-out auth forbids turning it on.",
                              recommendation="Drop --opt-out auth, or enable the add-on first: az aks "
                              f"enable-addons --addons azure-keyvault-secrets-provider -g {ref.resource_group} "
                              f"-n {ref.name}")

    def provisioned(self):
        rid = self._addon_identity().get("resourceId")
        return {"identity": rid} if rid else {}


AUTH_CLASSES = {t.AUTH_SECRET: SecretAuth, t.AUTH_WORKLOAD_IDENTITY: WorkloadIdentityAuth,
                t.AUTH_SERVICE_PRINCIPAL: ServicePrincipalAuth, t.AUTH_CSI: CsiAuth}


# --------------------------------------------------------------------------- the plan

class Plan:  # pylint: disable=too-many-instance-attributes,too-many-public-methods  # the one model the steps read
    """The steps of one connection spec, what their reads found, and what applying them made."""

    def __init__(self, cmd, spec, progress):
        self.cmd, self.spec, self.progress = cmd, spec, progress
        self.target = spec.target
        self.target_sub = spec.target_id.split("/")[2] if spec.target_id.lower().startswith("/subscriptions/") \
            else spec.cluster.subscription        # Confluent Cloud: the target is an endpoint, not an ARM id
        self.arm = Arm(cmd.cli_ctx, subscription_id=self.target_sub)
        self.scope = target_ops.resource_id(self.target, spec.target_id)   # where roles and access policies go
        self.grant = "auth" not in spec.opt_out       # --opt-out auth: no cluster feature, credential, role, policy
        self.write_config = "configinfo" not in spec.opt_out
        wi = spec.auth == t.AUTH_WORKLOAD_IDENTITY
        self.id_arm = Arm(cmd.cli_ctx, subscription_id=spec.auth_info["identity_id"].split("/")[2]) if wi else None
        self.auth = AUTH_CLASSES[spec.auth](self)
        self.store_namespace = store_ops.namespace(cmd.cli_ctx)
        self.found = {}
        self.steps = []
        self.cluster = None           # the cluster as it is now (after the cluster update, when there was one)
        self.waited = False           # a long cluster update ran: what was read before it is read again
        self._after_update = {}       # step name -> Future of its read_after_update, started as the update ended
        self.intent = None            # the record of what this run sets out to make, written before the first write
        self.intent_written = False
        self._intent_lock = threading.Lock()
        self._stop_renewing = threading.Event()
        try:
            seconds = cmd.cli_ctx.config.get("aks_connection", "lease_seconds", LEASE_SECONDS)
            self.lease_seconds = max(1.0, float(seconds))
        except (TypeError, ValueError):
            self.lease_seconds = float(LEASE_SECONDS)
        if self.grant and self.has_principal() and self.role_names():
            graph.prefetch("azure.mgmt.authorization")          # the roles are read once the identity is known

    # ---- what the reads found
    def identity(self):
        ident = self.found.get("identity")
        if isinstance(ident, Exception):
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
        vault_tenant = (self.found["target"].get("properties") or {}).get("tenantId")
        ident = self.found.get("identity")
        return vault_tenant or self.found.get("tenant") or (ident.get("tenant_id") if isinstance(ident, dict)
                                                            else None)

    def vault_policy(self):
        """A Key Vault in access-policy mode ignores Azure roles on its data: its principals get an access policy."""
        return bool(self.target.csi) and not (self.found["target"].get("properties") or {}).get(
            "enableRbacAuthorization")

    def role_names(self):
        return self.spec.roles or (self.target.csi_roles if self.spec.auth == t.AUTH_CSI else self.target.roles)

    def has_principal(self):
        return self.spec.auth in (t.AUTH_WORKLOAD_IDENTITY, t.AUTH_CSI) or bool(
            self.spec.auth == t.AUTH_SERVICE_PRINCIPAL and self.spec.auth_info.get("object_id"))

    # pylint: disable-next=too-many-return-statements,too-many-branches  # one rule per step, in one place
    def applies(self, name):
        """Whether step ``name`` is part of this connection's plan (the one place that decides)."""
        spec, grant = self.spec, self.grant
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
        if name == "namespace":
            return self.write_config or spec.auth == t.AUTH_WORKLOAD_IDENTITY
        if name == "serviceAccount":
            return spec.auth == t.AUTH_WORKLOAD_IDENTITY
        return name == "secret" and self.write_config

    def values(self):
        values = dict(self.found["values"])
        values.update(self.spec.auth_info.get("user_values") or {})   # what the user gave (--secret name=… secret=…)
        values.update(self.auth.values())
        return values

    def values_pending(self):
        return s.AFTER_CLUSTER_UPDATE in self.values().values()

    def configurations(self):
        return configurations(self.spec, self.values())

    def admit(self, ips, note):
        """Admit the cluster's egress IPs on the target (M-T2), and say what was and was not done."""
        from azext_aks_connection.provider import firewall
        display = self.target.display
        if not ips:
            logger.warning("No firewall rule was added on the %s: %s. If the target restricts networks, allow the "
                           "cluster's egress address yourself, or pass --opt-out publicnetwork to skip this step.",
                           display, note)
            return {"added": [], "present": [], "skipped_reason": note}
        self.progress(f"Admitting the cluster's egress IP(s) {', '.join(ips)} on the {display}")
        outcome = firewall.ensure_rules(self.arm, self.target, self.scope, self.found["target"], ips)
        if outcome.get("added"):
            logger.warning("Added firewall rule(s) for %s on the %s.", ", ".join(outcome["added"]), display)
        elif outcome.get("skipped_reason"):
            logger.info("Firewall: %s", outcome["skipped_reason"])
        if note:
            logger.warning("Firewall: %s.", note)
        return outcome

    @property
    def k8s_names(self):
        return self.auth.k8s_names()

    # ---- reads and checks: nothing is written before all have passed
    def read(self):
        """Every read of the plan at once, each as soon as what it needs is there."""
        self.progress("Reading the cluster, the target and what the connection needs")
        candidates = [cls(self) for cls in CANDIDATES]
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
        nodes.update(self.auth.reads())
        nodes = {name: (self._keep(name, fn), needs) for name, (fn, needs) in nodes.items()}
        nodes.update({"step:" + x.name: (self._step_reader(x), x.read_needs) for x in candidates})
        graph.run_or_raise(nodes)
        self.steps = [x for x in candidates if x.part]

    def _keep(self, name, fn):
        def node():
            self.found[name] = fn()
            if name == "cluster":
                self.cluster = self.found[name]
        return node

    def _step_reader(self, step):
        def read():
            step.part = self.applies(step.name)
            if step.part:
                step.current = step.read()
        return read

    def _read_values(self):
        # --secret on a target whose keys are off: refused before its keys are asked for
        target_ops.refuse_key_auth_disabled(self.target, self.found["target"], self.spec.auth)
        return target_ops.fetch_values(self.arm, self.target, self.spec.target_id, self.found["target"],
                                       with_secret=self.spec.auth == t.AUTH_SECRET)

    def _read_roles(self):
        names = self.role_names()
        if not (self.grant and self.has_principal() and names):
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

    def before_write(self):
        """Called by a step right before its first write: the intent is recorded first, once, with a lease (a
        compare-and-swap of the record: of two commands changing one connection at once the second stops at
        its check or here, having written nothing, so record and Secret always come from one run). The lease is
        renewed while the run lasts; a run killed outright leaves it to expire. Waits (a busy cluster) come
        before it."""
        with self._intent_lock:
            if self.intent is None or self.intent_written:
                return
            self.progress(f"Recording what connection '{self.spec.name}' will make")
            self.intent["lease"] = _lease(self.lease_seconds)
            self.found["store"].put(self.intent)
            self.intent_written = True
        threading.Thread(target=self._renew, daemon=True).start()     # stopped by release(), never joined

    def note_planned(self, items):
        """Items whose ids were not known when the intent was recorded (the federated credential's issuer, the
        CSI add-on's identity: known once the cluster update is done), added to it before they are written."""
        items = [i for i in items if i.get("id")]
        if not items:
            return
        self.before_write()
        with self._intent_lock:
            known = {(i.get("step"), (i.get("id") or "").lower()) for i in self.intent.get("plan") or []}
            new = [i for i in items if (i["step"], i["id"].lower()) not in known]
            if new:
                renewed = dict(self.intent, plan=list(self.intent.get("plan") or []) + new)
                self.found["store"].put(renewed)
                self.intent = renewed

    def _renew(self):
        while not self._stop_renewing.wait(self.lease_seconds / 3):
            with self._intent_lock:
                if self._stop_renewing.is_set():
                    return
                renewed = dict(self.intent, lease=_lease(self.lease_seconds))
                try:
                    self.found["store"].put(renewed)
                    self.intent = renewed
                except Exception as exc:  # pylint: disable=broad-except
                    # The API server may be restarting (an OIDC issuer turned on): try again at the next tick.
                    # A record changed by another command fails the final write, which says so.
                    logger.debug("Renewing the lease of connection '%s': %s", self.spec.name, exc)

    def release(self):
        """Stop renewing the lease (the next write of the record, final or Failed, has none). Once the lock has
        been had after the stop, no renewal is writing and none will (each checks the stop under the lock): the
        renewer, a daemon thread, ends on its own, and is not joined (its wake-up cost the final write ~5 ms)."""
        self._stop_renewing.set()
        with self._intent_lock:
            pass

    # ---- apply
    def apply(self, store, intent):
        """Apply every step that has something to do, each once what it needs is applied. Returns
        {step: (provisioned, made)}; a failure records the connection as Failed and re-raises."""
        todo = [x for x in self.steps if x.pending()]
        if todo:
            self.progress("Applying " + ", ".join(x.name for x in todo))
        try:
            applied = graph.run({x.name: (x.apply, self._needs(x, {y.name for y in todo})) for x in todo})
        except graph.NodeFailed as failure:
            self.release()
            self._record_failure(store, self.intent or intent, failure)
            raise failure.error
        except KeyboardInterrupt:
            self.release()          # interrupted: the record says so, and a re-run can take over at once
            self._record_failure(store, self.intent or intent, graph.NodeFailed("interrupted", KeyboardInterrupt(
                "interrupted (Ctrl+C)"), {}))
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

    def _record_failure(self, store, intent, failure):
        from azext_aks_connection.provider.errors import message_of
        if not self.intent_written:
            return          # nothing was written: no record (a re-run starts afresh)
        made = [i for _, items in failure.done.values() for i in items]
        record = {k: v for k, v in intent.items() if k != "lease"}
        record.update(provisioningState=FAILED, failure={"step": failure.node, "message": message_of(failure.error)})
        record["provisioned"] = _merge_provisioned(intent.get("provisioned") or {},
                                                   [p for p, _ in failure.done.values()], made, keep_uses=True)
        try:
            store.put(record)
        except Exception as exc:  # pylint: disable=broad-except
            logger.warning("Connection '%s' failed at step %s, and its record could not say so: %s", self.spec.name,
                           failure.node, message_of(exc))

    def new_record(self, existing, state, provisioned, items=None):
        """The record for this spec: ``provisioned`` says what the connection uses and made; ``items`` (while it
        is being made) what this run sets out to make."""
        record = model.new_record(self.spec, self.configurations(), self.k8s_names, _caller(self.cmd), _now(),
                                  provisioned=provisioned)
        if state != SUCCEEDED:
            record["provisioningState"] = state
        if items:
            record["plan"] = items
        if existing:
            for key in ("createdAt", "createdBy"):
                record["systemData"][key] = (existing.get("systemData") or {}).get(key)
        return record


def _merge_provisioned(base, parts, made, keep_uses=False):
    """Each step's provisioned entries (what the connection uses now), and the items made: those of ``base``
    (what earlier runs recorded) and ``made``. ``keep_uses``: also what ``base`` used (a record of a run that
    has not finished: delete must still find what the connection used before)."""
    out = {k: v for k, v in base.items() if k != "created"} if keep_uses else {}
    for part in parts:
        out.update(part)
    created = {}
    for entry in [e for item in list(base.get("created") or []) + list(made) for e in _as_made(item)]:
        created.setdefault((entry["step"], entry["id"].lower(), entry.get("name") or ""), entry)
    if created:
        out["created"] = [created[k] for k in sorted(created)]
    return out


def makes(item):
    """A plan item that makes something of the connection's own (what delete --cleanup may remove): a create, or
    the addresses a firewall update adds and the features a cluster update turns on; not a change of the target
    itself (Microsoft Entra authentication turned on on a cache)."""
    return bool(item.get("id")) and (item.get("action") == s.CREATE or item.get("step") in ("firewall",
                                                                                            "clusterFeatures"))


_MADE_DETAIL = {"clusterFeatures": ("enable",), "accessPolicy": ("objectId", "tenantId", "permissions"),
                "firewall": ("ip",)}


def _as_made(item):
    """An item a run made, in the one shape the record keeps (whether it comes from a plan or from an apply): a
    firewall item per address; named by the last segment of its id but for what has no id of its own."""
    step, rid, detail = item.get("step"), item.get("id"), dict(item.get("detail") or {})
    if not rid:
        return []
    if step == "firewall":
        return [{"step": step, "id": rid, "name": ip, "detail": {"ip": ip}}
                for ip in ([detail["ip"]] if detail.get("ip") else detail.get("admit") or [])]
    out = {"step": step, "id": rid}         # named by its id, but what has none of its own
    if step in ("clusterFeatures", "accessPolicy"):
        out["name"] = item.get("name")
    kept = {k: detail[k] for k in _MADE_DETAIL.get(step, ()) if k in detail}
    if kept:
        out["detail"] = kept
    return [out]


def state_of(record):
    return (record or {}).get("provisioningState") or SUCCEEDED


CREATING, UPDATING = "Creating", "Updating"


def create(cmd, spec, progress, no_wait=False, dry_run=False):  # pylint: disable=unused-argument
    """Apply the plan for ``spec``; returns (record, provisioning state). ``dry_run``: returns the plan's
    output instead, with nothing written. Every step is synchronous and short but the cluster update, which is
    waited for: ``no_wait`` changes nothing here."""
    plan = Plan(cmd, spec, progress)
    plan.read()
    plan.check()
    store = plan.found["store"]
    existing = store.find(spec.name)
    # For the caller to name what the connection used before and no longer does (an update's old grants).
    spec.previous = existing
    spec.others = lambda: store.others(spec.name)      # listed only if a caller needs them
    if dry_run:
        return dry_run_output(plan, existing), None
    base = _carried(existing, plan)
    if not any(x.pending() for x in plan.steps):
        record = plan.new_record(existing, SUCCEEDED, _merge_provisioned(
            base, [x.in_place() for x in plan.steps] + [plan.auth.provisioned()], []))
        if existing and _same(existing, record):
            return existing, SUCCEEDED        # nothing to change: no write at all
        progress(f"Recording the connection in namespace {store.namespace}")
        store.put(record)
        return record, SUCCEEDED
    # The intent, written right before the first write: what this run sets out to make, for a re-run and delete
    # to find.
    intent = plan.new_record(existing, UPDATING if existing else CREATING,
                             _merge_provisioned(base, [plan.auth.provisioned()], [], keep_uses=True), plan.changes())
    plan.intent = intent
    applied = plan.apply(store, intent)
    provisioned = _merge_provisioned(base, [p for p, _ in applied.values()] + [plan.auth.provisioned()],
                                     [i for _, made in applied.values() for i in made])
    record = plan.new_record(existing, SUCCEEDED, provisioned)
    progress(f"Recording the connection in namespace {store.namespace}")
    store.put(record)
    return record, SUCCEEDED


def _carried(existing, plan):
    """What an earlier run recorded. When it did not finish (Creating / Updating / Failed), the items it set out
    to make that are in place now were made by it: they count as made by the connection."""
    if not existing:
        return {}
    base = dict(existing.get("provisioned") or {})
    if state_of(existing) == SUCCEEDED or not existing.get("plan"):
        return base
    still = {(i.get("id") or "").lower() for i in plan.changes()}
    done = [i for i in existing["plan"] if makes(i) and i["id"].lower() not in still]
    return _merge_provisioned(base, [], done, keep_uses=True)


def _same(a, b):
    strip = ("systemData",)
    return {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}


def dry_run_output(plan, existing):
    """The plan as it would run: each step with what it would create or change (credential values masked), or
    in place; then the record. ``pendingChanges`` counts the items (0: nothing would change)."""
    rows = []
    for step in plan.steps:
        found = step.changes()
        rows.extend(found or [s.item(step.name, "none", "", None, "", inPlace=True)])
    record = plan.new_record(existing, SUCCEEDED, _merge_provisioned(
        _carried(existing, plan), [x.in_place() for x in plan.steps if not x.pending()] +
        [plan.auth.provisioned()], []))
    if existing is None:
        rows.append(s.item("record", s.CREATE, "v1/ConfigMap", plan.store_namespace, store_ops.configmap_name(
            plan.spec.name), state=SUCCEEDED))
    elif rows and any(r["action"] != "none" for r in rows) or not _same(existing, record):
        rows.append(s.item("record", s.UPDATE, "v1/ConfigMap", plan.store_namespace, store_ops.configmap_name(
            plan.spec.name), state=SUCCEEDED))
    pending = [r for r in rows if r["action"] != "none"]
    return {"id": plan.spec.id, "name": plan.spec.name, "engine": "local", "dryRun": True,
            "pendingChanges": len(pending), "steps": rows}


def refuse_shadowing(spec, linker):
    """A connection name is unique across both engines: a local connection never shadows a Service Connector one."""
    if not isinstance(linker, dict):
        return          # none of that name, or Service Connector unreadable (not registered: it has none)
    from azure.cli.core.azclierror import InvalidArgumentValueError
    raise InvalidArgumentValueError(
        f"Connection '{linker['name']}' already exists on AKS cluster '{spec.cluster.name}' as a Service Connector "
        "connection: an aks-connection (local) connection of the same name would shadow it.",
        recommendation=f"Choose another --connection name, or update it: az aks connection update "
        f"{spec.target.name} --id {linker['id']} …")


def refuse_shared_secret(spec, secret, store):
    """The Secret the connection writes exists and another connection of this cluster that still exists wrote it
    (names differing only in case or punctuation share it: orders_blob, ordersblob): refused before anything is
    written. The Secret's connection-id annotation names its writer, whose record is read then (one GET), so a create
    reads no other record."""
    if secret is None:
        return
    owner = ((secret.metadata.annotations or {}).get("aks-connection/connection-id") or "")
    base = spec.cluster.id.lower() + "/providers/microsoft.servicelinker/linkers/"
    if not owner.lower().startswith(base) or owner.lower() == spec.id.lower():
        return
    other = store.record_of(owner[len(base):])
    if other is not None and other["name"].lower() != spec.name.lower():
        refuse_conflicts(spec, {other["name"]: other})


def refuse_conflicts(spec, records):
    """A connection name already used for another target or namespace, or a name that another connection's
    Secret would share (names differing only in case or punctuation: orders_blob, ordersblob, Orders-Blob):
    refused, with the way out, before anything is written. ``records``: the ones read (a create reads its own
    only: ``refuse_shared_secret`` finds the other writer of its Secret)."""
    from azure.cli.core.azclierror import InvalidArgumentValueError
    existing = records.get(spec.name)
    if existing:
        have = existing.get("targetService") or {}
        have_target = have.get("id") or have.get("endpoint") or ""
        moved = [what for what, old, new in (
            ("target type", existing.get("target"), spec.target.name),
            ("target", have_target.lower(), (spec.target_id or "").lower()),
            ("namespace", existing.get("scope") or "default", spec.namespace)) if old != new]
        if moved:
            raise InvalidArgumentValueError(
                f"Connection '{spec.name}' already exists and connects {existing.get('target')} "
                f"'{have_target}' in namespace '{existing.get('scope') or 'default'}': create would change its "
                f"{' and '.join(moved)}.",
                recommendation=f"Choose another --connection name, or delete '{spec.name}' first (az aks "
                "connection delete --id " + spec.id + " --yes). To change its auth or client type, use "
                f"'az aks connection update {existing.get('target')} --id {spec.id}'.")
    wanted = secret_name(spec.name)
    for name, record in records.items():
        if name == spec.name:
            continue
        if name.lower() == spec.name.lower():
            raise InvalidArgumentValueError(
                f"Connection '{name}' already exists: connection names are case-insensitive (as in Azure).",
                recommendation=f"Use --connection {name} to change it, or choose another name.")
        if (record.get("scope") or "default") == spec.namespace and \
                (record.get("kubernetesResourceName") or {}).get("secret") == wanted:
            raise InvalidArgumentValueError(
                f"Connection '{name}' in namespace '{spec.namespace}' already writes Secret '{wanted}': "
                f"connection '{spec.name}' would overwrite it (a Secret's name keeps only the lower-cased letters "
                "and digits of the connection name).",
                recommendation=f"Choose a --connection name that differs from '{name}' in its letters or digits.")


def refuse_leased(existing):
    """Another command is changing this connection (its record is Creating/Updating under a lease that has not run
    out): refused before anything is written."""
    if state_of(existing) not in (CREATING, UPDATING):
        return
    until = ((existing or {}).get("lease") or {}).get("until")
    if not until or until <= _now():
        return          # no lease, or run out: that command was interrupted (a re-run takes over)
    from azure.cli.core.azclierror import AzureResponseError
    raise AzureResponseError(
        f"Connection '{existing['name']}' is being changed by another command (its record says "
        f"{state_of(existing)}, under a lease until {until}): nothing was written.",
        recommendation="Re-run this command when the other one is done; if it was interrupted, re-run after "
        f"{until} (az aks connection show names the state).")
