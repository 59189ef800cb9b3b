# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The error catalogue (M-E1 … M-E5) as data: every message of the seed maps to its cause and fix, whatever
wraps it; ARM error bodies become the fitting azclierror."""
import pytest
from azure.cli.core.azclierror import (AzureResponseError, ForbiddenError, ResourceNotFoundError)

from azext_aks_connection.provider import catalogue
from azext_aks_connection.provider.errors import arm_error

CTX = catalogue.Context("rg1", "aks1", "westeurope")

# The seed's messages, verbatim (mission.md M-E1 … M-E5), with the key they map to and a piece of their fix.
SEED = [
    ("Unable to get a response from the agent in time", "agent-timeout",
     "westeurope.dp.kubernetesconfiguration.azure.com"),
    ("Extension pods can't be scheduled if all the node pools in the cluster are CriticalAddonsOnly tainted",
     "node-pools-tainted", "az aks nodepool add -g rg1 --cluster-name aks1"),
    ("Unable to download the Helm chart from the repo URL", "chart-download", "scaksextension.azurecr.io and "
     "mcr.microsoft.com"),
    ("Timed out waiting for resource readiness", "readiness-timeout", "az aks connection troubleshoot -g rg1 -n aks1"),
    ("Helm chart rendering failed with given values", "chart-rendering", "--query configurationSettings"),
    ("Resource already exists in your cluster", "resource-exists", "helm list -n sc-system -a"),
    ("Operation is already in progress for Helm", "helm-in-progress", "helm rollback sc-extension -n sc-system"),
    ("Operation returned an invalid status code: Conflict", "conflict",
     "az provider register -n Microsoft.KubernetesConfiguration"),
    ("You do not have permission to perform action 'Microsoft.Storage/storageAccounts/listKeys/action' on scope "
     "'/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a'. If access was recently "
     "granted, please refresh your credentials.", "forbidden", "Storage Account Key Operator Service Role"),
    ("The subscription is not registered to use namespace 'Microsoft.KubernetesConfiguration'", "not-registered",
     "az provider register -n Microsoft.KubernetesConfiguration"),
]


@pytest.mark.parametrize("message, key, fix", SEED, ids=[s[1] for s in SEED])
def test_every_seed_message_has_cause_and_fix(message, key, fix):
    for text in (message, f"Helm installation failed : {message} : InnerError [x]", message.upper()):
        diagnosis = catalogue.diagnose(text, None, CTX)
        assert diagnosis is not None and diagnosis.key == key, text
        assert diagnosis.cause and fix in diagnosis.fix


def test_unknown_message_is_not_diagnosed():
    assert catalogue.diagnose("disk full", None, CTX) is None


def test_newer_wording_of_the_readiness_timeout():
    text = ("Helm installation failed : Timed out waiting for the resource to come to a ready/completed state Last "
            "resource not ready was sc-system/sc-operator")
    assert catalogue.diagnose(text, None, CTX).key == "readiness-timeout"


def test_linked_authorization_failure_names_the_missing_action():
    text = ("The client 'u@x' with object id 'o' has permission to perform action 'Microsoft.ServiceLinker/linkers/"
            "write' on scope '/s/c'; however, it does not have permission to perform action(s) 'Microsoft.Storage/"
            "storageAccounts/listKeys/action' on the linked scope(s) '/s/a' (respectively) or the linked scope(s) "
            "are invalid.")
    assert catalogue.permission(text) == ("Microsoft.Storage/storageAccounts/listKeys/action", "/s/a")
    assert catalogue.diagnose(text, "LinkedAuthorizationFailed", CTX).key == "forbidden"


@pytest.mark.parametrize("image, detail, key, fix", [
    ("mcr.microsoft.com/a/b:1", "dial tcp: lookup mcr.microsoft.com: i/o timeout", "image-pull",
     "mcr.microsoft.com and *.data.mcr.microsoft.com"),
    ("scaksextension.azurecr.io/prod/image/sc-operator:20250101", "failed to resolve reference: 401 Unauthorized",
     "image-gone", "az k8s-extension update -g rg1 -c aks1"),
    ("mcr.microsoft.com/a/b:2", "manifest for mcr.microsoft.com/a/b:2 not found: manifest unknown", "image-gone",
     "--auto-upgrade-minor-version true"),
])
def test_image_pull(image, detail, key, fix):
    diagnosis = catalogue.image_pull(image, detail, CTX)
    assert diagnosis.key == key and fix in diagnosis.fix


class _Err(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status_code = status
        self.message = message
        self.error = type("E", (), {"code": code, "message": message})()


def test_arm_403_is_forbidden_with_action_scope_and_role():
    exc = _Err(403, "AuthorizationFailed", "The client 'c' with object id 'o' does not have authorization to "
               "perform action 'Microsoft.KubernetesConfiguration/extensions/write' over scope '/s/x/extensions/"
               "sc-extension' or the scope is invalid. If access was recently granted, please refresh your "
               "credentials.")
    err = arm_error(exc, "Writing", CTX)
    assert isinstance(err, ForbiddenError)
    assert "Cause: You do not have permission to perform action 'Microsoft.KubernetesConfiguration/extensions/" \
           "write' on '/s/x/extensions/sc-extension'." in err.error_msg
    assert "Kubernetes Extension Contributor" in err.recommendations[0]


def test_arm_missing_registration_names_the_register_command():
    exc = _Err(409, "MissingSubscriptionRegistration", "The subscription is not registered to use namespace "
               "'Microsoft.KubernetesConfiguration'. See https://aka.ms/rps-not-found.")
    err = arm_error(exc, "Reading", CTX)
    assert isinstance(err, AzureResponseError)
    assert "az provider register -n Microsoft.KubernetesConfiguration" in err.recommendations[0]


def test_arm_404_stays_not_found_and_unknown_errors_stay_plain():
    assert isinstance(arm_error(_Err(404, "ResourceNotFound", "gone"), "Reading"), ResourceNotFoundError)
    plain = arm_error(_Err(500, "InternalServerError", "boom"), "Reading")
    # exactly this class (no subclass of it): pylint: disable-next=unidiomatic-typecheck
    assert type(plain) is AzureResponseError and "Cause:" not in plain.error_msg
