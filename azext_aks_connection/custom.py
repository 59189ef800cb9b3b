"""Command implementations: parse arguments into a ConnectionSpec, call the provider layer,
return the output dict. Everything that can be checked locally is checked before any call."""
import os
import random
import re
import string

from azure.cli.core.azclierror import (InvalidArgumentValueError, MutuallyExclusiveArgumentError,
                                       RequiredArgumentMissingError, ResourceNotFoundError)
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


IDENTITY_ID = re.compile(r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/[^/]+/providers/"
                         r"Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$", re.IGNORECASE)
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _service_principal(values):
    """client-id=… secret=… [object-id=…] -> dict; every value checked before any request."""
    parsed = {}
    for item in values:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if sep and key in ("client-id", "secret", "object-id") and value and not value.strip():
            raise InvalidArgumentValueError(f"--service-principal {key} is blank (only white space).",
                                            recommendation=f"Pass the real value: {key}=XX, or {key}=@<file> "
                                            "holding it.")
        if not sep or key not in ("client-id", "secret", "object-id") or not value:
            raise InvalidArgumentValueError(
                f"Invalid value for --service-principal: '{item.split('=')[0]}=…'. "
                "Usage: --service-principal client-id=XX secret=XX [object-id=XX]",
                recommendation="For example: --service-principal client-id=<appId> secret=<password> "
                "object-id=<object id of the service principal>")
        if key in parsed:
            raise InvalidArgumentValueError(f"--service-principal: '{key}' is given twice.")
        parsed[key] = value
    missing = [k for k in ("client-id", "secret") if k not in parsed]
    if missing:
        raise RequiredArgumentMissingError(
            "--service-principal needs " + " and ".join(f"{k}=XX" for k in missing) + ".",
            recommendation="Usage: --service-principal client-id=XX secret=XX [object-id=XX]")
    # secret=@file keeps the secret off the command line, which `az --debug` echoes before any extension runs.
    parsed["secret"] = _read_file_value(parsed["secret"], "--service-principal secret")
    for key in ("client-id", "object-id"):
        if key in parsed and not GUID.match(parsed[key]):
            raise InvalidArgumentValueError(f"--service-principal {key} must be a GUID.",
                                            recommendation=f"Pass the service principal's {key} as shown by "
                                            "'az ad sp show --id <appId>'.")
    return {"client_id": parsed["client-id"], "client_secret": parsed["secret"],
            "object_id": parsed.get("object-id")}


def _read_file_value(value, what):
    """@<file> -> the file's content (stripped): keeps a secret off the command line, which az --debug echoes."""
    if not value.startswith("@"):
        return value
    path = os.path.expanduser(value[1:])
    try:
        with open(path, encoding="utf-8") as f:
            content = f.read().strip()
    except OSError as exc:
        raise InvalidArgumentValueError(f"{what}=@{path}: cannot read the file ({exc.strerror}).") from None
    if not content:
        raise InvalidArgumentValueError(f"{what}=@{path}: the file is empty.")
    return content


def _secret_values(wanted, items):
    """--secret name=XX secret=XX -> {field: value} of the target's user values."""
    usage = "--secret " + " ".join(f"{u.key}=XX" for u in wanted)
    by_key = {u.key: u for u in wanted}
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in by_key or not value:
            raise InvalidArgumentValueError(f"Invalid value for --secret: '{item.split('=')[0]}=…'. Usage: {usage}",
                                            recommendation=f"For example: {usage}")
        values[by_key[key].field] = _read_file_value(value, f"--secret {key}") if by_key[key].credential else value
    missing = [u.key for u in wanted if u.field not in values]
    if missing:
        raise RequiredArgumentMissingError("--secret needs " + " and ".join(f"{k}=XX" for k in missing) + ".",
                                           recommendation=f"Usage: {usage}")
    return values


def _option_values(target, given):
    """The target's user values that have options of their own (--server, --kafka-key, …): all required."""
    values, missing = {}, []
    for u in target.user_values:
        if u.option == "--secret":
            continue
        value = given.get("user_" + u.field)
        if not value:
            missing.append(u.option)
            continue
        values[u.field] = _read_file_value(value, u.option) if u.credential else value
    if missing:
        raise RequiredArgumentMissingError("Required argument is missing: " + ", ".join(missing) + ".",
                                           recommendation=f"{target.display} needs " + ", ".join(
                                               u.option for u in target.user_values if u.option != "--secret"))
    return values


