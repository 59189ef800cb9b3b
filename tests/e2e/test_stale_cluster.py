# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""After a wait, what the command depends on is read again (issue 13): a workload-identity create on a cluster
whose OIDC issuer someone else is turning on right now waits for that update and uses the issuer it ends with."""
import pytest

from tests.e2e.helpers import lro_seconds, new_cluster, run

pytestmark = pytest.mark.e2e


def test_workload_identity_create_while_someone_turns_oidc_on(az, sbc, sandbox):
    cluster = new_cluster(sbc, "stale-oidc")
    identity = sandbox["seeds"]["identities"]["sandbox-identity"]
    s = sandbox["seeds"]["storage"]["storage-blob"]
    with lro_seconds(sbc, default=3.0):
        other = az("aks", "update", "-g", cluster["resourceGroup"], "-n", cluster["name"], "--enable-oidc-issuer",
                   "--enable-workload-identity", "--no-wait", "-o", "none")
        assert other.rc == 0, other
        res = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
                  s["resourceGroup"], "--account", s["account"], "--connection", "stale_wi", "--workload-identity",
                  identity, "-o", "json")
    assert res.rc == 0, res
    issuer = az("aks", "show", "-g", cluster["resourceGroup"], "-n", cluster["name"], "-o", "json").json[
        "oidcIssuerProfile"]["issuerUrl"]
    assert issuer
    fics = az("identity", "federated-credential", "list", "--identity-name", identity.rsplit("/", 1)[1], "-g",
              identity.split("/")[4], "-o", "json").json
    # The federated credential for this cluster's ServiceAccount names the issuer the other update ended with (the
    # seeded identity also holds other clusters' credentials: matched on issuer + subject).
    subject = "system:serviceaccount:default:" + res.json["kubernetesResourceName"]["serviceAccount"]
    assert [f for f in fics if f["issuer"] == issuer and f["subject"] == subject], (issuer, subject, fics)
