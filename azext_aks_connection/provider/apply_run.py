# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Many connection plans in one process (``az aks connection apply``): each connection goes through the engine a
create uses (local_engine.create / sc_engine.create), with what they share done once:

* reads shared (provider/shared.py): one GET of each cluster, one credential request per cluster, one read of each
  target and identity;
* one cluster update per cluster, before its connections, turning on every feature they need (OIDC issuer and
  workload identity, the Key Vault CSI add-on): no connection then waits on an update of its own;
* connections applied concurrently (a bounded pool); federated-credential writes on one identity take turns
  (provider/identity.py), firewall rules are written conditionally and verified (provider/firewall.py);
* one result per connection: a failure is that connection's, with its error and fix; the others go on."""
from concurrent.futures import ThreadPoolExecutor

from knack.log import get_logger

from azext_aks_connection import targets as t

logger = get_logger(__name__)

WORKERS = 12        # connections in flight at once (each has its own concurrent reads: provider/graph.py)

CREATED, UPDATED, UNCHANGED, DELETED, FAILED = "created", "updated", "unchanged", "deleted", "failed"
WOULD = {CREATED: "would create", UPDATED: "would update", DELETED: "would delete"}


class Item:  # pylint: disable=too-few-public-methods
    """One connection of the run: its spec, engine and (once run) its result row."""

    def __init__(self, spec, engine, source=None):
        self.spec, self.engine, self.source = spec, engine, source
        self.result = None

    def row(self, result, *, error=None, plan=None):
        self.result = result_row(self.spec.cluster, self.spec.name, self.engine, result, error=error, plan=plan)
        return self.result


def result_row(cluster_ref, name, engine, result, *, error=None, plan=None):
    row = {"name": name, "cluster": cluster_ref.name, "resourceGroup": cluster_ref.resource_group,
           "id": cluster_ref.connection_id(name), "engine": engine, "result": result, "error": None, "fix": None}
    if error is not None:
        row["error"], row["fix"] = error_text(error)
    if plan is not None:
        row["pendingChanges"] = plan.get("pendingChanges", 0)
        row["steps"] = plan.get("steps")
    return row


def error_text(exc):
    """(cause, fix) of an error, as create prints them."""
    message = getattr(exc, "error_msg", None) or str(exc) or type(exc).__name__
    fixes = getattr(exc, "recommendations", None) or []
    return message, " ".join(fixes) or None


def run(cmd, items, *, dry_run, progress):
    """Run every item (grouped by cluster, clusters and connections concurrently); returns the result rows in the
    items' order."""
    from azext_aks_connection.provider import shared
    by_cluster = {}
    for it in items:
        by_cluster.setdefault(it.spec.cluster.id.lower(), []).append(it)
    progress(f"{'Planning' if dry_run else 'Applying'} {len(items)} connection(s) on {len(by_cluster)} cluster(s)")
    if any(any(_features_of(it)) for it in items):      # their identity and role reads need these SDKs
        from azext_aks_connection.provider.graph import prefetch
        prefetch("azure.mgmt.authorization", "azure.mgmt.msi")
    # The connections that need no cluster feature first: they run while the cluster updates run (one thread
    # each), and those that need one wait for their cluster's without keeping them from a thread.
    ordered = sorted(items, key=lambda it: any(_features_of(it)))
    with shared.sharing(), _quiet_pools():
        with ThreadPoolExecutor(max_workers=min(WORKERS, max(len(items), 1)) + len(by_cluster)) as pool:
            features = {cid: pool.submit(_cluster_features, cmd, group, dry_run, progress)
                        for cid, group in by_cluster.items()}
            futures = [pool.submit(_after, features[it.spec.cluster.id.lower()], _one, cmd, it, dry_run, progress)
                       for it in ordered]
            try:
                for f in futures:
                    f.result()
            except KeyboardInterrupt:
                # Ctrl+C: no connection starts any more; those under way finish (each records what it made)
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    return [it.result for it in items]


