# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The end-to-end smoke: create / show / validate / delete of each auth type (secret, workload identity, service
principal, Key Vault CSI) against the sandbox. It runs in `make test` on the current azure-cli and in
`make test-mincli` on the oldest azure-cli the extension declares (azext_metadata.json azext.minCliCoreVersion),
in a virtualenv of its own: what the extension claims to run on, it is tested on."""
import base64
import json
import os
import uuid

import pytest

from azext_aks_connection import targets as t

pytestmark = pytest.mark.e2e

NAMESPACE = "smoke"
PASSWORD = "Pw-" + uuid.uuid4().hex
SP_CLIENT, SP_OBJECT = str(uuid.uuid4()), str(uuid.uuid4())


def _args(sandbox, auth):
    """(target, the create's target and auth arguments)."""
    seeds = sandbox["seeds"]
    storage = seeds["storage"]["storage-blob"]
    blob = ["storage-blob", "--tg", storage["resourceGroup"], "--account", storage["account"]]
    if auth == t.AUTH_SECRET:
        return blob + ["--secret"]
    if auth == t.AUTH_WORKLOAD_IDENTITY:
        return blob + ["--workload-identity", seeds["identities"]["sandbox-identity"]]
    if auth == t.AUTH_SERVICE_PRINCIPAL:
        return blob + ["--service-principal", f"client-id={SP_CLIENT}", f"secret={PASSWORD}",
                       f"object-id={SP_OBJECT}"]
    return ["keyvault", "--target-id", seeds["targets"]["keyvault"], "--enable-csi"]


AUTHS = [t.AUTH_SECRET, t.AUTH_WORKLOAD_IDENTITY, t.AUTH_SERVICE_PRINCIPAL, t.AUTH_CSI]


def test_the_azure_cli_is_the_one_this_run_is_for():
    """`make test-mincli` sets AKS_CONNECTION_EXPECT_CLI: the run fails if another azure-cli answered."""
    from azure.cli.core import __version__
    expected = os.environ.get("AKS_CONNECTION_EXPECT_CLI")
    if expected:
        assert __version__ == expected, __version__
    import azext_aks_connection
    with open(os.path.join(os.path.dirname(azext_aks_connection.__file__), "azext_metadata.json"),
              encoding="utf-8") as f:
        minimum = json.load(f)["azext.minCliCoreVersion"]
    assert tuple(map(int, __version__.split("."))) >= tuple(map(int, minimum.split("."))), (__version__, minimum)


@pytest.mark.parametrize("auth", AUTHS)
def test_create_show_validate_delete(az, sandbox, kube, auth):
    c = sandbox["seeds"]["cluster"]
    conn = f"smoke_{auth.split('-')[0]}"
    conn_id = c["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + conn
    created = az("aks", "connection", "create", *_args(sandbox, auth), "-g", c["resourceGroup"], "-n", c["name"],
                 "--connection", conn, "--kube-namespace", NAMESPACE, "--client-type", "python", "-o", "json")
    assert created.rc == 0, created
    out = created.json
    assert out["provisioningState"] == "Succeeded" and out["authInfo"]["authType"] == t.WIRE_AUTH_TYPE[auth]
    assert PASSWORD not in created.out
    names = out["kubernetesResourceName"]
    if auth in (t.AUTH_SECRET, t.AUTH_SERVICE_PRINCIPAL):
        secret = kube.read_namespaced_secret(names["secret"], NAMESPACE)
        values = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
        assert values and all(values.values()), sorted(values)
        assert (PASSWORD in values.values()) == (auth == t.AUTH_SERVICE_PRINCIPAL)
    if auth == t.AUTH_WORKLOAD_IDENTITY:
        account = kube.read_namespaced_service_account(names["serviceAccount"], NAMESPACE)
        assert account.metadata.annotations["azure.workload.identity/client-id"]

    shown = az("aks", "connection", "show", "--id", conn_id, "-o", "json")
    assert shown.rc == 0, shown
    assert shown.json["id"] == out["id"] and shown.json["authInfo"]["authType"] == t.WIRE_AUTH_TYPE[auth]

    validated = az("aks", "connection", "validate", "--id", conn_id, "-o", "json")
    assert validated.rc == 0, validated
    assert validated.json and {r["result"] for r in validated.json} == {"success"}, validated.json

    deleted = az("aks", "connection", "delete", "--id", conn_id, "--yes")
    assert deleted.rc == 0, deleted
    gone = az("aks", "connection", "show", "--id", conn_id, "-o", "json")
    assert gone.rc == 3, gone
