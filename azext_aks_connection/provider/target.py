"""Target operations driven by targets.py: read the target, fetch its configuration values."""
from azext_aks_connection.provider.arm import ArmError
from azext_aks_connection.provider.errors import arm_error


def resource_id(target, target_id):
    """The ARM resource that holds keys and firewall rules (e.g. the storage account of a blob target)."""
    if target.resource_suffix and target_id.lower().endswith(target.resource_suffix.lower()):
        return target_id[:-len(target.resource_suffix)]
    return target_id


def get_target(arm, target, target_id):
    rid = resource_id(target, target_id)
    try:
        return arm.get(rid, target.api_version)
    except ArmError as exc:
        raise arm_error(exc, f"Reading the {target.display} target '{rid}'")


def _storage(service):
    def fetch(arm, target, target_id, resource, with_secret):
        rid = resource_id(target, target_id)
        endpoints = (resource.get("properties") or {}).get("primaryEndpoints") or {}
        endpoint = endpoints.get(service) or f"https://{resource['name']}.{service}.core.windows.net/"
        values = {"account_name": resource["name"], "endpoint": endpoint}
        if not with_secret:
            return values
        try:
            keys = arm.post(rid, "listKeys", target.api_version, secret=True)["keys"]
        except ArmError as exc:
            raise arm_error(exc, f"Listing the keys of storage account '{resource['name']}'")
        key = keys[0]["value"]
        scheme = "http" if endpoint.startswith("http://") else "https"
        # Name the service endpoint explicitly: right for every cloud, sovereign or local (Azurite).
        conn = (f"DefaultEndpointsProtocol={scheme};AccountName={resource['name']};AccountKey={key};"
                f"{service.capitalize()}Endpoint={endpoint}")
        values.update(connection_string=conn, account_key=key)
        return values
    return fetch


def _keyvault(arm, target, target_id, resource, with_secret):  # pylint: disable=unused-argument
    """A vault has no key to hand out: its endpoint and name are all a client needs besides an identity."""
    props = resource.get("properties") or {}
    return {"name": resource["name"], "endpoint": props.get("vaultUri") or f"https://{resource['name']}.vault.azure.net/",
            "vault_tenant_id": props.get("tenantId")}


# fetcher(arm, target, target_id, resource GET body, with_secret) -> {field: value}. with_secret=False
# (identity auth) must not call any keys API: the identity, not a key, is what the workload uses.
FETCHERS = {
    "storage:blob": _storage("blob"),
    "keyvault": _keyvault,
}


def fetch_values(arm, target, target_id, resource, with_secret=True):
    """{field: value} for every field the target's configuration keys may use."""
    return FETCHERS[target.secret_source](arm, target, target_id, resource, with_secret)
