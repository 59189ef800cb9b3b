# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
import json

from azext_aks_connection import model
from azext_aks_connection._validators import ClusterRef
from azext_aks_connection.targets import TARGETS, AUTH_SECRET, default_auth_type


def _spec(name="orders_blob", client="none"):
    t = TARGETS["storage-blob"]
    return model.ConnectionSpec(ClusterRef("s", "rg", "c"), name, t, "/t/id", AUTH_SECRET, client, "orders")


def test_record_never_holds_a_credential_and_round_trips():
    configs = [{"name": "AZURE_STORAGEBLOB_CONNECTIONSTRING", "value": "AccountKey=SECRET", "credential": True},
               {"name": "spring.cloud.azure.storage.blob.account-name", "value": "acct", "credential": False}]
    rec = model.new_record(_spec(), configs, {"secret": "sc-ordersblob-secret"}, "me",
                           "2026-12-01T10:00:00.000000Z")
    text = model.dump_record(rec)
    assert "SECRET" not in text
    from kubernetes import client
    from azext_aks_connection.provider import store
    body = store._body(store.configmap_name("orders_blob"), rec)      # pylint: disable=protected-access
    assert "SECRET" not in json.dumps(body)
    assert body["metadata"]["labels"]["aks-connection/record"] == "v1"
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(**dict(body["metadata"])),
                            data=body["data"])
    broken = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="conn-broken"), data={"connection.json": "{no"})
    records = {r["name"]: r for r in map(store._record_of, [cm, broken]) if r}   # pylint: disable=protected-access
    assert list(records) == ["orders_blob"]
    linker = model.to_linker(records["orders_blob"], ClusterRef("s", "rg", "c"))
    assert linker["id"].endswith("/managedClusters/c/providers/Microsoft.ServiceLinker/linkers/orders_blob")
    assert linker["authInfo"] == {"authType": "secret", "authMode": None, "name": None, "secretInfo": None,
                                  "additionalProperties": {}}        # the SDK model, as azure-cli prints it
    assert linker["scope"] == "orders" and linker["resourceGroup"] == "rg"
    out = model.configurations_output(records["orders_blob"])["configurations"]
    assert [c["value"] for c in out] == ["", "acct"]
    json.dumps(linker)


def test_table_keys_per_client_type():
    t = TARGETS["storage-blob"]
    assert [k.key for k in t.keys_for(AUTH_SECRET, "python")] == ["AZURE_STORAGEBLOB_CONNECTIONSTRING"]
    spring = t.keys_for(AUTH_SECRET, "springBoot")
    credentials = {k.key for k in spring if k.credential}
    assert credentials == {"azure.storage.account-key", "spring.cloud.azure.storage.blob.account-key"}
    assert default_auth_type(t) == AUTH_SECRET
    assert t.wire_name == "storageblob"


def test_configmap_names_are_valid_and_keep_connection_names_apart():
    import re
    from azext_aks_connection.provider import store
    names = ["orders_blob", "orders-blob", "Orders_Blob", "a" * 200, "x.y", "___"]
    cms = [store.configmap_name(n) for n in names]
    for cm in cms:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", cm) and len(cm) <= 63, cm
    assert cms[0] != cms[1]                     # a_b and a-b are two connections
    assert cms[0] == cms[2]                     # names are case-insensitive, as in Azure


def test_no_azure_sdk_beyond_what_azure_cli_ships():
    """The wheel's run-time dependencies: none beyond azure-cli's own (no azure-* package: azure-cli-extensions refuses
    those azure-cli does not ship; no kubernetes package: the extension's own client speaks to the API server), and
    no module of the extension imports the Microsoft.KubernetesConfiguration SDK."""
    import os
    import re
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "setup.py"), encoding="utf-8") as f:
        deps = re.search(r"DEPENDENCIES = \[(.*?)\]", f.read(), re.S).group(1)
    assert deps.strip() == "", deps
    for folder, _, files in os.walk(os.path.join(root, "azext_aks_connection")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    assert "azure.mgmt.kubernetesconfiguration" not in f.read(), name
