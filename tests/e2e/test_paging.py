# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Every list the extension reads is read to its last page (issue 23): with the sandbox answering every ARM list one
item a page (each with the nextLink of the next), creates of each auth type, validate and delete --cleanup reach
the same end state as with one page; a reader of the first page only would miss what the later pages hold (the
identity's federated credentials, the principal's role assignments, the firewall's rules, Service Connector's
linkers)."""
import pytest

# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.helpers import new_cluster, new_identity, quick_extensions, run  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("quick_extensions")]


@pytest.fixture
def one_per_page(sbc):
    sbc.set_paging(1)
    yield
    sbc.set_paging(0)


def test_paging_is_real(az, sandbox, sbc, one_per_page):
    """The sandbox pages as ARM does: a raw GET of a list holds one item and a nextLink; az's own list follows it."""
    made = [new_identity(az, "pg")["name"] for _ in range(2)]
    url = f"/subscriptions/{sandbox['seeds']['subscription']}/resourceGroups/sandbox-rg/providers/" \
          "Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2023-01-31"
    first = run(az, "rest", "--method", "get", "--url", url, "-o", "json").json
    assert len(first["value"]) == 1 and "$skiptoken=1" in first["nextLink"], first
    listed = run(az, "identity", "list", "-g", "sandbox-rg", "-o", "json")
    assert listed.rc == 0 and set(made) <= {i["name"] for i in listed.json}, listed


def test_every_list_is_read_to_its_last_page(az, sandbox, sbc, one_per_page):
    cluster = new_cluster(sbc, "paged")
    s = sandbox["seeds"]["storage"]["storage-blob"]
    ident = new_identity(az, "paged")
    # earlier credentials on the identity and assignments of its principal: ours are on a later page
    for i in range(2):
        assert run(az, "identity", "federated-credential", "create", "-g", "sandbox-rg", "--identity-name",
                   ident["name"], "-n", f"other-{i}", "--issuer", f"https://issuer-{i}.example.com/",
                   "--subject", f"system:serviceaccount:other:sa-{i}", "--audiences",
                   "api://AzureADTokenExchange").rc == 0
    args = ("aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg", s["resourceGroup"],
            "--account", s["account"], "--kube-namespace", "paged", "-o", "json")
    made = run(az, *args, "--connection", "paged_wi", "--workload-identity", ident["id"])
    assert made.rc == 0, made
    again = run(az, *args, "--connection", "paged_wi", "--workload-identity", ident["id"], "--dry-run")
    assert again.rc == 0 and again.json["pendingChanges"] == 0, again.json      # found on its page: nothing new
    assert run(az, *args, "--connection", "paged_key", "--secret").rc == 0
    conn = cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/paged_wi"
    checked = run(az, "aks", "connection", "validate", "--id", conn, "-o", "json")
    assert checked.rc == 0 and all(r["result"] == "success" for r in checked.json), checked.json
    fics = run(az, "identity", "federated-credential", "list", "-g", "sandbox-rg", "--identity-name", ident["name"],
               "-o", "json").json
    assert len(fics) == 3, fics                                                   # none made twice
    gone = run(az, "aks", "connection", "delete", "--id", conn, "--cleanup", "--yes")
    assert gone.rc == 0, gone
    left = run(az, "identity", "federated-credential", "list", "-g", "sandbox-rg", "--identity-name", ident["name"],
               "-o", "json").json
    assert sorted(f["name"] for f in left) == ["other-0", "other-1"], left
