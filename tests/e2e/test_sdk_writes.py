# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The Key Vault access policy and Redis access policy assignment writes of provider/identity.py go through the
SDKs azure-cli ships (azure-mgmt-keyvault, azure-mgmt-redis), in-process against the sandbox: what they did to the
resources, and the requests the sandbox received (the SDK's paths and api-versions, each long-running write
followed to its end)."""
import uuid

import pytest

from tests.e2e.test_identity_auth import _arm_get


@pytest.fixture(name="arm")
def _arm(az):
    from azure.cli.core import get_default_cli
    from azext_aks_connection.provider.arm import Arm
    return Arm(get_default_cli())          # the az fixture's login and cloud: the sandbox


def _requests(sbc, mark, word):
    return [(e["method"], e["path"].split("?")[0], e["apiVersion"]) for e in sbc.requests(since=mark)
            if word in e["path"] and "/_sandbox" not in e["path"]]


def test_vault_access_policy_added_and_removed_through_azure_mgmt_keyvault(arm, az, sandbox, sbc):
    from azext_aks_connection.provider import identity
    vault_id = sandbox["seeds"]["keyvaults"]["policy"]
    vault = _arm_get(az, vault_id, "2023-07-01")
    tenant, principal = vault["properties"]["tenantId"], str(uuid.uuid4())
    mark = sbc.mark()
    assert identity.ensure_vault_access_policy(arm, vault, "2023-07-01", tenant, principal) == "created"
    assert _requests(sbc, mark, "/accessPolicies/") == [("PUT", vault_id + "/accessPolicies/add", "2026-02-01")]
    mine = [p for p in _arm_get(az, vault_id, "2023-07-01")["properties"]["accessPolicies"]
            if p["objectId"] == principal]
    assert len(mine) == 1 and mine[0]["permissions"]["secrets"] == ["get"]

    mark = sbc.mark()
    identity.remove_vault_access_policy(arm, vault_id, principal, tenant_id=tenant,
                                        permissions=mine[0]["permissions"])
    assert _requests(sbc, mark, "/accessPolicies/") == [("PUT", vault_id + "/accessPolicies/remove", "2026-02-01")]
    assert not [p for p in _arm_get(az, vault_id, "2023-07-01")["properties"]["accessPolicies"]
                if p["objectId"] == principal]


def test_redis_access_policy_assignment_made_and_deleted_through_azure_mgmt_redis(arm, az, sandbox, sbc):
    from azext_aks_connection.provider import identity
    cache_id = sandbox["seeds"]["targets"]["redis"].split("/databases/")[0]
    cache = _arm_get(az, cache_id, "2024-11-01")
    principal = str(uuid.uuid4())
    mark = sbc.mark()
    aid, how = identity.ensure_redis_access(arm, cache, "2024-11-01", principal, "Data Reader")
    assert how == "created" and aid.lower() == identity.redis_assignment_id(cache_id, principal).lower()
    cache_id = aid.split("/accessPolicyAssignments/")[0]            # as Azure spells it in its answers
    calls = [(e["method"], e["path"].split("?")[0], e["apiVersion"]) for e in sbc.requests(since=mark)
             if e["path"].startswith("/subscriptions/")]
    assert {c[2] for c in calls} == {"2024-11-01"}, calls
    put = calls.index(("PUT", aid, "2024-11-01"))
    assert calls[put - 1] == ("GET", cache_id + "/accessPolicyAssignments", "2024-11-01"), calls
    polls = calls[put + 1:-1]
    assert polls and all(c[0] == "GET" and "/asyncOperations/" in c[1] for c in polls), calls
    assert calls[-1] == ("GET", aid, "2024-11-01"), "the write followed to its end, then the assignment read"
    if calls[0][0] == "PATCH":          # Microsoft Entra authentication turned on first, followed the same way
        assert calls[0][1] == cache_id and "/asyncOperations/" in calls[1][1], calls
    found = identity.redis_assignment_of(identity.list_redis_assignments(arm, cache), principal)
    assert found is not None and found["properties"]["accessPolicyName"] == "Data Reader"
    assert found["properties"]["provisioningState"] == "Succeeded", "ensure_redis_access returned at its end"

    identity.delete_redis_access(arm, found["id"])
    assert not [a for a in identity.list_redis_assignments(arm, cache)
                if a["properties"]["objectId"] == principal], "deleted, followed to its end (not still Deleting)"
    identity.delete_redis_access(arm, found["id"])          # absent already: fine
