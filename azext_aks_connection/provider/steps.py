"""What a connection needs, one step per thing: the cluster's features, a role assignment, a Key Vault access
policy, Redis data access, the federated credential, the firewall rule, the namespace, the ServiceAccount and
the Secret. Each step is data plus four verbs:

    read()      what is there now (run with the plan's other reads, before anything is written)
                (read_after_update(), where a step has one: what it reads again after the cluster update)
    changes()   what ``apply`` would create or change: [item], empty when it is in place
    apply()     make it so; returns (provisioned, created): what the connection uses, and the items it made
    remove()    (class method, delete --cleanup) undo one item this connection made

``needs`` names the steps whose apply must finish first (the federated credential needs the OIDC issuer the
cluster update turns on). An item is a dict: {step, action (create | update), resource, id, name, detail};
the plan's items are recorded before the first write (provider/plan.py), so whatever a failed or interrupted
run made can be found again, and they are what ``--dry-run`` prints.
"""
from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider import identity as identity_ops
from azext_aks_connection.provider import kube as kube_ops

CREATE, UPDATE = "create", "update"
AFTER_CLUSTER_UPDATE = "(known after the cluster update)"


def item(step, action, resource, rid, name, **detail):
    return {"step": step, "action": action, "resource": resource, "id": rid, "name": name, "detail": detail}


class Step:
    """One thing a connection needs (see the module docstring)."""
    name = "step"
    needs = ()          # steps applied first
    read_needs = ()     # the plan's reads this step's read uses

    def __init__(self, plan):
        self.plan = plan
        self.current = None
        self.part = False       # part of this connection's plan (decided once its reads are in: plan.applies)

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

    @classmethod
    def remove(cls, arm, entry, target):
        """delete --cleanup: remove one item this step made (absent already: fine)."""
        _arm_delete(arm, entry["id"], target.api_version, f"{cls.name} {entry['id']}")


class _Grant(Step):
    """A grant to the workload's principal: for Key Vault CSI that is the add-on's identity, known only once the
    cluster update that turns the add-on on is done."""

    @property
    def needs(self):
        return ("clusterFeatures",) if self.plan.auth.principal_after_cluster_update() else ()


class ClusterFeatures(Step):
    """OIDC issuer + workload identity, or the Key Vault CSI add-on: one managed-cluster update, only if off."""
    name = "clusterFeatures"
    read_needs = ("cluster",)

    def read(self):
        return self.plan.found["cluster"]

    def _missing(self):
        return cluster_ops.missing_features(self.current, **self.plan.auth.features)

    def changes(self):
        missing = self._missing()
        if not missing:
            return []
        ref = self.plan.spec.cluster
        return [item(self.name, UPDATE, "Microsoft.ContainerService/managedClusters", self.current.get("id"),
                     ref.name, enable=missing)]

    def pending(self):
        return bool(self._missing()) or cluster_ops.outputs_pending(self.current, **self.plan.auth.features)

    def apply(self):
        plan = self.plan
        current = self.current
        state = ((current.get("properties") or {}).get("provisioningState") or "").lower()
        if self._missing():
            if state not in cluster_ops.TERMINAL:      # busy: waited for before anything is written
                from azext_aks_connection.provider import registration
                current = registration.wait_cluster_idle(plan.cmd, plan.spec.cluster, plan.progress) or current
            plan.before_write()
        plan.cluster = cluster_ops.ensure_features(plan.cmd, plan.spec.cluster, current, plan.progress,
                                                   on_success=plan.cluster_update_succeeded,
                                                   on_wait=plan.cluster_update_waits, **plan.auth.features)
        plan.waited = True
        return {}, self.changes()       # what it turned on: an item of the connection's own (for --cleanup)


