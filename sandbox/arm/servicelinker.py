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
* the target's default roles for the principal on the target resource (the storage account, the vault; a Redis
  cache with Microsoft Entra authentication on gets a "Data Owner" access policy assignment instead, one without
  is refused at PUT),
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

Modules: this one answers the wire (linker CRUD, operations, listConfigurations, validateLinker);
servicelinker_provision.py does what the service does when a PUT's operation ends; servicelinker_extension.py drives
sc-extension; servicelinker_targets.py (and servicelinker_databases.py) is the targets' table (``TARGETS``). Any
other target, auth type or system identity is refused at PUT with 400 ``SandboxNotEmulated`` naming what is
emulated.
"""
import base64
import copy
import hashlib
import json
import os
import re
import time

from sandbox.arm import common
from sandbox.arm.common import arm_error, iso, new_guid, system_data
from sandbox.arm.servicelinker_extension import ExtensionDriver
from sandbox.arm.servicelinker_provision import SECRET_KEY, Provisioner, is_csi
from sandbox.arm.servicelinker_targets import emulated_targets, target_of_service
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
NAME_RE = re.compile(r"^[A-Za-z0-9._]+$")
NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
SETTINGS_KEY = "_sandbox/servicelinker"


# --------------------------------------------------------------------------- module API

def _entra_on(cache):
    config = ((cache or {}).get("properties") or {}).get("redisConfiguration") or {}
    return str(config.get("aad-enabled", "")).lower() == "true"


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


def _token(nbytes):
    return base64.urlsafe_b64encode(os.urandom(nbytes)).decode().rstrip("=")


# --------------------------------------------------------------------------- the handler

class LinkerHandler(Provisioner, ExtensionDriver, common.ResourceHandler):
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
        spec, resource_id = target_of_service(target)
        if spec is None:
            raise arm_error(400, "SandboxNotEmulated",
                            f"The sandbox's Service Connector emulates the targets {', '.join(emulated_targets())} "
                            f"(AzureResource, ConfluentBootstrapServer, ConfluentSchemaRegistry); targetService "
                            f"{json.dumps(target)} is not emulated.")
        if spec.get("no_resource"):
            if not target.get("endpoint"):
                raise arm_error(400, "BadRequest", f"targetService.endpoint is required for {target.get('type')}.")
        elif not spec.get("unchecked"):       # the partners' ids are the built-in's placeholders: not read
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
        if auth_type == "secret" and spec.get("user_secret"):
            info = auth.get("secretInfo") or {}
            if not auth.get("name") or info.get("secretType") != "rawValue" or not info.get("value"):
                raise arm_error(400, "BadRequest", f"Secret auth to {spec['name']} takes the user's credential: "
                                                   "authInfo.name and authInfo.secretInfo {\"secretType\": "
                                                   "\"rawValue\", \"value\": ...} are required.")
        elif auth_type == "secret" and (auth.get("secretInfo") or auth.get("name")):
            raise arm_error(400, "SandboxNotEmulated", "A secret given in authInfo is not emulated for "
                                                       f"{spec['name']}: send {{\"authType\": \"secret\"}}.")
        if auth_type == "userAssignedIdentity" and not is_csi(props) and not auth.get("clientId"):
            raise arm_error(400, "BadRequest", "authInfo.clientId is required for a userAssignedIdentity "
                                               "(workload identity) connection.")
        if auth_type == "servicePrincipalSecret" and not (auth.get("clientId") and auth.get("principalId")):
            raise arm_error(400, "BadRequest", "authInfo.clientId and principalId are required for "
                                               "servicePrincipalSecret.")
        if spec.get("redis_access") and auth_type != "secret" and not _entra_on(self.state.raw(resource_id)):
            raise arm_error(400, "BadRequest", "Microsoft Entra authentication is not enabled on the Redis cache "
                                               f"'{resource_id.rsplit('/', 1)[-1]}': enable it first (az redis "
                                               "update --set redisConfiguration.aad-enabled=true), or use secret.")
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
        if auth_type == "secret":      # the user's secret is kept apart (SECRET_KEY), never answered
            auth.update(name=auth_in.get("name"), secretInfo=None)
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
                              "type": "AzureResource"} if target.get("type") == "AzureResource" else
                             {"type": target["type"], "endpoint": target.get("endpoint")},
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
            secret = ((body["properties"].get("authInfo") or {}).get("secretInfo") or {}).get("value")
            self.state.meta_of(ref.id)[SECRET_KEY] = secret if spec.get("user_secret") else None
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
                spec, _ = target_of_service(props["targetService"])
                exists = bool(spec and (spec.get("no_resource") or spec.get("unchecked"))) or \
                    self.state.raw(props["targetService"].get("id")) is not None
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
                        d.update(errorMessage=f"The target resource '{props['targetService'].get('id')}' is not found.",
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
