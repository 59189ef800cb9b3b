# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The resource types the Kubernetes emulator serves, and the validation / defaulting it applies.

Only what the sandbox needs is modelled: object names (RFC 1123), Secret ``data`` / ``stringData``,
ConfigMap keys, a few immutable fields and the server-filled defaults (Secret ``type``, Namespace
phase and label, Pod phase).  Pod / Job specs are stored as given, without schema validation.
"""
import base64
import binascii
import re
from dataclasses import dataclass

from sandbox.core import HttpError


@dataclass(frozen=True)
class ResourceType:
    resource: str                 # plural, the URL segment ("secrets")
    kind: str                     # "Secret"
    group: str                    # "" for the core group
    version: str
    namespaced: bool = True
    short_names: tuple = ()
    status_subresource: bool = False     # status written only through .../status (not by create/update)
    delete_returns_object: bool = False  # DELETE answers with the object, else with a Status Success
    has_generation: bool = False         # metadata.generation bumped on spec changes
    categories: tuple = ()

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self):
        return self.kind.lower()

    @property
    def group_resource(self):
        """As in messages: 'secrets', 'jobs.batch'."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def qualified_kind(self):
        """As in Invalid messages: 'Secret', 'Job.batch'."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


RESOURCES = {rt.resource: rt for rt in [
    ResourceType("namespaces", "Namespace", "", "v1", namespaced=False, short_names=("ns",),
                 status_subresource=True, delete_returns_object=True),
    ResourceType("secrets", "Secret", "", "v1"),
    ResourceType("serviceaccounts", "ServiceAccount", "", "v1", short_names=("sa",), delete_returns_object=True),
    ResourceType("configmaps", "ConfigMap", "", "v1", short_names=("cm",)),
    ResourceType("pods", "Pod", "", "v1", short_names=("po",), status_subresource=True,
                 delete_returns_object=True, has_generation=True, categories=("all",)),
    ResourceType("events", "Event", "", "v1", short_names=("ev",)),
    ResourceType("jobs", "Job", "batch", "v1", status_subresource=True, delete_returns_object=True,
                 has_generation=True, categories=("all",)),
]}

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

# Field selectors the real API server accepts, per resource, besides metadata.name / metadata.namespace.
FIELD_SELECTORS = {
    "namespaces": {"status.phase"},
    "secrets": {"type"},
    "pods": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"},
    "events": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
               "reason", "reportingComponent", "source", "type"},
    "jobs": {"status.successful"},
}

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(_LABEL + r"\Z")
DNS1123_SUBDOMAIN = re.compile(_LABEL + r"(\." + _LABEL + r")*\Z")
CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+\Z")
# apimachinery pkg/util/validation/validation.go IsValidLabelValue, and core validation's MaxSecretSize (1 MiB: the
# total of a Secret's data, or a ConfigMap's data + binaryData).
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
MAX_DATA_BYTES = 1024 * 1024

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
                  "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


def invalid(rt, name, causes):
    """422 Invalid in the API server's shape; ``causes`` = [(field, message-after-field)]."""
    texts = [f"{field}: {msg}" for field, msg in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = {"name": name, "kind": rt.kind,
               "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]}
    if rt.group:
        details["group"] = rt.group
    return HttpError(422, "Invalid", f'{rt.qualified_kind} "{name}" is invalid: {summary}', details=details)


def _quote(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def name_errors(rt, name):
    if not name:
        return [("metadata.name", "Required value: name or generateName is required")]
    if rt.namespaced:
        rx, limit, msg = DNS1123_SUBDOMAIN, 253, SUBDOMAIN_MSG
    else:
        rx, limit, msg = DNS1123_LABEL, 63, LABEL_MSG
    errors = []
    if len(name) > limit:
        errors.append(("metadata.name", f"Invalid value: {_quote(name)}: must be no more than {limit} characters"))
    if not rx.match(name):
        errors.append(("metadata.name", f"Invalid value: {_quote(name)}: {msg}"))
    return errors


def label_errors(meta):
    """metadata.labels values: at most 63 characters of the label-value alphabet (apimachinery ValidateLabels)."""
    errors = []
    for value in (meta.get("labels") or {}).values():
        value = "" if value is None else str(value)
        if len(value) > 63:
            errors.append(("metadata.labels", f"Invalid value: {_quote(value)}: must be no more than 63 characters"))
        if not LABEL_VALUE.match(value):
            errors.append(("metadata.labels", f"Invalid value: {_quote(value)}: {LABEL_VALUE_MSG}"))
    return errors


def _data_size_errors(rt, obj):
    """Secrets and ConfigMaps hold at most 1 MiB of data (core validation ValidateSecret / ValidateConfigMap)."""
    def size(mapping, encoded):
        total = 0
        for key, value in (mapping or {}).items():
            try:
                raw = base64.b64decode(value) if encoded else str(value).encode("utf-8")
            except (binascii.Error, ValueError, TypeError):
                raw = str(value).encode("utf-8")
            total += len(raw) + (len(key) if rt.resource == "configmaps" else 0)
        return total
    if rt.resource == "secrets" and size(obj.get("data"), True) > MAX_DATA_BYTES:
        return [("data", f"Too long: must have at most {MAX_DATA_BYTES} bytes")]
    if rt.resource == "configmaps" and \
            size(obj.get("data"), False) + size(obj.get("binaryData"), True) > MAX_DATA_BYTES:
        return [("[]", f"Too long: must have at most {MAX_DATA_BYTES} bytes")]
    return []


def _b64_errors(field, mapping):
    errors = []
    for key, value in (mapping or {}).items():
        if not CONFIG_KEY.match(key):
            errors.append((f"{field}[{key}]", f"Invalid value: {_quote(key)}: {CONFIG_KEY_MSG}"))
        try:
            if not isinstance(value, str):
                raise binascii.Error("not a string")
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            errors.append((f"{field}[{key}]", f"Invalid value: {_quote(value)}: illegal base64 data"))
    return errors


def prepare(rt, obj, old=None):
    """Default and validate ``obj`` (a full object, metadata.name set) in place; raise 422 when invalid.

    ``old`` is the stored object on update (for immutable fields)."""
    meta = obj["metadata"]
    name = meta.get("name", "")
    errors = name_errors(rt, name) + label_errors(meta)
    if rt.resource == "secrets":
        # stringData is write-only: folded into data (base64), never stored.
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            data = obj.setdefault("data", {}) or {}
            obj["data"] = data
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        obj.setdefault("type", "Opaque")
        errors += _b64_errors("data", obj.get("data"))
        if old is not None:
            if obj.get("type") != old.get("type"):
                errors.append(("type", f"Invalid value: {_quote(obj.get('type'))}: field is immutable"))
            if old.get("immutable") and (obj.get("data") != old.get("data") or not obj.get("immutable")):
                errors.append(("data", "Forbidden: field is immutable when `immutable` is set"))
    elif rt.resource == "configmaps":
        for key in (obj.get("data") or {}):
            if not CONFIG_KEY.match(key):
                errors.append((f"data[{key}]", f"Invalid value: {_quote(key)}: {CONFIG_KEY_MSG}"))
        errors += _b64_errors("binaryData", obj.get("binaryData"))
        if old is not None and old.get("immutable") and (
                obj.get("data") != old.get("data") or obj.get("binaryData") != old.get("binaryData")):
            errors.append(("data", "Forbidden: field is immutable when `immutable` is set"))
    elif rt.resource == "namespaces":
        meta.setdefault("labels", {})
        meta["labels"] = dict(meta["labels"] or {}, **{"kubernetes.io/metadata.name": name})
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
    elif rt.resource == "pods":
        obj.setdefault("spec", {})
        obj.setdefault("status", {"phase": "Pending"})
    elif rt.resource == "jobs":
        spec = obj.setdefault("spec", {})
        for key, default in (("parallelism", 1), ("completions", 1), ("backoffLimit", 6)):
            spec.setdefault(key, default)
        obj.setdefault("status", {})
    errors += _data_size_errors(rt, obj)
    if errors:
        raise invalid(rt, name, errors)
    return obj


def default_job_selector(job):
    """What the API server does to a new Job without ``spec.manualSelector``: select its pods by the
    job's uid and label the pod template accordingly (so ``kubectl logs job/x`` finds pods that carry
    the template labels)."""
    spec = job.setdefault("spec", {})
    if spec.get("manualSelector") or spec.get("selector"):
        return
    uid, name = job["metadata"]["uid"], job["metadata"]["name"]
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    template_meta["labels"] = dict(template_meta.get("labels") or {}, **{
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
        "controller-uid": uid, "job-name": name})
