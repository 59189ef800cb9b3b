# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The one object every part of a running sandbox shares."""
import os
import uuid

# Fixed, recognisable ids: the sandbox is a fake cloud, and fixed ids make its output copyable.
SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000001"
TENANT_ID = "72f988bf-0000-0000-0000-000000000001"
CALLER_OBJECT_ID = "aaaaaaaa-0000-0000-0000-000000000001"   # the signed-in identity (az login --identity)
CALLER_CLIENT_ID = "aaaaaaaa-0000-0000-0000-000000000002"
LOCATION = "eastus"


class Sandbox:
    """Configuration and shared state of one sandbox process.

    Attributes filled by whoever starts the servers (``sandbox.__main__``):
      arm_url      https://127.0.0.1:<port>   ARM + token endpoint + /_sandbox control
      kube_url     https://127.0.0.1:<port>   Kubernetes API; cluster k is served under /clusters/<k>
      ca_pem       the CA (PEM text) that signed both server certificates
      kube_token   bearer token the Kubernetes API accepts (put into every local-accounts kubeconfig)
      azurite      {"blob": "http://127.0.0.1:<port>", "queue": ..., "table": ...} or {} when not running
      log, faults  sandbox.core.RequestLog / Faults, shared by every plane
      kube         sandbox.kube.KubeRegistry (one KubeStore per managed cluster)
      arm          sandbox.arm.ArmState
    """

    def __init__(self, log, faults):
        self.subscription_id = SUBSCRIPTION_ID
        self.tenant_id = TENANT_ID
        self.location = LOCATION
        self.caller_object_id = CALLER_OBJECT_ID
        self.caller_client_id = CALLER_CLIENT_ID
        self.arm_url = None
        self.kube_url = None
        self.ca_pem = None
        self.kube_token = "sandbox-" + uuid.uuid4().hex
        # Tokens the token endpoint issued: {token: {"aud", "oid", "appid", "exp"}} (never logged or served).
        self.issued_tokens = {}
        self.azurite = {}
        self.log = log
        self.faults = faults
        self.kube = None
        self.arm = None
        # Seconds a long-running operation takes, per kind; tests may shorten or lengthen them.
        self.lro_seconds = {"default": 1.0}
        self.retry_after_ms = 200
        # Whether long-running operations send Retry-After at all (retry-after-ms / x-ms-retry-after-ms /
        # Retry-After). Real Azure operations do not always (Microsoft's recordings of the Service Connector RP
        # send none): switch it off with AKS_CONNECTION_SANDBOX_RETRY_AFTER=0 or PUT /_sandbox/lro
        # {"retryAfter": false}.
        self.retry_after = os.environ.get("AKS_CONNECTION_SANDBOX_RETRY_AFTER", "1").lower() not in (
            "0", "false", "no", "off")
        # Operation kinds whose real provider sends no Retry-After on the initial answer nor on its status polls:
        # AKS managedClusters (azure-cli recordings acs/.../test_aks_update_with_oidc_issuer_enabled.yaml and
        # test_aks_enable_addon_with_azurekeyvaultsecretsprovider.yaml). Service Connector linkers send none either
        # (sandbox/arm/servicelinker.py, its own setting). PUT /_sandbox/lro {"noRetryAfter": [kinds]}.
        self.no_retry_after = {"managedClusters"}
