# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Microsoft.AppConfiguration/configurationStores (the appconfig target): GET / list and listKeys.

  GET  configurationStores/{s}            properties.endpoint https://<name>.azconfig.io, disableLocalAuth,
                                          publicNetworkAccess, ...
  POST configurationStores/{s}/listKeys   {"value": [{id, name, value, connectionString, lastModified, readOnly}],
                                          "nextLink": null}: Primary, Secondary, Primary Read Only, Secondary
                                          Read Only; connectionString
                                          ``Endpoint=https://<name>.azconfig.io;Id=..;Secret=..``
App Configuration has no IP firewall: public access is all (publicNetworkAccess Enabled / null) or nothing.
"""
import os
import string

from sandbox.arm import targetkit
from sandbox.arm.common import iso
from sandbox.core import Response

TYPE = "Microsoft.AppConfiguration/configurationStores"
API_VERSIONS = ["2025-08-01-preview", "2025-02-01-preview", "2024-06-01", "2024-05-01", "2023-09-01-preview",
                "2023-08-01-preview", "2023-03-01", "2022-05-01", "2022-03-01-preview", "2021-10-01-preview",
                "2020-06-01", "2019-10-01"]
KEY_NAMES = (("Primary", False), ("Secondary", False), ("Primary Read Only", True), ("Secondary Read Only", True))
_ALNUM = string.ascii_letters + string.digits


def register(registry):
    registry.add(StoreHandler)
    registry.namespace("Microsoft.AppConfiguration", {"operations": API_VERSIONS,
                                                      "checkNameAvailability": API_VERSIONS})


def _token(n):
    return "".join(_ALNUM[b % len(_ALNUM)] for b in os.urandom(n))


def seed_store(state, resource_group, name, location=None, disable_local_auth=False):
    """A configuration store (standard SKU) with four random access keys. Returns it."""
    with state.lock:
        location = targetkit.rg_location(state, resource_group, location)
        rid = targetkit.resource_id(state, resource_group, TYPE, name)
        props = {"provisioningState": "Succeeded", "creationDate": iso(), "endpoint": f"https://{name}.azconfig.io",
                 "encryption": {"keyVaultProperties": {"keyIdentifier": None, "identityClientId": None}},
                 "privateEndpointConnections": None, "publicNetworkAccess": None,
                 "disableLocalAuth": bool(disable_local_auth), "softDeleteRetentionInDays": 7,
                 "enablePurgeProtection": False, "dataPlaneProxy": {"authenticationMode": "Local",
                                                                    "privateLinkDelegation": "Disabled"}}
        res = targetkit.store(state, rid, TYPE, props, location, tags={}, sku={"name": "standard"})
        now = iso()
        state.meta_of(rid)["keys"] = [
            {"id": f"{_token(4)}-l{i % 2}-s{i // 2}:{_token(20)}", "name": key_name, "value": targetkit.new_key(),
             "lastModified": now, "readOnly": read_only} for i, (key_name, read_only) in enumerate(KEY_NAMES)]
        return res


class StoreHandler(targetkit.TargetHandler):
    type_name = TYPE
    api_versions = tuple(API_VERSIONS)
    actions = {"listkeys": "list_keys"}

    def list_keys(self, req, ref):
        with self.state.lock:
            res = self.require(ref)
            endpoint = res["properties"]["endpoint"]
            keys = [dict(k, connectionString=f"Endpoint={endpoint};Id={k['id']};Secret={k['value']}")
                    for k in self.state.meta_of(ref.id).get("keys") or []]
            return Response(200, {"value": keys, "nextLink": None})
