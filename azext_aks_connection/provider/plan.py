# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
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
from azext_aks_connection import targets as t
from azext_aks_connection.auth import AUTH_CLASSES
from azext_aks_connection.provider import graph
from azext_aks_connection.provider import steps as s
from azext_aks_connection.provider import store as store_ops
from azext_aks_connection.provider import target as target_ops
from azext_aks_connection.provider.arm import Arm
from azext_aks_connection.provider.lease import Intent


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
        info = spec.auth_info if spec.auth == t.AUTH_WORKLOAD_IDENTITY else {}
        id_sub = info["identity_id"].split("/")[2] if info.get("identity_id") else info.get("subscription_id")
        self.id_arm = Arm(cmd.cli_ctx, subscription_id=id_sub) if id_sub else None
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
                raise s.NotChecked("the identity does not exist (see the identity check).")
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
            from azext_aks_connection.provider.validate import recorded_configurations
            return recorded_configurations(self)
        return configurations(self.spec, self.values())

    @property
    def k8s_names(self):
        return self.auth.k8s_names()

    def read(self):
        from azext_aks_connection.provider import plan_reads
        plan_reads.read(self)

    def check(self):
        """Every refusal that can be known before writing (provider/refusals.py)."""
        from azext_aks_connection.provider.refusals import refuse_all
        refuse_all(self)

    def changes(self):
        return [i for x in self.steps for i in x.changes()]

    # ---- apply
    def before_write(self):
        self.intent.before_write()

    def note_planned(self, items):
        self.intent.note_planned(items)


def create(cmd, spec, progress, no_wait=False, dry_run=False):
    from azext_aks_connection.provider import local_engine
    return local_engine.create(cmd, spec, progress, no_wait=no_wait, dry_run=dry_run)
