# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The connections file of ``az aks connection apply`` / ``export`` (YAML or JSON, one schema: README "Connections
as code", schema/connections.schema.json for editors and CI). Loaded and checked here before any request: every
error names the file, the line and the key. No SDK is imported: this runs before anything else of apply.

The rules below and the JSON Schema agree on the key names and the required keys (tests/unit/test_connfile.py)."""
import os

from azure.cli.core.azclierror import InvalidArgumentValueError

AUTH_TYPES = ("secret", "workload-identity", "service-principal", "csi")
ENGINES = ("local", "service-connector")
OPT_OUTS = ("auth", "configinfo", "publicnetwork")

# key -> kind: "str", "list", "map" (string to string), "sp" (the service principal's mapping)
ENTRY_KEYS = {"cluster": "str", "resourceGroup": "str", "name": "str", "target": "str", "targetId": "str",
              "namespace": "str", "clientType": "str", "auth": "str", "identity": "str", "servicePrincipal": "sp",
              "roles": "list", "customizedKeys": "map", "optOut": "list", "engine": "str"}
ENTRY_REQUIRED = ("cluster", "name", "target", "targetId")
SP_KEYS = ("clientId", "objectId", "secretFile", "secretEnv")
SP_REQUIRED = ("clientId",)
TOP_KEYS = ("connections",)
ENUMS = {"auth": AUTH_TYPES, "engine": ENGINES}
INLINE_SECRETS = ("secret", "clientSecret", "password")

_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_NULL, _BOOL = "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"


class FileError(InvalidArgumentValueError):
    """A connections file that cannot be applied, found before any request: file, line, key and what to write."""


class Entry:  # pylint: disable=too-few-public-methods
    """One connection of the file: its keys (plain Python values) and where it is."""

    def __init__(self, index, line, values, lines):
        self.index, self.line, self.values, self.lines = index, line, values, lines

    def error(self, path, key, message, fix=None):
        """The error of this entry's ``key`` (None: the entry), at its line."""
        return _error(path, self.lines.get(key, self.line) if key else self.line,
                      f"connections[{self.index}]" + (f".{key}" if key else ""), message, fix)

    def get(self, key, default=None):
        return self.values.get(key, default)


def _error(path, line, where, message, fix=None):
    return FileError(f"{path}: line {line}, {where}: {message}",
                     recommendation=fix or "See the file format: az aks connection apply --help, and "
                     "README 'Connections as code'.")


def load(path):
    """[Entry] of the file at ``path``: parsed and checked against the schema (nothing is read beyond the file)."""
    import yaml
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise FileError(f"--file {path}: cannot read the file ({exc.strerror}).",
                        recommendation="Pass the path of a YAML or JSON connections file.") from None
    try:
        # libyaml's loader when PyYAML has it (azure-cli's wheels do): its nodes carry the line marks too
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise _error(path, line, "file", f"not YAML or JSON ({getattr(exc, 'problem', None) or exc}).",
                     "Fix the syntax at that line (a YAML linter or python -m json.tool shows it).") from None
    if root is None or root.tag != _MAP:
        raise _error(path, 1 if root is None else root.start_mark.line + 1, "file",
                     "the file must be a mapping with the key 'connections' (a list of connections).",
                     "For example:\nconnections:\n  - cluster: <cluster id>\n    name: orders_blob\n    ...")
    top = _mapping(path, root, "file")
    for key, (knode, _) in top.items():
        if key not in TOP_KEYS:
            raise _error(path, knode.start_mark.line + 1, key, f"unknown key '{key}'.",
                         "The file's only top-level key is 'connections'.")
    if "connections" not in top:
        raise _error(path, root.start_mark.line + 1, "file", "the key 'connections' is missing.",
                     "List the connections under 'connections:'.")
    seq = top["connections"][1]
    if seq.tag != _SEQ:
        raise _error(path, seq.start_mark.line + 1, "connections", "must be a list of connections.")
    entries = [_entry(path, i, node) for i, node in enumerate(seq.value)]
    _refuse_duplicates(path, entries)
    return entries


def _mapping(path, node, where):
    """{key: (key node, value node)} of a mapping node; a key given twice is refused (YAML would keep the last)."""
    out = {}
    for knode, vnode in node.value:
        if knode.tag != _STR and not isinstance(knode.value, str):
            raise _error(path, knode.start_mark.line + 1, where, "a key must be a name.")
        key = knode.value
        if key in out:
            raise _error(path, knode.start_mark.line + 1, f"{where}.{key}",
                         f"key '{key}' is given twice (first on line {out[key][0].start_mark.line + 1}).",
                         "Keep one of them.")
        out[key] = (knode, vnode)
    return out


def _scalar(path, node, where):
    if node.tag == _MAP or node.tag == _SEQ or not hasattr(node, "style"):
        raise _error(path, node.start_mark.line + 1, where, "must be a single value, not a list or mapping.")
    if node.tag in (_NULL, _BOOL) or not str(node.value).strip():
        raise _error(path, node.start_mark.line + 1, where, f"must be a non-empty text, not '{node.value}'.")
    return str(node.value)


def _value(path, kind, node, where):
    if kind == "str":
        return _scalar(path, node, where)
    if kind == "list":
        if node.tag != _SEQ:
            raise _error(path, node.start_mark.line + 1, where, "must be a list, for example [a, b].")
        return [_scalar(path, n, f"{where}[{i}]") for i, n in enumerate(node.value)]
    if node.tag != _MAP:
        raise _error(path, node.start_mark.line + 1, where, "must be a mapping of key: value.")
    return {k: _scalar(path, v, f"{where}.{k}") for k, (_, v) in _mapping(path, node, where).items()}


