# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Connections as code: ``az aks connection apply --file`` converges the connections a file names (the file:
connfile.py), ``export`` writes a cluster's connections in that format. Each file entry becomes the spec
``create`` builds from its arguments (the same checks, the same errors) and goes through the same engine
(provider/apply_run.py runs the plans); ``--prune`` deletes through ``delete``."""
import os

from knack.log import get_logger

from azext_aks_connection import _validators as v
from azext_aks_connection import connfile
from azext_aks_connection import targets as t

logger = get_logger(__name__)

FILE_AUTH = {"secret": t.AUTH_SECRET, "workload-identity": t.AUTH_WORKLOAD_IDENTITY,
             "service-principal": t.AUTH_SERVICE_PRINCIPAL, "csi": t.AUTH_CSI}


def _refuse_file(error):
    """A file that cannot be applied: said as az says a usage error (the error and its fix), exit code 2, before
    any request."""
    error.print_error()
    error.send_telemetry()
    raise SystemExit(2)


def _entry_error(path, entry, exc):
    """An error of create's checks, for a file entry: the same class, cause and fix, with the file and line."""
    cls = type(exc) if hasattr(exc, "error_msg") else connfile.FileError
    message = getattr(exc, "error_msg", None) or str(exc)
    fixes = getattr(exc, "recommendations", None) or []
    err = cls(f"{path}: line {entry.line}, connections[{entry.index}] ('{entry.get('name')}'): {message}")
    err.recommendations = list(fixes) or ["See the file format: az aks connection apply --help."]
    return err


def _auth_args(entry):
    """create's auth arguments of an entry (--secret, --workload-identity, --service-principal, --enable-csi)."""
    auth = entry.get("auth")
    if auth is None:
        return {}
    if auth == "secret":
        return {"secret_auth_info": []}
    if auth == "workload-identity":
        return {"workload_identity_auth_info": entry.get("identity")}
    if auth == "csi":
        return {"enable_csi": True}
    sp = entry.get("servicePrincipal")
    values = [f"client-id={sp['clientId']}"] + ([f"object-id={sp['objectId']}"] if sp.get("objectId") else [])
    # the secret is set after parse_args (spec_of): a value starting with '@' is no path here
    return {"service_principal_auth_info": values + ["secret=(from the file's secretFile or secretEnv)"]}


def spec_of(cmd, path, entry):
    """The ConnectionSpec of a file entry, built as connection_create builds it from its arguments; (spec,
    engine). Every check here is local: nothing is requested."""
    from azext_aks_connection import spec as spec_args      # not on the help path (az imports this module there)
    from azure.cli.core.azclierror import AzCLIError
    from azext_aks_connection.custom import _refuse_store_namespace
    try:
        target = t.TARGETS.get(entry.get("target"))
        if target is None:
            raise entry.error(path, "target", f"'{entry.get('target')}' is not a target of az aks connection "
                              "create.", "Use one of: " + ", ".join(sorted(t.TARGETS)))
        namespace = entry.get("namespace", "default")
        v.validate_namespace(namespace)
        _refuse_store_namespace(cmd, namespace)
        v.validate_connection_name(entry.get("name"))
        cluster = entry.get("cluster")
        if cluster.lower().startswith("/subscriptions/"):
            if entry.get("resourceGroup"):
                raise entry.error(path, "resourceGroup", "give the cluster either as its resource id or as "
                                  "resourceGroup + its name, not both.")
            cluster_ref = v.resolve_cluster(cmd, None, None, cluster)
        else:
            if not entry.get("resourceGroup"):
                raise entry.error(path, "cluster", f"'{cluster}' is not a cluster resource id: give its "
                                  "resourceGroup too.", "cluster: <name> with resourceGroup: <group>, or cluster: "
                                  "/subscriptions/…/managedClusters/<name>")
            cluster_ref = v.resolve_cluster(cmd, entry.get("resourceGroup"), cluster, None)
        tid, _ = v.resolve_target(cmd, target, entry.get("targetId"))
        given = _auth_args(entry)
        if entry.get("auth") and FILE_AUTH[entry.get("auth")] not in t.offered_auth_types(target) + \
                ([t.AUTH_CSI] if target.csi else []):
            raise entry.error(path, "auth", f"{target.display} does not take auth: {entry.get('auth')}.",
                              "Use one of: " + ", ".join(a if a != t.AUTH_CSI else "csi" for a in
                                                         t.offered_auth_types(target) + ([t.AUTH_CSI] if target.csi
                                                                                         else [])))
        auth, auth_info = spec_args.auth_from_args(target, **given)
        if auth == t.AUTH_SERVICE_PRINCIPAL:
            auth_info = dict(auth_info, client_secret=connfile.secret_of(path, entry))
        auth_info = spec_args.with_option_values(target, auth, auth_info, {})
        spec = spec_args.build_spec(target, cluster_ref, entry.get("name"), tid, entry.get("clientType", "none"),
                                    scope=namespace, auth=auth, auth_info=auth_info, roles=entry.get("roles"),
                                    customized_keys=[f"{k}={x}" for k, x in
                                                     (entry.get("customizedKeys") or {}).items()] or None,
                                    opt_out_list=entry.get("optOut"))
        engine = entry.get("engine", "local")
        if engine == "service-connector":
            from azext_aks_connection.provider import sc_engine
            sc_engine.refuse_name(spec.name)
            if auth == t.AUTH_SERVICE_PRINCIPAL:
                from azext_aks_connection.auth.service_principal import ServicePrincipalAuth
                ServicePrincipalAuth.refuse_without_object_id(spec)
    except connfile.FileError:
        raise
    except AzCLIError as exc:
        raise _entry_error(path, entry, exc) from None
    return spec, engine


