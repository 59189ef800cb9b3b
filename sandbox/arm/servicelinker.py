# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.ServiceLinker/linkers as a child of a managed cluster: Microsoft's Service Connector resource
provider, with the wire behaviour of Microsoft's recordings (azure-cli serviceconnector tests
``test_kubernetes_*.yaml``; docs/reference-azcli-aks-connection.md §4-§7) and, behind it, what the service does.

  PUT    {cluster}/providers/Microsoft.ServiceLinker/linkers/{name}     201 (create and update), body = the
         LinkerResource ``provisioningState: Accepted``, ``ETag`` and ``Azure-AsyncOperation`` headers
  GET    .../linkers/{name}  (ETag);  GET {cluster}/providers/Microsoft.ServiceLinker/linkers  {"value": [...]}
  DELETE .../linkers/{name}     202, body null, ``Azure-AsyncOperation`` + ``Location`` (the same URL); its
         polls answer HTTP 202 ``"status": "Deleting"`` until 200 Succeeded (``properties: null``); 204 if absent
  POST   .../linkers/{name}/listConfigurations   200 {"configurations": [{name, value, configType,
         keyVaultReferenceIdentity, description}]}: credential values are "" (Service Connector for AKS)
  POST   .../linkers/{name}/validateLinker       202, body null, both headers (the same URL); the final
         operation status carries the ValidateResult in ``properties`` (success, as the RP answers for AKS; only
         the target's existence is really checked)

Operation status URLs are ``/subscriptions/{s}/providers/Microsoft.ServiceLinker/locations/{LOCATION}/
operationStatuses/{guid}*{hash}?api-version=2021-01-01-privatepreview&t=..&c=..&s=..&h=..``: poll them verbatim.
No ``Retry-After`` (nor retry-after-ms) is sent on these answers, as recorded: azure-core then waits its
``polling_interval`` (30 s for the built-in). ``settings(state)["retryAfter"]`` = N > 0 sends ``Retry-After: N``
(control: PUT /_sandbox/arm/settings {"serviceLinkerRetryAfter": N}). Durations: LRO kinds ``linkers`` (PUT,
DELETE) and ``validateLinker`` (PUT /_sandbox/lro); a PUT that has to wait for ``sc-extension`` lasts that
extension operation (kind ``extensions``) longer. An unregistered provider answers ``SubscriptionNotRegistered``
(the code the built-in's ``auto_register`` reacts to).

What a linker PUT does (docs "how-to-use-service-connector-in-aks", reference §7), when its operation ends:

* sc-extension: the cluster's first linker installs ``sc-extension`` (type ``microsoft.servicelinker.connection``,
  release namespace ``sc-system``) through the sandbox's own extension handler (Helm release Secret, ``sc-job``
  evidence and every injected fault: ``extension-install-outcome``, blocked hosts, node taints); later linkers
  update it with per-operation protected settings (connection, correlationid, operation, resources), which runs
  ``sc-job`` again. A failed extension operation fails the linker with the extension's message; an extension
  write refused at once (cluster busy: 409) fails it with "Execution failed. Operation returned an invalid status
  code 'Conflict'" (azure-cli#30296); ``Microsoft.KubernetesConfiguration`` not registered fails it too.
* workload identity (``userAssignedIdentity`` + clientId): OIDC issuer and workload identity turned on on the
  cluster; a federated credential on the identity (issuer = the cluster's, subject
  ``system:serviceaccount:<scope>:sc-account-<clientId>``, audience ``api://AzureADTokenExchange``; an existing one
  with that issuer and subject is reused); ServiceAccount ``sc-account-<clientId>`` annotated
  ``azure.workload.identity/client-id`` / ``tenant-id``.
* Key Vault CSI (``resourceProperties.connectAsKubernetesCsiDriver``): the ``azureKeyvaultSecretsProvider``
  add-on turned on; its identity is the one granted and named (AZURE_KEYVAULT_CLIENTID); no ServiceAccount.
* the target's default roles for the principal on the target resource (the storage account, the vault),
  unless an assignment of that role at that scope exists; an access-policy vault gets an access policy instead;
  ``authInfo.roles`` overrides; ``authMode: optOutAllAuth`` skips roles, credentials and cluster changes.
* a firewall rule for each of the cluster's egress IPs on a target whose network rules deny by default (storage
  ``networkAcls.ipRules``, Key Vault ``networkAcls.ipRules`` a.b.c.d/32), unless ``publicNetworkSolution.action``
  is ``optOut``.
