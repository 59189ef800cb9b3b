# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.ContainerService/managedClusters (AKS): GET/list, PUT and PATCH (tags) as LROs,
DELETE, start/stop, list*Credential (kubeconfigs pointing at the sandbox Kubernetes API),
and the read-only agentPools child."""
import base64
import copy
import hashlib
import json
import re

from sandbox.arm import common, managedidentity, network
from sandbox.arm.common import arm_error, deep_merge, iso, new_guid, stable_guid, system_data
from sandbox.core import Response

NS = "Microsoft.ContainerService"
TYPE = "Microsoft.ContainerService/ManagedClusters"
K8S_VERSION = "1.31.7"
NODE_IMAGE = "AKSUbuntu-2204gen2containerd-202505.14.0"
# The versions ARM routes to the provider (any other: 400 NoRegisteredProviderFound, sandbox/arm/targetkit.py):
# the stable and preview folders of azure-rest-api-specs specification/containerservice/resource-manager/
# Microsoft.ContainerService/aks (its readme.md lists them, 2017-08-31 .. 2024-01-01), the later stable ones, and
# 2026-06-01 and 2026-04-01, the versions the azure-mgmt-containerservice shipped with azure-cli 2.91 and 2.88
# (the oldest the extension declares) send.
API_VERSIONS = ["2026-06-01", "2026-04-01", "2025-10-01", "2025-07-01", "2025-05-01", "2025-03-01", "2025-01-01",
                "2024-10-01", "2024-09-01", "2024-08-01", "2024-07-01", "2024-06-01", "2024-05-01", "2024-02-01",
                "2024-01-01"] + \
    [f"2023-{m:02d}-01" for m in range(11, 0, -1)] + [f"2023-{m:02d}-02-preview" for m in range(11, 0, -1)] + \
    ["2022-11-01", "2022-11-02-preview", "2022-10-02-preview", "2022-09-01", "2022-09-02-preview",
     "2022-08-03-preview", "2022-08-02-preview", "2022-07-01", "2022-07-02-preview", "2022-06-01",
     "2022-06-02-preview", "2022-05-02-preview", "2022-04-01", "2022-04-02-preview", "2022-03-01",
     "2022-03-02-preview", "2022-02-01", "2022-02-02-preview", "2022-01-01", "2022-01-02-preview",
     "2021-11-01-preview", "2021-10-01", "2021-09-01", "2021-08-01", "2021-07-01", "2021-05-01", "2021-03-01",
     "2021-02-01", "2020-12-01", "2020-11-01", "2020-09-01", "2020-07-01", "2020-06-01", "2020-04-01",
     "2020-03-01", "2020-02-01", "2020-01-01", "2019-11-01", "2019-10-01", "2019-08-01", "2019-06-01",
     "2019-04-01", "2019-02-01", "2018-03-31", "2017-08-31"]
TERMINAL = common.TERMINAL_STATES
BUSY_VERBS = {"creating": "create", "updating": "update", "deleting": "delete", "upgrading": "upgrade",
              "scaling": "scale", "starting": "start", "stopping": "stop", "migrating": "migrate",
              "canceling": "cancel"}


def register(registry):
    registry.add(ManagedClusterHandler)
    registry.add(AgentPoolHandler)
    registry.namespace(NS, {"locations": API_VERSIONS, "locations/operations": API_VERSIONS,
                            "locations/operationresults": API_VERSIONS})


# --------------------------------------------------------------------------- shapes

def _agent_pool(overrides=None, k8s=K8S_VERSION):
    pool = {
        "name": "nodepool1", "count": 2, "vmSize": "Standard_DS2_v2", "osDiskSizeGB": 128, "osDiskType": "Managed",
        "kubeletDiskType": "OS", "maxPods": 250, "type": "VirtualMachineScaleSets", "enableAutoScaling": False,
        "scaleDownMode": "Delete", "provisioningState": "Succeeded", "powerState": {"code": "Running"},
        "orchestratorVersion": k8s, "currentOrchestratorVersion": k8s, "enableNodePublicIP": False,
        "nodeTaints": [], "mode": "System", "osType": "Linux", "osSKU": "Ubuntu", "nodeImageVersion": NODE_IMAGE,
        "upgradeSettings": {"maxSurge": "10%", "maxUnavailable": "0"}, "enableFIPS": False,
        "securityProfile": {"enableVTPM": False, "enableSecureBoot": False},
    }
    return deep_merge(pool, overrides or {})


def _normalise(res):
    props = res.setdefault("properties", {})
    k8s = props.get("kubernetesVersion") or K8S_VERSION
    props["kubernetesVersion"] = k8s
    props["currentKubernetesVersion"] = k8s
    pools = props.get("agentPoolProfiles") or [{}]
    props["agentPoolProfiles"] = [_agent_pool(p, k8s) for p in pools]
    for p in props["agentPoolProfiles"]:
        p.setdefault("nodeTaints", [])
        p["currentOrchestratorVersion"] = p.get("orchestratorVersion") or k8s
        p.setdefault("provisioningState", "Succeeded")
    props.setdefault("oidcIssuerProfile", {"enabled": False})
    props.setdefault("securityProfile", {})
    props.setdefault("addonProfiles", {})
    return res


def default_cluster(state, rg, name, location):
    sb = state.sb
    cid = state.cluster_id(rg, name)
    dns_prefix = re.sub(r"[^a-zA-Z0-9-]", "", f"{name}-{rg}-{sb.subscription_id[:6]}")[:54]
    h = hashlib.sha256(cid.lower().encode()).hexdigest()
    fqdn = f"{dns_prefix}-{h[:8]}.hcp.{location}.azmk8s.io"
    node_rg = f"MC_{rg}_{name}_{location}"
    kubelet_name = f"{name}-agentpool"
    return {
        "id": cid, "location": location, "name": name, "type": TYPE, "tags": {},
        "sku": {"name": "Base", "tier": "Free"}, "kind": "Base",
        "identity": {"type": "SystemAssigned", "principalId": stable_guid(cid, "identity"), "tenantId": sb.tenant_id},
        "properties": {
            "provisioningState": "Succeeded",
            "powerState": {"code": "Running"},
            "kubernetesVersion": K8S_VERSION, "currentKubernetesVersion": K8S_VERSION,
            "dnsPrefix": dns_prefix, "fqdn": fqdn,
            "azurePortalFQDN": f"{dns_prefix}-{h[8:16]}.portal.hcp.{location}.azmk8s.io",
            "agentPoolProfiles": [_agent_pool()],
            "servicePrincipalProfile": {"clientId": "msi"},
            "addonProfiles": {},
            "nodeResourceGroup": node_rg,
            "enableRBAC": True,
            "supportPlan": "KubernetesOfficial",
            "networkProfile": {
                "networkPlugin": "azure", "networkPluginMode": "overlay", "networkPolicy": "none",
                "networkDataplane": "azure", "loadBalancerSku": "standard",
                "loadBalancerProfile": {"managedOutboundIPs": {"count": 1}, "effectiveOutboundIPs": [],
                                        "backendPoolType": "nodeIPConfiguration"},
                "podCidr": "10.244.0.0/16", "serviceCidr": "10.0.0.0/16", "dnsServiceIP": "10.0.0.10",
                "outboundType": "loadBalancer", "podCidrs": ["10.244.0.0/16"], "serviceCidrs": ["10.0.0.0/16"],
                "ipFamilies": ["IPv4"],
            },
            "maxAgentPools": 100,
            "identityProfile": {"kubeletidentity": {
                "resourceId": f"/subscriptions/{sb.subscription_id}/resourcegroups/{node_rg}/providers/"
                              f"Microsoft.ManagedIdentity/userAssignedIdentities/{kubelet_name}",
                "clientId": stable_guid(cid, "kubelet-client"), "objectId": stable_guid(cid, "kubelet-object")}},
            "autoUpgradeProfile": {"upgradeChannel": "none", "nodeOSUpgradeChannel": "NodeImage"},
            "disableLocalAccounts": False,
            "securityProfile": {},
            "storageProfile": {"diskCSIDriver": {"enabled": True}, "fileCSIDriver": {"enabled": True},
                               "snapshotController": {"enabled": True}},
            "oidcIssuerProfile": {"enabled": False},
            "workloadAutoScalerProfile": {},
            "metricsProfile": {"costAnalysis": {"enabled": False}},
            "resourceUID": h[:24],
            "nodeProvisioningProfile": {"mode": "Manual"},
            "bootstrapProfile": {"artifactSource": "Direct"},
        },
    }


def issuer_url(state, res):
    return f"https://{res['location']}.oic.sandbox.local/{state.sb.tenant_id}/{stable_guid(res['id'], 'oidc')}/"


# Add-ons that AKS gives a user-assigned identity in the node resource group: addon key -> identity name prefix.
ADDON_IDENTITIES = {"azurekeyvaultsecretsprovider": "azurekeyvaultsecretsprovider"}
ADDON_DEFAULT_CONFIG = {"azurekeyvaultsecretsprovider": {"enableSecretRotation": "false", "rotationPollInterval": "2m"}}


def _addon_identities(state, res):
    """Enabled add-ons of ``ADDON_IDENTITIES`` get ``identity {resourceId, clientId, objectId}`` of an identity
    ``<prefix>-<cluster>`` created in the node resource group (as AKS does); disabled ones lose it."""
    props = res["properties"]
    node_rg = props.get("nodeResourceGroup")
    for key, addon in (props.get("addonProfiles") or {}).items():
        prefix = ADDON_IDENTITIES.get(key.lower())
        if prefix is None or not isinstance(addon, dict):
            continue
        if not addon.get("enabled"):
            addon.pop("identity", None)
            addon["config"] = None
            continue
        if not addon.get("config"):
            addon["config"] = dict(ADDON_DEFAULT_CONFIG.get(key.lower(), {}))
        if node_rg:
            state.ensure_resource_group(node_rg, res["location"])
            ident = managedidentity.seed_identity(state, node_rg, f"{prefix}-{res['name']}", res["location"])
            addon["identity"] = {"resourceId": ident["id"], "clientId": ident["properties"]["clientId"],
                                 "objectId": ident["properties"]["principalId"]}


def _kubelet_identity(state, res):
    """The kubelet identity is a real user-assigned identity in the node resource group, as in AKS."""
    kubelet = res["properties"].get("identityProfile", {}).get("kubeletidentity") or {}
    rid = kubelet.get("resourceId") or ""
    parts = rid.split("/")
    if len(parts) < 9 or parts[-2].lower() != "userassignedidentities":
        return
    ident = managedidentity.seed_identity(state, parts[4], parts[-1], res["location"])
    kubelet["clientId"] = ident["properties"]["clientId"]
    kubelet["objectId"] = ident["properties"]["principalId"]


def _apply_computed(state, res):
    props = res["properties"]
    oidc = props.setdefault("oidcIssuerProfile", {"enabled": False})
    if oidc.get("enabled"):
        oidc["issuerURL"] = issuer_url(state, res)
    else:
        oidc.pop("issuerURL", None)
    _addon_identities(state, res)


def _outbound_ip(state, res, rg):
    """Create the node resource group and the cluster's managed outbound public IP."""
    props = res["properties"]
    lb = props.setdefault("networkProfile", {}).setdefault("loadBalancerProfile", {})
    if lb.get("effectiveOutboundIPs"):
        return
    node_rg = props.get("nodeResourceGroup") or f"MC_{rg}_{res['name']}_{res['location']}"
    state.add_resource_group(node_rg, res["location"], managed_by=res["id"])
    h = hashlib.sha256(res["id"].lower().encode()).digest()
    ip = f"20.{h[0] % 250 + 1}.{h[1]}.{h[2] % 250 + 2}"
    pip = network.seed_public_ip(state, node_rg, stable_guid(res["id"], "outbound-ip"), ip, res["location"],
                                 {"aks-managed-cluster-name": res["name"], "aks-managed-cluster-rg": rg,
                                  "aks-managed-type": "aks-slb-managed-outbound-ip"})
    lb["effectiveOutboundIPs"] = [{"id": pip["id"]}]


