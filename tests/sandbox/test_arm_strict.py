# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The sandbox as strict as Azure where the extension relies on it: managed-cluster PUT (replace, ETag,
If-Match, read-only fields, agent pools), concurrent federated-credential writes, RoleAssignmentExists naming
the existing assignment, a new identity's principal not replicated yet, listKeys on targets whose keys are off."""
import threading
import time
import uuid

import pytest
import requests

from tests.sandbox.armenv import arm_server

RG = "rg"
CLUSTER = "strict"
ACCOUNT = "strictacct"
ISSUER = "https://eastus.oic.prod-aks.azure.com/tenant/strict/"
AKS_API = "2025-10-01"
MSI_API = "2023-01-31"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


def _seed(arm):
    arm.add_resource_group(RG)
    arm.add_managed_cluster(RG, CLUSTER)
    arm.add_storage_account(RG, ACCOUNT, None, {"blob": f"https://{ACCOUNT}.blob.core.windows.net/"})


@pytest.fixture(scope="module")
def env():
    with arm_server("arm-strict-", 0.2, 100, _seed) as ns:
        ns.cluster_id = ns.sb.arm.cluster_id(RG, CLUSTER)
        ns.account_id = ns.sb.arm.storage_account_id(RG, ACCOUNT)
        yield ns


def raw(env, method, path, body=None, headers=None):
    h = {"Authorization": "Bearer x"}
    h.update(headers or {})
    return requests.request(method, env.sb.arm_url + path, json=body, headers=h, verify=env.ca, timeout=30)


def control(env, method, path, body=None):
    r = requests.request(method, env.sb.arm_url + "/_sandbox/arm" + path, json=body, verify=env.ca, timeout=10)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def cluster_url(env):
    return f"{env.cluster_id}?api-version={AKS_API}"


def wait_idle(env):
    """Poll the cluster until its update ends (the LRO period is 0.2 s)."""
    deadline = time.monotonic() + 10
    while True:
        got = raw(env, "GET", cluster_url(env))
        if got.json()["properties"]["provisioningState"] == "Succeeded":
            return got
        assert time.monotonic() < deadline
        time.sleep(0.05)


def put_cluster(env, body, etag=None, **headers):
    if etag:
        headers["If-Match"] = etag
    return raw(env, "PUT", cluster_url(env), body, {k.replace("_", "-"): v for k, v in headers.items()})


# --------------------------------------------------------------------------- managed cluster PUT

def test_cluster_get_carries_an_etag_and_a_put_honours_if_match(env):
    got = wait_idle(env)
    etag = got.headers["ETag"]
    body = got.json()
    assert body["eTag"] == etag and etag.startswith('"')
    stale = put_cluster(env, body, etag='"not-the-etag"')
    assert stale.status_code == 412
    assert stale.json() == {"error": {"code": "PreconditionFailed", "message": "The condition specified using "
                                      "HTTP conditional header(s) is not met."}}
    assert put_cluster(env, body, If_None_Match="*").status_code == 412       # create-only on an existing cluster
    ok = put_cluster(env, body, etag=etag)
    assert ok.status_code == 200 and ok.headers["ETag"] != etag and ok.json()["eTag"] == ok.headers["ETag"]
    wait_idle(env)
    assert put_cluster(env, body, etag=etag).status_code == 412          # the old ETag is stale now


def test_cluster_put_replaces_instead_of_merging(env):
    body = wait_idle(env).json()
    body["properties"]["addonProfiles"] = {"azureKeyvaultSecretsProvider": {"enabled": True}}
    body["properties"]["securityProfile"] = {"workloadIdentity": {"enabled": True}}
    body["properties"]["oidcIssuerProfile"] = {"enabled": True}
    assert put_cluster(env, body).status_code == 200
    on = wait_idle(env).json()["properties"]
    assert on["addonProfiles"]["azureKeyvaultSecretsProvider"]["enabled"] is True
    assert on["oidcIssuerProfile"]["issuerURL"]
    # A body without the add-on and the security profile turns them off (a deep merge would keep them).
    stale = wait_idle(env).json()
    stale["properties"]["addonProfiles"] = {}
    stale["properties"].pop("securityProfile")
    assert put_cluster(env, stale).status_code == 200
    off = wait_idle(env).json()["properties"]
    assert off["addonProfiles"] == {} and off["securityProfile"] == {}
    assert off["oidcIssuerProfile"]["enabled"] is True                   # it cannot be turned off
    stale = wait_idle(env).json()
    stale["properties"]["oidcIssuerProfile"] = {"enabled": False}
    refused = put_cluster(env, stale)
    assert refused.status_code == 400 and "OIDC issuer feature cannot be disabled" in refused.json()["error"]["message"]


