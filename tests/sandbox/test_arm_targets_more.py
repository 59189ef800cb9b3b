# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""More targets in the sandbox's ARM emulator: the Marketplace organizations (Neon.Postgres, MongoDB.Atlas; raw
requests, azure-cli ships no client for them) and Azure Cache for Redis' Microsoft Entra data access (the
built-in access policies, access policy assignments, ``aad-enabled``; the real azure-mgmt-redis client).

One server for the module, seeded by ``sandbox.server.seed`` plus two caches of its own for the Entra tests.
"""
import time
import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from sandbox import server
from sandbox.arm import cache as cache_mod
from sandbox.arm import marketplace
from tests.sandbox.armenv import arm_server

RG = server.TARGET_RG
NEON_V, ATLAS_V, REDIS_V = "2025-03-01", "2025-06-01", "2024-11-01"
AAD_CACHE, ASSIGN_CACHE = "sandbox-redis-aad", "sandbox-redis-users"
OID1, OID2 = "6497c918-11ad-41e7-1b0f-7c518a87d0b0", "7497c918-11ad-41e7-1b0f-7c518a87d0b0"


def _seed(arm, seeds):
    seeds.update(server.seed(arm.sb, {}, None))
    cache_mod.seed_redis(arm, RG, AAD_CACHE)
    cache_mod.seed_redis(arm, RG, ASSIGN_CACHE)


@pytest.fixture(scope="module")
def env():
    seeds = {}
    with arm_server("arm-targets-more-", 0.3, 50, lambda arm: _seed(arm, seeds)) as ns:
        ns.seeds = seeds
        ns.targets = seeds["targets"]
        yield ns


@pytest.fixture(scope="module")
def redis(env):
    from azure.mgmt.redis import RedisManagementClient
    return RedisManagementClient(env.cred, env.sub, **env.kw)


def raw(env, method, path, body=None, api_version=None):
    url = path if path.startswith("https://") else env.sb.arm_url + path
    if api_version:
        url += ("&" if "?" in url else "?") + f"api-version={api_version}"
    return requests.request(method, url, json=body, headers={"Authorization": "Bearer x"}, verify=env.ca, timeout=10)


def poll(env, url, timeout=10.0):
    """GET an LRO URL until it stops answering 202 / InProgress; returns the last response."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = raw(env, "GET", url)
        if r.status_code != 202 and (r.status_code != 200 or not r.content
                                     or r.json().get("status", "Done") != "InProgress"):
            return r
        time.sleep(0.05)
    raise AssertionError("operation did not end")


def cache_id(env, name):
    return f"/subscriptions/{env.sub}/resourceGroups/{RG}/providers/Microsoft.Cache/Redis/{name}"


# --------------------------------------------------------------------------- seeds

def test_seeds_list_the_marketplace_targets_and_their_user_values(env):
    neon, atlas = env.targets["neon-postgres"], env.targets["mongodb-atlas"]
    assert neon == f"/subscriptions/{env.sub}/resourceGroups/{RG}/providers/Neon.Postgres/organizations/sandbox-neon"
    assert atlas == f"/subscriptions/{env.sub}/resourceGroups/{RG}/providers/MongoDB.Atlas/organizations/sandbox-atlas"
    values = env.seeds["userValues"]
    assert set(values["neon-postgres"]) == {"host", "database", "user", "password"}
    assert values["neon-postgres"]["host"].startswith("ep-")
    assert values["neon-postgres"]["host"].endswith(".eastus2.azure.neon.tech")
    assert values["neon-postgres"]["database"] == "neondb" and values["neon-postgres"]["user"] == "neondb_owner"
    assert set(values["mongodb-atlas"]) == {"connection_string"}
    assert values["mongodb-atlas"]["connection_string"].startswith("mongodb+srv://sandboxuser:")


# --------------------------------------------------------------------------- Neon

