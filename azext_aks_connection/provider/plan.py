"""Create a connection: the steps on both planes, independent ones run concurrently.

    cluster GET ─┐                         ┌─ namespace → Secret ─┐
                 ├─ keys (target) ─────────┤                      ├─ record in sc-extension
    target GET ──┘   user credentials ─────┘   extension GET ─────┘

The record is written last, only once the Secret holds the values, so a connection that exists
is a connection that works; a failed run leaves no record and re-running it converges.
"""
import os
from concurrent.futures import ThreadPoolExecutor

from azext_aks_connection import model
from azext_aks_connection._validators import secret_name
from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider import extension as ext_ops
from azext_aks_connection.provider import kube as kube_ops
from azext_aks_connection.provider import target as target_ops
from azext_aks_connection.provider.arm import Arm


def parallel(**steps):
    """Run independent steps at once; returns {name: result}; re-raises the first failure.

    AKS_CONNECTION_SEQUENTIAL=1 runs them one after the other (bench/ compares the two)."""
    if os.environ.get("AKS_CONNECTION_SEQUENTIAL") == "1":
        return {name: fn() for name, fn in steps.items()}
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        futures = {name: pool.submit(fn) for name, fn in steps.items()}
        return {name: f.result() for name, f in futures.items()}


def _now():
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _caller(cmd):
    try:
        from azure.cli.core._profile import Profile
        return Profile(cli_ctx=cmd.cli_ctx).get_current_account_user()
    except Exception:  # pylint: disable=broad-except
        return None


def configurations(spec, values):
    return [{"name": k.key, "value": values[k.field], "credential": k.credential}
            for k in spec.target.keys_for(spec.auth, spec.client_type)]


def create(cmd, spec, progress, no_wait=False):
    """Apply the plan for ``spec``; returns (record, extension state)."""
    arm = Arm(cmd.cli_ctx, subscription_id=spec.target_id.split("/")[2])
    progress("Reading the cluster and the target")
    found = parallel(cluster=lambda: cluster_ops.get_cluster(cmd, spec.cluster),
                     target=lambda: target_ops.get_target(arm, spec.target, spec.target_id))
    progress("Fetching the target's configuration and the cluster's credentials")
    fetched = parallel(values=lambda: target_ops.fetch_values(arm, spec.target, spec.target_id, found["target"]),
                       kube=lambda: cluster_ops.kube_api(cmd, spec.cluster),
                       ext=lambda: ext_ops.prepare_write(cmd, spec.cluster, found["cluster"], progress))
    configs = configurations(spec, fetched["values"])
    names = {"secret": secret_name(spec.name)}

    progress(f"Writing Secret {names['secret']} in namespace {spec.namespace}")
    kube_ops.ensure_namespace(fetched["kube"], spec.namespace)
    kube_ops.apply_secret(fetched["kube"], spec.namespace, names["secret"],
                          {c["name"]: c["value"] for c in configs}, spec.id)

    existing = ext_ops.records_of(fetched["ext"]).get(spec.name)
    record = model.new_record(spec, configs, names, _caller(cmd), _now())
    if existing and _same(existing, record) and ext_ops.state_of(fetched["ext"]) == "Succeeded":
        return existing, "Succeeded"        # nothing to change: no write at all
    if existing:
        record["systemData"]["createdAt"] = existing.get("systemData", {}).get("createdAt")
        record["systemData"]["createdBy"] = existing.get("systemData", {}).get("createdBy")
    action = "Installing sc-extension and recording" if fetched["ext"] is None else "Recording"
    progress(f"{action} the connection in sc-extension")
    ext = ext_ops.put_record(cmd, spec.cluster, record, progress=progress, no_wait=no_wait, known=fetched["ext"])
    return record, ("Accepted" if no_wait else ext_ops.state_of(ext))


def _same(a, b):
    strip = ("systemData",)
    return {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}
