# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Input that used to be accepted and is now refused before any request, with the rule and an example."""
import uuid

import pytest

from tests.e2e.helpers import run

pytestmark = pytest.mark.e2e


def _storage(sandbox):
    s = sandbox["seeds"]["storage"]["storage-blob"]
    c = sandbox["seeds"]["cluster"]
    return ["storage-blob", "-g", c["resourceGroup"], "-n", c["name"], "--tg", s["resourceGroup"],
            "--account", s["account"]]


def _keyvault(sandbox):
    c = sandbox["seeds"]["cluster"]
    return ["keyvault", "-g", c["resourceGroup"], "-n", c["name"], "--target-id",
            sandbox["seeds"]["keyvaults"]["rbac"]]


CASES = [
    ("empty role", _storage, ["--connection", "bad_role", "--workload-identity", "{identity}", "--role", ""],
     ["--role is empty", "--role \"Storage Blob Data Contributor\""]),
    ("blank role", _storage, ["--connection", "bad_role2", "--workload-identity", "{identity}", "--role", "  "],
     ["--role is empty"]),
    ("key renamed twice", _storage, ["--connection", "bad_keys", "--secret", "--customized-keys",
                                     "AZURE_STORAGEBLOB_CONNECTIONSTRING=A", "AZURE_STORAGEBLOB_CONNECTIONSTRING=B"],
     ["is renamed twice", "--customized-keys AZURE_STORAGEBLOB_CONNECTIONSTRING=B"]),
    ("csi with an identity", _keyvault, ["--connection", "bad_csi", "--enable-csi", "--workload-identity",
                                         "{identity}"],
     ["--enable-csi uses the managed identity", "Drop --workload-identity"]),
    ("blank sp secret", _storage, ["--connection", "bad_sp", "--service-principal", f"client-id={uuid.uuid4()}",
                                   "secret=   "], ["--service-principal secret is blank"]),
    ("name ending in a dot", _storage, ["--connection", "orders.", "--secret"], ["not ending with '.'"]),
    ("name with two dots", _storage, ["--connection", "orders..blob", "--secret"], ["without '..'"]),
]


@pytest.mark.parametrize("case, target, args, messages", CASES, ids=[c[0] for c in CASES])
def test_refused_before_any_request(az, sandbox, sbc, case, target, args, messages):  # pylint: disable=unused-argument
    identity = sandbox["seeds"]["identities"]["sandbox-identity"]
    args = [a.replace("{identity}", identity) for a in args]
    mark = sbc.mark()
    res = run(az, "aks", "connection", "create", *target(sandbox), *args, "-o", "json")   # with the fix lines
    assert res.rc != 0, res
    for message in messages:
        assert message in res.log, (message, res.log)
    assert sbc.requests(since=mark) == []          # neither plane, not even a read


def test_blank_secret_file_is_refused(az, sandbox, sbc, tmp_path):
    """azure-cli itself reads key=@file arguments; a file holding only white space is a blank secret."""
    path = tmp_path / "secret.txt"
    path.write_text("  \n\t\n", encoding="utf-8")
    mark = sbc.mark()
    res = az("aks", "connection", "create", *_storage(sandbox), "--connection", "bad_file", "--service-principal",
             f"client-id={uuid.uuid4()}", f"secret=@{path}", "-o", "json")
    assert res.rc != 0 and "--service-principal secret is blank" in res.log, res
    assert sbc.requests(since=mark) == []
