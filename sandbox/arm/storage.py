# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.Storage: storageAccounts (GET/list, PATCH, DELETE, listKeys, regenerateKey), the four
``*Services/default`` children and blob containers / file shares / queues / tables."""
import base64
import copy
import ipaddress
import os

from sandbox.arm import common
from sandbox.arm.common import arm_error, iso, stable_guid, system_data
from sandbox.core import Response

# The versions of azure-rest-api-specs specification/storage/resource-manager/Microsoft.Storage/stable (any other:
# 400 NoRegisteredProviderFound); azure-mgmt-storage (azure-cli) sends 2025-08-01, `az storage account` (aaz)
# 2026-04-01.
API_VERSIONS = ["2026-04-01", "2025-08-01", "2025-06-01", "2025-01-01", "2024-01-01", "2023-05-01", "2023-04-01",
                "2023-01-01", "2022-09-01", "2022-05-01", "2021-09-01", "2021-08-01", "2021-06-01", "2021-04-01",
                "2021-02-01", "2021-01-01", "2019-06-01", "2019-04-01", "2018-11-01", "2018-07-01",
                "2018-03-01-preview", "2018-02-01", "2017-10-01", "2017-06-01", "2016-12-01", "2016-05-01",
                "2016-01-01", "2015-06-15"]
ACCOUNT_TYPE = "Microsoft.Storage/storageAccounts"
SERVICES = {"blobServices": "containers", "fileServices": "shares", "queueServices": "queues",
            "tableServices": "tables"}


def register(registry):
    registry.add(StorageAccountHandler)
    for service, child in SERVICES.items():
        registry.generic(f"{ACCOUNT_TYPE}/{service}", API_VERSIONS, tracked=False, strict_api_versions=True,
                         methods=frozenset({"GET", "PUT"}), list_by_subscription=False,
                         list_by_resource_group=False, defaults=_service_defaults(service),
                         provisioning_state=False)
        registry.generic(f"{ACCOUNT_TYPE}/{service}/{child}", API_VERSIONS, tracked=False, strict_api_versions=True,
                         list_by_subscription=False, list_by_resource_group=False,
                         defaults=CHILD_DEFAULTS.get(child, {}), on_create=_child_created,
                         provisioning_state=False)
    registry.namespace("Microsoft.Storage", {"locations": API_VERSIONS, "operations": API_VERSIONS,
                                             "checkNameAvailability": API_VERSIONS})


CHILD_DEFAULTS = {
    "containers": {"immutableStorageWithVersioning": {"enabled": False}, "deleted": False,
                   "remainingRetentionDays": 0, "defaultEncryptionScope": "$account-encryption-key",
                   "denyEncryptionScopeOverride": False, "publicAccess": "None", "leaseStatus": "Unlocked",
                   "leaseState": "Available", "hasImmutabilityPolicy": False, "hasLegalHold": False},
    "shares": {"accessTier": "TransactionOptimized", "shareQuota": 102400, "enabledProtocols": "SMB"},
    "queues": {"metadata": {}},
    "tables": {},
}


def _child_created(handler, res, req, ref):
    res["etag"] = '"0x8DC' + os.urandom(6).hex().upper() + '"'
    props = res.setdefault("properties", {})
    if ref.types[-1].lower() in ("containers", "shares"):
        props["lastModifiedTime"] = iso()
    if ref.types[-1].lower() == "tables":
        props["tableName"] = ref.name


def _service_defaults(service):
    if service == "blobServices":
        return {"cors": {"corsRules": []}, "deleteRetentionPolicy": {"allowPermanentDelete": False, "enabled": False}}
    if service == "fileServices":
        return {"cors": {"corsRules": []}, "shareDeleteRetentionPolicy": {"enabled": True, "days": 7},
                "protocolSettings": {"smb": {}}}
    return {"cors": {"corsRules": []}}


def core_endpoints(name):
    """The public-cloud endpoints of an account named ``name``."""
    return {"dfs": f"https://{name}.dfs.core.windows.net/", "web": f"https://{name}.z13.web.core.windows.net/",
            "blob": f"https://{name}.blob.core.windows.net/", "queue": f"https://{name}.queue.core.windows.net/",
            "table": f"https://{name}.table.core.windows.net/", "file": f"https://{name}.file.core.windows.net/"}


def _new_key():
    return base64.b64encode(os.urandom(64)).decode()


def normalise_acls(acls):
    acls = copy.deepcopy(acls or {})
    acls.setdefault("bypass", "AzureServices")
    acls.setdefault("virtualNetworkRules", [])
    acls.setdefault("ipRules", [])
    acls.setdefault("ipv6Rules", [])
    acls.setdefault("defaultAction", "Allow")
    for rule in acls["ipRules"] + acls["ipv6Rules"]:
        rule.setdefault("action", "Allow")
    for rule in acls["virtualNetworkRules"]:
        rule.setdefault("action", "Allow")
        rule.setdefault("state", "Succeeded")
    return acls


INVALID_IP_RULE = ("Values for request parameters are invalid: networkAcls.ipRule[*].value. For more information, "
                   "see - https://aka.ms/storagenetworkruleset")
# IP rules admit public internet addresses only: the RFC 1918 ranges are refused (Microsoft Learn, "Configure Azure
# Storage firewalls and virtual networks": IP network rules; azure-cli issues #7417 and #13828 show Azure's answer).
PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def check_ip_rules(acls):
    """Storage takes a public IPv4 address or range: a malformed or private value is a 400
    InvalidValuesForRequestParameters naming ``networkAcls.ipRule[*].value``; /31 and /32 ranges are refused with
    their own message."""
    for rule in acls.get("ipRules") or []:
        value = str(rule.get("value") or "")
        if value.endswith("/31") or value.endswith("/32"):
            raise arm_error(400, "NetworkAclsValidationFailure",
                            f"Validation of network acls failure: the IP range '{value}' is not supported: small "
                            "address ranges using /31 or /32 prefix sizes are not supported; use the IP address "
                            "without a prefix.")
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            net = None
        if net is None or net.version != 4 or any(net.overlaps(p) for p in PRIVATE_RANGES):
            raise arm_error(400, "InvalidValuesForRequestParameters", INVALID_IP_RULE)


def seed_account(state, resource_group, name, keys, endpoints, location, containers, overrides):
    sb = state.sb
    with state.lock:
        rg = state.ensure_resource_group(resource_group, location)
        location = (location or rg.get("location") or sb.location).lower()
        rid = state.storage_account_id(resource_group, name)
        now = iso()
        res = {
            "sku": {"name": "Standard_LRS", "tier": "Standard"}, "kind": "StorageV2", "id": rid, "name": name,
            "type": ACCOUNT_TYPE, "location": location, "tags": {},
            "properties": {
                "dnsEndpointType": "Standard", "defaultToOAuthAuthentication": False, "publicNetworkAccess": "Enabled",
                "keyCreationTime": {"key1": now, "key2": now}, "allowCrossTenantReplication": False,
                "privateEndpointConnections": [], "minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False,
                "allowSharedKeyAccess": True, "largeFileSharesState": "Enabled",
                "networkAcls": normalise_acls(None), "supportsHttpsTrafficOnly": True,
                "encryption": {"requireInfrastructureEncryption": False, "keySource": "Microsoft.Storage",
                               "services": {s: {"keyType": "Account", "enabled": True, "lastEnabledTime": now}
                                            for s in ("file", "blob")}},
                "accessTier": "Hot", "provisioningState": "Succeeded", "creationTime": now,
                "primaryEndpoints": dict(endpoints or {}), "primaryLocation": location,
                "statusOfPrimary": "available",
            },
            "systemData": system_data(None, sb),
        }
        for k, v in (overrides or {}).items():
            if k in ("tags", "sku", "kind", "identity"):
                res[k] = copy.deepcopy(v)
            elif k == "properties":
                res["properties"] = common.deep_merge(res["properties"], v)
            else:
                res["properties"][k] = copy.deepcopy(v)
        state.store(res)
        keys = list(keys or [_new_key(), _new_key()])
        state.meta_of(rid)["keys"] = [{"keyName": f"key{i + 1}", "value": k, "permissions": "FULL",
                                       "creationTime": now} for i, k in enumerate(keys[:2])]
        for service in SERVICES:
            sid = f"{rid}/{service}/default"
            state.store({"id": sid, "name": "default", "type": f"{ACCOUNT_TYPE}/{service}",
                         "sku": copy.deepcopy(res["sku"]), "properties": _service_defaults(service)})
        for c in containers:
            cid = f"{rid}/blobServices/default/containers/{c}"
            props = copy.deepcopy(CHILD_DEFAULTS["containers"])
            props["lastModifiedTime"] = now
            state.store({"id": cid, "name": c, "type": f"{ACCOUNT_TYPE}/blobServices/containers",
                         "etag": f'"0x8DC{stable_guid(cid).replace("-", "")[:12].upper()}"', "properties": props})
        return res


JOIN = "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action"


def check_vnet_rules(state, req, acls, before):
    """A virtual network rule names an existing subnet with the Microsoft.Storage (or .Global) service endpoint, or
    the write is refused (the message Azure gives: terraform-provider-azurerm#16547, azure-docs#44267); a rule added
    by a caller who may not join the subnet (``JOIN`` denied there) is ARM's 403 LinkedAuthorizationFailed."""
    from sandbox.arm import network
    known = {str(r.get("id") or "").lower() for r in (before or {}).get("virtualNetworkRules") or []}
    for rule in acls.get("virtualNetworkRules") or []:
        sid = str(rule.get("id") or "")
        denials = getattr(state, "denials", None)
        if sid.lower() not in known and denials is not None and denials.denied(JOIN, sid):
            who, _ = common.caller_of(req, state.sb)
            raise arm_error(403, "LinkedAuthorizationFailed",
                            f"The client '{who}' has permission to perform action '{ACCOUNT_TYPE}/write' on scope "
                            f"'{req.path.split('?')[0]}'; however, it does not have permission to perform action "
                            f"'{JOIN}' on the linked scope(s) '{sid}' or the linked scope(s) are invalid.")
        endpoints = network.subnet_endpoints(state, sid)
        vnet, _, subnet = sid.rpartition("/subnets/")
        if endpoints is None:   # the code Azure gives here is not recorded: the shape of the one below
            raise arm_error(400, "NetworkAclsValidationFailure",
                            f"Validation of network acls failure: SubnetsNotFound:Subnet {subnet} of virtual network "
                            f"{vnet} was not found.")
        if not {"microsoft.storage", "microsoft.storage.global"} & {str(e).lower() for e in endpoints}:
            raise arm_error(400, "NetworkAclsValidationFailure",
                            f"Validation of network acls failure: SubnetsHaveNoServiceEndpointsConfigured:Subnets "
                            f"{subnet} of virtual network {vnet} do not have ServiceEndpoints for Microsoft.Storage "
                            "resources configured. Add Microsoft.Storage to subnet's ServiceEndpoints collection "
                            "before trying to ACL Microsoft.Storage resources to these subnets..")


class StorageAccountHandler(common.ResourceHandler):
    type_name = ACCOUNT_TYPE
    methods = frozenset({"GET", "PATCH", "DELETE"})
    api_versions = tuple(API_VERSIONS)
    strict_api_versions = True
    actions = {"listkeys": "list_keys", "regeneratekey": "regenerate_key"}

    def patch(self, req, ref, body):
        with self.state.lock:
            res = self.require(ref)
            for k in ("tags", "sku", "kind", "identity"):
                if k in body:
                    res[k] = copy.deepcopy(body[k]) if body[k] is not None else ({} if k == "tags" else None)
            props = copy.deepcopy(body.get("properties") or {})
            if "networkRuleSet" in props and "networkAcls" not in props:
                props["networkAcls"] = props.pop("networkRuleSet")
            for k, v in props.items():
                if k == "networkAcls":
                    v = normalise_acls(v)
                    check_ip_rules(v)
                    check_vnet_rules(self.state, req, v, res["properties"].get("networkAcls"))
                res["properties"][k] = v
            res["systemData"] = system_data(req, self.sb, res.get("systemData"))
            return Response(200, self.render(res, req))

    delete = common.ResourceHandler.delete_now

    def _keys(self, ref):
        return {"keys": copy.deepcopy(self.state.meta_of(ref.id).get("keys", []))}

    def list_keys(self, req, ref):
        with self.state.lock:
            self.require(ref)
            return Response(200, self._keys(ref))

    def regenerate_key(self, req, ref):
        body = common.json_body(req)
        name = str(body.get("keyName") or "").lower()
        with self.state.lock:
            res = self.require(ref)
            keys = self.state.meta_of(ref.id).setdefault("keys", [])
            for k in keys:
                if k["keyName"].lower() == name:
                    k["value"] = _new_key()
                    k["creationTime"] = iso()
                    res["properties"].setdefault("keyCreationTime", {})[k["keyName"]] = k["creationTime"]
                    return Response(200, self._keys(ref))
        raise arm_error(400, "InvalidValuesForRequestParameters",
                        "Values for request parameters are invalid: keyName.")