# --------------------------------------------------------------------------- egress

OUTBOUND_TYPES = {t.lower(): t for t in ("loadBalancer", "managedNATGateway", "userAssignedNATGateway",
                                         "userDefinedRouting", "none")}
OUTBOUND_TYPES["natgateway"] = "managedNATGateway"


def _default_ip(cluster_id, kind, index):
    h = hashlib.sha256(f"{cluster_id.lower()}|{kind}|{index}".encode()).digest()
    return f"{20 if kind == 'lb' else 52}.{h[0] % 250 + 1}.{h[1]}.{h[2] % 250 + 2}"


def _egress_ips(state, res, rg, ips, kind, prefix, tag):
    """Public IPs ``prefix``-named in ``rg`` with ``ips``; returns their ids. The first load-balancer IP keeps
    the name ``_outbound_ip`` gave it, so changing an address keeps the id."""
    ids = []
    for i, ip in enumerate(ips):
        key = prefix if i == 0 and kind == "lb" else f"{prefix}-{i}"
        pip = network.seed_public_ip(state, rg, stable_guid(res["id"], key), ip, res["location"],
                                     {"aks-managed-cluster-name": res["name"], "aks-managed-type": tag})
        ids.append(pip["id"])
    return ids


def egress(state, cluster_id):
    """{"outboundType", "publicIpIds", "ips"}: where the cluster's traffic leaves from, as a client reads it
    (load balancer or managed NAT gateway effectiveOutboundIPs; the node subnet's NAT gateway)."""
    with state.lock:
        res = state.raw(cluster_id)
        if res is None:
            raise KeyError(cluster_id)
        props = res["properties"]
        np = props.get("networkProfile") or {}
        otype = np.get("outboundType") or "loadBalancer"
        ids = []
        if otype == "loadBalancer":
            ids = [x["id"] for x in (np.get("loadBalancerProfile") or {}).get("effectiveOutboundIPs") or []]
        elif otype == "managedNATGateway":
            ids = [x["id"] for x in (np.get("natGatewayProfile") or {}).get("effectiveOutboundIPs") or []]
        elif otype == "userAssignedNATGateway":
            for pool in props.get("agentPoolProfiles") or []:
                subnet = state.raw(pool.get("vnetSubnetID") or "")
                natgw = state.raw(((subnet or {}).get("properties", {}).get("natGateway") or {}).get("id") or "")
                ids += [x["id"] for x in (natgw or {}).get("properties", {}).get("publicIpAddresses") or []
                        if x["id"] not in ids]
        ips = [(state.raw(i) or {}).get("properties", {}).get("ipAddress") for i in ids]
        return {"id": res["id"], "outboundType": otype, "publicIpIds": ids, "ips": ips}


