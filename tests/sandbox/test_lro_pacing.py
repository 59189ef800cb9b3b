# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Long-running operations paced as Azure paces them (issue 24): AKS's managed-cluster PUT and its operation status
carry no Retry-After (as Microsoft's recordings show), other providers' operations do; each kind's duration is the
sandbox's setting for that kind."""
import time

import pytest
import requests

from sandbox import server
from tests.sandbox.armenv import arm_server

RETRY = ("Retry-After", "retry-after-ms", "x-ms-retry-after-ms")


@pytest.fixture(scope="module")
def env():
    seeds = {}
    with arm_server("arm-pacing-", 0.05, 50, lambda arm: seeds.update(server.seed(arm.sb, {}, None))) as ns:
        ns.seeds = seeds
        yield ns


def raw(env, method, url, body=None):
    url = url if url.startswith("https://") else env.sb.arm_url + url
    return requests.request(method, url, json=body, headers={"Authorization": "Bearer x"}, verify=env.ca, timeout=30)


def _cluster_put(env):
    cid = env.seeds["cluster"]["id"]
    body = raw(env, "GET", f"{cid}?api-version=2026-06-01").json()
    body["properties"]["oidcIssuerProfile"] = {"enabled": True}
    return raw(env, "PUT", f"{cid}?api-version=2026-06-01", body)


def _wait(env, url, deadline=10.0):
    """Poll an Azure-AsyncOperation URL until it ends; returns (answers, seconds taken)."""
    start, answers = time.monotonic(), []
    while time.monotonic() - start < deadline:
        answers.append(raw(env, "GET", url))
        if answers[-1].json()["status"] != "InProgress":
            break
        time.sleep(0.02)
    return answers, time.monotonic() - start


def test_the_managed_cluster_put_and_its_status_carry_no_retry_after(env):
    # acs/tests/latest/recordings/test_aks_update_with_oidc_issuer_enabled.yaml: the PUT answers 200 with
    # Azure-AsyncOperation only (no Location, no Retry-After); the status polls carry no Retry-After either.
    env.sb.lro_seconds["managedClusters"] = 0.3
    try:
        put = _cluster_put(env)
        assert put.status_code == 200, put.text
        assert "Azure-AsyncOperation" in put.headers and "Location" not in put.headers
        assert not [h for h in RETRY if h in put.headers], dict(put.headers)
        polls, _ = _wait(env, put.headers["Azure-AsyncOperation"])
        assert len(polls) > 1                                    # it ran for a while
        for answer in polls:
            assert not [h for h in RETRY if h in answer.headers], dict(answer.headers)
        assert polls[-1].json()["status"] == "Succeeded"
        assert {"name", "status", "startTime", "endTime"} <= set(polls[-1].json())
    finally:
        env.sb.lro_seconds.pop("managedClusters", None)


def test_other_providers_operations_still_carry_retry_after(env):
    # specs Microsoft.DBforPostgreSQL/stable/2024-08-01/examples/FirewallRuleCreate.json: 202 with
    # Azure-AsyncOperation and Location; the sandbox adds its retry-after-ms so clients poll quickly.
    server_id = env.seeds["targets"]["postgres-flexible"].rsplit("/databases/", 1)[0]
    put = raw(env, "PUT", f"{server_id}/firewallRules/pacing?api-version=2024-08-01",
              {"properties": {"startIpAddress": "20.1.2.3", "endIpAddress": "20.1.2.3"}})
    assert put.status_code == 202, put.text
    assert put.headers["retry-after-ms"] == "50"


def test_each_kind_takes_its_own_duration_and_retry_after_can_be_switched_for_a_kind(env):
    env.sb.lro_seconds["managedClusters"] = 0.6
    try:
        put = _cluster_put(env)
        _, took = _wait(env, put.headers["Azure-AsyncOperation"])
        assert 0.55 <= took < 3.0, took
    finally:
        env.sb.lro_seconds.pop("managedClusters", None)
    before = set(env.sb.no_retry_after)
    env.sb.no_retry_after.discard("managedClusters")
    try:
        put = _cluster_put(env)
        assert put.headers["retry-after-ms"] == "50"
        _wait(env, put.headers["Azure-AsyncOperation"])
    finally:
        env.sb.no_retry_after = before
