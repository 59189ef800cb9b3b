#!/usr/bin/env python
"""The `aks-connection` Azure CLI extension: `az aks connection`, done client-side."""
from codecs import open as open_file
from setuptools import setup, find_packages

VERSION = "1.0.0b1"

CLASSIFIERS = [
    "Development Status :: 4 - Beta",
    "Intended Audience :: Developers",
    "Intended Audience :: System Administrators",
    "Programming Language :: Python",
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3.10",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "License :: OSI Approved :: MIT License",
]

# azure-cli already ships azure-mgmt-containerservice, -storage, -authorization, -msi and -resource. Microsoft's
# sc-extension is only read (two plain ARM GETs), so no Microsoft.KubernetesConfiguration SDK is needed.
DEPENDENCIES = [
    "kubernetes>=29.0.0",
]

with open_file("README.md", "r", encoding="utf-8") as f:
    README = f.read()
with open_file("HISTORY.rst", "r", encoding="utf-8") as f:
    HISTORY = f.read()

setup(
    name="aks-connection",
    version=VERSION,
    description="Connect workloads on Azure Kubernetes Service to Azure services (az aks connection), client-side.",
    long_description=README + "\n\n" + HISTORY,
    long_description_content_type="text/markdown",
    license="MIT",
    author="aks-connection developers",
    author_email="aks-connection@example.invalid",
    url="https://example.invalid/aks-connection",
    classifiers=CLASSIFIERS,
    packages=find_packages(include=["azext_aks_connection", "azext_aks_connection.*"]),
    install_requires=DEPENDENCIES,
    package_data={"azext_aks_connection": ["azext_metadata.json"]},
)