def test_neon_organization_get_list_and_api_versions(env):
    oid = env.targets["neon-postgres"]
    org = raw(env, "GET", oid, api_version=NEON_V)
    assert org.status_code == 200, org.text
    body = org.json()
    assert body["id"] == oid and body["name"] == "sandbox-neon" and body["type"] == "Neon.Postgres/organizations"
    assert body["location"] == "eastus2" and body["tags"] == {} and body["systemData"]["createdBy"]
    props = body["properties"]
    assert props["provisioningState"] == "Succeeded"
    assert props["marketplaceDetails"]["subscriptionStatus"] == "Subscribed"
    assert set(props["marketplaceDetails"]["offerDetails"]) >= {"publisherId", "offerId", "planId"}
    assert props["partnerOrganizationProperties"]["organizationName"] == "sandbox-neon"
    assert props["partnerOrganizationProperties"]["organizationId"].startswith("org-")
    assert props["projectProperties"]["entityName"] == "sandbox-project"
    assert {"userDetails", "companyDetails"} <= set(props)
    # any case of the id, every served api-version
    for v in ("2024-08-01-preview", "2025-06-23-preview"):
        assert raw(env, "GET", oid.lower(), api_version=v).status_code == 200
    r = raw(env, "GET", oid, api_version="2023-01-01")
    assert r.status_code == 400 and r.json()["error"]["code"] == "NoRegisteredProviderFound"
    assert "2025-03-01" in r.json()["error"]["message"]
    listed = raw(env, "GET", f"/subscriptions/{env.sub}/resourceGroups/{RG}/providers/Neon.Postgres/organizations",
                 api_version=NEON_V).json()["value"]
    assert [o["name"] for o in listed] == ["sandbox-neon"]
    listed = raw(env, "GET", f"/subscriptions/{env.sub}/providers/Neon.Postgres/organizations",
                 api_version=NEON_V).json()["value"]
    assert [o["id"] for o in listed] == [oid]
    missing = raw(env, "GET", oid + "x", api_version=NEON_V)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"


def _neon_body(**extra):
    body = {"location": "eastus2", "tags": {"team": "x"},
            "properties": {"marketplaceDetails": {"subscriptionId": str(uuid.uuid4()),
                                                  "offerDetails": dict(marketplace.NEON_OFFER)},
                           "userDetails": {"firstName": "A", "lastName": "B", "emailAddress": "a@contoso.com"},
                           "companyDetails": {"companyName": "Contoso"},
                           "partnerOrganizationProperties": {"organizationName": "my-org"}}}
    body.update(extra)
    return body


