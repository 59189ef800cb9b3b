"""Microsoft.Network: publicIPAddresses (GET / list only; seeded as clusters' outbound IPs)."""
from sandbox.arm import common
from sandbox.arm.common import stable_guid, system_data

API_VERSIONS = ["2024-05-01", "2024-03-01", "2023-11-01", "2023-09-01", "2022-01-01"]


def register(registry):
    registry.add(PublicIpHandler)
    registry.namespace("Microsoft.Network", {"virtualNetworks": API_VERSIONS, "loadBalancers": API_VERSIONS,
                                             "privateEndpoints": API_VERSIONS,
                                             "networkSecurityGroups": API_VERSIONS})


class PublicIpHandler(common.ResourceHandler):
    type_name = "Microsoft.Network/publicIPAddresses"
    api_versions = tuple(API_VERSIONS)


def seed_public_ip(state, resource_group, name, ip_address, location=None, tags=None):
    with state.lock:
        rg = state.ensure_resource_group(resource_group, location)
        location = (location or rg.get("location") or state.sb.location).lower()
        rid = f"{state.rg_id(resource_group)}/providers/Microsoft.Network/publicIPAddresses/{name}"
        res = {
            "name": name, "id": rid, "etag": f'W/"{stable_guid(rid, "etag")}"', "location": location,
            "tags": dict(tags or {}), "type": "Microsoft.Network/publicIPAddresses",
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {
                "provisioningState": "Succeeded", "resourceGuid": stable_guid(rid), "ipAddress": ip_address,
                "publicIPAddressVersion": "IPv4", "publicIPAllocationMethod": "Static", "idleTimeoutInMinutes": 4,
                "ipTags": [], "ddosSettings": {"protectionMode": "VirtualNetworkInherited"},
            },
            "systemData": system_data(None, state.sb),
        }
        return state.store(res)
