"""sc-extension: the cluster extension that holds the cluster's connection records.

Each connection is one key of the extension's ``configurationSettings`` (``connection.<name>``, a
JSON record without credentials). Records are written with PATCH, which merges settings key by
key, so two creates on one cluster at the same time both survive; the first connection creates
the extension with a conditional PUT (If-None-Match: *) so a concurrent first create cannot wipe
another's record. While another operation runs on the extension the service answers 409: we wait
for it (as long as Retry-After says) and try again, a bounded number of times. While an operation runs
on the cluster itself (409 OperationNotAllowed: the seed's "Conflict") we wait for the cluster to reach
a terminal state, and a subscription not registered for Microsoft.KubernetesConfiguration is registered
first (provider/registration.py). A write to a Failed extension is the retry of its install; when an
install fails, the error names the cause and the fix (provider/catalogue.py), with what the cluster
shows (provider/troubleshoot.py).
"""
import io
import json
import time

from azure.cli.core.azclierror import AzureResponseError
from azure.core.exceptions import HttpResponseError

from azext_aks_connection.model import load_records, setting_key
from azext_aks_connection.provider import catalogue, registration
from azext_aks_connection.provider.arm import pause, retry_after
from azext_aks_connection.provider.errors import arm_error

EXTENSION_NAME = "sc-extension"
RELEASE_NAMESPACE = "sc-system"
# The real Service Connector extension type string is not public: one constant, overridable with
# `az config set aks_connection.extension_type=<type>` or AZURE_AKS_CONNECTION_EXTENSION_TYPE.
DEFAULT_EXTENSION_TYPE = "microsoft.serviceconnector.kubernetes"
BUSY_STATES = ("Creating", "Updating", "Deleting", "Accepted", "Running")
MAX_ATTEMPTS = 30
MAX_IDLE_CONFLICTS = 3     # 409s while neither the cluster nor the extension is busy


def extension_type(cli_ctx):
    return cli_ctx.config.get("aks_connection", "extension_type", DEFAULT_EXTENSION_TYPE)


def _client(cmd, subscription_id):
    from azure.mgmt.kubernetesconfiguration import SourceControlConfigurationClient
    return registration.mgmt_client(cmd, SourceControlConfigurationClient, subscription_id).extensions


def _ctx(cluster):
    return catalogue.Context.of(cluster)


def _args(cluster):
    return (cluster.resource_group, "Microsoft.ContainerService", "managedClusters", cluster.name, EXTENSION_NAME)


def _json(body):
    return io.BytesIO(json.dumps(body).encode("utf-8"))


def get_extension(cmd, cluster):
    """sc-extension as a dict (REST shape), or None when the cluster has none.

    Never registers a provider: an unregistered Microsoft.KubernetesConfiguration is an error with its fix."""
    try:
        ext = _client(cmd, cluster.subscription).get(*_args(cluster))
    except HttpResponseError as exc:
        if exc.status_code == 404:
            return None
        raise arm_error(exc, f"Reading {EXTENSION_NAME} on cluster '{cluster.name}'", _ctx(cluster))
    return ext.serialize(keep_readonly=True)


def prepare_write(cmd, cluster, cluster_resource=None, progress=None):
    """What a command that writes reads first: sc-extension as it is (None: absent), once Azure can take
    a write to it. When the subscription is not registered for Microsoft.KubernetesConfiguration it is
    registered (and waited for); when an operation runs on the cluster (``cluster_resource``, the cluster as
    just read, says so) we wait for it to end. Nothing is written in the cluster before this returns, so a
    wait that gives up leaves nothing half-done."""
    if registration.busy(cluster_resource):
        registration.wait_cluster_idle(cmd, cluster, progress,
                                       state=(cluster_resource.get("properties") or {}).get("provisioningState"))
    try:
        ext = _client(cmd, cluster.subscription).get(*_args(cluster))
    except HttpResponseError as exc:
        if exc.status_code == 404:
            return None
        namespace = registration.namespace_of(exc)
        if namespace is None:
            raise arm_error(exc, f"Reading {EXTENSION_NAME} on cluster '{cluster.name}'", _ctx(cluster))
        registration.ensure_registered(cmd, cluster.subscription, namespace, progress)
        return get_extension(cmd, cluster)
    return ext.serialize(keep_readonly=True)


