# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""``--workload-identity <user-assigned identity id>``: the workload's ServiceAccount is trusted by the identity
(a federated credential on the cluster's OIDC issuer), which gets the target's roles. validate's identity check
lives here too: it is no step (nothing is written to the identity itself)."""
import re

from azure.cli.core.azclierror import ResourceNotFoundError

from azext_aks_connection.auth.base import Auth
from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider import graph
from azext_aks_connection.provider import identity as identity_ops
from azext_aks_connection.provider.steps.base import Check, NotChecked, fail, ok, warn

IDENTITY_ID = re.compile(r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/[^/]+/providers/"
                         r"Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$", re.IGNORECASE)
IDENTITY_CHECK = Check("User-assigned identity",
                       "The workload identity of the connection exists and has the client id the connection uses.")


class WorkloadIdentityAuth(Auth):
    wire = "userAssignedIdentity"

    @property
    def features(self):
        return {"workload_identity": self._grants(), "kv_csi": False}

    def reads(self):
        plan = self.plan
        iid = plan.spec.auth_info.get("identity_id")
        info = plan.spec.auth_info
        if not iid and info.get("client_id") and info.get("subscription_id"):
            # a Service Connector linker names its identity by client id (and subscription) only
            return {"identity": (lambda: graph.or_error(identity_ops.identity_of_client_id, plan.id_arm,
                                                        info["subscription_id"], info["client_id"]), ())}
        if not iid:         # validate of a record that does not name its identity
            return {"identity": (lambda: NotChecked(
                "the connection record does not name its identity (made by an older version: re-apply the "
                f"connection with '{plan.fix.update_command()}')."), ())}
        return {"identity": (lambda: graph.or_error(identity_ops.get_identity, plan.id_arm, iid), ())}

    def principal(self):
        return self.plan.identity()["principal_id"]

    def who(self):
        return f"identity '{self.plan.identity()['name']}'"

    def alias(self):
        return self.plan.identity().get("name")

    def client_id(self):
        """The client id the connection uses: validate judges the record's (the identity check says when the
        identity's own differs); create, the identity's."""
        pinned = self.plan.spec.auth_info.get("client_id") if self.plan.validating else None
        return pinned or self.plan.identity()["client_id"]

    def tenant_id(self):
        ident = self.plan.found.get("identity")
        return ident.get("tenant_id") if isinstance(ident, dict) else None

    def values(self):
        return {"client_id": self.client_id(), "tenant_id": self.tenant_id()}

    def k8s_names(self):
        names = super().k8s_names()
        recorded = ((self.plan.record or {}).get("kubernetesResourceName") or {}).get("serviceAccount")
        names["serviceAccount"] = recorded or identity_ops.service_account_name(self.client_id())
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

    @classmethod
    def from_record(cls, target, record, *, validating=False):
        identity = (record.get("provisioned") or {}).get("identity")
        if not (identity or validating):
            from azure.cli.core.azclierror import RequiredArgumentMissingError
            raise RequiredArgumentMissingError(
                "Auth info argument should be provided when updating the connection: its record does not name "
                "its identity.", recommendation="Pass --workload-identity <user-assigned identity resource id>.")
        info = {"identity_id": identity} if identity else {}
        if validating:
            info["client_id"] = (record.get("authInfo") or {}).get("clientId")
            info["subscription_id"] = (record.get("authInfo") or {}).get("subscriptionId")
        return info

    @classmethod
    def wire_info(cls, spec):
        return {"clientId": spec.auth_info.get("client_id"),
                "subscriptionId": spec.auth_info["identity_id"].split("/")[2]}

    @classmethod
    def linker_auth(cls, spec, models, identity=None, roles=None):
        return models.UserAssignedIdentityAuthInfo(client_id=identity["client_id"],
                                                   subscription_id=spec.auth_info["identity_id"].split("/")[2],
                                                   roles=roles)

    @classmethod
    def fix_args(cls, target, record):
        return f"--workload-identity {(record.get('provisioned') or {}).get('identity') or '<identity resource id>'}"

    # ---- validate: the identity itself
    def explain_identity(self):
        """[(Check, Row)]: the identity exists and has the client id the connection uses."""
        return [(IDENTITY_CHECK, self._identity_row())]

    def _identity_row(self):
        plan = self.plan
        found = plan.found.get("identity")
        if isinstance(found, NotChecked):
            return warn("Not checked: the connection record does not name its user-assigned identity (it was made by "
                        "an older version of the extension).", f"Re-apply the connection: {plan.fix.update_command()}",
                        "IdentityNotRecorded")
        # a Service Connector connection names it by client id: found by it, or not at all
        iid = plan.spec.auth_info.get("identity_id") or (found.get("id") if isinstance(found, dict) else None)
        if isinstance(found, ResourceNotFoundError):
            sa = plan.k8s_names["serviceAccount"]
            if not iid:
                return fail(f"{found.error_msg} Pods using ServiceAccount '{sa}' get no Microsoft Entra token.",
                            f"Create an identity and re-apply the connection with it: {plan.fix.update_command()}",
                            "IdentityNotFound")
            sub, rg, name = iid.split("/")[2], iid.split("/")[4], iid.split("/")[-1]
            return fail(f"The user-assigned identity '{iid}' of the connection does not exist (any more): pods using "
                        f"ServiceAccount '{sa}' get no Microsoft Entra token.",
                        "Create the identity again (or choose another one) and re-apply the connection, then run the "
                        "pods with the ServiceAccount the command names (a new identity has a new client id): "
                        f"az identity create --subscription {sub} -g {rg} -n {name} && {self._again(iid)}",
                        "IdentityNotFound")
        if isinstance(found, Exception):
            raise found
        used = plan.spec.auth_info.get("client_id")
        if used and found.get("client_id") and used.lower() != found["client_id"].lower():
            return fail(f"The client id of identity '{found.get('name')}' is now {found['client_id']}, but the "
                        f"connection (its Secret and ServiceAccount) uses {used}: the identity was deleted and created "
                        "again.", "Re-apply the connection with the identity as it is now (it writes a ServiceAccount "
                        f"for the new client id; run the pods with it): {self._again(iid)}", "IdentityClientIdChanged")
        return ok()

    def _again(self, iid):
        spec = self.plan.spec
        return (f"az aks connection update {spec.target.name} --id {spec.id} --client-type {spec.client_type or 'none'}"
                f" --workload-identity {iid}")
