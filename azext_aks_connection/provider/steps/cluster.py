# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The cluster's features a connection needs: OIDC issuer + workload identity, or the Key Vault CSI add-on."""
from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider.steps.base import Check, Step, UPDATE, fail, item, upper_first


class ClusterFeatures(Step):
    """One managed-cluster update, only if a feature is off."""
    name = "clusterFeatures"
    read_needs = ("cluster",)
    opted_out_by = "auth"
    checks = (Check("Cluster features",
                    "The cluster has what the connection needs: OIDC issuer and workload identity, or the Key Vault "
                    "secrets provider add-on."),)

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

    def permissions(self):
        return [("Microsoft.ContainerService/managedClusters/write", self.plan.spec.cluster.id)]

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

    def describe(self, changes):
        missing = changes[0]["detail"]["enable"]
        c = self.plan.spec.cluster
        where = f"--subscription {c.subscription} -g {c.resource_group} -n {c.name}"
        if self.plan.auth.features.get("kv_csi"):
            return [fail(f"The {cluster_ops.KV_ADDON} add-on is off on AKS cluster '{c.name}': the Secrets Store CSI "
                         "driver cannot mount the vault's secrets.",
                         f"Enable the add-on: az aks enable-addons {where} --addons azure-keyvault-secrets-provider",
                         "KeyVaultAddonDisabled")]
        flags = " ".join(flag for feature, flag in (("OIDC issuer", "--enable-oidc-issuer"),
                                                    ("workload identity", "--enable-workload-identity"))
                         if feature in missing)
        return [fail(f"{upper_first(' and '.join(missing))} {'is' if len(missing) == 1 else 'are'} off on AKS "
                     f"cluster '{c.name}': pods get no federated token to exchange for the identity's.",
                     f"Enable {'it' if len(missing) == 1 else 'them'}: az aks update {where} {flags}",
                     "ClusterFeatureDisabled")]
