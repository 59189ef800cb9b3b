# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Just enough of the Kubernetes protobuf encoding to read what ``kubectl create <kind>`` sends.

kubectl's typed clients POST ``application/vnd.kubernetes.protobuf`` bodies (``kubectl create namespace``,
``create secret``, ``create configmap``, ``create serviceaccount``).  This decodes the ``k8s\\0`` envelope
(runtime.Unknown) and the fields a client can set on Namespace, Secret, ConfigMap and ServiceAccount into
the JSON form.  Other kinds (Pod, Job, ...) are answered with 415; their JSON form works.
Server-owned ObjectMeta fields (uid, resourceVersion, timestamps, managedFields) are skipped.
"""
import base64

from sandbox.core import HttpError

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

# Message schemas: field number -> (json name, type); type is "string" | "bytes" | "bool" | a schema dict |
# ("map", value type) | ("repeated", type).  Field numbers from k8s.io/api/core/v1/generated.proto.
_OWNER_REF = {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string"),
              6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")}
_OBJECT_REF = {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"), 4: ("uid", "string"),
               5: ("apiVersion", "string"), 6: ("resourceVersion", "string"), 7: ("fieldPath", "string")}
_OBJECT_META = {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                11: ("labels", ("map", "string")), 12: ("annotations", ("map", "string")),
                13: ("ownerReferences", ("repeated", _OWNER_REF)), 14: ("finalizers", ("repeated", "string"))}
SCHEMAS = {
    "Namespace": {1: ("metadata", _OBJECT_META), 2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
                  3: ("status", {1: ("phase", "string")})},
    "Secret": {1: ("metadata", _OBJECT_META), 2: ("data", ("map", "bytes")), 3: ("type", "string"),
               4: ("stringData", ("map", "string")), 5: ("immutable", "bool")},
    "ConfigMap": {1: ("metadata", _OBJECT_META), 2: ("data", ("map", "string")),
                  3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", _OBJECT_META), 2: ("secrets", ("repeated", _OBJECT_REF)),
                       3: ("imagePullSecrets", ("repeated", {1: ("name", "string")})),
                       4: ("automountServiceAccountToken", "bool")},
}


def _varint(buf, i):
    shift = result = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """(field number, value) pairs: int for varints, bytes for length-delimited fields."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, value


def _scalar(typ, value):
    if typ == "string":
        return value.decode("utf-8")
    if typ == "bytes":
        return base64.b64encode(value).decode("ascii")  # JSON form of []byte
    if typ == "bool":
        return bool(value)
    return _message(typ, value)


def _message(schema, buf):
    out = {}
    for number, value in _fields(buf):
        if number not in schema:
            continue
        name, typ = schema[number]
        if isinstance(typ, tuple) and typ[0] == "map":
            entry = dict(_fields(value))
            out.setdefault(name, {})[entry.get(1, b"").decode("utf-8")] = _scalar(typ[1], entry.get(2, b""))
        elif isinstance(typ, tuple):
            out.setdefault(name, []).append(_scalar(typ[1], value))
        else:
            decoded = _scalar(typ, value)
            if decoded not in ("", {}):  # proto2 optional fields arrive set-but-empty: omit like JSON does
                out[name] = decoded
    return out


def decode(body):
    """The JSON form of a protobuf-encoded object; 415 for kinds this module does not know."""
    if not body.startswith(_MAGIC):
        raise HttpError(400, "BadRequest", "protobuf body without the k8s envelope")
    try:
        envelope = dict(_fields(body[len(_MAGIC):]))
        type_meta = dict(_fields(envelope.get(1, b"")))
        api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
        if kind not in SCHEMAS:
            raise HttpError(415, "UnsupportedMediaType",
                            f"the sandbox reads protobuf only for {', '.join(SCHEMAS)}; send {kind} as JSON")
        obj = _message(SCHEMAS[kind], envelope.get(2, b""))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise HttpError(400, "BadRequest", f"cannot decode protobuf body: {exc}") from None
    return dict({"apiVersion": api_version, "kind": kind}, **obj)
