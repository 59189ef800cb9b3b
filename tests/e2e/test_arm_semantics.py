# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""ARM semantics Azure really has, end to end: the cluster update reads right before its PUT and sends If-Match
(a 412 reads again), federated credentials (concurrent writes, issuer + subject, the 20-credential limit),
role assignments (RoleAssignmentExists, PrincipalNotFound), and --secret refused on targets whose keys are off."""
import threading
import time
import uuid
from urllib.parse import quote

import pytest

from tests.e2e.helpers import new_identity, run, wi_create, writes

pytestmark = pytest.mark.e2e

MSI_API = "2023-01-31"
AUDIENCE = "api://AzureADTokenExchange"


def _blob(sandbox):
    return sandbox["seeds"]["storage"]["storage-blob"]


def _calls(sbc, mark, part):
    return [(e["method"], e["status"]) for e in sbc.requests(since=mark) if part in e["path"]]


def _raw(sbc, method, rid, body=None):
    return sbc.arm(method, "resource?id=" + quote(rid, safe=""), body)


def _wi_create_while_held(az, sandbox, sbc, rule, action, cluster, name, identity):
    """``wi_create`` while another client runs ``action`` as soon as the request of fault ``rule`` is held
    (its latency); the faults are cleared afterwards."""
    other = threading.Thread(target=lambda: (_wait_fault_used(sbc, rule), action()))
    other.start()
    try:
        return wi_create(az, sandbox, cluster, name, identity)
    finally:
        other.join(timeout=60)
        sbc.clear_faults()


def _wait_fault_used(sbc, rule_id):
    """Poll until the fault rule ``rule_id`` has been matched (its request is being held by its latency)."""
    deadline = time.monotonic() + 60
    while True:
        rule = [r for r in sbc.call("GET", "/_sandbox/faults")["value"] if r["id"] == rule_id]
        if rule and rule[0]["times"] == 0:
            return
        assert time.monotonic() < deadline, "the request never came"
        threading.Event().wait(0.05)


# --------------------------------------------------------------------------- managed-cluster update

def test_cluster_update_reads_right_before_the_put_and_a_changed_etag_reads_again(az, sandbox, sbc, fresh_cluster):
    cluster = fresh_cluster
    cpath = cluster["id"]
    identity = sandbox["seeds"]["identities"]["sandbox-identity"]
    # The cluster changes (its ETag with it) while our PUT is on its way: the PUT must be refused (If-Match),
    # then read again and re-sent.
    rule = sbc.add_fault(plane="arm", method="PUT", path=cpath + r"$", latency=1.5, times=1)
    mark = sbc.mark()
    res = _wi_create_while_held(
        az, sandbox, sbc, rule,
        lambda: _raw(sbc, "PATCH", cpath, {"etag": f'"{uuid.uuid4()}"', "tags": {"changedBy": "someone-else"}}),
        cluster, "etag_blob", identity)
    assert res.rc == 0, res
    assert "restarts its API server" in res.log and "cannot be turned off" in res.log
    calls = [(e["method"], e["status"]) for e in sbc.requests(since=mark)
             if e["path"].lower() == cpath.lower()]
    puts = [i for i, c in enumerate(calls) if c[0] == "PUT"]
    assert [calls[i] for i in puts] == [("PUT", 412), ("PUT", 200)]
    # Each PUT right after a GET: the command's own read for the first, a fresh one after the 412.
    assert all(calls[i - 1][0] == "GET" for i in puts)
    shown = az("aks", "show", "-g", cluster["resourceGroup"], "-n", cluster["name"], "-o", "json").json
    assert shown["tags"] == {"changedBy": "someone-else"}            # the other change is not reverted
    assert shown["oidcIssuerProfile"]["enabled"] and shown["securityProfile"]["workloadIdentity"]["enabled"]


def test_az_aks_update_still_works_against_the_strict_sandbox(az, fresh_cluster):
    c = fresh_cluster
    res = az("aks", "update", "-g", c["resourceGroup"], "-n", c["name"], "--enable-oidc-issuer",
             "--enable-workload-identity", "-o", "json")
    assert res.rc == 0, res
    assert res.json["oidcIssuerProfile"]["issuerUrl"] or res.json["oidcIssuerProfile"]["issuerURL"]
    assert res.json["securityProfile"]["workloadIdentity"]["enabled"] is True


def _other_client_turns_on_workload_identity(sbc, cluster_id):
    """Another client's managed-cluster update (raw HTTPS: a GET, then the PUT that turns the OIDC issuer and
    workload identity on): accepted at once, the issuer URL comes when its operation ends."""
    import json
    import ssl
    import urllib.request
    ctx = ssl.create_default_context(cafile=sbc.state["ca"])
    url = f"{sbc.base}{cluster_id}?api-version=2024-10-01"
    hdrs = {"Content-Type": "application/json", "Authorization": "Bearer other"}
    with urllib.request.urlopen(urllib.request.Request(url, headers=hdrs), context=ctx, timeout=30) as resp:
        body = json.loads(resp.read())   # nosec - local sandbox
    body["properties"]["oidcIssuerProfile"] = {"enabled": True}
    body["properties"].setdefault("securityProfile", {})["workloadIdentity"] = {"enabled": True}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT", headers=hdrs)
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:  # nosec - local sandbox
        return resp.status


@pytest.mark.parametrize("moment", ["before-our-put", "after-our-update"])
def test_features_turned_on_by_another_update_wait_for_its_issuer_url(az, sandbox, sbc, fresh_cluster, moment):
    """Our create read the cluster with the OIDC issuer off; another client's update turns it on, and the cluster
    says enabled at once, but its issuer URL comes only when that update ends. The create waits for it and trusts
    the issuer that update made (it sent a federated credential with no issuer before). The other update lands:

    - before-our-put: while our PUT is on its way (held). Ours carries the ETag of our read: 412 (or 409: busy),
      and the create reads the cluster again, finds the features on and waits for their outputs;
    - after-our-update: after our update ended, before our final read of it (held): that read shows the other
      update running and no issuer URL; the create waits for it too."""
    from tests.e2e.helpers import lro_seconds
    cluster = fresh_cluster
    identity = new_identity(az, "oidcrace")["id"]
    held = {"before-our-put": {"method": "PUT", "skip": 0},
            "after-our-update": {"method": "GET", "skip": 1}}[moment]     # our read, then our final GET
    rule = sbc.add_fault(plane="arm", path=cluster["id"] + r"$", times=1, latency=1.5, **held)
    other = {}
    mark = sbc.mark()
    with lro_seconds(sbc, managedClusters=4.0 if moment == "before-our-put" else 2.0):
        res = _wi_create_while_held(
            az, sandbox, sbc, rule,
            lambda: other.update(status=_other_client_turns_on_workload_identity(sbc, cluster["id"])),
            cluster, "race_oidc", identity)
    assert other.get("status") == 200, other
    assert res.rc == 0, res
    issuer = az("aks", "show", "-g", cluster["resourceGroup"], "-n", cluster["name"], "--query",
                "oidcIssuerProfile.issuerUrl", "-o", "tsv").out.strip()
    assert issuer.startswith("https://"), issuer
    fics = az("identity", "federated-credential", "list", "-g", identity.split("/")[4], "--identity-name",
              identity.split("/")[-1], "-o", "json")
    assert fics.rc == 0, fics
    assert [f["issuer"] for f in fics.json] == [issuer], fics.json
    puts = sorted(e["status"] for e in sbc.requests(since=mark) if e["path"].lower() == cluster["id"].lower()
                  and e["method"] == "PUT")
    if moment == "before-our-put":      # the other's lands; ours refused (its ETag is stale, or the cluster busy)
        assert len(puts) == 2 and puts[0] in (200, 201) and puts[1] in (409, 412), puts
    else:
        assert len(puts) == 2 and all(p in (200, 201) for p in puts), puts


# --------------------------------------------------------------------------- federated credentials

def test_a_refused_credential_names_what_it_holds_and_what_each_part_must_be(az, sandbox, sbc, fresh_cluster):
    """A 400 on the credential PUT is no raw service error: the issuer and subject it held, and the rules."""
    ident = new_identity(az, "fic400")
    sbc.add_fault(plane="arm", method="PUT", path=r"/federatedIdentityCredentials/", status=400, times=1,
                  code="BadRequest", message="Issuer URL must use the https scheme.")
    try:
        res = wi_create(az, sandbox, fresh_cluster, "bad_fic", ident["id"])
    finally:
        sbc.clear_faults()
    assert res.rc == 1, res
    assert "Azure refused federated credential 'sc-" in res.log and "(BadRequest) Issuer URL must use the https " \
           "scheme." in res.log, res.log
    assert "for subject system:serviceaccount:" in res.log and "oidcIssuerProfile.issuerUrl" in res.log
    assert "Traceback" not in res.log


def test_a_one_off_conflict_on_the_role_assignment_is_retried(az, sandbox, sbc, fresh_cluster):
    ident = new_identity(az, "role409")
    sbc.add_fault(plane="arm", method="PUT", path=r"/roleAssignments/", status=409, times=2, code="Conflict",
                  message="The request failed due to conflict with a concurrent request.")
    mark = sbc.mark()
    try:
        res = wi_create(az, sandbox, fresh_cluster, "conflict_blob", ident["id"])
    finally:
        sbc.clear_faults()
    assert res.rc == 0, res
    assert _calls(sbc, mark, "/roleAssignments/") == [("PUT", 409), ("PUT", 409), ("PUT", 201)]


def _two_concurrent_write_conflicts(sbc, ident, method):
    """The next two federated credential ``method`` requests answered 409 as Microsoft Entra answers a write while
    another on the same identity is in flight."""
    sbc.add_fault(plane="arm", method=method, path=r"/federatedIdentityCredentials/", status=409, times=2,
                  code="ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity",
                  message="Too many Federated Identity Credentials are written concurrently for the managed "
                          f"identity '{ident['id'].lower()}'. Concurrent Federated Identity Credentials writes "
                          "under the same managed identity are not supported.")


def test_concurrent_credential_write_is_retried(az, sandbox, sbc, fresh_cluster):
    ident = new_identity(az, "ficrace")
    _two_concurrent_write_conflicts(sbc, ident, "PUT")
    mark = sbc.mark()
    try:
        res = wi_create(az, sandbox, fresh_cluster, "race_blob", ident["id"])
    finally:
        sbc.clear_faults()
    assert res.rc == 0, res
    assert _calls(sbc, mark, "/federatedIdentityCredentials/") == [("PUT", 409), ("PUT", 409), ("PUT", 201)]


def test_concurrent_credential_delete_is_retried(az, sandbox, sbc, fresh_cluster):
    """delete --cleanup removes the federated credential it made; a 409 for another write on the identity in flight
    is retried as a create's is, and the credential is gone."""
    ident = new_identity(az, "ficdel")
    assert wi_create(az, sandbox, fresh_cluster, "race_del", ident["id"]).rc == 0
    _two_concurrent_write_conflicts(sbc, ident, "DELETE")
    mark = sbc.mark()
    try:
        res = run(az, "aks", "connection", "delete", "--id", f"{fresh_cluster['id']}/providers/Microsoft.ServiceLinker"
                  "/linkers/race_del", "--cleanup", "--yes")
    finally:
        sbc.clear_faults()
    assert res.rc == 0, res
    assert _calls(sbc, mark, "/federatedIdentityCredentials/") == [("DELETE", 409), ("DELETE", 409), ("DELETE", 200)]
    left = az("identity", "federated-credential", "list", "-g", "sandbox-rg", "--identity-name", ident["name"],
              "-o", "json")
    assert left.rc == 0 and left.json == [], left


