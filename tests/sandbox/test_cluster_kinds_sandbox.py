# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The seeded cluster kinds of the sandbox behave as AKS does: what listClusterUserCredential / AdminCredential
return, who the Kubernetes API accepts (static token, Entra ID token for the AKS server application), how it
authorizes (Azure role assignments on Azure RBAC clusters, control denials elsewhere), SelfSubjectAccessReviews,
and the unreachable API servers of private clusters and authorized IP ranges."""
import base64
import json
import os
import socket
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from urllib.parse import urlparse

import pytest
import yaml

from tests.conftest import KUBECTL

AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"
ROLE_IDS = {"Azure Kubernetes Service RBAC Reader": "7f6c6a51-bcf8-42ba-9220-52d62157d7db",
            "Azure Kubernetes Service RBAC Writer": "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb",
            "Azure Kubernetes Service RBAC Admin": "3498e952-d568-435e-9b2c-8d77e338d7f7",
            "Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"}
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def kubeconfig(az, cluster, admin=False):
    """(az result, kubeconfig dict) of `az aks get-credentials` for ``cluster``."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "config")
        args = ["aks", "get-credentials", "-g", cluster["resourceGroup"], "-n", cluster["name"], "--file", path]
        res = az(*(args + (["--admin"] if admin else [])))
        if res.rc != 0:
            return res, None
        with open(path, encoding="utf-8") as f:
            return res, yaml.safe_load(f)


def token(sandbox, resource, object_id=None):
    q = {"api-version": "2019-08-01", "resource": resource}
    if object_id:
        q["object_id"] = object_id
    req = urllib.request.Request(sandbox["armUrl"] + "/msi/token?" + urllib.parse.urlencode(q),
                                 headers={"X-IDENTITY-HEADER": "sandbox"})
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=sandbox["ca"]), timeout=10) as r:
        return json.loads(r.read())["access_token"]


