# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Real cluster access: a Kubernetes client for any AKS cluster, from the current `az login`. The names other
modules use, from the modules that do each job:

* kubeclient.py  the client (:class:`KubeClient` on urllib3, KubeObject answers, KubeApiError, timeouts, retries);
                 the only Kubernetes client of the extension (no ``kubernetes`` package);
* kubecreds.py   the cluster's user credentials and the Entra ID token that replaces kubelogin (:func:`api_client`);
* kubereview.py  access reviews before a create writes (:func:`preflight_create`) and the 403's fix;
* kubereach.py   an API server out of reach: the probe (:func:`reaching`) and the error that says why.
"""
# pylint: disable=unused-import  # the names are what this module is for
from azext_aks_connection.provider.kubeclient import (  # noqa: F401
    DEFAULT_TIMEOUT, ClusterContext, KubeApiError, KubeClient, KubeObject, _speaks, api_errors, context_of, plain,
    timeouts, unspoken)
from azext_aks_connection.provider.kubecreds import (  # noqa: F401
    AKS_SERVER_APP, api_client, entra_token, token_claims)
from azext_aks_connection.provider.kubereach import PROBE_TIMEOUT, reaching, reason_of, unreachable  # noqa: F401
from azext_aks_connection.provider.kubereview import (  # noqa: F401
    create_checks, forbidden, forbidden_from_status, preflight, preflight_create)
