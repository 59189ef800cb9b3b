# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`az aks connection troubleshoot`: the seed's troubleshooting guide (mission M-D), run for the user.

Each step of the guide is one finding ``{name, result, message, recommendation}`` with result
success | failure | warning:

  Azure side    resource providers Microsoft.ContainerService and Microsoft.KubernetesConfiguration,
                the cluster's provisioning and power state, its node pools (all CriticalAddonsOnly?);
  cluster side  aks-connection's connection store (the record ConfigMaps: readable, how many).
  Microsoft's   only when the cluster has Microsoft's Service Connector extension sc-extension (installed by
  operator      Service Connector's resource provider; aks-connection installs none): its provisioningState and
                statuses (M-D1), namespace sc-system, the Helm release in it, Job sc-job (status, events and the
                logs of its pods) and pods that cannot pull their image (M-D2). The extension finding says
                whose operator that is.

Every message met on the way goes through the error catalogue, so a finding's recommendation is the
fix for this cluster. Everything here only reads (the cluster credentials come from
listClusterUserCredential, a read).
"""
import base64
import gzip
import json
from urllib.parse import quote

from azext_aks_connection.provider import catalogue
from azext_aks_connection.provider.arm import Arm, ArmError, rest, sdk_call
from azext_aks_connection.provider.kubeclient import KubeApiError as ApiException

SUCCESS, FAILURE, WARNING = "success", "failure", "warning"
EXTENSION_NAME = catalogue.EXTENSION_NAME
NAMESPACE = catalogue.RELEASE_NAMESPACE
PROVIDERS = ("Microsoft.ContainerService", catalogue.KUBERNETES_CONFIGURATION)
OPTIONAL_PROVIDERS = (catalogue.KUBERNETES_CONFIGURATION,)    # needed by Microsoft's sc-extension only
EXTENSION_API = "2023-05-01"
BUSY = ("creating", "updating", "deleting", "upgrading", "scaling", "starting", "stopping", "migrating",
        "canceling", "accepted", "running")
PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
LOG_TAIL = 20
CORE = f"/api/v1/namespaces/{NAMESPACE}"        # sc-system's objects of the core API group


def finding(name, result, message, recommendation=None, diagnosis=None):
    out = {"name": name, "result": result, "message": message, "recommendation": recommendation}
    if diagnosis is not None:
        out["diagnosis"] = diagnosis      # internal: dropped from the command's output
    return out


def _diagnosed(name, message, text, ctx, default_fix, *, code=None):
    """A failure whose recommendation is the catalogue's fix for ``text`` when it knows it."""
    diagnosis = catalogue.diagnose(text, code, ctx)
    if diagnosis is None:
        return finding(name, FAILURE, message, default_fix)
    return finding(name, FAILURE, f"{message.rstrip('.')}. {diagnosis.cause}", diagnosis.fix, diagnosis)


def _arm_failure(name, exc, what, ctx):
    code = getattr(getattr(exc, "error", None), "code", None)
    text = getattr(exc, "message", None) or str(exc)
    return _diagnosed(name, f"{what}: ({code}) {text}", text, ctx, "Check the message above.", code=code)


# --------------------------------------------------------------------------- Azure side

def provider_finding(cli_ctx, subscription, namespace, ctx):
    out = _provider_finding(cli_ctx, subscription, namespace, ctx)
    if namespace in OPTIONAL_PROVIDERS and out["result"] == FAILURE:
        out = dict(out, result=WARNING, message=out["message"] + " aks-connection does not need it; Microsoft's "
                   "Service Connector (its sc-extension cluster extension) does.")
    return out


def _provider_finding(cli_ctx, subscription, namespace, ctx):
    from azext_aks_connection.provider.registration import provider_state
    name = f"Resource provider {namespace}"
    try:
        state, _ = provider_state(cli_ctx, subscription, namespace)
    except ArmError as exc:
        return _arm_failure(name, exc, f"Reading the registration of {namespace} failed", ctx)
    if state == "Registered":
        return finding(name, SUCCESS, f"{namespace} is registered on subscription {subscription}.")
    diagnosis = catalogue.diagnose(f"not registered to use namespace '{namespace}'", "MissingSubscriptionRegistration",
                                   ctx)
    if state == "Registering":
        return finding(name, WARNING, f"{namespace} is still registering on subscription {subscription}.",
                       diagnosis.fix)
    return finding(name, FAILURE, f"{namespace} is {state} on subscription {subscription}: {diagnosis.cause}",
                   diagnosis.fix, diagnosis)


def cluster_findings(cluster_resource, ctx):
    props = cluster_resource.get("properties") or {}
    state = props.get("provisioningState") or "Succeeded"
    power = (props.get("powerState") or {}).get("code") or "Running"
    name = "AKS cluster state"
    if state.lower() in BUSY:
        diagnosis = catalogue.diagnose("", "OperationNotAllowed", ctx)
        out = finding(name, WARNING, f"Cluster '{ctx.cluster}' is {state}: {diagnosis.cause} Connection commands "
                      "wait for it to end.", diagnosis.fix)
    elif state.lower() == "failed":
        out = finding(name, FAILURE, f"Cluster '{ctx.cluster}' is in provisioning state Failed: its last operation "
                      "failed, and extension installs may fail too.",
                      f"Reconcile it with 'az aks update -g {ctx.rg} -n {ctx.cluster}', then re-run this command.")
    elif power.lower() == "stopped":
        out = finding(name, FAILURE, f"Cluster '{ctx.cluster}' is stopped: nothing runs in it.",
                      f"Start it with 'az aks start -g {ctx.rg} -n {ctx.cluster}'.")
    else:
        out = finding(name, SUCCESS, f"Cluster '{ctx.cluster}' is {state} and {power}.")
    return [out, node_pool_finding(props.get("agentPoolProfiles") or [], ctx)]


def _critical_only(pool):
    return any(t.split("=")[0].split(":")[0] == "CriticalAddonsOnly" for t in pool.get("nodeTaints") or [])


def node_pool_finding(pools, ctx):
    name = "Node pools"
    if pools and all(_critical_only(p) for p in pools):
        diagnosis = catalogue.diagnose("CriticalAddonsOnly", None, ctx)
        return finding(name, FAILURE, "All node pools (" + ", ".join(p.get("name", "?") for p in pools) +
                       f") are tainted CriticalAddonsOnly: {diagnosis.cause}", diagnosis.fix, diagnosis)
    free = [p.get("name", "?") for p in pools if not _critical_only(p)]
    return finding(name, SUCCESS, f"{len(pools)} node pool(s); pods of extensions can run on: {', '.join(free)}.")


def extension_finding(ext, ctx, store_namespace):
    name = f"Extension {EXTENSION_NAME}"
    if ext is None:
        return finding(name, SUCCESS, f"Microsoft's Service Connector extension {EXTENSION_NAME} is not installed on "
                       f"cluster '{ctx.cluster}'. aks-connection needs no cluster extension: it keeps its connection "
                       f"records in ConfigMaps in namespace {store_namespace}.")
    kind = (f"Microsoft's Service Connector extension {ext.get('name') or EXTENSION_NAME} (type "
            f"{(ext.get('properties') or {}).get('extensionType')}, installed by Service Connector, not by "
            "aks-connection; the sc-system findings below are of its operator)")
    out = _microsoft_extension_finding(name, ext, ctx)
    return dict(out, message=f"{kind}: {out['message']}")


def _microsoft_extension_finding(name, ext, ctx):
    props = ext.get("properties") or {}
    state = props.get("provisioningState") or "Succeeded"
    messages = [s.get("message") for s in props.get("statuses") or [] if s.get("message")]
    if (props.get("errorInfo") or {}).get("message"):
        messages.append(props["errorInfo"]["message"])
    text = "; ".join(dict.fromkeys(messages))
    version = props.get("currentVersion") or props.get("version") or "?"
    if state == "Failed":
        return _diagnosed(name, f"{EXTENSION_NAME} is in state Failed: {text or 'no status message'}", text, ctx,
                          f"Inspect it with '{ctx.ext_show}'; re-running 'az aks connection create' retries the "
                          "install.")
    if state.lower() in BUSY:
        return finding(name, WARNING, f"{EXTENSION_NAME} is {state}: an operation on it is running.",
                       "Wait for it to end (connection commands do), then re-run this command.")
    errors = [s.get("message") for s in props.get("statuses") or [] if (s.get("level") or "").lower() == "error"]
    if errors:
        diagnosis = catalogue.diagnose("; ".join(errors), None, ctx)
        return finding(name, WARNING, f"{EXTENSION_NAME} is {state} (version {version}) but reports: "
                       + "; ".join(errors), diagnosis.fix if diagnosis else f"Inspect it with '{ctx.ext_show}'.",
                       diagnosis)
    return finding(name, SUCCESS, f"{EXTENSION_NAME} is {state} (version {version}, release namespace "
                   f"{((props.get('scope') or {}).get('cluster') or {}).get('releaseNamespace') or NAMESPACE}).")


# --------------------------------------------------------------------------- cluster side

def _read(api, path, **query):
    """GET ``path`` on the extension's Kubernetes client (kubeclient.KubeClient): a KubeObject, read with the
    kubernetes client's field names; raises ApiException (KubeApiError) for an error answer."""
    return api.request("GET", path, query={k: v for k, v in query.items() if v is not None} or None)


def _items(api, plural, **query):
    """The objects of a list in sc-system (no limit asked: the API server answers them all in one page)."""
    return _read(api, f"{CORE}/{plural}", **query).items or []


def _kube_failure(name, exc, what):
    status = getattr(exc, "status", None)
    if status == 403:
        return finding(name, FAILURE, f"{what}: forbidden for your cluster user.",
                       f"Ask a cluster admin for read access to namespace {NAMESPACE} (pods, pods/log, events, jobs, "
                       "secrets), or run this command as a cluster admin.")
    reason = getattr(exc, "reason", None) or exc
    return finding(name, FAILURE, f"{what} failed: ({status}) {reason}",
                   "Check that the cluster's API server is reachable from this machine.")


def namespace_finding(api, ext):
    name = f"Namespace {NAMESPACE}"
    try:
        _read(api, CORE)
    except ApiException as exc:
        if exc.status != 404:
            return _kube_failure(name, exc, f"Reading namespace {NAMESPACE}"), False
        if ext is None:
            return finding(name, WARNING, f"Namespace {NAMESPACE} does not exist: {EXTENSION_NAME} is not installed.",
                           "None needed before the first 'az aks connection create'."), False
        return finding(name, FAILURE, f"Namespace {NAMESPACE} does not exist, though {EXTENSION_NAME} is installed: "
                       "the extension's operator has nowhere to run (the namespace was deleted, or the install never "
                       "reached the cluster).",
                       "Look at the extension finding above; if the namespace was deleted, re-run 'az aks connection "
                       "create' for one of your connections to reinstall the extension's release."), False
    return finding(name, SUCCESS, f"Namespace {NAMESPACE} exists."), True


def _release_info(secret):
    try:
        raw = base64.b64decode(base64.b64decode((secret.data or {}).get("release", "")))
        return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).get("info") or {}
    except Exception:  # pylint: disable=broad-except
        return {}


