"""Microsoft's Service Connector cluster extension (``sc-extension``): read, never written.

aks-connection keeps its own connection records in ConfigMaps (provider/store.py) and installs no cluster
extension. An extension type must be registered with Microsoft.KubernetesConfiguration by its publisher (Azure
refuses any other with ``ExtensionTypeRegistrationGetFailed``), and the type Service Connector uses,
``microsoft.servicelinker.connection``, is Microsoft's operator: it is driven by per-operation protected settings
and re-runs its ``sc-job`` on every update, so a write to it would disturb the connections Microsoft's Service
Connector manages. When a cluster has it (installed by Service Connector's resource provider), ``list`` says so and
``troubleshoot`` inspects it and its ``sc-system`` release.

Read with plain ARM GETs (provider/arm.py): no SDK of Microsoft.KubernetesConfiguration is needed for two reads,
and azure-cli ships none.
"""
from knack.log import get_logger

from azext_aks_connection.provider import catalogue

logger = get_logger(__name__)

EXTENSION_NAME = catalogue.EXTENSION_NAME
RELEASE_NAMESPACE = catalogue.RELEASE_NAMESPACE
MICROSOFT_TYPE = "microsoft.servicelinker.connection"
EXTENSION_API = "2023-05-01"
LINKER_API = "2024-07-01-preview"


def _extensions_path(cluster):
    return f"{cluster.id}/providers/{catalogue.KUBERNETES_CONFIGURATION}/extensions"


def is_microsoft(ext):
    props = (ext or {}).get("properties") or {}
    return (ext or {}).get("name") == EXTENSION_NAME or \
        (props.get("extensionType") or "").lower() == MICROSOFT_TYPE


def microsoft_extension(cmd, cluster):
    """Microsoft's Service Connector extension on ``cluster`` (named sc-extension, or of its type), or None.
    Best effort: a cluster whose extensions cannot be read (provider not registered, no permission) has none
    as far as the connection commands are concerned (``troubleshoot`` reports why)."""
    from azext_aks_connection.provider.arm import Arm, ArmError
    try:
        page = Arm(cmd.cli_ctx, subscription_id=cluster.subscription).get(_extensions_path(cluster), EXTENSION_API)
    except ArmError as exc:
        logger.debug("Cluster extensions of '%s' not readable: %s", cluster.name, exc.status_code)
        return None
    return next((ext for ext in (page or {}).get("value") or [] if is_microsoft(ext)), None)


def say_microsoft_extension(ext, cluster):
    if not ext:
        return
    props = ext.get("properties") or {}
    logger.warning(
        "AKS cluster '%s' has Microsoft's Service Connector extension '%s' (type %s): the connections Microsoft's "
        "Service Connector manages are not kept by aks-connection and are not listed here. List them with: az rest "
        "--method get --url %s/providers/Microsoft.ServiceLinker/linkers?api-version=%s", cluster.name,
        ext.get("name") or EXTENSION_NAME, props.get("extensionType") or MICROSOFT_TYPE, cluster.id, LINKER_API)
