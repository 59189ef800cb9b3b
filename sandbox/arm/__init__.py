# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Azure Resource Manager emulator of the sandbox.

One HTTPS app (:func:`build_arm_app`) serves, with real ARM wire shapes:

* ``GET /metadata/endpoints`` (cloud metadata for ``az cloud register``) and ``GET /msi/token``
  (App-Service-style managed identity endpoint for ``az login --identity``; needs the
  ``X-IDENTITY-HEADER`` header) -- no bearer token needed;
* tenants, subscriptions, locations, resource groups, providers (register/unregister),
  ``/resources`` listings (``resources.py``);
* ``Microsoft.ContainerService/managedClusters`` (``containerservice.py``),
  ``Microsoft.KubernetesConfiguration/extensions`` (``kubernetesconfiguration.py``),
  ``Microsoft.Storage/storageAccounts`` and children (``storage.py``),
  ``Microsoft.Network/publicIPAddresses`` (``network.py``),
  ``Microsoft.ManagedIdentity/userAssignedIdentities`` + ``federatedIdentityCredentials``
  (``managedidentity.py``), ``Microsoft.Authorization/roleDefinitions`` + ``roleAssignments`` at any
  scope (``authorization.py``), ``Microsoft.KeyVault/vaults`` + ``accessPolicies`` (``keyvault.py``);
* long-running operations on timers (``common.LroManager``): ``sb.lro_seconds[kind]`` seconds,
  kinds ``managedClusters``, ``extensions``, ``resourceGroups``, ``providers`` (else ``default``);
* control endpoints under ``/_sandbox/arm`` (see ``control.py``):

  GET    /_sandbox/arm/providers;  PUT /_sandbox/arm/providers/{ns} {"registrationState": ...}
  PUT    /_sandbox/arm/clusters/{rg}/{name}/provisioning-state {"provisioningState": "Updating"}
  DELETE /_sandbox/arm/clusters/{rg}/{name}/provisioning-state           (back to Succeeded)
  PUT    /_sandbox/arm/clusters/{rg}/{name}/extension-install-outcome {"message": ..., "code": ...}
  GET|DELETE /_sandbox/arm/clusters/{rg}/{name}/extension-install-outcome
  GET|PUT|PATCH|DELETE /_sandbox/arm/resource?id=<ARM id>   raw resource (PATCH = JSON merge patch)
  GET    /_sandbox/arm/resources[?type=...];  GET /_sandbox/arm/operations
  GET|PUT /_sandbox/arm/settings {"conflictRetryAfter": bool}

Every request other than those needs ``Authorization: Bearer ...`` (401 AuthenticationFailed) and
an ``api-version`` query (400 MissingApiVersionParameter). Adding a resource provider = one module
with ``register(registry)`` (see ``common.HandlerRegistry.generic`` for plain tracked resources),
listed in ``state.PROVIDER_MODULES``.
"""
from sandbox.arm.app import arm_error_response, build_arm_app
from sandbox.arm.state import ArmState

__all__ = ["ArmState", "build_arm_app", "arm_error_response"]
