# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Shared pieces of the target providers: the Azure services ``az aks connection`` connects a cluster to
(Service Bus, Cosmos DB, the database servers, ...).

  TargetHandler          a resource type whose api-versions are enforced (400 NoRegisteredProviderFound
                         for any other, as ARM answers), plus helpers to store seeded resources
  FirewallRuleHandler    ``{server}/firewallRules/{name}`` children (SQL, the PostgreSQL / MySQL servers,
                         Redis): PUT / GET / DELETE / list, synchronous or long-running
  start_lro              mark a resource busy and finish an update after the sandbox's LRO period
  new_key / hex_key      random, realistic-looking secrets (fresh every ``up``)
"""
import base64
import copy
import ipaddress
import os
import re

from sandbox.arm import common
from sandbox.arm.common import arm_error, new_guid, system_data
from sandbox.core import Response

REGION_NAMES = {
    "eastus": "East US", "eastus2": "East US 2", "westus": "West US", "westus2": "West US 2",
    "westus3": "West US 3", "centralus": "Central US", "southcentralus": "South Central US",
    "northcentralus": "North Central US", "westeurope": "West Europe", "northeurope": "North Europe",
    "uksouth": "UK South", "swedencentral": "Sweden Central", "southeastasia": "Southeast Asia",
    "eastasia": "East Asia", "japaneast": "Japan East", "australiaeast": "Australia East",
}


def region_name(location):
    """``eastus`` -> ``East US`` (the display name some providers, e.g. Cosmos DB, answer with)."""
    return REGION_NAMES.get(location.replace(" ", "").lower(), location)


def new_key(nbytes=32):
    """A base64 key of ``nbytes`` random bytes: 32 -> 44 characters (SAS, Redis, SignalR keys),
    64 -> 88 characters (storage and Cosmos DB account keys)."""
    return base64.b64encode(os.urandom(nbytes)).decode("ascii")


def hex_key(nchars=32):
    return os.urandom(nchars // 2).hex()


def rg_location(state, resource_group, location=None):
    """The location for a new resource: ``location`` or its resource group's (created when missing)."""
    rg = state.ensure_resource_group(resource_group, location)
    return (location or rg.get("location") or state.sb.location).replace(" ", "").lower()


def resource_id(state, resource_group, type_name, *names):
    """``/subscriptions/../resourceGroups/rg/providers/NS/t1/n1[/t2/n2...]`` from ``NS/t1[/t2...]`` and names."""
    ns, *types = type_name.split("/")
    segs = []
    for t, n in zip(types, names):
        segs += [t, n]
    return f"{state.rg_id(resource_group)}/providers/{ns}/" + "/".join(segs)


def store(state, rid, type_name, properties, location=None, tags=None, **top):
    """Store a resource ``{id, name, type[, location][, tags], **top, properties, systemData}``; returns it.
    Tracked resources pass ``tags={}``."""
    res = {"id": rid, "name": rid.rsplit("/", 1)[-1], "type": type_name}
    if location is not None:
        res["location"] = location
    if tags is not None:
        res["tags"] = dict(tags)
    for k, v in top.items():
        if v is not None:
            res[k] = copy.deepcopy(v)
    res["properties"] = copy.deepcopy(properties)
    res["systemData"] = system_data(None, state.sb)
    return state.store(res)


def check_api_version(handler, req):
    """400 NoRegisteredProviderFound when ``req``'s api-version is not one ``handler`` serves (ARM's answer)."""
    v = (req.api_version or "").lower()
    if v in {x.lower() for x in handler.api_versions}:
        return
    type_name = common.type_path(handler.type_name)
    raise arm_error(400, "NoRegisteredProviderFound",
                    f"No registered resource provider found for location '{handler.sb.location}' and API version "
                    f"'{req.api_version}' for type '{type_name}'. The supported api-versions are "
                    f"'{', '.join(handler.api_versions)}'. The supported locations are "
                    f"'{', '.join(handler.locations)}'.")


class TargetHandler(common.ResourceHandler):
    """A target resource type: api-versions enforced; ``actions`` served on existing resources only."""

    strict_api_versions = True
    # Wire ``type`` of the resources (some services answer in another case than the id, e.g.
    # ``Microsoft.ServiceBus/Namespaces``); ``None`` = ``type_name``.
    wire_type = None

    def require_ready(self, res):
        """409 while an earlier write on ``res`` still runs (services lock a resource during an update)."""
        op = self.lro.in_flight(res["id"])
        if op is not None:
            raise self.busy_error(res)

    def busy_error(self, res):
        return arm_error(409, "Conflict", f"The resource '{res['name']}' is busy with another operation. "
                                          "Retry after the current operation completes.")


def bump_if_changed(before, res, req, sb):
    """After an update of ``res``: a new systemData.lastModified* only when something but provisioningState
    changed (an identical write leaves the resource as it was)."""
    def strip(r):
        r = copy.deepcopy(r)
        r.pop("systemData", None)
        (r.get("properties") or {}).pop("provisioningState", None)
        return r
    if strip(before) != strip(res):
        res["systemData"] = system_data(req, sb, res.get("systemData"))


