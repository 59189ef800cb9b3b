# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Checked by a client nobody here wrote: azure-cli's OWN built-in `az aks connection` (the serviceconnector core
module, through azure-mgmt-servicelinker), with this extension NOT installed (a clean, empty AZURE_EXTENSION_DIR
for that az process; same AZURE_CONFIG_DIR and sandbox login), against the sandbox's Service Connector resource
provider (sandbox/arm/servicelinker.py): create storage-blob --secret, create storage-blob --workload-identity,
create keyvault --enable-csi, list, show, list-configuration, validate, delete --yes. Each exits 0, and the
Secret / ServiceAccount the built-in names (kubernetesResourceName) exist in the cluster with the expected keys.

The built-in polls every 30 s when the service sends no Retry-After (Microsoft's recordings show none, and neither
does the sandbox by default): the cycle runs with the sandbox's Retry-After switched on (1 s);
test_builtin_create_without_retry_after proves the built-in also works without it (about 30 s, once).
"""
import json
import os
import tempfile
import time
import uuid

import pytest

from tests.conftest import az_subprocess
from tests.e2e.helpers import kube_for, new_cluster, secret_values

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def builtin(az, sandbox):
    """The environment of an az process that has no extension at all (the built-in commands only)."""
    ext_dir = tempfile.mkdtemp(prefix="aksconn-no-ext-")
    env = dict(os.environ, AZURE_EXTENSION_DIR=ext_dir)
    res = az_subprocess("extension", "list", "-o", "json", env=env)
    assert res.returncode == 0 and json.loads(res.stdout) == [], res.stderr
    assert os.listdir(ext_dir) == []

    def run(*args):
        res = az_subprocess(*args, env=env)
        assert "aks-connection" not in res.stderr
        return res
    return run


@pytest.fixture
def quick_service_connector(sbc):
    """Short Service Connector operations and Retry-After: 1 on its answers during the test; restored."""
    seconds = sbc.set_lro()["lroSeconds"]
    kinds = ("linkers", "validateLinker", "extensions")
    before = {k: seconds.get(k, seconds.get("default", 1.0)) for k in kinds}
    sbc.set_lro(linkers=0.2, validateLinker=0.1, extensions=0.2)
    retry_after = sbc.set_servicelinker_retry_after(1)
    yield
    sbc.set_servicelinker_retry_after(retry_after)
    sbc.set_lro(**before)


def ok(res):
    assert res.returncode == 0, f"rc={res.returncode}\nstdout={res.stdout[-2000:]}\nstderr={res.stderr[-4000:]}"
    return json.loads(res.stdout) if res.stdout.strip() else None


def test_builtin_full_cycle(builtin, az, sbc, sandbox, tmp_path, quick_service_connector):
    cluster = dict(new_cluster(sbc, "builtin"), resourceGroup="sandbox-rg")
    cid = cluster["id"]
    core, _ = kube_for(az, cluster, tmp_path)
    targets = sandbox["seeds"]["targets"]
    identity = az("identity", "create", "-g", "sandbox-rg", "-n", "builtin-" + uuid.uuid4().hex[:6], "-o", "json")
    assert identity.rc == 0, identity
    ident = identity.json
    namespace = "builtin-" + uuid.uuid4().hex[:4]

    blob = ok(builtin("aks", "connection", "create", "storage-blob", "--source-id", cid,
                      "--target-id", targets["storage-blob"], "--secret", "--client-type", "python",
                      "--connection", "blob_secret", "-o", "json"))
    assert blob["provisioningState"] == "Succeeded"
    assert blob["kubernetesResourceName"] == {"secret": "sc-blobsecret-secret"}
    assert [c["name"] for c in blob["configurations"]] == ["AZURE_STORAGEBLOB_CONNECTIONSTRING"]
    values = secret_values(core, "default", "sc-blobsecret-secret")
    assert list(values) == ["AZURE_STORAGEBLOB_CONNECTIONSTRING"]
    assert "AccountName=sandboxstore;AccountKey=" in values["AZURE_STORAGEBLOB_CONNECTIONSTRING"]

    wi = ok(builtin("aks", "connection", "create", "storage-blob", "--source-id", cid,
                    "--target-id", targets["storage-blob"], "--workload-identity", ident["id"],
                    "--client-type", "python", "--kube-namespace", namespace, "--connection", "blob_wi",
                    "-o", "json"))
    sa_name = f"sc-account-{ident['clientId']}"
    assert wi["kubernetesResourceName"] == {"secret": "sc-blobwi-secret", "serviceAccount": sa_name}
    assert wi["authInfo"]["clientId"] == ident["clientId"] and wi["scope"] == namespace
    sa = core.read_namespaced_service_account(sa_name, namespace)
    assert sa.metadata.annotations["azure.workload.identity/client-id"] == ident["clientId"]
    assert sa.metadata.annotations["azure.workload.identity/tenant-id"] == sandbox["seeds"]["tenant"]
    assert secret_values(core, namespace, "sc-blobwi-secret") == {
        "AZURE_STORAGEBLOB_RESOURCEENDPOINT": blob_endpoint(builtin), "AZURE_STORAGEBLOB_CLIENTID": ident["clientId"]}
    fics = ok(builtin("identity", "federated-credential", "list", "-g", "sandbox-rg", "--identity-name",
                      ident["name"], "-o", "json"))
    assert [(f["subject"], f["audiences"]) for f in fics] == [
        (f"system:serviceaccount:{namespace}:{sa_name}", ["api://AzureADTokenExchange"])]
    shown = ok(builtin("aks", "show", "-g", "sandbox-rg", "-n", cluster["name"], "-o", "json"))
    assert shown["oidcIssuerProfile"]["enabled"] and shown["securityProfile"]["workloadIdentity"]["enabled"]
    assert fics[0]["issuer"] == shown["oidcIssuerProfile"]["issuerUrl"]

    kv = ok(builtin("aks", "connection", "create", "keyvault", "--source-id", cid,
                    "--target-id", targets["keyvault"], "--enable-csi", "--client-type", "python",
                    "--connection", "kv_csi", "-o", "json"))
    assert kv["kubernetesResourceName"] == {"secret": "sc-kvcsi-secret"}
    shown = ok(builtin("aks", "show", "-g", "sandbox-rg", "-n", cluster["name"], "-o", "json"))
    addon = shown["addonProfiles"]["azureKeyvaultSecretsProvider"]
    assert addon["enabled"] and addon["identity"]["clientId"]
    assert secret_values(core, "default", "sc-kvcsi-secret") == {
        "AZURE_KEYVAULT_RESOURCEENDPOINT": "https://sandboxkvrbac.vault.azure.net/",
        "AZURE_KEYVAULT_CLIENTID": addon["identity"]["clientId"],
        "AZURE_KEYVAULT_SCOPE": "https://management.azure.com/.default"}

    listed = ok(builtin("aks", "connection", "list", "--source-id", cid, "-o", "json"))
    assert sorted(x["name"] for x in listed) == ["blob_secret", "blob_wi", "kv_csi"]
    assert {x["name"]: x["kubernetesResourceName"]["secret"] for x in listed} == {
        "blob_secret": "sc-blobsecret-secret", "blob_wi": "sc-blobwi-secret", "kv_csi": "sc-kvcsi-secret"}
    shown = ok(builtin("aks", "connection", "show", "-g", "sandbox-rg", "-n", cluster["name"],
                       "--connection", "blob_wi", "-o", "json"))
    assert shown["kubernetesResourceName"]["serviceAccount"] == sa_name
    assert shown["provisioningState"] == "Succeeded"
    configs = ok(builtin("aks", "connection", "list-configuration", "--id", f"{cid}/providers/"
                         "Microsoft.ServiceLinker/linkers/blob_secret", "-o", "json"))
    assert configs["configurations"] == [{"name": "AZURE_STORAGEBLOB_CONNECTIONSTRING", "value": "",
                                          "configType": "Default", "keyVaultReferenceIdentity": None,
                                          "description": ""}]
    validated = ok(builtin("aks", "connection", "validate", "-g", "sandbox-rg", "-n", cluster["name"],
                           "--connection", "blob_wi", "-o", "json"))
    assert [v["result"] for v in validated] == ["success"] * 5

    ok(builtin("aks", "connection", "delete", "--id", f"{cid}/providers/Microsoft.ServiceLinker/linkers/blob_secret",
               "--yes"))
    listed = ok(builtin("aks", "connection", "list", "--source-id", cid, "-o", "json"))
    assert sorted(x["name"] for x in listed) == ["blob_wi", "kv_csi"]
    # as Service Connector does: deleting the connection leaves the Kubernetes Secret
    assert secret_values(core, "default", "sc-blobsecret-secret")


def blob_endpoint(builtin):
    account = ok(builtin("storage", "account", "show", "-g", "sandbox-data-rg", "-n", "sandboxstore", "-o", "json"))
    return account["primaryEndpoints"]["blob"]


def test_builtin_create_without_retry_after(builtin, az, sbc, sandbox, tmp_path):
    """SLOW ON PURPOSE (about 30 s): the sandbox sends no Retry-After on Service Connector's answers, as Microsoft's
    recordings show, and the built-in still completes: azure-core then waits its polling_interval of 30 s."""
    assert sbc.arm("GET", "settings")["serviceLinkerRetryAfter"] == 0
    cluster = dict(new_cluster(sbc, "builtin-slow"), resourceGroup="sandbox-rg")
    core, _ = kube_for(az, cluster, tmp_path)
    mark = sbc.mark()
    started = time.monotonic()
    created = ok(builtin("aks", "connection", "create", "storage-blob", "--source-id", cluster["id"],
                         "--target-id", sandbox["seeds"]["targets"]["storage-blob"], "--secret",
                         "--client-type", "none", "--connection", "slow_blob", "-o", "json"))
    elapsed = time.monotonic() - started
    assert created["provisioningState"] == "Succeeded"
    assert secret_values(core, "default", "sc-slowblob-secret")
    polls = [e for e in sbc.requests(since=mark, plane="arm")
             if "/providers/Microsoft.ServiceLinker/locations/" in e["path"]]
    assert polls, "the built-in never polled the operation status"
    assert elapsed >= 25, f"the built-in polled faster than its 30 s floor ({elapsed:.1f} s): a Retry-After leaked?"
