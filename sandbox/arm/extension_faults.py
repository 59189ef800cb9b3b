# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Why an extension install fails in the sandbox, and what the failure leaves in the cluster.

Two kinds of causes, both set through the control endpoints (see ``control``):

* conditions of the cluster that make installs fail by themselves, as on AKS:
    - every node pool tainted ``CriticalAddonsOnly`` (``node-taints``): the install is refused;
    - egress to a registry blocked (``egress``): the chart host (``scaksextension.azurecr.io``)
      blocked fails the chart download; the image host (``mcr.microsoft.com``) blocked leaves the
      operator and ``sc-job`` pods in ImagePullBackOff and the install times out;
* an explicit outcome (``extension-install-outcome``): any message (the seed's error catalogue),
  optionally with cluster-side evidence: ``"scJob": {"log": "..."}`` (a failed Job ``sc-job`` with
  its pod, log and events in the release namespace) and ``"helmStatus"`` (the Helm release's status;
  ``null``: no release, as when the chart never arrived).

Evidence objects carry the label ``sandbox.aks-connection/evidence=true`` and are removed by the
next successful install or upgrade (a real cluster replaces the failed pods; ``sc-job`` deletes
itself when it succeeds).
"""
import hashlib

from sandbox.arm import containerservice
from sandbox.arm.common import iso

CHART_HOST = "scaksextension.azurecr.io"
CHART_URL = f"oci://{CHART_HOST}/helm/v1/repo/service-connector-extension"
IMAGE = "mcr.microsoft.com/service-connector/prod/image/sc-operator:20251203.5"
IMAGE_HOST = IMAGE.split("/", 1)[0]
EVIDENCE_LABEL = "sandbox.aks-connection/evidence"

TAINTED_MESSAGE = ("Unable to install the extension: Extension pods can't be scheduled if all the node pools in "
                   "the cluster are \"CriticalAddonsOnly\" tainted.")
CHART_MESSAGE = ("Helm installation failed : Unable to download the Helm chart from the repo URL : InnerError "
                 f"[failed to fetch {CHART_URL}: dial tcp: lookup {CHART_HOST}: i/o timeout]")
READINESS_MESSAGE = ("Helm installation failed : Timed out waiting for resource readiness : Last resource not "
                     "ready was {namespace}/sc-operator InnerError [context deadline exceeded]")
PULL_ERROR = (f"failed to do request: Head \"https://{IMAGE_HOST}/v2/service-connector/prod/image/sc-operator/"
              f"manifests/20251203.5\": dial tcp: lookup {IMAGE_HOST}: i/o timeout")


def _meta(state, cluster_id):
    return state.meta_of(cluster_id)


def set_egress_blocked(state, cluster_id, hosts):
    with state.lock:
        _meta(state, cluster_id)["egress_blocked"] = sorted({h.lower() for h in hosts or []})


def egress_blocked(state, cluster_id):
    with state.lock:
        return list(_meta(state, cluster_id).get("egress_blocked") or [])


def set_node_taints(state, cluster_id, taints):
    """Give every node pool of the cluster exactly ``taints``."""
    with state.lock:
        cluster = state.raw(cluster_id)
        for pool in cluster["properties"].get("agentPoolProfiles") or []:
            pool["nodeTaints"] = list(taints or [])
        return [p["nodeTaints"] for p in cluster["properties"].get("agentPoolProfiles") or []]


def _all_pools_critical_only(cluster):
    pools = (cluster.get("properties") or {}).get("agentPoolProfiles") or []
    return bool(pools) and all(any(t.split("=")[0].split(":")[0] == "CriticalAddonsOnly"
                                   for t in p.get("nodeTaints") or []) for p in pools)


def derived_outcome(state, cluster_id, ext):
    """The failed outcome the cluster's conditions lead to for an install of ``ext``, or None."""
    cluster = state.raw(cluster_id) or {}
    if _all_pools_critical_only(cluster):
        return {"message": TAINTED_MESSAGE, "code": "InstallationFailed", "helmStatus": None}
    ext_type = ((ext.get("properties") or {}).get("extensionType") or "").lower()
    if "serviceconnector" not in ext_type and "servicelinker" not in ext_type:
        return None
    blocked = set(egress_blocked(state, cluster_id))
    if CHART_HOST in blocked:
        return {"message": CHART_MESSAGE, "code": "InstallationFailed", "helmStatus": None}
    if IMAGE_HOST in blocked:
        return {"message": READINESS_MESSAGE.format(namespace=release_namespace(ext)), "code": "InstallationFailed",
                "imagePull": {"image": IMAGE, "error": PULL_ERROR}}
    return None


def release_namespace(ext):
    scope = (ext.get("properties") or {}).get("scope") or {}
    return ((scope.get("cluster") or {}).get("releaseNamespace")
            or (scope.get("namespace") or {}).get("targetNamespace") or ext.get("name"))


def _suffix(*parts):
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:5]


def _labels(extra=None):
    labels = {EVIDENCE_LABEL: "true"}
    labels.update(extra or {})
    return labels


