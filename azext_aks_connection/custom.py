# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Command implementations: parse arguments into a ConnectionSpec, call the provider layer,
return the output dict. Everything that can be checked locally is checked before any call."""

from azure.cli.core.azclierror import (InvalidArgumentValueError, RequiredArgumentMissingError,
                                       ResourceNotFoundError)
from knack.log import get_logger

from azext_aks_connection import _validators as v
from azext_aks_connection import targets as t

logger = get_logger(__name__)


class ConnectionNotFoundError(ResourceNotFoundError):
    """Carries status_code 404 so `show` exits 3 and `wait --created/--deleted` work as for any az resource."""
    status_code = 404


def _target_of(cmd):
    return t.TARGETS[cmd.name.split()[-1]]


def _progress(cmd):
    """A progress line on stderr for long steps (azure-cli's progress controller)."""
    controller = cmd.cli_ctx.get_progress_controller()
    state = {"msg": None}

    def report(message=None):
        if message:
            state["msg"] = message
            logger.info(message)
        controller.add(message=state["msg"] or "Running")

    report.end = controller.end
    return report


def _apply(cmd, spec, no_wait, dry_run=False):
    from azext_aks_connection.model import configurations_output, to_linker
    from azext_aks_connection.provider import graph, local_engine
    if not dry_run:
        graph.prefetch("azure.mgmt.servicelinker.models")      # the model to_linker prints the output with
    progress = _progress(cmd)
    try:
        record, state = local_engine.create(cmd, spec, progress, no_wait=no_wait, dry_run=dry_run)
    finally:
        progress.end()
    if dry_run:
        _exit_code_of_plan(cmd, record)
        return record
    if spec.previous:
        from azext_aks_connection.custom_delete import say_what_is_no_longer_used
        say_what_is_no_longer_used(spec.previous, record, spec.others)     # others: listed only when needed
    result = to_linker(record, spec.cluster, state)
    result["configurations"] = configurations_output(record)["configurations"]
    _say_next_step(spec)
    return result


def _say_next_step(spec):
    """One line on stderr after a create or update: how a pod uses what was made."""
    logger.warning("Next: 'az aks connection show --id %s --manifest' prints what a pod needs to use it (%s).",
                   spec.id, "the SecretProviderClass to edit and apply, and its volume" if spec.auth == t.AUTH_CSI
                   else "its serviceAccountName, label and envFrom" if spec.auth == t.AUTH_WORKLOAD_IDENTITY
                   else "the envFrom of its Secret")


def _exit_code_of_plan(cmd, output):
    """--dry-run exits 2 when changes are pending, 0 when nothing would change (as terraform plan
    -detailed-exitcode), after the plan is printed."""
    if not output.get("pendingChanges"):
        return

    def pending_exit(_cli_ctx, **_):
        raise SystemExit(2)
    from knack.events import EVENT_CLI_SUCCESSFUL_EXECUTE
    cmd.cli_ctx.register_event(EVENT_CLI_SUCCESSFUL_EXECUTE, pending_exit)


def _refuse_dry_run(engine, dry_run):
    if dry_run and engine == "service-connector":
        raise InvalidArgumentValueError(
            "--dry-run plans aks-connection's own (local) engine: Service Connector makes its connections itself "
            "and shows no plan before it does.",
            recommendation="Drop --dry-run, or plan the connection with --engine local.")


ENGINES = ("local", "service-connector")


def _engine(cmd, engine):
    engine = engine or cmd.cli_ctx.config.get("aks_connection", "engine", "local")
    if engine not in ENGINES:
        raise InvalidArgumentValueError(f"Engine '{engine}' is not known: use one of {', '.join(ENGINES)}.",
                                        recommendation="For example: --engine service-connector, or az config set "
                                        "aks_connection.engine=local")
    return engine


def _apply_service_connector(cmd, spec, no_wait):
    from azext_aks_connection.provider import sc_engine
    progress = _progress(cmd)
    try:
        made = sc_engine.create(cmd, spec, progress, no_wait=no_wait)
    finally:
        progress.end()
    if not no_wait:
        _say_next_step(spec)
    return made


def connection_create(cmd, *, client_type=None, connection_name=None,  # pylint: disable=too-many-locals
                      resource_group_name=None, cluster=None, source_id=None, scope="default",
                      target_resource_group=None, target_id=None, secret_auth_info=None,
                      workload_identity_auth_info=None, service_principal_auth_info=None, enable_csi=None,
                      roles=None, customized_keys=None, opt_out_list=None, no_wait=False, engine=None,
                      dry_run=False, break_lease=False, **target_names):
    # Imported here: az imports this module to describe every command on `az aks connection -h`.
    from azext_aks_connection import spec as spec_args
    target = _target_of(cmd)
    engine = _engine(cmd, engine)
    _refuse_dry_run(engine, dry_run)
    user_args = {k: target_names.pop(k) for k in list(target_names) if k.startswith("user_")}
    # azure-cli hands a parameter's default as a str subclass that prints as {"isDefault": true}: a plain str.
    scope = str(scope) if scope is not None else "default"
    # Everything below up to plan.create is local: bad input fails before any request.
    v.validate_namespace(scope)
    _refuse_store_namespace(cmd, scope)
    if connection_name is not None:         # given, even empty: checked (an empty one is no default)
        v.validate_connection_name(connection_name)
    cluster_ref = v.resolve_cluster(cmd, resource_group_name, cluster, source_id)
    tid, _ = v.resolve_target(cmd, target, target_id, target_resource_group, target_names)
    auth, auth_info = spec_args.auth_from_args(target, secret_auth_info, workload_identity_auth_info,
                                               service_principal_auth_info, enable_csi)
    if connection_name is None:
        connection_name = spec_args.default_name(target, tid, scope, auth)
        logger.warning("Connection name is not specified, use generated one: --connection %s (the same for every "
                       "create of this target, namespace and auth type: a re-run updates it)", connection_name)
    auth_info = spec_args.with_option_values(target, auth, auth_info, user_args)
    spec = spec_args.build_spec(target, cluster_ref, connection_name, tid, client_type or "none", scope=scope,
                                auth=auth, auth_info=auth_info, roles=roles, customized_keys=customized_keys,
                                opt_out_list=opt_out_list)
    spec.break_lease = bool(break_lease)
    if engine == "service-connector":
        return _apply_service_connector(cmd, spec, no_wait)
    return _apply(cmd, spec, no_wait, dry_run)


def _refuse_store_namespace(cmd, namespace):
    """The namespace of aks-connection's records never holds a credential (README): no connection writes there."""
    from azext_aks_connection.provider import store as store_ops
    if namespace == store_ops.namespace(cmd.cli_ctx):
        raise InvalidArgumentValueError(
            f"Namespace '{namespace}' holds aks-connection's connection records, never a credential: a connection "
            "cannot write its Secret or ServiceAccount there.",
            recommendation="Pass the namespace of the workload that uses the connection, for example: "
            "--kube-namespace orders")


def connection_update(cmd, *, client_type=None, connection_name=None,  # pylint: disable=too-many-locals
                      resource_group_name=None, cluster=None, connection_id=None, scope=None,
                      secret_auth_info=None, workload_identity_auth_info=None, service_principal_auth_info=None,
                      enable_csi=None, roles=None, customized_keys=None, opt_out_list=None, no_wait=False,
                      dry_run=False, break_lease=False, **user_args):
    """Re-apply a connection with what changed. Unlike the built-in (which resets it to 'default'), the
    connection keeps its namespace."""
    target = _target_of(cmd)
    auth_given = any(a is not None for a in (secret_auth_info, workload_identity_auth_info,
                                             service_principal_auth_info)) or bool(enable_csi)
    if not (client_type or auth_given or roles or customized_keys or opt_out_list or any(user_args.values())):
        if scope:
            raise InvalidArgumentValueError(
                "--kube-namespace cannot move a connection: the namespace of a connection cannot change.",
                recommendation="Delete the connection and create it again in the other namespace; to update it, "
                "give --client-type or an auth argument.")
        raise RequiredArgumentMissingError(
            "Either client type or auth info should be specified to update.",
            recommendation="For example: --client-type python, or an auth argument such as --secret.")
    if scope:
        v.validate_namespace(scope)
    from azext_aks_connection import auth as auth_types, spec as spec_args
    from azext_aks_connection.provider import linkers
    cluster_ref, record, engine = _find(cmd, resource_group_name, cluster, connection_name, connection_id)
    if engine == linkers.ENGINE_SERVICE_CONNECTOR:
        record = linkers.to_record(record)        # updated through Service Connector, as it was made
    if record.get("target") != target.name:
        raise InvalidArgumentValueError(
            f"Connection '{record['name']}' connects to {record.get('target')}, not {target.name}.",
            recommendation=f"Use 'az aks connection update {record.get('target')}'.")
    if scope and scope != record.get("scope"):
        raise InvalidArgumentValueError(
            f"Connection '{record['name']}' lives in namespace '{record.get('scope')}': the namespace of a "
            "connection cannot change.",
            recommendation="Delete the connection and create it again in the other namespace.")
    if auth_given:
        auth, auth_info = spec_args.auth_from_args(target, secret_auth_info, workload_identity_auth_info,
                                                   service_principal_auth_info, enable_csi)
    else:
        auth, auth_info = auth_types.of_record(target, record)
    auth_info = spec_args.with_option_values(target, auth, auth_info, user_args)
    client_type = client_type or record.get("clientType") or "none"
    keys, opt_out, roles = spec_args.carried_over(target, record, auth, auth_info, client_type=client_type,
                                                  customized_keys=customized_keys, opt_out_list=opt_out_list,
                                                  roles=roles)
    target_service = record.get("targetService") or {}
    spec = spec_args.build_spec(target, cluster_ref, record["name"],
                                target_service.get("id") or target_service.get("endpoint"), client_type,
                                scope=record.get("scope") or "default", auth=auth, auth_info=auth_info, roles=roles,
                                customized_keys=keys, opt_out_list=opt_out)
    spec.must_exist = True      # an update never brings back a connection deleted meanwhile
    spec.break_lease = bool(break_lease)
    if engine == linkers.ENGINE_SERVICE_CONNECTOR:
        _refuse_dry_run("service-connector", dry_run)
        return _apply_service_connector(cmd, spec, no_wait)
    return _apply(cmd, spec, no_wait, dry_run)


def _records(cmd, cluster_ref):
    """The cluster's connection Store (provider/store.py): one LIST of the record ConfigMaps."""
    from azext_aks_connection.provider import store as store_ops
    return store_ops.read(cmd, cluster_ref)


def cluster_must_exist(cmd, cluster_ref):
    """Raise the cluster's own not-found error (exit 3) when the cluster or its group does not exist: a
    connection is then not merely missing. Only called on the not-found path (one more read)."""
    from azext_aks_connection.provider import cluster as cluster_ops
    cluster_ops.get_cluster(cmd, cluster_ref)


def raise_not_found(cmd, cluster_ref, name):
    """Connection ``name`` is not on the cluster: the cluster's own not-found error when the cluster is
    missing, else ConnectionNotFoundError (exit 3) with the command that lists the connections."""
    cluster_must_exist(cmd, cluster_ref)
    raise ConnectionNotFoundError(
        f"Connection '{name}' was not found on AKS cluster '{cluster_ref.name}' "
        f"(resource group '{cluster_ref.resource_group}').",
        recommendation=f"List the cluster's connections with 'az aks connection list -g "
        f"{cluster_ref.resource_group} -n {cluster_ref.name}'.")


def _find(cmd, resource_group_name, cluster, connection_name, connection_id):
    """(cluster, connection, engine): aks-connection's record ("local"), else Microsoft's Service Connector linker of
    that name ("service-connector", its LinkerResource output). Either side may be unreadable: the other is still
    looked at; when neither has it, the local side's error (if any) or ConnectionNotFoundError."""
    from azure.cli.core.azclierror import AzCLIError
    from azure.core.exceptions import HttpResponseError
    from azext_aks_connection.provider import linkers
    cluster_ref, name = v.resolve_connection(cmd, resource_group_name, cluster, connection_name, connection_id)
    local_error = None
    try:
        record = _records(cmd, cluster_ref).find(name)      # case-insensitive, as ARM names are
    except (AzCLIError, HttpResponseError) as exc:
        record, local_error = None, exc
    if record is not None:
        return cluster_ref, record, linkers.ENGINE_LOCAL
    try:
        linker = linkers.get_linker(cmd, cluster_ref, name)
    except linkers.Unavailable as exc:
        linker = None
        logger.warning("Service Connector connections were not looked at: %s.", exc.reason)
    if linker is not None:
        if local_error is not None:
            logger.warning("aks-connection's own connections were not looked at: %s", local_error)
        return cluster_ref, linker, linkers.ENGINE_SERVICE_CONNECTOR
    if local_error is not None:
        raise local_error
    raise_not_found(cmd, cluster_ref, name)
    return None


def connection_list(cmd, resource_group_name=None, cluster=None, source_id=None):
    """Both engines' connections, marked: aks-connection's records ("local") and Microsoft's Service Connector
    linkers ("service-connector"). A side that cannot be read is named in a warning; both unreadable is an error."""
    from azure.cli.core.azclierror import AzCLIError
    from azure.core.exceptions import HttpResponseError
    from azext_aks_connection.model import to_linker
    from azext_aks_connection.provider import cluster as cluster_ops
    from azext_aks_connection.provider import linkers
    from azext_aks_connection.provider.graph import or_error as _or_error, parallel
    cluster_ref = v.resolve_cluster(cmd, resource_group_name, cluster, source_id)
    unreadable = (AzCLIError, HttpResponseError, linkers.Unavailable)
    # A missing cluster is an error, not an empty list.
    found = parallel(cluster=lambda: cluster_ops.get_cluster(cmd, cluster_ref),
                     store=lambda: _or_error(_records, cmd, cluster_ref, errors=unreadable),
                     linkers=lambda: _or_error(linkers.list_linkers, cmd, cluster_ref, errors=unreadable))
    store, linked = found["store"], found["linkers"]
    if isinstance(store, Exception) and isinstance(linked, Exception):
        raise store
    out = []
    if isinstance(store, Exception):
        logger.warning("aks-connection's own connections were not listed: %s", store)
    else:
        out += [dict(to_linker(r, cluster_ref), engine=linkers.ENGINE_LOCAL) for r in store.records.values()]
    if isinstance(linked, Exception):
        logger.warning("Service Connector connections were not listed: %s.", linked.reason)
    else:
        out += linked
    return sorted(out, key=lambda c: ((c.get("name") or "").lower(), c["engine"]))


def connection_show(cmd, resource_group_name=None, cluster=None, connection_name=None, connection_id=None, *,
                    manifest=False, objects=False, include_secrets=False):
    from azext_aks_connection.model import to_linker, configurations_output
    from azext_aks_connection.provider import linkers
    if (objects or include_secrets) and not manifest:
        raise InvalidArgumentValueError("--objects and --include-secrets work with --manifest.",
                                        recommendation="Add --manifest.")
    from azext_aks_connection.provider import failure
    cluster_ref, found, engine = _find(cmd, resource_group_name, cluster, connection_name, connection_id)
    if manifest:
        from azext_aks_connection.model import manifest as manifest_of
        record = linkers.to_record(found) if engine == linkers.ENGINE_SERVICE_CONNECTOR else found
        made = _manifest_objects(cmd, cluster_ref, record, include_secrets) if objects or include_secrets else []
        return manifest_of(record, made)
    if engine == linkers.ENGINE_SERVICE_CONNECTOR:
        result = found
    else:
        result = dict(to_linker(found, cluster_ref), engine=engine)
        result["configurations"] = configurations_output(found)["configurations"]
    if failure.is_failed(result) and not cmd.cli_ctx.data.get("aks_connection_waiting"):
        failure.warn_failed(cmd, cluster_ref, _with_failure(result, found, engine))   # why, and troubleshoot
    elif engine == linkers.ENGINE_LOCAL:
        _say_unfinished(cluster_ref, found)            # Creating / Updating: a command has not finished
    return result


def _manifest_objects(cmd, cluster_ref, record, include_secrets):
    """The connection's ServiceAccount and Secret as they are in the cluster, ready to apply elsewhere: server
    fields dropped, credential values masked unless ``include_secrets`` (which warns)."""
    import base64
    from azext_aks_connection.provider import cluster as cluster_ops
    from azext_aks_connection.provider import kube as kube_ops
    api = cluster_ops.kube_api(cmd, cluster_ref)
    ns, names = record.get("scope") or "default", record.get("kubernetesResourceName") or {}
    credentials = {c["name"] for c in record.get("configurations") or [] if c.get("credential")}
    out = []
    for kind, read in (("serviceAccount", kube_ops.read_service_account), ("secret", kube_ops.read_secret)):
        obj = read(api, ns, names[kind]) if names.get(kind) else None
        if obj is None:
            continue
        body = api.sanitize_for_serialization(obj)
        body.setdefault("apiVersion", "v1")
        body.setdefault("kind", "ServiceAccount" if kind == "serviceAccount" else "Secret")
        meta = body.get("metadata") or {}
        body["metadata"] = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
        if kind == "secret" and not include_secrets:
            body["data"] = {k: (base64.b64encode(b"(masked)").decode() if k in credentials else v)
                            for k, v in (body.get("data") or {}).items()}
        out.append(body)
    if include_secrets and credentials:
        logger.warning("The output holds the connection's credentials (%s): keep it out of logs and repositories.",
                       ", ".join(sorted(credentials)))
    return out


def _with_failure(shown, record, engine):
    """show's output, with the failure a local record holds (failure.py explains it)."""
    from azext_aks_connection.provider import linkers
    return dict(shown, failure=record.get("failure")) if engine == linkers.ENGINE_LOCAL else shown


def _unfinished_text(cluster_ref, record):
    """A connection a command is making (Creating / Updating), and what to do: None when it is not."""
    from azext_aks_connection.provider import record as plan
    state = plan.state_of(record)
    if state not in (plan.CREATING, plan.UPDATING):
        return None
    why = f"is {state}: the command making it has not finished (it may still run, or was interrupted)"
    where = f"-g {cluster_ref.resource_group} -n {cluster_ref.name} --connection {record['name']}"
    return (f"Connection '{record['name']}' {why}. Re-run the create or update that made it to finish it (it makes "
            f"only what is missing), look at it with 'az aks connection troubleshoot --source-id {cluster_ref.id}', "
            f"or remove what it made with 'az aks connection delete {where} --cleanup'.")


def _say_unfinished(cluster_ref, record):
    text = _unfinished_text(cluster_ref, record)
    if text:
        logger.warning(text)


def connection_wait_get(cmd, resource_group_name=None, cluster=None, connection_name=None, connection_id=None):
    """`wait`'s getter: show, with a missing connection as the 404 azure-cli's wait understands (--deleted ends,
    --created keeps waiting) instead of an error that ends the wait."""
    from azext_aks_connection.provider import failure
    cmd.cli_ctx.data["aks_connection_waiting"] = True
    try:
        cluster_ref, found, engine = _find(cmd, resource_group_name, cluster, connection_name, connection_id)
    except ConnectionNotFoundError as exc:
        from azure.core.exceptions import ResourceNotFoundError as NotFound
        gone = NotFound(message=exc.error_msg)
        gone.status_code = 404
        raise gone from exc
    from azext_aks_connection.model import to_linker
    from azext_aks_connection.provider import linkers
    shown = found if engine == linkers.ENGINE_SERVICE_CONNECTOR else dict(to_linker(found, cluster_ref), engine=engine)
    if failure.is_failed(shown):        # azure-cli's wait would say only "The operation failed"
        raise failure.failed_error(cmd, cluster_ref, _with_failure(shown, found, engine))
    return shown


def connection_wait(cmd, resource_group_name=None, cluster=None, connection_name=None, connection_id=None, *,
                    created=False, updated=False, deleted=False, exists=False, custom=None, interval=30,
                    timeout=3600):
    """azure-cli's generic wait, with what it lacks: the command fails when --timeout passes first (the generic one
    prints its timeout error as output and exits 0), and --timeout bounds the wait whatever --interval is (the
    generic one sleeps a whole interval past it)."""
    import threading
    import time
    from azure.cli.core.azclierror import UnclassifiedUserFault
    from azure.core.exceptions import ResourceNotFoundError as NotFound
    if not any([created, updated, deleted, exists, custom]):
        raise InvalidArgumentValueError("incorrect usage: --created | --updated | --deleted | --exists | --custom "
                                        "JMESPATH", recommendation="For example: --created")
    if interval is None or interval <= 0 or timeout is None or timeout < 0:
        raise InvalidArgumentValueError("--interval must be above 0 and --timeout at least 0 (seconds).",
                                        recommendation="For example: --interval 5 --timeout 600")
    deadline = time.monotonic() + timeout
    progress, seen = _progress(cmd), "not found"
    try:
        while True:
            try:
                shown = connection_wait_get(cmd, resource_group_name, cluster, connection_name, connection_id)
            except NotFound:
                if deleted:
                    return None
                shown, seen = None, "not found"
            if shown is not None:
                seen = f"provisioningState {shown.get('provisioningState') or 'Succeeded'}"
                if _wait_met(shown, created or updated, exists, custom):
                    return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise UnclassifiedUserFault(
                    f"The wait timed out after {timeout} seconds: the connection is {seen}.",
                    recommendation="Wait longer (--timeout), or see where it is: az aks connection show " +
                    (f"--id {connection_id}" if connection_id else
                     f"-g {resource_group_name} -n {cluster} --connection {connection_name}"))
            progress(f"Waiting for the connection ({seen})")
            threading.Event().wait(min(interval, left))
    finally:
        progress.end()


def _wait_met(shown, succeeded, exists, custom):
    if exists:
        return True
    if custom:
        from azure.cli.core.commands.arm import verify_property
        return bool(verify_property(shown, custom))
    return succeeded and (shown.get("provisioningState") or "Succeeded").lower() == "succeeded"


def connection_list_configuration(cmd, resource_group_name=None, cluster=None, connection_name=None,
                                  connection_id=None):
    from azext_aks_connection.model import configurations_output
    from azext_aks_connection.provider import linkers
    cluster_ref, found, engine = _find(cmd, resource_group_name, cluster, connection_name, connection_id)
    if engine == linkers.ENGINE_SERVICE_CONNECTOR:
        return linkers.list_configurations(cmd, cluster_ref, found["name"])
    return configurations_output(found)


def connection_list_support_types(cmd, target_type=None):  # pylint: disable=unused-argument
    rows = []
    for name, target in sorted(t.TARGETS.items()):
        if target_type and name != target_type:
            continue
        rows.append({"source": "aks", "target": name,
                     "auth_types": t.offered_auth_types(target) + ([t.AUTH_CSI] if target.csi else []),
                     "client_types": list(target.client_types)})
    return rows
