# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Kubernetes API emulator of the sandbox: one HTTPS server, many clusters.

``KubeRegistry`` holds one ``KubeStore`` per cluster; ``build_kube_app(registry, token)`` is the
``sandbox.core`` app serving cluster ``key`` under ``/clusters/{key}`` (put
``https://127.0.0.1:<port>/clusters/<key>`` in a kubeconfig); ``kube_error_response`` renders errors as
Kubernetes ``Status`` objects.  Enough of the API is emulated for the Python client and ``kubectl get /
describe / logs / apply / create / delete`` on namespaces, secrets, serviceaccounts, configmaps, pods,
events (core/v1) and jobs (batch/v1).  See the module docstrings of ``api``, ``store``, ``patch`` and
``tables`` for what is and is not emulated.
"""
from .api import build_kube_app, kube_error_response
from .resources import RESOURCES
from .store import KubeRegistry, KubeStore, b64

__all__ = ["KubeStore", "KubeRegistry", "build_kube_app", "kube_error_response", "RESOURCES", "b64"]
