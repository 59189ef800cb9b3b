# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""What an auth type adds to a connection's plan (its reads, its principal, its values and Kubernetes objects), how
it is read back from a connection record, and how validate names it. One subclass per auth type, one module each."""
from azext_aks_connection._validators import secret_name
from azext_aks_connection.provider.steps.base import warn


class Auth:
    """The base: an auth type with no principal and no values of its own (``--secret``)."""
    features = {"workload_identity": False, "kv_csi": False}
    wire = None         # authInfo.authType

    def __init__(self, plan):
        self.plan = plan

    @property
    def vault_permissions(self):
        from azext_aks_connection.provider import identity as identity_ops
        return identity_ops.KV_APP_PERMISSIONS

    def _grants(self):
        """Whether the plan considers the grants (cluster features, credential, roles): --opt-out auth leaves them
        to the user, but validate still says what is missing."""
        return self.plan.grant or self.plan.validating

    def reads(self):
        return {}

    def principal(self):
        return None

    def principal_after_cluster_update(self):
        return False

    def principal_label(self):
        return ""

    def principal_unknown(self):
        """validate's row for a check that needs the principal while it is not known."""
        return warn("Not checked: the principal is not known.")

    def who(self):
        """The principal, as validate names it."""
        return "the principal"

    def alias(self):
        return None

    def client_id(self):
        return None

    def tenant_id(self):
        return None

    def values(self):
        return {}

    def k8s_names(self):
        plan = self.plan
        if not plan.write_config:
            return {}
        recorded = ((plan.record or {}).get("kubernetesResourceName") or {}).get("secret")
        return {"secret": recorded if plan.record is not None else secret_name(plan.spec.name)}

    def check(self):
        pass

    def provisioned(self):
        return {}

    @classmethod
    def from_record(cls, target, record, *, validating=False):  # pylint: disable=unused-argument
        """The auth details of a connection record ({} here), for an update that gives none, or for validate
        (which gets what only the user knew as unknown, rather than an error)."""
        return {}

    @classmethod
    def wire_info(cls, spec):  # pylint: disable=unused-argument
        """authInfo's fields beside authType, roles and authMode, as the built-in sends them for AKS (never a
        secret)."""
        return {}

    @classmethod
    def linker_auth(cls, spec, models, identity=None, roles=None):  # pylint: disable=unused-argument
        """The Service Connector linker's authInfo model for ``spec`` (azure-mgmt-servicelinker ``models``)."""
        return models.UserAssignedIdentityAuthInfo()

    @classmethod
    def fix_args(cls, target, record):  # pylint: disable=unused-argument
        """The auth argument that gives this connection's auth again (what only the user knew: a placeholder)."""
        return ""