def _fill_credentials(sbc, identity_id, count, issuer="https://issuer.example.com/other/"):
    names = []
    for i in range(count):
        name = f"other-{i:02d}"
        _raw(sbc, "PUT", f"{identity_id}/federatedIdentityCredentials/{name}",
             {"name": name, "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
              "properties": {"issuer": issuer, "subject": f"system:serviceaccount:ns:sa{i}", "audiences": [AUDIENCE]}})
        names.append(name)
    return names


def test_full_identity_is_refused_before_any_write(az, sandbox, sbc, fresh_cluster):
    ident = new_identity(az, "ficfull")
    names = _fill_credentials(sbc, ident["id"], 20)
    mark = sbc.mark()
    res = wi_create(az, sandbox, fresh_cluster, "full_blob", ident["id"])
    assert res.rc != 0
    assert "holds 20 federated identity credentials" in res.log and "(20)" in res.log
    assert all(n in res.log for n in names)
    assert (f"az identity federated-credential delete --subscription {sandbox['seeds']['subscription']} -g "
            f"sandbox-rg --identity-name {ident['name']} --name <credential name> --yes") in res.log
    assert writes(sbc, mark) == []                     # nothing on either plane: no cluster update, no Secret


def test_existing_credential_with_another_audience_is_reported(az, sandbox, sbc, fresh_cluster):
    c = fresh_cluster
    on = az("aks", "update", "-g", c["resourceGroup"], "-n", c["name"], "--enable-oidc-issuer",
            "--enable-workload-identity", "-o", "json")
    assert on.rc == 0, on
    issuer = az("aks", "show", "-g", c["resourceGroup"], "-n", c["name"], "-o", "json").json[
        "oidcIssuerProfile"]["issuerUrl"]
    ident = new_identity(az, "ficaud")
    subject = f"system:serviceaccount:default:sc-account-{ident['clientId']}"
    made = az("identity", "federated-credential", "create", "-g", "sandbox-rg", "--identity-name", ident["name"],
              "--name", "someone-elses", "--issuer", issuer, "--subject", subject, "--audiences", "api://Other",
              "-o", "json")
    assert made.rc == 0, made
    mark = sbc.mark()
    res = wi_create(az, sandbox, c, "aud_blob", ident["id"])
    assert res.rc != 0
    assert "federated credential 'someone-elses'" in res.log and "api://Other" in res.log
    assert f"az identity federated-credential update --subscription {sandbox['seeds']['subscription']} -g " \
           f"sandbox-rg --identity-name {ident['name']} --name someone-elses" in res.log
    assert writes(sbc, mark) == []


