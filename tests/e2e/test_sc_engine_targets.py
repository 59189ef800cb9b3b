# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The extension's ``--engine service-connector`` against the sandbox's Service Connector RP, one target of each
family the RP emulates beyond storage and Key Vault (issue 24): the connection is made, the Secret the RP's sc-job
writes holds exactly the keys list-configuration names, and delete removes the linker. The keys themselves are the
RP's own table (sandbox/arm/servicelinker_targets.py, from Microsoft's docs), not the extension's."""
import uuid

import pytest

from azext_aks_connection import targets as t
from tests.e2e.test_all_targets import _auth_args, _target_args

pytestmark = pytest.mark.e2e

CASES = [("servicebus", t.AUTH_WORKLOAD_IDENTITY), ("eventhub", t.AUTH_SECRET),
         ("appconfig", t.AUTH_SERVICE_PRINCIPAL), ("cognitiveservices", t.AUTH_WORKLOAD_IDENTITY),
         ("signalr", t.AUTH_SECRET), ("webpubsub", t.AUTH_WORKLOAD_IDENTITY), ("cosmos-sql", t.AUTH_SECRET),
         ("redis", t.AUTH_SECRET), ("app-insights", t.AUTH_SECRET), ("redis-enterprise", t.AUTH_SECRET)]


@pytest.mark.parametrize("name, auth", CASES, ids=[f"{n}-{a}" for n, a in CASES])
def test_service_connector_engine_makes_the_connection(az, sandbox, kube, name, auth):
    target = t.TARGETS[name]
    c = sandbox["seeds"]["cluster"]
    conn = f"sce_{target.wire_name}_{uuid.uuid4().hex[:4]}"
    client = "none" if "none" in target.client_types else target.client_types[-1]
    made = az("aks", "connection", "create", name, "-g", c["resourceGroup"], "-n", c["name"],
              *_target_args(sandbox, name), *_auth_args(sandbox, target, auth), "--connection", conn,
              "--kube-namespace", "sc-engine", "--client-type", client, "--engine", "service-connector", "-o", "json")
    assert made.rc == 0, made
    secret = kube.read_namespaced_secret(made.json["kubernetesResourceName"]["secret"], "sc-engine")
    listed = az("aks", "connection", "list-configuration", "-g", c["resourceGroup"], "-n", c["name"],
                "--connection", conn, "-o", "json")
    assert listed.rc == 0, listed
    assert sorted(secret.data or {}) == sorted(i["name"] for i in listed.json["configurations"])
    assert all(k.startswith(target.keys_for(auth, client)[0].key.rsplit("_", 1)[0]) for k in secret.data)
    gone = az("aks", "connection", "delete", "-g", c["resourceGroup"], "-n", c["name"], "--connection", conn, "--yes")
    assert gone.rc == 0, gone
