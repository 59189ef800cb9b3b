# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""A local Azure + Kubernetes for aks-connection: an ARM emulator, a Kubernetes API emulator,
an MSI-style token endpoint and Azurite, over HTTPS with a CA made at start-up.

The extension (azext_aks_connection) never imports this package.
"""