class _PoolFull:  # pylint: disable=too-few-public-methods
    """urllib3's "Connection pool is full, discarding connection": with many plans in flight more connections are
    open at a time than a pool keeps; the extra one is closed, nothing fails. Not a line for the user."""

    @staticmethod
    def filter(record):
        return not str(record.msg).startswith("Connection pool is full")


def _quiet_pools():
    import contextlib
    import logging

    @contextlib.contextmanager
    def quiet():
        pool_logger = logging.getLogger("urllib3.connectionpool")
        pool_logger.addFilter(_PoolFull)
        try:
            yield
        finally:
            pool_logger.removeFilter(_PoolFull)
    return quiet()


def _after(feature_future, fn, *args):
    """``fn(*args)`` once its cluster's update is over, for a connection that needs a feature it turns on (the
    others start at once); that update's failure is every connection's failure that needs it."""
    item = args[1]
    if _features_of(item) == (False, False):
        fn(*args)
        return
    failure = feature_future.result()
    if failure is not None:
        item.row(FAILED, error=failure)
        args[3](f"{item.spec.cluster.name}/{item.spec.name}: {FAILED}")
        return
    fn(*args)


def _features_of(item):
    """(workload identity, Key Vault CSI add-on) the item's connection needs on its cluster."""
    spec = item.spec
    if item.engine != "local" or "auth" in spec.opt_out:
        return False, False
    return spec.auth == t.AUTH_WORKLOAD_IDENTITY, spec.auth == t.AUTH_CSI


def _cluster_features(cmd, group, dry_run, progress):
    """One cluster update turning on every feature the cluster's connections need; None, or the error."""
    if dry_run:
        return None
    needing = [it for it in group if any(_features_of(it))]
    if not needing:
        return None
    from azext_aks_connection.provider import cluster as cluster_ops, permissions, shared
    ref = group[0].spec.cluster
    try:
        cluster = cluster_ops.get_cluster(cmd, ref)
        if _wanted(cluster, needing) is None:       # all on already: no plan is checked here
            return None
        wanted = _wanted(cluster, _viable(needing, cmd))
        if wanted is None:
            return None
        wi, csi = wanted
        permissions.refuse_missing(cmd.cli_ctx, [("Microsoft.ContainerService/managedClusters/write", ref.id)],
                                   what=f"turn on what the connections of AKS cluster '{ref.name}' need",
                                   subscription=ref.subscription)
        turning = cluster_ops.missing_features(cluster, wi, csi) or ["what its connections need"]
        progress(f"{ref.name}: turning on " + " and ".join(turning) + " (one cluster update)")
        after = cluster_ops.ensure_features(cmd, ref, cluster, progress, workload_identity=wi, kv_csi=csi)
        shared.remember(("cluster", ref.id.lower()), after)
    except Exception as exc:  # pylint: disable=broad-except  # each connection that needs it reports it
        return exc
    return None


def _wanted(cluster, items):
    """(workload identity, Key Vault CSI add-on) to turn on for ``items`` on ``cluster``; None when nothing is."""
    from azext_aks_connection.provider import cluster as cluster_ops
    wi, csi = (any(_features_of(it)[i] for it in items) for i in (0, 1))
    if not (wi or csi) or not cluster_ops.missing_features(cluster, wi, csi) and \
            not cluster_ops.outputs_pending(cluster, wi, csi):
        return None
    return wi, csi


def _silent(message=None):
    """The per-step progress of one connection of the run: its result line says enough."""
    return message


_silent.end = lambda: None


def _viable(items, cmd):
    """The items whose plan passes every check made before a write (their --dry-run: reads, refusals, the Azure
    permission preflight; nothing written): only these may turn a cluster feature on. One that is refused fails
    with its own error in _one, as its create would, and turns on nothing (the OIDC issuer cannot be turned off)."""
    from azext_aks_connection.provider import local_engine

    def passes(item):
        try:
            local_engine.create(cmd, item.spec, _silent, dry_run=True)
            return True
        except Exception:  # pylint: disable=broad-except  # _one reports it, with its cause and fix
            return False
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return [it for it, ok in zip(items, pool.map(passes, items)) if ok]