def _load(cmd, path, clusters):
    """[apply_run.Item] of the file, limited to ``clusters`` (ids or names) when given; a bad file is refused."""
    from azext_aks_connection.provider.apply_run import Item
    from azure.cli.core.azclierror import AzCLIError
    try:
        entries = connfile.load(path)
        items = []
        for entry in entries:
            spec, engine = spec_of(cmd, path, entry)
            items.append(Item(spec, engine, source=entry))
        _refuse_too_many_credentials(path, items)
        if clusters:
            items = _limit(path, items, clusters)
    except AzCLIError as exc:
        _refuse_file(exc)
    return items


def _refuse_too_many_credentials(path, items):
    """Each (cluster, namespace) of a workload identity's connections is one federated credential on it, and an
    identity holds at most 20 (Microsoft Entra): a file that needs more on one identity is refused before any
    request, not failed half-way."""
    from azext_aks_connection.provider.identity import MAX_FICS
    needs = {}
    for it in items:
        if it.engine == "local" and it.spec.auth == t.AUTH_WORKLOAD_IDENTITY and "auth" not in it.spec.opt_out:
            needs.setdefault(it.spec.auth_info["identity_id"].lower(), {}).setdefault(
                (it.spec.cluster.id.lower(), it.spec.namespace), it)
    for identity, subjects in needs.items():
        if len(subjects) > MAX_FICS:
            first = list(subjects.values())[MAX_FICS]
            raise first.source.error(
                path, "identity", f"identity {identity.split('/')[-1]} would need {len(subjects)} federated "
                f"credentials (one per cluster and namespace of its connections): an identity holds at most "
                f"{MAX_FICS}.", "Spread those connections over more identities, or over fewer namespaces.")


def _limit(path, items, clusters):
    wanted = {c.rstrip("/").lower() for c in clusters}
    named = {it.spec.cluster.id.lower() for it in items} | {it.spec.cluster.name.lower() for it in items}
    unknown = sorted(c for c in wanted if c not in named)
    if unknown:
        raise connfile.FileError(f"--cluster {', '.join(unknown)}: not a cluster of {path}.",
                                 recommendation="Pass the resource id or name of a cluster the file names: " +
                                 ", ".join(sorted({it.spec.cluster.id for it in items})))
    return [it for it in items if it.spec.cluster.id.lower() in wanted or it.spec.cluster.name.lower() in wanted]


def _say(message=None):
    if message:
        logger.warning(message)


