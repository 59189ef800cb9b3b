# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The federated identity credential: the workload identity trusts the cluster's OIDC issuer for the connection's
ServiceAccount (subject system:serviceaccount:<namespace>:sc-account-<client id>, audience
api://AzureADTokenExchange)."""
from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider import identity as identity_ops
from azext_aks_connection.provider.steps.base import (AFTER_CLUSTER_UPDATE, CREATE, UPDATE, Check, Step, fail,
                                                      item)

_FIC_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"


class FederatedCredential(Step):
    name = "federatedCredential"
    needs = ("clusterFeatures",)
    read_needs = ("identity", "cluster")
    opted_out_by = "auth"
    checks = (Check("Federated identity credential",
                    "The identity trusts the cluster's OIDC issuer for the connection's ServiceAccount "
                    "(audience api://AzureADTokenExchange)."),)

    @classmethod
    def remove(cls, arm, entry, target):
        identity_ops.delete_federated_credential(arm, entry["id"])

    def read(self):
        plan = self.plan
        identity_ops.refuse_cluster_identity(plan.found["cluster"], plan.given_identity())
        return identity_ops.list_federated_credentials(plan.id_arm, plan.identity(), shared=True)

    def _issuer(self):
        return cluster_ops.issuer_of(self.plan.cluster)

    def _subject(self):
        return identity_ops.subject(self.plan.spec.namespace, self.plan.auth.client_id())

    def _match(self):
        issuer = self._issuer()
        return identity_ops.matching_credential(self.current, issuer, self.plan.spec.namespace,
                                                {"client_id": self.plan.auth.client_id()}) if issuer else None

    def changes(self):
        ident, issuer, ns, subj = self.plan.identity(), self._issuer(), self.plan.spec.namespace, self._subject()
        match = self._match()
        if match is not None:
            audiences = (match.get("properties") or {}).get("audiences") or []
            if identity_ops.AUDIENCE in audiences:
                return []
            # Azure allows one credential per (issuer, subject): create refuses this one before any write.
            return [item(self.name, UPDATE, _FIC_TYPE, match.get("id"), match.get("name"), issuer=issuer,
                         subject=subj, audiences=[identity_ops.AUDIENCE], was=audiences, identity=ident["id"])]
        name = identity_ops.federated_credential_name(ns, issuer, subj) if issuer else None
        rid = self._id(name) if name else None
        return [item(self.name, CREATE, _FIC_TYPE, rid, name or f"sc-{ns}-… {AFTER_CLUSTER_UPDATE}",
                     issuer=issuer or AFTER_CLUSTER_UPDATE, subject=subj, audiences=[identity_ops.AUDIENCE],
                     identity=ident["id"])]

    def permissions(self):
        return [("Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
                 self.plan.identity()["id"])]

    def _id(self, name):
        """A credential's id, always built from the identity's id as its GET answers it (a listing's ids may spell
        the resource group otherwise): the record says the same whichever way a run got there."""
        return f"{self.plan.identity()['id']}/federatedIdentityCredentials/{name}"

    def in_place(self):
        match = self._match()
        return {"federatedCredential": self._id(match["name"])} if match else {}

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
        fid = self._id(fid.split("/")[-1])
        made = [item(self.name, CREATE, "federatedIdentityCredentials", fid, fid.split("/")[-1])] \
            if how == "created" else []
        return {"federatedCredential": fid}, made

    def describe(self, changes):
        change = changes[0]
        ident, issuer, subj = self.plan.identity(), self._issuer(), self._subject()
        sa = identity_ops.service_account_name(self.plan.auth.client_id())
        sub, rg, name = ident["id"].split("/")[2], ident["id"].split("/")[4], ident["name"]
        mine = [f for f in self.current or [] if (f.get("properties") or {}).get("subject") == subj]
        if issuer is None:
            held = (f" ({', '.join(repr(f.get('name')) for f in mine)} trusts "
                    f"{(mine[0].get('properties') or {}).get('issuer')})." if mine else ".")
            return [fail(f"The OIDC issuer of AKS cluster '{self.plan.spec.cluster.name}' is off: no token of "
                         f"ServiceAccount '{sa}' can match a federated credential of identity '{name}'{held}",
                         "Turn the issuer on and trust it (the command writes only what is missing): "
                         f"{self.plan.fix.update_command()}", "OidcIssuerDisabled")]
        if change["action"] == UPDATE:
            return [fail(f"Federated credential '{change['name']}' of identity '{name}' has audience(s) "
                         f"{', '.join(change['detail']['was']) or '(none)'}, not {identity_ops.AUDIENCE}: the token "
                         "exchange is refused.",
                         f"Set the audience: az identity federated-credential update --subscription {sub} -g {rg} "
                         f"--identity-name {name} --name {change['name']} --issuer {issuer} --subject {subj} "
                         f"--audiences {identity_ops.AUDIENCE}", "FederatedCredentialAudience")]
        create = (f"az identity federated-credential create --subscription {sub} -g {rg} --identity-name {name} "
                  f"--name {change['name']} --issuer {issuer} --subject {subj} --audiences {identity_ops.AUDIENCE}")
        if mine:
            old = sorted({(f.get("properties") or {}).get("issuer") for f in mine})
            return [fail(f"The OIDC issuer of AKS cluster '{self.plan.spec.cluster.name}' changed: identity '{name}' "
                         f"trusts ServiceAccount '{sa}' for issuer {', '.join(old)}, but the cluster's issuer is now "
                         f"{issuer} (the cluster was re-created, or its OIDC issuer turned off and on again): token "
                         "exchange is refused.", f"Trust the current issuer: {create}",
                         "FederatedCredentialIssuerChanged")]
        return [fail(f"Identity '{name}' has no federated credential for issuer {issuer} and subject {subj}: pods "
                     f"using ServiceAccount '{sa}' cannot get its token.", f"Create it: {create}",
                     "FederatedCredentialNotFound")]
