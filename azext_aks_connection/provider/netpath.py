# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Which source address a pod's request reaches the target from, and so which rule can admit it (issue 23).

An egress-IP rule admits a pod only when the request leaves the cluster through its public egress address. Two
things make it arrive from a private address instead, where no IP rule ever matches:

- a service endpoint for the target's service on the node subnet ("existing Azure service firewall rules using
  Azure public IP addresses stop working": learn.microsoft.com/azure/virtual-network/virtual-network-service-
  endpoints-overview; Cosmos DB says the same). ``Family.service_endpoint`` names the service's endpoint;
  ``Family.endpoint_regional``: a ``Microsoft.Storage`` / ``Microsoft.Sql`` endpoint serves the subnet's own region
  only (``Microsoft.Storage.Global``: every region);
- Azure Storage in the cluster's region: "IP network rules have no effect on requests that originate from the same
  Azure region as the storage account" (learn.microsoft.com/azure/storage/common/storage-network-security;
  ``Family.same_region_private``).

Where the family writes virtual network rules (``Family.vnet_rules``: Storage), the node pools' own subnets (a BYO
VNet: agentPoolProfiles[].vnetSubnetID) are admitted by a virtual network rule each, which needs the service
endpoint on the subnet (Azure refuses the rule without it: SubnetsHaveNoServiceEndpointsConfigured). Otherwise the
connection cannot be made to work by a rule this tool writes: create refuses before any write, validate fails the
firewall check, both with the cause and the ways out.

