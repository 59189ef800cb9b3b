"""Table views (-o table)."""
from collections import OrderedDict


def _auth(c):
    """The auth type as the user named it: the Key Vault CSI add-on and workload identity are both
    userAssignedIdentity on the wire."""
    if ((c.get("targetService") or {}).get("resourceProperties") or {}).get("connectAsKubernetesCsiDriver"):
        return "enable-csi"
    return {"userAssignedIdentity": "workload-identity", "servicePrincipalSecret": "service-principal"}.get(
        (c.get("authInfo") or {}).get("authType"), (c.get("authInfo") or {}).get("authType"))


def _row(c):
    return OrderedDict([
        ("Name", c.get("name")),
        ("Namespace", c.get("scope")),
        ("Target", ((c.get("targetService") or {}).get("id") or (c.get("targetService") or {}).get("endpoint")
                    or "").split("/providers/")[-1]),
        ("AuthType", _auth(c)),
        ("ClientType", c.get("clientType")),
        ("Secret", (c.get("kubernetesResourceName") or {}).get("secret")),
        ("ProvisioningState", c.get("provisioningState")),
    ])


def transform_connections_table(result):
    return [_row(c) for c in result or []]


def transform_connection_table(result):
    return _row(result) if result else result


def transform_configurations_table(result):
    return [OrderedDict([("Name", c["name"]), ("Value", c["value"] if c["value"] != "" else "(credential)")])
            for c in (result or {}).get("configurations", [])]


def transform_support_types_table(result):
    return [OrderedDict([("Source", r["source"]), ("Target", r["target"]),
                         ("AuthType", ", ".join(r["auth_types"])), ("ClientType", ", ".join(r["client_types"]))])
            for r in result or []]


def transform_validation_table(result):
    return [OrderedDict([("Name", r["name"]), ("Result", r["result"]), ("ErrorMessage", r.get("errorMessage") or ""),
                         ("Recommendation", r.get("recommendation") or "")])
            for r in result or []]


def transform_troubleshoot_table(result):
    return [OrderedDict([("Name", r["name"]), ("Result", r["result"]), ("Message", r.get("message") or ""),
                         ("Recommendation", r.get("recommendation") or "")])
            for r in result or []]
