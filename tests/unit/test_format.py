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
    assert rows[1]["Target"] == "Microsoft.KeyVault/vaults/v" and rows[1]["AuthType"] == "enable-csi"
    assert rows[2]["AuthType"] == "workload-identity"