def _auth_from_args(target, secret_auth_info=None, workload_identity_auth_info=None,
                    service_principal_auth_info=None, enable_csi=None):
    """(auth type, auth details) from the arguments: exactly one auth type, the default when none."""
    given = []
    if secret_auth_info is not None:
        wanted = [u for u in target.user_values if u.option == "--secret"]
        if secret_auth_info and not wanted:
            raise InvalidArgumentValueError(
                f"{target.display} takes its secret from the target itself: use --secret with no values.",
                recommendation="For example: --secret")
        given.append((t.AUTH_SECRET, {"user_values": _secret_values(wanted, secret_auth_info)}
                      if wanted else {}))
    if workload_identity_auth_info is not None:
        if not IDENTITY_ID.match(workload_identity_auth_info):
            raise InvalidArgumentValueError(
                f"Invalid user identity resource ID: '{workload_identity_auth_info}'.",
                recommendation="Pass the full resource id of a user-assigned identity to --workload-identity; list "
                "yours with: az identity list --query \"[].id\" -o tsv")
        given.append((t.AUTH_WORKLOAD_IDENTITY, {"identity_id": workload_identity_auth_info}))
    if service_principal_auth_info is not None:
        given.append((t.AUTH_SERVICE_PRINCIPAL, _service_principal(service_principal_auth_info)))
    if enable_csi:
        if given:
            raise MutuallyExclusiveArgumentError(
                "--enable-csi uses the managed identity of the AKS azureKeyvaultSecretsProvider add-on: it takes no "
                "other auth argument (" + ", ".join("--" + a for a, _ in given) + " given).",
                recommendation="Drop " + ", ".join("--" + a for a, _ in given) + ", or drop --enable-csi to connect "
                "with that auth type instead.")
        return t.AUTH_CSI, {}
    if len(given) > 1:
        raise MutuallyExclusiveArgumentError(
            "Use one auth type: " + ", ".join("--" + a for a, _ in given) + " were given.")
    if given:
        return given[0]
    default = t.default_auth_type(target)
    if default is None:
        secret_usage = " ".join(f"{u.key}=XX" for u in target.user_values if u.option == "--secret")
        options = [f"--{a}" + (f" {secret_usage}" if a == t.AUTH_SECRET and secret_usage else "")
                   for a in t.offered_auth_types(target)] + (["--enable-csi"] if target.csi else [])
        raise RequiredArgumentMissingError(
            f"Auth info is not specified: {target.display} needs one of " + ", ".join(options) + ".",
            recommendation="For example: --workload-identity <user-assigned identity resource id>"
            if t.AUTH_WORKLOAD_IDENTITY in options[0] else "Pass " + options[0])
    if not target.user_values:
        logger.warning("Auth info is not specified, use default one: --%s", default)
    return default, {}


def _customized_keys(target, auth, client_type, values):
    """ORIGINAL=NEW ... -> {ORIGINAL: NEW}; ORIGINAL must be a key of this auth and client type."""
    if not values:
        return None
    known = [k.key for k in target.keys_for(auth, client_type)]
    mapping = {}
    for item in values:
        original, sep, new = item.partition("=")
        if not sep or not original or not new:
            raise InvalidArgumentValueError(f"Invalid value for --customized-keys: '{item}'. Usage: "
                                            "--customized-keys ORIGINAL=NEW ...",
                                            recommendation="For example: --customized-keys "
                                            f"{known[0] if known else 'AZURE_X'}=MY_X")
        if original in mapping:
            raise InvalidArgumentValueError(
                f"--customized-keys: '{original}' is renamed twice ({original}={mapping[original]} and {item}).",
                recommendation=f"Give one name: --customized-keys {original}={new}")
        if original not in known:
            raise InvalidArgumentValueError(
                f"--customized-keys: '{original}' is not a configuration key of this connection.",
                recommendation="Keys of this auth and client type: " + ", ".join(known))
        if not SECRET_KEY.match(new):
            raise InvalidArgumentValueError(
                f"--customized-keys: '{new}' cannot be a Kubernetes Secret key: use letters, digits, '-', '_' "
                "or '.'.")
        mapping[original] = new
    names = [mapping.get(k, k) for k in known]
    if len(set(names)) != len(names):
        raise InvalidArgumentValueError("--customized-keys: two configuration keys would get the same name.")
    return mapping


SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


def _build_spec(target, cluster_ref, connection_name, tid, client_type, *, scope, auth, auth_info, roles,
                customized_keys, opt_out_list):
    """The checks every create and update makes before any request, then the ConnectionSpec."""
    from azext_aks_connection.model import ConnectionSpec
    if client_type not in target.client_types:
        raise InvalidArgumentValueError(f"Client type '{client_type}' is not supported for {target.name}.",
                                        recommendation="Use one of: " + ", ".join(target.client_types))
    if any(not (r or "").strip() for r in roles or []):
        example = (target.roles or ["Reader"])[0]
        raise InvalidArgumentValueError("--role is empty: name a role, or leave --role out for the target's default "
                                        "roles.", recommendation=f"For example: --role \"{example}\"")
    roles = [r.strip() for r in roles or []] or None
    opt_out = set(opt_out_list or []) - {"none"}
    if roles and auth == t.AUTH_SECRET:
        raise InvalidArgumentValueError("--role applies to identity auth only (--workload-identity, "
                                        "--service-principal, --enable-csi), not to --secret.")
    if roles and "auth" in opt_out:
        raise MutuallyExclusiveArgumentError("--role grants a role, --opt-out auth skips granting: use one.")
    if auth == t.AUTH_SERVICE_PRINCIPAL and roles and not auth_info.get("object_id"):
        raise RequiredArgumentMissingError("--role needs the service principal's object-id to grant the role to.",
                                           recommendation="Add object-id=<object id> to --service-principal.")
    keys = _customized_keys(target, auth, client_type, customized_keys)
    if auth == t.AUTH_SERVICE_PRINCIPAL and not auth_info.get("object_id") and target.roles \
            and "auth" not in opt_out:
        from azext_aks_connection.provider.target import resource_id
        logger.warning("--service-principal has no object-id: no role is granted on the target. Grant one with: "
                       "az role assignment create --assignee-object-id <object id> --assignee-principal-type "
                       "ServicePrincipal --role \"%s\" --scope %s", target.roles[0], resource_id(target, tid))
    return ConnectionSpec(cluster_ref, connection_name, target, tid, auth, client_type, scope,
                          auth_info=auth_info, roles=roles, customized_keys=keys, opt_out=opt_out)


def _apply(cmd, spec, no_wait, dry_run=False):
    from azext_aks_connection.model import to_linker, configurations_output
    from azext_aks_connection.provider import local_engine
    progress = _progress(cmd)
    try:
        record, state = local_engine.create(cmd, spec, progress, no_wait=no_wait, dry_run=dry_run)
    finally:
        progress.end()
    if dry_run:
        _exit_code_of_plan(cmd, record)
        return record
    if spec.previous:
        _say_what_is_no_longer_used(spec.previous, record, spec.others)     # others: listed only when needed
    result = to_linker(record, spec.cluster, state)
    result["configurations"] = configurations_output(record)["configurations"]
    return result


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
        return sc_engine.create(cmd, spec, progress, no_wait=no_wait)
    finally:
        progress.end()


