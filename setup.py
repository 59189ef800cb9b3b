#!/usr/bin/env python
# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The `aks-connection` Azure CLI extension: `az aks connection`, done client-side."""
import os
from setuptools import setup, find_packages

# `make wheel` appends a local version label per build (AKS_CONNECTION_LOCAL_VERSION=+local.<UTC time>):
# `az extension add --upgrade --source` replaces an installed build only when the version differs.
# Release builds set none.
VERSION = "1.0.0b1" + os.environ.get("AKS_CONNECTION_LOCAL_VERSION", "")

CLASSIFIERS = [
    "Development Status :: 4 - Beta",
    "Intended Audience :: Developers",
    "Intended Audience :: System Administrators",
    "Programming Language :: Python",
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3.10",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
]

# azure-cli already ships azure-mgmt-containerservice, -storage, -authorization, -msi and -resource. Microsoft's
# sc-extension is only read (two plain ARM GETs), so no Microsoft.KubernetesConfiguration SDK is needed. The
# Kubernetes API is spoken by the extension's own client on urllib3 (provider/kubeclient.py), which azure-cli ships:
# the kubernetes package (and what it pulls in) was 150 MB of the install; it stays a test requirement only.
DEPENDENCIES = []

# A short long description, not README + HISTORY (41 KB): az reads the installed wheel's METADATA ~14 times in
# every `az aks ...` command, built-in ones and help included (azure-cli's serviceconnector loader lists the
# installed extensions once per source type), and pkginfo parses the whole file each time: 13-25 ms a command
# with README + HISTORY in it, 7-8 ms with this (measured on the installed wheel). Both files are in the repository.
LONG_DESCRIPTION = """`az aks connection`: connect workloads on Azure Kubernetes Service to Azure services
(Storage, Key Vault, Service Bus, PostgreSQL, ...) from the az process, with the arguments and output of
Microsoft's built-in `az aks connection` (Service Connector). `az aks connection -h` lists the commands; the
README and the release history (HISTORY.rst) are in the source repository."""

setup(
    name="aks-connection",
    version=VERSION,
    description="Connect workloads on Azure Kubernetes Service to Azure services (az aks connection), client-side.",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license_expression="MIT",       # SPDX (PEP 639; setuptools >= 77, see pyproject.toml)
    author="aks-connection developers",
    url="https://github.com/Azure/azure-cli-extensions/tree/main/src/aks-connection",
    classifiers=CLASSIFIERS,
    packages=find_packages(include=["azext_aks_connection", "azext_aks_connection.*"]),
    install_requires=DEPENDENCIES,
    package_data={"azext_aks_connection": ["azext_metadata.json", "schema/connections.schema.json"]},
)
