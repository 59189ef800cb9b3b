# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""A workload of its own for each reliability case, and its end state on both planes as a user would look at it.

A *world*: a new cluster (OIDC issuer and workload identity off), a user-assigned identity of its own (an identity
holds at most 20 federated credentials: the seeded one is shared by other tests), a storage account of its own whose
firewall admits no network (defaultAction Deny), and a namespace of its own. A workload-identity create in a world
writes on both planes: the cluster update, two role assignments, the firewall rule, the federated credential; the
connection's namespace, its ServiceAccount and Secret, the store's namespace and the record.

:func:`snapshot` reads what is there afterwards — the cluster's features, the role assignments on the account, the
identity's federated credentials, the account's firewall rules, every namespace, ServiceAccount, Secret and record
ConfigMap in the cluster — with the world's own names replaced by placeholders, so that the end states of two
worlds compare equal when the same objects (no more, no fewer) are there.
"""
import base64
import json
import re
import uuid
from urllib.parse import quote

from sandbox.arm.targets import OTHER_REGION

RG = "sandbox-rg"
DATA_RG = "sandbox-data-rg"
ROLES = ("Storage Blob Data Contributor", "Storage Blob Data Reader")
SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
RECORD_SELECTOR = "aks-connection/record=v1"


def new_world(sbc, tag, firewall=True):
    suffix = uuid.uuid4().hex[:8]
    cluster = sbc.new_cluster(f"{tag}-{suffix}", RG)
    identity = sbc.new_identity(RG, f"id-{tag}-{suffix}")
    # In another region than the cluster: Azure Storage ignores IP rules for requests from its own region, so a
    # closed account there admits the cluster by its egress IP (a same-region one is refused before any write).
    account = sbc.new_storage_account(DATA_RG, f"st{suffix}{uuid.uuid4().hex[:4]}",
                                      location=OTHER_REGION if firewall else None)
    if firewall:
        sbc.arm("PATCH", "resource?id=" + quote(account["id"], safe=""),
                {"properties": {"networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices", "ipRules": []}}})
    return {"cluster": cluster, "identity": identity, "account": account, "namespace": f"ns-{suffix}",
            "connection": f"conn_{suffix}", "suffix": suffix,
            "egress": sbc.egress(RG, cluster["name"])["ips"]}


def conn_id(world):
    return world["cluster"]["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + world["connection"]


def create_args(world, *extra, auth="wi"):
    """`az aks connection create storage-blob` of the world's connection (workload identity, the two roles)."""
    args = ["aks", "connection", "create", "storage-blob", "--source-id", world["cluster"]["id"],
            "--target-id", world["account"]["id"] + "/blobServices/default", "--connection", world["connection"],
            "--kube-namespace", world["namespace"], "--client-type", "python", "-o", "json"]
    if auth == "wi":
        args += ["--workload-identity", world["identity"]["id"]]
        for role in ROLES:
            args += ["--role", role]
    else:
        args += ["--secret"]
    return args + list(extra)


def delete_args(world):
    return ["aks", "connection", "delete", "--id", conn_id(world), "--yes"]


class KubeReader:  # pylint: disable=too-few-public-methods
    """CoreV1Api of any sandbox cluster: the API server of cluster <name> is <kube url>/clusters/<name>, and a
    local-accounts cluster takes the token of `az aks get-credentials` of any other (read once)."""

    def __init__(self, sandbox, token):
        self.sandbox, self.token = sandbox, token

    def core(self, cluster_name):
        from kubernetes import client
        cfg = client.Configuration()
        cfg.host = f"{self.sandbox['kubeUrl']}/clusters/{cluster_name}"
        cfg.ssl_ca_cert = self.sandbox["ca"]
        cfg.api_key = {"authorization": "Bearer " + self.token}
        return client.CoreV1Api(client.ApiClient(cfg))


def _raw(sbc, rid):
    try:
        return sbc.arm("GET", "resource?id=" + quote(rid, safe=""))
    except Exception:  # pylint: disable=broad-except
        return None


def _under(sbc, type_name, prefix):
    ids = sbc.arm("GET", "resources?type=" + quote(type_name, safe=""))["value"]
    return [rid for rid in ids if rid.lower().startswith(prefix.lower() + "/")]


