# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The sandbox's Service Connector resource provider (sandbox/arm/servicelinker.py), driven by Microsoft's own SDK
(azure-mgmt-servicelinker, as azure-cli ships it) and by raw requests: the wire behaviour of Microsoft's recordings
(status codes, headers, shapes, operation-status URLs polled verbatim, no Retry-After unless switched on) and what
the service leaves behind: sc-extension through the sandbox's extension machinery, the cluster's OIDC issuer /
workload identity / Key Vault add-on, federated credential, role assignments, firewall rules, and the Secret /
ServiceAccount in the cluster (read from the cluster's Kubernetes store).

One server for the module, seeded by the same ``sandbox.server.seed`` as ``python -m sandbox up``.
"""
import base64
import time
import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError

from sandbox import server
from sandbox.arm import authorization, servicelinker
from sandbox.kube import KubeRegistry
from tests.sandbox.armenv import arm_server

RG = server.TARGET_RG
CLUSTER_RG = server.CLUSTER_RG
ACCOUNT = server.STORAGE_ACCOUNT
SL = "providers/Microsoft.ServiceLinker/linkers"
API = "2024-07-01-preview"


@pytest.fixture(scope="module")
def env():
    seeds = {}

    def seed(arm):
        arm.sb.kube = KubeRegistry()
        seeds.update(server.seed(arm.sb, {}, None))

    with arm_server("arm-servicelinker-", 0.2, 50, seed) as ns:
        ns.seeds = seeds
        ns.targets = seeds["targets"]
        yield ns


def raw(env, method, url, body=None, api_version=API):
    if not url.startswith("http"):
        url = env.sb.arm_url + url
    if api_version and "api-version=" not in url:
        url += ("&" if "?" in url else "?") + f"api-version={api_version}"
    return requests.request(method, url, json=body, headers={"Authorization": "Bearer x"}, verify=env.ca,
                            timeout=10)


def sdk(env, api_version=None):
    from azure.mgmt.servicelinker import ServiceLinkerManagementClient
    kw = dict(env.kw)
    if api_version:
        kw["api_version"] = api_version
    return ServiceLinkerManagementClient(env.cred, polling_interval=0.05, **kw)


def new_cluster(env):
    name = "sl-" + uuid.uuid4().hex[:6]
    return env.sb.arm.add_managed_cluster(CLUSTER_RG, name)


def store_of(env, cluster):
    from sandbox.arm import containerservice
    return env.sb.kube.get(containerservice.kube_key_of(env.sb.arm, cluster["id"]))


def new_identity(env):
    return env.sb.arm.add_user_assigned_identity(CLUSTER_RG, "id-" + uuid.uuid4().hex[:6])


def poll(env, url, until=("Succeeded", "Failed", "Canceled"), timeout=20):
    """The answers of the operation-status URL, polled verbatim, until a terminal status."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = raw(env, "GET", url, api_version=None)
        seen.append(r)
        if r.json().get("status") in until:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"operation did not end: {seen[-1].json()}")


def blob_body(env, auth, scope="default", **extra):
    props = {"targetService": {"type": "AzureResource", "id": env.targets["storage-blob"]}, "authInfo": auth,
             "clientType": "python", "secretStore": {}, "scope": scope}
    props.update(extra)
    return {"properties": props}


def secret_data(store, namespace, name):
    obj = store.get("secrets", namespace, name)
    assert obj is not None, f"no Secret {namespace}/{name}"
    return {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}


def no_retry_headers(resp):
    return not any(h.lower() in ("retry-after", "retry-after-ms", "x-ms-retry-after-ms") for h in resp.headers)


# --------------------------------------------------------------------------- provider

def test_provider_is_registered_with_the_linker_type_and_can_be_unregistered(env):
    r = raw(env, "GET", f"/subscriptions/{env.sub}/providers/Microsoft.ServiceLinker", api_version="2021-04-01")
    assert r.status_code == 200, r.text
    assert r.json()["registrationState"] == "Registered"
    linkers = [t for t in r.json()["resourceTypes"] if t["resourceType"] == "linkers"]
    assert linkers and {"2024-07-01-preview", "2022-05-01"} <= set(linkers[0]["apiVersions"])
    cluster = new_cluster(env)
    env.sb.arm.set_provider_state("Microsoft.ServiceLinker", "NotRegistered")
    try:
        r = raw(env, "GET", f"{cluster['id']}/{SL}")
        # the code the built-in's auto_register reacts to (it then registers the provider and retries)
        assert r.status_code == 409 and r.json()["error"]["code"] == "SubscriptionNotRegistered", r.text
    finally:
        env.sb.arm.set_provider_state("Microsoft.ServiceLinker", "Registered")
    r = raw(env, "GET", f"{cluster['id']}/{SL}")
    assert r.status_code == 200 and r.json() == {"value": []}


def test_an_unknown_api_version_is_refused(env):
    cluster = new_cluster(env)
    r = raw(env, "GET", f"{cluster['id']}/{SL}", api_version="2020-01-01")
    assert r.status_code == 400 and r.json()["error"]["code"] == "NoRegisteredProviderFound"


# --------------------------------------------------------------------------- the recorded wire (raw requests)