def set_egress(state, cluster_id, outbound_type, ips=None):
    """Give a cluster another egress shape and/or addresses (as a cluster update would; no LRO):

      loadBalancer            networkProfile.loadBalancerProfile.effectiveOutboundIPs -> public IPs in the node RG
      managedNATGateway       networkProfile.natGatewayProfile.effectiveOutboundIPs -> public IPs in the node RG
                              (``natGateway`` is accepted for it); no loadBalancerProfile
      userAssignedNATGateway  agentPoolProfiles[].vnetSubnetID -> a subnet (vnet ``<cluster>-vnet`` in the cluster's
                              RG) whose natGateway (``<cluster>-natgw``) has the public IPs; no profiles
      userDefinedRouting      no outbound IPs in ARM at all (egress through the user's firewall / NVA)

    ``ips`` (IPv4 strings) default to the current addresses (same type) or to one derived address. Public IPs
    no longer used are deleted. Returns :func:`egress`."""
    otype = OUTBOUND_TYPES.get((outbound_type or "").lower())
    if otype is None:
        raise ValueError(f"outboundType must be one of {sorted(set(OUTBOUND_TYPES.values()))}")
    with state.lock:
        res = state.raw(cluster_id)
        if res is None:
            raise KeyError(cluster_id)
        rg = common.parse_path(cluster_id).resource_group
        props = res["properties"]
        np = props.setdefault("networkProfile", {})
        before = egress(state, cluster_id)
        if ips is None:
            ips = before["ips"] if before["outboundType"] == otype and before["ips"] else \
                [_default_ip(cluster_id, "lb" if otype == "loadBalancer" else "nat", 0)]
        ips = [str(ip) for ip in ips]
        node_rg = props.get("nodeResourceGroup") or f"MC_{rg}_{res['name']}_{res['location']}"
        if state.raw(state.rg_id(node_rg)) is None:
            state.add_resource_group(node_rg, res["location"], managed_by=res["id"])
        np["outboundType"] = otype
        np.pop("natGatewayProfile", None)
        ids = []
        if otype == "loadBalancer":
            ids = _egress_ips(state, res, node_rg, ips, "lb", "outbound-ip", "aks-slb-managed-outbound-ip")
            lb = np.setdefault("loadBalancerProfile", {"backendPoolType": "nodeIPConfiguration"})
            lb["managedOutboundIPs"] = {"count": len(ids)}
            lb["effectiveOutboundIPs"] = [{"id": i} for i in ids]
        else:
            np.pop("loadBalancerProfile", None)
        if otype == "managedNATGateway":
            ids = _egress_ips(state, res, node_rg, ips, "nat", "natgw-outbound-ip", "aks-nat-managed-outbound-ip")
            np["natGatewayProfile"] = {"managedOutboundIPProfile": {"count": len(ids)}, "idleTimeoutInMinutes": 4,
                                       "effectiveOutboundIPs": [{"id": i} for i in ids]}
        if otype == "userAssignedNATGateway":
            ids = _egress_ips(state, res, rg, ips, "nat", "user-natgw-ip", "user-nat-gateway-ip")
            natgw_id = f"{state.rg_id(rg)}/providers/Microsoft.Network/natGateways/{res['name']}-natgw"
            subnet = network.seed_virtual_network(state, rg, f"{res['name']}-vnet", "nodes", nat_gateway_id=natgw_id,
                                                  location=res["location"])
            network.seed_nat_gateway(state, rg, f"{res['name']}-natgw", ids, res["location"], subnet_ids=[subnet["id"]])
            for pool in props.get("agentPoolProfiles") or []:
                pool["vnetSubnetID"] = subnet["id"]
        for old in before["publicIpIds"]:
            if old.lower() not in {i.lower() for i in ids}:
                state.remove_tree(old)
        res["systemData"] = system_data(None, state.sb, res.get("systemData"))
    return egress(state, cluster_id)