def test_neon_organization_put_is_long_running_then_delete(env, monkeypatch):
    monkeypatch.setitem(env.sb.lro_seconds, "organizations", 0.5)
    oid = f"/subscriptions/{env.sub}/resourceGroups/{RG}/providers/Neon.Postgres/organizations/my-org"
    r = raw(env, "PUT", oid, _neon_body(), api_version=NEON_V)
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["provisioningState"] == "Accepted"
    assert r.json()["properties"]["marketplaceDetails"]["subscriptionStatus"] == "PendingFulfillmentStart"
    assert "/providers/Neon.Postgres/locations/eastus2/operationStatuses/" in r.headers["Azure-AsyncOperation"]
    busy = raw(env, "PUT", oid, _neon_body(), api_version=NEON_V)
    assert busy.status_code == 409
    assert poll(env, r.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    org = raw(env, "GET", oid, api_version=NEON_V).json()
    assert org["properties"]["provisioningState"] == "Succeeded" and org["location"] == "eastus2"
    assert org["properties"]["marketplaceDetails"]["subscriptionStatus"] == "Subscribed"
    assert org["properties"]["partnerOrganizationProperties"]["organizationId"].startswith("org-")
    assert org["tags"] == {"team": "x"}
    # A PUT of an existing organization: 200, synchronous; the partner's ids stay.
    again = raw(env, "PUT", oid, _neon_body(tags={}), api_version=NEON_V)
    assert again.status_code == 200 and "Azure-AsyncOperation" not in again.headers
    assert again.json()["properties"]["partnerOrganizationProperties"]["organizationId"] == \
        org["properties"]["partnerOrganizationProperties"]["organizationId"]
    assert again.json()["tags"] == {} and again.json()["properties"]["provisioningState"] == "Succeeded"
    patched = raw(env, "PATCH", oid, {"tags": {"a": "b"}}, api_version=NEON_V)
    assert patched.status_code == 200 and patched.json()["tags"] == {"a": "b"}
    gone = raw(env, "DELETE", oid, api_version=NEON_V)
    assert gone.status_code == 202 and "Azure-AsyncOperation" not in gone.headers
    assert raw(env, "GET", oid, api_version=NEON_V).json()["properties"]["provisioningState"] == "Deleting"
    assert poll(env, gone.headers["Location"]).status_code in (200, 204)
    assert raw(env, "GET", oid, api_version=NEON_V).status_code == 404
    assert raw(env, "DELETE", oid, api_version=NEON_V).status_code == 204


def test_neon_organization_put_validates_the_body(env):
    oid = f"/subscriptions/{env.sub}/resourceGroups/{RG}/providers/Neon.Postgres/organizations/bad-org"
    body = _neon_body()
    del body["properties"]["userDetails"]
    r = raw(env, "PUT", oid, body, api_version=NEON_V)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"
    assert "userDetails" in r.json()["error"]["message"]
    body = _neon_body()
    del body["properties"]["marketplaceDetails"]["offerDetails"]["planId"]
    assert raw(env, "PUT", oid, body, api_version=NEON_V).status_code == 400
    body = _neon_body()
    del body["location"]
    r = raw(env, "PUT", oid, body, api_version=NEON_V)
    assert r.status_code == 400 and r.json()["error"]["code"] == "LocationRequired"
    r = raw(env, "PUT", oid.replace("bad-org", "-bad"), _neon_body(), api_version=NEON_V)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidResourceName"
    assert raw(env, "GET", oid, api_version=NEON_V).status_code == 404


def test_neon_project_branch_database_and_connection_uri(env):
    oid = env.targets["neon-postgres"]
    user = env.seeds["userValues"]["neon-postgres"]
    projects = raw(env, "GET", oid + "/projects", api_version=NEON_V).json()["value"]
    assert [p["name"] for p in projects] == ["sandbox-project"]
    project = projects[0]
    assert project["type"] == "Neon.Postgres/organizations/projects"
    assert project["properties"]["regionId"] == "azure-eastus2" and project["properties"]["pgVersion"] == 17
    pid = project["id"]
    branch = raw(env, "GET", pid + "/branches/main", api_version=NEON_V).json()
    assert branch["properties"]["databaseName"] == "neondb" and branch["properties"]["roleName"] == "neondb_owner"
    endpoint_id = branch["properties"]["endpoints"][0]["entityId"]
    assert user["host"] == f"{endpoint_id}.eastus2.azure.neon.tech"
    assert branch["properties"]["projectId"] == project["properties"]["entityId"]
    dbs = raw(env, "GET", pid + "/branches/main/neondatabases", api_version=NEON_V).json()["value"]
    assert [d["name"] for d in dbs] == ["neondb"] and dbs[0]["properties"]["ownerName"] == "neondb_owner"
    db = raw(env, "GET", pid + "/branches/main/neonDatabases/neondb", api_version=NEON_V)
    assert db.status_code == 200 and db.json()["properties"]["branchId"] == branch["properties"]["entityId"]

    uri = raw(env, "POST", pid + "/getConnectionUri", {"databaseName": "neondb", "roleName": "neondb_owner"},
              api_version=NEON_V)
    assert uri.status_code == 200, uri.text
    assert uri.json()["connectionStringUri"] == \
        f"postgresql://{user['user']}:{user['password']}@{user['host']}/{user['database']}?sslmode=require"
    assert uri.json()["branchId"] == branch["properties"]["entityId"] and uri.json()["endpointId"] == endpoint_id
    pooled = raw(env, "POST", pid + "/getConnectionUri", {"isPooled": True}, api_version=NEON_V).json()
    assert f"@{endpoint_id}-pooler.eastus2.azure.neon.tech/neondb" in pooled["connectionStringUri"]
    r = raw(env, "POST", pid + "/getConnectionUri", {"databaseName": "nope"}, api_version=NEON_V)
    assert r.status_code == 400
    # the children came with 2025-02-01-preview
    r = raw(env, "GET", pid, api_version="2024-08-01-preview")
    assert r.status_code == 400 and r.json()["error"]["code"] == "NoRegisteredProviderFound"
    r = raw(env, "PUT", pid, {"properties": {}}, api_version=NEON_V)
    assert r.status_code == 405


# --------------------------------------------------------------------------- MongoDB Atlas

def test_atlas_organization_get_put_delete(env, monkeypatch):
    oid = env.targets["mongodb-atlas"]
    org = raw(env, "GET", oid, api_version=ATLAS_V)
    assert org.status_code == 200, org.text
    body = org.json()
    assert body["type"] == "MongoDB.Atlas/organizations" and body["name"] == "sandbox-atlas"
    props = body["properties"]
    assert props["provisioningState"] == "Succeeded" and props["marketplace"]["subscriptionStatus"] == "Subscribed"
    assert len(props["partnerProperties"]["organizationId"]) == 24
    assert props["partnerProperties"]["organizationName"] == "sandbox-atlas"
    assert {"firstName", "lastName", "emailAddress"} <= set(props["user"])
    for v in ("2024-11-18-preview", "2026-03-01-preview"):
        assert raw(env, "GET", oid, api_version=v).status_code == 200
    assert raw(env, "GET", oid, api_version=NEON_V).json()["error"]["code"] == "NoRegisteredProviderFound"

    monkeypatch.setitem(env.sb.lro_seconds, "organizations", 0.2)
    new = oid.rsplit("/", 1)[0] + "/my-atlas"
    put = {"location": "eastus", "properties": {
        "marketplace": {"subscriptionId": str(uuid.uuid4()), "offerDetails": dict(marketplace.ATLAS_OFFER)},
        "user": {"firstName": "A", "lastName": "B", "emailAddress": "a@contoso.com"},
        "partnerProperties": {"organizationName": "my-atlas"}}}
    missing = {"location": "eastus", "properties": {"marketplace": put["properties"]["marketplace"]}}
    r = raw(env, "PUT", new, missing, api_version=ATLAS_V)
    assert r.status_code == 400 and "user" in r.json()["error"]["message"]
    r = raw(env, "PUT", new, put, api_version=ATLAS_V)
    assert r.status_code == 201 and r.headers["Azure-AsyncOperation"]
    assert poll(env, r.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    created = raw(env, "GET", new, api_version=ATLAS_V).json()["properties"]
    assert created["provisioningState"] == "Succeeded" and len(created["partnerProperties"]["organizationId"]) == 24
    assert created["partnerProperties"]["redirectUrl"].startswith("https://cloud.mongodb.com/")
    gone = raw(env, "DELETE", new, api_version=ATLAS_V)
    assert gone.status_code == 202
    poll(env, gone.headers["Location"])
    assert raw(env, "GET", new, api_version=ATLAS_V).status_code == 404


# --------------------------------------------------------------------------- Redis: access policies

def test_redis_builtin_access_policies(env, redis):
    name = server.TARGET_NAMES["redis"]
    policies = {p.name: p for p in redis.access_policy.list(RG, name)}
    assert set(policies) == {"Data Owner", "Data Contributor", "Data Reader"}
    owner = policies["Data Owner"]
    assert owner.type_properties_type == "BuiltIn" and owner.permissions == "+@all allkeys"
    assert owner.type == "Microsoft.Cache/Redis/accessPolicies" and owner.provisioning_state == "Succeeded"
    assert owner.id == cache_id(env, name) + "/accessPolicies/Data Owner"
    assert "-@dangerous" in policies["Data Contributor"].permissions
    assert redis.access_policy.get(RG, name, "Data Reader").permissions.startswith("+@read")
    with pytest.raises(ResourceNotFoundError):
        redis.access_policy.get(RG, name, "Data Janitor")
    r = raw(env, "GET", cache_id(env, name) + "/accessPolicies", api_version="2023-04-01")
    assert r.status_code == 400 and r.json()["error"]["code"] == "NoRegisteredProviderFound"
    for v in ("2023-05-01-preview", "2023-08-01", "2024-03-01"):
        assert len(raw(env, "GET", cache_id(env, name) + "/accessPolicies", api_version=v).json()["value"]) == 3
    r = raw(env, "GET", cache_id(env, "no-such-cache") + "/accessPolicies", api_version=REDIS_V)
    assert r.status_code == 404


# --------------------------------------------------------------------------- Redis: access policy assignments

def _assignment(policy="Data Owner", oid=OID1, alias="sandbox-identity"):
    from azure.mgmt.redis.models import RedisCacheAccessPolicyAssignment
    return RedisCacheAccessPolicyAssignment(access_policy_name=policy, object_id=oid, object_id_alias=alias)


def test_redis_access_policy_assignment_lifecycle(env, redis, monkeypatch):
    monkeypatch.setitem(env.sb.lro_seconds, "accessPolicyAssignments", 0.5)
    cid = cache_id(env, ASSIGN_CACHE)
    poller = redis.access_policy_assignment.begin_create_update(RG, ASSIGN_CACHE, "app-owner", _assignment())
    during = redis.access_policy_assignment.get(RG, ASSIGN_CACHE, "app-owner")
    assert during.provisioning_state == "Updating" and during.object_id == OID1
    done = poller.result(timeout=10)
    assert done.provisioning_state == "Succeeded" and done.access_policy_name == "Data Owner"
    assert done.object_id_alias == "sandbox-identity" and done.name == "app-owner"
    assert done.type == "Microsoft.Cache/Redis/accessPolicyAssignments"
    assert done.id.lower() == (cid + "/accessPolicyAssignments/app-owner").lower()
    assert [a.name for a in redis.access_policy_assignment.list(RG, ASSIGN_CACHE)] == ["app-owner"]

    # The wire: 201 + Azure-AsyncOperation for a new one; an identical PUT: 200 Succeeded, no operation.
    aid = cid + "/accessPolicyAssignments/app-owner"
    body = {"properties": {"accessPolicyName": "Data Owner", "objectId": OID1, "objectIdAlias": "sandbox-identity"}}
    r = raw(env, "PUT", aid, body, api_version=REDIS_V)
    assert r.status_code == 200 and r.json()["properties"]["provisioningState"] == "Succeeded"
    assert "Azure-AsyncOperation" not in r.headers and "systemData" not in r.json()
    # Another policy for the same object under the same name: an update (long-running).
    r = raw(env, "PUT", aid, {"properties": dict(body["properties"], accessPolicyName="Data Reader")},
            api_version=REDIS_V)
    assert r.status_code == 200 and r.json()["properties"]["provisioningState"] == "Updating"
    assert "/providers/Microsoft.Cache/locations/eastus/asyncOperations/" in r.headers["Azure-AsyncOperation"]
    busy = raw(env, "PUT", aid, body, api_version=REDIS_V)
    assert busy.status_code == 409
    assert poll(env, r.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    assert redis.access_policy_assignment.get(RG, ASSIGN_CACHE, "app-owner").access_policy_name == "Data Reader"

    # Delete: 202 + Location, Deleting until it ends.
    poller = redis.access_policy_assignment.begin_delete(RG, ASSIGN_CACHE, "app-owner")
    assert redis.access_policy_assignment.get(RG, ASSIGN_CACHE, "app-owner").provisioning_state == "Deleting"
    poller.result(timeout=10)
    with pytest.raises(ResourceNotFoundError):
        redis.access_policy_assignment.get(RG, ASSIGN_CACHE, "app-owner")
    assert not list(redis.access_policy_assignment.list(RG, ASSIGN_CACHE))
    assert raw(env, "DELETE", aid, api_version=REDIS_V).status_code == 204


def test_redis_access_policy_assignment_duplicates_and_validation(env, redis, monkeypatch):
    monkeypatch.setitem(env.sb.lro_seconds, "accessPolicyAssignments", 0.05)
    cid = cache_id(env, ASSIGN_CACHE)
    redis.access_policy_assignment.begin_create_update(RG, ASSIGN_CACHE, "first", _assignment()).result(timeout=10)
    try:
        # The same object under another name, whatever the policy: the service's duplicate error.
        for policy in ("Data Owner", "Data Contributor"):
            with pytest.raises(HttpResponseError) as exc:
                redis.access_policy_assignment.begin_create_update(RG, ASSIGN_CACHE, "second",
                                                                   _assignment(policy)).result(timeout=10)
            assert exc.value.status_code == 400 and exc.value.error.code == "InvalidAccessPolicyAssignment"
            assert "duplicate entries" in exc.value.error.message
        # The name already holds another object.
        with pytest.raises(HttpResponseError) as exc:
            redis.access_policy_assignment.begin_create_update(RG, ASSIGN_CACHE, "first",
                                                               _assignment(oid=OID2)).result(timeout=10)
        assert exc.value.error.code == "InvalidAccessPolicyAssignment"
        # Another object under another name is fine.
        redis.access_policy_assignment.begin_create_update(RG, ASSIGN_CACHE, "second",
                                                           _assignment(oid=OID2)).result(timeout=10)
        assert sorted(a.name for a in redis.access_policy_assignment.list(RG, ASSIGN_CACHE)) == ["first", "second"]

        base = cid + "/accessPolicyAssignments/"
        good = {"accessPolicyName": "Data Owner", "objectId": str(uuid.uuid4()), "objectIdAlias": "x"}
        for field in good:
            props = {k: v for k, v in good.items() if k != field}
            r = raw(env, "PUT", base + "third", {"properties": props}, api_version=REDIS_V)
            assert r.status_code == 400 and field in r.json()["error"]["message"], r.text
        r = raw(env, "PUT", base + "third", {"properties": dict(good, objectId="not-a-guid")}, api_version=REDIS_V)
        assert r.status_code == 400
        r = raw(env, "PUT", base + "third", {"properties": dict(good, accessPolicyName="Data Janitor")},
                api_version=REDIS_V)
        assert r.status_code == 400 and "Data Janitor" in r.json()["error"]["message"]
        r = raw(env, "PUT", base + "a_b", {"properties": good}, api_version=REDIS_V)
        assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidResourceName"
        r = raw(env, "PUT", base + "third", {"properties": good}, api_version="2023-04-01")
        assert r.status_code == 400 and r.json()["error"]["code"] == "NoRegisteredProviderFound"
        r = raw(env, "PUT", cache_id(env, "no-such-cache") + "/accessPolicyAssignments/x1", {"properties": good},
                api_version=REDIS_V)
        assert r.status_code == 404
    finally:
        for a in ("first", "second"):
            redis.access_policy_assignment.begin_delete(RG, ASSIGN_CACHE, a).result(timeout=10)


# --------------------------------------------------------------------------- Redis: aad-enabled

def test_redis_aad_enabled_patch_is_long_running(env, redis, monkeypatch):
    from azure.mgmt.redis.models import RedisCommonPropertiesRedisConfiguration, RedisUpdateParameters
    monkeypatch.setitem(env.sb.lro_seconds, "redis", 0.5)
    cid = cache_id(env, AAD_CACHE)
    before = redis.redis.get(RG, AAD_CACHE)
    assert before.redis_configuration.aad_enabled == "false"
    seq = env.sb.log.last_seq()
    poller = redis.redis.begin_update(RG, AAD_CACHE, RedisUpdateParameters(
        redis_configuration=RedisCommonPropertiesRedisConfiguration(aad_enabled="true")))
    during = redis.redis.get(RG, AAD_CACHE)
    assert during.provisioning_state == "Updating" and during.redis_configuration.aad_enabled == "false"
    # The cache is busy: neither another update nor an access policy assignment gets in.
    r = raw(env, "PATCH", cid, {"properties": {"redisConfiguration": {"aad-enabled": "false"}}}, api_version=REDIS_V)
    assert r.status_code == 409 and r.json()["error"]["code"] == "Conflict"
    assert "busy processing a previous update request" in r.json()["error"]["message"]
    with pytest.raises(HttpResponseError) as exc:
        redis.access_policy_assignment.begin_create_update(RG, AAD_CACHE, "during", _assignment())
    assert exc.value.status_code == 409
    done = poller.result(timeout=10)
    assert done.provisioning_state == "Succeeded" and done.redis_configuration.aad_enabled == "true"
    cache = raw(env, "GET", cid, api_version=REDIS_V).json()
    config = cache["properties"]["redisConfiguration"]
    assert config["aad-enabled"] == "true" and config["maxclients"] == "1000"     # merged, not replaced
    patches = [e for e in env.sb.log.entries(seq) if e["method"] == "PATCH"]
    assert patches and all(e["path"].lower() == cid.lower() for e in patches)

    # The wire: 202 + the cache (Updating) + Azure-AsyncOperation + Location.
    r = raw(env, "PATCH", cid, {"properties": {"redisConfiguration": {"aad-enabled": "false"}}}, api_version=REDIS_V)
    assert r.status_code == 202 and r.json()["properties"]["provisioningState"] == "Updating"
    assert "/providers/Microsoft.Cache/locations/eastus/asyncOperations/" in r.headers["Azure-AsyncOperation"]
    assert r.headers["Location"]
    assert poll(env, r.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    assert raw(env, "GET", cid, api_version=REDIS_V).json()["properties"]["redisConfiguration"]["aad-enabled"] \
        == "false"
    # Tags only: synchronous. A value that is not true / false: 400.
    r = raw(env, "PATCH", cid, {"tags": {"env": "sandbox"}}, api_version=REDIS_V)
    assert r.status_code == 200 and r.json()["tags"] == {"env": "sandbox"} and "Azure-AsyncOperation" not in r.headers
    r = raw(env, "PATCH", cid, {"properties": {"redisConfiguration": {"aad-enabled": "yes"}}}, api_version=REDIS_V)
    assert r.status_code == 400
