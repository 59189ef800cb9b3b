# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Service Connector's ``sc-extension`` for the sandbox's linker RP (sandbox/arm/servicelinker.py): the cluster's
first linker installs it (type ``microsoft.servicelinker.connection``, release namespace ``sc-system``) through the
sandbox's own extension handler (Helm release Secret, ``sc-job`` evidence and every injected fault); later linkers
update it with per-operation protected settings (connection, correlationid, operation, resources), which runs
``sc-job`` again. A failed extension operation fails the linker with the extension's message; an extension write
refused at once (cluster busy: 409) fails it with "Execution failed. Operation returned an invalid status code
'Conflict'" (azure-cli#30296); ``Microsoft.KubernetesConfiguration`` not registered fails it too.
"""
import base64
import json

from sandbox.arm import common, kubernetesconfiguration
from sandbox.arm.common import new_guid
from sandbox.core import HttpError

EXTENSION_NAME = "sc-extension"
EXTENSION_TYPE = "microsoft.servicelinker.connection"
RELEASE_NAMESPACE = "sc-system"
EXTENSION_API_VERSION = "2023-05-01"
# Seconds a linker waits beyond the sc-extension operation it depends on (that operation's cluster-side writes
# happen just before its status flips).
EXTENSION_MARGIN = 0.3
HTTP_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 412: "PreconditionFailed"}


class _ServiceRequest:  # pylint: disable=too-few-public-methods
    """The request Service Connector itself makes to another provider (no user token)."""

    def __init__(self, method, api_version=EXTENSION_API_VERSION):
        self.method = method
        self.api_version = api_version
        self.query = {"api-version": api_version}

    def header(self, name, default=None):  # pylint: disable=unused-argument
        return default


class ExtensionDriver:  # pylint: disable=no-member,too-few-public-methods
    """The sc-extension half of the linker handler (a mixin of LinkerHandler: ``self.state``, ``self.lro``;
    ``self._kube_names`` from the provisioning half)."""

    def _extension_id(self, cluster_id):
        return f"{cluster_id}/providers/{kubernetesconfiguration.NS}/extensions/{EXTENSION_NAME}"

    def _drive_extension(self, ref, linker):
        """Install (first linker) or update sc-extension for this linker's operation. Returns (error or None,
        seconds the linker waits for the extension operation)."""
        ext_id = self._extension_id(ref.scope)
        if self.state.provider_state(kubernetesconfiguration.NS) != "Registered":
            err = common.missing_registration(kubernetesconfiguration.NS)
            return {"code": err.code, "message": err.message}, 0.0
        running = self.lro.in_flight(ext_id)
        if running is not None:       # another linker's install / update: this one rides on it
            return None, running.remaining() + EXTENSION_MARGIN
        handler = self.state.registry.get(kubernetesconfiguration.TYPE)
        ext_ref = common.parse_path(ext_id)
        protected = {"connection": linker["name"], "correlationid": new_guid(), "operation": "create",
                     "resources": base64.b64encode(json.dumps(self._kube_names(linker)).encode()).decode()}
        try:
            if self.state.raw(ext_id) is None:
                handler.put(_ServiceRequest("PUT"), ext_ref, {"properties": {
                    "extensionType": EXTENSION_TYPE, "autoUpgradeMinorVersion": True, "releaseTrain": "stable",
                    "scope": {"cluster": {"releaseNamespace": RELEASE_NAMESPACE}},
                    "configurationProtectedSettings": protected}})
            else:
                handler.patch(_ServiceRequest("PATCH"), ext_ref,
                              {"properties": {"configurationProtectedSettings": protected}})
        except HttpError as exc:
            reason = HTTP_REASONS.get(exc.status, str(exc.status))
            return {"code": "GeneralUserError",
                    "message": f"Execution failed. Operation returned an invalid status code '{reason}'"}, 0.0
        running = self.lro.in_flight(ext_id)
        return None, (running.remaining() if running else 0.0) + EXTENSION_MARGIN

    def _extension_error(self, cluster_id):
        ext = self.state.raw(self._extension_id(cluster_id))
        if ext is None:
            return {"code": "ExtensionOperationFailed", "message": f"The {EXTENSION_NAME} extension of the cluster "
                                                                   "was removed while the connection was created."}
        props = ext.get("properties") or {}
        state = (props.get("provisioningState") or "").lower()
        if state == "failed":
            info = props.get("errorInfo") or {}
            return {"code": info.get("code") or "ExtensionOperationFailed",
                    "message": info.get("message") or "The sc-extension operation failed."}
        if state != "succeeded":
            return {"code": "ExtensionOperationFailed",
                    "message": f"The {EXTENSION_NAME} extension is still {props.get('provisioningState')}."}
        return None
