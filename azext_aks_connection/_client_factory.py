# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Every management client of the extension, built here and nowhere else (the azure-cli-extensions convention).

Each is azure-cli's ``get_mgmt_service_client`` (multi-API profile, user agent, the redacting debug logger) with
what all of ours share: the command's one credential per subscription (``provider/arm.login_credential``), the
command's one connection pool per host with the timeouts and the retry policy (``provider/arm.client_kwargs``),
and no silent provider auto-registration (``_compat.disable_auto_registration``, see
provider/registration.py). A client is made once per command (kept on ``cli_ctx``, gone with it) and
subscription: SDK clients are safe to share between threads.

The loader and help paths import this package: no SDK is imported here but inside the functions.
"""
import threading

_LOCK = threading.Lock()


def _mgmt(cli_ctx, client_type, subscription_id=None, subscription_bound=True, api_version=None):
    from azure.cli.core.commands.client_factory import get_mgmt_service_client
    from azext_aks_connection._compat import disable_auto_registration
    from azext_aks_connection.provider.arm import client_kwargs, login_credential
    credential, subscription_id = login_credential(cli_ctx, subscription_id)
    # Module and name: two clients of one name (azure-mgmt-rdbms' PostgreSQLManagementClient of flexible and single
    # servers) are two clients.
    key = (getattr(client_type, "name", None) or
           f"{getattr(client_type, '__module__', '')}.{getattr(client_type, '__name__', str(client_type))}",
           (subscription_id or "").lower(), subscription_bound, api_version)
    with _LOCK:
        cache = cli_ctx.data.setdefault("aks_connection_clients", {})
        if key not in cache:
            cache[key] = disable_auto_registration(get_mgmt_service_client(
                cli_ctx, client_type, subscription_bound=subscription_bound, subscription_id=subscription_id,
                credential=credential, api_version=api_version, **client_kwargs(cli_ctx)))
        return cache[key]


def cf_container_service(cli_ctx, subscription_id):
    """azure-mgmt-containerservice: the managed cluster (read, update, user credentials)."""
    from azure.mgmt.containerservice import ContainerServiceClient
    return _mgmt(cli_ctx, ContainerServiceClient, subscription_id)


def cf_service_linker(cli_ctx, subscription_id=None):
    """azure-mgmt-servicelinker: Microsoft's Service Connector linkers (its client takes no subscription)."""
    from azure.mgmt.servicelinker import ServiceLinkerManagementClient
    return _mgmt(cli_ctx, ServiceLinkerManagementClient, subscription_id, subscription_bound=False)


def cf_authorization(cli_ctx, subscription_id):
    """azure-mgmt-authorization (azure-cli's MGMT_AUTHORIZATION profile): role assignments and definitions."""
    from azure.cli.core.profiles import ResourceType
    return _mgmt(cli_ctx, ResourceType.MGMT_AUTHORIZATION, subscription_id)


def cf_msi(cli_ctx, subscription_id):
    """azure-mgmt-msi (azure-cli's MGMT_MSI profile): user-assigned identities and their federated credentials."""
    from azure.cli.core.profiles import ResourceType
    return _mgmt(cli_ctx, ResourceType.MGMT_MSI, subscription_id)


def cf_resources(cli_ctx, subscription_id):
    """azure-mgmt-resource (azure-cli's MGMT_RESOURCE_RESOURCES profile): resource providers."""
    from azure.cli.core.profiles import ResourceType
    return _mgmt(cli_ctx, ResourceType.MGMT_RESOURCE_RESOURCES, subscription_id)


def cf_keyvault(cli_ctx, subscription_id):
    """azure-mgmt-keyvault (azure-cli's MGMT_KEYVAULT profile): vault access policies."""
    from azure.cli.core.profiles import ResourceType
    return _mgmt(cli_ctx, ResourceType.MGMT_KEYVAULT, subscription_id)


def cf_redis(cli_ctx, subscription_id):
    """azure-mgmt-redis: the cache's configuration and its access policy assignments."""
    from azure.mgmt.redis import RedisManagementClient
    return _mgmt(cli_ctx, RedisManagementClient, subscription_id)


def cf_target_family(cli_ctx, subscription_id, client, api_version=None):
    """The management client a target family writes its firewall rules with (its module in targets/ names it):
    ``client`` is "<package>:<class>" of an SDK azure-cli ships ("azure.mgmt.storage:StorageManagementClient", …);
    ``api_version``: the one the family read the rules with, so a write carries no field the read did not show
    (None: the SDK's own)."""
    import importlib
    module, name = client.split(":")
    return _mgmt(cli_ctx, getattr(importlib.import_module(module), name), subscription_id, api_version=api_version)


def arm_pipeline(cli_ctx, subscription_id):
    """The ARMPipelineClient of provider/arm.Arm's generic calls by resource id (each target with the api-version
    of its record in targets/, and the actions no shipped SDK has): a management client's, so it has the same
    policies. The container service client's: every command reads its cluster with it (and azure-cli's own `az aks`
    loader has imported that SDK already), where azure-mgmt-resource's package imports all of its eight clients
    (~50 ms)."""
    from azext_aks_connection._compat import pipeline_client
    return pipeline_client(cf_container_service(cli_ctx, subscription_id))