@pytest.mark.parametrize("field", ["dnsPrefix", "fqdn", "nodeResourceGroup"])
def test_cluster_put_refuses_changing_a_create_time_field(env, field):
    body = wait_idle(env).json()
    before = body["properties"][field]
    body["properties"][field] = "changed-" + before
    refused = put_cluster(env, body)
    assert refused.status_code == 400
    assert refused.json()["error"] == {"code": "PropertyChangeNotAllowed",
                                       "message": f"Changing property '{field}' is not allowed."}
    assert wait_idle(env).json()["properties"][field] == before


def test_cluster_put_refuses_dropping_or_adding_an_agent_pool(env):
    body = wait_idle(env).json()
    pools = body["properties"]["agentPoolProfiles"]
    body["properties"]["agentPoolProfiles"] = []
    dropped = put_cluster(env, body)
    assert dropped.status_code == 400 and dropped.json()["error"]["message"].startswith(
        "Deleting agent pools from an existing cluster is not allowed through managed cluster operations.")
    body["properties"]["agentPoolProfiles"] = pools + [dict(pools[0], name="extra")]
    added = put_cluster(env, body)
    assert added.status_code == 400 and added.json()["error"]["message"].startswith(
        "A new agent pool was introduced. Adding agent pools to an existing cluster is not allowed")
    assert [p["name"] for p in wait_idle(env).json()["properties"]["agentPoolProfiles"]] == [pools[0]["name"]]