def arm_state(sbc, world):
    cluster = _raw(sbc, world["cluster"]["id"]) or {}
    props = cluster.get("properties") or {}
    account = _raw(sbc, world["account"]["id"]) or {}
    assignments = []
    for a in sbc.arm("GET", "role-assignments?principalId=" + world["identity"]["principalId"])["value"]:
        p = a.get("properties") or {}
        assignments.append([p.get("roleDefinitionId", "").rsplit("/", 1)[-1], p.get("principalId"), p.get("scope")])
    fics = []
    for rid in _under(sbc, "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
                      world["identity"]["id"]):
        p = (_raw(sbc, rid) or {}).get("properties") or {}
        fics.append([p.get("issuer"), p.get("subject"), p.get("audiences")])
    return {
        "oidcIssuer": bool((props.get("oidcIssuerProfile") or {}).get("enabled")),
        "workloadIdentity": bool(((props.get("securityProfile") or {}).get("workloadIdentity") or {}).get("enabled")),
        "issuer": (props.get("oidcIssuerProfile") or {}).get("issuerURL"),
        "roleAssignments": sorted(assignments),
        "federatedCredentials": sorted(fics, key=json.dumps),
        "firewall": sorted(r.get("value") for r in ((account.get("properties") or {}).get("networkAcls") or {})
                           .get("ipRules") or []),
    }


def kube_state(kube, world, store_namespace="aks-connection"):
    core = kube.core(world["cluster"]["name"])
    namespaces = sorted(n.metadata.name for n in core.list_namespace().items
                        if n.metadata.name not in SYSTEM_NAMESPACES)
    accounts, secrets = {}, {}
    for ns in namespaces + ["default"]:
        for sa in core.list_namespaced_service_account(ns).items:
            if sa.metadata.name != "default":
                accounts[f"{ns}/{sa.metadata.name}"] = dict(sa.metadata.annotations or {})
        for sec in core.list_namespaced_secret(ns).items:
            secrets[f"{ns}/{sec.metadata.name}"] = {
                k: base64.b64decode(v).decode() for k, v in sorted((sec.data or {}).items())}
    records = {}
    if store_namespace in namespaces:
        for cm in core.list_namespaced_config_map(store_namespace, label_selector=RECORD_SELECTOR).items:
            record = json.loads(cm.data["connection.json"])
            record.pop("systemData", None)
            records[record.get("name")] = record      # the ConfigMap's name carries a hash of the connection's
    return {"namespaces": namespaces, "serviceAccounts": accounts, "secrets": secrets, "records": records}


def _dangling(sbc, records):
    """Ids a record names as made by it (role assignments, federated credential) that are not there."""
    there = {a["id"].lower() for a in sbc.arm("GET", "role-assignments")["value"]}
    missing = []
    for record in records.values():
        made = record.get("provisioned") or {}
        missing += [rid for rid in made.get("roleAssignments") or [] if rid.lower() not in there]
        fic = made.get("federatedCredential")
        if fic and _raw(sbc, fic) is None:
            missing.append(fic)
    return sorted(missing)


def snapshot(sbc, kube, world):
    """Both planes, the world's own names and ids replaced by placeholders (comparable across worlds); the names
    derived from them by a hash (role assignment GUIDs, the federated credential's suffix) too, once checked to
    name objects that are there (``dangling``)."""
    state = {"arm": arm_state(sbc, world), "kube": kube_state(kube, world)}
    state["dangling"] = _dangling(sbc, state["kube"]["records"])
    text = json.dumps(state, sort_keys=True)
    text = re.sub(r"roleAssignments/[0-9a-fA-F-]{36}", "roleAssignments/{guid}", text)
    text = re.sub(r"(federatedIdentityCredentials/sc-[a-z0-9-]+?)-[0-9a-f]{12}\b", r"\1-{hash}", text)
    issuer = state["arm"]["issuer"]
    swaps = [(issuer, "{issuer}")] if issuer else []
    swaps += [(world["identity"]["id"], "{identity id}"), (world["account"]["id"], "{account id}"),
              (world["cluster"]["id"], "{cluster id}"), (world["identity"]["principalId"], "{principal}"),
              (world["identity"]["clientId"], "{client id}"), (world["identity"]["name"], "{identity}"),
              (world["account"]["name"], "{account}"), (world["cluster"]["name"], "{cluster}"),
              (world["connection"], "{connection}"), (world["connection"].replace("_", ""), "{conn}"),
              (world["namespace"], "{namespace}")]
    swaps += [(ip, "{egress ip}") for ip in world["egress"]]
    for old, new in swaps:
        if old:
            text = text.replace(old, new)
    return json.loads(text)


def duplicates(snap):
    """What a clean run never makes twice, counted: [(what, count)] for each that is there more than once."""
    arm = snap["arm"]
    found = []
    for what, items in (("role assignment", [tuple(a[:2]) for a in arm["roleAssignments"]]),
                        ("federated credential", [tuple(f[:2]) for f in arm["federatedCredentials"]]),
                        ("firewall rule", arm["firewall"])):
        for item in set(items):
            if items.count(item) > 1:
                found.append((f"{what} {item}", items.count(item)))
    return found
