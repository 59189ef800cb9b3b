# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The seed's error catalogue (mission M-E1 … M-E5): each known failure message, what causes it, and the fix.

Service Connector for AKS documents a dozen messages a user may meet; they surface in ARM error
bodies, in sc-extension's ``statuses`` / failed install messages, in the logs and events of Job
``sc-job`` and in the status of the pods in ``sc-system``. :func:`diagnose` recognises them wherever
they come from and returns a :class:`Diagnosis`: the cause in one sentence, the fix with the
commands (and FQDNs) that apply to this cluster, and the azclierror class that fits.

Standard library only; the azclierror classes are named, not imported, so this module stays cheap.
"""
import re
from collections import namedtuple

# error: the name of the azure.cli.core.azclierror class that fits
Diagnosis = namedtuple("Diagnosis", "key cause fix error")

EXTENSION_NAME = "sc-extension"
RELEASE_NAMESPACE = "sc-system"
KUBERNETES_CONFIGURATION = "Microsoft.KubernetesConfiguration"
# Where sc-extension comes from: the Helm chart (and, before 2026, the operator image) is served by
# scaksextension.azurecr.io; the operator image now comes from mcr.microsoft.com (MicrosoftDocs/azure-docs#128092).
CHART_FQDN = "scaksextension.azurecr.io"
IMAGE_FQDNS = ("mcr.microsoft.com", "*.data.mcr.microsoft.com")
EGRESS_DOC = "https://learn.microsoft.com/azure/aks/outbound-rules-control-egress"

# Built-in roles that carry the actions our commands need (for the 403 fix line).
_ROLES = [
    (r"^Microsoft\.KubernetesConfiguration/extensions/", "Kubernetes Extension Contributor"),
    (r"^Microsoft\.Storage/storageAccounts/listKeys/action$", "Storage Account Key Operator Service Role"),
    (r"^Microsoft\.Storage/storageAccounts/regenerateKey/action$", "Storage Account Key Operator Service Role"),
    (r"^Microsoft\.ContainerService/managedClusters/listClusterUserCredential/action$",
     "Azure Kubernetes Service Cluster User Role"),
    (r"^Microsoft\.Authorization/roleAssignments/", "Role Based Access Control Administrator"),
    (r"/read$", "Reader"),
]


class Context:  # pylint: disable=too-few-public-methods
    """What the fix lines may name: the cluster (resource group, name, region)."""

    def __init__(self, resource_group=None, cluster=None, region=None):
        self.rg = resource_group or "<resource group>"
        self.cluster = cluster or "<cluster>"
        self.region = region or "<region>"

    @classmethod
    def of(cls, cluster_ref=None, region=None):
        if cluster_ref is None:
            return cls(region=region)
        return cls(cluster_ref.resource_group, cluster_ref.name, region)

    @property
    def ext_show(self):
        return (f"az k8s-extension show -g {self.rg} -c {self.cluster} --cluster-type managedClusters "
                f"-n {EXTENSION_NAME}")

    @property
    def troubleshoot(self):
        return f"az aks connection troubleshoot -g {self.rg} -n {self.cluster}"


def register_fix(namespace):
    return (f"Run 'az provider register -n {namespace}' and wait until 'az provider show -n {namespace} "
            "--query registrationState -o tsv' says Registered, then re-run the command.")


def cluster_wait_fix(ctx):
    return (f"Wait until 'az aks show -g {ctx.rg} -n {ctx.cluster} --query provisioningState -o tsv' says "
            f"Succeeded, then re-run the command; if it says Failed, 'az aks update -g {ctx.rg} -n {ctx.cluster}' "
            "reconciles the cluster.")


def egress_fix(hosts):
    allowed = " and ".join(hosts)
    return (f"Allow HTTPS (443) egress from the cluster's nodes to {allowed} in your firewall or network "
            f"virtual appliance (see {EGRESS_DOC}), then re-run the command.")


def role_for(action):
    for pattern, role in _ROLES:
        if re.search(pattern, action or "", re.IGNORECASE):
            return role
    return "Contributor"


def permission(text):
    """(action, scope) a 403 body names (the last ones: for a linked-scope failure, the missing ones)."""
    actions = re.findall(r"perform action(?:\(s\))? '([^']+)'", text or "", re.IGNORECASE)
    scopes = re.findall(r"(?:over scope|on the linked scope\(s\)|on scope) '([^']+)'", text or "", re.IGNORECASE)
    return (actions[-1] if actions else None), (scopes[-1] if scopes else None)


# Who a grant's fix names when the object id cannot be told: how to find it.
OBJECT_ID_FINDER = "<your object id: az ad signed-in-user show --query id -o tsv>"


def assignee(text):
    """Who a grant's fix names: the object id Azure's AuthorizationFailed message gives ("The client '…' with object
    id '…' does not have authorization…"), else where to find it."""
    found = re.search(r"with object id '([0-9a-fA-F-]{36})'", text or "")
    return found.group(1) if found else OBJECT_ID_FINDER


def _forbidden(text, ctx):  # pylint: disable=unused-argument
    action, scope = permission(text)
    what = f"action '{action}'" if action else "the operation"
    where = f" on '{scope}'" if scope else ""
    refresh = ("If access was granted recently, run 'az login' again to refresh your credentials, then re-run the "
               "command.")
    if not action:      # Azure named no action: no role can be told, only what failed (named above)
        return Diagnosis(
            "forbidden", f"You do not have permission to perform the operation{where}.",
            f"Ask an owner of {scope or 'the resource named above'} to grant you a role that allows this operation "
            f"(Azure's answer does not name the action it needs). {refresh}", "ForbiddenError")
    role = role_for(action)
    grant = (f"'{role}': az role assignment create --assignee {assignee(text)} --role \"{role}\" --scope "
             f"{scope}" if scope else f"'{role}'")
    return Diagnosis(
        "forbidden",
        f"You do not have permission to perform {what}{where}.",
        f"Ask an owner of {scope or 'the resource'} to grant you a role that includes '{action}' (for example "
        f"{grant}). {refresh}",
        "ForbiddenError")


def _not_registered(text, ctx):  # pylint: disable=unused-argument
    m = re.search(r"namespace '([^']+)'", text or "")
    namespace = m.group(1) if m else KUBERNETES_CONFIGURATION
    return Diagnosis("not-registered", f"The subscription is not registered to use namespace '{namespace}'.",
                     register_fix(namespace), "AzureResponseError")


def _chart(text, ctx):  # pylint: disable=unused-argument
    return Diagnosis(
        "chart-download",
        f"The cluster could not download the Helm chart of sc-extension from {CHART_FQDN}: the cluster's egress "
        "(a firewall or a user-defined route) blocks it.",
        egress_fix((CHART_FQDN,) + IMAGE_FQDNS),
        "AzureResponseError")


def _cluster_busy(text, ctx):  # pylint: disable=unused-argument
    return Diagnosis(
        "cluster-busy",
        f"Another operation is running on AKS cluster '{ctx.cluster}' (it is updating), and Azure accepts no "
        "change to it or its extensions until that ends.",
        cluster_wait_fix(ctx), "AzureResponseError")


# Diagnoses whose cause and fix are fixed texts (``{rg}``, ``{cluster}``, ``{region}``, ``{troubleshoot}``,
# ``{ext_show}``, ``{ns}``: the release namespace, ``{ext}``: the extension): (key, cause, fix).
_FIXED = {
    "node-pools-tainted": (
        "Every node pool of the cluster is tainted CriticalAddonsOnly, so the pods of sc-extension have no node to "
        "run on.",
        "Add a node pool without that taint ('az aks nodepool add -g {rg} --cluster-name {cluster} -n userpool "
        "--mode User') or remove the taint from one pool ('az aks nodepool update -g {rg} --cluster-name {cluster} "
        "-n <pool> --node-taints \"\"'), then re-run the command."),
    "agent-timeout": (
        "The cluster extension agent did not answer Azure in time: its pods in kube-system are not running (too "
        "little CPU or memory, a policy, or node taints) or the cluster cannot reach the cluster extensions service.",
        "Check the agent with 'kubectl get pods -n kube-system | grep extension' and 'kubectl describe pod -n "
        "kube-system <extension-operator pod>'; allow HTTPS egress to {region}.dp.kubernetesconfiguration.azure.com; "
        "then re-run the command."),
    "readiness-timeout": (
        "The pods of sc-extension in {ns} did not become ready in time (an image that cannot be pulled, pods that "
        "cannot be scheduled, or too little CPU or memory).",
        "Run '{troubleshoot}' (or 'kubectl get pods,events -n {ns}') to see which pod is stuck and why, fix that, "
        "then re-run the command."),
    "chart-rendering": (
        "Helm could not render the chart of sc-extension with the configuration settings it was given.",
        "Check the settings with '{ext_show} --query configurationSettings' (Service Connector's resource provider "
        "writes them); then re-create the Service Connector connection that installs it."),
    "resource-exists": (
        "A Kubernetes object that the chart of sc-extension creates already exists in the cluster (left by an "
        "earlier install, or owned by another Helm release).",
        "Find it with 'kubectl get all,serviceaccounts,configmaps,secrets -n {ns}' and 'helm list -n {ns} -a'; "
        "delete the leftover object the message names (not the {ext} release: it holds your connections), then "
        "re-run the command."),
    "helm-in-progress": (
        "Another Helm operation (install, upgrade or rollback) is still running on the release of sc-extension.",
        "Wait until 'helm list -n {ns} -a' no longer shows {ext} as pending-install, pending-upgrade or "
        "pending-rollback, then re-run the command; a release stuck pending for more than an hour can be rolled "
        "back with 'helm rollback {ext} -n {ns}'."),
    "conflict": (
        "Azure refused the change with Conflict: either AKS cluster '{cluster}' is updating, or the subscription "
        "is not registered for {kc}.",
        "Wait until 'az aks show -g {rg} -n {cluster} --query provisioningState -o tsv' says Succeeded and 'az "
        "provider show -n {kc} --query registrationState -o tsv' says Registered (else run 'az provider register "
        "-n {kc}'), then re-run the command."),
}


def _fixed(key):
    """The builder of a _FIXED diagnosis: its texts with the context's names filled in."""
    def build(text, ctx):  # pylint: disable=unused-argument
        names = {"rg": ctx.rg, "cluster": ctx.cluster, "region": ctx.region, "troubleshoot": ctx.troubleshoot,
                 "ext_show": ctx.ext_show, "ns": RELEASE_NAMESPACE, "ext": EXTENSION_NAME,
                 "kc": KUBERNETES_CONFIGURATION}
        cause, fix = _FIXED[key]
        return Diagnosis(key, cause.format(**names), fix.format(**names), "AzureResponseError")
    return build


# (key, codes, message pattern, builder): first match wins, most specific first.
_ENTRIES = [
    ("forbidden", ("AuthorizationFailed", "LinkedAuthorizationFailed", "AuthorizationPermissionMismatch"),
     r"(does not|do not|doesn't|don't) have (authorization|permission) to perform", _forbidden),
    ("not-registered", ("MissingSubscriptionRegistration",), r"not registered to use namespace", _not_registered),
    ("node-pools-tainted", (), r"CriticalAddonsOnly", _fixed("node-pools-tainted")),
    ("agent-timeout", (), r"unable to get a response from the agent in time", _fixed("agent-timeout")),
    ("chart-download", (), r"unable to download the helm chart", _chart),
    ("readiness-timeout", (), r"timed out waiting for (the )?resources? (readiness|to come to a ready)",
     _fixed("readiness-timeout")),
    ("chart-rendering", (), r"(helm chart rendering failed|unable to render the helm chart)",
     _fixed("chart-rendering")),
    ("resource-exists", (), r"(resource already exists in your cluster|rendered manifests contain a resource that "
                            r"already exists)", _fixed("resource-exists")),
    ("helm-in-progress", (), r"(operation is already in progress for helm|another operation \(install/upgrade/"
                             r"rollback\) is in progress)", _fixed("helm-in-progress")),
    ("cluster-busy", ("OperationNotAllowed",), r"in progress \w+ managed cluster operation", _cluster_busy),
    ("conflict", (), r"invalid status code:? '?conflict'?", _fixed("conflict")),
]


def diagnose(text, code=None, ctx=None):
    """The :class:`Diagnosis` of a failure message (and ARM error code), or None when it is not in the catalogue."""
    ctx = ctx or Context()
    for _key, codes, pattern, build in _ENTRIES:
        if (code and code in codes) or re.search(pattern, text or "", re.IGNORECASE):
            return build(text, ctx)
    return None


# ---- image pulls (pods of sc-system): not in the seed's list, but the cause behind most readiness timeouts

_GONE = re.compile(r"(not found|manifest unknown|401 unauthorized|unauthorized|denied|403 forbidden)", re.IGNORECASE)


def image_pull(image, detail, ctx=None):
    """Diagnosis of a pod that cannot pull ``image`` (``detail``: the kubelet's event or waiting message)."""
    ctx = ctx or Context()
    host = (image or "").split("/")[0] if "/" in (image or "") else "docker.io"
    if _GONE.search(detail or ""):
        return Diagnosis(
            "image-gone",
            f"The registry {host} refuses or no longer has image {image}: the installed version of sc-extension "
            "points at an image that is not served any more.",
            f"Update sc-extension to its newest version ('az k8s-extension update -g {ctx.rg} -c {ctx.cluster} "
            f"--cluster-type managedClusters -n {EXTENSION_NAME} --auto-upgrade-minor-version true'), then re-run "
            "the command.",
            "AzureResponseError")
    hosts = (host,) + (("*.data.mcr.microsoft.com",) if host == "mcr.microsoft.com" else ())
    return Diagnosis("image-pull", f"The cluster cannot pull image {image} from {host}: its egress blocks the "
                     "registry.", egress_fix(hosts), "AzureResponseError")


# What a credential looks like in a log line or an event: never shown, even in a diagnosis.
_SECRETS = [
    (re.compile(r"((?:Account|SharedAccess)Key|Password|Pwd|Secret|ClientSecret|sig|token|access_token)"
                r"(\s*[=:]\s*\"?)([^;\s\"&,]+)", re.IGNORECASE), r"\1\2***"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1***"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "***"),
    (re.compile(r"[A-Za-z0-9+/]{40,}={0,2}"), lambda m: "***" if _keylike(m.group(0)) else m.group(0)),
]


def _keylike(word):
    """A long run that looks random (mixed case and digits, few slashes): a key, not a path."""
    return (sum(c.isdigit() for c in word) >= 3 and any(c.isupper() for c in word)
            and any(c.islower() for c in word) and word.count("/") <= 3)


def redact(text):
    """``text`` (a log line, an event message) with anything that looks like a credential replaced by ***."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text or "")
    return text


def error_class(diagnosis):
    from azure.cli.core import azclierror
    return getattr(azclierror, diagnosis.error, azclierror.AzureResponseError)