def test_secret_linker_wire_as_recorded_2022_05_01(env):
    cluster = new_cluster(env)
    store = store_of(env, cluster)
    url = f"{cluster['id']}/{SL}/testconn"
    r = raw(env, "PUT", url, blob_body(env, {"authType": "secret"}), api_version="2022-05-01")
    assert r.status_code == 201, r.text
    assert "Location" not in r.headers and r.headers.get("ETag", "").startswith('"')
    assert no_retry_headers(r), dict(r.headers)
    async_url = r.headers["Azure-AsyncOperation"]
    assert f"/subscriptions/{env.sub}/providers/Microsoft.ServiceLinker/locations/EASTUS/operationStatuses/" in \
        async_url and "*" in async_url and "api-version=2021-01-01-privatepreview&t=" in async_url
    body = r.json()
    assert body["type"] == "microsoft.servicelinker/linkers" and body["name"] == "testconn"
    assert body["properties"]["provisioningState"] == "Accepted"
    assert body["properties"]["authInfo"] == {"name": None, "secretInfo": None, "authType": "secret"}
    assert body["properties"]["secretStore"] == {"keyVaultId": None}
    assert "publicNetworkSolution" not in body["properties"] and "etag" not in body
    assert set(body["systemData"]) >= {"createdBy", "createdByType", "createdAt", "lastModifiedAt"}

    answers = poll(env, async_url)
    assert answers[0].json()["status"] == "Accepted" and answers[0].status_code == 200
    assert all(no_retry_headers(a) for a in answers)
    final = answers[-1].json()
    assert final["status"] == "Succeeded", final
    assert final["resourceId"] == cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/testconn"
    assert final["properties"] == {"Message": None} and final["endTime"]

    got = raw(env, "GET", url, api_version="2022-05-01")
    assert got.status_code == 200 and got.json()["properties"]["provisioningState"] == "Succeeded"
    assert got.headers["ETag"]

    # sc-extension, as Service Connector installs it, through the sandbox's extension machinery
    ext = env.sb.arm.get(env.sb.arm.extension_id(CLUSTER_RG, cluster["name"], "sc-extension"))
    assert ext["properties"]["extensionType"] == "microsoft.servicelinker.connection"
    assert ext["properties"]["provisioningState"] == "Succeeded"
    assert ext["properties"]["scope"] == {"cluster": {"releaseNamespace": "sc-system"}}
    helm = store.list("secrets", "sc-system", label_selector={"owner": "helm", "name": "sc-extension"})
    assert [s["metadata"]["labels"]["status"] for s in helm] == ["deployed"]

    keys = env.sb.arm.meta_of(env.sb.arm.storage_account_id(RG, ACCOUNT))["keys"]
    values = secret_data(store, "default", "sc-testconn-secret")
    assert list(values) == ["AZURE_STORAGEBLOB_CONNECTIONSTRING"]
    assert f"AccountName={ACCOUNT};AccountKey={keys[0]['value']};" in values["AZURE_STORAGEBLOB_CONNECTIONSTRING"]

    r = raw(env, "POST", url + "/listConfigurations", api_version="2022-05-01")
    assert r.status_code == 200
    assert r.json() == {"configurations": [{"name": "AZURE_STORAGEBLOB_CONNECTIONSTRING", "value": ""}]}
    r = raw(env, "GET", f"{cluster['id']}/{SL}", api_version="2022-05-01")
    assert [x["name"] for x in r.json()["value"]] == ["testconn"]

    # validate: 202, null body, both headers at the same URL; the result in the final status
    r = raw(env, "POST", url + "/validateLinker", api_version="2022-05-01")
    assert r.status_code == 202 and r.content in (b"", b"null")
    assert r.headers["Location"] == r.headers["Azure-AsyncOperation"] and no_retry_headers(r)
    final = poll(env, r.headers["Location"])[-1].json()
    assert final["status"] == "Succeeded" and final["properties"]["isConnectionAvailable"] is True
    assert [d["name"] for d in final["properties"]["validationDetail"]] == [
        "Target resource existence validated.", "Target service firewall validated.",
        "Configured connection information validated."]
    assert final["properties"]["linkerName"] == "testconn" and final["properties"]["authType"] == "secret"

    # delete: 202 + both headers; the polls answer 202 "Deleting", then 200 Succeeded
    env.sb.lro_seconds["linkers"] = 0.4
    try:
        r = raw(env, "DELETE", url, api_version="2022-05-01")
    finally:
        env.sb.lro_seconds.pop("linkers")
    assert r.status_code == 202 and r.content in (b"", b"null")
    assert r.headers["Location"] == r.headers["Azure-AsyncOperation"]
    answers = poll(env, r.headers["Azure-AsyncOperation"])
    assert answers[0].status_code == 202 and answers[0].json()["status"] == "Deleting"
    assert answers[-1].status_code == 200 and answers[-1].json()["status"] == "Succeeded"
    assert answers[-1].json()["properties"] is None
    assert raw(env, "GET", url).status_code == 404
    assert raw(env, "DELETE", url).status_code == 204
    # as Service Connector does: the Kubernetes Secret stays
    assert store.get("secrets", "default", "sc-testconn-secret") is not None


def test_retry_after_is_switchable(env):
    cluster = new_cluster(env)
    url = f"{cluster['id']}/{SL}/retryconn"
    before = servicelinker.settings(env.sb.arm)["retryAfter"]
    servicelinker.settings(env.sb.arm)["retryAfter"] = 1
    try:
        r = raw(env, "PUT", url, blob_body(env, {"authType": "secret"}))
        assert r.status_code == 201 and r.headers.get("Retry-After") == "1"
        answers = poll(env, r.headers["Azure-AsyncOperation"])
        assert answers[0].headers.get("Retry-After") == "1"
        assert "Retry-After" not in answers[-1].headers          # none once the operation ended
    finally:
        servicelinker.settings(env.sb.arm)["retryAfter"] = before
    r = raw(env, "DELETE", url)
    assert "Retry-After" not in r.headers


