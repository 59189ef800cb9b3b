# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.Authorization: built-in roleDefinitions (read-only) and roleAssignments at any scope.

roleDefinitions
  GET  {scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}   (any scope; the id served is
       always the subscription-level one, as ARM does)
  GET  {scope}/providers/Microsoft.Authorization/roleDefinitions[?$filter=roleName eq '...'|type eq '...']

roleAssignments ({scope} = subscription, resource group or any resource id)
  PUT    {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}   201
         same name + same (scope, principal, role): 201 again (idempotent);
         same name + something else: 400 RoleAssignmentUpdateNotPermitted;
         another name + same (scope, principal, role): 409 RoleAssignmentExists, naming the existing one
         ("The ID of the existing role assignment is <32 hex>");
         a principal of an identity created moments ago: 400 PrincipalNotFound (replication delay, see
         managedidentity.principal_not_replicated)
  GET    .../roleAssignments/{guid};  DELETE (200 + body; 204 when absent)
  GET    {scope}/providers/Microsoft.Authorization/roleAssignments[?$filter=...]
         assignments at, above and below the scope; ``atScope()``: at or above only;
         ``principalId eq '...'`` / ``assignedTo('...')`` filter by principal (``and`` combines)
  Role assignments are kept beside ``ArmState.resources`` (``ArmState.role_assignments()`` reads them),
  so resource-group ``/resources`` listings do not show them, as in Azure.
"""
import copy
import re

from sandbox.arm import common, managedidentity
from sandbox.arm.common import arm_error, iso, stable_guid
from sandbox.core import Response

NS = "Microsoft.Authorization"
DEF_TYPE = "Microsoft.Authorization/roleDefinitions"
ASSIGN_TYPE = "Microsoft.Authorization/roleAssignments"
DIRECTORY_KEY = "_sandbox/directory"   # meta: {"principals": [...]}: service principals / users the directory knows


def add_principal(state, principal_id):
    """Make ``principal_id`` known to the sandbox's directory (a service principal or user created outside ARM)."""
    with state.lock:
        known = state.meta_of(DIRECTORY_KEY).setdefault("principals", [])
        if principal_id.lower() not in {p.lower() for p in known}:
            known.append(principal_id)


# azure-rest-api-specs specification/authorization/resource-manager/Microsoft.Authorization (stable + preview); any
# other: 400 NoRegisteredProviderFound. azure-mgmt-authorization (azure-cli) sends 2022-04-01 for role assignments
# and 2022-05-01-preview for role definitions and permissions.
ASSIGN_API_VERSIONS = ["2022-04-01", "2022-01-01-preview", "2021-04-01-preview", "2020-10-01-preview",
                       "2020-08-01-preview", "2020-04-01-preview", "2020-03-01-preview", "2018-12-01-preview",
                       "2018-09-01-preview", "2018-01-01-preview", "2017-10-01-preview", "2015-07-01"]