def ensure_kube_store(state, key):
    kube = state.sb.kube
    if kube is None:
        return None
    try:
        store = kube.get(key)
    except Exception:  # pylint: disable=broad-except
        store = None
    if store is None:
        store = kube.add(key)
    return store


def kube_key_of(state, cluster_id):
    meta = state.meta_of(cluster_id)
    return meta.get("kube_key") or common.parse_path(cluster_id).name


def seed_cluster(state, rg, name, location, kube_key, overrides):
    location = (location or (state.raw(state.rg_id(rg)) or {}).get("location") or state.sb.location).lower()
    with state.lock:
        state.ensure_resource_group(rg, location)
        res = default_cluster(state, rg, name, location)
        for k, v in (overrides or {}).items():
            if k in ("tags", "sku", "identity", "kind", "location", "zones", "extendedLocation"):
                res[k] = copy.deepcopy(v)
            elif k == "properties":
                res["properties"] = deep_merge(res["properties"], v)
            else:
                res["properties"][k] = deep_merge(res["properties"].get(k), v)
        _normalise(res)
        _outbound_ip(state, res, rg)
        _kubelet_identity(state, res)
        _apply_computed(state, res)
        res["systemData"] = system_data(None, state.sb)
        state.store(res)
        state.meta_of(res["id"])["kube_key"] = kube_key or name
    ensure_kube_store(state, kube_key or name)
    return res


