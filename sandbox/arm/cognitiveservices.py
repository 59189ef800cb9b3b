# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.CognitiveServices/accounts (the cognitiveservices target).

  GET   accounts/{a}            properties.endpoint https://<customSubDomainName>.cognitiveservices.azure.com/,
                                properties.endpoints {service: url}, networkAcls, publicNetworkAccess, ...
  POST  accounts/{a}/listKeys   {"key1", "key2"} (32 hex characters each)
  PATCH accounts/{a}            long-running: 200 with the account in provisioningState Accepted (old
                                properties) + Azure-AsyncOperation; the patch lands when the operation ends
                                (a client polling the account body sees Accepted -> Succeeded). The firewall
                                is ``properties.networkAcls {defaultAction, ipRules [{value}], virtualNetworkRules}``;
                                networkAcls merges key by key (lists replace). 409 while an update runs.
"""
import copy
import uuid

from sandbox.arm import common, targetkit
from sandbox.arm.common import arm_error, iso
from sandbox.core import Response

TYPE = "Microsoft.CognitiveServices/accounts"
API_VERSIONS = ["2026-05-15-preview", "2026-05-01", "2026-03-15-preview", "2026-03-01", "2026-01-15-preview",
                "2025-06-01", "2025-04-01-preview", "2024-10-01", "2024-06-01-preview", "2024-04-01-preview",
                "2023-10-01-preview", "2023-05-01", "2022-12-01", "2022-10-01", "2022-03-01", "2021-10-01",
                "2021-04-30", "2017-04-18"]
READ_ONLY = ("endpoint", "endpoints", "internalId", "dateCreated", "provisioningState", "capabilities",
             "callRateLimit", "isMigrated")


def register(registry):
    registry.add(AccountHandler)
    registry.namespace("Microsoft.CognitiveServices", {"operations": API_VERSIONS, "checkDomainAvailability":
                                                       API_VERSIONS, "locations/operationResults": API_VERSIONS})


def normalise_acls(acls):
    acls = copy.deepcopy(acls or {})
    acls.setdefault("defaultAction", "Allow")
    acls["ipRules"] = [r if isinstance(r, dict) else {"value": r} for r in acls.get("ipRules") or []]
    acls["virtualNetworkRules"] = list(acls.get("virtualNetworkRules") or [])
    return acls


def seed_account(state, resource_group, name, location=None, kind="CognitiveServices"):
    """A multi-service Azure AI services account (custom subdomain = name) with random keys."""
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        rid = targetkit.resource_id(state, resource_group, TYPE, name)
        base = f"https://{name}.cognitiveservices.azure.com/"
        props = {"endpoint": base, "internalId": uuid.uuid4().hex, "dateCreated": iso(),
                 "callRateLimit": {"rules": [{"key": "default", "renewalPeriod": 1, "count": 1000,
                                              "matchPatterns": [{"path": "*", "method": "*"}]}]},
                 "isMigrated": False, "customSubDomainName": name, "networkAcls": normalise_acls(None),
                 "privateEndpointConnections": [], "publicNetworkAccess": "Enabled",
                 "capabilities": [{"name": "VirtualNetworks"}, {"name": "CustomerManagedKey"}],
                 "endpoints": {"Computer Vision": base, "Content Moderator": base, "Face": base,
                               "Text Analytics": base, "Translator Text API":
                                   "https://api.cognitive.microsofttranslator.com/",
                               "Speech Services Speech to Text": f"https://{location}.stt.speech.microsoft.com",
                               "Token": f"https://{location}.api.cognitive.microsoft.com/"},
                 "provisioningState": "Succeeded"}
        res = targetkit.store(state, rid, TYPE, props, location, tags={}, etag=f'"{uuid.uuid4()}"',
                              sku={"name": "S0"}, kind=kind, identity={"type": "None"})
        state.meta_of(rid)["keys"] = {"key1": targetkit.hex_key(), "key2": targetkit.hex_key()}
        return res


class AccountHandler(targetkit.TargetHandler):
    type_name = TYPE
    methods = frozenset({"GET", "PATCH"})
    api_versions = tuple(API_VERSIONS)
    actions = {"listkeys": "list_keys"}

    def patch(self, req, ref, body):
        props = copy.deepcopy(body.get("properties") or {})
        for k in READ_ONLY:
            props.pop(k, None)
        for rule in (props.get("networkAcls") or {}).get("ipRules") or []:
            if not isinstance(rule, dict) or not rule.get("value"):
                raise arm_error(400, "BadRequest", "Each networkAcls.ipRules entry needs a value (an IPv4 address "
                                                   "or CIDR range).")
        with self.state.lock:
            res = self.require(ref)
            self.require_ready(res)
            top = {k: copy.deepcopy(body[k]) for k in ("tags", "sku", "identity") if k in body}

            def finish(cur):
                before = copy.deepcopy(cur)
                cur.update(top)
                for k, v in props.items():
                    if k == "networkAcls":
                        v = normalise_acls(common.deep_merge(cur["properties"].get("networkAcls") or {}, v or {}))
                    cur["properties"][k] = v
                targetkit.bump_if_changed(before, cur, req, self.sb)

            op = targetkit.start_lro(self, req, res, finish, transient="Accepted", kind="accounts")
            return Response(200, self.render(res, req), self.lro.headers(req, op))

    def list_keys(self, req, ref):
        with self.state.lock:
            self.require(ref)
            return Response(200, dict(self.state.meta_of(ref.id).get("keys") or {}))
