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
    def fetch(arm, target, target_id, resource):
        rid = resource_id(target, target_id)
        try:
            keys = arm.post(rid, "listKeys", target.api_version, secret=True)["keys"]
        except ArmError as exc:
            raise arm_error(exc, f"Listing the keys of storage account '{resource['name']}'")
        key = keys[0]["value"]
        endpoints = (resource.get("properties") or {}).get("primaryEndpoints") or {}
        endpoint = endpoints.get(service) or f"https://{resource['name']}.{service}.core.windows.net/"
        scheme = "http" if endpoint.startswith("http://") else "https"
        # Name the service endpoint explicitly: right for every cloud, sovereign or local (Azurite).
        conn = (f"DefaultEndpointsProtocol={scheme};AccountName={resource['name']};AccountKey={key};"
                f"{service.capitalize()}Endpoint={endpoint}")
        return {"connection_string": conn, "account_name": resource["name"], "account_key": key,
                "endpoint": endpoint}
    return fetch


FETCHERS = {
    "storage:blob": _storage("blob"),
}


def fetch_values(arm, target, target_id, resource):
    """{field: value} for every field the target's configuration keys may use."""
    return FETCHERS[target.secret_source](arm, target, target_id, resource)
