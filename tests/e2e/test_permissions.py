# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The Azure permission preflight of the local engine (provider/permissions.py): before the first write, the
permissions API of each scope the plan writes, and one error naming every missing action, its scope and a role
that grants it. A Contributor cannot write role assignments (Microsoft.Authorization/*/Write is in its notActions):
a workload-identity create must stop before it turns the OIDC issuer on (which cannot be undone)."""
import pytest

# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.helpers import new_cluster, new_identity, quick_extensions, run, writes  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("quick_extensions")]


def _wi_create(az, sandbox, cluster, name, identity, *extra):
    s = sandbox["seeds"]["storage"]["storage-blob"]
    return run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
               s["resourceGroup"], "--account", s["account"], "--connection", name, "--kube-namespace", "perm",
               "--workload-identity", identity["id"], "-o", "json", *extra)


def test_a_contributor_is_told_what_it_lacks_before_anything_is_written(az, sandbox, sbc):
    cluster = new_cluster(sbc, "perm-contrib")
    identity = new_identity(az, "perm")
    subscription = "/subscriptions/" + sandbox["seeds"]["subscription"]
    # What Contributor's notActions take away, at the subscription: every Microsoft.Authorization write.
    sbc.deny("Microsoft.Authorization/roleAssignments/write", subscription)
    sbc.deny("Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
             identity["id"])
    try:
        mark = sbc.mark()
        res = _wi_create(az, sandbox, cluster, "perm_wi", identity)
        dry = _wi_create(az, sandbox, cluster, "perm_wi", identity, "--dry-run")
        seen = writes(sbc, mark)
    finally:
        sbc.clear_denials()
    assert res.rc == 1, res
    account = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices", 1)[0]
    assert f"'Microsoft.Authorization/roleAssignments/write' on '{account}' (granted by \"Role Based Access " \
           "Control Administrator\")" in res.log, res.log
    assert "'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write' on " \
           f"'{identity['id']}' (granted by \"Managed Identity Contributor\")" in res.log, res.log
    assert "Nothing was written" in res.log and "az role assignment create --assignee " in res.log
    assert "Traceback" not in res.log
    assert dry.rc == 1 and "roleAssignments/write" in dry.log, dry
    # Neither plane was written: no cluster update (the OIDC issuer stays off), no credential, no record.
    assert [w for w in seen if w[0] != "POST" or "selfsubjectaccessreviews" not in w[1]] == [], seen
    # Granted again, the same command goes through.
    assert _wi_create(az, sandbox, cluster, "perm_wi", identity).rc == 0