def _event(store, namespace, obj_kind, obj_name, uid, reason, message, kind="Warning", component="kubelet"):
    now = iso()[:19] + "Z"
    store.create("events", namespace, {
        "metadata": {"name": f"{obj_name}.{_suffix(obj_name, reason, message)}{_suffix(now)}",
                     "labels": _labels()},
        "type": kind, "reason": reason, "message": message, "count": 1, "source": {"component": component},
        "involvedObject": {"kind": obj_kind, "namespace": namespace, "name": obj_name, "uid": uid,
                           "apiVersion": "batch/v1" if obj_kind == "Job" else "v1"},
        "firstTimestamp": now, "lastTimestamp": now})


def _pull_failure_pod(store, namespace, name, image, error, labels=None, owner=None):
    meta = {"name": name, "labels": _labels(labels)}
    if owner:
        meta["ownerReferences"] = [owner]
    pod = store.create("pods", namespace, {
        "metadata": meta,
        "spec": {"restartPolicy": "Never" if owner else "Always",
                 "containers": [{"name": "sc-operator", "image": image}]},
        "status": {"phase": "Pending", "containerStatuses": [{
            "name": "sc-operator", "image": image, "imageID": "", "ready": False, "restartCount": 0,
            "started": False, "state": {"waiting": {"reason": "ImagePullBackOff",
                                                    "message": f"Back-off pulling image \"{image}\""}}}]}})
    uid = pod["metadata"]["uid"]
    _event(store, namespace, "Pod", name, uid, "Failed", f"Failed to pull image \"{image}\": {error}")
    _event(store, namespace, "Pod", name, uid, "Failed", "Error: ErrImagePull")
    _event(store, namespace, "Pod", name, uid, "BackOff", f"Back-off pulling image \"{image}\"", kind="Normal")
    return pod


def _job(store, namespace, status, template_labels=None):
    return store.create("jobs", namespace, {
        "metadata": {"name": "sc-job", "labels": _labels({"app": "sc-job"})},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": dict(template_labels or {})}, "spec": {
            "restartPolicy": "Never", "containers": [{"name": "sc-operator", "image": IMAGE}]}}},
        "status": status})


def _owner(job):
    return {"apiVersion": "batch/v1", "kind": "Job", "name": "sc-job", "uid": job["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def seed_evidence(store, namespace, outcome):
    """Write what a failed install of this ``outcome`` leaves in the cluster (``store``)."""
    clear_evidence(store, namespace)
    pull = outcome.get("imagePull")
    job_spec = outcome.get("scJob")
    if not pull and not job_spec:
        return
    store.ensure_namespace(namespace)
    if pull:
        image, error = pull.get("image") or IMAGE, pull.get("error") or PULL_ERROR
        _pull_failure_pod(store, namespace, f"sc-operator-7d9f8c6b5-{_suffix(namespace, 'op')}", image, error,
                          labels={"app": "sc-operator"})
        job = _job(store, namespace, {"active": 1, "startTime": iso()[:19] + "Z"})
        _pull_failure_pod(store, namespace, f"sc-job-{_suffix(namespace, 'job')}", image, error,
                          labels=job["spec"]["template"]["metadata"]["labels"], owner=_owner(job))
        return
    log = job_spec.get("log") or "sc-job failed\n"
    started = iso()[:19] + "Z"
    job = _job(store, namespace, {"failed": 1, "startTime": started, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "Job has reached the specified backoff limit", "lastTransitionTime": started}]})
    pod_name = f"sc-job-{_suffix(namespace, 'job')}"
    pod = store.create("pods", namespace, {
        "metadata": {"name": pod_name, "labels": _labels(job["spec"]["template"]["metadata"]["labels"]),
                     "ownerReferences": [_owner(job)]},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "sc-operator", "image": IMAGE}]},
        "status": {"phase": "Failed", "containerStatuses": [{
            "name": "sc-operator", "image": IMAGE, "imageID": f"{IMAGE.split(':', 1)[0]}@sha256:{'5c' * 32}",
            "ready": False, "restartCount": 0, "started": False,
            "state": {"terminated": {"exitCode": int(job_spec.get("exitCode") or 1), "reason": "Error",
                                     "startedAt": started, "finishedAt": started}}}]}})
    store.set_pod_log(namespace, pod_name, log if log.endswith("\n") else log + "\n")
    _event(store, namespace, "Job", "sc-job", job["metadata"]["uid"], "SuccessfulCreate",
           f"Created pod: {pod_name}", kind="Normal", component="job-controller")
    _event(store, namespace, "Job", "sc-job", job["metadata"]["uid"], "BackoffLimitExceeded",
           "Job has reached the specified backoff limit", component="job-controller")
    _event(store, namespace, "Pod", pod_name, pod["metadata"]["uid"], "Started", "Started container sc-operator",
           kind="Normal")


def clear_evidence(store, namespace):
    if store.get("namespaces", None, namespace) is None:
        return
    for resource in ("jobs", "pods", "events"):
        for obj in store.list(resource, namespace, label_selector={EVIDENCE_LABEL: "true"}):
            store.delete(resource, namespace, obj["metadata"]["name"])


def evidence_action(state, cluster_id, ext, outcome):
    """A callable that writes (``outcome``) or clears (``None``) the evidence in the cluster's KubeStore."""
    if state.sb.kube is None:
        return None
    key = containerservice.kube_key_of(state, cluster_id)
    namespace = release_namespace(ext)

    def action():
        store = containerservice.ensure_kube_store(state, key)
        if store is None:
            return
        if outcome is None:
            clear_evidence(store, namespace)
        else:
            seed_evidence(store, namespace, outcome)

    return action