Not modelled: a regional Microsoft.Storage endpoint also serves the region's pair (Microsoft's docs); a subnet with it
and an account in the paired region is judged as another region (an IP rule), which that endpoint would bypass.
"""
import collections

from azext_aks_connection.targets.base import id_parts

SUBNET_API = "2024-05-01"       # Microsoft.Network (as provider/cluster.py reads public IPs and NAT gateways)

# subnets: the subnet ids to admit with a virtual network rule; ips_work: whether egress-IP rules admit anything;
# blocked: why no rule this tool writes can admit the pods (None: something can); fix: the ways out; code: validate's;
# unknown: what could not be read (a node subnet), so the rule's effect is not proven.
Path = collections.namedtuple("Path", "subnets ips_work blocked fix code unknown",
                              defaults=((), True, None, None, None, None))


def is_subnet(entry):
    return str(entry).startswith("/subscriptions/")


def _region(value):
    return str(value or "").replace(" ", "").lower()


def node_subnets(arm, cluster):
    """[{"id", "endpoints": [service, ...] or None when the subnet could not be read, "error"}] of the node pools'
    own subnets (a BYO VNet); [] for a managed VNet (AKS's own, which has no service endpoint)."""
    from azext_aks_connection.provider.arm import ArmError
    ids = {}
    for pool in ((cluster or {}).get("properties") or {}).get("agentPoolProfiles") or []:
        if pool.get("vnetSubnetID"):
            ids.setdefault(pool["vnetSubnetID"].lower(), pool["vnetSubnetID"])
    out = []
    for sid in sorted(ids.values(), key=str.lower):
        try:  # raw: azure-cli ships no azure-mgmt-network (its network commands are aaz)
            body = arm.get(sid, SUBNET_API) or {}
        except ArmError as exc:
            out.append({"id": sid, "endpoints": None, "error": exc.error.code})
            continue
        eps = [e.get("service") for e in ((body.get("properties") or {}).get("serviceEndpoints") or [])
               if str(e.get("provisioningState") or "Succeeded").lower() != "failed"]
        out.append({"id": sid, "endpoints": [str(e) for e in eps if e]})
    return out


def read(arm, target, target_body, cluster):
    """The :class:`Path` of the cluster's pods to the target (the node subnets read only where it matters)."""
    family = target.family
    subnets = node_subnets(arm, cluster) if family.service_endpoint or family.same_region_private else []
    return judge(family, target, target_body, cluster, subnets)


def blocking(path, verdict):
    """``path`` when no rule of ours can open it and the target's rules decide (an open target admits the pods)."""
    from azext_aks_connection.provider.firewall import CHECKED
    return path if path is not None and path.blocked and verdict.get("state") == CHECKED else None


def _endpoint_applies(family, subnet, same_region):
    """Whether the subnet's service endpoint carries its requests to a target of ``family`` (in its region when
    ``same_region``)."""
    eps = {e.lower() for e in subnet.get("endpoints") or []}
    service = family.service_endpoint.lower()
    if service + ".global" in eps:
        return True
    return service in eps and (same_region or not family.endpoint_regional)


def endpoint_command(subnet_id, service):
    """The az command adding the ``service`` endpoint to a subnet (it keeps none of the subnet's others unless they
    are named: they are, as read)."""
    sub, group, vnet = id_parts(subnet_id)
    return (f"az network vnet subnet update --subscription {sub} -g {group} --vnet-name {vnet} "
            f"-n {subnet_id.rstrip('/').split('/')[-1]} --service-endpoints {service}")


def judge(family, target, target_body, cluster, subnets):
    """The :class:`Path` of a pod's request to the target (``target_body``: the resource holding its firewall)."""
    if not (family.service_endpoint or family.same_region_private):
        return Path()
    where = _region(target_body.get("location"))
    here = _region((cluster or {}).get("location"))
    same_region = bool(where) and where == here
    name = target_body.get("name") or ""
    if family.same_region_private and same_region:
        return _same_region(family, target, name, here, subnets)
    carried = [s for s in subnets if s.get("endpoints") is not None and _endpoint_applies(family, s, same_region)]
    unread = [f"{s['id'].split('/')[-1]} ({s['error']})" for s in subnets if s.get("endpoints") is None]
    unknown = (f"could not read the node subnet(s) {', '.join(unread)}: whether a {family.service_endpoint} service "
               "endpoint there takes the pods' requests past the IP rules is not known") if unread else None
    if not carried:
        return Path(unknown=unknown)
    if family.vnet_rules:
        # The endpoint's subnets are admitted by a virtual network rule; the others still leave by the egress IP.
        return Path([s["id"] for s in carried], len(carried) < len(subnets), unknown=unknown)
    names = ", ".join(s["id"].split("/")[-1] for s in carried)
    return Path(blocked=(
        f"The node subnet(s) {names} of the cluster have the {family.service_endpoint} service endpoint: the pods' "
        f"requests reach the {target.display} '{name}' from the subnet's private addresses, which no IP rule "
        "matches (Azure: once a subnet has a service endpoint, \"firewall rules using Azure public IP addresses "
        "stop working\")."),
        fix=(f"Admit the subnet(s) with a virtual network rule on the {target.display}, or remove the "
             f"{family.service_endpoint} service endpoint from them, or reach the {target.display} through a private "
             "endpoint; or pass --opt-out publicnetwork to connect without touching the network (the rule is then "
             "yours to add)."), code="ServiceEndpointBypassesIpRules")


def _same_region(family, target, name, region, subnets):
    """Storage in the cluster's region: only a virtual network rule for the node subnets (with the endpoint) works."""
    cause = (f"The {target.display} '{name}' is in the cluster's region ({region}): Azure Storage ignores IP rules for "
             "requests from its own region (they arrive from private Azure addresses), so no egress-IP rule can admit "
             "the pods.")
    outs = (f"reach it through a private endpoint, or pass --opt-out publicnetwork to connect without touching the "
            f"network (the {target.display}'s firewall is then yours to open)")
    if not subnets:
        return Path(ips_work=False, blocked=cause + " The cluster's node pools use the AKS-managed virtual network, "
                    "whose subnets cannot get a service endpoint or a virtual network rule.",
                    fix=("Use a cluster whose node pools are on a subnet of your own virtual network (with the "
                         f"{family.service_endpoint} service endpoint: the connection then admits that subnet), or "
                         + outs + "."), code="SameRegionStorage")
    lacking = [s for s in subnets if s.get("endpoints") is None or not _endpoint_applies(family, s, True)]
    if not lacking:
        return Path([s["id"] for s in subnets], False)
    unread = [f"{s['id'].split('/')[-1]} ({s['error']})" for s in lacking if s.get("endpoints") is None]
    lines = " && ".join(endpoint_command(s["id"], ",".join(_kept(s, family.service_endpoint))) for s in lacking)
    text = cause + (f" The node subnet(s) {', '.join(s['id'].split('/')[-1] for s in lacking)} lack the "
                    f"{family.service_endpoint} service endpoint a virtual network rule needs.")
    if unread:
        text += f" (Could not read {', '.join(unread)}.)"
    return Path(ips_work=False, blocked=text,
                fix=(f"Add the service endpoint, then run the command again (it admits the subnet(s) with a virtual "
                     f"network rule): {lines}; or " + outs + "."), code="ServiceEndpointMissing")


def _kept(subnet, service):
    """The subnet's service endpoints with ``service`` added (`--service-endpoints` replaces the list)."""
    have = list(subnet.get("endpoints") or [])
    return have + [service] if service.lower() not in {e.lower() for e in have} else have


def refuse(path):
    """create (and --dry-run): nothing is written when no rule this tool writes can admit the pods."""
    if not path or not path.blocked:
        return
    from azure.cli.core.azclierror import ValidationError
    raise ValidationError(path.blocked + " Nothing was written.", recommendation=path.fix)
