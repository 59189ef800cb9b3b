# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.SignalRService: SignalR (the signalr target) and WebPubSub (the webpubsub target).

  GET   {SignalR|WebPubSub}/{n}            hostName <name>.service.signalr.net | <name>.webpubsub.azure.com,
                                           publicPort / serverPort 443, networkACLs, publicNetworkAccess, ...
  POST  {SignalR|WebPubSub}/{n}/listKeys   {"primaryKey", "secondaryKey", "primaryConnectionString",
                                           "secondaryConnectionString"};
                                           ``Endpoint=https://<hostName>;AccessKey=..;Version=1.0;``
  PATCH {SignalR|WebPubSub}/{n}            long-running: 202 + Azure-AsyncOperation + Location; the patch lands
                                           when the operation ends (409 while one runs). The firewall is
                                           ``properties.networkACLs.ipRules [{value, action: Allow|Deny}]``
                                           (new resources allow 0.0.0.0/0 and ::/0); networkACLs merges key by
                                           key, lists replace.
"""
import copy

from sandbox.arm import common, targetkit
from sandbox.arm.common import arm_error
from sandbox.core import Response

NS = "Microsoft.SignalRService"
VERSIONS = {"SignalR": ["2024-04-01-preview", "2024-03-01", "2024-01-01-preview", "2023-08-01-preview",
                        "2023-06-01-preview", "2023-03-01-preview", "2023-02-01", "2022-08-01-preview", "2022-02-01",
                        "2021-10-01", "2020-05-01", "2018-10-01"],
            "WebPubSub": ["2024-04-01-preview", "2024-03-01", "2024-01-01-preview", "2023-08-01-preview",
                          "2023-06-01-preview", "2023-03-01-preview", "2023-02-01", "2022-08-01-preview",
                          "2021-10-01"]}
HOSTS = {"SignalR": "service.signalr.net", "WebPubSub": "webpubsub.azure.com"}
READ_ONLY = ("provisioningState", "externalIP", "hostName", "publicPort", "serverPort", "version",
             "privateEndpointConnections", "sharedPrivateLinkResources", "hostNamePrefix")


def register(registry):
    for kind, versions in VERSIONS.items():
        registry.add(ServiceHandler, type_name=f"{NS}/{kind}", api_versions=tuple(versions), kind=kind)
    registry.namespace(NS, {"operations": VERSIONS["SignalR"], "locations/operationStatuses": VERSIONS["SignalR"],
                            "locations/operationResults": VERSIONS["SignalR"]})


def default_acls():
    return {"defaultAction": "Deny",
            "publicNetwork": {"allow": ["ServerConnection", "ClientConnection", "RESTAPI", "Trace"]},
            "privateEndpoints": [],
            "ipRules": [{"value": "0.0.0.0/0", "action": "Allow"}, {"value": "::/0", "action": "Allow"}]}


def normalise_acls(acls):
    acls = copy.deepcopy(acls or {})
    for k, v in default_acls().items():
        if k != "ipRules":
            acls.setdefault(k, v)
    acls["ipRules"] = [dict(r, action=r.get("action") or "Allow") for r in acls.get("ipRules") or []]
    return acls


def seed_service(state, kind, resource_group, name, location=None):
    """A Standard_S1 SignalR or Web PubSub service (``kind`` SignalR | WebPubSub) with random keys."""
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        rid = f"{state.rg_id(resource_group)}/providers/{NS}/{kind}/{name}"
        a, b, c = bytearray(common.stable_guid(rid).encode())[:3]
        ip = f"20.{a}.{b}.{c}"
        props = {"provisioningState": "Succeeded", "externalIP": ip, "hostName": f"{name}.{HOSTS[kind]}",
                 "publicPort": 443, "serverPort": 443, "version": "1.0", "privateEndpointConnections": [],
                 "sharedPrivateLinkResources": [], "tls": {"clientCertEnabled": False}, "hostNamePrefix": name,
                 "networkACLs": default_acls(), "publicNetworkAccess": "Enabled", "disableLocalAuth": False,
                 "disableAadAuth": False, "regionEndpointEnabled": "Enabled", "resourceStopped": "false"}
        if kind == "SignalR":
            props.update({"features": [{"flag": "ServiceMode", "value": "Default", "properties": {}}],
                          "cors": {"allowedOrigins": ["*"]}, "upstream": {"templates": []}})
        res = targetkit.store(state, rid, f"{NS}/{kind}", props, location, tags={},
                              sku={"name": "Standard_S1", "tier": "Standard", "size": "S1", "capacity": 1},
                              kind=kind)
        state.meta_of(rid)["keys"] = [targetkit.new_key(), targetkit.new_key()]
        return res


class ServiceHandler(targetkit.TargetHandler):
    type_name = f"{NS}/SignalR"
    kind = "SignalR"
    methods = frozenset({"GET", "PATCH"})
    actions = {"listkeys": "list_keys"}

    def patch(self, req, ref, body):
        props = copy.deepcopy(body.get("properties") or {})
        for k in READ_ONLY:
            props.pop(k, None)
        for rule in (props.get("networkACLs") or {}).get("ipRules") or []:
            if not isinstance(rule, dict) or not rule.get("value"):
                raise arm_error(400, "BadRequest", "Each networkACLs.ipRules entry needs a value (an IP address, "
                                                   "CIDR range or service tag).")
        with self.state.lock:
            res = self.require(ref)
            self.require_ready(res)
            top = {k: copy.deepcopy(body[k]) for k in ("tags", "sku", "identity") if k in body}

            def finish(cur):
                before = copy.deepcopy(cur)
                cur.update(top)
                for k, v in props.items():
                    if isinstance(v, dict) and isinstance(cur["properties"].get(k), dict):
                        v = common.deep_merge(cur["properties"][k], v)
                    if k == "networkACLs":
                        v = normalise_acls(v)
                    cur["properties"][k] = v
                targetkit.bump_if_changed(before, cur, req, self.sb)

            op = targetkit.start_lro(self, req, res, finish, location_header=True, kind=self.kind)
            return Response(202, None, self.lro.headers(req, op, location=True))

    def list_keys(self, req, ref):
        with self.state.lock:
            res = self.require(ref)
            keys = self.state.meta_of(ref.id).get("keys") or []
            host = res["properties"]["hostName"]
            cs = [f"Endpoint=https://{host};AccessKey={k};Version=1.0;" for k in keys]
            return Response(200, {"primaryKey": keys[0], "secondaryKey": keys[1], "primaryConnectionString": cs[0],
                                  "secondaryConnectionString": cs[1]})