def _one(cmd, item, dry_run, progress):
    """Converge one connection through the engine a create uses; never raises: the row says what happened."""
    spec = item.spec
    try:
        if item.engine == "local":
            result, plan = _local(cmd, spec, dry_run, _silent)
        else:
            result, plan = _service_connector(cmd, spec, dry_run, _silent)
        item.row(WOULD.get(result, result) if dry_run else result, plan=plan)
    except Exception as exc:  # pylint: disable=broad-except  # one connection's failure; the others go on
        logger.debug("connection %s failed", spec.name, exc_info=True)
        item.row(FAILED, error=exc)
    except KeyboardInterrupt:
        item.row(FAILED, error=KeyboardInterrupt("interrupted (Ctrl+C)"))
        raise
    progress(f"{spec.cluster.name}/{spec.name}: {item.result['result']}")


def _local(cmd, spec, dry_run, say):
    from azext_aks_connection.provider import local_engine
    record, _ = local_engine.create(cmd, spec, say, dry_run=dry_run)
    if dry_run:
        pending = record.get("pendingChanges")
        return (CREATED if spec.previous is None else UPDATED if pending else UNCHANGED), record
    if spec.previous is None:
        return CREATED, None
    return (UNCHANGED if record is spec.previous else UPDATED), None


def _service_connector(cmd, spec, dry_run, say):
    """A Service Connector connection: PUT only when the linker is missing or differs from the file."""
    from azext_aks_connection.provider import linkers, sc_engine
    linker = linkers.get_linker(cmd, spec.cluster, spec.name)
    if linker is not None and same_linker(cmd, spec, linker):
        return UNCHANGED, None
    result = CREATED if linker is None else UPDATED
    if not dry_run:
        sc_engine.create(cmd, spec, say)
    return result, None


def same_linker(cmd, spec, linker):
    """Whether the linker is what ``spec`` asks for (its secret aside: Service Connector never returns one)."""
    from azext_aks_connection.model import opt_out_of_record
    record = _linker_record(linker)
    service = linker.get("targetService") or {}
    auth = linker.get("authInfo") or {}
    keys = (linker.get("configurationInfo") or {}).get("customizedKeys") or {}
    return t.auth_of(linker) == spec.auth and (linker.get("clientType") or "none") == spec.client_type \
        and (record.get("scope") or "default") == spec.namespace \
        and (service.get("id") or service.get("endpoint") or "").lower() == (spec.target_id or "").lower() \
        and dict(keys) == dict(spec.customized_keys or {}) and set(opt_out_of_record(record)) == set(spec.opt_out) \
        and (spec.roles is None or sorted(auth.get("roles") or []) == sorted(spec.roles)) \
        and _same_principal(cmd, spec, auth)


def _same_principal(cmd, spec, auth):
    """The linker's principal is the spec's: the service principal's ids, the workload identity's client id."""
    if spec.auth == t.AUTH_SERVICE_PRINCIPAL:
        info = spec.auth_info
        return (auth.get("clientId") or "").lower() == info["client_id"].lower() and \
            (auth.get("principalId") or "").lower() == (info.get("object_id") or "").lower()
    if spec.auth == t.AUTH_WORKLOAD_IDENTITY:
        from azext_aks_connection.provider import identity as identity_ops
        from azext_aks_connection.provider.arm import Arm
        iid = spec.auth_info["identity_id"]
        identity = identity_ops.get_identity(Arm(cmd.cli_ctx, subscription_id=iid.split("/")[2]), iid)
        return (auth.get("clientId") or "").lower() == (identity.get("client_id") or "").lower()
    return True


def _linker_record(linker):
    from azext_aks_connection.provider import linkers
    return linkers.to_record(linker)
