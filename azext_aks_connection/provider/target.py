# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Target operations driven by the target table: read the target, fetch its configuration values.

The generic part. Each family's fetcher (``Target.family.fetch(arm, target, target_id, resource GET body,
with_secret) -> {field: value}``) is in its module, ``targets/<family>.py``, with the fields it returns. With
``with_secret=False`` (identity auth) a fetcher calls no keys API and returns no credential: the identity, not a key,
is what the workload uses. Every credential a fetcher returns (a key, a connection string holding one) is returned
only with ``with_secret=True``; the table's ``credential`` flags rely on that.
"""
from azext_aks_connection.provider.arm import ArmError
from azext_aks_connection.provider.errors import arm_error


def resource_id(target, target_id):
    """The ARM resource that holds keys and firewall rules: the first ``N`` type/name pairs after the
    target id's provider namespace, N being the number of types in ``target.resource_type`` (the storage
    account of a blob target, the server of a database, the account of a Cosmos DB database). None for a
    target that is not an ARM resource."""
    if not target.resource_type or not target_id:
        return None
    if target.resource_suffix and target_id.lower().endswith(target.resource_suffix.lower()):
        return target_id[:-len(target.resource_suffix)]
    parts = target_id.rstrip("/").split("/")
    providers = [i for i, p in enumerate(parts) if p.lower() == "providers"]
    if not providers:
        return target_id
    depth = target.resource_type.count("/")
    return "/".join(parts[:providers[-1] + 2 + 2 * depth])


def get_target(arm, target, target_id):
    """The resource holding keys and firewall rules (GET body). A target id naming a child of it (a database,
    a Cosmos DB keyspace, graph or table) is read too: a child that does not exist, or one of another API
    (a sqlDatabases id on a MongoDB account), is refused here, before anything is written."""
    rid = resource_id(target, target_id)
    if rid is None:
        return {}
    from azext_aks_connection.provider import shared       # apply: read once per process
    return shared.cached(("target", target_id.lower()), lambda: _get_target(arm, target, target_id, rid))


def _get_target(arm, target, target_id, rid):
    try:  # raw: a generic call by id with the target's api-version (the table's), as every target read here
        body = arm.send("GET", rid, target.api_version, secret=target.secret_in_resource)[1]
    except ArmError as exc:
        raise arm_error(exc, f"Reading the {target.display} target '{rid}'") from exc
    if target_id.rstrip("/").lower() != rid.lower() and not target.resource_suffix and not target.logical_child \
            and not target.family.reads_target_id:          # (its fetcher reads the child itself)
        try:  # raw: a generic call by id with the target's api-version (the table's)
            arm.get(target_id, target.api_version)
        except ArmError as exc:
            raise arm_error(exc, f"Reading the {target.display} target '{target_id}'") from exc
    return body


def read(arm, target, path, what):
    """A read by id with the target's api-version (a fetcher's read of a child)."""
    try:  # raw: a generic call by id with the target's api-version (the table's)
        return arm.get(path, target.api_version)
    except ArmError as exc:
        raise arm_error(exc, what) from exc


def post(arm, rid, action, target, what, *, body=None):
    """A keys action on ``rid`` (its answer holds credentials: kept out of the debug log)."""
    try:  # raw: a generic call by id with the target's api-version (the table's)
        return arm.post(rid, action, target.api_version, body=body, secret=True) or {}
    except ArmError as exc:
        raise arm_error(exc, what) from exc


def _props(resource):
    return (resource or {}).get("properties") or {}


def key_auth_off(target, resource):
    """(property, value, how the portal names it) when the target's keys are switched off (its family's
    ``key_auth``), else None. Azure still answers listKeys on such a resource, but its data plane refuses every key:
    a --secret connection would be written and never work."""
    rule = target.family.key_auth
    if rule and _props(resource).get(rule[0]) is rule[1]:
        return rule
    return None


def refuse_key_auth_disabled(target, resource, auth="secret"):
    """Secret auth on a resource whose keys are switched off cannot work: refused before anything is written."""
    rule = key_auth_off(target, resource) if auth == "secret" else None
    if rule is None:
        return
    from azure.cli.core.azclierror import ValidationError
    prop, value, said = rule
    raise ValidationError(
        f"Secret as auth type is not allowed: {said} for the {target.display} '{resource.get('name')}' "
        f"({prop}: {str(value).lower()}), so its data plane refuses every key.",
        recommendation="Use --workload-identity (or --service-principal) instead of --secret; or allow key auth on "
        f"'{resource.get('name')}' ({prop}: {str(not value).lower()}) if your policy permits it.")


def management_base(arm):
    # The ARM endpoint of the cloud az is logged in to (Arm keeps it to resolve ids); Cosmos DB identity
    # connections carry a management URL the workload calls.
    return getattr(arm, "_base", None) or "https://management.azure.com"


def endpoint_and_key(arm, target, target_id, resource, with_secret, *, names, what):
    """An endpoint from the resource (else the target's template) and, with the secret, one field of listKeys.
    ``names``: (the endpoint's property, its value's name, the listKeys field, the secret value's name)."""
    prop, endpoint_name, key_field, secret_name = names
    values = {endpoint_name: _props(resource).get(prop) or target.endpoint.format(name=resource["name"])}
    if with_secret:
        values[secret_name] = post(arm, resource_id(target, target_id), "listKeys", target,
                                   f"Listing the keys of {what} '{resource['name']}'")[key_field]
    return values


def id_fields(target, target_id):
    """The fields of the target id (subscription, target_resource_group, the name arguments)."""
    m = target.id_regex().match(target_id or "")
    return {k: v for k, v in m.groupdict().items() if v is not None} if m else {}


def fetch_values(arm, target, target_id, resource, with_secret=True):
    """{field: value} for every field the target's configuration keys may use: the target id's fields,
    then what its family's fetcher reads (it wins on a clash)."""
    from azext_aks_connection.provider import shared       # apply: the target's keys read once per process
    values = id_fields(target, target_id)
    if with_secret:
        refuse_key_auth_disabled(target, resource)
    values.update(shared.cached(("values", target.name, target_id.lower(), bool(with_secret)),
                                lambda: target.family.fetch(arm, target, target_id, resource, with_secret)))
    return values
