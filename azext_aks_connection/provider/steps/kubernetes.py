# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""What a connection writes in the cluster: the namespace, the workload identity's ServiceAccount, the Secret."""
import base64

from azext_aks_connection.provider import kube as kube_ops
from azext_aks_connection.provider.steps.base import (AFTER_CLUSTER_UPDATE, CREATE, UPDATE, WARNING, Check, Step,
                                                      fail, item, ok, row_of_error, severity, upper_first, warn)

CONNECTION_ID = "aks-connection/connection-id"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"
UNKNOWN = object()      # validate: a value only the user knew (never recorded): the key's presence is checked


def _owned(current, plan):
    """Written by this connection (its connection-id annotation); a Service Connector connection's objects carry
    none (sc-job writes them)."""
    return plan.spec.engine == "service-connector" or \
        (current.metadata.annotations or {}).get(CONNECTION_ID) == plan.spec.id


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
    checks = (Check("Kubernetes ServiceAccount",
                    f"The connection's ServiceAccount exists in its namespace, annotated {CLIENT_ID_ANNOTATION} "
                    "with the identity's client id."),)

    @property
    def read_needs(self):
        # validate names the ServiceAccount from the record: it is read even when the identity is gone
        return ("access",) if self.plan.validating else ("access", "identity")

    def _desired(self):
        desired = {CLIENT_ID_ANNOTATION: self.plan.auth.client_id()}
        tenant = self.plan.auth.tenant_id()
        if tenant:
            desired[TENANT_ID_ANNOTATION] = tenant
        return desired

    def read(self):
        read = self.plan.found.get("access") or {}
        if "account" in read:                   # read with the access reviews
            return read["account"]
        return kube_ops.read_service_account(self.plan.found["kube"], self.plan.spec.namespace,
                                             self.plan.k8s_names["serviceAccount"])

    def changes(self):
        name, ns = self.plan.k8s_names["serviceAccount"], self.plan.spec.namespace
        desired = self._desired()
        if self.current is None:
            return [item(self.name, CREATE, "v1/ServiceAccount", f"{ns}/{name}", name, annotations=desired)]
        have = self.current.metadata.annotations or {}
        wrong = {k: have.get(k) for k, v in desired.items() if have.get(k) is not None and
                 have[k].lower() != v.lower()}
        absent = [k for k in desired if have.get(k) is None]
        unowned = CONNECTION_ID not in have and self.plan.spec.engine != "service-connector"
        if not (wrong or absent or unowned):
            return []
        # Without a tenant-id annotation the webhook uses the cluster's tenant: a pod still gets its token.
        minor = not wrong and set(absent) <= {TENANT_ID_ANNOTATION}
        extra = {"severity": WARNING} if minor else {}
        return [item(self.name, UPDATE, "v1/ServiceAccount", f"{ns}/{name}", name, annotations=desired,
                     wrong=wrong, absent=absent, **extra)]

    def apply(self):
        plan = self.plan
        name = plan.k8s_names["serviceAccount"]
        plan.before_write()
        how = kube_ops.apply_service_account(plan.found["kube"], plan.spec.namespace, name, self._desired(),
                                             plan.spec.id)
        made = [item(self.name, CREATE, "v1/ServiceAccount", f"{plan.spec.namespace}/{name}", name)] \
            if how == "created" else []
        return {}, made

    def describe(self, changes):
        name, ns = self.plan.k8s_names["serviceAccount"], self.plan.spec.namespace
        fix = f"Write it again (the command writes only what is missing or differs): {self.plan.fix.update_command()}"
        change = changes[0]
        if change["action"] == CREATE:
            return [fail(f"ServiceAccount '{name}' does not exist in namespace '{ns}': pods that name it are not "
                         "created.", fix, "ServiceAccountNotFound")]
        detail, desired = change["detail"], change["detail"]["annotations"]
        problems = [f"has no {k} annotation" for k in detail["absent"]] + [
            f"is annotated {k}={v}, not the connection's " +
            ("client id" if k == CLIENT_ID_ANNOTATION else "identity's tenant") + f" {desired[k]}"
            for k, v in detail["wrong"].items()]
        if not problems:
            problems = [f"does not carry this connection's {CONNECTION_ID} annotation"]
        text = f"ServiceAccount '{name}' in namespace '{ns}' {' and '.join(problems)}"
        if severity(changes) == WARNING:
            return [warn(text + ": its pods still get the identity (a re-run writes the annotation).", fix,
                         "ServiceAccountAnnotation")]
        return [fail(text + ": the workload identity webhook gives its pods the wrong identity, or none.", fix,
                     "ServiceAccountAnnotation")]