def helm_finding(api, ext, ctx):
    name = f"Helm release {EXTENSION_NAME}"
    try:
        secrets = _items(api, "secrets", labelSelector=f"owner=helm,name={EXTENSION_NAME}")
    except ApiException as exc:
        return _kube_failure(name, exc, f"Listing the Helm releases in {NAMESPACE}")
    if not secrets:
        if ext is None:
            return finding(name, WARNING, f"No Helm release {EXTENSION_NAME} in {NAMESPACE}: the extension is not "
                           "installed.", "None needed before the first 'az aks connection create'.")
        return _diagnosed(name, f"No Helm release {EXTENSION_NAME} in {NAMESPACE}: the chart was never installed.",
                          _ext_text(ext), ctx, "Re-run 'az aks connection create'; if it fails again, run this "
                          "command and follow the extension finding.")
    latest = max(secrets, key=lambda s: int((s.metadata.labels or {}).get("version") or 0))
    labels = latest.metadata.labels or {}
    status, revision = labels.get("status") or "unknown", labels.get("version") or "?"
    description = _release_info(latest).get("description") or ""
    shown = f"Helm release {EXTENSION_NAME} revision {revision} is {status}"
    if description:
        shown += f": {description}"
    if status == "deployed":
        return finding(name, SUCCESS, shown + ".")
    if status.startswith("pending"):
        diagnosis = catalogue.diagnose("operation is already in progress for helm", None, ctx)
        return finding(name, WARNING, f"{shown}. {diagnosis.cause}", diagnosis.fix, diagnosis)
    return _diagnosed(name, shown, description + " " + _ext_text(ext), ctx,
                      f"Read the release's history with 'helm history {EXTENSION_NAME} -n {NAMESPACE}', fix the cause, "
                      "then re-run 'az aks connection create'.")