class FederatedCredential(Step):
    """The identity trusts the cluster's OIDC issuer for the connection's ServiceAccount."""
    name = "federatedCredential"
    needs = ("clusterFeatures",)
    read_needs = ("identity", "cluster")

    @classmethod
    def remove(cls, arm, entry, target):
        identity_ops.delete_federated_credential(arm, entry["id"])

    def read(self):
        plan = self.plan
        identity_ops.refuse_cluster_identity(plan.found["cluster"], plan.given_identity())
        ident = plan.identity()
        return identity_ops.list_federated_credentials(plan.id_arm, ident)

    def _issuer(self):
        return cluster_ops.issuer_of(self.plan.cluster)

    def _match(self):
        return identity_ops.matching_credential(self.current, self._issuer(), self.plan.spec.namespace,
                                                self.plan.identity())

    def changes(self):
        if self._match() is not None:
            return []
        ident, issuer, ns = self.plan.identity(), self._issuer(), self.plan.spec.namespace
        subj = identity_ops.subject(ns, ident["client_id"])
        name = identity_ops.federated_credential_name(ns, issuer, subj) if issuer else None
        rid = f"{ident['id']}/federatedIdentityCredentials/{name}" if name else None
        return [item(self.name, CREATE, "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
                     rid, name or f"sc-{ns}-… {AFTER_CLUSTER_UPDATE}", issuer=issuer or AFTER_CLUSTER_UPDATE,
                     subject=subj, audiences=[identity_ops.AUDIENCE], identity=ident["id"])]

    def in_place(self):
        match = self._match()
        return {"federatedCredential": match["id"]} if match else {}

    def read_after_update(self):
        """The identity's credentials, listed again once the cluster update ended (someone may have added or
        removed one meanwhile; the identity holds at most 20)."""
        return identity_ops.list_federated_credentials(self.plan.id_arm, self.plan.identity())

    def apply(self):
        plan = self.plan
        existing = None if plan.waited else self.current           # after the cluster update: listed again
        if plan.waited:
            self.current = plan.read_after_update(self)
            existing = self.current
        plan.note_planned(self.changes())      # its name and id follow from the issuer, known only now
        fid, how = identity_ops.ensure_federated_credential(plan.id_arm, plan.identity(), self._issuer(),
                                                            plan.spec.namespace, existing=existing)
        made = [item(self.name, CREATE, "federatedIdentityCredentials", fid, fid.split("/")[-1])] \
            if how == "created" else []
        return {"federatedCredential": fid}, made


class RoleAssignments(_Grant):
    """Azure roles for the workload's principal on the target."""
    name = "roleAssignment"
    read_needs = ("roles", "identity", "cluster", "target")

    @classmethod
    def remove(cls, arm, entry, target):
        identity_ops.delete_role_assignment(arm, entry["id"])

    def read(self):
        principal = self.plan.auth.principal()
        return identity_ops.assignments_of(self.plan.arm, self.plan.scope, principal) if principal else None

    def _missing(self):
        return [(name, rid) for name, rid in self.plan.found["roles"]
                if self.current is None or identity_ops.granting(self.current, self.plan.scope, rid) is None]

    def changes(self):
        principal = self.plan.auth.principal() or self.plan.auth.principal_label()
        return [item(self.name, CREATE, "Microsoft.Authorization/roleAssignments",
                     identity_ops.assignment_id(self.plan.scope, principal, rid) if self.current is not None else None,
                     name, role=name, scope=self.plan.scope, principal=principal)
                for name, rid in self._missing()]

    def in_place(self):
        ids = [identity_ops.granting(self.current, self.plan.scope, rid)["id"] for _, rid in self.plan.found["roles"]]
        return {"roleAssignments": ids} if ids else {}

    def apply(self):
        plan = self.plan
        if plan.auth.principal_after_cluster_update():
            self.current = identity_ops.assignments_of(plan.arm, plan.scope, plan.auth.principal())
            plan.note_planned(self.changes())  # the add-on's identity is known only now: so are the ids
        plan.before_write()
        principal = plan.auth.principal()
        granted = identity_ops.ensure_role_assignments(plan.arm, plan.scope, principal, plan.found["roles"],
                                                       current=self.current)
        made = [item(self.name, CREATE, "roleAssignments", rid, rid.split("/")[-1]) for rid, how in granted
                if how == "created"]
        return {"roleAssignments": [rid for rid, _ in granted]}, made


class VaultAccessPolicy(_Grant):
    """An access policy on a Key Vault that does not use Azure RBAC (access-policy mode)."""
    # pylint: disable=unsubscriptable-object  # current: the vault, set by read() before any other verb
    name = "accessPolicy"
    read_needs = ("target", "identity", "cluster", "tenant")

    def read(self):
        return self.plan.found["target"]

    def _permissions(self):
        return self.plan.auth.vault_permissions

    def changes(self):
        principal = self.plan.auth.principal()
        if principal and identity_ops.vault_policy_present(self.current, principal, self._permissions()):
            return []
        return [item(self.name, CREATE, "Microsoft.KeyVault/vaults/accessPolicies", self.current.get("id"),
                     self.current.get("name"), objectId=principal or self.plan.auth.principal_label(),
                     tenantId=self.plan.tenant_id(), permissions=self._permissions())]

    def in_place(self):
        return {"accessPolicy": True}

    def apply(self):
        plan = self.plan
        if plan.auth.principal_after_cluster_update():
            plan.note_planned(self.changes())  # the add-on's identity is known only now
        plan.before_write()
        principal = plan.auth.principal()
        vault = self.current
        how = identity_ops.ensure_vault_access_policy(plan.arm, vault, plan.target.api_version, plan.tenant_id(),
                                                      principal, permissions=self._permissions())
        made = [item(self.name, CREATE, "accessPolicies", vault["id"], vault.get("name"), objectId=principal,
                     tenantId=plan.tenant_id(), permissions=self._permissions())] if how == "created" else []
        return {"accessPolicy": True}, made

    @classmethod
    def remove(cls, arm, entry, target):
        from azext_aks_connection.provider.arm import ArmError
        from azext_aks_connection.provider.errors import arm_error
        detail = entry.get("detail") or {}
        body = {"properties": {"accessPolicies": [{"tenantId": detail.get("tenantId"), "objectId": detail["objectId"],
                                                   "permissions": detail.get("permissions") or {}}]}}
        try:  # raw: a generic call by id with the target's api-version (targets.py)
            arm.send("PUT", entry["id"] + "/accessPolicies/remove", target.api_version, body=body)
        except ArmError as exc:
            if exc.status_code != 404:
                raise arm_error(exc, f"Removing the access policy of '{entry['detail']['objectId']}' from key vault "
                                     f"'{entry['name']}'") from exc