def connection_apply(cmd, file_path, *, dry_run=False, prune=False, clusters=None, yes=False):
    """Converge every connection the file names; one result per connection."""
    from azext_aks_connection.provider import apply_run
    items = _load(cmd, file_path, clusters)
    doomed = _prune_candidates(cmd, items) if prune else []
    if doomed and not dry_run and not yes:
        _confirm(doomed)
    rows = apply_run.run(cmd, items, dry_run=dry_run, progress=_say)
    rows += _prune(cmd, doomed, dry_run)
    failed = [r for r in rows if r["result"] == apply_run.FAILED]
    pending = [r for r in rows if r["result"] != apply_run.UNCHANGED]
    _exit_with(cmd, 1 if failed else 2 if dry_run and pending else 0)
    return rows


def _exit_with(cmd, code):
    """Exit ``code`` once the results are printed (as create --dry-run)."""
    if not code:
        return

    def leave(_cli_ctx, **_):
        raise SystemExit(code)
    from knack.events import EVENT_CLI_SUCCESSFUL_EXECUTE
    cmd.cli_ctx.register_event(EVENT_CLI_SUCCESSFUL_EXECUTE, leave)


def _prune_candidates(cmd, items):
    """[(cluster, name, engine)]: connections of the engines the file uses on each cluster it names that the file
    does not name. A cluster whose connections cannot be listed fails the run before anything is written."""
    from azext_aks_connection.custom import _records
    from azext_aks_connection.provider import linkers
    from azext_aks_connection.provider.graph import parallel
    clusters = {}
    for it in items:
        ref, names, engines = clusters.setdefault(it.spec.cluster.id.lower(), (it.spec.cluster, set(), set()))
        names.add(it.spec.name.lower())
        engines.add(it.engine)
    reads = {}
    for cid, (ref, _, engines) in clusters.items():
        if "local" in engines:
            reads["local " + cid] = lambda r=ref: sorted(_records(cmd, r).records.values(), key=lambda x: x["name"])
        if "service-connector" in engines:
            reads["service-connector " + cid] = lambda r=ref: linkers.list_linkers(cmd, r)
    found = parallel(**reads) if reads else {}
    out = []
    for key, connections in sorted(found.items()):
        engine, cid = key.split(" ", 1)
        ref, names, _ = clusters[cid]
        out += [(ref, c["name"], engine) for c in connections if c["name"].lower() not in names]
    return out


def _confirm(doomed):
    from knack.prompting import prompt_y_n, NoTTYException
    from azure.cli.core.azclierror import NoTTYError, ManualInterrupt
    listed = "\n".join(f"  {ref.name}/{name} ({engine})" for ref, name, engine in doomed)
    try:
        if not prompt_y_n(f"--prune deletes {len(doomed)} connection(s) the file does not name:\n{listed}\n"
                          "Are you sure?", default="n"):
            raise ManualInterrupt("Nothing was changed: --prune was not confirmed.")
    except NoTTYException:
        raise NoTTYError(f"--prune would delete {len(doomed)} connection(s) the file does not name "
                         f"({', '.join(n for _, n, _ in doomed)}) and cannot ask here (no terminal). Nothing was "
                         "changed.", recommendation="Check the list with --dry-run, then add --yes.") from None


def _prune(cmd, doomed, dry_run):
    """Delete (through delete, both engines) what --prune found; the record goes, as with delete without
    --cleanup, and what it made is named."""
    from azext_aks_connection.custom_delete import connection_delete
    from azext_aks_connection.provider import apply_run
    rows = []
    for ref, name, engine in doomed:
        if dry_run:
            rows.append(apply_run.result_row(ref, name, engine, apply_run.WOULD[apply_run.DELETED]))
            continue
        try:
            connection_delete(cmd, resource_group_name=ref.resource_group, cluster=ref.name,
                              connection_name=name)
            rows.append(apply_run.result_row(ref, name, engine, apply_run.DELETED))
        except Exception as exc:  # pylint: disable=broad-except  # that connection's failure; the others go on
            rows.append(apply_run.result_row(ref, name, engine, apply_run.FAILED, error=exc))
        _say(f"{ref.name}/{name}: {rows[-1]['result']}")
    return rows


