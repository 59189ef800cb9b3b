# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The AKS side: read the managed cluster, get a Kubernetes client for it (user credentials,
kept in memory: nothing is written to ~/.kube)."""
from azure.core.exceptions import HttpResponseError

from azext_aks_connection.provider.errors import arm_error


def _client(cmd, subscription_id):
    from azext_aks_connection._client_factory import cf_container_service
    return cf_container_service(cmd.cli_ctx, subscription_id)


def get_cluster(cmd, cluster):
    """The managed cluster as a dict (REST shape): the SDK's GET, its answer taken as the JSON it is (``stream``).
    Made into the SDK's model it cost every command ~20 ms on its critical path (the first model of a kind in a
    process builds its field tables); only a cluster update needs the model, and makes it (_recall). Read once
    per process when reads are shared (apply: provider/shared.py)."""
    from azext_aks_connection.provider import shared
    return shared.cached(("cluster", cluster.id.lower()), lambda: _get_cluster(cmd, cluster))


def _get_cluster(cmd, cluster):
    import json
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    try:
        answer = _client(cmd, cluster.subscription).managed_clusters.get(cluster.resource_group, cluster.name,
                                                                         stream=True)
        raw = b"".join(answer)
    except HttpResponseError as exc:
        from azext_aks_connection.provider.catalogue import Context
        raise arm_error(exc, f"Reading AKS cluster '{cluster.name}' in resource group '{cluster.resource_group}'",
                        Context.of(cluster)) from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        from azext_aks_connection.provider.arm import connection_error
        raise connection_error(exc, "GET", cluster.id, cmd.cli_ctx) from None
    try:
        found = json.loads(raw) if raw.strip() else None
    except ValueError:
        found = None
    if not isinstance(found, dict) or not found.get("id"):
        from azext_aks_connection.provider.arm import malformed
        raise malformed("GET", cluster.id, raw.decode("utf-8", "replace"))
    _remember(cmd, cluster, raw)
    return found


def _remember(cmd, cluster_ref, raw):
    """The command's last read of the cluster as answered (its JSON bytes: what a PUT sends back, untouched by what
    the caller does with its dict), for ensure_features."""
    cmd.cli_ctx.data.setdefault("aks_connection_cluster_reads", {})[cluster_ref.id.lower()] = raw


def _recall(cmd, cluster_ref, current):
    """The SDK model of the read answered as ``current`` (same ETag), once: taken out of the command's reads, so
    it is the caller's to change; None when there is none: the PUT then reads the cluster again. Safe to send as
    read: its ETag goes with the PUT (If-Match), so a change made since is a 412, and that reads it again."""
    import json
    from azure.mgmt.containerservice.models import ManagedCluster
    reads = cmd.cli_ctx.data.get("aks_connection_cluster_reads") or {}
    raw = reads.pop(cluster_ref.id.lower(), None)
    answer = json.loads(raw) if raw is not None else {}
    etag = (current or {}).get("eTag")
    return ManagedCluster(answer) if etag and answer.get("eTag") == etag else None


def kube_api(cmd, cluster):
    """A kubernetes ApiClient for the cluster, from its user credentials (never logged): Entra ID clusters get a
    token from the current login, every call has a timeout and transient failures are retried (kubeaccess.py)."""
    from azext_aks_connection.provider import kubeaccess, shared
    return shared.cached(("kube", cluster.id.lower()), lambda: kubeaccess.api_client(cmd, cluster), mutable=False)


KV_ADDON = "azureKeyvaultSecretsProvider"
TERMINAL = ("succeeded", "failed", "canceled")
UPDATE_ATTEMPTS = 3


def addon(cluster, name):
    """An add-on profile by name (AKS answers add-on keys in varying case)."""
    for key, profile in ((cluster.get("properties") or {}).get("addonProfiles") or {}).items():
        if key.lower() == name.lower():
            return profile or {}
    return {}


def addon_identity(cluster, name=KV_ADDON):
    """The identity {resourceId, clientId, objectId} AKS gave an enabled add-on (the Key Vault one by default): what
    a CSI connection's Secret and access grant name; {} while the add-on is off."""
    profile = addon(cluster, name)
    return (profile.get("identity") or {}) if profile.get("enabled") else {}


def missing_features(cluster, workload_identity=False, kv_csi=False):
    """What a connection needs that the cluster does not have yet (empty: no cluster write)."""
    props = cluster.get("properties") or {}
    missing = []
    if workload_identity:
        if not (props.get("oidcIssuerProfile") or {}).get("enabled"):
            missing.append("OIDC issuer")
        if not ((props.get("securityProfile") or {}).get("workloadIdentity") or {}).get("enabled"):
            missing.append("workload identity")
    if kv_csi and not addon(cluster, KV_ADDON).get("enabled"):
        missing.append(f"the {KV_ADDON} add-on")
    return missing