def state_of(ext):
    return ((ext or {}).get("properties") or {}).get("provisioningState")


def records_of(ext):
    return load_records(((ext or {}).get("properties") or {}).get("configurationSettings"))


def find_record(records, name):
    """The record named ``name``, its case ignored (as ARM ignores the case of resource names), or None."""
    if name in records:
        return records[name]
    return next((r for n, r in records.items() if n.lower() == (name or "").lower()), None)


def failed_message(ext):
    props = (ext or {}).get("properties") or {}
    msgs = [s.get("message") for s in props.get("statuses") or [] if s.get("message")]
    err = props.get("errorInfo") or {}
    if err.get("message"):
        msgs.append(err["message"])
    return "; ".join(dict.fromkeys(msgs)) or "no status message"


def _raise_failed(cmd, cluster, ext):
    """The Failed extension as the error that names its cause and fix: the seed's message from its statuses,
    and what the cluster itself shows (sc-job logs and events, image pulls), read best effort."""
    ctx = _ctx(cluster)
    try:    # the region names the cluster extensions endpoint in a fix line
        from azext_aks_connection.provider import cluster as cluster_ops
        ctx.region = cluster_ops.get_cluster(cmd, cluster).get("location") or ctx.region
    except Exception:  # pylint: disable=broad-except
        pass
    message = failed_message(ext)
    text = f"{EXTENSION_NAME} on cluster '{cluster.name}' is in state Failed: {message.rstrip('.')}."
    diagnosis = catalogue.diagnose(message, None, ctx)
    from azext_aks_connection.provider import troubleshoot
    evidence = troubleshoot.failure_evidence(cmd, cluster, ctx)
    if evidence:
        text += " In the cluster: " + " ".join(f["message"] for f in evidence)
        fixes = [f["diagnosis"] for f in evidence if f.get("diagnosis")]
        diagnosis = fixes[0] if fixes else diagnosis
    if diagnosis is not None:
        raise catalogue.error_class(diagnosis)(f"{text} Cause: {diagnosis.cause}", recommendation=diagnosis.fix)
    raise AzureResponseError(
        text, recommendation=f"Inspect it with '{ctx.ext_show}' and the namespace {RELEASE_NAMESPACE} "
        f"('{ctx.troubleshoot}').")


def _wait_idle(cmd, cluster, delay, progress):
    """Poll the extension until no operation runs on it; returns it (None if it is gone)."""
    deadline = time.monotonic() + 1800
    while True:
        pause(delay)
        if progress:
            progress()
        ext = get_extension(cmd, cluster)
        if state_of(ext) not in BUSY_STATES:
            return ext
        if time.monotonic() > deadline:
            raise AzureResponseError(f"{EXTENSION_NAME} on cluster '{cluster.name}' stayed busy for 30 minutes.")


def wait_poller(poller, progress=None):
    while not poller.done():
        if progress:
            progress()
        poller.wait(0.25)   # returns as soon as the poller's own (Retry-After driven) loop finishes
    return poller.result()


_UNKNOWN = object()