def test_existing_credential_under_another_name_is_used(az, sandbox, sbc, fresh_cluster):
    c = fresh_cluster
    assert az("aks", "update", "-g", c["resourceGroup"], "-n", c["name"], "--enable-oidc-issuer",
              "--enable-workload-identity", "-o", "none").rc == 0
    issuer = az("aks", "show", "-g", c["resourceGroup"], "-n", c["name"], "-o", "json").json[
        "oidcIssuerProfile"]["issuerUrl"]
    ident = new_identity(az, "ficname")
    subject = f"system:serviceaccount:default:sc-account-{ident['clientId']}"
    assert az("identity", "federated-credential", "create", "-g", "sandbox-rg", "--identity-name", ident["name"],
              "--name", "made-by-hand", "--issuer", issuer, "--subject", subject, "--audiences", AUDIENCE,
              "-o", "none").rc == 0
    mark = sbc.mark()
    res = wi_create(az, sandbox, c, "byname_blob", ident["id"])
    assert res.rc == 0, res
    assert [w for w in writes(sbc, mark) if "federatedIdentityCredentials" in w[1]] == []


# --------------------------------------------------------------------------- role assignments

def test_new_identity_principal_not_found_is_retried(az, sandbox, sbc, fresh_cluster):
    # Long enough that the first role-assignment PUT surely falls inside it, even on a loaded machine.
    sbc.arm("PUT", "settings", {"principalReplicationSeconds": 8})
    try:
        ident = new_identity(az, "fresh")         # its principal is PrincipalNotFound for 8 s
        mark = sbc.mark()
        res = wi_create(az, sandbox, fresh_cluster, "fresh_blob", ident["id"])
    finally:
        sbc.arm("PUT", "settings", {"principalReplicationSeconds": 2})
    assert res.rc == 0, res
    puts = _calls(sbc, mark, "/roleAssignments/")
    assert puts[0] == ("PUT", 400) and puts[-1] == ("PUT", 201)