def issuer_of(cluster):
    """The cluster's OIDC issuer URL; None while the issuer is off."""
    oidc = (cluster.get("properties") or {}).get("oidcIssuerProfile") or {}
    return oidc.get("issuerURL") if oidc.get("enabled") else None


def outputs_pending(cluster, workload_identity=False, kv_csi=False):
    """A feature is on but what it makes is not known yet: the OIDC issuer URL, the Key Vault add-on's identity."""
    if workload_identity and not issuer_of(cluster):
        return True
    return bool(kv_csi and not (addon(cluster, KV_ADDON).get("identity") or {}).get("clientId"))


PRECONDITION_ATTEMPTS = 5     # the cluster changed between our GET and PUT (412): read it again, at most this often


def _oidc_warning(cluster_ref):
    from knack.log import get_logger
    get_logger(__name__).warning(
        "Turning on the OIDC issuer of AKS cluster '%s': this restarts its API server (Kubernetes requests can fail "
        "for a few minutes), and the OIDC issuer cannot be turned off again.", cluster_ref.name)


def _turn_on(mc, current, missing, kv_csi):
    """Set on the cluster model ``mc`` (read as ``current``) what ``missing`` names."""
    from azure.mgmt.containerservice import models
    if "OIDC issuer" in missing:
        mc.oidc_issuer_profile = models.ManagedClusterOIDCIssuerProfile(enabled=True)
    if "workload identity" in missing:
        if mc.security_profile is None:
            mc.security_profile = models.ManagedClusterSecurityProfile()
        mc.security_profile.workload_identity = models.ManagedClusterSecurityProfileWorkloadIdentity(enabled=True)
    if kv_csi and addon(current, KV_ADDON).get("enabled") is not True:
        profiles = dict(mc.addon_profiles or {})
        key = next((k for k in profiles if k.lower() == KV_ADDON.lower()), KV_ADDON)
        profiles[key] = models.ManagedClusterAddonProfile(
            enabled=True, config={"enableSecretRotation": "false", "rotationPollInterval": "2m"})
        mc.addon_profiles = profiles


def _outputs_missing(cluster_ref, what):
    from azure.cli.core.azclierror import AzureResponseError
    return AzureResponseError(
        f"AKS cluster '{cluster_ref.name}' has {what} turned on, but after its last update ended it still shows no "
        "OIDC issuer URL or add-on identity: the connection cannot be made with it yet.",
        recommendation=f"Look at it with 'az aks show -g {cluster_ref.resource_group} -n {cluster_ref.name} --query "
        "\"[oidcIssuerProfile, addonProfiles.azureKeyvaultSecretsProvider.identity]\"', then re-run this command.")


def _put_cluster(client, cluster_ref, mc, progress, what, *, on_success=None):
    """The managed-cluster PUT of ``mc`` (as read, changed), If-Match its ETag, followed to its end
    (``on_success``: retry.sdk_polling's)."""
    from azure.core import MatchConditions
    from azext_aks_connection.provider.retry import follow, sdk_polling   # Retry-After, else 0.5 s growing to 5 s
    condition = {"etag": mc.e_tag, "match_condition": MatchConditions.IfNotModified} if mc.e_tag else {}
    progress(f"Enabling {what} on AKS cluster '{cluster_ref.name}' (a cluster update; it can take minutes)")
    poller = client.begin_create_or_update(cluster_ref.resource_group, cluster_ref.name, mc,
                                           polling=sdk_polling(on_success=on_success), **condition)
    result = follow(poller, progress, tick=1)
    if result is None:          # the final GET answered no cluster (an empty body)
        from azext_aks_connection.provider.arm import malformed
        raise malformed("GET", cluster_ref.id, "")
    return result.as_dict()