def connection_create(cmd, *, client_type=None, connection_name=None,  # pylint: disable=too-many-locals
                      resource_group_name=None, cluster=None, source_id=None, scope="default",
                      target_resource_group=None, target_id=None, secret_auth_info=None,
                      workload_identity_auth_info=None, service_principal_auth_info=None, enable_csi=None,
                      roles=None, customized_keys=None, opt_out_list=None, no_wait=False, engine=None,
                      dry_run=False, **target_names):
    target = _target_of(cmd)
    engine = _engine(cmd, engine)
    _refuse_dry_run(engine, dry_run)
    user_args = {k: target_names.pop(k) for k in list(target_names) if k.startswith("user_")}
    # azure-cli hands a parameter's default as a str subclass that prints as {"isDefault": true}: a plain str.
    scope = str(scope) if scope is not None else "default"
    # Everything below up to plan.create is local: bad input fails before any request.
    v.validate_namespace(scope)
    if connection_name:
        v.validate_connection_name(connection_name)
    cluster_ref = v.resolve_cluster(cmd, resource_group_name, cluster, source_id)
    tid, _ = v.resolve_target(cmd, target, target_id, target_resource_group, target_names)
    if not connection_name:
        connection_name = f"{target.wire_name}_{''.join(random.sample(string.ascii_lowercase + string.digits, 5))}"
        logger.warning("Connection name is not specified, use generated one: --connection %s", connection_name)
    auth, auth_info = _auth_from_args(target, secret_auth_info, workload_identity_auth_info,
                                      service_principal_auth_info, enable_csi)
    if auth == t.AUTH_SECRET and target.user_values:
        auth_info = dict(auth_info, user_values=dict(auth_info.get("user_values") or {},
                                                     **_option_values(target, user_args)))
    spec = _build_spec(target, cluster_ref, connection_name, tid, client_type or "none", scope=scope, auth=auth,
                       auth_info=auth_info, roles=roles, customized_keys=customized_keys, opt_out_list=opt_out_list)
    if engine == "service-connector":
        return _apply_service_connector(cmd, spec, no_wait)
    return _apply(cmd, spec, no_wait, dry_run)


def connection_update(cmd, *, client_type=None, connection_name=None,  # pylint: disable=too-many-locals
                      resource_group_name=None, cluster=None, connection_id=None, scope=None,
                      secret_auth_info=None, workload_identity_auth_info=None, service_principal_auth_info=None,
                      enable_csi=None, roles=None, customized_keys=None, opt_out_list=None, no_wait=False,
                      dry_run=False, **user_args):
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
        auth, auth_info = _auth_from_args(target, secret_auth_info, workload_identity_auth_info,
                                          service_principal_auth_info, enable_csi)
    else:
        auth, auth_info = _auth_of_record(target, record)
    if auth == t.AUTH_SECRET and target.user_values:
        auth_info = dict(auth_info, user_values=dict(auth_info.get("user_values") or {},
                                                     **_option_values(target, user_args)))
    client_type = client_type or record.get("clientType") or "none"
    keys, opt_out, roles = _carried_over(target, record, auth, auth_info, client_type=client_type,
                                         customized_keys=customized_keys, opt_out_list=opt_out_list, roles=roles)
    target_service = record.get("targetService") or {}
    spec = _build_spec(target, cluster_ref, record["name"],
                       target_service.get("id") or target_service.get("endpoint"), client_type,
                       scope=record.get("scope") or "default", auth=auth, auth_info=auth_info, roles=roles,
                       customized_keys=keys, opt_out_list=opt_out)
    spec.must_exist = True      # an update never brings back a connection deleted meanwhile
    if engine == linkers.ENGINE_SERVICE_CONNECTOR:
        _refuse_dry_run("service-connector", dry_run)
        return _apply_service_connector(cmd, spec, no_wait)
    return _apply(cmd, spec, no_wait, dry_run)


def _carried_over(target, record, auth, auth_info, *, client_type, customized_keys, opt_out_list, roles):
    """update: (key renames, opt-outs, roles), the connection's own carried over where the update gives none."""
    keys = customized_keys
    old_keys = (record.get("configurationInfo") or {}).get("customizedKeys") or {}
    if keys is None and old_keys:
        # Carry the renames over, as the built-in does, for the keys the new auth and client type still have.
        known = {k.key for k in target.keys_for(auth, client_type)}
        keys = [f"{k}={v}" for k, v in old_keys.items() if k in known]
        dropped = sorted(set(old_keys) - known)
        if dropped:
            logger.warning("--customized-keys of %s no longer apply (not keys of this auth and client type).",
                           ", ".join(dropped))
    # The connection's opt-outs stay unless 'none' clears them: an update about something else must not grant
    # what the user opted out of.
    if opt_out_list and "none" in opt_out_list:
        opt_out = [o for o in opt_out_list if o != "none"]
    else:
        opt_out = sorted(set(_opt_out_of_record(record)) | set(opt_out_list or []))
    if roles is None and auth != t.AUTH_SECRET and "auth" not in opt_out:
        # Carry the connection's roles over where they can be granted (a service principal without its
        # object id gets none, with the warning that says how).
        if not (auth == t.AUTH_SERVICE_PRINCIPAL and not auth_info.get("object_id")):
            roles = (record.get("authInfo") or {}).get("roles")
    return keys, opt_out, roles


