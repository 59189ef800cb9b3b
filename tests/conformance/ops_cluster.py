# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The operations on the cluster side: AKS, its extensions, Service Connector linkers, the identity and its
federated credentials, role assignments, permissions, resource providers and the cluster's egress IP."""
import uuid

from tests.conformance.ops import NOWHERE, SUB, Op, ex, missing, rec, sibling

ISSUER = "https://eastus.oic.prod-aks.azure.com/00000000-0000-0000-0000-000000000001/conformance/"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
OIDC_REC = rec("acs", "test_aks_update_with_oidc_issuer_enabled")
LINKER_REC = rec("serviceconnector", "test_kubernetes_storageblob_workload_identity_e2e")
FIC_REC = rec("identity", "test_federated_identity_credential")
ROLE_REC = rec("role", "test_role_assignment_create_update")
AKS_EX = "containerservice/resource-manager/Microsoft.ContainerService/aks/stable/2024-05-01/examples/"
MSI_EX = "msi/resource-manager/Microsoft.ManagedIdentity/stable/2023-01-31/examples/"
AUTH_EX = "authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/examples/"


def cluster(env, ctx):
    return env.seeds["cluster"]["id"]


def identity(env, ctx):
    return env.seeds["identities"]["sandbox-identity"]


def account(env, ctx):
    return env.seeds["targets"]["storage-blob"].split("/blobServices", 1)[0]


def linker(env, ctx):
    return cluster(env, ctx) + "/providers/Microsoft.ServiceLinker/linkers/conformance_blob"


def cluster_update(env):
    """The body of the extension's managed-cluster PUT: the cluster as read, OIDC issuer and workload identity on,
    If-Match its ETag (ctx: body, etag)."""
    got = env.call("GET", cluster(env, None), "2026-06-01")
    body = got.json()
    body["properties"]["oidcIssuerProfile"] = {"enabled": True}
    body["properties"].setdefault("securityProfile", {})["workloadIdentity"] = {"enabled": True}
    return {"body": body, "headers": {"If-Match": got.headers["ETag"]}}


def cluster_operation(env):
    """A managed-cluster update started, its Azure-AsyncOperation URL in ctx["url"]."""
    ctx = cluster_update(env)
    put = env.call("PUT", cluster(env, None), "2026-06-01", ctx["body"], ctx["headers"])
    return {"url": put.headers["Azure-AsyncOperation"]}


def linker_operation(env):
    return {"url": env.linker_put.headers["Azure-AsyncOperation"]}


def egress_ip(env, ctx):
    got = env.call("GET", cluster(env, ctx), "2026-06-01").json()
    return got["properties"]["networkProfile"]["loadBalancerProfile"]["effectiveOutboundIPs"][0]["id"]


def new_assignment(env, ctx):
    return account(env, ctx) + f"/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"


def assignment_body(env, ctx):
    principal = env.call("GET", identity(env, ctx), "2024-11-30").json()["properties"]["principalId"]
    return {"properties": {"roleDefinitionId": f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/{READER}",
                           "principalId": principal, "principalType": "ServicePrincipal"}}


def fic_body(subject):
    return {"properties": {"issuer": ISSUER, "subject": subject, "audiences": ["api://AzureADTokenExchange"]}}


LINKER_BODY = {"properties": {"targetService": {"type": "AzureResource"}, "authInfo": {"authType": "secret"},
                              "clientType": "none", "scope": "default"}}
# No recording of these linkers was found: the body is the built-in's (azure-cli serviceconnector custom.py
# connection_create / connection_create_kafka, action.py AddSecretAuthInfo), the shapes servicelinker.json's.
USER_SECRET_SOURCE = ("none: no recording of a database or partner linker found; checked against Azure/azure-cli "
                      "src/azure-cli/azure/cli/command_modules/serviceconnector/custom.py (the body the built-in sends)"
                      " and Azure/azure-rest-api-specs specification/servicelinker/resource-manager/"
                      "Microsoft.ServiceLinker/preview/2024-07-01-preview/servicelinker.json (SecretAuthInfo, "
                      "ValueSecretInfo, ConfluentBootstrapServer)")


