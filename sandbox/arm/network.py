# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.Network: publicIPAddresses, natGateways, virtualNetworks and their subnets (GET / list only;
seeded as clusters' egress: a load balancer's or managed NAT gateway's outbound IPs, or a user-assigned
NAT gateway on the node subnet; and as a cluster's own node subnet (a BYO VNet), with the service endpoints a test
gives it: :func:`set_node_subnet`)."""
import copy

from sandbox.arm import common
from sandbox.arm.common import stable_guid, system_data

API_VERSIONS = ["2024-05-01", "2024-03-01", "2024-01-01", "2023-11-01", "2023-09-01", "2023-05-01", "2023-04-01",
                "2022-07-01", "2022-01-01"]


def register(registry):
    registry.add(PublicIpHandler)
    registry.add(NatGatewayHandler)
    registry.add(VirtualNetworkHandler)
    registry.add(SubnetHandler)
    registry.namespace("Microsoft.Network", {"loadBalancers": API_VERSIONS, "privateEndpoints": API_VERSIONS,
                                             "networkSecurityGroups": API_VERSIONS})


class PublicIpHandler(common.ResourceHandler):
    type_name = "Microsoft.Network/publicIPAddresses"
    api_versions = tuple(API_VERSIONS)


class NatGatewayHandler(common.ResourceHandler):
    type_name = "Microsoft.Network/natGateways"
    api_versions = tuple(API_VERSIONS)


class VirtualNetworkHandler(common.ResourceHandler):
    type_name = "Microsoft.Network/virtualNetworks"
    api_versions = tuple(API_VERSIONS)


class SubnetHandler(common.ResourceHandler):
    type_name = "Microsoft.Network/virtualNetworks/subnets"
    api_versions = tuple(API_VERSIONS)
    list_by_subscription = False
    list_by_resource_group = False


def _envelope(state, rid, type_name, location, tags, props):
    res = {"name": rid.rsplit("/", 1)[-1], "id": rid, "etag": f'W/"{stable_guid(rid, "etag")}"', "type": type_name}
    if location is not None:
        res["location"] = location
        res["tags"] = dict(tags or {})
    res["properties"] = dict({"provisioningState": "Succeeded", "resourceGuid": stable_guid(rid)}, **props)
    res["systemData"] = system_data(None, state.sb)
    return res


def seed_public_ip(state, resource_group, name, ip_address, location=None, tags=None):
    """A static Standard public IP; an existing one keeps its id and gets ``ip_address``."""
    with state.lock:
        rg = state.ensure_resource_group(resource_group, location)
        location = (location or rg.get("location") or state.sb.location).lower()
        rid = f"{state.rg_id(resource_group)}/providers/Microsoft.Network/publicIPAddresses/{name}"
        res = _envelope(state, rid, "Microsoft.Network/publicIPAddresses", location, tags, {
            "ipAddress": ip_address, "publicIPAddressVersion": "IPv4", "publicIPAllocationMethod": "Static",
            "idleTimeoutInMinutes": 4, "ipTags": [], "ddosSettings": {"protectionMode": "VirtualNetworkInherited"}})
        res["sku"] = {"name": "Standard", "tier": "Regional"}
        return state.store(res)


def seed_nat_gateway(state, resource_group, name, public_ip_ids, location=None, tags=None, subnet_ids=()):
    with state.lock:
        rg = state.ensure_resource_group(resource_group, location)
        location = (location or rg.get("location") or state.sb.location).lower()
        rid = f"{state.rg_id(resource_group)}/providers/Microsoft.Network/natGateways/{name}"
        res = _envelope(state, rid, "Microsoft.Network/natGateways", location, tags, {
            "idleTimeoutInMinutes": 4, "publicIpAddresses": [{"id": i} for i in public_ip_ids],
            "subnets": [{"id": s} for s in subnet_ids]})
        res["sku"] = {"name": "Standard"}
        return state.store(res)


def seed_virtual_network(state, resource_group, name, subnet, address_prefix="10.224.0.0/12",
                         subnet_prefix="10.224.0.0/16", nat_gateway_id=None, location=None):
    """A virtual network with one subnet (optionally behind ``nat_gateway_id``). Returns the subnet."""
    with state.lock:
        rg = state.ensure_resource_group(resource_group, location)
        location = (location or rg.get("location") or state.sb.location).lower()
        vid = f"{state.rg_id(resource_group)}/providers/Microsoft.Network/virtualNetworks/{name}"
        sid = f"{vid}/subnets/{subnet}"
        sprops = {"addressPrefix": subnet_prefix, "privateEndpointNetworkPolicies": "Disabled",
                  "privateLinkServiceNetworkPolicies": "Enabled"}
        if nat_gateway_id:
            sprops["natGateway"] = {"id": nat_gateway_id}
        sub = _envelope(state, sid, "Microsoft.Network/virtualNetworks/subnets", None, None, sprops)
        vnet = _envelope(state, vid, "Microsoft.Network/virtualNetworks", location, None, {
            "addressSpace": {"addressPrefixes": [address_prefix]},
            "subnets": [{k: v for k, v in sub.items() if k != "systemData"}],
            "virtualNetworkPeerings": [], "enableDdosProtection": False})
        state.store(vnet)
        return state.store(sub)


def _endpoint(service, location):
    """A subnet's serviceEndpoints entry as ARM returns it: a regional endpoint serves the subnet's region (Azure
    adds its pair), a ``.Global`` one every region ("*")."""
    return {"service": service, "locations": ["*"] if service.lower().endswith(".global") else [location],
            "provisioningState": "Succeeded"}


def set_node_subnet(state, cluster_id, service_endpoints=(), managed=False):
    """The cluster's node pools on a subnet of the user's own VNet (``<cluster>-vnet``/``nodes`` in the cluster's
    resource group, or the subnet they name already) with ``service_endpoints``; ``managed``: back on the AKS-managed
    VNet (no vnetSubnetID). Returns {"id", "subnetId", "serviceEndpoints"}."""
    with state.lock:
        res = state.raw(cluster_id)
        if res is None:
            raise KeyError(cluster_id)
        pools = res["properties"].get("agentPoolProfiles") or []
        if managed:
            for pool in pools:
                pool.pop("vnetSubnetID", None)
            return {"id": res["id"], "subnetId": None, "serviceEndpoints": []}
        sid = next((p["vnetSubnetID"] for p in pools if p.get("vnetSubnetID")), None)
        subnet = state.raw(sid) if sid else None
        if subnet is None:
            rg = common.parse_path(cluster_id).resource_group
            subnet = seed_virtual_network(state, rg, f"{res['name']}-vnet", "nodes", location=res["location"])
            subnet = state.raw(subnet["id"])
        subnet["properties"]["serviceEndpoints"] = [_endpoint(s, res["location"]) for s in service_endpoints]
        vnet = state.raw(subnet["id"].rsplit("/subnets/", 1)[0])
        for entry in (vnet or {}).get("properties", {}).get("subnets") or []:
            if entry.get("id", "").lower() == subnet["id"].lower():
                entry["properties"]["serviceEndpoints"] = copy.deepcopy(subnet["properties"]["serviceEndpoints"])
        for pool in pools:
            pool["vnetSubnetID"] = subnet["id"]
        return {"id": res["id"], "subnetId": subnet["id"],
                "serviceEndpoints": [e["service"] for e in subnet["properties"]["serviceEndpoints"]]}


def subnet_endpoints(state, subnet_id):
    """The services of a subnet's service endpoints (None: no such subnet)."""
    subnet = state.raw(subnet_id)
    if subnet is None:
        return None
    return [e.get("service") for e in (subnet.get("properties") or {}).get("serviceEndpoints") or []]
