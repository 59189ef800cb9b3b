# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for (``as=Table``).

Columns follow the real printers (pkg/printers/internalversion) for the emulated kinds; only the default
(priority 0) columns are produced, so ``-o wide`` shows the same columns.
"""
import datetime

_DESCRIPTIONS = {"Name": "Name must be unique within a namespace. More info: "
                         "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
                 "Age": "CreationTimestamp is a timestamp representing the server time when this object was "
                        "created."}


def _parse_time(text):
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    seconds = int(seconds)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(text, now=None):
    then = _parse_time(text)
    if then is None:
        return "<unknown>"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return human_duration((now - then).total_seconds())


def _creation(obj):
    return age(obj["metadata"].get("creationTimestamp"))


def _pod_cells(pod):
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for cs in statuses:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            term = state["terminated"]
            reason = term.get("reason") or (f"Signal:{term['signal']}" if term.get("signal")
                                            else f"ExitCode:{term.get('exitCode', 0)}")
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses)
    return [pod["metadata"]["name"], f"{ready}/{len(containers)}", reason, str(restarts), _creation(pod)]


def _job_cells(job):
    spec, status = job.get("spec") or {}, job.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if conditions.get("Failed") == "True":
        state = "Failed"
    elif conditions.get("Complete") == "True":
        state = "Complete"
    elif conditions.get("Suspended") == "True":
        state = "Suspended"
    elif conditions.get("FailureTarget") == "True":
        state = "FailureTarget"
    else:
        state = "Running"
    completions = spec.get("completions")
    completions = f"{status.get('succeeded', 0)}/{completions}" if completions is not None \
        else f"{status.get('succeeded', 0)}/1 of {spec.get('parallelism', 1)}"
    start, end = _parse_time(status.get("startTime")), _parse_time(status.get("completionTime"))
    duration = ""
    if start:
        duration = human_duration(((end or datetime.datetime.now(datetime.timezone.utc)) - start).total_seconds())
    return [job["metadata"]["name"], state, completions, duration, _creation(job)]


def _event_cells(event):
    last = event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp")
    if event.get("series", {}).get("lastObservedTime"):
        last = event["series"]["lastObservedTime"]
    inv = event.get("involvedObject") or {}
    return [age(last), event.get("type", ""), event.get("reason", ""),
            f"{(inv.get('kind') or '').lower()}/{inv.get('name', '')}", (event.get("message") or "").strip()]


# resource -> ([(column, type)], cells(obj))
_PRINTERS = {
    "namespaces": ([("Name", "string"), ("Status", "string"), ("Age", "string")],
                   lambda o: [o["metadata"]["name"], (o.get("status") or {}).get("phase", ""), _creation(o)]),
    "secrets": ([("Name", "string"), ("Type", "string"), ("Data", "integer"), ("Age", "string")],
                lambda o: [o["metadata"]["name"], o.get("type", ""), len(o.get("data") or {}), _creation(o)]),
    "serviceaccounts": ([("Name", "string"), ("Secrets", "integer"), ("Age", "string")],
                        lambda o: [o["metadata"]["name"], len(o.get("secrets") or []), _creation(o)]),
    "configmaps": ([("Name", "string"), ("Data", "integer"), ("Age", "string")],
                   lambda o: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                              _creation(o)]),
    "pods": ([("Name", "string"), ("Ready", "string"), ("Status", "string"), ("Restarts", "string"),
              ("Age", "string")], _pod_cells),
    "jobs": ([("Name", "string"), ("Status", "string"), ("Completions", "string"), ("Duration", "string"),
              ("Age", "string")], _job_cells),
    "events": ([("Last Seen", "string"), ("Type", "string"), ("Reason", "string"), ("Object", "string"),
                ("Message", "string")], _event_cells),
}


def _row_object(obj, include):
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def to_table(resource, objects, resource_version, include_object="Metadata"):
    """A Table of ``objects``; ``include_object`` is the request's includeObject (None/Metadata/Object)."""
    columns, cells = _PRINTERS[resource]
    definitions = [{"name": name, "type": typ, "format": "name" if name == "Name" else "",
                    "description": _DESCRIPTIONS.get(name, name), "priority": 0} for name, typ in columns]
    rows = []
    for obj in objects:
        row = {"cells": cells(obj)}
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}
