# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""``--enable-csi`` (Key Vault): the AKS azureKeyvaultSecretsProvider add-on's own identity reads the vault through
the Secrets Store CSI driver; the add-on is turned on when off."""
from azext_aks_connection.auth.base import Auth
from azext_aks_connection.auth.service_principal import tenant_of
from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider.steps.base import AFTER_CLUSTER_UPDATE, warn


class CsiAuth(Auth):
    wire = "userAssignedIdentity"

    @property
    def vault_permissions(self):
        from azext_aks_connection.provider import identity as identity_ops
        return identity_ops.KV_READ_PERMISSIONS

    @property
    def features(self):
        return {"workload_identity": False, "kv_csi": self._grants()}

    def reads(self):
        return {"tenant": (lambda: tenant_of(self.plan.cmd, self.plan.target_sub), ())}

    def _addon_identity(self):
        return cluster_ops.addon_identity(self.plan.cluster)

    def principal(self):
        return self._addon_identity().get("objectId")

    def principal_after_cluster_update(self):
        return not cluster_ops.addon_identity(self.plan.found["cluster"]).get("objectId")

    def principal_label(self):
        return f"the {cluster_ops.KV_ADDON} add-on's identity {AFTER_CLUSTER_UPDATE}"

    def principal_unknown(self):
        return warn(f"Not checked: the {cluster_ops.KV_ADDON} add-on is off: it has no identity (see the cluster "
                    "check).")

    def who(self):
        return f"the {cluster_ops.KV_ADDON} add-on identity"

    def client_id(self):
        return self._addon_identity().get("clientId") or AFTER_CLUSTER_UPDATE

    def values(self):
        return {"client_id": self.client_id(), "tenant_id": self.plan.found.get("tenant")}

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

    @classmethod
    def fix_args(cls, target, record):
        return "--enable-csi"