DEF_API_VERSIONS = ["2022-05-01-preview", "2022-04-01", "2018-01-01-preview", "2015-07-01"]
PERMISSION_API_VERSIONS = ["2022-05-01-preview", "2022-04-01", "2018-01-01-preview", "2015-07-01"]
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# name -> (guid, description, actions, dataActions)
BUILTIN_ROLES = {
    "Contributor": ("b24988ac-6180-42a0-ab88-20f7382dd24c",
                    "Grants full access to manage all resources, but does not allow you to assign roles in Azure "
                    "RBAC, manage assignments in Azure Blueprints, or share image galleries.", ["*"], []),
    "Reader": ("acdd72a7-3385-48ef-bd42-f606fba81ae7", "View all resources, but does not allow you to make any "
               "changes.", ["*/read"], []),
    "Storage Blob Data Contributor": ("ba92f5b4-2d11-453d-a403-e96b0029c9fe",
                                      "Allows for read, write and delete access to Azure Storage blob containers "
                                      "and data",
                                      ["Microsoft.Storage/storageAccounts/blobServices/containers/*",
                                       "Microsoft.Storage/storageAccounts/blobServices/"
                                       "generateUserDelegationKey/action"],
                                      ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"]),
    "Storage Blob Data Reader": ("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
                                 "Allows for read access to Azure Storage blob containers and data",
                                 ["Microsoft.Storage/storageAccounts/blobServices/containers/read",
                                  "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"],
                                 ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"]),
    "Storage Queue Data Contributor": ("974c5e8b-45b9-4653-ba55-5f855dd0fb88",
                                       "Allows for read, write, and delete access to Azure Storage queues and queue "
                                       "messages", ["Microsoft.Storage/storageAccounts/queueServices/queues/*"],
                                       ["Microsoft.Storage/storageAccounts/queueServices/queues/messages/*"]),
    "Storage Table Data Contributor": ("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
                                       "Allows for read, write and delete access to Azure Storage tables and "
                                       "entities", ["Microsoft.Storage/storageAccounts/tableServices/tables/*"],
                                       ["Microsoft.Storage/storageAccounts/tableServices/tables/entities/*"]),
    "Key Vault Secrets User": ("4633458b-17de-408a-b874-0445c86b69e6",
                               "Read secret contents. Only works for key vaults that use the 'Azure role-based access "
                               "control' permission model.", [],
                               ["Microsoft.KeyVault/vaults/secrets/getSecret/action",
                                "Microsoft.KeyVault/vaults/secrets/readMetadata/action"]),
    "Key Vault Secrets Officer": ("b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
                                  "Perform any action on the secrets of a key vault, except manage permissions. Only "
                                  "works for key vaults that use the 'Azure role-based access control' permission "
                                  "model.", ["Microsoft.Authorization/*/read", "Microsoft.KeyVault/vaults/*/read"],
                                  ["Microsoft.KeyVault/vaults/secrets/*"]),
    "Key Vault Reader": ("21090545-7ca7-4776-b22c-e363652d74d2",
                         "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive "
                         "values such as secret contents or key material. Only works for key vaults that use the "
                         "'Azure role-based access control' permission model.",
                         ["Microsoft.Authorization/*/read", "Microsoft.KeyVault/vaults/*/read"],
                         ["Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"]),
    "Azure Service Bus Data Owner": ("090c5cfd-751d-490a-894a-3ce6f1109419",
                                     "Allows for full access to Azure Service Bus resources.",
                                     ["Microsoft.ServiceBus/*"], ["Microsoft.ServiceBus/*"]),
    "Azure Event Hubs Data Owner": ("f526a384-b230-433a-b45c-95f59c4a2dec",
                                    "Allows for full access to Azure Event Hubs resources.",
                                    ["Microsoft.EventHub/*"], ["Microsoft.EventHub/*"]),
    "App Configuration Data Owner": ("5ae67dd6-50cb-40e7-96ff-dc2bfa4b606b",
                                     "Allows full access to App Configuration data.", [],
                                     ["Microsoft.AppConfiguration/configurationStores/*/read",
                                      "Microsoft.AppConfiguration/configurationStores/*/write",
                                      "Microsoft.AppConfiguration/configurationStores/*/delete",
                                      "Microsoft.AppConfiguration/configurationStores/*/action"]),
    # Data-plane roles of the other AKS targets (real GUIDs; actions abridged to what they grant).
    "Key Vault Certificate User": ("db79e9a7-68ee-4b58-9aeb-b90e7c24fcba", "Read the entire certificate contents "
                                   "including secret and key portion.", [],
                                   ["Microsoft.KeyVault/vaults/certificates/read",
                                    "Microsoft.KeyVault/vaults/secrets/getSecret/action"]),
    "Azure Service Bus Data Receiver": ("4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0", "Allows for receive access to Azure "
                                        "Service Bus resources.", ["Microsoft.ServiceBus/*/queues/read"],
                                        ["Microsoft.ServiceBus/*/receive/action"]),
    "Azure Service Bus Data Sender": ("69a216fc-b8fb-44d8-bc22-1f3c2cd27a39", "Allows for send access to Azure "
                                      "Service Bus resources.", ["Microsoft.ServiceBus/*/queues/read"],
                                      ["Microsoft.ServiceBus/*/send/action"]),
    "Azure Event Hubs Data Receiver": ("a638d3c7-ab3a-418d-83e6-5f17a39d4fde", "Allows receive access to Azure Event "
                                       "Hubs resources.", ["Microsoft.EventHub/*/eventhubs/consumergroups/read"],
                                       ["Microsoft.EventHub/*/eventhubs/messages/receive/action"]),
    "Azure Event Hubs Data Sender": ("2b629674-e913-4c01-ae53-ef4638d8f975", "Allows send access to Azure Event Hubs "
                                     "resources.", ["Microsoft.EventHub/*/eventhubs/read"],
                                     ["Microsoft.EventHub/*/eventhubs/messages/send/action"]),
    "App Configuration Data Reader": ("516239f1-63e1-4d78-a4de-a74fb236a071", "Allows read access to App "
                                      "Configuration data.", [],
                                      ["Microsoft.AppConfiguration/configurationStores/*/read"]),
    "DocumentDB Account Contributor": ("5bd9cd88-fe45-4216-938b-f97437e15450", "Lets you manage DocumentDB accounts, "
                                       "but not access to them.", ["Microsoft.DocumentDb/databaseAccounts/*"], []),
    "SignalR Service Owner": ("7e4f1700-ea5a-4f59-8f37-079cfe29dce3", "Full access to Azure SignalR Service REST "
                              "APIs", [], ["Microsoft.SignalRService/SignalR/*"]),
    "SignalR/Web PubSub Contributor": ("8cf5e20a-e4b2-4e9d-b3a1-5ceb692c2761", "Create, Read, Update, and Delete "
                                       "SignalR service resources", ["Microsoft.SignalRService/*"], []),
    "Cognitive Services User": ("a97b65f3-24c7-4388-baec-2e87135dc908", "Lets you read and list keys of Cognitive "
                                "Services.", ["Microsoft.CognitiveServices/*/read"],
                                ["Microsoft.CognitiveServices/*"]),
    "Cognitive Services OpenAI Contributor": ("a001fd3d-188f-4b5d-821b-7da978bf7442", "Full access including the "
                                              "ability to fine-tune, deploy and generate text",
                                              ["Microsoft.CognitiveServices/*/read"],
                                              ["Microsoft.CognitiveServices/accounts/OpenAI/*"]),
}
# Azure RBAC for Kubernetes (AKS built-in roles, real GUIDs; Reader's and Writer's data actions abridged to
# the kinds the sandbox's Kubernetes API serves). NOT_DATA_ACTIONS: what a role's dataActions exclude.
_AKS = "Microsoft.ContainerService/managedClusters/"
BUILTIN_ROLES.update({
    "Azure Kubernetes Service RBAC Reader": (
        "7f6c6a51-bcf8-42ba-9220-52d62157d7db", "Allows read-only access to see most objects in a namespace. It does "
        "not allow viewing roles or role bindings. This role does not allow viewing Secrets, since reading the "
        "contents of Secrets enables access to ServiceAccount credentials in the namespace, which would allow API "
        "access as any ServiceAccount in the namespace (a form of privilege escalation). Applying this role at "
        "cluster scope will give access across all namespaces.",
        ["Microsoft.Authorization/*/read", "Microsoft.Resources/subscriptions/operationresults/read",
         "Microsoft.Resources/subscriptions/read", "Microsoft.Resources/subscriptions/resourceGroups/read"],
        [_AKS + r for r in ("batch/jobs/read", "configmaps/read", "events/read", "namespaces/read", "pods/read",
                            "serviceaccounts/read")]),
    "Azure Kubernetes Service RBAC Writer": (
        "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb", "Allows read/write access to most objects in a namespace.This role "
        "does not allow viewing or modifying roles or role bindings. However, this role allows accessing Secrets and "
        "running Pods as any ServiceAccount in the namespace, so it can be used to gain the API access levels of any "
        "ServiceAccount in the namespace. Applying this role at cluster scope will give access across all "
        "namespaces.",
        ["Microsoft.Authorization/*/read", "Microsoft.Resources/subscriptions/operationresults/read",
         "Microsoft.Resources/subscriptions/read", "Microsoft.Resources/subscriptions/resourceGroups/read"],
        [_AKS + r for r in ("batch/jobs/*", "configmaps/*", "events/*", "namespaces/read", "pods/*", "secrets/*",
                            "serviceaccounts/*")]),
    "Azure Kubernetes Service RBAC Admin": (
        "3498e952-d568-435e-9b2c-8d77e338d7f7", "Lets you manage all resources under cluster/namespace, except "
        "update or delete resource quotas and namespaces.",
        ["Microsoft.Authorization/*/read", "Microsoft.Resources/subscriptions/operationresults/read",
         "Microsoft.Resources/subscriptions/read", "Microsoft.Resources/subscriptions/resourceGroups/read",
         "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action"],
        [_AKS + "*"]),
    "Azure Kubernetes Service RBAC Cluster Admin": (
        "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b", "Lets you manage all resources in the cluster.",
        ["Microsoft.Authorization/*/read", "Microsoft.Resources/subscriptions/operationresults/read",
         "Microsoft.Resources/subscriptions/read", "Microsoft.Resources/subscriptions/resourceGroups/read",
         "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action"],
        [_AKS + "*"]),
})
NOT_DATA_ACTIONS = {
    "Azure Kubernetes Service RBAC Admin": [_AKS + "resourcequotas/write", _AKS + "resourcequotas/delete",
                                            _AKS + "namespaces/write", _AKS + "namespaces/delete"],
}
ROLE_BY_GUID = {v[0]: k for k, v in BUILTIN_ROLES.items()}


class PermissionsHandler(common.ResourceHandler):
    """GET {scope}/providers/Microsoft.Authorization/permissions: the caller's effective actions at the scope. The
    sandbox's caller may do everything (actions ["*"]) but what a denial (sandbox/arm/denials.py) takes away at the
    scope or above it (notActions)."""
    type_name = "Microsoft.Authorization/permissions"
    api_versions = tuple(PERMISSION_API_VERSIONS)
    strict_api_versions = True
    list_by_subscription = True
    list_by_resource_group = True

    def list(self, req, items):
        from sandbox.arm import denials as denials_mod
        scope = req.path.split("?")[0].rsplit("/providers/Microsoft.Authorization/permissions", 1)[0].lower()
        not_actions = []
        for rule in denials_mod.attach(self.state).list():
            prefix = (rule.get("scope") or "").rstrip("/").lower()
            if not prefix or scope == prefix or scope.startswith(prefix + "/"):
                not_actions.append(rule["action"])
        return Response(200, {"value": [{"actions": ["*"], "notActions": sorted(set(not_actions)),
                                         "dataActions": [], "notDataActions": []}]})


def register(registry):
    registry.add(RoleDefinitionHandler)
    registry.add(RoleAssignmentHandler)
    registry.add(PermissionsHandler)
    registry.namespace(NS, {"operations": ASSIGN_API_VERSIONS, "permissions": PERMISSION_API_VERSIONS,
                            "denyAssignments": ASSIGN_API_VERSIONS})


def assignments_store(state):
    """Role assignments by lower-cased id. They live beside ``state.resources`` (not in it) so that the
    ``/resources`` listings, which show every top-level resource of a group, do not show them (ARM does not)."""
    with state.lock:
        return state.meta_of("_sandbox/authorization").setdefault("roleAssignments", {})


def list_assignments(state, principal_id=None):
    """Copies of the role assignments (optionally of one principal), sorted by id."""
    with state.lock:
        out = [copy.deepcopy(r) for r in assignments_store(state).values()
               if principal_id is None or r["properties"]["principalId"].lower() == principal_id.lower()]
    return sorted(out, key=lambda r: r["id"].lower())


def role_definition_id(sub, guid):
    return f"/subscriptions/{sub}/providers/{DEF_TYPE}/{guid}"


def role_definition(sub, name):
    guid, description, actions, data_actions = BUILTIN_ROLES[name]
    not_actions = ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                   "Microsoft.Authorization/elevateAccess/Action"] if name == "Contributor" else []
    return {
        "id": role_definition_id(sub, guid), "type": DEF_TYPE, "name": guid,
        "properties": {"roleName": name, "type": "BuiltInRole", "description": description,
                       "assignableScopes": ["/"],
                       "permissions": [{"actions": list(actions), "notActions": not_actions,
                                        "dataActions": list(data_actions),
                                        "notDataActions": list(NOT_DATA_ACTIONS.get(name, []))}],
                       "createdOn": "2015-02-02T21:55:09.8806423Z", "updatedOn": "2024-01-01T00:00:00.0000000Z",
                       "createdBy": None, "updatedBy": None},
    }


def seed_assignment(state, scope, principal_id, role_name, principal_type="ServicePrincipal"):
    """Store a role assignment of built-in ``role_name`` to ``principal_id`` at ``scope`` (as a seed: no
    request); returns a copy. The same triple gives the same assignment (its name is derived from it)."""
    guid = BUILTIN_ROLES[role_name][0]
    name = stable_guid(scope, principal_id, guid, "seeded-assignment")
    rid = f"{scope.rstrip('/')}/providers/{ASSIGN_TYPE}/{name}"
    now = iso()
    res = {"id": rid, "type": ASSIGN_TYPE, "name": name,
           "properties": {"roleDefinitionId": role_definition_id(state.sb.subscription_id, guid),
                          "principalId": principal_id, "principalType": principal_type, "scope": scope.rstrip("/"),
                          "condition": None, "conditionVersion": None, "createdOn": now, "updatedOn": now,
                          "createdBy": None, "updatedBy": None, "delegatedManagedIdentityResourceId": None,
                          "description": None}}
    with state.lock:
        assignments_store(state)[rid.lower()] = res
        return copy.deepcopy(res)


def role_guid(role_definition_id_value):
    """The guid at the end of a role definition id (or a bare guid), lower-cased; ``None`` if none."""
    last = str(role_definition_id_value or "").rstrip("/").rsplit("/", 1)[-1]
    return last.lower() if GUID_RE.match(last) else None


def _filter_terms(req):
    flt = (req.query.get("$filter") or "").strip()
    return [t.strip() for t in re.split(r"\s+and\s+", flt, flags=re.I) if t.strip()] if flt else []


def _quoted(term):
    m = re.search(r"'([^']*)'", term)
    return m.group(1) if m else None


def _within(inner, outer):
    """Whether scope ``inner`` is ``outer`` or below it."""
    inner, outer = inner.lower().rstrip("/"), outer.lower().rstrip("/")
    return inner == outer or inner.startswith(outer + "/") or outer == ""


class RoleDefinitionHandler(common.ResourceHandler):
    type_name = DEF_TYPE
    api_versions = tuple(DEF_API_VERSIONS)
    strict_api_versions = True

    def get(self, req, ref):
        name = ROLE_BY_GUID.get((ref.name or "").lower())
        if name is None:
            raise arm_error(404, "RoleDefinitionDoesNotExist",
                            f"The specified role definition with ID '{ref.name}' does not exist.")
        return Response(200, role_definition(self.sb.subscription_id, name))

    def list(self, req, items):
        out = [role_definition(self.sb.subscription_id, n) for n in BUILTIN_ROLES]
        for term in _filter_terms(req):
            value = _quoted(term)
            low = term.lower()
            if low.startswith("rolename"):
                out = [d for d in out if d["properties"]["roleName"].lower() == (value or "").lower()]
            elif low.startswith("type"):
                out = [d for d in out if d["properties"]["type"].lower() == (value or "").lower()]
            else:
                raise arm_error(400, "BadRequest", f"The filter '{req.query.get('$filter')}' is not supported.")
        return Response(200, {"value": out})


class RoleAssignmentHandler(common.ResourceHandler):
    type_name = ASSIGN_TYPE
    methods = frozenset({"GET", "PUT", "DELETE"})
    api_versions = tuple(ASSIGN_API_VERSIONS)
    strict_api_versions = True

    def _store(self):
        return assignments_store(self.state)

    def _all(self):
        return list(self._store().values())

    def get(self, req, ref):
        with self.state.lock:
            res = self._store().get(ref.id.lower())
            if res is None:
                raise arm_error(404, "RoleAssignmentNotFound", f"The role assignment '{ref.name}' is not found.")
            return Response(200, self.render(res, req))

    def _principal_type(self, principal_id):
        for r in self.state.resources.values():
            if (r.get("type", "").lower() == "microsoft.managedidentity/userassignedidentities"
                    and (r.get("properties") or {}).get("principalId", "").lower() == principal_id.lower()):
                return "ServicePrincipal"
        return "User"

    def _known_principal(self, principal_id):
        """Whether the sandbox's directory has ``principal_id``: an identity's principal (user-assigned, a cluster's
        kubelet / add-on / control-plane identity: any ``principalId`` / ``objectId`` in a stored resource), one that
        already holds a role assignment, or one added with :func:`add_principal` (/_sandbox/arm/principals)."""
        needle = principal_id.lower()
        if any(r["properties"]["principalId"].lower() == needle for r in self._all()):
            return True
        if needle in {p.lower() for p in self.state.meta_of(DIRECTORY_KEY).get("principals", ())}:
            return True

        def holds(obj):
            if isinstance(obj, dict):
                return any((k in ("principalId", "objectId") and str(v).lower() == needle) or holds(v)
                           for k, v in obj.items())
            if isinstance(obj, list):
                return any(holds(v) for v in obj)
            return False
        return any(holds(r) for r in self.state.resources.values())

    def put(self, req, ref, body):
        if not GUID_RE.match(ref.name or ""):
            raise arm_error(400, "InvalidRoleAssignmentId",
                            f"The role assignment ID '{ref.name}' is not valid. The role assignment ID must be a GUID.")
        props = body.get("properties") or {}
        principal = str(props.get("principalId") or "")
        if not principal:
            raise arm_error(400, "InvalidRequestContent", "The request content was invalid: principalId is required.")
        guid = role_guid(props.get("roleDefinitionId"))
        if guid is None or guid not in ROLE_BY_GUID:
            raise arm_error(400, "RoleDefinitionDoesNotExist",
                            f"The specified role definition with ID '{guid or props.get('roleDefinitionId')}' "
                            "does not exist.")
        scope = ref.scope
        with self.state.lock:
            existing = self._store().get(ref.id.lower())
            if existing is not None:
                ep = existing["properties"]
                if (ep["principalId"].lower() != principal.lower() or role_guid(ep["roleDefinitionId"]) != guid
                        or ep["scope"].lower() != scope.lower()):
                    raise arm_error(400, "RoleAssignmentUpdateNotPermitted",
                                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
                return Response(201, self.render(existing, req))
            for other in self._all():
                op = other["properties"]
                if (op["scope"].lower() == scope.lower() and op["principalId"].lower() == principal.lower()
                        and role_guid(op["roleDefinitionId"]) == guid):
                    raise arm_error(409, "RoleAssignmentExists", "The role assignment already exists. The ID of the "
                                    f"existing role assignment is {other['name'].replace('-', '').lower()}.")
            # Without principalType ARM looks the principal up in the directory: one nobody knows is refused. With
            # it the lookup is skipped (what https://aka.ms/docs-principaltype advises after creating a principal;
            # terraform-provider-azurerm#25506: a wrong id is then accepted).
            if managedidentity.principal_not_replicated(self.state, principal) or (
                    not props.get("principalType") and not self._known_principal(principal)):
                raise arm_error(400, "PrincipalNotFound",
                                f"Principal {principal.replace('-', '')} does not exist in the directory "
                                f"{self.sb.tenant_id}. Check that you have the correct principal ID. If you are "
                                "creating this principal and then immediately assigning a role, this error might be "
                                "related to a replication delay. In this case, set the role assignment principalType "
                                "property to a value, such as ServicePrincipal, User, or Group.  See "
                                "https://aka.ms/docs-principaltype")
            now = iso()
            caller = stable_guid(common.caller_of(req, self.sb)[0], "object-id")
            res = {
                "id": ref.id, "type": ASSIGN_TYPE, "name": ref.name,
                "properties": {
                    "roleDefinitionId": role_definition_id(self.sb.subscription_id, guid),
                    "principalId": principal,
                    "principalType": props.get("principalType") or self._principal_type(principal),
                    "scope": scope, "condition": props.get("condition"),
                    "conditionVersion": props.get("conditionVersion"), "createdOn": now, "updatedOn": now,
                    "createdBy": caller, "updatedBy": caller,
                    "delegatedManagedIdentityResourceId": props.get("delegatedManagedIdentityResourceId"),
                    "description": props.get("description"),
                },
            }
            self._store()[ref.id.lower()] = res
            return Response(201, self.render(res, req))

    def delete(self, req, ref):
        with self.state.lock:
            res = self._store().pop(ref.id.lower(), None)
            if res is None:
                return Response(204)
            return Response(200, copy.deepcopy(res))

    def list(self, req, items):
        ref = common.parse_path(req.path)
        scope = ref.scope
        at_scope = False
        principal = None
        for term in _filter_terms(req):
            low = term.lower().replace(" ", "")
            if low == "atscope()":
                at_scope = True
            elif low.startswith("principalideq") or low.startswith("assignedto("):
                principal = (_quoted(term) or "").lower()
            else:
                raise arm_error(400, "UnsupportedQuery", f"The filter '{req.query.get('$filter')}' is not supported.")
        with self.state.lock:
            out = []
            for r in self._all():
                s = r["properties"]["scope"]
                if not (_within(scope, s) or (not at_scope and _within(s, scope))):
                    continue
                if principal is not None and r["properties"]["principalId"].lower() != principal:
                    continue
                out.append(self.render(r, req))
        return Response(200, {"value": sorted(out, key=lambda x: x["id"].lower())})