def set_provisioning_state(state, cluster_id, value):
    with state.lock:
        res = state.raw(cluster_id)
        if res is None:
            raise KeyError(cluster_id)
        res["properties"]["provisioningState"] = value
        meta = state.meta_of(cluster_id)
        if value.lower() in TERMINAL:
            meta.pop("operation_started", None)
            meta.pop("held", None)
        else:
            meta["operation_started"] = iso()
            meta["held"] = True
        return copy.deepcopy(res)


def check_not_busy(state, cluster):
    """409 OperationNotAllowed when the cluster has an operation in progress."""
    ps = (cluster.get("properties") or {}).get("provisioningState") or "Succeeded"
    if ps.lower() in TERMINAL:
        return
    meta = state.meta_of(cluster["id"])
    started = meta.get("operation_started") or iso()
    verb = BUSY_VERBS.get(ps.lower(), "update")
    # No Retry-After, as AKS: azure-core would otherwise retry the 409 silently (its RetryPolicy
    # retries any >= 400 response that carries Retry-After).
    raise arm_error(409, "OperationNotAllowed",
                    f"Operation is not allowed because there's an in progress {verb} managed cluster operation "
                    f"on the managed cluster started at {started}. Please wait for it to finish before starting "
                    "a new operation. See https://aka.ms/aks-pending-operation for more details.")


def _yaml(value):
    s = str(value)
    return s if re.fullmatch(r"[A-Za-z0-9_./:@+=-]+", s) and not s[0] in "-:@" else json.dumps(s)


def _version(text):
    try:
        return tuple(int(p) for p in str(text or "").split(".")[:2])
    except ValueError:
        return (99, 0)


def kubeconfig(state, cluster, rg, admin=False, legacy=False):
    """The kubeconfig AKS hands out for the cluster's kind (see clusterkinds): a static token, or kubelogin's
    exec user for Entra ID; the sandbox's Kubernetes API, or the unreachable server of a private cluster or of
    authorized IP ranges that leave this machine out."""
    from sandbox.arm import clusterkinds
    sb = state.sb
    name = cluster["name"]
    key = kube_key_of(state, cluster["id"])
    served_at = f"{(sb.kube_url or 'https://127.0.0.1').rstrip('/')}/clusters/{key}"
    server = clusterkinds.api_server(sb, cluster, served_at)
    user = f"{'clusterAdmin' if admin else 'clusterUser'}_{rg}_{name}"
    context = f"{name}-admin" if admin else name
    lines = ["apiVersion: v1", "clusters:", "- cluster:"]
    if sb.ca_pem:
        ca = base64.b64encode(sb.ca_pem.encode() if isinstance(sb.ca_pem, str) else sb.ca_pem).decode()
        lines.append(f"    certificate-authority-data: {ca}")
    lines += [f"    server: {_yaml(server)}", f"  name: {_yaml(name)}", "contexts:", "- context:",
              f"    cluster: {_yaml(name)}", f"    user: {_yaml(user)}", f"  name: {_yaml(context)}",
              f"current-context: {_yaml(context)}", "kind: Config", "preferences: {}", "users:",
              f"- name: {_yaml(user)}"]
    lines += clusterkinds.exec_user(sb, cluster, admin, legacy) or ["  user:", f"    token: {_yaml(sb.kube_token)}"]
    return "\n".join(lines + [""])