class RedisAccess(Step):
    """Azure Cache for Redis: Microsoft Entra authentication on the cache and an access policy assignment."""
    name = "redisAccess"
    read_needs = ("target", "identity")

    def read(self):
        plan = self.plan
        return identity_ops.list_redis_assignments(plan.arm, plan.found["target"], plan.target.api_version)

    def changes(self):
        plan = self.plan
        cache, principal = plan.found["target"], plan.auth.principal()
        out = []
        if not identity_ops.redis_aad_enabled(cache):
            out.append(item(self.name, UPDATE, "Microsoft.Cache/redis", cache["id"], cache.get("name"),
                            redisConfiguration={"aad-enabled": "true"}))
        if identity_ops.redis_assignment_of(self.current, principal) is None:
            out.append(item(self.name, CREATE, "Microsoft.Cache/redis/accessPolicyAssignments",
                            identity_ops.redis_assignment_id(cache["id"], principal), cache.get("name"),
                            accessPolicyName=plan.target.data_access_policy, objectId=principal))
        return out

    def in_place(self):
        found = identity_ops.redis_assignment_of(self.current, self.plan.auth.principal())
        return {"accessPolicyAssignment": found["id"]} if found else {}

    def apply(self):
        plan = self.plan
        plan.before_write()
        aid, how = identity_ops.ensure_redis_access(
            plan.arm, plan.found["target"], plan.target.api_version, plan.auth.principal(),
            plan.target.data_access_policy, alias=plan.auth.alias(), assignments=self.current)
        made = [item(self.name, CREATE, "accessPolicyAssignments", aid, aid.split("/")[-1])] if how == "created" \
            else []
        return {"accessPolicyAssignment": aid}, made


class Firewall(Step):
    """The target's IP firewall admits the cluster's egress IPs (M-T2)."""
    # pylint: disable=unsubscriptable-object  # current: {ips, note, verdict}, set by read() before any other verb
    name = "firewall"
    read_needs = ("cluster", "target")

    def read(self):
        from azext_aks_connection.provider import firewall
        from azext_aks_connection.provider.arm import Arm
        plan = self.plan
        cluster_arm = Arm(plan.cmd.cli_ctx, subscription_id=plan.spec.cluster.subscription)
        ips, note = cluster_ops.egress_ips(cluster_arm, plan.found["cluster"])
        verdict = firewall.admits(plan.arm, plan.target, plan.scope, plan.found["target"], ips) if ips else None
        return {"ips": ips, "note": note, "verdict": verdict}

    def _missing(self):
        """The addresses create adds a rule for: the reader's ``missing`` (ensure_rules writes just these)."""
        return (self.current["verdict"] or {}).get("missing") or []

    def changes(self):
        missing = self._missing()
        return [item(self.name, UPDATE, self.plan.target.display, self.plan.scope,
                     self.plan.found["target"].get("name"), admit=missing)] if missing else []

    def pending(self):
        return bool(self._missing()) or not self.current["ips"]    # no IP: apply says so

    def in_place(self):
        admitted = (self.current["verdict"] or {}).get("admitted") or []
        return {"firewall": sorted(admitted)} if admitted else {}

    def apply(self):
        if self._missing():
            self.plan.before_write()
        outcome = self.plan.admit(self.current["ips"], self.current["note"])
        admitted = sorted(set(outcome.get("added") or []) | set(outcome.get("present") or []))
        made = [item(self.name, CREATE, self.plan.target.display, self.plan.scope, ip, ip=ip)
                for ip in outcome.get("added") or []]
        return ({"firewall": admitted} if admitted else {}), made