def _entry(path, index, node):
    where = f"connections[{index}]"
    if node.tag != _MAP:
        raise _error(path, node.start_mark.line + 1, where, "each connection must be a mapping of keys.")
    keys = _mapping(path, node, where)
    values, lines = {}, {}
    for key, (knode, vnode) in keys.items():
        lines[key] = knode.start_mark.line + 1
        if key not in ENTRY_KEYS:
            fix = "Use servicePrincipal.secretFile or servicePrincipal.secretEnv: a secret is never written in " \
                "the file." if key in INLINE_SECRETS else "Known keys: " + ", ".join(ENTRY_KEYS)
            raise _error(path, lines[key], f"{where}.{key}", f"unknown key '{key}'.", fix)
        kind = ENTRY_KEYS[key]
        values[key] = _service_principal(path, vnode, f"{where}.{key}") if kind == "sp" else \
            _value(path, kind, vnode, f"{where}.{key}")
        if key in ENUMS and values[key] not in ENUMS[key]:
            raise _error(path, lines[key], f"{where}.{key}", f"'{values[key]}' is not one of "
                         f"{', '.join(ENUMS[key])}.")
    entry = Entry(index, node.start_mark.line + 1, values, lines)
    missing = [k for k in ENTRY_REQUIRED if k not in values]
    if missing:
        raise _error(path, entry.line, where, "missing required key(s): " + ", ".join(missing) + ".",
                     "Every connection names its cluster, name, target and targetId.")
    _check_entry(path, entry)
    return entry


def _service_principal(path, node, where):
    if node.tag != _MAP:
        raise _error(path, node.start_mark.line + 1, where, "must be a mapping: {clientId: …, objectId: …, "
                     "secretFile: …} (or secretEnv: NAME).")
    keys = _mapping(path, node, where)
    for key, (knode, _) in keys.items():
        if key in INLINE_SECRETS:
            raise _error(path, knode.start_mark.line + 1, f"{where}.{key}",
                         "an inline secret is refused: the file is meant to be committed and reviewed.",
                         "Give the secret's file (secretFile: path) or the environment variable holding it "
                         "(secretEnv: NAME).")
        if key not in SP_KEYS:
            raise _error(path, knode.start_mark.line + 1, f"{where}.{key}", f"unknown key '{key}'.",
                         "Known keys: " + ", ".join(SP_KEYS))
    out = {k: _scalar(path, v, f"{where}.{k}") for k, (_, v) in keys.items()}
    if "clientId" not in out:
        raise _error(path, node.start_mark.line + 1, where, "missing required key: clientId.")
    if ("secretFile" in out) == ("secretEnv" in out):
        raise _error(path, node.start_mark.line + 1, where, "give exactly one of secretFile and secretEnv.",
                     "secretFile: a path to a file holding the secret; secretEnv: the name of an environment "
                     "variable holding it.")
    return out


def _check_entry(path, entry):
    """What one key allows depends on another: the auth type and its details."""
    auth = entry.get("auth")
    for key, wanted in (("identity", "workload-identity"), ("servicePrincipal", "service-principal")):
        if key in entry.values and auth != wanted:
            raise entry.error(path, key, f"'{key}' goes with auth: {wanted}" + (f", not {auth}." if auth else "."),
                              f"Add auth: {wanted}, or drop '{key}'.")
        if auth == wanted and key not in entry.values:
            raise entry.error(path, "auth", f"auth: {wanted} needs '{key}'.")
    for value in entry.get("optOut") or []:
        if value not in OPT_OUTS:
            raise entry.error(path, "optOut", f"'{value}' is not one of {', '.join(OPT_OUTS)}.")


def cluster_key(entry):
    """The entry's cluster as written: an ARM id, or (resourceGroup, name) - lower-cased (ARM names are not
    case-sensitive)."""
    cluster = entry.get("cluster")
    if cluster.lower().startswith("/subscriptions/"):
        return cluster.rstrip("/").lower()
    return f"{(entry.get('resourceGroup') or '').lower()}/{cluster.lower()}"


def _refuse_duplicates(path, entries):
    seen = {}
    for e in entries:
        key = (cluster_key(e), e.get("name").lower())
        if key in seen:
            raise _error(path, e.line, f"connections[{e.index}]",
                         f"connection '{e.get('name')}' on cluster '{e.get('cluster')}' is given twice (first as "
                         f"connections[{seen[key].index}], line {seen[key].line}).",
                         "Keep one entry per cluster and connection name.")
        seen[key] = e


def secret_of(path, entry):
    """The service principal's secret from its file or environment variable (never from the file itself)."""
    sp = entry.get("servicePrincipal") or {}
    if "secretEnv" in sp:
        value = os.environ.get(sp["secretEnv"], "")
        if not value.strip():
            raise entry.error(
                path, "servicePrincipal", f"environment variable {sp['secretEnv']} is not set or empty.",
                f"Set {sp['secretEnv']} to the service principal's secret (a CI secret).")
        return value.strip()
    file_path = os.path.join(os.path.dirname(os.path.abspath(path)), os.path.expanduser(sp["secretFile"]))
    try:
        with open(file_path, encoding="utf-8") as f:
            value = f.read().strip()
    except OSError as exc:
        raise entry.error(path, "servicePrincipal", f"secretFile: cannot read {sp['secretFile']} "
                          f"({exc.strerror}).") from None
    if not value:
        raise entry.error(path, "servicePrincipal", f"secretFile: {sp['secretFile']} is empty.")
    return value


def dump(connections, fmt="yaml"):
    """The text of a connections file (export): YAML, or JSON when the file's name ends in .json."""
    import json
    doc = {"connections": connections}
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    import yaml
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