# --------------------------------------------------------------------------- PUT of an existing cluster

# What AKS computes: a PUT body's values for these are ignored (the cluster keeps its own).
COMPUTED = ("provisioningState", "powerState", "currentKubernetesVersion", "azurePortalFQDN", "privateFQDN",
            "maxAgentPools", "resourceUID")
# Set when the cluster is created: a PUT may repeat them, never change them.
IMMUTABLE = ("dnsPrefix", "fqdnSubdomain", "fqdn", "nodeResourceGroup")
# Absent from a PUT body: kept (create-time settings; agent pools have their own API).
KEPT_WHEN_ABSENT = IMMUTABLE + ("kubernetesVersion", "agentPoolProfiles", "identityProfile", "servicePrincipalProfile",
                                "networkProfile", "enableRBAC", "aadProfile", "apiServerAccessProfile", "supportPlan")
POOL_COMPUTED = ("provisioningState", "powerState", "nodeImageVersion", "currentOrchestratorVersion")
POOL_API_HINT = ("For agent pool specific change, please use per agent pool operations: "
                 "https://aka.ms/agent-pool-rest-api")


def new_etag(res):
    """A write changes the cluster's ETag (stored quoted, as it travels in ETag / If-Match headers)."""
    res["etag"] = f'"{new_guid()}"'
    return res["etag"]


def ensure_etag(res):
    return res.get("etag") or new_etag(res)


def replace_cluster(existing, body):
    """The cluster a PUT of ``body`` on ``existing`` makes, as AKS does it: the body replaces the cluster's
    settings (no merge: an add-on, profile or setting the body leaves out is gone), except what AKS computes
    and the create-time settings a body may leave out; changing a create-time setting, adding or dropping an
    agent pool, or turning the OIDC issuer off is refused (400)."""
    body = copy.deepcopy(body)
    for k in ("id", "name", "type", "etag", "eTag", "systemData"):
        body.pop(k, None)
    if body.get("location") and body["location"].replace(" ", "").lower() != existing["location"].lower():
        raise arm_error(400, "PropertyChangeNotAllowed", "Changing property 'location' is not allowed.")
    res = {k: copy.deepcopy(existing[k]) for k in ("id", "name", "type", "location") if k in existing}
    res["tags"] = body.get("tags") or {}
    for k in ("sku", "identity", "kind", "zones", "extendedLocation"):
        value = body.get(k, existing.get(k))
        if value is not None:
            res[k] = copy.deepcopy(value)
    old = existing.get("properties") or {}
    props = {k: v for k, v in (body.get("properties") or {}).items() if v is not None}
    for k in IMMUTABLE:
        if k in props and old.get(k) is not None and str(props[k]).lower() != str(old[k]).lower():
            raise arm_error(400, "PropertyChangeNotAllowed", f"Changing property '{k}' is not allowed.")
    for k in KEPT_WHEN_ABSENT:
        if k not in props and k in old:
            props[k] = copy.deepcopy(old[k])
    for k in COMPUTED + IMMUTABLE:
        if k in old:
            props[k] = copy.deepcopy(old[k])
    props["agentPoolProfiles"] = _replace_pools(old.get("agentPoolProfiles") or [], props.get("agentPoolProfiles"))
    was_on = (old.get("oidcIssuerProfile") or {}).get("enabled")
    if "oidcIssuerProfile" not in props:
        props["oidcIssuerProfile"] = copy.deepcopy(old.get("oidcIssuerProfile") or {"enabled": False})
    elif was_on and not (props["oidcIssuerProfile"] or {}).get("enabled"):
        raise arm_error(400, "BadRequest", "OIDC issuer feature cannot be disabled.")
    _keep_outbound_ips(old.get("networkProfile") or {}, props.get("networkProfile"))
    res["properties"] = props
    return res


def _replace_pools(old_pools, new_pools):
    if new_pools is None:
        return copy.deepcopy(old_pools)
    old = {(p.get("name") or "").lower(): p for p in old_pools}
    new = {(p.get("name") or "").lower(): p for p in new_pools}
    if set(old) - set(new):
        raise arm_error(400, "BadRequest", "Deleting agent pools from an existing cluster is not allowed through "
                                           f"managed cluster operations. {POOL_API_HINT}")
    if set(new) - set(old):
        raise arm_error(400, "BadRequest", "A new agent pool was introduced. Adding agent pools to an existing cluster "
                                           f"is not allowed through managed cluster operations. {POOL_API_HINT}")
    out = []
    for pool in new_pools:
        pool = copy.deepcopy(pool)
        before = old[(pool.get("name") or "").lower()]
        for k in POOL_COMPUTED:
            if k in before:
                pool[k] = copy.deepcopy(before[k])
        out.append(pool)
    return out


