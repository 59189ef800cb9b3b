# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""-o table views: what a user reads in the columns."""
from azext_aks_connection import _format


def test_connection_rows_name_the_target_and_the_auth_as_the_user_gave_them():
    confluent = {"name": "kafka", "scope": "default", "clientType": "none", "authInfo": {"authType": "secret"},
                 "targetService": {"type": "ConfluentBootstrapServer", "endpoint": "pkc.example:9092"},
                 "kubernetesResourceName": {"secret": "sc-kafka-secret"}, "provisioningState": "Succeeded"}
    csi = {"name": "kv", "authInfo": {"authType": "userAssignedIdentity"},
           "targetService": {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v",
                             "resourceProperties": {"connectAsKubernetesCsiDriver": True}}}
    wi = dict(csi, targetService={"id": csi["targetService"]["id"], "resourceProperties": None})
    rows = _format.transform_connections_table([confluent, csi, wi])
    assert rows[0]["Target"] == "pkc.example:9092" and rows[0]["AuthType"] == "secret"
    assert rows[1]["Target"] == "keyvault v" and rows[1]["AuthType"] == "enable-csi"
    assert rows[2]["AuthType"] == "workload-identity"


def test_connection_rows_name_the_target_type_and_its_resource_names():
    base = "/subscriptions/s/resourceGroups/g/providers/"
    blob = {"targetService": {"id": base + "Microsoft.Storage/storageAccounts/acct/blobServices/default"}}
    sql = {"targetService": {"id": base + "Microsoft.DocumentDB/databaseAccounts/acc/sqlDatabases/db"}}
    other = {"targetService": {"id": base + "Microsoft.Web/sites/app"}}
    rows = _format.transform_connections_table([blob, sql, other])
    assert [r["Target"] for r in rows] == ["storage-blob acct", "cosmos-sql acc/db", "Microsoft.Web/sites/app"]


FIX = ("Write it again (the command changes nothing else): az aks connection create storage-blob --source-id "
       "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks "
       "--target-id /subscriptions/0000/resourceGroups/data/providers/Microsoft.Storage/storageAccounts/st"
       "/blobServices/default --connection orders_blob --kube-namespace orders --client-type none --secret")


def test_validation_rows_are_short_and_point_at_their_fix_printed_whole():
    result = [{"name": "Kubernetes Secret", "result": "failure",
               "errorMessage": "Secret 'sc-ordersblob-secret' does not exist in namespace 'orders': workloads that "
                               "use it cannot start or cannot connect, and this sentence runs on past the width.",
               "recommendation": FIX},
              {"name": "Target resource", "result": "success", "errorMessage": None, "recommendation": None}]
    failed, ok = _format.transform_validation_table(result)
    assert failed["Name"] == "Kubernetes Secret" and ok["Name"] == "Target resource"
    # The message keeps its first clause (what is wrong); the fix is a reference to its line under the table.
    assert failed["ErrorMessage"] == "Secret 'sc-ordersblob-secret' does not exist in namespace 'orders'..."
    assert len(failed["ErrorMessage"]) <= _format.MESSAGE_WIDTH
    assert (failed["Fix"], ok["Fix"]) == ("[1]", "")
    assert _format.fix_refs(result) == [(result[0], "[1]")]     # the line printed under the table: whole
    assert (ok["ErrorMessage"], ok["Fix"]) == ("", "")
    assert result[0]["recommendation"] == FIX                # the result itself (-o json) keeps the whole text


def test_short_texts_stay_whole_and_long_ones_are_cut_at_a_word():
    assert _format._short("Cluster 'c' is Succeeded.", 40) == "Cluster 'c' is Succeeded."
    assert _format._short("one two three four five six seven eight nine ten", 20) == "one two three..."
    assert _format._short("line\nbreaks  and   spaces", 40) == "line breaks and spaces"