def kube(sandbox, key, method, path, bearer, body=None):
    """(status, JSON body) of one Kubernetes API call on cluster ``key``."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{sandbox['kubeUrl']}/clusters/{key}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=sandbox["ca"]), timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def review(sandbox, key, bearer, verb, resource, namespace=None):
    status, body = kube(sandbox, key, "POST", SSAR, bearer, {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": namespace, "group": ""}}})
    assert status == 201, body
    return body["status"]


def assign(az, scope, principal, role):
    name = str(uuid.uuid4())
    res = az("rest", "--method", "put", "--url",
             f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01",
             "--body", json.dumps({"properties": {
                 "roleDefinitionId": f"/subscriptions/00000000-0000-0000-0000-000000000001/providers/"
                                     f"Microsoft.Authorization/roleDefinitions/{ROLE_IDS[role]}",
                 "principalId": principal, "principalType": "ServicePrincipal"}}), "-o", "json")
    assert res.rc == 0, res
    return res.json["id"]


def secret(name):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"k": "v"}}


def test_seeds_list_every_kind(sandbox):
    clusters = sandbox["seeds"]["clusters"]
    assert set(clusters) == {"local-accounts", "entra-id", "private", "authorized-ip-ranges"}
    assert clusters["local-accounts"] == sandbox["seeds"]["cluster"]
    for c in clusters.values():
        assert set(c) == {"resourceGroup", "name", "id"}
        assert c["id"].endswith(f"/resourceGroups/{c['resourceGroup']}/providers/Microsoft.ContainerService/"
                                f"managedClusters/{c['name']}")


def test_entra_id_cluster_credentials_as_aks(az, sandbox):
    c = sandbox["seeds"]["clusters"]["entra-id"]
    shown = az("aks", "show", "-g", c["resourceGroup"], "-n", c["name"], "-o", "json").json
    assert shown["aadProfile"]["managed"] and shown["aadProfile"]["enableAzureRbac"]
    assert shown["disableLocalAccounts"] is True
    _, config = kubeconfig(az, c)
    user = config["users"][0]["user"]
    assert "token" not in user
    assert user["exec"]["command"] == "kubelogin"
    assert user["exec"]["args"] == ["get-token", "--login", "devicecode", "--server-id", AKS_SERVER_APP,
                                    "--client-id", "80faf920-1908-4b52-b5ef-a8e7bedfc67a", "--tenant-id",
                                    sandbox["seeds"]["tenant"], "--environment", "AzurePublicCloud"]
    refused, _ = kubeconfig(az, c, admin=True)
    assert refused.rc != 0
    assert "Getting static credential is not allowed because this cluster is set to disable local accounts" in \
        refused.log


def test_entra_id_api_accepts_only_issued_tokens_for_the_server_app(az, sandbox):
    c = sandbox["seeds"]["clusters"]["entra-id"]
    _, local = kubeconfig(az, sandbox["seeds"]["cluster"])
    static = local["users"][0]["user"]["token"]
    assert kube(sandbox, c["name"], "GET", "/api/v1/namespaces", static)[0] == 401
    assert kube(sandbox, c["name"], "GET", "/api/v1/namespaces", token(sandbox, "https://management.azure.com/"))[0] \
        == 401
    good = token(sandbox, AKS_SERVER_APP)
    header, payload, _ = good.split(".")
    forged = ".".join([header, payload, base64.urlsafe_b64encode(b"forged").decode().rstrip("=")])
    assert kube(sandbox, c["name"], "GET", "/api/v1/namespaces", forged)[0] == 401
    status, body = kube(sandbox, c["name"], "GET", "/api/v1/namespaces", good)
    assert status == 200 and "default" in [n["metadata"]["name"] for n in body["items"]]
    # the local-accounts cluster still takes its static token, and refuses Entra ID tokens
    assert kube(sandbox, sandbox["seeds"]["cluster"]["name"], "GET", "/api/v1/namespaces", static)[0] == 200
    assert kube(sandbox, sandbox["seeds"]["cluster"]["name"], "GET", "/api/v1/namespaces", good)[0] == 401


def test_azure_rbac_authorizes_with_role_assignments(az, sandbox, sbc):
    c = sbc.new_cluster("aks-rbac-" + uuid.uuid4().hex[:6], "sandbox-rg", kind="entra-id", callerRole=None)
    key = c["name"]
    someone = str(uuid.uuid4())
    bearer = token(sandbox, AKS_SERVER_APP, object_id=someone)
    status, body = kube(sandbox, key, "POST", "/api/v1/namespaces/default/secrets", bearer, secret("s1"))
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert body["message"] == (f'secrets is forbidden: User "{someone}" cannot create resource "secrets" in API group '
                               '"" in the namespace "default": User does not have access to the resource in Azure. '
                               'Update role assignment to allow access.')
    denied = review(sandbox, key, bearer, "create", "secrets", "default")
    assert denied["allowed"] is False and "does not have access to the resource in Azure" in denied["reason"]

    assign(az, c["id"] + "/namespaces/default", someone, "Azure Kubernetes Service RBAC Writer")
    assert review(sandbox, key, bearer, "create", "secrets", "default") == {"allowed": True}
    assert kube(sandbox, key, "POST", "/api/v1/namespaces/default/secrets", bearer, secret("s1"))[0] == 201
    assert kube(sandbox, key, "GET", "/api/v1/namespaces/default", bearer)[0] == 200   # its own namespace object
    assert kube(sandbox, key, "POST", "/api/v1/namespaces/kube-public/secrets", bearer, secret("s1"))[0] == 403
    assert review(sandbox, key, bearer, "create", "namespaces")["allowed"] is False
    assert kube(sandbox, key, "POST", "/api/v1/namespaces", bearer,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new-ns"}})[0] == 403

    reader = str(uuid.uuid4())
    reader_bearer = token(sandbox, AKS_SERVER_APP, object_id=reader)
    assign(az, c["id"], reader, "Azure Kubernetes Service RBAC Reader")     # cluster scope, no Secrets
    assert review(sandbox, key, reader_bearer, "get", "configmaps", "kube-public") == {"allowed": True}
    assert review(sandbox, key, reader_bearer, "get", "secrets", "default")["allowed"] is False

    admin = str(uuid.uuid4())
    admin_bearer = token(sandbox, AKS_SERVER_APP, object_id=admin)
    assign(az, c["id"], admin, "Azure Kubernetes Service RBAC Admin")      # all but namespaces/resourcequotas
    assert review(sandbox, key, admin_bearer, "create", "secrets", "kube-public") == {"allowed": True}
    assert review(sandbox, key, admin_bearer, "create", "namespaces")["allowed"] is False

    assign(az, c["id"], someone, "Azure Kubernetes Service RBAC Cluster Admin")
    assert kube(sandbox, key, "POST", "/api/v1/namespaces", bearer,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new-ns"}})[0] == 201


def test_seeded_entra_id_cluster_admits_the_signed_in_principal(az, sandbox):
    c = sandbox["seeds"]["clusters"]["entra-id"]
    bearer = token(sandbox, AKS_SERVER_APP)
    assert review(sandbox, c["name"], bearer, "create", "namespaces") == {"allowed": True}
    listed = az("rest", "--method", "get", "--url", c["id"] + "/providers/Microsoft.Authorization/roleAssignments?"
                "api-version=2022-04-01&$filter=atScope()", "-o", "json").json["value"]
    assert any(a["properties"]["roleDefinitionId"].endswith(ROLE_IDS["Azure Kubernetes Service RBAC Cluster Admin"])
               for a in listed)
    defs = az("rest", "--method", "get", "--url", "/subscriptions/00000000-0000-0000-0000-000000000001/providers/"
              "Microsoft.Authorization/roleDefinitions/" + ROLE_IDS["Azure Kubernetes Service RBAC Admin"] +
              "?api-version=2022-04-01", "-o", "json").json
    assert defs["properties"]["roleName"] == "Azure Kubernetes Service RBAC Admin"
    assert "Microsoft.ContainerService/managedClusters/namespaces/write" in \
        defs["properties"]["permissions"][0]["notDataActions"]


def test_local_accounts_reviews_and_control_denials(az, sandbox, sbc):
    c = sbc.new_cluster("aks-deny-" + uuid.uuid4().hex[:6], "sandbox-rg")
    _, config = kubeconfig(az, c)
    static = config["users"][0]["user"]["token"]
    mark = sbc.mark()
    assert review(sandbox, c["name"], static, "create", "secrets", "default") == {"allowed": True}
    assert not [e for e in sbc.requests(since=mark) if e["mutating"]], "an access review is not a write"
    rule = sbc.deny_kube(c["id"], "create", "secrets", "default")
    try:
        assert review(sandbox, c["name"], static, "create", "secrets", "default")["allowed"] is False
        assert review(sandbox, c["name"], static, "create", "secrets", "kube-public") == {"allowed": True}
        assert review(sandbox, c["name"], static, "get", "secrets", "default") == {"allowed": True}
        status, body = kube(sandbox, c["name"], "POST", "/api/v1/namespaces/default/secrets", static, secret("x"))
        assert status == 403 and body["message"] == ('secrets is forbidden: User "masterclient" cannot create '
                                                     'resource "secrets" in API group "" in the namespace "default"')
        assert rule in [d["id"] for d in sbc.call("GET", "/_sandbox/kube/denials")["value"]]
    finally:
        sbc.clear_kube_denials()
    assert kube(sandbox, c["name"], "POST", "/api/v1/namespaces/default/secrets", static, secret("x"))[0] == 201


def test_private_cluster_names_its_private_fqdn(az, sandbox):
    c = sandbox["seeds"]["clusters"]["private"]
    shown = az("aks", "show", "-g", c["resourceGroup"], "-n", c["name"], "-o", "json").json
    assert shown["apiServerAccessProfile"]["enablePrivateCluster"] is True
    assert shown.get("fqdn") is None and shown["privateFqdn"].endswith(".privatelink.eastus.azmk8s.io")
    _, config = kubeconfig(az, c)
    assert config["clusters"][0]["cluster"]["server"] == f"https://{shown['privateFqdn']}:443"


def test_authorized_ip_ranges_refuse_connections(az, sandbox):
    c = sandbox["seeds"]["clusters"]["authorized-ip-ranges"]
    shown = az("aks", "show", "-g", c["resourceGroup"], "-n", c["name"], "-o", "json").json
    ranges = shown["apiServerAccessProfile"]["authorizedIpRanges"]
    assert ranges and not any(r.startswith("127.") for r in ranges)
    _, config = kubeconfig(az, c)
    url = urlparse(config["clusters"][0]["cluster"]["server"])
    assert url.hostname == "127.0.0.1"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((url.hostname, url.port), timeout=5)


@pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl not installed")
def test_kubectl_still_works_on_local_accounts(az, sandbox, tmp_path):
    path = tmp_path / "kubeconfig"
    c = sandbox["seeds"]["cluster"]
    assert az("aks", "get-credentials", "-g", c["resourceGroup"], "-n", c["name"], "--file", str(path),
              "-o", "none").rc == 0
    out = subprocess.run([KUBECTL, "--kubeconfig", str(path), "get", "namespaces", "-o", "name"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0 and "namespace/default" in out.stdout, out.stderr
