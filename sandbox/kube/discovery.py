# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Discovery documents: ``/version``, legacy discovery and a skeleton OpenAPI v3.

Aggregated discovery (``Accept: ...;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``) is answered with
the legacy documents and ``Content-Type: application/json``; client-go then falls back to legacy discovery.

OpenAPI v2 is not served (404).  OpenAPI v3 is served as a skeleton: per group-version one ``patch``
operation per kind, carrying ``x-kubernetes-group-version-kind``, the ``fieldValidation`` parameter and
the patch media types, and no schemas.  That is what kubectl looks for before ``apply`` / ``create -f``:
without OpenAPI its default ``--validate=strict`` fails ("failed to download openapi"); with the skeleton
it leaves validation to the server (``fieldValidation=Strict``, which the sandbox accepts and ignores) and
computes strategic merge patches from its compiled-in types.
"""
import hashlib
import json

from .resources import RESOURCES

SERVER_VERSION = {"major": "1", "minor": "33", "emulationMajor": "1", "emulationMinor": "33",
                  "gitVersion": "v1.33.2-sandbox", "gitCommit": "0000000000000000000000000000000000000000",
                  "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24.4",
                  "compiler": "gc", "platform": "linux/amd64"}


def _verbs(rt):
    verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update"]
    return [v for v in verbs if rt.namespaced or v != "deletecollection"]


def _group_versions():
    """'v1', 'batch/v1', ... in a stable order."""
    return sorted({rt.api_version for rt in RESOURCES.values()}, key=lambda gv: ("/" in gv, gv))


def api_resource_list(group_version):
    resources = []
    for rt in RESOURCES.values():
        if rt.api_version != group_version:
            continue
        entry = {"name": rt.resource, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
                 "verbs": _verbs(rt)}
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        if rt.status_subresource:
            resources.append({"name": f"{rt.resource}/status", "singularName": "", "namespaced": rt.namespaced,
                              "kind": rt.kind, "verbs": ["get", "patch", "update"]})
        if rt.resource == "pods":
            resources.append({"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod",
                              "verbs": ["get"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _api_groups():
    groups = []
    for gv in _group_versions():
        if "/" in gv:
            group, version = gv.split("/")
            ref = {"groupVersion": gv, "version": version}
            groups.append({"name": group, "versions": [ref], "preferredVersion": ref})
    return groups


def _openapi_path(gv):
    return ("api/" if "/" not in gv else "apis/") + gv


def _openapi_v3_gv(group_version):
    paths = {}
    for rt in RESOURCES.values():
        if rt.api_version != group_version:
            continue
        url = "/" + _openapi_path(group_version) + ("/namespaces/{namespace}" if rt.namespaced else "") + \
            f"/{rt.resource}/{{name}}"
        body = {"content": {t: {"schema": {"type": "object"}} for t in (
            "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json")}}
        paths[url] = {"patch": {
            "operationId": f"patch{rt.kind}", "requestBody": body, "responses": {"200": {"description": "OK"}},
            "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                           for n in ("dryRun", "fieldManager", "fieldValidation")],
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (sandbox)", "version": SERVER_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}


def discovery_document(path, host):
    """The JSON document served at ``path`` (below the cluster prefix), or None."""
    if path == "/version":
        return SERVER_VERSION
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": _api_groups()}
    if path == "/api/v1":
        return api_resource_list("v1")
    for group in _api_groups():
        if path == f"/apis/{group['name']}":
            return dict(group, kind="APIGroup", apiVersion="v1")
        if path == f"/apis/{group['preferredVersion']['groupVersion']}":
            return api_resource_list(group["preferredVersion"]["groupVersion"])
    if path == "/openapi/v3":
        root = {}
        for gv in _group_versions():
            digest = hashlib.sha256(json.dumps(_openapi_v3_gv(gv), sort_keys=True).encode()).hexdigest().upper()
            root[_openapi_path(gv)] = {"serverRelativeURL": f"/openapi/v3/{_openapi_path(gv)}?hash={digest}"}
        return {"paths": root}
    for gv in _group_versions():
        if path == f"/openapi/v3/{_openapi_path(gv)}":
            return _openapi_v3_gv(gv)
    return None
