# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""What the caller may do in Azure, asked before anything is written: one read of the permissions API
(``{scope}/providers/Microsoft.Authorization/permissions``: the caller's effective actions there) per scope the
plan writes, every action the plan's steps need checked against it, and one error naming each missing action, its
scope and a built-in role that grants it. Both engines ask it: the local engine for what its steps write
(``Step.permissions``), the Service Connector engine for what the resource provider does with the caller's token.

The API cannot tell everything: an action granted only under an ABAC condition may still be refused (said so, as a
warning), and deny assignments are not in its answer. A scope whose permissions cannot be read is not judged (said
so, in the debug log)."""
import fnmatch

from knack.log import get_logger

logger = get_logger(__name__)

API_VERSION = "2022-04-01"

# A built-in role that grants the action (the narrowest one we know of); by provider namespace, else Contributor.
ROLES = {
    "microsoft.authorization/roleassignments/write": "Role Based Access Control Administrator",
    "microsoft.containerservice/managedclusters/write": "Azure Kubernetes Service Contributor Role",
    "microsoft.managedidentity/userassignedidentities/federatedidentitycredentials/write":
        "Managed Identity Contributor",
    "microsoft.servicelinker/linkers/write": "Contributor",
    "microsoft.kubernetesconfiguration/extensions/write": "Kubernetes Extension Contributor",
    "microsoft.storage/storageaccounts/listkeys/action": "Storage Account Key Operator Service Role",
    "microsoft.network/virtualnetworks/subnets/joinviaserviceendpoint/action": "Network Contributor",
}
ROLES_BY_NAMESPACE = {"microsoft.storage": "Storage Account Contributor", "microsoft.keyvault": "Key Vault Contributor",
                      "microsoft.sql": "SQL Server Contributor", "microsoft.cache": "Redis Cache Contributor",
                      "microsoft.documentdb": "DocumentDB Account Contributor"}


def role_for(action):
    low = action.lower()
    return ROLES.get(low) or ROLES_BY_NAMESPACE.get(low.split("/")[0]) or "Contributor"


def _matches(patterns, action):
    return any(fnmatch.fnmatchcase(action, p.lower()) for p in patterns or [])


def judge(permissions, action):
    """"allowed", "conditional" (granted only by an entry with an ABAC condition) or "missing"."""
    low = action.lower()
    granting = [p for p in permissions if _matches(p.get("actions"), low) and not _matches(p.get("notActions"), low)]
    if not granting:
        return "missing"
    return "allowed" if any(not p.get("condition") for p in granting) else "conditional"


def _read(arm, scope):
    from azext_aks_connection.provider.arm import ArmError
    try:  # raw: azure-mgmt-authorization's permissions take a resource by its parts, not an id of any depth
        return (arm.get(f"{scope}/providers/Microsoft.Authorization/permissions", API_VERSION) or {}).get("value") \
            or []
    except ArmError as exc:
        logger.debug("Permissions at %s not readable (%s): not checked.", scope, exc.status_code)
        return None


def missing(cli_ctx, needed):
    """[(action, scope)] of ``needed`` [(action, scope)] the caller may not do: one permissions read per scope, the
    reads at once. An action granted only under a condition is warned about, not counted as missing."""
    from azext_aks_connection.provider.arm import Arm
    from azext_aks_connection.provider.graph import parallel
    scopes = sorted({scope for _, scope in needed})
    if not scopes:
        return []
    read = parallel(**{f"s{i}": (lambda scope=scope: _read(Arm(cli_ctx, subscription_id=scope.split("/")[2]), scope))
                       for i, scope in enumerate(scopes)})
    found = {scope: read[f"s{i}"] for i, scope in enumerate(scopes)}
    out = []
    for action, scope in dict.fromkeys(needed):
        if found[scope] is None:
            continue
        verdict = judge(found[scope], action)
        if verdict == "missing":
            out.append((action, scope))
        elif verdict == "conditional":
            logger.warning("'%s' on '%s' is granted to you only under a condition (ABAC): Azure may still refuse it.",
                           action, scope)
    return out


def refuse_missing(cli_ctx, needed, *, what, subscription):
    """A ForbiddenError naming every action of ``needed`` the caller lacks, with its scope and the role-assignment
    command that grants it; nothing is written before it."""
    lacking = missing(cli_ctx, needed)
    if not lacking:
        return
    from azure.cli.core.azclierror import ForbiddenError
    from azext_aks_connection.provider.arm import caller_object_id
    from azext_aks_connection.provider.catalogue import OBJECT_ID_FINDER
    who = caller_object_id(cli_ctx, subscription) or OBJECT_ID_FINDER
    raise ForbiddenError(
        f"You do not have permission to {what}: " + "; ".join(
            f"'{action}' on '{scope}' (granted by \"{role_for(action)}\")" for action, scope in lacking) +
        ". Nothing was written.",
        recommendation="Ask an owner to grant you: " + "; ".join(
            f"az role assignment create --assignee {who} --role \"{role_for(action)}\" --scope {scope}"
            for action, scope in lacking) + ". If access was recently granted, run 'az login' again.")
