# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Grants to the workload's principal on the target: Azure roles, a Key Vault access policy (a vault in
access-policy mode ignores roles on its data), or Azure Cache for Redis data access (its own access policies)."""
from azext_aks_connection.provider import identity as identity_ops
from azext_aks_connection.provider.steps.base import CREATE, UPDATE, Check, Step, fail, item, upper_first

PERMISSIONS_CHECK = Check("Identity permissions",
                          "The identity has its role(s) on the target (or the Key Vault CSI add-on identity its "
                          "access policy).")


def _where(resource_id):
    parts = resource_id.split("/")
    return f"--subscription {parts[2]} -g {parts[4]}"


class _Grant(Step):
    """A grant to the workload's principal: for Key Vault CSI that is the add-on's identity, known only once the
    cluster update that turns the add-on on is done."""
    opted_out_by = "auth"
    checks = (PERMISSIONS_CHECK,)

    @property
    def needs(self):
        return ("clusterFeatures",) if self.plan.auth.principal_after_cluster_update() else ()

    def _rows(self):
        if self.read_error is None and not self.plan.auth.principal():
            return [self.plan.auth.principal_unknown()]
        return super()._rows()


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

    def permissions(self):
        return [("Microsoft.Authorization/roleAssignments/write", self.plan.scope)]

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

    def describe(self, changes):
        principal, scope = self.plan.auth.principal(), self.plan.scope
        missing = [c["detail"]["role"] for c in changes]
        fixes = " && ".join(f'az role assignment create --assignee-object-id {principal} --assignee-principal-type '
                            f'ServicePrincipal --role "{name}" --scope {scope}' for name in missing)
        return [fail(f"{upper_first(self.plan.auth.who())} (object id {principal}) lacks role(s) "
                     f"{', '.join(repr(n) for n in missing)} on '{scope}' and every scope above it: its requests to "
                     f"the {self.plan.target.display} are refused.",
                     f"Grant {'it' if len(missing) == 1 else 'them'}: {fixes}", "RoleAssignmentMissing")]


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

    def permissions(self):
        return [("Microsoft.KeyVault/vaults/accessPolicies/write", self.plan.scope)]

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
        detail = entry.get("detail") or {}
        identity_ops.remove_vault_access_policy(arm, entry["id"], detail["objectId"], tenant_id=detail.get("tenantId"),
                                                permissions=detail.get("permissions"))

    def describe(self, changes):
        vault, principal = self.current, self.plan.auth.principal()
        flags = " ".join(f"--{kind[:-1] if kind.endswith('s') else kind}-permissions {' '.join(perms)}"
                         for kind, perms in self._permissions().items())
        reader = "the CSI driver" if self.plan.auth.features.get("kv_csi") else "the workload"
        return [fail(f"Key vault '{vault.get('name')}' uses access policies, and none lets {self.plan.auth.who()} "
                     f"(object id {principal}) get secrets: {reader} cannot read them.",
                     f"Add the policy: az keyvault set-policy {_where(vault['id'])} -n {vault.get('name')} "
                     f"--object-id {principal} {flags}", "AccessPolicyMissing")]


class RedisAccess(_Grant):
    """Azure Cache for Redis: Microsoft Entra authentication on the cache and an access policy assignment."""
    name = "redisAccess"
    read_needs = ("target", "identity")

    @property
    def needs(self):
        return ()

    @classmethod
    def remove(cls, arm, entry, target):
        identity_ops.delete_redis_access(arm, entry["id"])

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

    def permissions(self):
        return [("Microsoft.Cache/redis/write", self.plan.scope),
                ("Microsoft.Cache/redis/accessPolicyAssignments/write", self.plan.scope)]

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

    def describe(self, changes):
        cache, principal, who = self.plan.found["target"], self.plan.auth.principal(), self.plan.auth.who()
        name = cache.get("name") or cache["id"].split("/")[-1]
        fix = f"Re-apply the connection (it turns on what is missing): {self.plan.fix.update_command()}"
        if changes[0]["action"] == UPDATE:
            return [fail(f"Microsoft Entra authentication is off on cache '{name}': {who} cannot sign in to it.", fix,
                         "EntraAuthDisabled")]
        return [fail(f"Cache '{name}' has no access policy assignment for {who} (object id {principal}): its "
                     "sign-in is refused.",
                     f"{fix}; or: az redis access-policy-assignment create {_where(cache['id'])} -n {name} "
                     f"--access-policy-name \"{self.plan.target.data_access_policy}\" --object-id {principal} "
                     f"--object-id-alias {principal} --policy-assignment-name {changes[0]['id'].split('/')[-1]}",
                     "AccessPolicyAssignmentMissing")]
