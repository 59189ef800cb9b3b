# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The Service Connector engine: a connection made by Microsoft's resource provider (``Microsoft.ServiceLinker/
linkers`` on the cluster, azure-mgmt-servicelinker), with the body the built-in ``az aks connection create`` sends.
Service Connector installs its ``sc-extension``, runs ``sc-job`` in ``sc-system`` and keeps the metadata.

What the built-in lacks, added here: before the PUT, the resource providers it needs are registered (in the open)
and the cluster is idle; while it runs, the service's Retry-After is followed and, when it sends none (Microsoft's
recordings show none), a 1 s interval — never azure-core's 30 s default — with a progress line; when it fails, the
seed's error catalogue is applied to the linker's error and to what ``sc-extension`` reports.
"""
from knack.log import get_logger

from azext_aks_connection import targets as t

logger = get_logger(__name__)

PROVIDERS = ("Microsoft.ServiceLinker", "Microsoft.KubernetesConfiguration")
POLLING_INTERVAL = 1        # seconds, when the service sends no Retry-After
# the linker PUT's polling: every POLLING_INTERVAL (Retry-After first), as the SDK's own ARMPolling of it
POLLING = {"first": POLLING_INTERVAL, "cap": POLLING_INTERVAL, "factor": 1.0,
           "lro_options": {"final-state-via": "azure-async-operation"}}


def linker_body(spec, identity=None, schema_registry=False):
    """The LinkerResource the built-in sends for AKS (reference-azcli-aks-connection.md §4). Confluent Cloud has
    no ARM resource: the built-in's ``connection_create_kafka`` sends a ConfluentBootstrapServer linker (the Kafka
    key and secret) and, ``schema_registry``, a ConfluentSchemaRegistry one (the registry's key and secret)."""
    from azure.mgmt.servicelinker import models
    properties = None
    if spec.auth == t.AUTH_CSI:
        properties = models.AzureKeyVaultProperties(connect_as_kubernetes_csi_driver=True)
    from azext_aks_connection.auth import AUTH_CLASSES
    auth = AUTH_CLASSES[spec.auth].linker_auth(spec, models, identity=identity,
                                               roles=list(spec.roles) if spec.roles else None)
    user = spec.auth_info.get("user_values") or {}
    if spec.target.service_type == "ConfluentBootstrapServer":
        target = models.ConfluentSchemaRegistry(endpoint=user.get("schema_registry")) if schema_registry else \
            models.ConfluentBootstrapServer(endpoint=spec.target_id)
        field = "schema" if schema_registry else "kafka"
        auth = models.SecretAuthInfo(name=user.get(f"{field}_key"),
                                     secret_info=models.ValueSecretInfo(value=user.get(f"{field}_secret")))
    else:
        target = models.AzureResource(id=spec.target_id, resource_properties=properties)
    if "auth" in spec.opt_out:
        auth.auth_mode = "optOutAllAuth"
    configuration = None
    # Neon: the host and database the built-in sends as connection string properties (custom.py)
    neon = {"Database": user.get("database"), "Server": user.get("host")} if spec.target.name == "neon-postgres" \
        else None
    if spec.customized_keys or "configinfo" in spec.opt_out or neon:
        configuration = models.ConfigurationInfo(customized_keys=dict(spec.customized_keys) or None,
                                                 action="optOut" if "configinfo" in spec.opt_out else None,
                                                 additional_connection_string_properties=neon)
    network = models.PublicNetworkSolution(action="optOut") if "publicnetwork" in spec.opt_out else None
    return models.LinkerResource(target_service=target, auth_info=auth, client_type=spec.client_type,
                                 scope=spec.namespace, configuration_info=configuration,
                                 public_network_solution=network)


def refuse_name(name):
    """Service Connector's names: letters, digits, '.', '_' (the built-in's rule); lower case, since the Secret
    it writes keeps the name's case and Kubernetes refuses upper-case names."""
    import re
    from azure.cli.core.azclierror import InvalidArgumentValueError
    if not re.match(r"^[a-z0-9._]{1,60}$", name or ""):
        raise InvalidArgumentValueError(
            f"Connection name '{name}' cannot be a Service Connector connection: use 1-60 lower-case letters, "
            "digits, '.' or '_' (Service Connector names its Secret sc-<name>-secret, keeping the case, and "
            "Kubernetes refuses upper-case names).",
            recommendation=f"For example: --connection {re.sub(r'[^a-z0-9._]', '_', (name or 'orders').lower())}")


def create(cmd, spec, progress, no_wait=False):
    """PUT the linker and follow it; returns the linker's output (provider/linkers.py)."""
    from azure.core.exceptions import DeserializationError, HttpResponseError
    from azext_aks_connection.provider import catalogue, cluster as cluster_ops, linkers, registration, retry
    from azext_aks_connection.provider.arm import Arm
    from azext_aks_connection.provider.errors import arm_error
    refuse_name(spec.name)
    if spec.auth == t.AUTH_SERVICE_PRINCIPAL:
        from azext_aks_connection.auth.service_principal import ServicePrincipalAuth
        ServicePrincipalAuth.refuse_without_object_id(spec)      # before any request
    progress("Reading the cluster, the target and the identity")
    cluster = cluster_ops.get_cluster(cmd, spec.cluster)
    identity = None
    if spec.auth == t.AUTH_WORKLOAD_IDENTITY:
        from azext_aks_connection.provider import identity as identity_ops
        iid = spec.auth_info["identity_id"]
        identity = identity_ops.get_identity(Arm(cmd.cli_ctx, subscription_id=iid.split("/")[2]), iid)
        identity_ops.refuse_cluster_identity(cluster, identity)
    _refuse_shadowing(cmd, spec)
    check_permissions(cmd, spec)
    for namespace in PROVIDERS:            # registered in the open, bounded; nothing is written before
        registration.ensure_registered(cmd, spec.cluster.subscription, namespace, progress)
    if registration.busy(cluster):
        registration.wait_cluster_idle(cmd, spec.cluster, progress,
                                       state=(cluster.get("properties") or {}).get("provisioningState"))
    body = linker_body(spec, identity)
    client = linkers.client(cmd, spec.cluster.subscription)
    what = f"Creating Service Connector connection '{spec.name}' on AKS cluster '{spec.cluster.name}'"
    progress(f"{what} (Service Connector installs sc-extension with a cluster's first connection)")
    try:
        # The body may carry a credential (a service principal's secret, a database password): never logged.
        poller = client.linker.begin_create_or_update(spec.cluster.id, spec.name, body, logging_enable=False,
                                                      polling=retry.sdk_polling(**POLLING, logging_enable=False))
        if no_wait:
            return linkers.get_linker(cmd, spec.cluster, spec.name)
        result = retry.follow(poller, progress)
        if spec.target.service_type == "ConfluentBootstrapServer":     # and the schema registry's, as the built-in
            progress(f"{what}: the schema registry's connection '{spec.name}_schema'")
            _create_schema_registry(client, spec, identity, progress)
    except (DeserializationError, HttpResponseError) as exc:
        raise _not_json(exc, spec) or _failure(cmd, spec, exc, what, arm_error=arm_error, catalogue=catalogue) \
            from exc
    if result is None:              # the operation's final GET of the linker answered no body
        raise _not_json(None, spec)
    return linkers.to_output(result)


def _create_schema_registry(client, spec, identity, progress):
    """Confluent Cloud's second linker, ``<name>_schema`` (ConfluentSchemaRegistry), as the built-in makes it."""
    from azext_aks_connection.provider import retry
    schema = retry.follow(client.linker.begin_create_or_update(
        spec.cluster.id, f"{spec.name}_schema", linker_body(spec, identity, schema_registry=True),
        logging_enable=False, polling=retry.sdk_polling(**POLLING, logging_enable=False)), progress)
    if schema is None:      # that operation's final GET of the linker answered no body
        raise _not_json(None, spec)


def _not_json(exc, spec):
    """The error for an answer of the linker's PUT, of its polls (past their retries: retry.sdk_polling) or of its
    final GET that is not the JSON due (empty, cut short, a proxy's page): no failure of the linker's to explain,
    the call named (arm.malformed). None for any other error (exc: an HttpResponseError with the linker's error)."""
    from azure.core.exceptions import DecodeError, HttpResponseError
    from azure.core.polling.base_polling import BadResponse
    from azext_aks_connection.provider.arm import malformed
    if isinstance(exc, HttpResponseError) and not isinstance(exc, DecodeError) and \
            not isinstance(exc.__cause__, BadResponse):
        return None
    request = getattr(getattr(exc, "response", None), "request", None)
    return malformed(request.method if request is not None else "GET",
                     request.url if request is not None else
                     f"{spec.cluster.id}/providers/Microsoft.ServiceLinker/linkers/{spec.name}", None if exc else "")


def delete(cmd, cluster_ref, name, progress, no_wait=False):
    from azure.core.exceptions import HttpResponseError
    from azext_aks_connection.provider.retry import follow
    from azext_aks_connection.provider import linkers
    from azext_aks_connection.provider.errors import arm_error
    client = linkers.client(cmd, cluster_ref.subscription)
    progress(f"Deleting Service Connector connection '{name}' (its Secret and ServiceAccount stay, as Service "
             "Connector leaves them)")
    try:
        poller = client.linker.begin_delete(cluster_ref.id, name, polling_interval=POLLING_INTERVAL)
        if not no_wait:
            follow(poller, progress)
    except HttpResponseError as exc:
        raise arm_error(exc, f"Deleting Service Connector connection '{name}'") from exc


def _needed(spec):
    """[(action, scope)]: what Service Connector does with the caller's own token (the seed's M-E4 errors)."""
    from azext_aks_connection.provider import target as target_ops
    needed = [("Microsoft.ServiceLinker/linkers/write", spec.cluster.id),
              ("Microsoft.KubernetesConfiguration/extensions/write", spec.cluster.id)]
    scope = target_ops.resource_id(spec.target, spec.target_id) if spec.target_id.startswith("/subscriptions/") \
        else None
    if scope and spec.auth == t.AUTH_SECRET and spec.target.resource_type == "Microsoft.Storage/storageAccounts":
        needed.append(("Microsoft.Storage/storageAccounts/listKeys/action", scope))
    if scope and spec.auth != t.AUTH_SECRET and "auth" not in spec.opt_out:
        needed.append(("Microsoft.Authorization/roleAssignments/write", scope))
    return needed


def check_permissions(cmd, spec):
    """Before the PUT, what the caller may do where Service Connector will act for them (provider/permissions.py)."""
    from azext_aks_connection.provider import permissions
    permissions.refuse_missing(cmd.cli_ctx, _needed(spec), what="perform what Service Connector will do for you",
                               subscription=spec.cluster.subscription)


def _refuse_shadowing(cmd, spec):
    """A connection name is unique across both engines."""
    from azure.cli.core.azclierror import InvalidArgumentValueError
    from azext_aks_connection.provider import store as store_ops
    try:
        local = store_ops.read(cmd, spec.cluster).find(spec.name)
    except Exception:  # pylint: disable=broad-except
        local = None     # the API server may be out of reach (a private cluster): that is what this engine is for
    if local is not None:
        raise InvalidArgumentValueError(
            f"Connection '{local['name']}' already exists on AKS cluster '{spec.cluster.name}' as an aks-connection "
            "(local) connection: a Service Connector connection of the same name would shadow it.",
            recommendation="Choose another --connection name, or delete the local one first (az aks connection "
            f"delete --id {spec.id} --yes).")


def _failure(cmd, spec, exc, what, *, arm_error, catalogue):
    """The linker's failure with the catalogue's cause and fix, and what sc-extension reports."""
    ctx = catalogue.Context.of(spec.cluster)
    error = arm_error(exc, what, ctx)
    try:
        from azext_aks_connection.provider.arm import Arm
        # raw: azure-mgmt-kubernetesconfiguration is not shipped with azure-cli
        ext = Arm(cmd.cli_ctx, subscription_id=spec.cluster.subscription).get(
            f"{spec.cluster.id}/providers/{catalogue.KUBERNETES_CONFIGURATION}/extensions/{catalogue.EXTENSION_NAME}",
            "2023-05-01") or {}
    except Exception:  # pylint: disable=broad-except
        ext = {}
    props = ext.get("properties") or {}
    messages = [s.get("message") for s in props.get("statuses") or [] if s.get("message")]
    if props.get("provisioningState") == "Failed" and messages:
        from azext_aks_connection.provider.errors import diagnosed
        text = f"{what} failed: {catalogue.EXTENSION_NAME} is in state Failed: {'; '.join(messages)}."
        better = diagnosed(text, "; ".join(messages), None, ctx, None)
        if better is not None:
            return better
    error.recommendations = list(getattr(error, "recommendations", []) or []) + [
        f"See what Service Connector's operator did: az aks connection troubleshoot -g {spec.cluster.resource_group} "
        f"-n {spec.cluster.name}"]
    return error
