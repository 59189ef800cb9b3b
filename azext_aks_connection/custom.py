"""Command implementations: parse arguments into a ConnectionSpec, call the provider layer,
return the output dict. Everything that can be checked locally is checked before any call."""
import random
import string

from azure.cli.core.azclierror import InvalidArgumentValueError, ResourceNotFoundError
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


def _auth_from_args(target, secret_auth_info):
    """The one auth type asked for; the default when none was given (as the built-in does)."""
    given = []
    if secret_auth_info is not None:
        if secret_auth_info:
            raise InvalidArgumentValueError(
                f"{target.display} takes its secret from the target itself: use --secret with no values.",
                recommendation="For example: --secret")
        given.append(t.AUTH_SECRET)
    if given:
        return given[0]
    default = t.default_auth_type(target)
    logger.warning("Auth info is not specified, use default one: --%s", default)
    return default


def connection_create(cmd, client_type=None, connection_name=None,  # pylint: disable=too-many-locals
                      resource_group_name=None, cluster=None, source_id=None, scope="default",
                      target_resource_group=None, target_id=None, secret_auth_info=None, no_wait=False,
                      **target_names):
    from azext_aks_connection.model import ConnectionSpec, to_linker, configurations_output
    target = _target_of(cmd)
    # Everything below up to plan.create is local: bad input fails before any request.
    v.validate_namespace(scope)
    if connection_name:
        v.validate_connection_name(connection_name)
    cluster_ref = v.resolve_cluster(cmd, resource_group_name, cluster, source_id)
    tid, _ = v.resolve_target(cmd, target, target_id, target_resource_group, target_names)
    if not connection_name:
        connection_name = "{}_{}".format(target.wire_name,
                                         "".join(random.sample(string.ascii_lowercase + string.digits, 5)))
        logger.warning("Connection name is not specified, use generated one: --connection %s", connection_name)
    if not client_type:
        client_type = "none"
    if client_type not in target.client_types:
        raise InvalidArgumentValueError(f"Client type '{client_type}' is not supported for {target.name}.",
                                        recommendation="Use one of: " + ", ".join(target.client_types))
    auth = _auth_from_args(target, secret_auth_info)
    spec = ConnectionSpec(cluster_ref, connection_name, target, tid, auth, client_type, scope)

    from azext_aks_connection.provider import plan
    progress = _progress(cmd)
    try:
        record, state = plan.create(cmd, spec, progress, no_wait=no_wait)
    finally:
        progress.end()
    result = to_linker(record, cluster_ref, _linker_state(state))
    result["configurations"] = configurations_output(record)["configurations"]
    return result


def _linker_state(extension_state):
    if extension_state in (None, "Succeeded"):
        return "Succeeded"
    if extension_state == "Failed":
        return "Failed"
    return "Accepted"


def _records(cmd, cluster_ref):
    from azext_aks_connection.provider import extension as ext_ops
    ext = ext_ops.get_extension(cmd, cluster_ref)
    return ext_ops.records_of(ext), ext_ops.state_of(ext)


def _find(cmd, resource_group_name, cluster, connection_name, connection_id):
    cluster_ref, name = v.resolve_connection(cmd, resource_group_name, cluster, connection_name, connection_id)
    records, state = _records(cmd, cluster_ref)
    if name not in records:
        raise ConnectionNotFoundError(
            f"Connection '{name}' was not found on AKS cluster '{cluster_ref.name}' "
            f"(resource group '{cluster_ref.resource_group}').",
            recommendation=f"List the cluster's connections with 'az aks connection list -g "
            f"{cluster_ref.resource_group} -n {cluster_ref.name}'.")
    return cluster_ref, records[name], state


def connection_list(cmd, resource_group_name=None, cluster=None, source_id=None):
    from azext_aks_connection.model import to_linker
    cluster_ref = v.resolve_cluster(cmd, resource_group_name, cluster, source_id)
    from azext_aks_connection.provider import cluster as cluster_ops
    cluster_ops.get_cluster(cmd, cluster_ref)     # a missing cluster is an error, not an empty list
    records, state = _records(cmd, cluster_ref)
    return [to_linker(r, cluster_ref, _linker_state(state)) for _, r in sorted(records.items())]


def connection_show(cmd, resource_group_name=None, cluster=None, connection_name=None, connection_id=None):
    from azext_aks_connection.model import to_linker, configurations_output
    cluster_ref, record, state = _find(cmd, resource_group_name, cluster, connection_name, connection_id)
    result = to_linker(record, cluster_ref, _linker_state(state))
    result["configurations"] = configurations_output(record)["configurations"]
    return result


def connection_list_configuration(cmd, resource_group_name=None, cluster=None, connection_name=None,
                                  connection_id=None):
    from azext_aks_connection.model import configurations_output
    _, record, _ = _find(cmd, resource_group_name, cluster, connection_name, connection_id)
    return configurations_output(record)


def connection_delete(cmd, resource_group_name=None, cluster=None, connection_name=None, connection_id=None,
                      no_wait=False):
    from azext_aks_connection.provider import extension as ext_ops
    cluster_ref, name = v.resolve_connection(cmd, resource_group_name, cluster, connection_name, connection_id)
    ext = ext_ops.get_extension(cmd, cluster_ref)
    record = ext_ops.records_of(ext).get(name)
    if record is None:
        logger.warning("Connection '%s' does not exist on cluster '%s': nothing to delete.", name, cluster_ref.name)
        return None
    progress = _progress(cmd)
    try:
        progress(f"Removing connection '{name}' from sc-extension")
        ext_ops.remove_record(cmd, cluster_ref, name, progress=progress, no_wait=no_wait, known=ext)
    finally:
        progress.end()
    kinds = record.get("kubernetesResourceName") or {}
    left = ", ".join(f"{kind} {obj}" for kind, obj in sorted(kinds.items()))
    if left:
        logger.warning("The Kubernetes resources of this connection are left in place in namespace '%s' (%s). "
                       "Delete them with: kubectl delete secret %s -n %s", record.get("scope"), left,
                       kinds.get("secret"), record.get("scope"))
    return None


def connection_list_support_types(cmd, target_type=None):  # pylint: disable=unused-argument
    rows = []
    for name, target in sorted(t.TARGETS.items()):
        if target_type and name != target_type:
            continue
        rows.append({"source": "aks", "target": name, "auth_types": t.offered_auth_types(target),
                     "client_types": list(target.client_types)})
    return rows