def connection_export(cmd, resource_group_name=None, cluster=None, source_id=None, file_path=None):
    """A cluster's connections (both engines) as a connections file: applying it changes nothing. It never holds a
    secret (a service principal's is named by secretEnv)."""
    from azure.cli.core.azclierror import AzCLIError
    from azext_aks_connection.custom import _records
    from azext_aks_connection.provider import linkers
    from azext_aks_connection.provider.graph import or_error, parallel
    cluster_ref = v.resolve_cluster(cmd, resource_group_name, cluster, source_id)
    unreadable = (AzCLIError, linkers.Unavailable)
    found = parallel(store=lambda: or_error(_records, cmd, cluster_ref, errors=unreadable),
                     linkers=lambda: or_error(linkers.list_linkers, cmd, cluster_ref, errors=unreadable))
    store, linked = found["store"], found["linkers"]
    if isinstance(store, Exception):
        raise store             # a connection left out would be pruned by an apply of the export: no partial file
    if isinstance(linked, Exception):
        raise _unreadable(cluster_ref, linked)
    shown = [dict(r, engine="local") for r in store.records.values()] + list(linked)
    shown.sort(key=lambda c: (c["name"].lower(), c["engine"]))
    entries = [_export_entry(cmd, cluster_ref, c) for c in shown]
    if file_path:
        fmt = "json" if file_path.lower().endswith(".json") else "yaml"
        with open(os.path.expanduser(file_path), "w", encoding="utf-8") as f:
            f.write(connfile.dump(entries, fmt))
        logger.warning("Wrote %d connection(s) of AKS cluster '%s' to %s.", len(entries), cluster_ref.name,
                       file_path)
        return None
    return {"connections": entries}


def _unreadable(cluster_ref, exc):
    from azure.cli.core.azclierror import AzureResponseError
    return AzureResponseError(f"The Service Connector connections of AKS cluster '{cluster_ref.name}' cannot be "
                              f"listed: {exc.reason}. An export without them would lead an apply --prune of it to "
                              "delete them: nothing was written.",
                              recommendation="Re-run the export once they can be listed.")


def _export_entry(cmd, cluster_ref, shown):
    """One connection as a file entry: the keys create would need to make it again, defaults left out."""
    from azext_aks_connection.model import opt_out_of_record
    from azext_aks_connection.provider import linkers
    engine = shown.get("engine") or "local"
    record = linkers.to_record(shown) if engine == linkers.ENGINE_SERVICE_CONNECTOR else shown
    service = shown.get("targetService") or {}
    auth = t.auth_of(shown)
    entry = {"cluster": cluster_ref.id, "name": shown["name"],
             "target": shown.get("target") or t.target_of_resource_id(service.get("id") or ""),
             "targetId": service.get("id") or service.get("endpoint")}
    if (shown.get("scope") or "default") != "default":
        entry["namespace"] = shown["scope"]
    if (shown.get("clientType") or "none") != "none":
        entry["clientType"] = shown["clientType"]
    entry["auth"] = {v_: k for k, v_ in FILE_AUTH.items()}[auth]
    info = shown.get("authInfo") or {}
    if auth == t.AUTH_WORKLOAD_IDENTITY:
        entry["identity"] = _identity_of(cmd, shown, info)
    if auth == t.AUTH_SERVICE_PRINCIPAL:
        entry["servicePrincipal"] = dict({"clientId": info.get("clientId")}, **(
            {"objectId": info["principalId"]} if info.get("principalId") else {}),
            secretEnv=_secret_env(shown["name"]))
    if info.get("roles"):
        entry["roles"] = list(info["roles"])
    keys = (shown.get("configurationInfo") or {}).get("customizedKeys")
    if keys:
        entry["customizedKeys"] = dict(keys)
    opt_out = opt_out_of_record(record)
    if opt_out:
        entry["optOut"] = opt_out
    if engine != "local":
        entry["engine"] = engine
    return entry


def _secret_env(name):
    import re
    return "AKS_CONNECTION_SECRET_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def _identity_of(cmd, shown, info):
    """The identity's resource id: a local connection records it; a Service Connector linker names only its
    client id, looked up among the subscription's identities."""
    from azext_aks_connection.provider import identity as identity_ops
    from azext_aks_connection.provider.arm import Arm
    recorded = (shown.get("provisioned") or {}).get("identity")
    if recorded:
        return recorded
    sub = info.get("subscriptionId") or (shown.get("id") or "").split("/")[2]
    return identity_ops.identity_of_client_id(Arm(cmd.cli_ctx, subscription_id=sub), sub, info.get("clientId"))["id"]