def test_role_assignment_exists_records_the_existing_id(az, sandbox, sbc, fresh_cluster):
    sbc.arm("PUT", "settings", {"principalReplicationSeconds": 0})      # not the subject here
    try:
        _role_assignment_exists(az, sandbox, sbc, fresh_cluster)
    finally:
        sbc.arm("PUT", "settings", {"principalReplicationSeconds": 2})


def _role_assignment_exists(az, sandbox, sbc, fresh_cluster):
    ident = new_identity(az, "raexists")
    account_id = sandbox["seeds"]["targets"]["storage-blob"].rsplit("/blobServices/", 1)[0]
    theirs = str(uuid.uuid4())
    # Someone grants the same role under another name between our listing and our PUT.
    rule = sbc.add_fault(plane="arm", method="PUT", path=r"/roleAssignments/", latency=4, times=1)

    granted = []
    mark = sbc.mark()
    res = _wi_create_while_held(az, sandbox, sbc, rule,
                                lambda: granted.append(az_rest(sbc, account_id, theirs, ident["principalId"])),
                                fresh_cluster, "exists_blob", ident["id"])
    assert res.rc == 0, res
    assert granted == [201]
    assert ("PUT", 409) in _calls(sbc, mark, "/roleAssignments/")
    gone = run(az, "aks", "connection", "delete", "-g", fresh_cluster["resourceGroup"], "-n", fresh_cluster["name"],
               "--connection", "exists_blob", "--yes")
    assert gone.rc == 0, gone
    # The record holds the assignment Azure named, not our generated name: delete's clean-up line names it.
    assert f"az role assignment delete --ids {account_id}/providers/Microsoft.Authorization/roleAssignments/" \
           f"{theirs}" in gone.log