def _auth_of_record(target, record):
    """The auth of an existing connection, for an update that gives none."""
    from azext_aks_connection import auth
    return auth.of_record(target, record)


def _opt_out_of_record(record):
    from azext_aks_connection.model import opt_out_of_record
    return opt_out_of_record(record)


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


def connection_list_configuration(cmd, resource_group_name=None, cluster=None, connection_name=None,
                                  connection_id=None):
    from azext_aks_connection.model import configurations_output
    from azext_aks_connection.provider import linkers
    cluster_ref, found, engine = _find(cmd, resource_group_name, cluster, connection_name, connection_id)
    if engine == linkers.ENGINE_SERVICE_CONNECTOR:
        return linkers.list_configurations(cmd, cluster_ref, found["name"])
    return configurations_output(found)


def connection_delete(cmd, resource_group_name=None, cluster=None, connection_name=None, connection_id=None, *,
                      no_wait=False, cleanup=False, cleanup_features=False, dry_run=False):
    """Remove the connection's record. What it made stays unless --cleanup (then removed, but for what another
    connection uses); either way it is named. A connection that did not finish (Creating, Updating, Failed) is
    found with what it set out to make; one with no record by the connection-id annotation of its objects."""
    from azext_aks_connection.provider import cleanup as cleanup_ops
    if cleanup_features and not cleanup:
        raise InvalidArgumentValueError("--cleanup-features works with --cleanup.",
                                        recommendation="Add --cleanup.")
    cluster_ref, name = v.resolve_connection(cmd, resource_group_name, cluster, connection_name, connection_id)
    store = _records(cmd, cluster_ref)
    record = store.find(name)
    connection_id = cluster_ref.connection_id(record["name"] if record else name)
    if record is None:
        cluster_must_exist(cmd, cluster_ref)        # a mistyped cluster is an error, not "nothing to delete"
        if not dry_run and _delete_a_linker(cmd, cluster_ref, name, no_wait):
            return None
        entries = cleanup_ops.orphans(store.api, connection_id)
        if not entries and not dry_run:
            logger.warning("Connection '%s' does not exist on cluster '%s': nothing to delete.", name,
                           cluster_ref.name)
            return None
        others = list(store.records.values())
        record = {"name": name}
    else:
        from azext_aks_connection.provider.refusals import refuse_leased
        refuse_leased(record)           # another command is changing it: refused, nothing removed
        name = record["name"]
        others = [r for n, r in store.records.items() if n != name]
        entries = cleanup_ops.made_by(record)
    cleanup_ops.weigh(entries, record, others, cleanup_features=cleanup_features)
    if dry_run:
        return _deletion_plan(cmd, connection_id, name, record, entries, cleanup=cleanup)
    progress = _progress(cmd)
    try:
        for other, items in cleanup_ops.hand_over(entries, others):
            progress(f"Handing {len(items)} shared item(s) over to connection '{other['name']}'")
            store.put(other)        # compare-and-swap: a record changed meanwhile fails this delete, unwritten
        if cleanup:
            cleanup_ops.remove(cmd, cluster_ref, record, entries, api_client=store.api, connection_id=connection_id,
                               progress=progress, others=others)
        else:       # said before the record goes: what a delete killed at its one write has said already
            _say_what_was_done(record, entries, others, cleanup)
        if record.get("v"):
            progress(f"Removing the record of connection '{name}' from namespace {store.namespace}")
            store.delete(name)
    finally:
        progress.end()
    if cleanup:
        _say_what_was_done(record, entries, others, cleanup)
    return None


