# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The provider layer: idempotent steps on Azure Resource Manager and Kubernetes.

Every ``ensure_*`` reads first, compares, and writes only on a difference, so re-running a
command converges and never duplicates. SDKs and the kubernetes client are imported inside
these modules only, never by the command loader.
"""
