# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.KubernetesConfiguration/extensions at cluster scope (2023-05-01 shape).

PUT = create/replace, an LRO (201 on create, 200 on replace, Azure-AsyncOperation at
``<extension id>/operations/<id>``); PATCH = LRO 202 (Azure-AsyncOperation + Location) whose
``configurationSettings`` / ``configurationProtectedSettings`` merge key by key (``null`` removes
a key); DELETE = LRO 202. A write while an operation runs on the same extension answers 409.
``configurationProtectedSettings`` is write-only: GET shows ``{}``.

On success the release lands in the cluster's KubeStore (when ``sb.kube`` is there): the release
namespace plus a Helm release Secret ``sh.helm.release.v1.<name>.v<revision>``.
"""
import base64
import copy
import gzip
import json

from sandbox.arm import common, containerservice, extension_faults
from sandbox.arm.common import arm_error, iso, new_guid, stable_guid, system_data
from sandbox.core import Response

NS = "Microsoft.KubernetesConfiguration"
TYPE = "Microsoft.KubernetesConfiguration/extensions"
API_VERSIONS = ["2024-11-01", "2023-05-01", "2022-11-01", "2022-07-01", "2022-03-01", "2021-09-01"]
BUSY = {"creating", "updating", "deleting", "accepted", "running"}
DEFAULT_VERSION = "1.0.0"
# Extension types their publishers registered with Microsoft.KubernetesConfiguration (a PUT of any other type is
# refused, as Azure refuses it). Microsoft's Service Connector operator is ``microsoft.servicelinker.connection``
# (seen in a Service Connector developer's conformance harness); the rest are common public types.
REGISTERED_TYPES = {"microsoft.servicelinker.connection", "microsoft.flux", "microsoft.dapr",
                    "microsoft.azureml.kubernetes", "microsoft.azurekeyvaultsecretsprovider",
                    "microsoft.azuremonitor.containers", "microsoft.openservicemesh", "microsoft.azure.secretstore",
                    "microsoft.appconfiguration", "microsoft.dataprotection.kubernetes"}


def register(registry):
    registry.add(ExtensionHandler)
    registry.namespace(NS, {"sourceControlConfigurations": API_VERSIONS, "fluxConfigurations": API_VERSIONS,
                            "extensionTypes": API_VERSIONS, "operations": API_VERSIONS})


def default_release_namespace(extension_type, name):
    t = (extension_type or "").lower()
    if "serviceconnector" in t or "servicelinker" in t:
        return "sc-system"
    return name


def _merge_settings(current, patch):
    out = dict(current or {})
    for k, v in (patch or {}).items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


class ExtensionHandler(common.ResourceHandler):
    type_name = TYPE
    methods = frozenset({"GET", "PUT", "PATCH", "DELETE"})
    api_versions = tuple(API_VERSIONS)
    scope_types = ("microsoft.containerservice/managedclusters", "microsoft.kubernetes/connectedclusters",
                   "microsoft.hybridcontainerservice/provisionedclusters")
    list_by_subscription = False
    list_by_resource_group = False

    def render(self, res, req=None):
        out = copy.deepcopy(res)
        out.setdefault("properties", {})["configurationProtectedSettings"] = {}
        return out

    # ---- checks

    def _cluster(self, ref):
        cluster = self.state.raw(ref.scope)
        if cluster is None:
            raise common.resource_not_found(ref.scope)
        return cluster

    def _check_busy(self, req, ref, ext):
        ps = (ext.get("properties") or {}).get("provisioningState") or "Succeeded"
        if ps.lower() not in BUSY:
            return
        op = self.lro.in_flight(ref.id)
        wait = max(1, int(op.remaining() + 0.999)) if op else 1
        verb = {"PUT": "Put", "PATCH": "Patch", "DELETE": "Delete"}.get(req.method, "Put")
        # Retry-After (seconds left, >= 1) unless switched off: note that azure-core's RetryPolicy
        # retries any >= 400 response carrying Retry-After, so SDK callers then wait and retry
        # transparently instead of seeing the 409 (pass retry_total=0 to see it).
        headers = {"Retry-After": str(wait)} if self.state.conflict_retry_after else {}
        raise arm_error(409, f"Extension{verb}Failed",
                        f"The {req.method} method cannot be completed due to a conflict. (ProvisioningState of "
                        f"extension: {ps}). An operation is already in progress on extension '{ext['name']}'. "
                        "Please wait for a few minutes for the ProvisioningState to change to Succeeded, Failed "
                        "or Canceled and retry again.", headers=headers)

    # ---- operations

    def _start(self, req, ref, kind, final, on_success):
        """Start the LRO of ``kind`` ("create" / "update" / "delete")."""
        op_id = new_guid()
        status_path = f"{ref.id}/operations/{op_id}"
        result_path = f"{ref.id}/operationResults/{op_id}"
        cluster_lid = ref.scope.lower()
        rid = ref.id

        def complete(op):
            cur = self.state.raw(rid)
            if cur is None:
                return None
            outcome = self.state.install_outcomes.get(cluster_lid)
            if outcome is None and kind != "delete":
                outcome = extension_faults.derived_outcome(self.state, ref.scope, cur)
            props = cur["properties"]
            if outcome and kind in outcome.get("operations", ("create", "update")):
                msg = outcome["message"]
                props["provisioningState"] = "Failed"
                props["statuses"] = [{"code": outcome.get("code") or "InstallationFailed", "displayStatus": "Failed",
                                      "level": "Error", "message": msg, "time": iso()}]
                props["errorInfo"] = {"code": "ExtensionOperationFailed", "message": msg}
                helm_status = outcome.get("helmStatus", "failed")
                op.after = _chain(self._helm_action(ref, cur, helm_status) if helm_status else None,
                                  extension_faults.evidence_action(self.state, ref.scope, cur, outcome))
                return {"code": "ExtensionOperationFailed", "message": msg}
            props["provisioningState"] = final
            props["statuses"] = []
            props["errorInfo"] = None
            error = on_success(op, cur)
            if kind != "delete":
                op.after = _chain(op.after, extension_faults.evidence_action(self.state, ref.scope, cur, None))
            return error

        op = self.lro.start("extensions", rid, status_path, result_path, on_complete=complete, op_id=op_id,
                            extra={"properties": {}}, req=req)
        if kind != "delete":
            op.result = lambda: ((200, self.render(self.state.raw(rid), req)) if self.state.raw(rid)
                                 else (204, None))
        return op

    def put(self, req, ref, body):
        props_in = body.get("properties") or {}
        with self.state.lock:
            cluster = self._cluster(ref)
            containerservice.check_not_busy(self.state, cluster)
            existing = self.state.raw(ref.id)
            if existing is not None:
                self._check_busy(req, ref, existing)
            ext_type = props_in.get("extensionType") or (existing or {}).get("properties", {}).get("extensionType")
            if not ext_type:
                raise arm_error(400, "InvalidRequestContent", "The extensionType property is required.")
            if ext_type.lower() not in REGISTERED_TYPES:
                location = (cluster or {}).get("location") or self.sb.location
                raise arm_error(400, "ExtensionTypeRegistrationGetFailed",
                                f"Extension type {ext_type} is not registered in region {location}. Please refer to "
                                "https://aka.ms/k8s-extensions-types for the list of available extension types.")
            if existing is not None and ext_type.lower() != existing["properties"]["extensionType"].lower():
                raise arm_error(400, "BadRequest", f"Extension '{ref.name}' exists with a different extension type "
                                                   f"'{existing['properties']['extensionType']}'; the extension type "
                                                   "cannot be changed.")
            scope = copy.deepcopy(props_in.get("scope") or {"cluster": {}})
            if "cluster" in scope:
                scope["cluster"] = scope["cluster"] or {}
                scope["cluster"].setdefault("releaseNamespace", default_release_namespace(ext_type, ref.name))
            auto = props_in.get("autoUpgradeMinorVersion")
            props = {
                "extensionType": ext_type,
                "autoUpgradeMinorVersion": True if auto is None else bool(auto),
                "releaseTrain": props_in.get("releaseTrain") or "Stable",
                "version": props_in.get("version"),
                "scope": scope,
                "configurationSettings": _merge_settings({}, props_in.get("configurationSettings")),
                "configurationProtectedSettings": {},
                "provisioningState": "Updating" if existing is not None else "Creating",
                "currentVersion": (existing or {}).get("properties", {}).get("currentVersion"),
                "statuses": [],
                "errorInfo": None,
                "customLocationSettings": None,
                "packageUri": None,
                "aksAssignedIdentity": {"principalId": stable_guid(ref.id, "aks-identity"),
                                        "tenantId": self.sb.tenant_id, "type": "SystemAssigned"},
                "isSystemExtension": False,
            }
            res = {"id": ref.id, "name": ref.name, "type": TYPE, "properties": props,
                   "systemData": system_data(req, self.sb, (existing or {}).get("systemData"))}
            for k in ("identity", "plan"):
                if body.get(k):
                    res[k] = copy.deepcopy(body[k])
            self.state.store(res)
            meta = self.state.meta_of(ref.id)
            meta["protected"] = _merge_settings({}, props_in.get("configurationProtectedSettings"))

            def success(op, cur):
                cur["properties"]["currentVersion"] = cur["properties"].get("version") or DEFAULT_VERSION
                op.after = self._helm_action(ref, cur, "deployed")

            op = self._start(req, ref, "create", "Succeeded", success)
            return Response(201 if existing is None else 200, self.render(res, req), self.lro.headers(req, op))

    def patch(self, req, ref, body):
        props_in = body.get("properties") or {}
        with self.state.lock:
            cluster = self._cluster(ref)
            res = self.require(ref)
            containerservice.check_not_busy(self.state, cluster)
            self._check_busy(req, ref, res)
            props = res["properties"]
            for k in ("autoUpgradeMinorVersion", "releaseTrain", "version"):
                if k in props_in:
                    props[k] = props_in[k]
            if "configurationSettings" in props_in:
                props["configurationSettings"] = _merge_settings(props.get("configurationSettings"),
                                                                 props_in["configurationSettings"])
            meta = self.state.meta_of(ref.id)
            if "configurationProtectedSettings" in props_in:
                meta["protected"] = _merge_settings(meta.get("protected"), props_in["configurationProtectedSettings"])
            props["provisioningState"] = "Updating"
            res["systemData"] = system_data(req, self.sb, res.get("systemData"))

            def success(op, cur):
                cur["properties"]["currentVersion"] = cur["properties"].get("version") or \
                    cur["properties"].get("currentVersion") or DEFAULT_VERSION
                op.after = self._helm_action(ref, cur, "deployed")

            op = self._start(req, ref, "update", "Succeeded", success)
            return Response(202, self.render(res, req), self.lro.headers(req, op, location=True))

    def delete(self, req, ref):
        with self.state.lock:
            cluster = self._cluster(ref)
            res = self.state.raw(ref.id)
            if res is None:
                return Response(204)
            containerservice.check_not_busy(self.state, cluster)
            self._check_busy(req, ref, res)
            res["properties"]["provisioningState"] = "Deleting"
            snapshot = copy.deepcopy(res)
            rid = ref.id

            def success(op, cur):
                op.after = self._helm_action(ref, snapshot, "uninstalled")
                self.state.remove_tree(rid)

            op = self._start(req, ref, "delete", "Deleting", success)
            return Response(202, None, self.lro.headers(req, op, location=True))

    # ---- the Helm release in the cluster's KubeStore (best effort)

    def _helm_action(self, ref, ext, status):
        if self.sb.kube is None:
            return None
        key = containerservice.kube_key_of(self.state, ref.scope)
        meta = self.state.meta_of(ref.id)
        props = ext["properties"]
        scope = props.get("scope") or {}
        namespace = ((scope.get("cluster") or {}).get("releaseNamespace")
                     or (scope.get("namespace") or {}).get("targetNamespace") or ref.name)
        name = ref.name
        if status == "uninstalled":
            revisions = list(range(1, meta.get("helm_revision", 0) + 1))
            meta["helm_revision"] = 0
        else:
            meta["helm_revision"] = meta.get("helm_revision", 0) + 1
        revision = meta.get("helm_revision", 0)
        release = {"name": name, "namespace": namespace, "version": revision,
                   "info": {"status": status, "first_deployed": (ext.get("systemData") or {}).get("createdAt"),
                            "last_deployed": iso(),
                            "description": "Install complete" if revision == 1 else "Upgrade complete"},
                   "chart": {"metadata": {"name": props.get("extensionType"),
                                          "version": props.get("currentVersion") or DEFAULT_VERSION,
                                          "apiVersion": "v2"}},
                   "config": dict(props.get("configurationSettings") or {})}
        if status not in ("deployed", "uninstalled"):
            release["info"]["description"] = ((props.get("errorInfo") or {}).get("message") or status)

        def action():
            store = containerservice.ensure_kube_store(self.state, key)
            if store is None:
                return
            if status == "uninstalled":
                deleter = getattr(store, "delete", None)
                for rev in revisions:
                    try:
                        if deleter:
                            deleter("secrets", namespace, f"sh.helm.release.v1.{name}.v{rev}")
                    except Exception:  # pylint: disable=broad-except
                        pass
                return
            store.ensure_namespace(namespace)
            payload = base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()
            secret = {"apiVersion": "v1", "kind": "Secret",
                      "metadata": {"name": f"sh.helm.release.v1.{name}.v{revision}", "namespace": namespace,
                                   "labels": {"owner": "helm", "name": name, "status": status,
                                              "version": str(revision)}},
                      "type": "helm.sh/release.v1",
                      "data": {"release": base64.b64encode(payload.encode()).decode()}}
            store.create("secrets", namespace, secret)
            if revision > 1:
                _mark_superseded(store, namespace, name, revision - 1)

        return action


def _chain(*actions):
    """One callable running the given ones (None entries skipped) in order."""
    actions = [a for a in actions if a]
    if not actions:
        return None

    def run():
        for action in actions:
            action()
    return run


def _mark_superseded(store, namespace, name, revision):
    secret = f"sh.helm.release.v1.{name}.v{revision}"
    try:
        old = store.get("secrets", namespace, secret)
        if old and old.get("metadata", {}).get("labels", {}).get("status") == "deployed":
            old["metadata"]["labels"]["status"] = "superseded"
            store.replace("secrets", namespace, secret, old)
    except Exception:  # pylint: disable=broad-except
        pass
