# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The connections file's loader (connfile.py) and its shipped JSON Schema agree on the keys, the required keys and
the allowed values; the loader refuses what the schema refuses, with the line."""
import json
import os

import pytest

from azext_aks_connection import connfile

SCHEMA = os.path.join(os.path.dirname(connfile.__file__), "schema", "connections.schema.json")


def _schema():
    with open(SCHEMA, encoding="utf-8") as f:
        return json.load(f)


def test_the_schema_and_the_loader_have_the_same_keys_and_required_keys():
    schema = _schema()
    assert sorted(schema["properties"]) == sorted(connfile.TOP_KEYS)
    assert schema["required"] == ["connections"] and schema["additionalProperties"] is False
    entry = schema["$defs"]["connection"]
    assert sorted(entry["properties"]) == sorted(connfile.ENTRY_KEYS)
    assert sorted(entry["required"]) == sorted(connfile.ENTRY_REQUIRED)
    assert entry["additionalProperties"] is False
    sp = entry["properties"]["servicePrincipal"]
    assert sorted(sp["properties"]) == sorted(connfile.SP_KEYS) and sp["required"] == list(connfile.SP_REQUIRED)
    assert entry["properties"]["auth"]["enum"] == list(connfile.AUTH_TYPES)
    assert entry["properties"]["engine"]["enum"] == list(connfile.ENGINES)
    assert entry["properties"]["optOut"]["items"]["enum"] == list(connfile.OPT_OUTS)
    kinds = {"str": "#/$defs/text", "list": "array", "map": "object", "sp": "object"}
    for key, kind in connfile.ENTRY_KEYS.items():
        prop = entry["properties"][key]
        if key in connfile.ENUMS:
            continue
        assert prop.get("$ref", prop.get("type")) == kinds[kind], key


def test_the_schema_ships_with_the_package():
    with open(os.path.join(os.path.dirname(connfile.__file__), "..", "setup.py"), encoding="utf-8") as f:
        assert "schema/connections.schema.json" in f.read()


GOOD = """connections:
  - cluster: /subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/one
    name: orders_blob
    target: storage-blob
    targetId: /subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/blobServices/default
    namespace: orders
    auth: service-principal
    servicePrincipal: {clientId: 00000000-0000-0000-0000-000000000001, secretEnv: SP_SECRET}
    roles: [Storage Blob Data Reader]
    customizedKeys: {AZURE_STORAGEBLOB_CLIENTID: MY_ID}
    optOut: [publicnetwork]
"""


def test_a_good_file_loads_with_its_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)
    [entry] = connfile.load(str(path))
    assert entry.line == 2 and entry.lines["servicePrincipal"] == 8
    assert entry.get("roles") == ["Storage Blob Data Reader"]
    assert entry.get("customizedKeys") == {"AZURE_STORAGEBLOB_CLIENTID": "MY_ID"}
    same = tmp_path / "c.json"
    import yaml
    same.write_text(json.dumps(yaml.safe_load(GOOD), indent=2))
    assert connfile.load(str(same))[0].values == entry.values


@pytest.mark.parametrize("change, words", [
    (("    optOut: [publicnetwork]\n", "    optOut: [everything]\n"), "line 11, connections[0].optOut"),
    (("secretEnv: SP_SECRET", "secret: hunter2"), "line 8, connections[0].servicePrincipal.secret"),
    (("secretEnv: SP_SECRET", "secretEnv: A, secretFile: b"), "exactly one of secretFile and secretEnv"),
    (("    namespace: orders\n", "    namespace: orders\n    namespace: billing\n"), "given twice"),
    (("    roles: [Storage Blob Data Reader]\n", "    roles: Storage Blob Data Reader\n"), "must be a list"),
    (("    auth: service-principal\n", ""), "'servicePrincipal' goes with auth: service-principal"),
    (("connections:", "connection:"), "unknown key 'connection'"),
])
def test_the_loader_refuses_with_the_line_and_key(tmp_path, change, words):
    path = tmp_path / "c.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(connfile.FileError) as err:
        connfile.load(str(path))
    assert words in err.value.error_msg and str(path) in err.value.error_msg
    assert "hunter2" not in err.value.error_msg


def test_the_loader_imports_no_sdk():
    import subprocess
    import sys
    code = ("import sys; import azext_aks_connection.connfile; "
            "print([m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.core', 'kubernetes'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(connfile.__file__)))
    assert out.stdout.strip() == "[]", out.stdout