def ensure_features(cmd, cluster_ref, cluster, progress, *, workload_identity=False, kv_csi=False,
                    on_success=None, on_wait=None):
    """Turn on what is missing with one managed-cluster update (a long-running operation); returns the cluster
    as it is afterwards. No write when everything is on already. ``on_success()``: when a poll finds our update
    succeeded, before the final GET of the cluster; ``on_wait()``: when, after that, it waits once more (for
    another update that is turning the features on), so what on_success started is from before a wait.

    As ``az aks update``, the PUT sends the cluster as read with its ETag (If-Match), so a change made by someone
    else meanwhile is never reverted by a stale body: a 412 reads it again (at most PRECONDITION_ATTEMPTS tries),
    a 409 (the cluster busy with another operation) waits for it first (at most UPDATE_ATTEMPTS tries). The read
    is the command's own when the cluster was idle then and nothing was waited for since; after any wait, a fresh
    one."""
    from azext_aks_connection.provider import registration, retry
    missing = missing_features(cluster, workload_identity, kv_csi)
    if not missing and not outputs_pending(cluster, workload_identity, kv_csi):
        return cluster
    client = _client(cmd, cluster_ref.subscription).managed_clusters
    what = " and ".join(missing or missing_features({}, workload_identity, kv_csi))   # all of them, named
    # On but what it makes not there yet (someone else's update is turning it on): wait for that update first.
    known_state = "updating" if not missing else \
        ((cluster.get("properties") or {}).get("provisioningState") or "").lower()
    warned = waited_for_outputs = False
    as_read = _recall(cmd, cluster_ref, cluster) if known_state in TERMINAL else None

    def attempt(_):
        nonlocal as_read, known_state, warned, waited_for_outputs
        if known_state not in TERMINAL:
            registration.wait_cluster_idle(cmd, cluster_ref, progress)
        # The command's own read when nothing was waited for since (its ETag guards the PUT), else a fresh one.
        mc, as_read = as_read or client.get(cluster_ref.resource_group, cluster_ref.name), None
        current = mc.as_dict()
        missing = missing_features(current, workload_identity, kv_csi)
        if missing:
            if "OIDC issuer" in missing and not warned:
                _oidc_warning(cluster_ref)
                warned = True
            _turn_on(mc, current, missing, kv_csi)
            current = _put_cluster(client, cluster_ref, mc, progress, what, on_success=on_success)
        # On (by our update, or someone else's that turned them on meanwhile or is turning them on now)
        if not outputs_pending(current, workload_identity, kv_csi):
            return current
        if waited_for_outputs:       # the cluster is idle and still has no issuer URL / add-on identity
            raise _outputs_missing(cluster_ref, what)
        # Another update is turning them on (or began after ours ended): its outputs (the OIDC issuer URL, the
        # add-on's identity) come when it ends. Wait for it, then read the cluster again and use those.
        waited_for_outputs, known_state = True, "updating"
        if on_wait is not None:
            on_wait()
        raise retry.Again(delay=0)

    def reread(exc):
        nonlocal known_state
        if isinstance(exc, HttpResponseError) and exc.status_code == 409:
            known_state = "updating"        # busy with another operation: wait for it before the next try

    return _cluster_write(cmd, cluster_ref, lambda: f"Enabling {what} on AKS cluster '{cluster_ref.name}'", attempt,
                          reread=reread, attempts={412: PRECONDITION_ATTEMPTS, 409: UPDATE_ATTEMPTS, retry.Again: 2})


# pylint: disable-next=too-many-arguments  # one write's parts: the attempt, what it is, its retry bounds
def _cluster_write(cmd, cluster_ref, what, attempt, *, reread=None, attempts, named=True):
    """``attempt`` (a read and a PUT of the cluster) with retry.call: 412 (changed since the read) and 409 (busy)
    retried as ``attempts`` allows, at once (the next attempt reads again); the failure as arm_error (``what()``
    failed; ``named``: its fix lines name the cluster) or connection_error."""
    from azure.core.exceptions import DecodeError, DeserializationError, ServiceRequestError, ServiceResponseError
    from azext_aks_connection.provider import retry
    try:
        return retry.call(attempt, retryable=lambda exc: exc.status_code if isinstance(exc, HttpResponseError)
                          else None, attempts=attempts, reread=reread, backoff=retry.Backoff(first=0.0))
    except (DecodeError, DeserializationError, HttpResponseError) as exc:
        if isinstance(exc, (DecodeError, DeserializationError)) or (getattr(exc, "status_code", None) or 0) < 400:
            # a success status with an answer that is not the operation's JSON (empty, a proxy's page)
            from azext_aks_connection.provider.arm import malformed
            response = getattr(exc, "response", None)
            raise malformed("PUT", cluster_ref.id, response.text() if response is not None else "",
                            response.headers.get("Content-Type") if response is not None else None) from None
        from azext_aks_connection.provider.catalogue import Context      # the fix lines name the cluster
        raise arm_error(exc, what(), Context.of(cluster_ref) if named else None) from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        from azext_aks_connection.provider.arm import connection_error
        raise connection_error(exc, "PUT", cluster_ref.id, cmd.cli_ctx) from None


PUBLIC_IP_API = "2024-05-01"


def egress_ips(arm, cluster):
    """The cluster's outbound public IPs: ([ip, ...], note). ``note`` says what could not be known (user-defined
    routing, an IP prefix, an unreadable address) so the caller can tell the user what was and was not done. Read
    once per process when reads are shared (apply)."""
    from azext_aks_connection.provider import shared
    return shared.cached(("egress", (cluster.get("id") or "").lower()), lambda: _egress_ips(arm, cluster))