def write_settings(cmd, cluster, settings, progress=None, no_wait=False, known=_UNKNOWN):
    """Merge ``settings`` (key -> JSON string, or None to remove) into sc-extension, creating the
    extension when the cluster has none. Returns the extension dict after the write.

    ``known`` is the extension as the caller last read it (None: absent), which saves a GET; it may be
    stale: the conditional create (412) and the busy answer (409) send us back to read it again."""
    client = _client(cmd, cluster.subscription)
    creating = all(v is not None for v in settings.values())
    ext = get_extension(cmd, cluster) if known is _UNKNOWN else known
    idle_conflicts = 0
    for _ in range(MAX_ATTEMPTS):
        try:
            if ext is None:
                if not creating:
                    return None     # nothing to remove from an extension that does not exist
                body = {"properties": {
                    "extensionType": extension_type(cmd.cli_ctx),
                    "autoUpgradeMinorVersion": True,
                    "releaseTrain": "stable",
                    "scope": {"cluster": {"releaseNamespace": RELEASE_NAMESPACE}},
                    "configurationSettings": settings}}
                poller = client.begin_create(*_args(cluster), _json(body), content_type="application/json",
                                             headers={"If-None-Match": "*"})
            elif state_of(ext) in BUSY_STATES:
                ext = _wait_idle(cmd, cluster, 1.0, progress)
                continue
            else:
                # Also when the extension is Failed: the update is the retry of its install (the fix may be in).
                body = {"properties": {"configurationSettings": settings}}
                poller = client.begin_update(*_args(cluster), _json(body), content_type="application/json")
        except HttpResponseError as exc:
            namespace = registration.namespace_of(exc)
            if namespace is not None:
                registration.ensure_registered(cmd, cluster.subscription, namespace, progress)
                ext = get_extension(cmd, cluster)
                continue
            if exc.status_code == 409 and getattr(exc.error, "code", "") == "OperationNotAllowed":
                # An operation runs on the cluster itself (AKS answers without Retry-After): wait for it to end.
                registration.wait_cluster_idle(cmd, cluster, progress)
                ext = get_extension(cmd, cluster)
                continue
            if exc.status_code in (409, 412):
                # Another operation runs on the extension (409), or someone created it first (412).
                delay = retry_after(getattr(exc.response, "headers", {}) or {}, default=1.0)
                if exc.status_code == 409:
                    ext = get_extension(cmd, cluster)
                    if state_of(ext) not in BUSY_STATES:
                        # Neither the cluster nor the extension is busy: the seed's bare "Conflict". Retry a
                        # little, then say what it means and how to fix it.
                        idle_conflicts += 1
                        if idle_conflicts >= MAX_IDLE_CONFLICTS:
                            raise arm_error(exc, f"Writing the connection record to {EXTENSION_NAME} on cluster "
                                            f"'{cluster.name}'", _ctx(cluster))
                        pause(delay)
                        continue
                ext = _wait_idle(cmd, cluster, delay, progress)
                continue
            raise arm_error(exc, f"Writing the connection record to {EXTENSION_NAME} on cluster '{cluster.name}'",
                            _ctx(cluster))
        if no_wait:
            return None
        try:
            result = wait_poller(poller, progress)
        except HttpResponseError as exc:
            failed = get_extension(cmd, cluster)
            if state_of(failed) == "Failed":
                _raise_failed(cmd, cluster, failed)
            raise arm_error(exc, f"Writing to {EXTENSION_NAME} on cluster '{cluster.name}'", _ctx(cluster))
        ext = result.serialize(keep_readonly=True) if result is not None else get_extension(cmd, cluster)
        if state_of(ext) == "Failed":
            _raise_failed(cmd, cluster, ext)
        # A write that raced with another client's replace would not show our keys: check and redo.
        current = (ext.get("properties") or {}).get("configurationSettings") or {}
        if all(current.get(k) == v for k, v in settings.items()):
            return ext
    raise AzureResponseError(f"Could not write to {EXTENSION_NAME} on cluster '{cluster.name}': it stayed busy "
                             f"after {MAX_ATTEMPTS} attempts.",
                             recommendation="Wait for the running operation to finish, then retry.")


def put_record(cmd, cluster, record, progress=None, no_wait=False, known=_UNKNOWN):
    from azext_aks_connection.model import dump_record
    return write_settings(cmd, cluster, {setting_key(record["name"]): dump_record(record)}, progress, no_wait,
                          known)


def remove_record(cmd, cluster, name, progress=None, no_wait=False, known=_UNKNOWN):
    return write_settings(cmd, cluster, {setting_key(name): None}, progress, no_wait, known)
