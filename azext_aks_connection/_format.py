# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Table views (-o table): one line per row, short enough for a terminal; -o json holds every text whole."""
from collections import OrderedDict

from azext_aks_connection.targets import auth_of, target_of_resource_id

# Characters of a message in a table cell: a validate or troubleshoot row stays under ~130 columns.
MESSAGE_WIDTH = 80


def _short(text, width):
    """``text`` on one line, at most ``width`` characters: cut after its first clause when that fits (the part
    before ': ' says what is wrong), else at a word; "..." marks a cut."""
    text = " ".join(str(text or "").split())
    if len(text) <= width:
        return text
    clause = text.split(": ", 1)[0]
    if width // 2 <= len(clause) <= width - 3:
        return clause.rstrip(" ,;:.") + "..."
    cut = text[:width - 3]
    if " " in cut[width // 2:]:
        cut = cut[:cut.rfind(" ")]
    return cut.rstrip(" ,;:.(") + "..."


def _target(service):
    """The target as a user names it: its type and resource name(s) (storage-blob mystorage, cosmos-sql acc/db),
    or the endpoint of a target with no ARM id (Confluent Cloud)."""
    rid = service.get("id") or ""
    kind = target_of_resource_id(rid)
    if not kind:
        return (rid or service.get("endpoint") or "").split("/providers/")[-1]
    parts = rid.split("/providers/")[-1].split("/")[1:]          # type, name, child type, child name, ...
    return f"{kind} " + "/".join(n for n in parts[1::2] if n.lower() != "default")


def _row(c):
    return OrderedDict([
        ("Name", c.get("name")),
        ("Namespace", c.get("scope")),
        ("Target", _target(c.get("targetService") or {})),
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


def fix_refs(result):
    """[(row, "[n]")] for the rows that carry a fix, numbered in order: the table shows the reference, and the
    whole fix is printed on a line of its own under the table (custom_diagnose.py), never cut."""
    rows = [r for r in result or [] if r.get("recommendation") and r.get("result") != "success"]
    return [(r, f"[{i}]") for i, r in enumerate(rows, 1)]


def _table(result, message_key, message_column):
    refs = {id(r): ref for r, ref in fix_refs(result)}
    return [OrderedDict([("Name", r["name"]), ("Result", r["result"]),
                         (message_column, _short(r.get(message_key), MESSAGE_WIDTH)), ("Fix", refs.get(id(r), ""))])
            for r in result or []]


def transform_validation_table(result):
    """Name, result, the message shortened (-o json: whole), and the reference of its fix (printed whole below)."""
    return _table(result, "errorMessage", "ErrorMessage")


def transform_troubleshoot_table(result):
    return _table(result, "message", "Message")


def transform_export_table(result):
    """export: one row per connection of the file."""
    return [OrderedDict([("Name", c["name"]), ("Namespace", c.get("namespace", "default")), ("Target", c["target"]),
                         ("Auth", c.get("auth") or ""), ("Engine", c.get("engine", "local"))])
            for c in (result or {}).get("connections") or []]


def transform_apply_table(result):
    """apply: one row per connection; a failure's fix shortened (-o json: the error and fix whole)."""
    return [OrderedDict([("Name", r["name"]), ("Cluster", r["cluster"]), ("Result", r["result"]),
                         ("Fix", _short(r.get("fix") or r.get("error") or "", 60))]) for r in result or []]