def _keep_outbound_ips(old_net, new_net):
    """effectiveOutboundIPs are computed: a body's copy (or its absence) does not change them."""
    if not isinstance(new_net, dict):
        return
    for profile in ("loadBalancerProfile", "natGatewayProfile"):
        before = (old_net.get(profile) or {}).get("effectiveOutboundIPs")
        if before is not None and isinstance(new_net.get(profile), dict):
            new_net[profile]["effectiveOutboundIPs"] = copy.deepcopy(before)


# --------------------------------------------------------------------------- handlers

class ManagedClusterHandler(common.ResourceHandler):
    type_name = "Microsoft.ContainerService/managedClusters"
    methods = frozenset({"GET", "PUT", "PATCH", "DELETE"})
    api_versions = tuple(API_VERSIONS)
    strict_api_versions = True
    actions = {"listclusterusercredential": "list_user_credential",
               "listclusteradmincredential": "list_admin_credential",
               "listclustermonitoringusercredential": "list_user_credential",
               "start": "start", "stop": "stop"}

    def _status_path(self, ref, location):
        op_id = new_guid()
        base = f"/subscriptions/{ref.subscription}/providers/{NS}/locations/{location}"
        return op_id, f"{base}/operations/{op_id}", f"{base}/operationresults/{op_id}"

    def _start(self, req, ref, res, kind, transient, finish, with_location=False):
        """Mark ``res`` busy and complete it after an LRO period. ``finish(res)`` applies the end state."""
        res["properties"]["provisioningState"] = transient
        self.state.meta_of(ref.id)["operation_started"] = iso()
        self.state.meta_of(ref.id).pop("held", None)
        op_id, status_path, result_path = self._status_path(ref, res["location"])
        rid = ref.id

        def complete(op):
            cur = self.state.raw(rid)
            if cur is None:
                return None
            if self.state.meta_of(rid).get("held"):
                return None    # a control endpoint holds the state: leave it
            finish(cur)
            if cur.get("properties", {}).get("provisioningState") == transient:
                cur["properties"]["provisioningState"] = "Succeeded"
            self.state.meta_of(rid).pop("operation_started", None)
            return None

        op = self.lro.start("managedClusters", rid, status_path, result_path if with_location else None,
                            on_complete=complete, op_id=op_id, req=req)
        if with_location and kind != "delete":
            op.result = lambda: (200, self.render(self.state.raw(rid), req)) if self.state.raw(rid) else (204, None)
        return op

    def render(self, res, req=None):
        out = copy.deepcopy(res)
        out["id"] = common.lower_rg_segment(out.get("id"))
        etag = out.pop("etag", None)
        if etag:
            out["eTag"] = etag          # AKS names it eTag in the body (ManagedCluster.e_tag)
        return out

    def _answer(self, status, res, req, headers=None):
        headers = dict(headers or {})
        headers["ETag"] = ensure_etag(res)
        return Response(status, self.render(res, req), headers)

    def get(self, req, ref):
        with self.state.lock:
            return self._answer(200, self.require(ref), req)

    def put(self, req, ref, body):
        with self.state.lock:
            existing = self.state.raw(ref.id)
            if existing is not None:
                check_not_busy(self.state, existing)
                res = replace_cluster(existing, body)
                res["systemData"] = system_data(req, self.sb, existing.get("systemData"))
                _normalise(res)
                transient, status = "Updating", 200
            else:
                location = (body.get("location") or "").replace(" ", "").lower()
                if not location:
                    raise arm_error(400, "LocationRequired", "The location property is required for this definition.")
                res = default_cluster(self.state, ref.resource_group, ref.name, location)
                props = body.get("properties") or {}
                for k in ("tags", "sku", "identity", "kind", "zones", "extendedLocation"):
                    if k in body:
                        res[k] = copy.deepcopy(body[k])
                res["properties"] = deep_merge(res["properties"], props)
                if "agentPoolProfiles" in props:
                    res["properties"]["agentPoolProfiles"] = copy.deepcopy(props["agentPoolProfiles"])
                _normalise(res)
                _outbound_ip(self.state, res, ref.resource_group)
                res["systemData"] = system_data(req, self.sb)
                self.state.meta_of(ref.id)["kube_key"] = ref.name
                transient, status = "Creating", 201
            res.setdefault("identity", {"type": "SystemAssigned"})
            new_etag(res)
            self.state.store(res)
            key = kube_key_of(self.state, ref.id)

            def finish(cur):
                _apply_computed(self.state, cur)

            op = self._start(req, ref, res, "put", transient, finish)
            if transient == "Creating":
                op.after = lambda: ensure_kube_store(self.state, key)
            return self._answer(status, res, req, self.lro.headers(req, op))

    def patch(self, req, ref, body):
        """updateTags."""
        with self.state.lock:
            res = self.require(ref)
            check_not_busy(self.state, res)
            if "tags" in body:
                res["tags"] = body.get("tags") or {}
            res["systemData"] = system_data(req, self.sb, res.get("systemData"))
            new_etag(res)
            op = self._start(req, ref, res, "patch", "Updating", lambda cur: None)
            return self._answer(200, res, req, self.lro.headers(req, op))

    def delete(self, req, ref):
        with self.state.lock:
            res = self.state.raw(ref.id)
            if res is None:
                return Response(204)
            check_not_busy(self.state, res)
            node_rg = res["properties"].get("nodeResourceGroup")
            rid = ref.id

            key = kube_key_of(self.state, rid)

            def finish(cur):
                self.state.remove_tree(rid)
                if node_rg:
                    self.state.remove_tree(self.state.rg_id(node_rg))

            op = self._start(req, ref, res, "delete", "Deleting", finish, with_location=True)
            if self.sb.kube is not None and hasattr(self.sb.kube, "remove"):
                op.after = lambda: self.sb.kube.remove(key) if not self.state.raw(rid) else None
            return Response(202, None, self.lro.headers(req, op, location=True))

    def _power(self, req, ref, transient, code):
        with self.state.lock:
            res = self.require(ref)
            check_not_busy(self.state, res)

            def finish(cur):
                cur["properties"]["powerState"] = {"code": code}
                for p in cur["properties"].get("agentPoolProfiles", []):
                    p["powerState"] = {"code": code}

            op = self._start(req, ref, res, transient.lower(), transient, finish, with_location=True)
            op.result = None
            return Response(202, None, self.lro.headers(req, op, location=True))

    def start(self, req, ref):
        return self._power(req, ref, "Starting", "Running")

    def stop(self, req, ref):
        return self._power(req, ref, "Stopping", "Stopped")

    def _credentials(self, req, ref, admin):
        with self.state.lock:
            res = copy.deepcopy(self.require(ref))
        if admin and res["properties"].get("disableLocalAccounts"):
            raise arm_error(400, "BadRequest", "Getting static credential is not allowed because this cluster is "
                                               "set to disable local accounts.")
        # format=exec: kubelogin's exec user for Entra ID; no format: AKS's default, the exec form from Kubernetes
        # 1.24 on, the legacy azure auth-provider form before it ("azure" when asked for)
        fmt = (req.query.get("format") or "").lower()
        legacy = fmt == "azure" or (not fmt and _version(res["properties"].get("kubernetesVersion")) < (1, 24))
        text = kubeconfig(self.state, res, ref.resource_group, admin=admin, legacy=legacy)
        return Response(200, {"kubeconfigs": [{"name": "clusterAdmin" if admin else "clusterUser",
                                               "value": base64.b64encode(text.encode()).decode()}]})

    def list_user_credential(self, req, ref):
        return self._credentials(req, ref, admin=False)

    def list_admin_credential(self, req, ref):
        return self._credentials(req, ref, admin=True)


class AgentPoolHandler(common.ResourceHandler):
    """managedClusters/agentPools, read-only views of the cluster's agentPoolProfiles."""

    type_name = "Microsoft.ContainerService/managedClusters/agentPools"
    api_versions = tuple(API_VERSIONS)
    strict_api_versions = True
    list_by_subscription = False
    list_by_resource_group = False

    def _pools(self, cluster):
        out = []
        for p in cluster["properties"].get("agentPoolProfiles", []):
            props = {k: copy.deepcopy(v) for k, v in p.items() if k != "name"}
            out.append({"id": f"{cluster['id']}/agentPools/{p['name']}", "name": p["name"],
                        "type": "Microsoft.ContainerService/managedClusters/agentPools", "properties": props})
        return out

    def get(self, req, ref):
        with self.state.lock:
            cluster = self.state.raw(ref.parent_id)
            for p in self._pools(cluster):
                if p["name"].lower() == ref.name.lower():
                    return Response(200, p)
        raise common.resource_not_found(ref)

    def list_children(self, req, parent):
        with self.state.lock:
            return Response(200, {"value": self._pools(self.state.raw(parent))})