def _ext_text(ext):
    props = (ext or {}).get("properties") or {}
    return " ".join(s.get("message") or "" for s in props.get("statuses") or []) + " " + \
        ((props.get("errorInfo") or {}).get("message") or "")


def _events(api, name):
    try:
        items = _items(api, "events", fieldSelector=f"involvedObject.name={name}")
    except Exception:  # pylint: disable=broad-except
        return []
    return [e for e in items if e.type == "Warning"]


def job_finding(api, ctx):
    name = "Job sc-job"
    try:
        job = _read(api, f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/sc-job")
    except ApiException as exc:
        if exc.status == 404:
            return finding(name, SUCCESS, f"No Job sc-job in {NAMESPACE}: it ran and deleted itself, as it does on "
                           "success.")
        return _kube_failure(name, exc, f"Reading Job sc-job in {NAMESPACE}")
    status = job.status
    failed_cond = [c for c in (status.conditions or []) if c.type == "Failed" and c.status == "True"]
    if not failed_cond and not status.failed:
        if status.active:
            return finding(name, WARNING, f"Job sc-job in {NAMESPACE} is running ({status.active} active pod(s)).",
                           "Wait a few minutes; if it stays, look at the image pull finding below and at 'kubectl "
                           f"describe job/sc-job -n {NAMESPACE}'.")
        return finding(name, SUCCESS, f"Job sc-job in {NAMESPACE} completed.")
    reason = failed_cond[0].reason if failed_cond else "Failed"
    parts = [f"Job sc-job in {NAMESPACE} failed ({reason})."]
    texts = [catalogue.redact(c.message or "") for c in failed_cond]
    for event in _events(api, "sc-job"):
        texts.append(catalogue.redact(event.message or ""))
    try:
        pods = _items(api, "pods", labelSelector="job-name=sc-job")
    except ApiException:
        pods = []
    for pod in pods:
        try:
            log = api.request("GET", f"{CORE}/pods/{quote(pod.metadata.name, safe='')}/log",
                              query={"tailLines": LOG_TAIL}, raw=True) or ""
        except ApiException:
            log = ""
        lines = [catalogue.redact(line) for line in log.splitlines() if line.strip()]
        if lines:
            parts.append(f"Last log lines of pod {pod.metadata.name}: " + " | ".join(lines[-5:]))
            texts.append(catalogue.redact(log))
        for event in _events(api, pod.metadata.name):
            texts.append(catalogue.redact(event.message or ""))
    # The most telling line: one the catalogue knows, from the logs first.
    for text in reversed(texts):
        diagnosis = catalogue.diagnose(text, None, ctx)
        if diagnosis is not None:
            return finding(name, FAILURE, " ".join(parts) + f" {diagnosis.cause}", diagnosis.fix, diagnosis)
    return finding(name, FAILURE, " ".join(parts),
                   f"Read the whole story with 'kubectl describe job/sc-job -n {NAMESPACE}' and 'kubectl logs "
                   f"job/sc-job -n {NAMESPACE}', fix the cause, then re-run 'az aks connection create'.")


def image_pull_finding(api, ctx):
    name = f"Image pulls in {NAMESPACE}"
    try:
        pods = _items(api, "pods")
    except ApiException as exc:
        if exc.status == 404:
            return finding(name, SUCCESS, f"No pods in {NAMESPACE}.")
        return _kube_failure(name, exc, f"Listing the pods in {NAMESPACE}")
    stuck = []
    for pod in pods:
        statuses = list(pod.status.init_container_statuses or []) + list(pod.status.container_statuses or [])
        for cs in statuses:
            waiting = cs.state.waiting if cs.state else None
            if waiting is not None and waiting.reason in PULL_REASONS:
                stuck.append((pod, cs, waiting))
    if not stuck:
        return finding(name, SUCCESS, f"No pod in {NAMESPACE} fails to pull its image.")
    pod, cs, waiting = stuck[0]
    details = [e.message for e in _events(api, pod.metadata.name)
               if (e.message or "").startswith("Failed to pull image")]
    detail = catalogue.redact(details[-1] if details else (waiting.message or waiting.reason))
    diagnosis = catalogue.image_pull(cs.image, detail, ctx)
    pods_named = ", ".join(sorted({p.metadata.name for p, _, _ in stuck}))
    return finding(name, FAILURE, f"{len(stuck)} container(s) cannot pull their image ({waiting.reason}) in pod(s) "
                   f"{pods_named}: {detail} {diagnosis.cause}", diagnosis.fix, diagnosis)


def _guarded(name, step, *args):
    """A step whose unexpected trouble (an answer the client cannot read) is a finding, not a crash."""
    try:
        return step(*args)
    except Exception as exc:  # pylint: disable=broad-except
        return finding(name, FAILURE, f"Reading it failed: {getattr(exc, 'error_msg', None) or exc}",
                       f"Look at it with kubectl in namespace {NAMESPACE}.")


def cluster_side(api, ext, ctx):
    """The sc-system findings: run only when Microsoft's extension is there; each names that operator."""
    result = _guarded(f"Namespace {NAMESPACE}", namespace_finding, api, ext)
    ns, exists = result if isinstance(result, tuple) else (result, False)
    out = [ns]
    if exists:
        out += [_guarded(f"Helm release {EXTENSION_NAME}", helm_finding, api, ext, ctx),
                _guarded("Job sc-job", job_finding, api, ctx),
                _guarded(f"Image pulls in {NAMESPACE}", image_pull_finding, api, ctx)]
    return out


def store_finding(api, store_namespace):
    """aks-connection's own records: the ConfigMaps of the store namespace, read as list does."""
    from azext_aks_connection.provider import store as store_ops
    name = "Connection store"
    try:
        store = store_ops.list_store(api, store_namespace)
    except Exception as exc:  # pylint: disable=broad-except
        return finding(name, FAILURE, f"Reading the connection records (ConfigMaps in namespace {store_namespace}) "
                       f"failed: {getattr(exc, 'error_msg', None) or exc}",
                       "; ".join(getattr(exc, "recommendations", []) or []) or
                       f"Ask a cluster admin for get/list on configmaps in namespace {store_namespace}.")
    return finding(name, SUCCESS, f"{len(store.records)} connection record(s) in namespace {store_namespace}.")


# --------------------------------------------------------------------------- the command and the create path

def run(cmd, cluster):
    """The findings for ``cluster`` (a ClusterRef), in the order of the guide."""
    ctx = catalogue.Context.of(cluster)
    from azext_aks_connection._client_factory import cf_container_service
    findings = [provider_finding(cmd.cli_ctx, cluster.subscription, ns, ctx) for ns in PROVIDERS]
    try:
        resource = rest(sdk_call(cmd.cli_ctx, "GET", cluster.id, cf_container_service(
            cmd.cli_ctx, cluster.subscription).managed_clusters.get, cluster.resource_group, cluster.name))
    except ArmError as exc:
        findings.append(_arm_failure("AKS cluster state", exc, f"Reading AKS cluster '{cluster.name}' failed", ctx))
        return findings
    ctx.region = resource.get("location") or ctx.region
    findings += cluster_findings(resource, ctx)
    from azext_aks_connection.provider import store as store_ops
    store_namespace = store_ops.namespace(cmd.cli_ctx)
    try:  # raw: azure-mgmt-kubernetesconfiguration is not shipped with azure-cli
        ext = Arm(cmd.cli_ctx, subscription_id=cluster.subscription).get(
            f"{cluster.id}/providers/{catalogue.KUBERNETES_CONFIGURATION}/extensions/{EXTENSION_NAME}", EXTENSION_API)
    except ArmError as exc:
        ext = None
        if exc.status_code != 404 and (getattr(exc.error, "code", "") or "") != "MissingSubscriptionRegistration":
            findings.append(_arm_failure(f"Extension {EXTENSION_NAME}", exc,
                                         f"Reading {EXTENSION_NAME} failed", ctx))
            ext = False
    if ext is not False:
        findings.append(extension_finding(ext, ctx, store_namespace))
    if ((resource.get("properties") or {}).get("powerState") or {}).get("code", "Running").lower() == "stopped":
        return findings
    try:
        from azext_aks_connection.provider import cluster as cluster_ops
        api = cluster_ops.kube_api(cmd, cluster)
    except Exception as exc:  # pylint: disable=broad-except
        findings.append(finding("Cluster access", FAILURE, f"Getting your credentials for the cluster failed: "
                                f"{getattr(exc, 'error_msg', exc)}",
                                "; ".join(getattr(exc, "recommendations", []) or []) or
                                f"Check that 'az aks get-credentials -g {ctx.rg} -n {ctx.cluster}' works."))
        return findings
    findings.append(store_finding(api, store_namespace))
    return findings + (cluster_side(api, ext, ctx) if ext else [])


def public(findings):
    return [{k: f.get(k) for k in ("name", "result", "message", "recommendation")} for f in findings]