class Namespace(Step):
    name = "namespace"
    needs = ("clusterFeatures",)        # after an OIDC issuer change the API server restarts: write after it
    read_needs = ("access",)

    def read(self):
        return kube_ops.namespace_exists(self.plan.found["kube"], self.plan.spec.namespace)

    def changes(self):
        ns = self.plan.spec.namespace
        return [] if self.current else [item(self.name, CREATE, "v1/Namespace", ns, ns)]

    def apply(self):
        plan = self.plan
        plan.progress(f"Writing {' and '.join(sorted(plan.k8s_names))} in namespace {plan.spec.namespace}")
        if not self.current:
            plan.before_write()
        created = kube_ops.ensure_namespace(plan.found["kube"], plan.spec.namespace)
        return {}, self.changes() if created else []


class ServiceAccount(Step):
    name = "serviceAccount"
    needs = ("namespace",)
    read_needs = ("access", "identity")

    def _desired(self):
        ident = self.plan.identity()
        return {"azure.workload.identity/client-id": ident["client_id"],
                "azure.workload.identity/tenant-id": ident["tenant_id"]}

    def read(self):
        read = self.plan.found.get("access") or {}
        if "account" in read:                   # read with the access reviews
            return read["account"]
        return kube_ops.read_service_account(self.plan.found["kube"], self.plan.spec.namespace,
                                             self.plan.k8s_names["serviceAccount"])

    def changes(self):
        name, ns = self.plan.k8s_names["serviceAccount"], self.plan.spec.namespace
        if self.current is None:
            return [item(self.name, CREATE, "v1/ServiceAccount", f"{ns}/{name}", name, annotations=self._desired())]
        have = self.current.metadata.annotations or {}
        if all(have.get(k) == v for k, v in self._desired().items()) and "aks-connection/connection-id" in have:
            return []
        return [item(self.name, UPDATE, "v1/ServiceAccount", f"{ns}/{name}", name, annotations=self._desired())]

    def apply(self):
        plan = self.plan
        name = plan.k8s_names["serviceAccount"]
        plan.before_write()
        how = kube_ops.apply_service_account(plan.found["kube"], plan.spec.namespace, name, self._desired(),
                                             plan.spec.id)
        made = [item(self.name, CREATE, "v1/ServiceAccount", f"{plan.spec.namespace}/{name}", name)] \
            if how == "created" else []
        return {}, made


class Secret(Step):
    name = "secret"
    needs = ("namespace", "clusterFeatures")       # Key Vault CSI: the add-on's identity is one of its values
    read_needs = ("secret",)

    def read(self):
        return self.plan.found["secret"]

    def changes(self):
        import base64
        plan = self.plan
        name, ns = plan.k8s_names["secret"], plan.spec.namespace
        configs = plan.configurations()
        keys = {c["name"]: ("(masked)" if c["credential"] else c["value"]) for c in configs}
        if self.current is None:
            return [item(self.name, CREATE, "v1/Secret", f"{ns}/{name}", name, data=keys)]
        data = {c["name"]: base64.b64encode(str(c["value"]).encode("utf-8")).decode("ascii") for c in configs}
        ours = (self.current.metadata.annotations or {}).get("aks-connection/connection-id") == plan.spec.id
        if (self.current.data or {}) == data and ours and not plan.values_pending():
            return []
        return [item(self.name, UPDATE, "v1/Secret", f"{ns}/{name}", name, data=keys)]

    def apply(self):
        plan = self.plan
        name = plan.k8s_names["secret"]
        plan.before_write()
        known = kube_ops._UNREAD if plan.waited else self.current      # pylint: disable=protected-access
        how = kube_ops.apply_secret(plan.found["kube"], plan.spec.namespace, name,
                                    {c["name"]: c["value"] for c in plan.configurations()}, plan.spec.id, known=known,
                                    exclusive=known is not kube_ops._UNREAD)  # pylint: disable=protected-access
        made = [item(self.name, CREATE, "v1/Secret", f"{plan.spec.namespace}/{name}", name)] \
            if how == "created" else []
        return {}, made


def _arm_delete(arm, rid, api_version, what):
    from azext_aks_connection.provider.arm import ArmError
    from azext_aks_connection.provider.errors import arm_error
    try:  # raw: a generic DELETE by id of a target's child (Redis access policy assignment), the target's api-version
        arm.send("DELETE", rid, api_version)
    except ArmError as exc:
        if exc.status_code != 404:
            raise arm_error(exc, f"Deleting {what}") from exc


REMOVERS = {"federatedCredential": FederatedCredential, "roleAssignment": RoleAssignments,
            "accessPolicy": VaultAccessPolicy, "redisAccess": RedisAccess}
