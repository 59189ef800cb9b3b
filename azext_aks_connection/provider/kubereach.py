# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""API servers out of reach: a user's words for a connection failure, the error that says why from the cluster's
settings (private cluster, authorized IP ranges, stopped) and what to do, and :func:`reaching`: one GET /version
(short timeout, no retry) before anything is written, alongside the first round of a command's requests."""
import contextlib
import threading

from knack.log import get_logger

from azext_aks_connection.provider.kubeclient import DEFAULT_TIMEOUT, KubeApiError, context_of

logger = get_logger(__name__)

PROBE_TIMEOUT = (5.0, 10.0)


def reason_of(exc, timeout=None):  # pylint: disable=too-many-return-statements  # one per kind of failure
    """A user's words for a urllib3 failure."""
    from urllib3.exceptions import (ConnectTimeoutError, MaxRetryError, NameResolutionError, NewConnectionError,
                                    ProtocolError, ReadTimeoutError, SSLError)
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    connect, read = (timeout if isinstance(timeout, tuple) else (timeout, timeout)) if timeout else (None, None)
    if isinstance(exc, NameResolutionError):
        return f"the name '{exc.conn.host if getattr(exc, 'conn', None) else '?'}' does not resolve from here"
    if isinstance(exc, NewConnectionError):
        if isinstance(exc.__cause__, ConnectionRefusedError):
            return "the connection was refused"
        return f"no connection could be made ({exc.__cause__ or exc})"
    if isinstance(exc, ConnectTimeoutError):
        return f"no connection within {connect:g} s" if connect else "the connection timed out"
    if isinstance(exc, ReadTimeoutError):
        return f"no answer within {read:g} s" if read else "the API server did not answer in time"
    if isinstance(exc, SSLError):
        return f"the TLS handshake failed ({exc})"
    if isinstance(exc, ProtocolError):
        return "the connection was reset"
    return str(exc)


def _nothing(ctx):
    return " Nothing was changed." if getattr(ctx, "writes", True) else ""


def unreachable(ctx, reason):
    """The AzureConnectionError for an API server that cannot be reached: why, from the cluster's settings,
    and what to do, with the real names."""
    from azure.cli.core.azclierror import AzureConnectionError
    resource = ctx.cluster_resource() or {}
    props = resource.get("properties") or {}
    access = props.get("apiServerAccessProfile") or {}
    where = f"AKS cluster '{ctx.name}' (resource group '{ctx.resource_group}')"
    server = ctx.server or props.get("privateFQDN") or props.get("fqdn") or "?"
    engine = ("or let Microsoft's Service Connector make the connection from inside the cluster: add --engine "
              "service-connector to the create command")
    if access.get("enablePrivateCluster"):
        return AzureConnectionError(
            f"{where} is a private cluster: its API server {server} has only a private address in the cluster's "
            f"virtual network, and it cannot be reached from here ({reason}).{_nothing(ctx)}",
            recommendation="Run the command from a machine with a network path to the cluster's virtual network "
            "(a VM in it or in a peered network, a VPN or ExpressRoute, or a private endpoint to the API server), "
            f"{engine}.")
    ranges = access.get("authorizedIPRanges") or []
    if ranges:
        listed = ",".join(ranges)
        return AzureConnectionError(
            f"{where} accepts API server connections only from its authorized IP ranges ({', '.join(ranges)}), and "
            f"{server} cannot be reached from here ({reason}): this machine's address is probably not in them."
            f"{_nothing(ctx)}",
            recommendation=f"Add this machine's public IP address to the ranges (the list is replaced: keep the "
            f"existing ones): az aks update -g {ctx.resource_group} -n {ctx.name} --api-server-authorized-ip-ranges "
            f"{listed},<your public IP>/32 ; or run the command from a network inside those ranges, {engine}.")
    if ((props.get("powerState") or {}).get("code") or "").lower() == "stopped":
        return AzureConnectionError(
            f"{where} is stopped: its API server {server} does not answer ({reason}).{_nothing(ctx)}",
            recommendation=f"Start it first: az aks start -g {ctx.resource_group} -n {ctx.name}")
    return AzureConnectionError(
        f"Cannot reach the API server {server} of {where}: {reason}.",
        recommendation="Check this machine's network path to the API server (DNS, proxy, firewall); raise the "
        "timeouts with 'az config set aks_connection.kube_timeout=<connect>,<read>' if the network is slow.")


class _Probe:  # pylint: disable=too-few-public-methods
    """The verdict of one GET /version: ``done`` once it has one, ``error`` the AzureConnectionError of
    :func:`unreachable` when the server could not be reached (None: it answered, whatever the status)."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.done = threading.Event()
        self.error = None


def _probe_timeout(api):
    configured = getattr(api, "default_timeout", None) or DEFAULT_TIMEOUT
    return (min(PROBE_TIMEOUT[0], configured[0]), min(PROBE_TIMEOUT[1], configured[1]))


def _context_for(api, cluster_ref, cluster_resource):
    """The client's ClusterContext, told the cluster's resource and, when it has none yet, the cluster itself."""
    ctx = context_of(api).learn(cluster_resource)
    if ctx.ref is None:
        ctx.ref, ctx.name, ctx.resource_group, ctx.id = cluster_ref, cluster_ref.name, cluster_ref.resource_group, \
            cluster_ref.id
    return ctx


def _run_probe(api, probe, name):
    try:
        api.request("GET", "/version", timeout=probe.timeout, retries=False, _probing=True)
    except KubeApiError as exc:
        logger.debug("API server of AKS cluster '%s' answered %s", name, exc.status)
    except Exception as exc:  # pylint: disable=broad-except  # unreachable(): the requests waiting raise it
        probe.error = exc
    finally:
        probe.done.set()


@contextlib.contextmanager
def reaching(api, cluster_ref, cluster_resource=None):
    """Probe the API server once (GET /version, short timeout, no retry) before anything is written, alongside
    the requests of the with-block (the first round of a command's reads and access reviews) instead of before
    them: one round trip less. Until the probe has its answer, those
    requests connect with its connect timeout and no second try (KubeClient._while_probing): a server out of reach
    fails the block with the probe's error, as soon as the probe would have; one that answers the probe has a
    request that could not connect made again."""
    from azext_aks_connection.provider import shared
    ctx = _context_for(api, cluster_ref, cluster_resource)
    if shared.known(("reached", id(api))):      # apply: another plan's requests reached it in this process
        yield
        return
    probe = _Probe(_probe_timeout(api))
    api._probe = probe      # pylint: disable=protected-access  # the client's own state, set by its module
    threading.Thread(target=_run_probe, args=(api, probe, ctx.name), daemon=True).start()
    try:
        yield
        shared.remember(("reached", id(api)), True)     # the block's answers came: it is reached
    finally:
        api._probe = None   # pylint: disable=protected-access  # the block's answers proved the server reachable