def test_sdk_update_with_etag_as_az_aks_update_sends_it(env):
    """The SDK's etag/match_condition (azure-cli acs build_etag_kwargs) reach the sandbox as If-Match."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError
    from azure.mgmt.containerservice import ContainerServiceClient
    aks = ContainerServiceClient(env.cred, env.sub, polling_interval=0.1, **env.kw).managed_clusters  # no Retry-After
    wait_idle(env)
    mc = aks.get(RG, CLUSTER)
    with pytest.raises(ResourceModifiedError):
        aks.begin_create_or_update(RG, CLUSTER, mc, etag='"stale"', match_condition=MatchConditions.IfNotModified)
    done = aks.begin_create_or_update(RG, CLUSTER, mc, etag=mc.e_tag,
                                      match_condition=MatchConditions.IfNotModified).result(timeout=10)
    assert done.e_tag and done.e_tag != mc.e_tag


# --------------------------------------------------------------------------- federated credentials

def _identity(env, name):
    rid = f"/subscriptions/{env.sub}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/" \
          f"userAssignedIdentities/{name}"
    made = raw(env, "PUT", f"{rid}?api-version={MSI_API}", {"location": "eastus"})
    assert made.status_code == 201, made.text
    return rid, made.json()["properties"]["principalId"]


def _fic(env, identity, name, subject, issuer=ISSUER, audience="api://AzureADTokenExchange"):
    return raw(env, "PUT", f"{identity}/federatedIdentityCredentials/{name}?api-version={MSI_API}",
               {"properties": {"issuer": issuer, "subject": subject, "audiences": [audience]}})


def test_concurrent_federated_credential_writes_collide(env):
    identity, _ = _identity(env, "fic-concurrent")
    control(env, "PUT", "/settings", {"ficWriteSeconds": 2.0})
    try:
        first = {}
        writer = threading.Thread(target=lambda: first.update(r=_fic(env, identity, "one", "system:sa:ns:one")))
        writer.start()
        deadline = time.monotonic() + 10
        while requests.get(env.sb.arm_url + "/_sandbox/arm/resource?id=" + identity +
                           "/federatedIdentityCredentials/one", verify=env.ca, timeout=10).status_code == 404:
            assert time.monotonic() < deadline       # until the first write is in flight (stored, not answered)
            time.sleep(0.02)
        second = _fic(env, identity, "two", "system:sa:ns:two")     # while the first is in flight
        writer.join(timeout=10)
        assert first["r"].status_code == 201
        assert second.status_code == 409
        err = second.json()["error"]
        assert err["code"] == "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity"
        assert err["message"] == (f"Too many Federated Identity Credentials are written concurrently for the managed "
                                  f"identity '{identity.lower()}'. Concurrent Federated Identity Credentials writes "
                                  "under the same managed identity are not supported.")
    finally:
        control(env, "PUT", "/settings", {"ficWriteSeconds": 0.2})
    # One after the other: no collision.
    assert _fic(env, identity, "two", "system:sa:ns:two").status_code == 201
    assert _fic(env, identity, "three", "system:sa:ns:three").status_code == 201


def test_same_issuer_and_subject_and_the_twenty_credential_limit(env):
    identity, _ = _identity(env, "fic-limit")
    assert _fic(env, identity, "fic-a", "system:sa:ns:a").status_code == 201
    dup = _fic(env, identity, "fic-b", "system:sa:ns:a")
    assert dup.status_code == 400
    assert dup.json()["error"]["message"] == "Issuer and subject combination already exists for this Managed Identity."
    for i in range(1, 20):
        assert _fic(env, identity, f"fic-n{i}", f"system:sa:ns:n{i}").status_code == 201
    over = _fic(env, identity, "fic-n20", "system:sa:ns:n20")
    assert over.status_code == 400
    assert "A maximum of 20 Federated Identity Credentials" in over.json()["error"]["message"]


# --------------------------------------------------------------------------- role assignments

def _assign(env, scope, principal, name=None):
    return raw(env, "PUT", f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name or uuid.uuid4()}"
                           "?api-version=2022-04-01",
               {"properties": {"roleDefinitionId": f"/subscriptions/{env.sub}/providers/Microsoft.Authorization/"
                                                   f"roleDefinitions/{BLOB_CONTRIBUTOR}",
                               "principalId": principal, "principalType": "ServicePrincipal"}})


def test_new_principal_is_not_found_for_a_while_then_assignable(env):
    control(env, "PUT", "/settings", {"principalReplicationSeconds": 1.0})
    try:
        _, principal = _identity(env, "fresh-principal")
        early = _assign(env, env.account_id, principal)
        assert early.status_code == 400 and early.json()["error"]["code"] == "PrincipalNotFound"
        assert "replication delay" in early.json()["error"]["message"]
        deadline = time.monotonic() + 10
        while True:
            later = _assign(env, env.account_id, principal)
            if later.status_code == 201:
                break
            assert later.json()["error"]["code"] == "PrincipalNotFound" and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        control(env, "PUT", "/settings", {"principalReplicationSeconds": 2.0})


def test_role_assignment_exists_names_the_existing_assignment(env):
    principal = str(uuid.uuid4())          # not an identity of this sandbox: nothing to replicate
    name = str(uuid.uuid4())
    assert _assign(env, env.account_id, principal, name).status_code == 201
    again = _assign(env, env.account_id, principal)
    assert again.status_code == 409
    assert again.json()["error"] == {"code": "RoleAssignmentExists", "message": "The role assignment already exists. "
                                     f"The ID of the existing role assignment is {name.replace('-', '')}."}


# --------------------------------------------------------------------------- key auth off

def test_list_keys_still_answers_when_shared_key_access_is_off(env):
    control(env, "PATCH", "/resource?id=" + env.account_id, {"properties": {"allowSharedKeyAccess": False}})
    got = raw(env, "GET", f"{env.account_id}?api-version=2023-05-01").json()
    assert got["properties"]["allowSharedKeyAccess"] is False
    keys = raw(env, "POST", f"{env.account_id}/listKeys?api-version=2023-05-01")
    assert keys.status_code == 200 and keys.json()["keys"][0]["value"]
