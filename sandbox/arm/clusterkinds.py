# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Managed clusters of each kind users meet, and what their kubeconfigs look like (as AKS hands them out).

  local-accounts        today's default: a static cluster-admin token in the kubeconfig
  entra-id-other-tenant the same, its Entra ID another tenant's than the subscription's (aadProfile.tenantID): its
                        API takes only tokens of that tenant
  entra-id              AKS-managed Entra ID with Azure RBAC for Kubernetes, local accounts disabled:
                        listClusterUserCredential returns kubelogin's exec kubeconfig (devicecode, server
                        application 6dae42f8-…, client application 80faf920-…); admin credentials refused; the
                        Kubernetes API takes only Entra ID tokens for the server application and authorizes
                        with Azure role assignments (sandbox/kube/access.py)
  private               apiServerAccessProfile.enablePrivateCluster, no public FQDN: the kubeconfig names the
                        privateFQDN, a name that resolves nowhere
  authorized-ip-ranges  apiServerAccessProfile.authorizedIPRanges that exclude this machine: the kubeconfig
                        names an address where connections are refused (a port reserved and never listened on)

The server and user of a kubeconfig are worked out from the cluster at each credential request, so a cluster
updated to another kind (or whose authorized ranges come to include 127.0.0.1) gets kubeconfigs to match.
"""
import copy
import hashlib
import ipaddress
import json
import socket
import threading

AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"
AKS_CLIENT_APP = "80faf920-1908-4b52-b5ef-a8e7bedfc67a"
KINDS = ("local-accounts", "entra-id", "entra-id-other-tenant", "private", "authorized-ip-ranges")
# The tenant of the "entra-id-other-tenant" kind: its Entra ID is another tenant's than the subscription's
OTHER_TENANT = "72f988bf-0000-4000-8000-00000000abcd"
CALLER_ROLE = "Azure Kubernetes Service RBAC Cluster Admin"
# Documentation ranges (RFC 5737): never this machine.
EXCLUDED_RANGES = ["203.0.113.0/24", "198.51.100.7/32"]
CALLER_ADDRESS = ipaddress.ip_address("127.0.0.1")
INSTALL_HINT = ("\nkubelogin is not installed which is required to connect to AAD enabled cluster.\n\n"
                "To learn more, please go to https://aka.ms/aks/kubelogin\n")
_LOCK = threading.Lock()


def overrides(sb, kind):
    """The managed-cluster properties that make a default cluster one of ``kind``."""
    if kind == "local-accounts":
        return {}
    if kind in ("entra-id", "entra-id-other-tenant"):
        tenant = sb.tenant_id if kind == "entra-id" else OTHER_TENANT
        return {"aadProfile": {"managed": True, "enableAzureRBAC": True, "tenantID": tenant,
                               "adminGroupObjectIDs": None},
                "disableLocalAccounts": True}
    if kind == "private":
        return {"apiServerAccessProfile": {"enablePrivateCluster": True, "privateDNSZone": "system",
                                           "enablePrivateClusterPublicFQDN": False}}
    if kind == "authorized-ip-ranges":
        return {"apiServerAccessProfile": {"authorizedIPRanges": list(EXCLUDED_RANGES),
                                           "enablePrivateCluster": False}}
    raise ValueError(f"cluster kind must be one of {', '.join(KINDS)}")


def apply_computed(res):
    """What AKS computes for the access profile: a private cluster gets its privateFQDN (and no public FQDN
    unless enablePrivateClusterPublicFQDN)."""
    props = res.setdefault("properties", {})
    access = props.get("apiServerAccessProfile") or {}
    if access.get("enablePrivateCluster"):
        h = hashlib.sha256(res["id"].lower().encode()).hexdigest()
        props.setdefault("privateFQDN", f"{props.get('dnsPrefix') or res['name']}-{h[:8]}.{h[8:16]}-"
                                        f"{h[16:20]}-{h[20:24]}.privatelink.{res['location']}.azmk8s.io")
        if not access.get("enablePrivateClusterPublicFQDN"):
            props.pop("fqdn", None)
    return res


def seed(state, rg, name, kind, location=None, caller_role=CALLER_ROLE):
    """A cluster of ``kind``; an entra-id one gives the sandbox's signed-in principal ``caller_role`` on it
    (None: no role). Returns a copy of the cluster."""
    from sandbox.arm import authorization, containerservice
    res = containerservice.seed_cluster(state, rg, name, location, None, overrides(state.sb, kind))
    with state.lock:
        live = state.raw(res["id"])
        apply_computed(live)
        res = copy.deepcopy(live)
    if kind == "entra-id" and caller_role:
        authorization.seed_assignment(state, res["id"], state.sb.caller_object_id, caller_role)
    return res


def refused_port(sb):
    """A loopback port bound by the sandbox and never listened on: connections to it are refused."""
    with _LOCK:
        sock = getattr(sb, "_refused_socket", None)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sb._refused_socket = sock   # pylint: disable=protected-access
        return sock.getsockname()[1]


def _admits_caller(ranges):
    for r in ranges:
        try:
            if CALLER_ADDRESS in ipaddress.ip_network(str(r).strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def api_server(sb, cluster, served_at):
    """The server a kubeconfig of ``cluster`` names: ``served_at`` (the sandbox's Kubernetes API), the private
    FQDN of a private cluster, or a refused address when the authorized IP ranges leave this machine out."""
    props = cluster.get("properties") or {}
    access = props.get("apiServerAccessProfile") or {}
    if access.get("enablePrivateCluster") and not access.get("enablePrivateClusterPublicFQDN"):
        fqdn = props.get("privateFQDN") or apply_computed(copy.deepcopy(cluster))["properties"]["privateFQDN"]
        return f"https://{fqdn}:443"
    ranges = access.get("authorizedIPRanges") or []
    if ranges and not _admits_caller(ranges):
        return f"https://127.0.0.1:{refused_port(sb)}"
    return served_at


def exec_user(sb, cluster, admin, legacy=False):
    """The kubeconfig ``user`` entry lines (indented for ``- name: …``) when the cluster's user credentials are
    Entra ID (kubelogin exec, as AKS returns them with format=exec), else None. ``legacy``: the request named no
    format: the ``azure`` auth-provider form of older API versions (that kubectl itself no longer runs)."""
    props = cluster.get("properties") or {}
    aad = props.get("aadProfile") or {}
    if admin or not aad.get("managed"):
        return None
    tenant = aad.get("tenantID") or sb.tenant_id
    if legacy:
        return ["  user:", "    auth-provider:", "      config:", f"        apiserver-id: {AKS_SERVER_APP}",
                f"        client-id: {AKS_CLIENT_APP}", "        config-mode: '1'",
                "        environment: AzurePublicCloud", f"        tenant-id: {tenant}", "      name: azure"]
    args = ["get-token", "--login", "devicecode", "--server-id", AKS_SERVER_APP, "--client-id", AKS_CLIENT_APP,
            "--tenant-id", tenant, "--environment", "AzurePublicCloud"]
    lines = ["  user:", "    exec:", "      apiVersion: client.authentication.k8s.io/v1beta1", "      args:"]
    lines += [f"      - {a}" for a in args]
    lines += ["      command: kubelogin", "      env: null", f"      installHint: {json.dumps(INSTALL_HINT)}",
              "      interactiveMode: IfAvailable", "      provideClusterInfo: false"]
    return lines


def is_namespace_scope(state, scope):
    """Whether ``scope`` is ``<managed cluster id>/namespaces/<name>`` of an existing cluster: the scope of
    namespace-level role assignments of Azure RBAC for Kubernetes (no ARM resource lives there)."""
    parts = str(scope or "").rstrip("/").split("/")
    if len(parts) < 11 or parts[-2].lower() != "namespaces" or \
            parts[-4].lower() != "managedclusters" or parts[-5].lower() != "microsoft.containerservice":
        return False
    return state.raw("/".join(parts[:-2])) is not None
