"""Table views (-o table)."""
from collections import OrderedDict

from azext_aks_connection.targets import auth_of


def _row(c):
    return OrderedDict([
        ("Name", c.get("name")),
        ("Namespace", c.get("scope")),
        ("Target", ((c.get("targetService") or {}).get("id") or (c.get("targetService") or {}).get("endpoint")
                    or "").split("/providers/")[-1]),
        ("AuthType", auth_of(c)),     # as the user names it: workload-identity, enable-csi, ...
        ("ClientType", c.get("clientType")),
        ("Secret", (c.get("kubernetesResourceName") or {}).get("secret")),
        ("ProvisioningState", c.get("provisioningState")),
        ("Engine", c.get("engine")),
    ])


def transform_connections_table(result):
    return [_row(c) for c in result or []]


def transform_connection_table(result):
    if result and result.get("dryRun"):
        return transform_plan_table(result)
    if result and "workload" in result:         # show --manifest: the objects to apply
        return [OrderedDict([("Kind", o.get("kind")), ("Name", (o.get("metadata") or {}).get("name")),
                             ("Namespace", (o.get("metadata") or {}).get("namespace"))])
                for o in (result.get("objects") or {}).get("items") or []]
    return _row(result) if result else result


def _detail(detail):
    """A step's detail in one short cell: key=value, lists joined, long values cut."""
    def short(value):
        text = ",".join(map(str, value)) if isinstance(value, list) else \
            ",".join(value) if isinstance(value, dict) else str(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return " ".join(f"{k}={short(v)}" for k, v in (detail or {}).items() if k != "inPlace")


def transform_plan_table(result):
    """--dry-run: one row per step."""
    return [OrderedDict([("Step", r["step"]), ("Action", r["action"] if r["action"] != "none" else "in place"),
                         ("Name", r.get("name") or ""), ("Detail", _detail(r.get("detail")))])
            for r in result.get("steps") or []]


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
