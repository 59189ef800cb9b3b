# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The three PATCH flavours of the Kubernetes API.

- ``application/merge-patch+json``: RFC 7386 (null deletes, objects merge, everything else replaces).
- ``application/strategic-merge-patch+json``: merge patch, except that lists of objects with a merge key
  merge element by element (``containers``/``env``/... by ``name``, ``volumeMounts`` by ``mountPath``,
  ``ports`` by ``containerPort``, ``conditions`` by ``type``, ``ownerReferences`` by ``uid``; other
  lists of objects that all carry ``name`` merge by name).  Directives ``$patch: replace|delete``,
  ``$retainKeys`` and ``$deleteFromPrimitiveList/<f>`` are honoured; ``$setElementOrder/<f>`` is
  accepted and ignored (order is kept: existing elements first, new ones appended).
  Not emulated: per-field patch strategies read from the OpenAPI schema (primitive lists always replace).
- ``application/json-patch+json``: RFC 6902 add / remove / replace / move / copy / test.
"""
import copy

from sandbox.core import HttpError

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
SUPPORTED = (JSON_PATCH, MERGE, STRATEGIC)

_MERGE_KEYS = {"volumeMounts": "mountPath", "volumeDevices": "devicePath", "ports": "containerPort",
               "conditions": "type", "ownerReferences": "uid", "hostAliases": "ip"}


def apply_patch(doc, patch, content_type):
    """The patched copy of ``doc``; HttpError 400/415/422 like the API server."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media == MERGE:
        return merge_patch(doc, patch)
    if media == STRATEGIC:
        if not isinstance(patch, dict):
            raise HttpError(400, "BadRequest", "invalid JSON document: a strategic merge patch must be an object")
        return strategic_merge(doc, patch)
    if media == JSON_PATCH:
        return json_patch(doc, patch)
    raise HttpError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(SUPPORTED)}")


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strip_directives(value):
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return copy.deepcopy(value)


def strategic_merge(target, patch):
    """Merge ``patch`` (a dict) into ``target``; returns None for a ``$patch: delete`` map."""
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives(patch)
    if directive == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in value]
        elif key.startswith("$"):
            continue  # $patch, $retainKeys (below), $setElementOrder/...
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    if "$retainKeys" in patch:
        keep = set(patch["$retainKeys"] or [])
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _merge_list(field, original, patch):
    items = [x for x in patch if not (isinstance(x, dict) and x.get("$patch") == "replace" and len(x) == 1)]
    replace_all = len(items) != len(patch)
    key = _MERGE_KEYS.get(field, "name")
    mergeable = items and all(isinstance(x, dict) and key in x for x in items)
    if replace_all or not mergeable or not isinstance(original, list):
        return [_strip_directives(x) for x in items if not (isinstance(x, dict) and x.get("$patch") == "delete")]
    result = copy.deepcopy(original)
    for item in items:
        idx = next((i for i, cur in enumerate(result) if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
        elif idx is None:
            result.append(_strip_directives(item))
        else:
            result[idx] = strategic_merge(result[idx], item)
    return result


# ---- RFC 6902 -----------------------------------------------------------------------------------

def _pointer(path):
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise HttpError(400, "BadRequest", f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]] if path else []


def _unprocessable(message):
    return HttpError(422, "Invalid", message)


def _parent(doc, parts, path):
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise _unprocessable(f"doc is missing path: {path!r}")
    return cur


def _get(doc, path):
    parts = _pointer(path)
    if not parts:
        return doc
    parent, last = _parent(doc, parts, path), parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise _unprocessable(f"doc is missing key: {path!r}")


def _add(doc, path, value):
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _parent(doc, parts, path), parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise _unprocessable(f"add operation: index out of bounds: {path!r}")
    else:
        raise _unprocessable(f"add operation does not apply: doc is missing path: {path!r}")
    return doc


def _remove(doc, path):
    parts = _pointer(path)
    if not parts:
        raise _unprocessable("remove operation on the document root")
    parent, last = _parent(doc, parts, path), parts[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise _unprocessable(f"remove operation does not apply: doc is missing path: {path!r}")
    return doc


def json_patch(doc, operations):
    if not isinstance(operations, list):
        raise HttpError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in operations:
        kind, path = (op or {}).get("op"), (op or {}).get("path")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)  # replace requires the target to exist
            if _pointer(path):
                parent, last = _parent(doc, _pointer(path), path), _pointer(path)[-1]
                parent[int(last) if isinstance(parent, list) else last] = copy.deepcopy(op.get("value"))
            else:
                doc = copy.deepcopy(op.get("value"))
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_get(doc, op.get("from")))
            if kind == "move":
                doc = _remove(doc, op.get("from"))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _unprocessable(f"testing value {path} failed: test failed")
        else:
            raise HttpError(400, "BadRequest", f"Unexpected kind: {kind}")
    return doc