def az_rest(sbc, scope, name, principal):
    """A role assignment PUT of another client (raw HTTPS, any bearer token: the sandbox checks only its form)."""
    import json
    import ssl
    import urllib.request
    body = {"properties": {"roleDefinitionId": f"/subscriptions/{scope.split('/')[2]}/providers/Microsoft."
                                               "Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe",
                           "principalId": principal, "principalType": "ServicePrincipal"}}
    req = urllib.request.Request(f"{sbc.base}{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
                                 "?api-version=2022-04-01", data=json.dumps(body).encode(), method="PUT",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer other"})
    ctx = ssl.create_default_context(cafile=sbc.state["ca"])
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:  # nosec - local sandbox
        return resp.status


# --------------------------------------------------------------------------- key auth switched off

KEY_AUTH_OFF = [("storage-blob", {"allowSharedKeyAccess": False}, "allowSharedKeyAccess: false"),
                ("cosmos-sql", {"disableLocalAuth": True}, "disableLocalAuth: true"),
                ("servicebus", {"disableLocalAuth": True}, "disableLocalAuth: true"),
                ("eventhub", {"disableLocalAuth": True}, "disableLocalAuth: true"),
                ("redis", {"disableAccessKeyAuthentication": True}, "disableAccessKeyAuthentication: true")]


@pytest.mark.parametrize("target, switch, said", KEY_AUTH_OFF, ids=[k[0] for k in KEY_AUTH_OFF])
def test_secret_refused_when_the_target_has_key_auth_off(az, sandbox, sbc, target, switch, said):
    from azext_aks_connection import targets as t
    from azext_aks_connection.provider.target import resource_id
    tid = sandbox["seeds"]["targets"][target]
    rid = resource_id(t.TARGETS[target], tid)
    before = _raw(sbc, "GET", rid)["properties"]
    _raw(sbc, "PATCH", rid, {"properties": switch})
    try:
        mark = sbc.mark()
        res = run(az, "aks", "connection", "create", target, "--source-id", sandbox["seeds"]["cluster"]["id"],
                  "--target-id", tid, "--connection", "keyoff_" + target.replace("-", ""), "--secret", "-o", "json")
    finally:
        _raw(sbc, "PATCH", rid, {"properties": {k: before.get(k) for k in switch}})
    assert res.rc != 0
    assert "Secret as auth type is not allowed" in res.log and said in res.log
    assert "--workload-identity" in res.log
    assert writes(sbc, mark) == []
    assert not [e for e in sbc.requests(since=mark) if e["path"].lower().endswith(("/listkeys",
                                                                                  "/listconnectionstrings"))]