def _deletion_plan(cmd, connection_id, name, record, entries, *, cleanup):
    """delete --dry-run: what delete would remove (with --cleanup) and keep; exit 2 when it would remove any."""
    rows = [dict(e, action=e["action"] if cleanup or e["action"] == "keep" else "keep",
                 reason=e["reason"] or (None if cleanup else "delete keeps it without --cleanup")) for e in entries]
    if record.get("v"):
        rows.append({"step": "record", "action": "remove", "id": connection_id, "name": name, "detail": {},
                     "reason": None, "command": None})
    out = {"id": connection_id, "name": name, "dryRun": True, "steps": rows,
           "pendingChanges": len([r for r in rows if r["action"] == "remove"])}
    _exit_code_of_plan(cmd, out)
    return out


def _say_what_was_done(record, entries, others, cleanup):
    from azext_aks_connection.provider import record as plan
    removed = [e for e in entries if e["action"] == "remove" and e.get("outcome") in ("deleted", "disabled")]
    kept = [e for e in entries if e["action"] == "keep" and e["step"] != "clusterFeatures"]
    if not cleanup:
        if record.get("v"):
            _say_what_is_left(record, others)
        features = sorted({f for e in entries if e["step"] == "clusterFeatures" and not e.get("users")
                           for f in e["detail"].get("enable") or []})
        if features:
            logger.warning("Kept on AKS cluster '%s': %s, turned on by this connection (delete --cleanup "
                           "--cleanup-features turns off what it can; the OIDC issuer stays on).",
                           next(e["name"] for e in entries if e["step"] == "clusterFeatures"), ", ".join(features))
        grants = {x.lower() for x in ((record.get("provisioned") or {}).get("roleAssignments") or []) +
                  [(record.get("provisioned") or {}).get("federatedCredential") or ""] if x}
        unnamed = [e for e in entries if e["action"] == "remove" and e["step"] not in ("secret", "serviceAccount")
                   and (e["id"] or "").lower() not in grants] if record.get("v") else \
            [e for e in entries if e["action"] == "remove"]
        if unnamed:
            intro = f"Also made by connection '{record['name']}' ({plan.state_of(record)}) and left in place" \
                if record.get("v") else f"Connection '{record['name']}' does not exist (it has no record): nothing " \
                "to delete. Left in place from it, found by their connection-id annotation"
            logger.warning("%s: %s. Remove them with 'az aks connection delete … --cleanup'%s.", intro,
                           ", ".join(_what(e) for e in unnamed),
                           ", or: " + "; ".join(e["command"] for e in unnamed if e["command"])
                           if any(e["command"] for e in unnamed) else "")
        return
    if removed:
        logger.warning("Removed what connection '%s' made: %s.", record["name"], ", ".join(_what(e) for e in removed))
    not_ours = [e for e in entries if e.get("outcome") == "not ours"]
    if not_ours:
        logger.warning("Kept, no longer written by this connection (another connection-id annotation): %s.",
                       ", ".join(_what(e) for e in not_ours))
    if kept:
        logger.warning("Kept: %s.", "; ".join(f"{_what(e)} ({e['reason']})" for e in kept))


def _what(entry):
    step = entry["step"]
    if step == "firewall":
        return f"firewall rule for {entry['name']} on {entry['id'].split('/')[-1]}"
    if step in ("secret", "serviceAccount"):
        return f"{step} {entry['name']} in namespace {entry['detail'].get('namespace')}"
    if step == "clusterFeatures":
        return f"{', '.join(entry['detail'].get('disable') or [])} on AKS cluster {entry['name']}"
    return f"{step} {entry['id']}"


def _delete_a_linker(cmd, cluster_ref, name, no_wait):
    """A Service Connector connection of that name is deleted through Service Connector. True when there was one."""
    from azext_aks_connection.provider import linkers, sc_engine
    try:
        linker = linkers.get_linker(cmd, cluster_ref, name)
    except linkers.Unavailable:
        return False
    if linker is None:
        return False
    progress = _progress(cmd)
    try:
        sc_engine.delete(cmd, cluster_ref, linker["name"], progress, no_wait=no_wait)
    finally:
        progress.end()
    names = linker.get("kubernetesResourceName") or {}
    logger.warning("Service Connector connection '%s' is deleted; as Service Connector does, it left %s in namespace "
                   "'%s'.", linker["name"], ", ".join(f"{k} {v}" for k, v in sorted(names.items())),
                   linker.get("scope") or "default")
    return True