class Secret(Step):
    name = "secret"
    needs = ("namespace", "clusterFeatures")       # Key Vault CSI: the add-on's identity is one of its values
    read_needs = ("secret",)
    checks = (Check("Kubernetes Secret",
                    "The Kubernetes Secret that holds the connection's configuration exists in the connection's "
                    "namespace."),
              Check("Configuration values",
                    "The Secret holds the configuration keys of the connection, with the values the target gives "
                    "now."))

    def read(self):
        return self.plan.found["secret"]

    def _desired(self):
        """{key: value}: what the Secret must hold. validate: UNKNOWN for what only the user knew."""
        return {c["name"]: c["value"] for c in self.plan.configurations()}

    def _data(self):
        return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (self.current.data or {}).items()}

    def changes(self):
        plan = self.plan
        name, ns = plan.k8s_names["secret"], plan.spec.namespace
        desired = self._desired()
        keys = {c["name"]: ("(masked)" if c["credential"] else c["value"]) for c in plan.configurations()
                if c["value"] is not UNKNOWN}
        if self.current is None:
            return [item(self.name, CREATE, "v1/Secret", f"{ns}/{name}", name, data=keys)]
        data = self._data()
        drift = {
            "missing": sorted(k for k in desired if k not in data),
            "drifted": sorted(k for k, v in desired.items() if k in data and v is not UNKNOWN and data[k] != str(v)),
            "empty": sorted(k for k, v in desired.items() if k in data and v is UNKNOWN and not data[k]),
            "extra": sorted(k for k in data if k not in desired)}
        drift = {k: v for k, v in drift.items() if v}
        unowned = not _owned(self.current, plan)
        if not (drift or unowned):
            return []
        extra = {"severity": WARNING} if not (set(drift) - {"extra"}) else {}
        return [item(self.name, UPDATE, "v1/Secret", f"{ns}/{name}", name, data=keys, **drift, **extra)]

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

    # ---- validate
    def _rows(self):
        if not self.plan.k8s_names.get("secret"):
            return [fail("The connection record names no Kubernetes Secret.",
                         f"Re-create it: {self.plan.fix.create_command()}", "SecretNotRecorded"),
                    warn("Not checked: the Secret cannot be read (see the Secret check).")]
        if self.read_error is None and self.current is not None:
            if "values" in self.plan.errors:         # the target, or its keys, could not be read
                return [ok(), row_of_error(self.plan.errors["values"])]
            if AFTER_CLUSTER_UPDATE in self.plan.values().values():
                return [ok(), self.plan.auth.principal_unknown()]
        return super()._rows()

    def describe(self, changes):
        name, ns = self.plan.k8s_names["secret"], self.plan.spec.namespace
        fix = f"Write the current values again (the command changes nothing else): {self.plan.fix.create_command()}"
        change = changes[0]
        if change["action"] == CREATE:
            return [fail(f"Secret '{name}' does not exist in namespace '{ns}': workloads that use it cannot start or "
                         "cannot connect.",
                         f"Write it again (the command changes nothing else): {self.plan.fix.create_command()}",
                         "SecretNotFound"),
                    warn("Not checked: the Secret cannot be read (see the Secret check).")]
        d = change["detail"]
        problems = []
        if d.get("missing"):
            problems.append(f"Secret '{name}' lacks key(s) {', '.join(d['missing'])}")
        if d.get("drifted"):
            problems.append(f"the value of {', '.join(d['drifted'])} in Secret '{name}' differs from what the target "
                            "gives now (the Secret was edited, or the target's key was rotated)")
        if d.get("empty"):
            problems.append(f"{', '.join(d['empty'])} in Secret '{name}' is empty")
        if problems:
            return [ok(), fail(upper_first("; ".join(problems)) + ".", fix, "ConfigurationDrift")]
        if d.get("extra"):
            return [ok(), warn(f"Secret '{name}' also holds key(s) this connection does not write: "
                               f"{', '.join(d['extra'])}.",
                               "Nothing to do if you added them; a re-run of the create command removes them.",
                               "ExtraKeys")]
        return [ok(), warn(f"Secret '{name}' does not carry this connection's {CONNECTION_ID} annotation: it was not "
                           "written by this connection.", fix, "SecretNotOwned")]
