# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The sandbox's ARM emulator, driven by the real Azure SDK clients (and once by a real `az`).

One server for the module: a resource group with a managed cluster and a storage account.
Long-running operations finish on timers; the tests poll, they never sleep a fixed time.
"""
import base64
import concurrent.futures
import gzip
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import requests
import yaml
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.sandbox.armenv import arm_server

RG = "rg"
CLUSTER = "cluster"
ACCOUNT = "acct"
KEYS = ["a2V5LW9uZQ==", "a2V5LXR3bw=="]
EXT_TYPE = "microsoft.servicelinker.connection"    # registered (by Microsoft) in the sandbox, as in Azure
AZ = os.path.join(os.path.dirname(sys.executable), "az")


def wait_for(predicate, timeout=10.0, what="condition"):
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        threading.Event().wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _seed(arm):
    arm.add_resource_group(RG)
    arm.add_managed_cluster(RG, CLUSTER)
    arm.add_storage_account(RG, ACCOUNT, KEYS, {
        "blob": f"http://127.0.0.1:10000/{ACCOUNT}/", "queue": f"http://127.0.0.1:10001/{ACCOUNT}/",
        "table": f"http://127.0.0.1:10002/{ACCOUNT}/", "file": f"https://{ACCOUNT}.file.core.windows.net/"},
        containers=["orders", "invoices"])


@pytest.fixture(scope="module")
def env():
    from azure.mgmt.containerservice import ContainerServiceClient
    from azure.mgmt.kubernetesconfiguration import SourceControlConfigurationClient
    from azure.mgmt.resource import ResourceManagementClient, SubscriptionClient
    from azure.mgmt.storage import StorageManagementClient
    with arm_server("arm-emulator-", 0.4, 100, _seed) as ns:
        ns.cluster_id = ns.sb.arm.cluster_id(RG, CLUSTER)
        ns.account_id = ns.sb.arm.storage_account_id(RG, ACCOUNT)
        # AKS sends no Retry-After (as Azure does): its pollers wait their own interval, short here.
        ns.aks = ContainerServiceClient(ns.cred, ns.sub, polling_interval=0.1, **ns.kw)
        ns.kc = SourceControlConfigurationClient(ns.cred, ns.sub, **ns.kw)
        ns.storage = StorageManagementClient(ns.cred, ns.sub, **ns.kw)
        ns.resources = ResourceManagementClient(ns.cred, ns.sub, **ns.kw)
        ns.subs = SubscriptionClient(ns.cred, **ns.kw)
        yield ns


def raw(env, method, path, body=None, auth=True, headers=None):
    h = {"Authorization": "Bearer x"} if auth else {}
    h.update(headers or {})
    return requests.request(method, env.sb.arm_url + path, json=body, headers=h, verify=env.ca, timeout=10)


def control(env, method, path, body=None):
    r = requests.request(method, env.sb.arm_url + "/_sandbox/arm" + path, json=body, verify=env.ca, timeout=10)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def ext_args(name):
    return (RG, "Microsoft.ContainerService", "managedClusters", CLUSTER, name)


def error_code(exc):
    return exc.value.error.code if exc.value.error else json.loads(exc.value.response.text())["error"]["code"]


# --------------------------------------------------------------------------- identity, auth, generic errors

def test_metadata_endpoints_and_msi_token(env):
    r = requests.get(env.sb.arm_url + "//metadata/endpoints?api-version=2022-09-01", verify=env.ca, timeout=10)
    meta = r.json()
    assert meta["resourceManager"] == env.sb.arm_url + "/"
    assert meta["authentication"]["audiences"][0] == "https://management.core.windows.net/"
    assert meta["suffixes"]["storage"] == "core.windows.net" and meta["suffixes"]["keyVaultDns"] == "vault.azure.net"
    for key in ("graphEndpoint", "galleryEndpoint", "portalEndpoint"):
        assert meta.get(key) or meta.get(key.replace("Endpoint", "")), key

    url = env.sb.arm_url + "/msi/token?api-version=2019-08-01&resource=https://management.core.windows.net/"
    assert requests.get(url, verify=env.ca, timeout=10).status_code == 400      # no X-IDENTITY-HEADER
    tok = requests.get(url, headers={"X-IDENTITY-HEADER": "x"}, verify=env.ca, timeout=10).json()
    assert tok["token_type"] == "Bearer" and tok["resource"] == "https://management.core.windows.net/"
    assert int(tok["expires_on"]) > time.time() + 3000
    payload = tok["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["tid"] == env.sb.tenant_id and claims["oid"] == env.sb.caller_object_id
    assert claims["appid"] == env.sb.caller_client_id and claims["aud"] == "https://management.core.windows.net/"


def test_auth_and_api_version_required(env):
    path = f"/subscriptions/{env.sub}/resourcegroups/{RG}?api-version=2024-11-01"
    r = raw(env, "GET", path, auth=False)
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    assert r.headers["x-ms-request-id"] and r.headers["x-ms-correlation-request-id"]
    r = raw(env, "GET", path.split("?")[0])
    assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"
    r = raw(env, "GET", path.split("?")[0] + "?api-version=latest")
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidApiVersionParameter"
    r = raw(env, "GET", path.replace("2024-11-01", "2024-11-01-preview"))
    assert r.status_code == 200 and r.headers["x-ms-request-id"]


def test_subscriptions_and_resource_groups(env):
    subs = list(env.subs.subscriptions.list())
    assert [(s.subscription_id, s.tenant_id, s.display_name, s.state) for s in subs] == \
        [(env.sub, env.sb.tenant_id, "Sandbox subscription", "Enabled")]
    assert [t.tenant_id for t in env.subs.tenants.list()] == [env.sb.tenant_id]
    with pytest.raises(ResourceNotFoundError) as exc:
        env.subs.subscriptions.get("11111111-0000-0000-0000-000000000000")
    assert error_code(exc) == "SubscriptionNotFound"

    rgs = env.resources.resource_groups
    assert rgs.get("RG").name == RG                  # case-insensitive
    assert rgs.check_existence(RG) and not rgs.check_existence("nope")
    with pytest.raises(ResourceNotFoundError) as exc:
        rgs.get("nope")
    assert error_code(exc) == "ResourceGroupNotFound"
    assert "Resource group 'nope' could not be found." in str(exc.value)
    rgs.create_or_update("temp-rg", {"location": "westus2", "tags": {"t": "1"}})
    assert {g.name for g in rgs.list()} >= {RG, "temp-rg"}
    rgs.begin_delete("temp-rg").result()
    assert not rgs.check_existence("temp-rg")


def test_404_and_400_shapes(env):
    with pytest.raises(ResourceNotFoundError) as exc:
        env.storage.storage_accounts.get_properties(RG, "missing")
    assert error_code(exc) == "ResourceNotFound"
    assert ("The Resource 'Microsoft.Storage/storageAccounts/missing' under resource group 'rg' was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix") in str(exc.value)
    with pytest.raises(ResourceNotFoundError) as exc:
        env.storage.storage_accounts.get_properties("no-such-rg", ACCOUNT)
    assert error_code(exc) == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError) as exc:
        env.storage.blob_services.get_service_properties(RG, "missing")
    assert error_code(exc) == "ParentResourceNotFound"
    r = raw(env, "GET", f"/subscriptions/{env.sub}/resourceGroups/{RG}/providers/Microsoft.Storage/"
                        "fooAccounts/x?api-version=2023-05-01")
    assert r.status_code == 400 and r.json()["error"] == {
        "code": "InvalidResourceType",
        "message": "The resource type 'fooAccounts' could not be found in the namespace 'Microsoft.Storage' "
                   "for api version '2023-05-01'."}
    with pytest.raises(ResourceNotFoundError) as exc:
        env.kc.extensions.get(*ext_args("missing"))
    assert error_code(exc) == "ResourceNotFound"


# --------------------------------------------------------------------------- managed clusters

def test_cluster_get_and_list(env):
    c = env.aks.managed_clusters.get(RG, CLUSTER)
    props = c.as_dict()["properties"]      # wire names
    assert c.id == env.cluster_id.replace("/resourceGroups/", "/resourcegroups/") and c.location == "eastus"
    assert props["provisioningState"] == "Succeeded" and props["powerState"] == {"code": "Running"}
    assert props["oidcIssuerProfile"] == {"enabled": False} and props["securityProfile"] == {}
    pool = props["agentPoolProfiles"][0]
    assert pool["mode"] == "System" and pool["nodeTaints"] == [] and pool["count"] >= 1
    lb = props["networkProfile"]["loadBalancerProfile"]
    assert props["networkProfile"]["outboundType"] == "loadBalancer"
    pip = env.resources.resources.get_by_id(lb["effectiveOutboundIPs"][0]["id"], "2024-05-01")
    assert pip.properties["ipAddress"].startswith("20.")
    assert props["identityProfile"]["kubeletidentity"]["clientId"]
    assert [x.name for x in env.aks.managed_clusters.list_by_resource_group(RG)] == [CLUSTER]
    assert CLUSTER in [x.name for x in env.aks.managed_clusters.list()]


def test_cluster_put_is_an_lro_and_sets_issuer_url(env, slow_lro):
    cluster = env.aks.managed_clusters.get(RG, CLUSTER)
    cluster.properties.oidc_issuer_profile.enabled = True
    seq = env.sb.log.last_seq()
    poller = env.aks.managed_clusters.begin_create_or_update(RG, CLUSTER, cluster)
    during = env.aks.managed_clusters.get(RG, CLUSTER)
    assert during.properties.provisioning_state == "Updating"
    with pytest.raises(ResourceExistsError) as exc:       # a second write while the first runs
        env.aks.managed_clusters.begin_create_or_update(RG, CLUSTER, during)
    assert error_code(exc) == "OperationNotAllowed"
    assert "in progress update managed cluster operation" in str(exc.value)
    done = poller.result(timeout=10)
    assert done.properties.provisioning_state == "Succeeded"
    url = done.properties.oidc_issuer_profile.issuer_url
    assert url.startswith(f"https://eastus.oic.sandbox.local/{env.sb.tenant_id}/") and url.endswith("/")
    polls = [e for e in env.sb.log.entries(seq) if "/locations/eastus/operations/" in e["path"]]
    assert polls and polls[0]["path"].startswith(f"/subscriptions/{env.sub}/providers/Microsoft.ContainerService/")
    # the issuer URL is stable across updates
    again = env.aks.managed_clusters.begin_create_or_update(RG, CLUSTER, done).result(timeout=10)
    assert again.properties.oidc_issuer_profile.issuer_url == url


def test_cluster_create_and_delete(env, slow_lro):
    aks = env.aks.managed_clusters
    body = {"location": "westus2", "identity": {"type": "SystemAssigned"}, "properties": {
        "dnsPrefix": "newcluster", "agentPoolProfiles": [
            {"name": "sys", "count": 1, "vmSize": "Standard_D2s_v3", "mode": "System"}]}}
    poller = aks.begin_create_or_update(RG, "newcluster", body)
    assert aks.get(RG, "newcluster").properties.provisioning_state == "Creating"
    created = poller.result(timeout=10)
    props = created.as_dict()["properties"]
    assert props["provisioningState"] == "Succeeded" and props["dnsPrefix"] == "newcluster"
    assert [(p["name"], p["count"], p["nodeTaints"]) for p in props["agentPoolProfiles"]] == [("sys", 1, [])]
    assert props["networkProfile"]["loadBalancerProfile"]["effectiveOutboundIPs"]
    aks.begin_delete(RG, "newcluster").result(timeout=10)
    with pytest.raises(ResourceNotFoundError):
        aks.get(RG, "newcluster")
    assert not env.resources.resource_groups.check_existence(props["nodeResourceGroup"])


def test_cluster_held_updating_rejects_writes(env):
    control(env, "PUT", f"/clusters/{RG}/{CLUSTER}/provisioning-state", {"provisioningState": "Updating"})
    try:
        cluster = env.aks.managed_clusters.get(RG, CLUSTER)
        assert cluster.properties.provisioning_state == "Updating"
        with pytest.raises(ResourceExistsError) as exc:
            env.aks.managed_clusters.begin_create_or_update(RG, CLUSTER, cluster)
        assert error_code(exc) == "OperationNotAllowed"
        with pytest.raises(HttpResponseError) as exc:
            env.kc.extensions.begin_create(*ext_args("blocked"), {"properties": {"extensionType": EXT_TYPE}})
        assert exc.value.status_code == 409 and error_code(exc) == "OperationNotAllowed"
    finally:
        control(env, "DELETE", f"/clusters/{RG}/{CLUSTER}/provisioning-state")
    assert env.aks.managed_clusters.get(RG, CLUSTER).properties.provisioning_state == "Succeeded"


def test_cluster_user_credentials_kubeconfig(env):
    creds = env.aks.managed_clusters.list_cluster_user_credentials(RG, CLUSTER)
    assert creds.kubeconfigs[0].name == "clusterUser"
    cfg = yaml.safe_load(bytes(creds.kubeconfigs[0].value).decode())
    assert cfg["clusters"][0]["name"] == CLUSTER
    assert cfg["clusters"][0]["cluster"]["server"] == env.sb.kube_url + "/clusters/" + CLUSTER
    assert base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode() == env.sb.ca_pem
    assert cfg["users"][0] == {"name": f"clusterUser_{RG}_{CLUSTER}", "user": {"token": env.sb.kube_token}}
    assert cfg["current-context"] == CLUSTER and cfg["contexts"][0]["context"]["user"] == f"clusterUser_{RG}_{CLUSTER}"
    admin = env.aks.managed_clusters.list_cluster_admin_credentials(RG, CLUSTER)
    assert yaml.safe_load(bytes(admin.kubeconfigs[0].value).decode())["current-context"] == f"{CLUSTER}-admin"


# --------------------------------------------------------------------------- cluster extensions

@pytest.fixture
def slow_lro(env):
    """Operations of these kinds last long enough to observe what happens while they run."""
    saved = dict(env.sb.lro_seconds)
    env.sb.lro_seconds.update({"extensions": 1.0, "managedClusters": 1.0})
    yield
    env.sb.lro_seconds.clear()
    env.sb.lro_seconds.update(saved)


def test_extension_create_patch_merge_conflict_delete(env, slow_lro):
    ext = env.kc.extensions
    seq = env.sb.log.last_seq()
    poller = ext.begin_create(*ext_args("sc-extension"), {"properties": {
        "extensionType": EXT_TYPE, "autoUpgradeMinorVersion": True, "releaseTrain": "stable",
        "scope": {"cluster": {"releaseNamespace": "sc-system"}},
        "configurationSettings": {"base": "0"}, "configurationProtectedSettings": {"secret": "s3cr3t"}}})
    assert ext.get(*ext_args("sc-extension")).provisioning_state == "Creating"
    created = poller.result(timeout=10)
    assert created.provisioning_state == "Succeeded" and created.current_version
    assert created.scope.cluster.release_namespace == "sc-system"
    assert "s3cr3t" not in json.dumps(created.serialize(keep_readonly=True))
    assert [e.name for e in ext.list(RG, "Microsoft.ContainerService", "managedClusters", CLUSTER)] == ["sc-extension"]
    polls = [e["path"] for e in env.sb.log.entries(seq) if "/operations/" in e["path"]]
    assert polls and polls[0].startswith(env.cluster_id + "/providers/Microsoft.KubernetesConfiguration/"
                                                          "extensions/sc-extension/operations/")

    # Two clients add different keys at the same time. The one that meets the other's running
    # operation gets 409 + Retry-After, which azure-core's RetryPolicy honours and retries; both
    # keys survive because PATCH merges configurationSettings key by key.
    seq = env.sb.log.last_seq()
    barrier = threading.Barrier(2)

    def add(key):
        barrier.wait()
        return ext.begin_update(*ext_args("sc-extension"),
                                {"properties": {"configurationSettings": {key: "v"}}}).result(timeout=20)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(add, ["conn.a", "conn.b"]))
    patches = [e["status"] for e in env.sb.log.entries(seq) if e["method"] == "PATCH"]
    assert patches.count(202) == 2 and 409 in patches, patches
    settings = ext.get(*ext_args("sc-extension")).configuration_settings
    assert settings == {"base": "0", "conn.a": "v", "conn.b": "v"}

    # Without the SDK's retries the 409 shows: code, message, Retry-After.
    running = ext.begin_update(*ext_args("sc-extension"), {"properties": {"configurationSettings": {"x": "1"}}})
    with pytest.raises(HttpResponseError) as exc:
        ext.begin_update(*ext_args("sc-extension"), {"properties": {"configurationSettings": {"y": "1"}}},
                         retry_total=0)
    assert exc.value.status_code == 409 and error_code(exc) == "ExtensionPatchFailed"
    assert "ProvisioningState of extension: Updating" in str(exc.value)
    assert int(exc.value.response.headers["Retry-After"]) >= 1
    running.result(timeout=10)

    # null removes one key, the rest stay
    body = json.dumps({"properties": {"configurationSettings": {"conn.a": None}}}).encode()
    after = ext.begin_update(*ext_args("sc-extension"), body, content_type="application/json").result(timeout=10)
    assert after.configuration_settings == {"base": "0", "conn.b": "v", "x": "1"}

    # a create-only PUT on an existing extension is refused
    with pytest.raises(HttpResponseError) as exc:
        ext.begin_create(*ext_args("sc-extension"), {"properties": {"extensionType": EXT_TYPE}},
                         headers={"If-None-Match": "*"})
    assert exc.value.status_code == 412

    deleting = ext.begin_delete(*ext_args("sc-extension"))
    with pytest.raises(HttpResponseError) as exc:       # a write during the delete: 409
        ext.begin_update(*ext_args("sc-extension"), {"properties": {"configurationSettings": {"x": "1"}}},
                         retry_total=0)
    assert exc.value.status_code == 409 and exc.value.response.headers["Retry-After"]
    deleting.result(timeout=10)
    with pytest.raises(ResourceNotFoundError):
        ext.get(*ext_args("sc-extension"))


def test_extension_install_failure_statuses(env):
    control(env, "PUT", f"/clusters/{RG}/{CLUSTER}/extension-install-outcome",
            {"message": "helm install failed: ImagePullBackOff"})
    try:
        poller = env.kc.extensions.begin_create(*ext_args("broken"), {"properties": {"extensionType": EXT_TYPE}})
        with pytest.raises(HttpResponseError) as exc:
            poller.result(timeout=10)
        assert "ImagePullBackOff" in str(exc.value)
    finally:
        control(env, "DELETE", f"/clusters/{RG}/{CLUSTER}/extension-install-outcome")
    broken = env.kc.extensions.get(*ext_args("broken"))
    assert broken.provisioning_state == "Failed"
    status = broken.statuses[0]
    assert (status.code, status.level) == ("InstallationFailed", "Error")
    assert status.message == "helm install failed: ImagePullBackOff" and status.time
    assert broken.error_info.code == "ExtensionOperationFailed"
    ops = [o for o in control(env, "GET", "/operations")["value"] if o.get("resourceId", "").endswith("/broken")]
    assert ops[-1]["status"] == "Failed"
    assert ops[-1]["error"] == {"code": "ExtensionOperationFailed", "message": "helm install failed: ImagePullBackOff"}
    env.kc.extensions.begin_delete(*ext_args("broken")).result(timeout=10)


def test_helm_release_lands_in_the_kube_store(env):
    kube = pytest.importorskip("sandbox.kube")
    env.sb.kube = kube.KubeRegistry()
    try:
        ext = env.kc.extensions
        ext.begin_create(*ext_args("helmcheck"), {"properties": {
            "extensionType": EXT_TYPE, "scope": {"cluster": {"releaseNamespace": "sc-system"}},
            "configurationSettings": {"k": "v"}}}).result(timeout=10)
        store = env.sb.kube.get(CLUSTER)
        assert store.get("namespaces", None, "sc-system") is not None
        secret = store.get("secrets", "sc-system", "sh.helm.release.v1.helmcheck.v1")
        assert secret["type"] == "helm.sh/release.v1"
        assert {k: secret["metadata"]["labels"][k] for k in ("owner", "name", "status")} == \
            {"owner": "helm", "name": "helmcheck", "status": "deployed"}
        release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))
        assert release["info"]["status"] == "deployed" and release["config"] == {"k": "v"}
        ext.begin_update(*ext_args("helmcheck"), {"properties": {"configurationSettings": {"k2": "v"}}}).result(
            timeout=10)
        assert store.get("secrets", "sc-system", "sh.helm.release.v1.helmcheck.v1")["metadata"]["labels"][
            "status"] == "superseded"
        assert store.get("secrets", "sc-system", "sh.helm.release.v1.helmcheck.v2")["metadata"]["labels"][
            "status"] == "deployed"
        ext.begin_delete(*ext_args("helmcheck")).result(timeout=10)
        assert store.get("secrets", "sc-system", "sh.helm.release.v1.helmcheck.v2") is None
    finally:
        env.sb.kube = None


# --------------------------------------------------------------------------- storage

def test_storage_account_keys_and_network_rules(env):
    sa = env.storage.storage_accounts
    acct = sa.get_properties(RG, ACCOUNT)
    assert (acct.kind, acct.sku.name, acct.sku.tier) == ("StorageV2", "Standard_LRS", "Standard")
    assert acct.primary_endpoints.blob == f"http://127.0.0.1:10000/{ACCOUNT}/"
    assert acct.public_network_access == "Enabled" and acct.allow_shared_key_access is True
    assert acct.network_rule_set.default_action == "Allow" and acct.network_rule_set.ip_rules == []
    assert ACCOUNT in [a.name for a in sa.list_by_resource_group(RG)] and ACCOUNT in [a.name for a in sa.list()]

    keys = sa.list_keys(RG, ACCOUNT).as_dict()["keys"]     # (.keys is the Mapping method on these models)
    assert [(k["keyName"], k["value"], k["permissions"]) for k in keys] == \
        [("key1", KEYS[0], "FULL"), ("key2", KEYS[1], "FULL")]
    new = sa.regenerate_key(RG, ACCOUNT, {"keyName": "key2"}).as_dict()["keys"]
    assert new[0]["value"] == KEYS[0] and new[1]["value"] != KEYS[1]

    updated = sa.update(RG, ACCOUNT, {"properties": {"networkAcls": {
        "bypass": "AzureServices", "defaultAction": "Deny", "virtualNetworkRules": [],
        "ipRules": [{"value": "1.2.3.4", "action": "Allow"}]}}})
    rules = updated.network_rule_set
    assert rules.default_action == "Deny" and [r.ip_address_or_range for r in rules.ip_rules] == ["1.2.3.4"]
    # the rule set is replaced whole, as the service does
    updated = sa.update(RG, ACCOUNT, {"properties": {"networkAcls": {"defaultAction": "Allow", "ipRules": []}}})
    assert updated.network_rule_set.ip_rules == [] and updated.network_rule_set.bypass == "AzureServices"

    blob = env.storage.blob_services.get_service_properties(RG, ACCOUNT)
    assert blob.id == env.account_id + "/blobServices/default"
    names = [c.name for c in env.storage.blob_containers.list(RG, ACCOUNT)]
    assert names == ["invoices", "orders"]
    assert env.storage.blob_containers.get(RG, ACCOUNT, "orders").public_access == "None"


# --------------------------------------------------------------------------- providers

def test_provider_registration(env, monkeypatch):
    from azure.mgmt.core.policies import ARMAutoResourceProviderRegistrationPolicy
    from azure.mgmt.core.policies import _base as autoreg
    ns = "Microsoft.KubernetesConfiguration"
    providers = env.resources.providers
    assert providers.get(ns).registration_state == "Registered"
    assert providers.unregister(ns).registration_state == "Unregistering"
    wait_for(lambda: providers.get(ns).registration_state == "NotRegistered", what="NotRegistered")

    # The 409 itself (the SDK pipeline would register the provider on its own: bypass that policy).
    with monkeypatch.context() as m:
        m.setattr(ARMAutoResourceProviderRegistrationPolicy, "send", lambda self, request: self.next.send(request))
        with pytest.raises(HttpResponseError) as exc:
            env.kc.extensions.get(*ext_args("any"))
    assert exc.value.status_code == 409 and error_code(exc) == "MissingSubscriptionRegistration"
    assert exc.value.error.message == (
        "The subscription is not registered to use namespace 'Microsoft.KubernetesConfiguration'. "
        "See https://aka.ms/rps-not-found for how to register subscriptions.")

    # azure-mgmt-core's auto-registration against the emulator: 409 -> POST register -> GET the
    # provider until Registered (its fixed 10 s pause shortened here) -> the request again.
    monkeypatch.setattr(autoreg, "time", type("T", (), {"sleep": staticmethod(
        lambda s: threading.Event().wait(0.05))}))
    seq = env.sb.log.last_seq()
    with pytest.raises(ResourceNotFoundError):
        env.kc.extensions.get(*ext_args("any"))
    # (the server logs a request after answering it, so the entry of the 409 above may land late)
    trail = [(e["method"], e["path"].rsplit("/", 1)[-1], e["status"]) for e in env.sb.log.entries(seq)]
    at = trail.index(("POST", "register", 200))
    assert ("GET", "any", 409) in trail[:at] and ("GET", ns, 200) in trail[at:]
    assert trail[-1] == ("GET", "any", 404)
    assert providers.get(ns).registration_state == "Registered"

    # the control endpoint flips a namespace at once
    control(env, "PUT", "/providers/Microsoft.Storage", {"registrationState": "NotRegistered"})
    try:
        with monkeypatch.context() as m:
            m.setattr(ARMAutoResourceProviderRegistrationPolicy, "send",
                      lambda self, request: self.next.send(request))
            with pytest.raises(HttpResponseError) as exc:
                env.storage.storage_accounts.get_properties(RG, ACCOUNT)
        assert error_code(exc) == "MissingSubscriptionRegistration" and "'Microsoft.Storage'" in str(exc.value)
    finally:
        control(env, "PUT", "/providers/Microsoft.Storage", {"registrationState": "Registered"})


def test_generic_tracked_resource_type(env):
    """A provider added with one registry.generic(...) call serves PUT/GET/PATCH/list/DELETE."""
    registry = env.sb.arm.registry
    registry.generic("Microsoft.KeyVault/vaults", ["2023-07-01"], defaults={"enableRbacAuthorization": True})
    try:
        res = env.resources.resources
        rid = f"/subscriptions/{env.sub}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/kv1"
        made = res.begin_create_or_update_by_id(rid, "2023-07-01", {
            "location": "eastus", "properties": {"sku": {"family": "A", "name": "standard"}}}).result()
        assert made.properties["provisioningState"] == "Succeeded" and made.properties["enableRbacAuthorization"]
        res.begin_update_by_id(rid, "2023-07-01", {"tags": {"a": "b"}}).result()
        assert res.get_by_id(rid, "2023-07-01").tags == {"a": "b"}
        assert "kv1" in [r.name for r in res.list_by_resource_group(RG)]
        res.begin_delete_by_id(rid, "2023-07-01").result()
        assert not res.check_existence_by_id(rid, "2023-07-01")
    finally:
        registry.handlers.pop("microsoft.keyvault/vaults")


def test_control_raw_resource(env):
    rid = env.account_id
    got = control(env, "GET", f"/resource?id={rid}")
    assert got["properties"]["provisioningState"] == "Succeeded"
    control(env, "PATCH", f"/resource?id={rid}", {"tags": {"raw": "yes"}})
    assert env.storage.storage_accounts.get_properties(RG, ACCOUNT).tags == {"raw": "yes"}
    control(env, "PATCH", f"/resource?id={rid}", {"tags": {"raw": None}})
    assert env.sb.arm.get(rid)["tags"] == {}


# --------------------------------------------------------------------------- a real az

def test_real_az_login_and_show(env):
    cfg = os.path.join(env.tmp, "azconfig")
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
    run_env.update({"AZURE_CONFIG_DIR": cfg, "AZURE_EXTENSION_DIR": os.path.join(env.tmp, "azext"),
                    "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_NO_COLOR": "true",
                    "REQUESTS_CA_BUNDLE": env.ca, "IDENTITY_ENDPOINT": env.sb.arm_url + "/msi/token",
                    "IDENTITY_HEADER": "sandbox"})

    def az(*args):
        res = subprocess.run([AZ, *args], capture_output=True, text=True, env=run_env, timeout=120, check=False)
        assert res.returncode == 0, (args, res.stdout, res.stderr)
        return res.stdout

    az("cloud", "register", "-n", "Sandbox", "--endpoint-resource-manager", env.sb.arm_url + "/")
    az("cloud", "set", "-n", "Sandbox")
    accounts = json.loads(az("login", "--identity", "-o", "json"))
    assert accounts[0]["id"] == env.sub and accounts[0]["tenantId"] == env.sb.tenant_id
    shown = json.loads(az("aks", "show", "-g", RG, "-n", CLUSTER, "-o", "json"))
    assert shown["id"] == env.cluster_id.replace("/resourceGroups/", "/resourcegroups/")
    assert shown["provisioningState"] == "Succeeded"
    keys = json.loads(az("storage", "account", "keys", "list", "-g", RG, "-n", ACCOUNT, "-o", "json"))
    assert [k["keyName"] for k in keys] == ["key1", "key2"]
    kubeconfig = yaml.safe_load(az("aks", "get-credentials", "-g", RG, "-n", CLUSTER, "--file", "-"))
    assert kubeconfig["users"][0]["user"]["token"] == env.sb.kube_token