def _say_what_is_no_longer_used(before, after, others):
    """An update that changed the auth, identity, roles or opt-outs: name what the connection used before and
    no longer does (it stays in place: workloads may still rely on it), with the commands that remove it.
    ``others``: () -> the other connections' records (read only when something is no longer used)."""
    ns = before.get("scope") or "default"
    new_kinds = after.get("kubernetesResourceName") or {}
    new_grants = after.get("provisioned") or {}
    old_grants = before.get("provisioned") or {}
    kinds = {k: v for k, v in (before.get("kubernetesResourceName") or {}).items() if new_kinds.get(k) != v}
    roles = [r for r in old_grants.get("roleAssignments") or []
             if r.lower() not in {x.lower() for x in new_grants.get("roleAssignments") or []}]
    fic = old_grants.get("federatedCredential")
    fic = fic if fic and fic != new_grants.get("federatedCredential") else None
    if not (kinds or roles or fic):
        return
    left = {"scope": ns, "kubernetesResourceName": kinds,
            "provisioned": {"roleAssignments": roles, "federatedCredential": fic}}
    _say_what_is_left(left, list(others()) + [after], intro="No longer used by this connection and left in place")


def _say_what_is_left(record, others, intro=None):
    """Name what delete leaves in place and how to remove it, leaving out what another connection still uses
    (a ServiceAccount, a role assignment or a federated credential shared by connections of one identity)."""
    namespace = record.get("scope") or "default"
    used = {(r.get("scope") or "default", kind, obj) for r in others
            for kind, obj in (r.get("kubernetesResourceName") or {}).items()}
    grants_used = {g.lower() for r in others for g in ((r.get("provisioned") or {}).get("roleAssignments") or []) +
                   [(r.get("provisioned") or {}).get("federatedCredential") or ""] if g}
    kinds = record.get("kubernetesResourceName") or {}
    mine = {kind: obj for kind, obj in kinds.items() if (namespace, kind, obj) not in used}
    shared = {kind: obj for kind, obj in kinds.items() if kind not in mine}
    if mine:
        deletes = "; ".join(f"kubectl delete {'serviceaccount' if kind == 'serviceAccount' else kind} {obj} -n "
                            f"{namespace}" for kind, obj in sorted(mine.items()))
        logger.warning("%s in namespace '%s' (%s). Delete them with: %s",
                       intro or "The Kubernetes resources of this connection are left in place", namespace,
                       ", ".join(f"{kind} {obj}" for kind, obj in sorted(mine.items())), deletes)
    if shared:
        logger.warning("Kept in namespace '%s', used by other connections: %s.", namespace,
                       ", ".join(f"{kind} {obj}" for kind, obj in sorted(shared.items())))
    grants = record.get("provisioned") or {}
    roles = [rid for rid in grants.get("roleAssignments") or [] if rid.lower() not in grants_used]
    fic = grants.get("federatedCredential")
    fic = fic if fic and fic.lower() not in grants_used else None
    if roles or fic:
        logger.warning("%s: role assignments and the federated credential are kept (workloads may still rely on "
                       "them). Remove them with: %s", intro or "Deleted", "; ".join(
                           [f"az role assignment delete --ids {rid}" for rid in roles] +
                           ([f"az resource delete --ids {fic} --api-version 2023-01-31"] if fic else [])))
    kept = len(grants.get("roleAssignments") or []) - len(roles) + \
        (1 if grants.get("federatedCredential") and not fic else 0)
    if kept:
        logger.warning("%d role assignment(s) or federated credential(s) of this connection are kept: other "
                       "connections use them.", kept)


def connection_list_support_types(cmd, target_type=None):  # pylint: disable=unused-argument
    rows = []
    for name, target in sorted(t.TARGETS.items()):
        if target_type and name != target_type:
            continue
        rows.append({"source": "aks", "target": name,
                     "auth_types": t.offered_auth_types(target) + ([t.AUTH_CSI] if target.csi else []),
                     "client_types": list(target.client_types)})
    return rows
