# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Label and field selectors, parsed and matched like k8s.io/apimachinery's ``labels`` and ``fields``.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x)``, ``a>1``, ``a<1``;
a comma is AND.  ``!=`` and ``notin`` also match objects without the label, as in Kubernetes.
Field selectors: ``f=v``, ``f==v``, ``f!=v`` over a per-resource whitelist of fields (see
``resources.FIELD_SELECTORS``); ``\\,`` ``\\=`` ``\\\\`` escapes in values.
"""
import re

from sandbox.core import HttpError

from .resources import FIELD_SELECTORS

_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
_SET = re.compile(rf"\s*({_KEY})\s+(in|notin)\s*\((.*)\)\s*\Z")
_CMP = re.compile(rf"\s*({_KEY})\s*(==|!=|=|>|<)\s*(.*?)\s*\Z")
_EXISTS = re.compile(rf"\s*(!?)\s*({_KEY})\s*\Z")


def _bad(text, why):
    return HttpError(400, "BadRequest", f"unable to parse requirement: {why} (in {text!r})")


def _split_top_level(text):
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _check_value(text, value):
    if len(value) > 63 or not _VALUE.match(value):
        raise _bad(text, f"invalid label value: {value!r}")
    return value


def parse_label_selector(text):
    """A list of predicates over a labels dict; empty selector matches everything."""
    if text is None or not text.strip():
        return []
    preds = []
    for part in _split_top_level(text):
        if not part.strip():
            raise _bad(text, "found '', expected: identifier")
        m = _SET.match(part)
        if m:
            key, op = m.group(1), m.group(2)
            values = {_check_value(text, v.strip()) for v in m.group(3).split(",")}
            if op == "in":
                preds.append(lambda lb, k=key, vs=values: k in lb and lb[k] in vs)
            else:
                preds.append(lambda lb, k=key, vs=values: k not in lb or lb[k] not in vs)
            continue
        m = _CMP.match(part)
        if m:
            key, op, value = m.group(1), m.group(2), m.group(3)
            if op in ("=", "=="):
                _check_value(text, value)
                preds.append(lambda lb, k=key, v=value: lb.get(k) == v)
            elif op == "!=":
                _check_value(text, value)
                preds.append(lambda lb, k=key, v=value: lb.get(k) != v)
            else:
                try:
                    bound = int(value)
                except ValueError:
                    raise _bad(text, f"for 'Gt', 'Lt' operators, the value must be an integer: {value!r}") from None
                preds.append(lambda lb, k=key, b=bound, gt=op == ">": _int_cmp(lb.get(k), b, gt))
            continue
        m = _EXISTS.match(part)
        if m:
            key = m.group(2)
            if m.group(1):
                preds.append(lambda lb, k=key: k not in lb)
            else:
                preds.append(lambda lb, k=key: k in lb)
            continue
        raise _bad(text, f"cannot parse {part.strip()!r}")
    return preds


def _int_cmp(value, bound, greater):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return False
    return number > bound if greater else number < bound


def match_labels(preds, obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(p(labels) for p in preds)


def _split_unescaped(text, sep):
    parts, cur, i = [], [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if text.startswith(sep, i):
            parts.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(text[i])
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value):
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(text, resource):
    """A list of (field, op, value) with op in {'=', '!='}; 400 for fields the resource does not index."""
    if text is None or not text.strip():
        return []
    allowed = {"metadata.name", "metadata.namespace"} | FIELD_SELECTORS.get(resource, set())
    terms = []
    for part in _split_unescaped(text, ","):
        for op in ("!=", "==", "="):
            pieces = _split_unescaped(part, op)
            if len(pieces) == 2:
                field, value = pieces[0].strip(), _unescape(pieces[1].strip())
                break
        else:
            raise HttpError(400, "BadRequest", f"invalid selector: '{text}'; can't understand '{part}'")
        if field not in allowed:
            raise HttpError(400, "BadRequest", f'field label not supported: {field}')
        terms.append((field, "!=" if op == "!=" else "=", value))
    return terms


def field_value(obj, field):
    """The string a field selector compares against ('' when absent, booleans lowercased)."""
    if field == "source":  # events: "source" means source.component
        field = "source.component"
    cur = obj
    for part in field.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def match_fields(terms, obj):
    for field, op, value in terms:
        if (field_value(obj, field) == value) != (op == "="):
            return False
    return True
