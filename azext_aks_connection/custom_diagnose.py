# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`az aks connection validate` and `az aks connection troubleshoot`: print every result, and exit
non-zero when one of them is a failure (so CI can gate on it while a person reads the table)."""
from knack.log import get_logger

from azext_aks_connection import _validators as v

logger = get_logger(__name__)
EXIT_FAILED_CHECK = 1


def exit_code_after_output(cmd, code):
    """Make az exit with ``code`` once the result is printed: knack reads the exit code before printing and
    offers no other way to return both output and a non-zero code; a handler of the event raised right
    after printing ends the command with that code (in a real process and in-process alike)."""
    from knack.events import EVENT_CLI_SUCCESSFUL_EXECUTE
    cli_ctx = cmd.cli_ctx

    def handler(cli, **_):
        cli.unregister_event(EVENT_CLI_SUCCESSFUL_EXECUTE, handler)
        raise SystemExit(code)

    cli_ctx.register_event(EVENT_CLI_SUCCESSFUL_EXECUTE, handler)


def _fixes_under_the_table(cmd, results):
    """-o table: each fix on a line of its own under the table, by the reference its row shows (a table cell would
    cut it)."""
    from knack.events import EVENT_CLI_SUCCESSFUL_EXECUTE
    from azext_aks_connection._format import fix_refs
    invocation = getattr(cmd.cli_ctx, "invocation", None)
    if (getattr(invocation, "data", None) or {}).get("output") != "table" or not fix_refs(results):
        return

    def handler(cli, **_):
        cli.unregister_event(EVENT_CLI_SUCCESSFUL_EXECUTE, handler)
        for row, ref in fix_refs(results):
            logger.warning("%s %s: %s", ref, row["name"], row["recommendation"])

    cmd.cli_ctx.register_event(EVENT_CLI_SUCCESSFUL_EXECUTE, handler)


def _finish(cmd, results, what):
    _fixes_under_the_table(cmd, results)
    failed = [r for r in results if r["result"] == "failure"]
    if failed:
        logger.warning("%d of %d %s failed: %s.", len(failed), len(results), what,
                       ", ".join(r["name"].rstrip(".") for r in failed))
        exit_code_after_output(cmd, EXIT_FAILED_CHECK)
    return results


def connection_validate(cmd, resource_group_name=None, cluster=None, connection_name=None, connection_id=None):
    """aks-connection's checks on what is really there, for connections of both engines; for a Service Connector
    connection also the resource provider's own verdict (validateLinker), as rows named 'Service Connector: …'."""
    from azext_aks_connection.custom import _find, _progress
    from azext_aks_connection.provider import linkers
    from azext_aks_connection.provider import validate
    cluster_ref, found, engine = _find(cmd, resource_group_name, cluster, connection_name, connection_id)
    if engine == linkers.ENGINE_LOCAL:
        return _finish(cmd, validate.run(cmd, cluster_ref, found), "checks")
    progress = _progress(cmd)
    try:
        progress(f"Validating Service Connector connection '{found['name']}'")
        results = validate.run(cmd, cluster_ref, linkers.to_record(found))
        results += [{"name": f"Service Connector: {d['name']}",
                     "description": "The Service Connector resource provider's own check (validateLinker).",
                     "result": d["result"], "errorMessage": d["errorMessage"], "errorCode": None,
                     "recommendation": None}
                    for d in linkers.rp_validation(cmd, cluster_ref, found["name"], progress)]
    finally:
        progress.end()
    return _finish(cmd, results, "checks")


def connection_troubleshoot(cmd, resource_group_name=None, cluster=None, source_id=None):
    from azext_aks_connection.provider import troubleshoot
    cluster_ref = v.resolve_cluster(cmd, resource_group_name, cluster, source_id)
    return _finish(cmd, troubleshoot.public(troubleshoot.run(cmd, cluster_ref)), "findings")