def start_lro(handler, req, res, finish=None, transient="Updating", status_base=None, location_header=False,
              status_segment="operationStatuses", result_segment="operationResults", kind=None):
    """Put ``res`` in ``transient`` provisioningState and finish after the sandbox's LRO period: ``finish(cur)``
    (under the state lock) then provisioningState Succeeded. Returns the :class:`common.Operation`; pass it
    to ``handler.lro.headers(req, op, location=...)`` for the response headers.

    Status URL: ``{status_base}/{status_segment}/{id}`` (default base:
    ``/subscriptions/{sub}/providers/{NS}/locations/{location}``); with ``location_header`` also a
    Location URL ``.../{result_segment}/{id}`` that answers 202 while running, then 200 with the resource."""
    rid = res["id"]
    ref = common.parse_path(rid)
    op_id = new_guid()
    base = status_base or f"/subscriptions/{ref.subscription}/providers/{ref.namespace}/locations/" \
                          f"{(res.get('location') or handler.sb.location).replace(' ', '').lower()}"
    status_path = f"{base}/{status_segment}/{op_id}"
    result_path = f"{base}/{result_segment}/{op_id}" if location_header else None
    res.setdefault("properties", {})["provisioningState"] = transient

    def complete(op):  # pylint: disable=unused-argument
        cur = handler.state.raw(rid)
        if cur is None:
            return None
        if finish is not None:
            err = finish(cur)
            if err:
                cur["properties"]["provisioningState"] = "Failed"
                return err
        cur["properties"]["provisioningState"] = "Succeeded"
        return None

    op = handler.lro.start(kind or common.type_path(handler.type_name).split("/")[-1], rid, status_path,
                           result_path, on_complete=complete, op_id=op_id, req=req)
    if location_header:
        op.result = lambda: (200, handler.render(handler.state.raw(rid), req)) if handler.state.raw(rid) \
            else (204, None)
    return op


# --------------------------------------------------------------------------- firewall rules

def ipv4(value):
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError:
        return None


class FirewallRuleHandler(TargetHandler):
    """``.../{server}/firewallRules/{rule}``: ``{"properties": {start_key, end_key}}``.

    Synchronous (``long_running = False``): PUT 201 (new) / 200, DELETE 200 / 204. Long-running
    (``long_running = True``, the PostgreSQL and MySQL servers): PUT 202 and DELETE 202 with
    Azure-AsyncOperation + Location; the rule appears (or goes) when the operation ends. A PUT identical
    to the stored rule changes nothing (same body, same systemData)."""

    methods = frozenset({"GET", "PUT", "DELETE"})
    list_by_subscription = False
    list_by_resource_group = False
    start_key, end_key = "startIpAddress", "endIpAddress"
    name_re = re.compile(r"^[-\w.]{1,128}$")
    name_rule = "letters, digits, '-', '_' and '.'"
    long_running = False
    status_segment, result_segment = "azureAsyncOperation", "operationResults"
    # Redis answers ``name: "{cache}/{rule}"``.
    qualified_name = False

    def render(self, res, req=None):
        out = copy.deepcopy(res)
        if self.qualified_name:
            out["name"] = f"{common.parse_path(res['id']).names[-2]}/{res['name']}"
            out.pop("systemData", None)
        return out

    def _props(self, body):
        props = body.get("properties")
        if not isinstance(props, dict):
            raise arm_error(400, "InvalidRequestContent", "The request content was invalid: 'properties' is required.")
        out = {}
        for key in (self.start_key, self.end_key):
            if ipv4(props.get(key)) is None:
                raise arm_error(400, "InvalidParameterValue",
                                f"Invalid value given for parameter {key}. Specify a valid parameter value.")
            out[key] = str(ipv4(props[key]))
        if ipv4(out[self.start_key]) > ipv4(out[self.end_key]):
            raise arm_error(400, "InvalidParameterValue",
                            f"The {self.start_key} '{out[self.start_key]}' is greater than the {self.end_key} "
                            f"'{out[self.end_key]}'.")
        return out

    def _check_name(self, ref):
        if not self.name_re.match(ref.name or ""):
            raise arm_error(400, "InvalidParameterValue",
                            f"Invalid value given for parameter firewallRuleName '{ref.name}'. A firewall rule name "
                            f"may contain only {self.name_rule}.")

    def _apply(self, ref, props, req):
        """Store the rule; returns (created, changed)."""
        existing = self.state.raw(ref.id)
        if existing is not None and existing.get("properties") == props:
            return False, False
        res = {"id": ref.id, "name": ref.name, "type": self.wire_type or self.type_name,
               "properties": copy.deepcopy(props),
               "systemData": system_data(req, self.sb, (existing or {}).get("systemData"))}
        self.state.store(res)
        return existing is None, True

    def put(self, req, ref, body):
        self._check_name(ref)
        props = self._props(body)
        with self.state.lock:
            if not self.long_running:
                created, _ = self._apply(ref, props, req)
                return Response(201 if created else 200, self.render(self.state.raw(ref.id), req))
            server = self.state.raw(ref.parent_id)
            rid = ref.id

            def complete(op):  # pylint: disable=unused-argument
                if self.state.raw(ref.parent_id) is not None:
                    self._apply(ref, props, req)

            op = self._start(req, server, rid, complete)
            op.result = lambda: (200, self.render(self.state.raw(rid), req)) if self.state.raw(rid) else (204, None)
            return Response(202, None, self.lro.headers(req, op, location=True))

    def delete(self, req, ref):
        with self.state.lock:
            if self.state.raw(ref.id) is None:
                return Response(204)
            if not self.long_running:
                self.state.remove_tree(ref.id)
                return Response(200)
            server = self.state.raw(ref.parent_id)

            def complete(op):  # pylint: disable=unused-argument
                self.state.remove_tree(ref.id)

            op = self._start(req, server, ref.id, complete)
            return Response(202, None, self.lro.headers(req, op, location=True))

    def _start(self, req, server, rid, complete):
        pref = common.parse_path(rid)
        op_id = new_guid()
        base = (f"/subscriptions/{pref.subscription}/providers/{pref.namespace}/locations/"
                f"{(server or {}).get('location') or self.sb.location}")
        return self.lro.start("firewallRules", rid, f"{base}/{self.status_segment}/{op_id}",
                              f"{base}/{self.result_segment}/{op_id}", on_complete=complete, op_id=op_id, req=req)