def test_refusals(env):
    cluster = new_cluster(env)
    r = raw(env, "PUT", f"{cluster['id']}/{SL}/has-hyphen", blob_body(env, {"authType": "secret"}))
    assert r.status_code == 400 and "periods ('.'), and underscores ('_')" in r.json()["error"]["message"]
    body = blob_body(env, {"authType": "secret"})
    body["properties"]["targetService"]["id"] = env.targets["storage-blob"].split("/providers/")[0] + \
        "/providers/Microsoft.Web/sites/app1"      # not a target of AKS: not emulated
    r = raw(env, "PUT", f"{cluster['id']}/{SL}/cosmos", body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "SandboxNotEmulated"
    assert "storage-blob" in r.json()["error"]["message"]
    r = raw(env, "PUT", f"{cluster['id']}/{SL}/sysid", blob_body(env, {"authType": "systemAssignedIdentity"}))
    assert r.status_code == 400 and "not supported for Azure Kubernetes Service" in r.json()["error"]["message"]
    gone = f"{cluster['id'][:-8]}nosuchcl/{SL}/x"
    assert raw(env, "PUT", gone, blob_body(env, {"authType": "secret"})).status_code == 404
    assert raw(env, "POST", f"{cluster['id']}/{SL}/nosuch/listConfigurations").status_code == 404


# --------------------------------------------------------------------------- Microsoft's SDK

def test_workload_identity_with_the_sdk(env):
    cluster = new_cluster(env)
    store = store_of(env, cluster)
    ident = new_identity(env)
    client_id, principal = ident["properties"]["clientId"], ident["properties"]["principalId"]
    namespace = "apps-" + uuid.uuid4().hex[:4]
    client = sdk(env)
    linker = client.linker.begin_create_or_update(cluster["id"], "blob_wi", {
        "target_service": {"type": "AzureResource", "id": env.targets["storage-blob"]},
        "auth_info": {"auth_type": "userAssignedIdentity", "client_id": client_id, "subscription_id": env.sub},
        "client_type": "python", "scope": namespace, "public_network_solution": {},
        "configuration_info": {"configuration_store": {}}}).result()
    assert linker.provisioning_state == "Succeeded" and linker.scope == namespace
    assert linker.auth_info.client_id == client_id

    c = env.sb.arm.get(cluster["id"])["properties"]
    assert c["oidcIssuerProfile"]["enabled"] and c["oidcIssuerProfile"]["issuerURL"].startswith("https://")
    assert c["securityProfile"]["workloadIdentity"] == {"enabled": True}
    fics = [r for r in env.sb.arm.under(ident["id"]) if r["type"].endswith("federatedIdentityCredentials")]
    assert [f["properties"] for f in fics] == [{
        "issuer": c["oidcIssuerProfile"]["issuerURL"],
        "subject": f"system:serviceaccount:{namespace}:sc-account-{client_id}",
        "audiences": ["api://AzureADTokenExchange"]}]
    account_id = env.sb.arm.storage_account_id(RG, ACCOUNT)
    roles = [(a["properties"]["scope"], authorization.ROLE_BY_GUID[authorization.role_guid(
        a["properties"]["roleDefinitionId"])]) for a in env.sb.arm.role_assignments(principal)]
    assert roles == [(account_id, "Storage Blob Data Contributor")]

    sa = store.get("serviceaccounts", namespace, f"sc-account-{client_id}")
    assert sa["metadata"]["annotations"] == {"azure.workload.identity/client-id": client_id,
                                             "azure.workload.identity/tenant-id": env.sb.tenant_id}
    values = secret_data(store, namespace, "sc-blobwi-secret")     # "_" dropped
    assert values == {"AZURE_STORAGEBLOB_RESOURCEENDPOINT": f"https://{ACCOUNT}.blob.core.windows.net/",
                      "AZURE_STORAGEBLOB_CLIENTID": client_id}

    configs = client.linker.list_configurations(cluster["id"], "blob_wi").configurations
    assert [(x.name, x.value, x.config_type) for x in configs] == [
        ("AZURE_STORAGEBLOB_RESOURCEENDPOINT", f"https://{ACCOUNT}.blob.core.windows.net/", "Default"),
        ("AZURE_STORAGEBLOB_CLIENTID", client_id, "Default")]
    assert [x.name for x in client.linker.list(cluster["id"])] == ["blob_wi"]
    result = client.linker.begin_validate(cluster["id"], "blob_wi").result()
    assert result.status == "Succeeded" and result.is_connection_available
    assert [d.result for d in result.validation_detail] == ["success"] * 5

    # a second linker of the same identity in the same namespace reuses the credential
    client.linker.begin_create_or_update(cluster["id"], "blob_wi2", {
        "target_service": {"type": "AzureResource", "id": env.targets["storage-blob"]},
        "auth_info": {"auth_type": "userAssignedIdentity", "client_id": client_id, "subscription_id": env.sub},
        "client_type": "none", "scope": namespace}).result()
    assert len([r for r in env.sb.arm.under(ident["id"]) if r["type"].endswith("federatedIdentityCredentials")]) == 1
    helm = store.list("secrets", "sc-system", label_selector={"owner": "helm", "name": "sc-extension"})
    assert sorted(s["metadata"]["labels"]["status"] for s in helm) == ["deployed", "superseded"]   # sc-job re-ran
    client.linker.begin_delete(cluster["id"], "blob_wi").result()
    assert [x.name for x in client.linker.list(cluster["id"])] == ["blob_wi2"]
    assert store.get("serviceaccounts", namespace, f"sc-account-{client_id}") is not None


def test_keyvault_csi_with_the_sdk_at_2022_05_01(env):
    cluster = new_cluster(env)
    store = store_of(env, cluster)
    client = sdk(env, api_version="2022-05-01")
    vault = env.targets["keyvault"]
    linker = client.linker.begin_create_or_update(cluster["id"], "kvcsi", {
        "target_service": {"type": "AzureResource", "id": vault,
                           "resource_properties": {"type": "KeyVault", "connect_as_kubernetes_csi_driver": True}},
        "auth_info": {"auth_type": "userAssignedIdentity"}, "client_type": "python", "scope": "default"}).result()
    assert linker.provisioning_state == "Succeeded"
    addon = env.sb.arm.get(cluster["id"])["properties"]["addonProfiles"]["azureKeyvaultSecretsProvider"]
    assert addon["enabled"] and addon["identity"]["clientId"]
    roles = sorted(authorization.ROLE_BY_GUID[authorization.role_guid(a["properties"]["roleDefinitionId"])]
                   for a in env.sb.arm.role_assignments(addon["identity"]["objectId"])
                   if a["properties"]["scope"].lower() == vault.lower())
    assert roles == ["Key Vault Certificate User", "Key Vault Secrets User"]
    values = secret_data(store, "default", "sc-kvcsi-secret")
    assert values == {"AZURE_KEYVAULT_RESOURCEENDPOINT": f"https://{server.KEYVAULT_RBAC}.vault.azure.net/",
                      "AZURE_KEYVAULT_CLIENTID": addon["identity"]["clientId"],
                      "AZURE_KEYVAULT_SCOPE": "https://management.azure.com/.default"}
    assert store.list("serviceaccounts", "default", field_selector="metadata.name!=default") == []
    configs = client.linker.list_configurations(cluster["id"], "kvcsi").configurations
    assert [x.name for x in configs] == list(values)


def test_firewall_rule_for_the_cluster_egress(env):
    cluster = new_cluster(env)
    name = "slfw" + uuid.uuid4().hex[:6]
    account = env.sb.arm.add_storage_account(RG, name, None, None)
    env.sb.arm.patch_raw(account["id"], {"properties": {"networkAcls": {"defaultAction": "Deny"}}})
    body = blob_body(env, {"authType": "secret"})
    body["properties"]["targetService"]["id"] = account["id"] + "/blobServices/default"
    r = raw(env, "PUT", f"{cluster['id']}/{SL}/fw", body)
    assert r.status_code == 201, r.text
    assert poll(env, r.headers["Azure-AsyncOperation"])[-1].json()["status"] == "Succeeded"
    egress = env.sb.arm.cluster_egress(CLUSTER_RG, cluster["name"])["ips"]
    rules = env.sb.arm.get(account["id"])["properties"]["networkAcls"]["ipRules"]
    assert [r["value"] for r in rules] == egress and egress


def test_failed_extension_install_fails_the_linker_with_its_message(env):
    cluster = new_cluster(env)
    message = "Helm installation failed : sandbox says no"
    env.sb.arm.set_extension_install_outcome(CLUSTER_RG, cluster["name"], message)
    client = sdk(env)
    with pytest.raises(HttpResponseError) as raised:
        client.linker.begin_create_or_update(cluster["id"], "doomed", {
            "target_service": {"type": "AzureResource", "id": env.targets["storage-blob"]},
            "auth_info": {"auth_type": "secret"}, "client_type": "none", "scope": "default"}).result()
    assert message in str(raised.value)
    assert client.linker.get(cluster["id"], "doomed").provisioning_state == "Failed"
    assert store_of(env, cluster).get("secrets", "default", "sc-doomed-secret") is None
    env.sb.arm.clear_extension_install_outcome(CLUSTER_RG, cluster["name"])
    # the next attempt updates the failed extension, which now succeeds
    linker = client.linker.begin_create_or_update(cluster["id"], "doomed", {
        "target_service": {"type": "AzureResource", "id": env.targets["storage-blob"]},
        "auth_info": {"auth_type": "secret"}, "client_type": "none", "scope": "default"}).result()
    assert linker.provisioning_state == "Succeeded"


def test_busy_cluster_fails_the_linker_with_conflict(env):
    cluster = new_cluster(env)
    env.sb.arm.set_cluster_provisioning_state(CLUSTER_RG, cluster["name"], "Updating")
    try:
        with pytest.raises(HttpResponseError) as raised:
            sdk(env).linker.begin_create_or_update(cluster["id"], "busy", {
                "target_service": {"type": "AzureResource", "id": env.targets["storage-blob"]},
                "auth_info": {"auth_type": "secret"}, "client_type": "none", "scope": "default"}).result()
    finally:
        env.sb.arm.set_cluster_provisioning_state(CLUSTER_RG, cluster["name"], "Succeeded")
    assert "Operation returned an invalid status code 'Conflict'" in str(raised.value)


def test_an_upper_case_name_fails_as_kubernetes_refuses_the_secret_name(env):
    cluster = new_cluster(env)
    r = raw(env, "PUT", f"{cluster['id']}/{SL}/Blob_Upper", blob_body(env, {"authType": "secret"}))
    assert r.status_code == 201, r.text
    final = poll(env, r.headers["Azure-AsyncOperation"])[-1].json()
    assert final["status"] == "Failed"
    assert 'Secret "sc-BlobUpper-secret" is invalid' in final["error"]["message"]
    assert raw(env, "GET", f"{cluster['id']}/{SL}/Blob_Upper").json()["properties"]["provisioningState"] == "Failed"


# --------------------------------------------------------------------------- more targets (issue 24)

@pytest.mark.parametrize("target, prefix, role", [("servicebus", "AZURE_SERVICEBUS", "Azure Service Bus Data Owner"),
                                                  ("eventhub", "AZURE_EVENTHUB", "Azure Event Hubs Data Owner")])
def test_messaging_targets_workload_identity_and_secret(env, target, prefix, role):
    """Service Bus and Event Hubs on the Service Connector RP, as Microsoft documents them (how-to-integrate-service-bus
    / -event-hubs): workload identity -> <PREFIX>_FULLYQUALIFIEDNAMESPACE (<ns>.servicebus.windows.net) and
    <PREFIX>_CLIENTID, the Data Owner role on the namespace; secret -> <PREFIX>_CONNECTIONSTRING of the root rule."""
    cluster = new_cluster(env)
    store = store_of(env, cluster)
    ident = new_identity(env)
    client_id, principal = ident["properties"]["clientId"], ident["properties"]["principalId"]
    namespace_id = env.targets[target]
    ns_name = namespace_id.rsplit("/", 1)[-1]
    client = sdk(env)
    linker = client.linker.begin_create_or_update(cluster["id"], f"{target}_wi", {
        "target_service": {"type": "AzureResource", "id": namespace_id},
        "auth_info": {"auth_type": "userAssignedIdentity", "client_id": client_id, "subscription_id": env.sub},
        "client_type": "python", "scope": "default"}).result()
    assert linker.provisioning_state == "Succeeded"
    assert secret_data(store, "default", f"sc-{target}wi-secret") == {
        f"{prefix}_FULLYQUALIFIEDNAMESPACE": f"{ns_name}.servicebus.windows.net", f"{prefix}_CLIENTID": client_id}
    roles = [(a["properties"]["scope"], authorization.ROLE_BY_GUID[authorization.role_guid(
        a["properties"]["roleDefinitionId"])]) for a in env.sb.arm.role_assignments(principal)]
    assert roles == [(namespace_id, role)]

    client.linker.begin_create_or_update(cluster["id"], f"{target}_secret", {
        "target_service": {"type": "AzureResource", "id": namespace_id}, "auth_info": {"auth_type": "secret"},
        "client_type": "python", "scope": "default"}).result()
    keys = raw(env, "POST", f"{namespace_id}/authorizationRules/RootManageSharedAccessKey/listKeys",
               api_version="2024-01-01").json()
    assert secret_data(store, "default", f"sc-{target}secret-secret") == {
        f"{prefix}_CONNECTIONSTRING": keys["primaryConnectionString"]}
    configs = client.linker.list_configurations(cluster["id"], f"{target}_secret").configurations
    assert [(x.name, x.value) for x in configs] == [(f"{prefix}_CONNECTIONSTRING", "")]     # credentials blank


def _keys_of(env, target, auth, client_id, sp_secret="sp-secret-value"):
    """Create a linker of ``auth`` to ``target`` on a new cluster; (the Secret's data, the linker's principal)."""
    cluster = new_cluster(env)
    auth_info = {"secret": {"auth_type": "secret"},
                 "userAssignedIdentity": {"auth_type": "userAssignedIdentity", "client_id": client_id,
                                          "subscription_id": env.sub},
                 "servicePrincipalSecret": {"auth_type": "servicePrincipalSecret", "client_id": client_id,
                                            "principal_id": str(uuid.uuid4()), "secret": sp_secret}}[auth]
    linker = sdk(env).linker.begin_create_or_update(cluster["id"], "conn", {
        "target_service": {"type": "AzureResource", "id": env.targets[target]}, "auth_info": auth_info,
        "client_type": "python", "scope": "default"}).result()
    assert linker.provisioning_state == "Succeeded"
    return secret_data(store_of(env, cluster), "default", "sc-conn-secret")


APPCONFIG = "https://sandbox-appconfig.azconfig.io"
SIGNALR = "Endpoint=https://sandbox-signalr.service.signalr.net;"
MORE = [
    # how-to-integrate-app-configuration
    ("appconfig", "userAssignedIdentity", {"AZURE_APPCONFIGURATION_ENDPOINT": APPCONFIG,
                                           "AZURE_APPCONFIGURATION_CLIENTID": "{client}"}),
    ("appconfig", "secret", {"AZURE_APPCONFIGURATION_CONNECTIONSTRING": f"Endpoint={APPCONFIG};Id=*"}),
    # how-to-integrate-cognitive-services
    ("cognitiveservices", "userAssignedIdentity", {"AZURE_COGNITIVESERVICES_ENDPOINT": "https://*",
                                                   "AZURE_COGNITIVESERVICES_CLIENTID": "{client}"}),
    ("cognitiveservices", "secret", {"AZURE_COGNITIVESERVICES_ENDPOINT": "https://*",
                                     "AZURE_COGNITIVESERVICES_KEY": "*"}),
    # how-to-integrate-signalr: one connection string per auth type
    ("signalr", "userAssignedIdentity",
     {"AZURE_SIGNALR_CONNECTIONSTRING": SIGNALR + "AuthType=aad;ClientId={client};Version=1.0;"}),
    ("signalr", "secret", {"AZURE_SIGNALR_CONNECTIONSTRING": SIGNALR + "AccessKey=*"}),
    ("signalr", "servicePrincipalSecret",
     {"AZURE_SIGNALR_CONNECTIONSTRING": SIGNALR + "AuthType=aad;ClientId={client};ClientSecret=sp-secret-value;"
                                                  "TenantId=*"}),
    # how-to-integrate-web-pubsub
    ("webpubsub", "userAssignedIdentity", {"AZURE_WEBPUBSUB_HOST": "sandbox-webpubsub.webpubsub.azure.com",
                                           "AZURE_WEBPUBSUB_CLIENTID": "{client}"}),
    ("webpubsub", "secret", {"AZURE_WEBPUBSUB_CONNECTIONSTRING": "Endpoint=https://sandbox-webpubsub.webpubsub."
                                                                 "azure.com;AccessKey=*"}),
    # how-to-integrate-cosmos-sql / -db (MongoDB) / -table: the account's, whatever database the target names
    ("cosmos-sql", "userAssignedIdentity", {
        "AZURE_COSMOS_LISTCONNECTIONSTRINGURL": "https://management.azure.com/subscriptions/*",
        "AZURE_COSMOS_SCOPE": "https://management.azure.com/.default",
        "AZURE_COSMOS_RESOURCEENDPOINT": "https://sandbox-cosmos-sql.documents.azure.com:443/",
        "AZURE_COSMOS_CLIENTID": "{client}"}),
    ("cosmos-sql", "secret", {"AZURE_COSMOS_CONNECTIONSTRING": "AccountEndpoint=https://sandbox-cosmos-sql.documents."
                                                               "azure.com:443/;AccountKey=*"}),
    ("cosmos-mongo", "secret", {"AZURE_COSMOS_CONNECTIONSTRING": "mongodb://sandbox-cosmos-mongo:*"}),
    # how-to-integrate-redis-cache (python: a rediss:// URL), how-to-integrate-app-insights
    ("redis", "secret", {"AZURE_REDIS_CONNECTIONSTRING": "rediss://:*"}),
    ("app-insights", "secret", {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=*"}),
    ("redis-enterprise", "secret", {"AZURE_REDIS_CONNECTIONSTRING": "rediss://:*"}),
    ("cosmos-table", "secret", {"AZURE_COSMOS_CONNECTIONSTRING": "DefaultEndpointsProtocol=https;AccountName="
                                                                 "sandbox-cosmos-table;AccountKey=*"}),
]


@pytest.mark.parametrize("target, auth, expected", MORE)
def test_more_targets_write_the_documented_keys(env, target, auth, expected):
    client_id = new_identity(env)["properties"]["clientId"] if auth == "userAssignedIdentity" else str(uuid.uuid4())
    got = _keys_of(env, target, auth, client_id)
    assert sorted(got) == sorted(expected), got
    for key, want in expected.items():
        want = want.replace("{client}", client_id)
        if want.endswith("*"):
            assert got[key].startswith(want[:-1]) and len(got[key]) > len(want), (key, got[key])
        else:
            assert got[key] == want, (key, got[key])


# --------------------------------------------------------------------------- the targets whose secret is the user's

PW = "Pw-" + uuid.uuid4().hex          # the user's password: in the Secret, nowhere else


def _user_linker(env, target_service, client_type, name="sandboxadmin", secret=PW, extra=None, linker="conn"):
    """A secret linker with the user's credential, as the built-in sends it; (cluster, the Secret's data)."""
    cluster = new_cluster(env)
    body = {"properties": {"targetService": target_service, "clientType": client_type, "scope": "default",
                           "authInfo": {"authType": "secret", "name": name,
                                        "secretInfo": {"secretType": "rawValue", "value": secret}},
                           "configurationInfo": extra or {}}}
    r = raw(env, "PUT", f"{cluster['id']}/{SL}/{linker}", body)
    assert r.status_code == 201, r.text
    assert PW not in r.text
    assert poll(env, r.headers["Azure-AsyncOperation"])[-1].json()["status"] == "Succeeded"
    return cluster, secret_data(store_of(env, cluster), "default", f"sc-{linker.replace('_', '')}-secret")


def _host(env, target):
    server = env.targets[target].split("/")[8]
    return raw(env, "GET", env.targets[target].rsplit("/databases/", 1)[0], api_version={
        "postgres": "2017-12-01", "postgres-flexible": "2024-08-01", "mysql": "2017-12-01",
        "mysql-flexible": "2023-12-30", "sql": "2023-08-01"}[target]).json()["properties"].get(
        "fullyQualifiedDomainName") or server


USER_SECRET = [
    # how-to-integrate-postgres: per client type
    ("postgres-flexible", "python", lambda h: {
        "AZURE_POSTGRESQL_CONNECTIONSTRING": f"dbname=orders host={h} port=5432 sslmode=require user=sandboxadmin "
                                             f"password={PW}"}),
    ("postgres", "dotnet", lambda h: {    # single server: the login is user@server
        "AZURE_POSTGRESQL_CONNECTIONSTRING": f"Server={h};Database=orders;Port=5432;Ssl Mode=Require;User Id="
                                             f"sandboxadmin@{h.split('.')[0]};Password={PW};"}),
    ("postgres-flexible", "springBoot", lambda h: {
        "spring.datasource.url": f"jdbc:postgresql://{h}:5432/orders?sslmode=require",
        "spring.datasource.username": "sandboxadmin", "spring.datasource.password": PW}),
    # how-to-integrate-mysql
    ("mysql-flexible", "nodejs", lambda h: {
        "AZURE_MYSQL_HOST": h, "AZURE_MYSQL_USER": "sandboxadmin", "AZURE_MYSQL_PASSWORD": PW,
        "AZURE_MYSQL_DATABASE": "orders", "AZURE_MYSQL_PORT": "3306", "AZURE_MYSQL_SSL": "true"}),
    ("mysql", "java", lambda h: {
        "AZURE_MYSQL_CONNECTIONSTRING": f"jdbc:mysql://{h}:3306/orders?sslmode=required&user=sandboxadmin@"
                                        f"{h.split('.')[0]}&password={PW}"}),
    # how-to-integrate-sql-database
    ("sql", "python", lambda h: {
        "AZURE_SQL_SERVER": h, "AZURE_SQL_PORT": "1433", "AZURE_SQL_DATABASE": "orders",
        "AZURE_SQL_USER": "sandboxadmin", "AZURE_SQL_PASSWORD": PW}),
    ("sql", "go", lambda h: {
        "AZURE_SQL_CONNECTIONSTRING": f"server={h};port=1433;database=orders;user id=sandboxadmin;password={PW};"}),
]


@pytest.mark.parametrize("target, client, expected", USER_SECRET, ids=[f"{t}-{c}" for t, c, _ in USER_SECRET])
def test_databases_write_the_users_credential_per_client_type(env, target, client, expected):
    cluster, data = _user_linker(env, {"type": "AzureResource", "id": env.targets[target]}, client)
    assert data == expected(_host(env, target))
    client_ = sdk(env)
    configs = client_.linker.list_configurations(cluster["id"], "conn").configurations
    assert sorted(c.name for c in configs) == sorted(data)
    assert all(c.value == "" for c in configs if c.name.endswith(("PASSWORD", "CONNECTIONSTRING", ".password")))
    shown = raw(env, "GET", f"{cluster['id']}/{SL}/conn")
    assert PW not in shown.text
    assert shown.json()["properties"]["authInfo"] == {"authType": "secret", "authMode": None, "name": "sandboxadmin",
                                                      "secretInfo": None}


def test_a_database_without_the_users_credential_is_refused(env):
    cluster = new_cluster(env)
    r = raw(env, "PUT", f"{cluster['id']}/{SL}/conn", {"properties": {
        "targetService": {"type": "AzureResource", "id": env.targets["postgres-flexible"]},
        "authInfo": {"authType": "secret"}, "clientType": "python", "scope": "default"}})
    assert r.status_code == 400 and "authInfo.name and authInfo.secretInfo" in r.json()["error"]["message"], r.text
    r = raw(env, "PUT", f"{cluster['id']}/{SL}/conn", {"properties": {
        "targetService": {"type": "AzureResource", "id": env.targets["sql"]},
        "authInfo": {"authType": "userAssignedIdentity", "clientId": str(uuid.uuid4())}, "scope": "default"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "SandboxNotEmulated", r.text


PLACEHOLDER = "/subscriptions/aaaabbbb-0000-cccc-1111-dddd2222eeee/resourceGroups/"


def test_partners_neon_atlas_and_confluent_as_the_builtin_sends_them(env):
    # neon-postgres: the built-in's fixed placeholder id; the host and database in the connection string properties
    _, data = _user_linker(env, {"type": "AzureResource", "id": PLACEHOLDER + "testrg/providers/Neon.Postgres/"
                                 "organizations/neontest"}, "django",
                           extra={"additionalConnectionStringProperties": {"Server": "ep-x.eastus2.azure.neon.tech",
                                                                           "Database": "orders"}})
    assert data == {"AZURE_POSTGRESQL_NAME": "orders", "AZURE_POSTGRESQL_HOST": "ep-x.eastus2.azure.neon.tech",
                    "AZURE_POSTGRESQL_USER": "sandboxadmin", "AZURE_POSTGRESQL_PASSWORD": PW}
    # mongodb-atlas: name "NA", the connection string as the secret
    atlas = f"mongodb+srv://app:{PW}@cluster0.abcde.mongodb.net/"
    for client, key in (("python", "AZURE_MONGODB_CONNECTIONSTRING"), ("springBoot", "spring.data.mongodb.uri")):
        _, data = _user_linker(env, {"type": "AzureResource", "id": PLACEHOLDER + "rg/providers/MongoDB.Atlas/"
                                     "organizations/atlas1"}, client, name="NA", secret=atlas)
        assert data == {key: atlas}
    # confluent-cloud: the bootstrap server's linker and the schema registry's
    boot = "pkc-x.eastus.azure.confluent.cloud:9092"
    cluster, data = _user_linker(env, {"type": "ConfluentBootstrapServer", "endpoint": boot}, "python",
                                 name="kafkakey", linker="kafka")
    assert data == {"AZURE_CONFLUENTCLOUDKAFKA_BOOTSTRAPSERVER": boot,
                    "AZURE_CONFLUENTCLOUDKAFKA_KAFKASASLCONFIG": "org.apache.kafka.common.security.plain."
                    f"PlainLoginModule required username='kafkakey' password='{PW}';"}
    shown = raw(env, "GET", f"{cluster['id']}/{SL}/kafka").json()
    assert shown["properties"]["targetService"] == {"type": "ConfluentBootstrapServer", "endpoint": boot}
    registry = "https://psrc-x.eastus.azure.confluent.cloud"
    _, data = _user_linker(env, {"type": "ConfluentSchemaRegistry", "endpoint": registry}, "springBoot",
                           name="schemakey", linker="kafka_schema")
    assert data == {"spring.kafka.properties.schema.registry.url": registry,
                    "spring.kafka.properties.schema.registry.basic.auth.user.info": f"schemakey:{PW}"}


COSMOS_KEYS = [
    # how-to-integrate-cosmos-cassandra / -gremlin
    ("cosmos-cassandra", "secret", {
        "AZURE_COSMOS_CONTACTPOINT": "sandbox-cosmos-cassandra.cassandra.cosmos.azure.com",
        "AZURE_COSMOS_KEYSPACE": "orders", "AZURE_COSMOS_PORT": "10350",
        "AZURE_COSMOS_USERNAME": "sandbox-cosmos-cassandra", "AZURE_COSMOS_PASSWORD": "*"}),
    ("cosmos-cassandra", "userAssignedIdentity", {
        "AZURE_COSMOS_LISTKEYURL": "https://management.azure.com/subscriptions/*",
        "AZURE_COSMOS_SCOPE": "https://management.azure.com/.default",
        "AZURE_COSMOS_RESOURCEENDPOINT": "https://sandbox-cosmos-cassandra.documents.azure.com:443/",
        "AZURE_COSMOS_CONTACTPOINT": "sandbox-cosmos-cassandra.cassandra.cosmos.azure.com",
        "AZURE_COSMOS_KEYSPACE": "orders", "AZURE_COSMOS_PORT": "10350",
        "AZURE_COSMOS_USERNAME": "sandbox-cosmos-cassandra", "AZURE_COSMOS_CLIENTID": "{client}"}),
    ("cosmos-gremlin", "servicePrincipalSecret", {
        "AZURE_COSMOS_LISTKEYURL": "https://management.azure.com/subscriptions/*",
        "AZURE_COSMOS_SCOPE": "https://management.azure.com/.default",
        "AZURE_COSMOS_RESOURCEENDPOINT": "https://sandbox-cosmos-gremlin.documents.azure.com:443/",
        "AZURE_COSMOS_HOSTNAME": "sandbox-cosmos-gremlin.gremlin.cosmos.azure.com", "AZURE_COSMOS_PORT": "443",
        "AZURE_COSMOS_USERNAME": "/dbs/orders/colls/orders", "AZURE_COSMOS_CLIENTID": "{client}",
        "AZURE_COSMOS_CLIENTSECRET": "sp-secret-value", "AZURE_COSMOS_TENANTID": "*"}),
    ("cosmos-gremlin", "secret", {
        "AZURE_COSMOS_HOSTNAME": "sandbox-cosmos-gremlin.gremlin.cosmos.azure.com", "AZURE_COSMOS_PORT": "443",
        "AZURE_COSMOS_USERNAME": "/dbs/orders/colls/orders", "AZURE_COSMOS_PASSWORD": "*"}),
]


@pytest.mark.parametrize("target, auth, expected", COSMOS_KEYS, ids=[f"{t}-{a}" for t, a, _ in COSMOS_KEYS])
def test_cosmos_cassandra_and_gremlin_write_the_documented_keys(env, target, auth, expected):
    test_more_targets_write_the_documented_keys(env, target, auth, expected)


def test_redis_workload_identity_gets_a_data_owner_access_policy(env):
    """how-to-integrate-redis-cache (Microsoft Entra): no Azure role but the cache's "Data Owner" access policy
    assigned to the identity, once; a cache without Microsoft Entra authentication is refused (the built-in refuses
    it first: "Please enable Microsoft Entra Authentication on your Redis first")."""
    ident = new_identity(env)
    client_id, principal = ident["properties"]["clientId"], ident["properties"]["principalId"]
    cache_id = env.targets["redis"].rsplit("/databases/", 1)[0]
    config = env.sb.arm.raw(cache_id)["properties"]["redisConfiguration"]
    assert config["aad-enabled"] == "false"
    cluster = new_cluster(env)
    r = raw(env, "PUT", f"{cluster['id']}/{SL}/conn", {"properties": {
        "targetService": {"type": "AzureResource", "id": env.targets["redis"]}, "scope": "default",
        "authInfo": {"authType": "userAssignedIdentity", "clientId": client_id, "subscriptionId": env.sub}}})
    assert r.status_code == 400 and "Microsoft Entra authentication is not enabled" in r.json()["error"]["message"]
    config["aad-enabled"] = "true"
    try:
        for _ in range(2):
            assert _keys_of(env, "redis", "userAssignedIdentity", client_id) == {
                "AZURE_REDIS_HOST": "sandbox-redis.redis.cache.windows.net", "AZURE_REDIS_CLIENTID": client_id}
        listed = raw(env, "GET", f"{cache_id}/accessPolicyAssignments", api_version="2024-03-01").json()["value"]
        mine = [a["properties"] for a in listed if a["properties"]["objectId"] == principal]
        assert [(a["accessPolicyName"], a["provisioningState"]) for a in mine] == [("Data Owner", "Succeeded")]
        assert env.sb.arm.role_assignments(principal) == []
    finally:
        config["aad-enabled"] = "false"