* Secret ``sc-<name without non-alphanumerics, case kept>-secret`` in the ``scope`` namespace (created when
  missing) with the keys of the client type (reference §6; ``customizedKeys`` renames, ``additionalConfigurations``
  adds, ``configurationInfo.action: optOut`` writes none). The built-in keeps the name's case and Kubernetes
  refuses upper-case names: a linker whose name has upper-case letters fails ("sc-job failed: Secret ... is
  invalid"), after the Azure side was done (what the real service does with such a name is not documented).

DELETE removes the linker only: the Secret, ServiceAccount, federated credential and roles stay (docs:
"Deleting a service connection doesn't delete the associated Kubernetes resource").

Emulated targets: storage-blob / -queue / -table / -file and keyvault here, the others in servicelinker_targets.py
(``TARGETS``); any other target, auth type or system identity is refused at PUT with 400 ``SandboxNotEmulated``
naming what is emulated.
"""
import base64
import copy
import hashlib
import json
import os
import re
import time

from sandbox.arm import authorization, common, containerservice, kubernetesconfiguration, managedidentity, \
    servicelinker_targets
from sandbox.arm.common import arm_error, iso, new_guid, system_data
from sandbox.core import HttpError, Response

NS = "Microsoft.ServiceLinker"
TYPE = "Microsoft.ServiceLinker/linkers"
WIRE_TYPE = "microsoft.servicelinker/linkers"
# The SDK's default (azure-mgmt-servicelinker 1.2.0b3, the one azure-cli 2.91 ships and pins) first.
API_VERSIONS = ["2024-07-01-preview", "2024-04-01", "2023-04-01-preview", "2022-11-01-preview", "2022-05-01",
                "2022-01-01-preview", "2021-11-01-preview"]
# Versions before publicNetworkSolution / configurationInfo / the richer authInfo existed.
OLD_VERSIONS = ("2022-05-01", "2022-01-01-preview", "2021-11-01-preview")
ASYNC_API_VERSION = "2021-01-01-privatepreview"
EXTENSION_NAME = "sc-extension"
EXTENSION_TYPE = "microsoft.servicelinker.connection"
RELEASE_NAMESPACE = "sc-system"
EXTENSION_API_VERSION = "2023-05-01"
AUDIENCE = "api://AzureADTokenExchange"
CSI_ADDON = "azureKeyvaultSecretsProvider"
NAME_RE = re.compile(r"^[A-Za-z0-9._]+$")
NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SETTINGS_KEY = "_sandbox/servicelinker"
# Seconds a linker waits beyond the sc-extension operation it depends on (that operation's cluster-side writes
# happen just before its status flips).
EXTENSION_MARGIN = 0.3
HTTP_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 412: "PreconditionFailed"}
SUPPORTED_AUTH = ("secret", "userAssignedIdentity", "servicePrincipalSecret")
CREDENTIAL_NAMES = ("CONNECTIONSTRING", "CLIENTSECRET", "ACCOUNTKEY", "account-key")


# --------------------------------------------------------------------------- targets (table-driven)

def _storage_values(service):
    def values(state, resource, auth_type, client_type):
        props = resource.get("properties") or {}
        endpoint = (props.get("primaryEndpoints") or {}).get(service) or \
            f"https://{resource['name']}.{service}.core.windows.net/"
        out = {"RESOURCEENDPOINT": endpoint, "_endpoint": endpoint}
        if auth_type == "secret":
            key = ((state.meta_of(resource["id"]).get("keys") or [{}])[0]).get("value") or ""
            if endpoint.startswith(f"https://{resource['name']}.{service}.core.windows.net"):
                conn = (f"DefaultEndpointsProtocol=https;AccountName={resource['name']};AccountKey={key};"
                        "EndpointSuffix=core.windows.net")
            else:      # Azurite / a sovereign cloud: name the endpoint
                scheme = "http" if endpoint.startswith("http://") else "https"
                conn = (f"DefaultEndpointsProtocol={scheme};AccountName={resource['name']};AccountKey={key};"
                        f"{service.capitalize()}Endpoint={endpoint}")
            out.update(CONNECTIONSTRING=conn, _account=resource["name"], _key=key)
        return out
    return values


def _vault_values(state, resource, auth_type, client_type):  # pylint: disable=unused-argument
    uri = (resource.get("properties") or {}).get("vaultUri") or f"https://{resource['name']}.vault.azure.net/"
    return {"RESOURCEENDPOINT": uri, "SCOPE": "https://management.azure.com/.default"}


def _springboot_blob(v):
    return [("azure.storage.account-name", v["_account"]), ("azure.storage.account-key", v["_key"]),
            ("azure.storage.blob-endpoint", v["_endpoint"]),
            ("spring.cloud.azure.storage.blob.account-name", v["_account"]),
            ("spring.cloud.azure.storage.blob.account-key", v["_key"]),
            ("spring.cloud.azure.storage.blob.endpoint", v["_endpoint"])]


def _storage_target(name, service, roles, auth):
    return {"name": name, "prefix": f"AZURE_STORAGE{service.upper()}", "kind": "storage", "roles": roles,
            "auth": auth, "suffix": f"/{service}Services/default", "values": _storage_values(service),
            # key order per auth type (reference §6)
            "keys": {"secret": ["CONNECTIONSTRING"], "userAssignedIdentity": ["RESOURCEENDPOINT", "CLIENTID"],
                     "servicePrincipalSecret": ["RESOURCEENDPOINT", "CLIENTID", "CLIENTSECRET", "TENANTID"]}}


# lower-case full type of the target id -> what Service Connector does for it. The sandbox's own table, from
# Microsoft's docs and recordings, never from the extension's (so that the two can disagree).
TARGETS = {
    "microsoft.storage/storageaccounts/blobservices": dict(
        _storage_target("storage-blob", "blob", ["Storage Blob Data Contributor"], SUPPORTED_AUTH),
        springboot=_springboot_blob),
    "microsoft.storage/storageaccounts/queueservices":
        _storage_target("storage-queue", "queue", ["Storage Queue Data Contributor"], SUPPORTED_AUTH),
    "microsoft.storage/storageaccounts/tableservices":
        _storage_target("storage-table", "table", ["Storage Table Data Contributor"], SUPPORTED_AUTH),
    "microsoft.storage/storageaccounts/fileservices":
        _storage_target("storage-file", "file", [], ("secret",)),
    "microsoft.keyvault/vaults": {
        "name": "keyvault", "prefix": "AZURE_KEYVAULT", "kind": "keyvault", "suffix": "",
        "roles": ["Key Vault Secrets User", "Key Vault Certificate User"],
        "auth": ("userAssignedIdentity", "servicePrincipalSecret"), "values": _vault_values,
        "keys": {"userAssignedIdentity": ["SCOPE", "RESOURCEENDPOINT", "CLIENTID"],
                 "csi": ["RESOURCEENDPOINT", "CLIENTID", "SCOPE"],
                 "servicePrincipalSecret": ["RESOURCEENDPOINT", "CLIENTID", "CLIENTSECRET", "TENANTID"]}},
}
TARGETS.update(servicelinker_targets.more_targets(SUPPORTED_AUTH))


def target_of(target_id):
    """(spec, ARM id of the resource holding keys / roles / firewall) of a target id, or (None, None)."""
    ref = common.parse_path(target_id or "")
    if ref is None or not ref.is_resource:
        return None, None
    spec = TARGETS.get(ref.full_type.lower())
    if spec is None:
        return None, None
    if spec.get("depth"):      # a child target (a Cosmos DB database): keys and roles are its account's
        return spec, common.ResourceRef(ref.subscription, ref.resource_group, ref.scope, ref.namespace,
                                        ref.types[:spec["depth"]], ref.names[:spec["depth"]], None).id
    rid = ref.id[:-len(spec["suffix"])] if spec["suffix"] and ref.id.lower().endswith(spec["suffix"].lower()) \
        else ref.id
    return spec, rid


def emulated_targets():
    return sorted(t["name"] for t in TARGETS.values())


# --------------------------------------------------------------------------- module API

def register(registry):
    registry.add(LinkerHandler)
    registry.namespace(NS, {"operations": API_VERSIONS, "locations": API_VERSIONS,
                            "locations/operationStatuses": API_VERSIONS, "configurationNames": API_VERSIONS,
                            "dryruns": API_VERSIONS})


def settings(state):
    """The live settings: {"retryAfter": seconds}; 0 = no Retry-After on the LRO answers (as recorded)."""
    with state.lock:
        live = state.meta_of(SETTINGS_KEY).setdefault("settings", {})
        live.setdefault("retryAfter", 0)
        return live


def secret_name(linker_name):
    """The built-in's ``get_aks_resource_secret_name``: non-alphanumerics dropped, case kept."""
    return f"sc-{re.sub(r'[^a-zA-Z0-9]', '', linker_name)}-secret"


def service_account_name(client_id):
    return f"sc-account-{client_id}"


def is_csi(props):
    rp = (props.get("targetService") or {}).get("resourceProperties") or {}
    return bool(rp.get("connectAsKubernetesCsiDriver"))


def _token(nbytes):
    return base64.urlsafe_b64encode(os.urandom(nbytes)).decode().rstrip("=")


class _ServiceRequest:  # pylint: disable=too-few-public-methods
    """The request Service Connector itself makes to another provider (no user token)."""

    def __init__(self, method, api_version=EXTENSION_API_VERSION):
        self.method = method
        self.api_version = api_version
        self.query = {"api-version": api_version}

    def header(self, name, default=None):  # pylint: disable=unused-argument
        return default


# --------------------------------------------------------------------------- the handler

class LinkerHandler(common.ResourceHandler):
    type_name = TYPE
    methods = frozenset({"GET", "PUT", "DELETE"})
    api_versions = tuple(API_VERSIONS)
    strict_api_versions = True
    actions = {"listconfigurations": "list_configurations", "validatelinker": "validate"}
    scope_types = ("microsoft.containerservice/managedclusters",)
    list_by_subscription = False
    list_by_resource_group = False

    def unregistered_error(self, namespace):
        return arm_error(409, "SubscriptionNotRegistered",
                         f"The subscription '{self.sb.subscription_id}' is not registered to use namespace "
                         f"'{namespace}'. Register it: az provider register -n {namespace}.")

    # ---- wire shapes

    def render(self, res, req=None):
        out = copy.deepcopy(res)
        out.pop("etag", None)
        version = (req.api_version if req is not None else None) or API_VERSIONS[0]
        if version in OLD_VERSIONS:
            props = out["properties"]
            props.pop("publicNetworkSolution", None)
            props.pop("configurationInfo", None)
            props["secretStore"] = {"keyVaultId": (props.get("secretStore") or {}).get("keyVaultId")}
            auth = props.get("authInfo") or {}
            keep = {"secret": ("name", "secretInfo", "authType"),
                    "userAssignedIdentity": ("subscriptionId", "clientId", "authType"),
                    "servicePrincipalSecret": ("clientId", "principalId", "secret", "authType")}
            props["authInfo"] = {k: auth.get(k) for k in keep.get(auth.get("authType"), auth.keys())}
        auth = out["properties"].get("authInfo") or {}
        if auth.get("authType") == "servicePrincipalSecret" and "secret" in auth:
            auth["secret"] = None                     # write-only
        return out

    def _answer(self, status, res, req, headers=None):
        headers = dict(headers or {})
        headers["ETag"] = res["etag"]
        return Response(status, self.render(res, req), headers)

    def get(self, req, ref):
        with self.state.lock:
            return self._answer(200, self.require(ref), req)

    # ---- operations

    def _retry_headers(self, done=False):
        seconds = int(settings(self.state).get("retryAfter") or 0)
        return {"Retry-After": str(seconds)} if seconds > 0 and not done else {}

    def _start(self, req, ref, kind, on_complete, flavour, duration=None, location=False):
        """An operation at ``.../locations/{LOCATION}/operationStatuses/{guid}*{hash}`` answered as Service
        Connector answers it (``flavour``: create, delete, validate). Returns (op, headers)."""
        cluster = self.state.raw(ref.scope) or {}
        loc = (cluster.get("location") or self.sb.location).upper()
        guid = new_guid()
        name = f"{guid}*{hashlib.sha256((guid + ref.id).encode()).hexdigest().upper()}"
        path = f"/subscriptions/{ref.subscription}/providers/{NS}/locations/{loc}/operationStatuses/{name}"
        op = self.lro.start(kind, ref.id, path, None, on_complete=on_complete, op_id=name, req=req,
                            duration=duration)
        op.serve = lambda r, role: self._serve(r, op, flavour)
        ticks = int(time.time() * 10 ** 7) + 621355968000000000      # .NET ticks, as the service signs them
        url = (common.base_url(req, self.sb) + path + f"?api-version={ASYNC_API_VERSION}&t={ticks}&c={_token(48)}"
               f"&s={_token(96)}&h={_token(32)}")
        headers = {"Azure-AsyncOperation": url}
        if location:
            headers["Location"] = url
        headers.update(self._retry_headers())
        return op, headers

    def _serve(self, req, op, flavour):  # pylint: disable=unused-argument
        with self.state.lock:
            done, status = op.done, op.status
            body = {"id": op.status_path, "name": op.id, "resourceId": op.resource_id,
                    "status": status if done else ("Deleting" if flavour == "delete" else "Accepted"),
                    "startTime": iso(op.start)}
            if done:
                body["endTime"] = iso(op.end)
                if op.error:
                    body["error"] = copy.deepcopy(op.error)
                elif flavour == "delete":
                    body["properties"] = None
                elif flavour == "validate":
                    body["properties"] = copy.deepcopy(op.extra.get("result"))
                else:
                    body["properties"] = {"Message": None}
        code = 202 if flavour == "delete" and not done else 200
        return Response(code, body, self._retry_headers(done))

    def _check_not_busy(self, ref, res):
        op = self.lro.in_flight(ref.id)
        if op is not None and op.kind == "linkers":
            raise arm_error(409, "Conflict", f"The linker '{res['name']}' has an operation in progress (provisioning"
                                             f"State: {res['properties'].get('provisioningState')}). Retry after "
                                             "it completes.")

    # ---- PUT

    def _validate_body(self, ref, body):
        if not NAME_RE.match(ref.name or ""):
            raise arm_error(400, "BadRequest", "Resource name can only contain letters (A-Z, a-z), numbers (0-9), "
                                               "periods ('.'), and underscores ('_')")
        props = body.get("properties")
        if not isinstance(props, dict):
            raise arm_error(400, "BadRequest", "The request content was invalid: 'properties' is required.")
        target = props.get("targetService") or {}
        if target.get("type") != "AzureResource" or not target.get("id"):
            raise arm_error(400, "SandboxNotEmulated",
                            f"The sandbox's Service Connector emulates AzureResource targets only "
                            f"({', '.join(emulated_targets())}); targetService {json.dumps(target)} is not "
                            "emulated.")
        spec, resource_id = target_of(target["id"])
        if spec is None:
            raise arm_error(400, "SandboxNotEmulated",
                            f"The sandbox's Service Connector emulates the targets {', '.join(emulated_targets())}; "
                            f"'{target['id']}' is not emulated.")
        missing_child = self.state.raw(target["id"]) is None and not spec.get("pseudo_child")
        if missing_child or self.state.raw(resource_id) is None:
            raise arm_error(400, "BadRequest", f"The target resource '{target['id']}' does not exist.")
        auth = props.get("authInfo") or {}
        auth_type = auth.get("authType")
        if auth_type in ("systemAssignedIdentity", "userAccount"):
            raise arm_error(400, "BadRequest", f"Auth type '{auth_type}' is not supported for Azure Kubernetes "
                                               "Service. Use workload identity (userAssignedIdentity), secret or "
                                               "service principal.")
        if auth_type not in spec["auth"] and not (is_csi(props) and auth_type == "userAssignedIdentity"):
            raise arm_error(400, "SandboxNotEmulated", f"Auth type '{auth_type}' for target {spec['name']} is not "
                                                       f"emulated (emulated: {', '.join(spec['auth'])}).")
        if auth_type == "secret" and (auth.get("secretInfo") or auth.get("name")):
            raise arm_error(400, "SandboxNotEmulated", "A secret given in authInfo is not emulated for "
                                                       f"{spec['name']}: send {{\"authType\": \"secret\"}}.")
        if auth_type == "userAssignedIdentity" and not is_csi(props) and not auth.get("clientId"):
            raise arm_error(400, "BadRequest", "authInfo.clientId is required for a userAssignedIdentity "
                                               "(workload identity) connection.")
        if auth_type == "servicePrincipalSecret" and not (auth.get("clientId") and auth.get("principalId")):
            raise arm_error(400, "BadRequest", "authInfo.clientId and principalId are required for "
                                               "servicePrincipalSecret.")
        if (props.get("secretStore") or {}).get("keyVaultId"):
            raise arm_error(400, "BadRequest", "Service Connector does not support secrets from Key Vault for "
                                               "AKS (secretStore.keyVaultId).")
        if is_csi(props) and spec["kind"] != "keyvault":
            raise arm_error(400, "BadRequest", "connectAsKubernetesCsiDriver is for Key Vault targets only.")
        scope = props.get("scope") or "default"
        if not NAMESPACE_RE.match(scope):
            raise arm_error(400, "BadRequest", f"The scope '{scope}' is not a valid Kubernetes namespace name.")
        return spec

    def _linker_props(self, body):
        p = body["properties"]
        auth_in = copy.deepcopy(p.get("authInfo") or {})
        auth_type = auth_in.get("authType")
        auth = {"authType": auth_type, "authMode": auth_in.get("authMode")}
        if auth_type == "secret":
            auth.update(name=None, secretInfo=None)
        elif auth_type == "userAssignedIdentity":
            auth.update(subscriptionId=auth_in.get("subscriptionId"), clientId=auth_in.get("clientId"),
                        roles=auth_in.get("roles"), userName=auth_in.get("userName"),
                        deleteOrUpdateBehavior=auth_in.get("deleteOrUpdateBehavior"))
        else:
            auth.update(clientId=auth_in.get("clientId"), principalId=auth_in.get("principalId"),
                        secret=auth_in.get("secret"), roles=auth_in.get("roles"), userName=None,
                        deleteOrUpdateBehavior=auth_in.get("deleteOrUpdateBehavior"))
        target = p["targetService"]
        ci = p.get("configurationInfo") or {}
        pns = p.get("publicNetworkSolution") or {}
        return {
            "provisioningState": "Accepted",
            "targetService": {"id": target["id"], "resourceProperties": copy.deepcopy(target.get("resourceProperties")),
                              "type": "AzureResource"},
            "authInfo": auth,
            "vNetSolution": copy.deepcopy(p.get("vNetSolution")),
            "clientType": p.get("clientType") or "none",
            "secretStore": {"keyVaultId": None, "keyVaultSecretName": None},
            "scope": p.get("scope") or "default",
            "publicNetworkSolution": {"firewallRules": copy.deepcopy(pns.get("firewallRules")),
                                      "deleteOrUpdateBehavior": pns.get("deleteOrUpdateBehavior"),
                                      "action": pns.get("action")},
            "configurationInfo": {"customizedKeys": copy.deepcopy(ci.get("customizedKeys")),
                                  "configurationStore": {"appConfigurationId": (ci.get("configurationStore") or {})
                                                         .get("appConfigurationId")},
                                  "additionalConfigurations": copy.deepcopy(ci.get("additionalConfigurations")),
                                  "additionalConnectionStringProperties":
                                      copy.deepcopy(ci.get("additionalConnectionStringProperties")),
                                  "deleteOrUpdateBehavior": ci.get("deleteOrUpdateBehavior"),
                                  "action": ci.get("action"), "daprProperties": ci.get("daprProperties")},
        }

    def put(self, req, ref, body):
        with self.state.lock:
            spec = self._validate_body(ref, body)
            existing = self.state.raw(ref.id)
            if existing is not None:
                self._check_not_busy(ref, existing)
            res = {"id": ref.id, "name": ref.name, "type": WIRE_TYPE,
                   "systemData": system_data(req, self.sb, (existing or {}).get("systemData")),
                   "properties": self._linker_props(body),
                   "etag": f'"{new_guid()[:8]}-0000-0100-0000-{os.urandom(4).hex()}0000"'}
            self.state.store(res)
            start_error, wait = self._drive_extension(ref, res)
            rid = ref.id

            def complete(op):
                cur = self.state.raw(rid)
                if cur is None:
                    return None
                err = start_error or self._extension_error(ref.scope)
                if err is None:
                    try:
                        op.after = self._provision(cur, spec)
                    except HttpError as exc:
                        err = {"code": exc.code, "message": exc.message}
                cur["properties"]["provisioningState"] = "Failed" if err else "Succeeded"
                cur["etag"] = f'"{new_guid()[:8]}-0000-0100-0000-{os.urandom(4).hex()}0000"'
                return err

            _, headers = self._start(req, ref, "linkers", complete, "create",
                                     duration=self.lro.duration("linkers") + wait)
            return self._answer(201, res, req, headers)

    # ---- sc-extension (through the sandbox's extension handler)

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

    @staticmethod
    def _kube_names(linker):
        props = linker["properties"]
        names = {"secret": secret_name(linker["name"]), "namespace": props.get("scope") or "default"}
        auth = props.get("authInfo") or {}
        if auth.get("authType") == "userAssignedIdentity" and not is_csi(props):
            names["serviceAccount"] = service_account_name(auth.get("clientId"))
        return names

    # ---- what Service Connector does when the operation ends (under the state lock)

    def _identity_by_client_id(self, client_id):
        for res in self.state.resources.values():
            if res.get("type", "").lower() == managedidentity.TYPE.lower() and \
                    str((res.get("properties") or {}).get("clientId", "")).lower() == str(client_id).lower():
                return res
        return None

    def _principal(self, linker, cluster):
        """(clientId, principalId (object id), identity resource or None) of the linker's auth; enables what the
        cluster needs for it (WI: OIDC issuer + workload identity; CSI: the Key Vault add-on)."""
        props = linker["properties"]
        auth = props["authInfo"]
        opt_out = auth.get("authMode") == "optOutAllAuth"
        cprops = cluster["properties"]
        if auth["authType"] == "userAssignedIdentity" and is_csi(props):
            addons = cprops.setdefault("addonProfiles", {})
            key = next((k for k in addons if k.lower() == CSI_ADDON.lower()), CSI_ADDON)
            if not (addons.get(key) or {}).get("enabled"):
                if opt_out:
                    raise arm_error(400, "BadRequest", f"The {CSI_ADDON} add-on of the cluster is off and authMode "
                                                       "optOutAllAuth forbids turning it on.")
                addons[key] = {"enabled": True, "config": None}
                containerservice._apply_computed(self.state, cluster)  # pylint: disable=protected-access
                containerservice.new_etag(cluster)
            addon = addons[key]
            ident = addon.get("identity") or {}
            return ident.get("clientId"), ident.get("objectId"), None
        if auth["authType"] == "userAssignedIdentity":
            ident = self._identity_by_client_id(auth["clientId"])
            if ident is None:
                raise arm_error(400, "BadRequest", f"The user-assigned identity with client id '{auth['clientId']}' "
                                                   f"was not found in subscription '{auth.get('subscriptionId')}'.")
            if not opt_out:
                changed = False
                oidc = cprops.setdefault("oidcIssuerProfile", {})
                if not oidc.get("enabled"):
                    oidc["enabled"] = changed = True
                wi = cprops.setdefault("securityProfile", {}).setdefault("workloadIdentity", {})
                if not wi.get("enabled"):
                    wi["enabled"] = changed = True
                if changed:
                    containerservice._apply_computed(self.state, cluster)  # pylint: disable=protected-access
                    containerservice.new_etag(cluster)
            return auth["clientId"], ident["properties"]["principalId"], ident
        if auth["authType"] == "servicePrincipalSecret":
            return auth["clientId"], auth["principalId"], None
        return None, None, None

    def _federate(self, linker, cluster, ident):
        props = linker["properties"]
        issuer = (cluster["properties"].get("oidcIssuerProfile") or {}).get("issuerURL")
        subject = f"system:serviceaccount:{props['scope']}:{service_account_name(props['authInfo']['clientId'])}"
        fics = [r for r in self.state.under(ident["id"])
                if r.get("type", "").lower() == managedidentity.FIC_TYPE.lower()]
        if any((f.get("properties") or {}).get("issuer") == issuer and
               (f.get("properties") or {}).get("subject") == subject for f in fics):
            return
        if len(fics) >= managedidentity.MAX_FICS:
            raise arm_error(400, "BadRequest", f"Too many Federated Identity Credentials are present on the Managed "
                                               f"Identity '{ident['name']}'. A maximum of {managedidentity.MAX_FICS} "
                                               "Federated Identity Credentials can be added to a user-assigned "
                                               "managed identity.")
        name = re.sub(r"[^A-Za-z0-9_-]", "", f"sc-{cluster['name']}-{linker['name']}")[:120]
        self.state.store({"id": f"{ident['id']}/federatedIdentityCredentials/{name}", "name": name,
                          "type": managedidentity.FIC_TYPE,
                          "properties": {"issuer": issuer, "subject": subject, "audiences": [AUDIENCE]},
                          "systemData": system_data(None, self.sb)})

    def _grant(self, linker, spec, resource, principal_id, tenant_id):
        auth = linker["properties"]["authInfo"]
        if spec["kind"] == "keyvault" and not (resource.get("properties") or {}).get("enableRbacAuthorization"):
            policies = resource["properties"].setdefault("accessPolicies", [])
            if not any(str(p.get("objectId", "")).lower() == principal_id.lower() for p in policies):
                policies.append({"tenantId": tenant_id, "objectId": principal_id, "permissions": {
                    "keys": [], "secrets": ["get", "list"], "certificates": ["get", "list"]}})
            return
        roles = auth.get("roles") or spec["roles"]
        existing = authorization.list_assignments(self.state, principal_id)
        for role in roles:
            if role not in authorization.BUILTIN_ROLES:
                raise arm_error(400, "SandboxNotEmulated", f"Role '{role}' is not a built-in role the sandbox knows.")
            guid = authorization.BUILTIN_ROLES[role][0]
            if any(a["properties"]["scope"].lower() == resource["id"].lower() and
                   authorization.role_guid(a["properties"]["roleDefinitionId"]) == guid for a in existing):
                continue
            authorization.seed_assignment(self.state, resource["id"], principal_id, role)

    def _open_firewall(self, linker, spec, resource, cluster_id):
        if (linker["properties"].get("publicNetworkSolution") or {}).get("action") == "optOut":
            return
        acls = (resource.get("properties") or {}).get("networkAcls") or {}
        if (acls.get("defaultAction") or "Allow").lower() != "deny":
            return
        ips = [ip for ip in containerservice.egress(self.state, cluster_id)["ips"] if ip]
        rules = acls.setdefault("ipRules", [])
        have = {str(r.get("value", "")).split("/", 1)[0] if str(r.get("value", "")).endswith("/32")
                else str(r.get("value", "")) for r in rules}
        for ip in ips:
            if ip in have:
                continue
            rules.append({"value": ip, "action": "Allow"} if spec["kind"] == "storage" else {"value": f"{ip}/32"})

    def configurations(self, linker, spec=None, client_id=None, tenant_id=None):
        """[(name, value, is_credential)] of the linker, in Service Connector's order and names."""
        props = linker["properties"]
        spec = spec or target_of(props["targetService"]["id"])[0]
        if spec is None or (props.get("configurationInfo") or {}).get("action") == "optOut":
            return []
        _, rid = target_of(props["targetService"]["id"])
        resource = self.state.raw(rid) or {"id": rid, "name": rid.rsplit("/", 1)[-1], "properties": {}}
        auth = props["authInfo"]
        auth_type = auth["authType"]
        if client_id is None and auth_type == "userAssignedIdentity" and is_csi(props):
            cluster = self.state.raw(common.parse_path(linker["id"]).scope) or {"properties": {}}
            addon = next((v for k, v in (cluster["properties"].get("addonProfiles") or {}).items()
                          if k.lower() == CSI_ADDON.lower()), None) or {}
            client_id = (addon.get("identity") or {}).get("clientId") or ""
        values = spec["values"](self.state, resource, auth_type, props.get("clientType"))
        values.update(CLIENTID=client_id or auth.get("clientId") or "", TENANTID=tenant_id or self.sb.tenant_id,
                      CLIENTSECRET=auth.get("secret") or "")
        for k, v in list(values.items()):      # values that name the identity (SignalR's connection string)
            if isinstance(v, str) and ("{CLIENT" in v or "{TENANTID}" in v):
                values[k] = v.replace("{CLIENTID}", values["CLIENTID"]).replace(
                    "{CLIENTSECRET}", values["CLIENTSECRET"]).replace("{TENANTID}", values["TENANTID"])
        if auth_type == "secret" and props.get("clientType") == "springBoot" and spec.get("springboot"):
            pairs = spec["springboot"](values)
        else:
            order = spec["keys"]["csi" if is_csi(props) else auth_type]
            pairs = [(f"{spec['prefix']}_{k}", values[k]) for k in order]
        custom = (props.get("configurationInfo") or {}).get("customizedKeys") or {}
        out = [(custom.get(n, n), v, n.split("_")[-1] in CREDENTIAL_NAMES or n.endswith("account-key"))
               for n, v in pairs]
        for k, v in ((props.get("configurationInfo") or {}).get("additionalConfigurations") or {}).items():
            out.append((k, v, False))
        return out

    def _provision(self, linker, spec):
        """Do the ARM side now; return the Kubernetes side (run outside the lock before the status flips)."""
        ref = common.parse_path(linker["id"])
        cluster = self.state.raw(ref.scope)
        if cluster is None:
            raise arm_error(404, "ResourceNotFound", f"The cluster '{ref.scope}' was not found.")
        props = linker["properties"]
        _, rid = target_of(props["targetService"]["id"])
        resource = self.state.raw(rid)
        if resource is None:
            raise arm_error(400, "BadRequest", f"The target resource '{props['targetService']['id']}' does not exist.")
        client_id, principal_id, ident = self._principal(linker, cluster)
        tenant_id = (ident or {}).get("properties", {}).get("tenantId") or self.sb.tenant_id
        if props["authInfo"].get("authMode") != "optOutAllAuth":
            if ident is not None:
                self._federate(linker, cluster, ident)
            if principal_id:
                self._grant(linker, spec, resource, principal_id, tenant_id)
        self._open_firewall(linker, spec, resource, ref.scope)
        configs = self.configurations(linker, spec, client_id, tenant_id)
        names = self._kube_names(linker)
        for kind, value in (("Secret", names["secret"]), ("ServiceAccount", names.get("serviceAccount"))):
            if value is not None and not DNS_SUBDOMAIN_RE.match(value):
                # sc-job cannot create it: the built-in keeps the connection name's case, Kubernetes does not
                raise arm_error(400, "BadRequest", f"sc-job failed: {kind} \"{value}\" is invalid: metadata.name: "
                                                   f"Invalid value: \"{value}\": a lowercase RFC 1123 subdomain "
                                                   "must consist of lower case alphanumeric characters, '-' or '.', "
                                                   "and must start and end with an alphanumeric character.")
        sa = None
        if "serviceAccount" in names:
            sa = {"metadata": {"name": names["serviceAccount"], "namespace": names["namespace"],
                               "annotations": {"azure.workload.identity/client-id": client_id,
                                               "azure.workload.identity/tenant-id": tenant_id}}}
        secret = None
        if configs:
            secret = {"metadata": {"name": names["secret"], "namespace": names["namespace"]}, "type": "Opaque",
                      "data": {n: base64.b64encode(str(v).encode()).decode() for n, v, _ in configs}}
        if self.sb.kube is None:
            return None
        key = containerservice.kube_key_of(self.state, ref.scope)

        def kube_side():
            store = containerservice.ensure_kube_store(self.state, key)
            if store is None:
                return
            store.ensure_namespace(names["namespace"])
            for resource_name, obj in (("serviceaccounts", sa), ("secrets", secret)):
                if obj is None:
                    continue
                current = store.get(resource_name, names["namespace"], obj["metadata"]["name"])
                if current is None:
                    store.create(resource_name, names["namespace"], obj)
                else:
                    current["metadata"].setdefault("annotations", {}).update(obj["metadata"].get("annotations") or {})
                    if "data" in obj:
                        current["data"] = obj["data"]
                        current.pop("stringData", None)
                    current["metadata"].pop("resourceVersion", None)
                    store.replace(resource_name, names["namespace"], obj["metadata"]["name"], current)

        return kube_side

    # ---- DELETE

    def delete(self, req, ref):
        with self.state.lock:
            res = self.state.raw(ref.id)
            if res is None:
                return Response(204)
            self._check_not_busy(ref, res)
            rid = ref.id

            def complete(op):  # pylint: disable=unused-argument
                self.state.remove_tree(rid)

            _, headers = self._start(req, ref, "linkers", complete, "delete", location=True)
            return Response(202, None, headers)

    # ---- actions

    def list_configurations(self, req, ref):
        with self.state.lock:
            linker = self.require(ref)
            old = req.api_version in OLD_VERSIONS
            items = []
            for name, value, credential in self.configurations(linker):
                item = {"name": name, "value": "" if credential else value}
                if not old:
                    item.update(configType="Default", keyVaultReferenceIdentity=None, description="")
                items.append(item)
            return Response(200, {"configurations": items})

    def validate(self, req, ref):
        with self.state.lock:
            self.require(ref)
            rid = ref.id
            started = iso()

            def complete(op):
                cur = self.state.raw(rid)
                if cur is None:
                    return {"code": "ResourceNotFound", "message": f"The linker '{ref.name}' was not found."}
                props = cur["properties"]
                auth_type = props["authInfo"]["authType"]
                exists = self.state.raw(props["targetService"]["id"]) is not None
                items = [("Target resource existence validated.", exists),
                         ("Target service firewall validated.", True),
                         ("Configured connection information validated.", True)]
                if auth_type in ("userAssignedIdentity", "servicePrincipalSecret"):
                    items += [("Managed Identity existence validated.", True),
                              ("Managed Identity permissions validated.", True)]
                details = [{"name": n, "description": None, "result": "success" if ok else "failure"}
                           for n, ok in items]
                for d, (_, ok) in zip(details, items):
                    if not ok:
                        d.update(errorMessage=f"The target resource '{props['targetService']['id']}' is not found.",
                                 errorCode="TargetResourceNotFound")
                available = all(ok for _, ok in items)
                ended = iso()
                message = {"ConnectionName": cur["name"], "IsConnectionAvailable": available,
                           "ValidationDetail": [{"Name": d["name"], "Description": None,
                                                 "Result": d["result"]} for d in details],
                           "ReportStartTimeUtc": started, "ReportEndTimeUtc": ended, "SourceId": None,
                           "TargetId": None, "AuthType": auth_type}
                op.extra["result"] = {"Message": json.dumps(message), "linkerName": cur["name"],
                                      "isConnectionAvailable": available, "validationDetail": details,
                                      "reportStartTimeUtc": started, "reportEndTimeUtc": ended, "sourceId": None,
                                      "targetId": None, "authType": auth_type}
                return None

            _, headers = self._start(req, ref, "validateLinker", complete, "validate", location=True)
            return Response(202, None, headers)