def _egress_ips(arm, cluster):
    from azext_aks_connection.provider.arm import ArmError
    props = (cluster.get("properties") or {})
    net = props.get("networkProfile") or {}
    outbound = (net.get("outboundType") or "loadBalancer")
    if outbound == "loadBalancer":
        refs = ((net.get("loadBalancerProfile") or {}).get("effectiveOutboundIPs") or [])
        source = "the load balancer's outbound IPs"
    elif outbound == "managedNATGateway":
        refs = ((net.get("natGatewayProfile") or {}).get("effectiveOutboundIPs") or [])
        source = "the managed NAT gateway's outbound IPs"
    elif outbound == "userAssignedNATGateway":
        refs, problem = _subnet_nat_gateway_ips(arm, props)
        if problem:
            return [], problem
        source = "the outbound IPs of the NAT gateway on the node subnets"
    else:
        return [], (f"the cluster's egress is '{outbound}': its public IP is decided by your own routing "
                    "(firewall, NVA), which the cluster does not report")
    ips, unreadable = [], []
    for ref in refs:
        rid = ref.get("id") or ""
        if "/publicipprefixes/" in rid.lower():
            unreadable.append(rid.split("/")[-1] + " (a public IP prefix)")
            continue
        try:  # raw: azure-cli ships no azure-mgmt-network (its network commands are aaz)
            address = ((arm.get(rid, PUBLIC_IP_API) or {}).get("properties") or {}).get("ipAddress")
        except ArmError as exc:
            unreadable.append(f"{rid.split('/')[-1]} ({exc.error.code})")
            continue
        if address:
            ips.append(address)
    note = None
    if unreadable:
        note = "could not read " + ", ".join(unreadable)
    elif not ips:
        note = f"{source} are not known yet"
    return sorted(set(ips)), note


def _subnet_nat_gateway_ips(arm, props):
    """userAssignedNATGateway: node pool subnets -> their NAT gateway -> its public IPs. ([refs], problem)."""
    from azext_aks_connection.provider.arm import ArmError
    subnets = sorted({p.get("vnetSubnetID") for p in props.get("agentPoolProfiles") or [] if p.get("vnetSubnetID")})
    if not subnets:
        return [], "the cluster uses a user-assigned NAT gateway but its node pools name no subnet"
    refs, seen = [], set()
    try:  # raw: azure-cli ships no azure-mgmt-network (its network commands are aaz)
        for subnet in subnets:
            gateway = (((arm.get(subnet, PUBLIC_IP_API) or {}).get("properties") or {}).get("natGateway") or {})
            gid = gateway.get("id")
            if not gid or gid.lower() in seen:
                continue
            seen.add(gid.lower())
            refs.extend(((arm.get(gid, PUBLIC_IP_API) or {}).get("properties") or {}).get("publicIpAddresses") or [])
    except ArmError as exc:
        return [], f"could not read the NAT gateway of the node subnets ({exc.error.code})"
    if not seen:
        return [], "the node subnets have no NAT gateway"
    return refs, None


def disable_features(cmd, cluster_ref, progress, workload_identity=False, kv_csi=False):
    """delete --cleanup-features: turn off what a connection turned on (workload identity, the Key Vault
    add-on; never the OIDC issuer, which AKS cannot turn off), as ensure_features turns them on: read right
    before the PUT, which carries the ETag (412: read again)."""
    from azure.core import MatchConditions
    from azext_aks_connection.provider import registration
    from azext_aks_connection.provider.retry import follow, sdk_polling
    client = _client(cmd, cluster_ref.subscription).managed_clusters
    changed = []

    def attempt(_):
        registration.wait_cluster_idle(cmd, cluster_ref, progress)
        mc = client.get(cluster_ref.resource_group, cluster_ref.name)
        changed.clear()
        wi = mc.security_profile.workload_identity if mc.security_profile else None
        if workload_identity and wi is not None and wi.enabled:
            wi.enabled = False
            changed.append("workload identity")
        key = next((k for k in (mc.addon_profiles or {}) if k.lower() == KV_ADDON.lower()), None)
        if kv_csi and key and mc.addon_profiles[key].enabled:
            mc.addon_profiles[key].enabled = False
            changed.append(f"the {KV_ADDON} add-on")
        if not changed:
            return
        condition = {"etag": mc.e_tag, "match_condition": MatchConditions.IfNotModified} if mc.e_tag else {}
        progress(f"Turning off {' and '.join(changed)} on AKS cluster '{cluster_ref.name}' (a cluster update)")
        follow(client.begin_create_or_update(cluster_ref.resource_group, cluster_ref.name, mc,
                                             polling=sdk_polling(), **condition), progress, tick=1)

    _cluster_write(cmd, cluster_ref, lambda: f"Turning off {' and '.join(changed)} on AKS cluster '{cluster_ref.name}'",
                   attempt, attempts={412: PRECONDITION_ATTEMPTS}, named=False)
