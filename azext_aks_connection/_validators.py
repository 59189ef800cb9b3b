# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Input checks that run before anything is read or written in Azure or the cluster.

Standard library + azclierror only, so a bad argument fails in milliseconds with the fix.
"""
import os
import re

from azure.cli.core.azclierror import (InvalidArgumentValueError, MutuallyExclusiveArgumentError,
                                       RequiredArgumentMissingError)

CLUSTER_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<resource_group>[^/]+)"
    r"/providers/Microsoft\.ContainerService/managedClusters/(?P<cluster>[^/]+)$", re.IGNORECASE)
CONNECTION_ID = re.compile(
    r"^(?P<source>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerService"
    r"/managedClusters/[^/]+)/providers/Microsoft\.ServiceLinker/linkers/(?P<name>[^/]+)$", re.IGNORECASE)

# Connection names: what Service Linker accepts plus '-', which the built-in rejects for no good reason
# (azure-cli#30268). The Kubernetes names we derive from it strip everything but letters and digits.
CONNECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,59}$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

EXAMPLE_CLUSTER_ID = ("/subscriptions/{subscription}/resourceGroups/{resource_group}"
                      "/providers/Microsoft.ContainerService/managedClusters/{cluster}")


def skip_builtin_validation(namespace):  # pylint: disable=unused-argument
    """Stands in for the built-in module's argument validators (see _params.py); ours run in custom.py."""


class ClusterRef:  # pylint: disable=too-few-public-methods
    def __init__(self, subscription, resource_group, name):
        self.subscription = subscription
        self.resource_group = resource_group
        self.name = name

    @property
    def id(self):
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.ContainerService/managedClusters/{self.name}")

    def connection_id(self, connection_name):
        return f"{self.id}/providers/Microsoft.ServiceLinker/linkers/{connection_name}"


def parse_cluster_id(source_id):
    m = CLUSTER_ID.match(source_id or "")
    if not m:
        raise InvalidArgumentValueError(
            f"Resource id is invalid: '{source_id}' is not the id of an AKS cluster.",
            recommendation=f"Pass --source-id {EXAMPLE_CLUSTER_ID}, or use -g/--resource-group with -n/--name.")
    return ClusterRef(m.group("subscription"), m.group("resource_group"), m.group("cluster"))


def resolve_cluster(cmd, resource_group_name=None, cluster=None, source_id=None):
    """The cluster from --source-id or -g/-n (exactly one of the two forms)."""
    if source_id:
        if resource_group_name or cluster:
            raise MutuallyExclusiveArgumentError(
                "Use either --source-id or -g/--resource-group with -n/--name, not both.")
        return parse_cluster_id(source_id)
    missing = [opt for opt, val in (("-g/--resource-group", resource_group_name), ("-n/--name", cluster)) if not val]
    if missing:
        raise RequiredArgumentMissingError(
            "Required argument is missing: " + ", ".join(missing) + ".",
            recommendation="Name the cluster with -g/--resource-group and -n/--name, or pass --source-id.")
    from azure.cli.core.commands.client_factory import get_subscription_id
    return ClusterRef(get_subscription_id(cmd.cli_ctx), resource_group_name, cluster)


def resolve_connection(cmd, resource_group_name=None, cluster=None, connection_name=None, connection_id=None):
    """(ClusterRef, connection name) from --id or -g/-n/--connection."""
    if connection_id:
        if resource_group_name or cluster or connection_name:
            raise MutuallyExclusiveArgumentError(
                "Use either --id or -g/--resource-group, -n/--name and --connection, not both.")
        m = CONNECTION_ID.match(connection_id)
        if not m:
            raise InvalidArgumentValueError(
                f"Resource id is invalid: '{connection_id}' is not the id of an AKS connection.",
                recommendation="Pass --id " + EXAMPLE_CLUSTER_ID +
                "/providers/Microsoft.ServiceLinker/linkers/{connection}, as printed by 'az aks connection list'.")
        return parse_cluster_id(m.group("source")), m.group("name")
    missing = [opt for opt, val in (("-g/--resource-group", resource_group_name), ("-n/--name", cluster),
                                    ("--connection", connection_name)) if not val]
    if missing:
        raise RequiredArgumentMissingError(
            "Required argument is missing: " + ", ".join(missing) + ".",
            recommendation="Name the connection with -g, -n and --connection, or pass its --id.")
    validate_connection_name(connection_name)
    from azure.cli.core.commands.client_factory import get_subscription_id
    return ClusterRef(get_subscription_id(cmd.cli_ctx), resource_group_name, cluster), connection_name


