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
    rec = model.new_record(_spec(), configs, {"secret": "sc-ordersblob-secret"}, "me", "now")
    text = model.dump_record(rec)
    assert "SECRET" not in text
    records = model.load_records({model.setting_key("orders_blob"): text, "unrelated": "x",
                                  model.setting_key("broken"): "{not json"})
    assert list(records) == ["orders_blob"]
    linker = model.to_linker(records["orders_blob"], ClusterRef("s", "rg", "c"))
    assert linker["id"].endswith("/managedClusters/c/providers/Microsoft.ServiceLinker/linkers/orders_blob")
    assert linker["authInfo"] == {"authType": "secret", "name": None, "secretInfo": None}
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
