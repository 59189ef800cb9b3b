"""The AKS side: read the managed cluster, get a Kubernetes client for it (user credentials,
kept in memory: nothing is written to ~/.kube)."""
from azure.core.exceptions import HttpResponseError

from azext_aks_connection.provider.errors import arm_error


def _client(cmd, subscription_id):
    from azure.mgmt.containerservice import ContainerServiceClient
    from azext_aks_connection.provider.registration import mgmt_client
    return mgmt_client(cmd, ContainerServiceClient, subscription_id)   # without silent provider registration


def get_cluster(cmd, cluster):
    """The managed cluster as a dict (REST shape)."""
    try:
        mc = _client(cmd, cluster.subscription).managed_clusters.get(cluster.resource_group, cluster.name)
    except HttpResponseError as exc:
        raise arm_error(exc, f"Reading AKS cluster '{cluster.name}' in resource group '{cluster.resource_group}'")
    return mc.as_dict()  # typespec models: the REST (camelCase) shape


def kube_api(cmd, cluster):
    """A kubernetes ApiClient for the cluster, from its user credentials (never logged)."""
    import logging
    import yaml
    from kubernetes import config as kube_config
    try:
        creds = _client(cmd, cluster.subscription).managed_clusters.list_cluster_user_credentials(
            cluster.resource_group, cluster.name, logging_enable=False)
    except HttpResponseError as exc:
        raise arm_error(exc, f"Getting the user credentials of AKS cluster '{cluster.name}'")
    kubeconfig = yaml.safe_load(creds.kubeconfigs[0].value.decode("utf-8"))
    # The kubernetes client logs whole response bodies (Secrets included) at DEBUG; az --debug enables DEBUG.
    logging.getLogger("kubernetes.client.rest").setLevel(logging.INFO)
    return kube_config.new_client_from_config_dict(kubeconfig)