def validate_connection_name(name):
    if not CONNECTION_NAME.match(name or "") or name.endswith(".") or ".." in name:
        raise InvalidArgumentValueError(
            f"Connection name '{name}' is invalid: use 1-60 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, not ending with '.' and without '..' (as ARM resource names).",
            recommendation="For example: --connection orders_blob")


def validate_namespace(namespace):
    if not namespace or len(namespace) > 63 or not DNS1123_LABEL.match(namespace):
        raise InvalidArgumentValueError(
            f"Kubernetes namespace '{namespace}' is invalid: a namespace name is at most 63 lowercase letters, "
            "digits and '-', starting and ending with a letter or digit (RFC 1123 label).",
            recommendation="For example: --kube-namespace orders-prod")


def resolve_target(cmd, target, target_id=None, target_resource_group=None, names=None):
    """(target id, dict of parsed fields) from --target-id or --tg plus the target's name arguments."""
    names = names or {}
    given = {k: v for k, v in names.items() if v}
    if target_id:
        if target_resource_group or given:
            raise MutuallyExclusiveArgumentError(
                "Use either --target-id or --target-resource-group/--tg with " +
                ", ".join(o for a in target.name_args for o in a.options[:1]) + ", not both.")
        m = target.id_regex().match(target_id)
        if not m:
            raise InvalidArgumentValueError(
                f"Unsupported target resource id: '{target_id}' is not the id of a {target.display} target.",
                recommendation="Pass --target-id " + target.id_template)
        return target_id, m.groupdict()
    needs_group = "{target_resource_group}" in target.id_template   # Confluent Cloud: an endpoint, no group
    options = (["--target-resource-group/--tg"] if needs_group else []) + [a.options[0] for a in target.name_args]
    given_values = ([target_resource_group] if needs_group else []) + [names.get(a.dest) for a in target.name_args]
    missing = [o for o, v in zip(options, given_values) if not v]
    if missing:
        raise RequiredArgumentMissingError(
            "Required argument is missing: " + ", ".join(missing) + ".",
            recommendation="Name the target with " + " and ".join(options) + ", or pass --target-id.")
    from azure.cli.core.commands.client_factory import get_subscription_id
    fields = {"subscription": get_subscription_id(cmd.cli_ctx), "target_resource_group": target_resource_group}
    fields.update({a.dest: names[a.dest] for a in target.name_args})
    return target.id_template.format(**fields), fields


def secret_name(connection_name):
    """sc-<connection name, letters and digits only>-secret, lower-cased so it is a valid Kubernetes name.

    The built-in keeps the case and so fails on upper-case names; for lower-case names both agree.
    """
    return "sc-" + re.sub(r"[^a-zA-Z0-9]", "", connection_name).lower() + "-secret"


def read_file_value(value, what):
    """@<file> -> the file's content (stripped): keeps a secret off the command line, which az --debug echoes."""
    if not value.startswith("@"):
        return value
    path = os.path.expanduser(value[1:])
    try:
        with open(path, encoding="utf-8") as f:
            content = f.read().strip()
    except OSError as exc:
        raise InvalidArgumentValueError(f"{what}=@{path}: cannot read the file ({exc.strerror}).") from None
    if not content:
        raise InvalidArgumentValueError(f"{what}=@{path}: the file is empty.")
    return content