def _secret(name):
    return {"authType": "secret", "name": name, "secretInfo": {"secretType": "rawValue", "value": "conformance-pw"}}


def user_secret_linker(env):
    env.linker_done()
    return {"body": {"properties": {"targetService": {"type": "AzureResource",
                                                      "id": env.seeds["targets"]["postgres-flexible"]},
                                    "authInfo": _secret("sandboxadmin"), "clientType": "python", "scope": "default"}}}


def confluent_linker(env):
    env.linker_done()
    return {"body": {"properties": {"targetService": {"type": "ConfluentBootstrapServer",
                                                      "endpoint": "pkc-x.eastus.azure.confluent.cloud:9092"},
                                    "authInfo": _secret("kafkakey"), "clientType": "python", "scope": "default"}}}


OPS = [
    Op("GET managedClusters", "GET", cluster, "2026-06-01", 200, None,
       ["id", "location", "eTag", "properties.provisioningState", "properties.oidcIssuerProfile.enabled",
        "properties.identityProfile.kubeletidentity.objectId", "properties.networkProfile.outboundType"],
       missing(sibling(cluster, "no-such-cluster")),
       OIDC_REC + "; " + ex(AKS_EX + "ManagedClustersGet.json"),
       what="ids with /resourcegroups/; 404 ResourceNotFound naming the cluster and its group"),
    Op("PUT managedClusters (update, If-Match)", "PUT", cluster, "2026-06-01", 200, "async",
       ["properties.provisioningState"],
       ("PUT", cluster, "2026-06-01", "ctx:body", 412, "PreconditionFailed"), OIDC_REC,
       body="ctx:body", setup=cluster_update,
       what="200 + Azure-AsyncOperation only (no Location, no Retry-After), Updating; a stale If-Match: 412"),
    Op("GET AKS operation status", "GET", lambda env, ctx: ctx["url"], None, 200, "silent",
       ["name", "status", "startTime"],
       missing(lambda env, ctx: "/subscriptions/" + ctx["url"].split("?")[0].split("/subscriptions/", 1)[1]
               .rsplit("/", 1)[0] + f"/{uuid.uuid4()}", code="OperationNotFound", api="2026-06-01"),
       OIDC_REC, setup=cluster_operation, what="{name, status, startTime}, no Retry-After"),
    Op("POST listClusterUserCredential", "POST", lambda env, ctx: cluster(env, ctx) + "/listClusterUserCredential",
       "2026-06-01", 200, None, ["kubeconfigs.0.name", "kubeconfigs.0.value"],
       ("POST", lambda env, ctx: cluster(env, ctx) + "/listClusterUserCredential", NOWHERE, None, 400,
        "NoRegisteredProviderFound"),
       ex(AKS_EX + "ManagedClustersListClusterUserCredentials.json"),
       what="kubeconfigs[{name, value}]; an api-version AKS lacks: 400"),
    Op("GET permissions (any scope)", "GET",
       lambda env, ctx: cluster(env, ctx) + "/providers/Microsoft.Authorization/permissions", "2022-04-01", 200,
       None, ["value.0.actions", "value.0.notActions", "value.0.dataActions", "value.0.notDataActions"],
       ("GET", lambda env, ctx: cluster(env, ctx) + "/providers/Microsoft.Authorization/permissions", NOWHERE,
        None, 400, "NoRegisteredProviderFound"),
       "none: no recording or example found; checked against authorization-Permissions.json's Permission schema",
       what="value[{actions, notActions, dataActions, notDataActions}]"),
    Op("PUT linkers (Service Connector engine)", "PUT", linker, "2024-07-01-preview", 201, "async",
       ["properties.provisioningState", "properties.targetService.id", "properties.authInfo.authType"],
       ("PUT", linker, NOWHERE, LINKER_BODY, 400, "NoRegisteredProviderFound"), LINKER_REC,
       body="linker", setup=lambda env: env.linker_done(),
       what="201 + azure-asyncoperation only (no Retry-After); an api-version it lacks: 400"),
    Op("PUT linkers, the user's secret (databases, partners)", "PUT", sibling(linker, "conformance_pg"),
       "2024-07-01-preview", 201, "async", ["properties.provisioningState", "properties.authInfo.name"],
       ("PUT", sibling(linker, "conformance_pg"), NOWHERE, "ctx:body", 400, "NoRegisteredProviderFound"),
       USER_SECRET_SOURCE, body="ctx:body", setup=user_secret_linker,
       what="201 + azure-asyncoperation only; authInfo.name kept, the secret never answered; an api-version it "
            "lacks: 400"),
    Op("PUT linkers, Confluent (no target id)", "PUT", sibling(linker, "conformance_kafka"), "2024-07-01-preview",
       201, "async", ["properties.provisioningState", "properties.targetService.type",
                      "properties.targetService.endpoint"],
       ("PUT", sibling(linker, "conformance_kafka"), NOWHERE, "ctx:body", 400, "NoRegisteredProviderFound"),
       USER_SECRET_SOURCE, body="ctx:body", setup=confluent_linker,
       what="201 + azure-asyncoperation only; targetService {type: ConfluentBootstrapServer, endpoint}; an "
            "api-version it lacks: 400"),
    Op("GET linker operation status", "GET", lambda env, ctx: ctx["url"], None, 200, "silent",
       ["status", "startTime"], None, LINKER_REC, setup=linker_operation,
       what="{id, name, resourceId, status, startTime}, no Retry-After (refusal: none the extension can meet)"),
    Op("GET linkers", "GET", linker, "2024-07-01-preview", 200, None,
       ["properties.provisioningState", "properties.targetService.id", "properties.authInfo.authType"],
       missing(sibling(linker, "no_such_linker")), LINKER_REC, setup=lambda env: env.linker_done(),
       what="the linker as written; a missing one: 404"),
    Op("GET extensions (sc-extension)", "GET",
       lambda env, ctx: cluster(env, ctx) + "/providers/Microsoft.KubernetesConfiguration/extensions/sc-extension",
       "2023-05-01", 200, None, ["properties.extensionType", "properties.provisioningState"],
       missing(lambda env, ctx: cluster(env, ctx) + "/providers/Microsoft.KubernetesConfiguration/extensions/nope"),
       ex("kubernetesconfiguration/resource-manager/Microsoft.KubernetesConfiguration/stable/2023-05-01/examples/"
          "GetExtension.json"), setup=lambda env: env.linker_done(),
       what="extensionType, provisioningState; a missing extension: 404"),
    Op("DELETE linkers", "DELETE", linker, "2024-07-01-preview", 202, "async+location",
       [], ("DELETE", linker, NOWHERE, None, 400, "NoRegisteredProviderFound"), LINKER_REC,
       setup=lambda env: env.linker_done(), what="202 + azure-asyncoperation and location, no Retry-After"),
    Op("GET provider (registration)", "GET", lambda env, ctx: f"{SUB}/providers/Microsoft.ServiceLinker",
       "2024-11-01", 200, None, ["namespace", "registrationState"],
       missing(lambda env, ctx: f"{SUB}/providers/Microsoft.NoSuchProvider", status=400,
               code="InvalidResourceNamespace"),
       ex("resources/resource-manager/Microsoft.Resources/stable/2021-04-01/examples/GetProvider.json"),
       what="namespace, registrationState"),
    Op("GET userAssignedIdentities", "GET", identity, "2024-11-30", 200, None,
       ["id", "properties.principalId", "properties.clientId", "properties.tenantId"],
       missing(sibling(identity, "no-such-identity")),
       LINKER_REC + "; " + ex(MSI_EX + "IdentityGet.json"),
       what="properties{tenantId, principalId, clientId}, id with /resourcegroups/"),
    Op("GET federatedIdentityCredentials (list)", "GET",
       lambda env, ctx: identity(env, ctx) + "/federatedIdentityCredentials", "2024-11-30", 200, None, ["value"],
       ("GET", lambda env, ctx: identity(env, ctx) + "/federatedIdentityCredentials", NOWHERE, None, 400,
        "NoRegisteredProviderFound"),
       FIC_REC + "; " + ex(MSI_EX + "FederatedIdentityCredentialList.json"), what="value[]"),
    Op("PUT federatedIdentityCredentials", "PUT",
       lambda env, ctx: identity(env, ctx) + "/federatedIdentityCredentials/conformance-fic", "2024-11-30", 201,
       None, ["id", "name", "type", "properties.issuer", "properties.subject", "properties.audiences"],
       ("PUT", lambda env, ctx: identity(env, ctx) + "/federatedIdentityCredentials/conformance-dup", "2024-11-30",
        fic_body("system:serviceaccount:conformance:sa"), 400, "BadRequest"),
       FIC_REC + "; " + ex(MSI_EX + "FederatedIdentityCredentialCreate.json"),
       body=fic_body("system:serviceaccount:conformance:sa"),
       what="201 {id, name, type, properties{issuer, subject, audiences}}; same issuer+subject again: 400"),
    Op("GET roleAssignments ($filter)", "GET",
       lambda env, ctx: account(env, ctx) + "/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()",
       "2022-04-01", 200, None, ["value"],
       ("GET", lambda env, ctx: account(env, ctx) + "/providers/Microsoft.Authorization/roleAssignments", NOWHERE,
        None, 400, "NoRegisteredProviderFound"),
       ROLE_REC + "; " + ex(AUTH_EX + "RoleAssignments_ListForScope.json"), what="value[]"),
    Op("PUT roleAssignments", "PUT", lambda env, ctx: ctx["id"], "2022-04-01", 201, None,
       ["properties.roleDefinitionId", "properties.principalId", "properties.principalType", "properties.scope"],
       ("PUT", new_assignment, "2022-04-01", "ctx:body", 409, "RoleAssignmentExists"),
       ROLE_REC + "; " + ex(AUTH_EX + "RoleAssignments_CreateForResource.json"),
       body="ctx:body", setup=lambda env: {"id": new_assignment(env, None), "body": assignment_body(env, None)},
       what="201 with the assignment's properties; the same role+principal+scope under another name: 409"),
    Op("GET publicIPAddresses (cluster egress)", "GET", egress_ip, "2024-05-01", 200,
       None, ["properties.ipAddress"], missing(sibling(egress_ip, "no-such-ip")),
       ex("network/resource-manager/Microsoft.Network/stable/2024-05-01/examples/PublicIpAddressGet.json"),
       what="properties.ipAddress; a missing one: 404"),
    Op("GET virtualNetworks/subnets (node pools' own subnet)", "GET", lambda env, ctx: ctx["subnetId"], "2024-05-01",
       200, None, ["properties.serviceEndpoints.0.service", "properties.serviceEndpoints.0.provisioningState"],
       missing(lambda env, ctx: ctx["subnetId"].rsplit("/virtualNetworks/", 1)[0] + "/virtualNetworks/no-such-vnet"
               "/subnets/nodes", code="ParentResourceNotFound"),
       ex("network/resource-manager/Microsoft.Network/stable/2024-05-01/examples/SubnetGet.json"),
       setup=lambda env: node_subnet(env, "local-accounts", ["Microsoft.Storage"]),
       what="properties.serviceEndpoints[{service, provisioningState}]; a subnet of a missing VNet: 404 "
            "ParentResourceNotFound"),
]


def node_subnet(env, kind, endpoints):
    """The node pools of a seeded cluster on a subnet of the user's own VNet with ``endpoints`` (the sandbox's
    control API); {"subnetId", ...}."""
    c = env.seeds["clusters"][kind]
    got = env.call("PUT", f"/_sandbox/arm/clusters/{c['resourceGroup']}/{c['name']}/node-subnet", None,
                   {"serviceEndpoints": endpoints})
    assert got.status_code == 200, got.text
    return got.json()
