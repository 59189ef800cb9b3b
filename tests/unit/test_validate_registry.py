"""The validate check registry: which checks apply to a connection, by auth type and target."""
from azext_aks_connection.provider import validate


def test_validate_registry_filters_by_auth_type_and_target():
    secret_record = {"authInfo": {"authType": "secret"}, "target": "storage-blob"}
    names = [c.name for c in validate.applicable(secret_record)]
    assert names == ["Target resource existence validated.",
                     "Kubernetes Secret existence validated.", "Configured connection information validated.",
                     "Target service firewall validated."]
    # --opt-out publicnetwork leaves the firewall out; --opt-out configinfo (no Secret) the Secret checks.
    opted_out = dict(secret_record, publicNetworkSolution={"action": "optOut"},
                     configurationInfo={"action": "optOut"}, kubernetesResourceName={})
    assert [c.name for c in validate.applicable(opted_out)] == names[:1]
    wi_record = {"authInfo": {"authType": "userAssignedIdentity"}, "target": "storage-blob"}
    wi_names = [c.name for c in validate.applicable(wi_record)]
    assert "Configured connection information validated." in wi_names       # every Secret's values are checked
    assert "User-assigned identity validated." in wi_names and "User-assigned identity validated." not in names

    @validate.check("Managed Identity permissions validated.", "x", auth_types=("userAssignedIdentity",),
                    targets=("keyvault",))
    def _role(ctx):  # pragma: no cover - never run here
        return validate.ok()
    try:
        assert "Managed Identity permissions validated." not in [c.name for c in validate.applicable(wi_record)]
        wi_kv = dict(wi_record, target="keyvault")
        assert "Managed Identity permissions validated." in [c.name for c in validate.applicable(wi_kv)]
        assert "Managed Identity permissions validated." not in [c.name for c in validate.applicable(secret_record)]
    finally:
        validate.CHECKS[:] = [c for c in validate.CHECKS if c.fn is not _role]
