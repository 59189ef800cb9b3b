# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The wheel as a user installs it: built from the sources as `make wheel` builds it, added with
`az extension add --source` to an empty extension directory (its dependencies come from PyPI), then one
create / show / validate / delete through that install against the sandbox. The other tests run the checkout
through a development link (tests/conftest.py); this one proves the wheel carries everything the commands need.

AKS_CONNECTION_WHEEL=<path> tests a wheel built elsewhere instead of building one."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import AZ, REPO

pytestmark = pytest.mark.e2e

LOCAL_VERSION = "+local.smoke"
# The sandbox's CA alone (tests/conftest.py) would make pip's downloads from PyPI fail TLS: pip and
# `az extension add` get the machine's own trust store.
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
# The installed extension (az extension add --source into an empty directory): 165 MB with the kubernetes package.
MAX_INSTALL_BYTES = 10 * 1024 * 1024


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in CA_VARIABLES}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    given = os.environ.get("AKS_CONNECTION_WHEEL")
    if given:
        return given
    dist = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "wheel.py"), str(dist)],
                          capture_output=True, text=True, check=False, timeout=600,
                          env=_env(AKS_CONNECTION_LOCAL_VERSION=LOCAL_VERSION))      # as `make wheel` builds it
    assert proc.returncode == 0, proc.stderr[-3000:]
    # A quiet build: no setuptools deprecation (license classifiers, …) on the way.
    assert "Deprecat" not in proc.stderr and "BuildBackendWarning" not in proc.stderr, proc.stderr[-3000:]
    built = [f for f in os.listdir(dist) if f.endswith(".whl")]
    assert built == [f"aks_connection-1.0.0b1{LOCAL_VERSION}-py3-none-any.whl"], built
    return str(dist / built[0])


@pytest.fixture(scope="module")
def installed(wheel, az, tmp_path_factory):
    """An extension directory holding only the wheel's install; az logged in to the sandbox (the az fixture)."""
    ext_dir = str(tmp_path_factory.mktemp("wheel-ext"))
    proc = subprocess.run([AZ, "extension", "add", "--source", wheel, "--yes", "-o", "none"], capture_output=True,
                          text=True, check=False, timeout=600, env=_env(AZURE_EXTENSION_DIR=ext_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return ext_dir


def az_wheel(ext_dir, *args, **env):
    """az with the wheel's install, run from the extension directory: az starts as ``python -m azure.cli``, which
    puts its working directory first on sys.path, so run from the checkout it imports the checkout's sources."""
    return subprocess.run([AZ, *args], capture_output=True, text=True, check=False, timeout=300, cwd=ext_dir,
                          env=dict(os.environ, AZURE_EXTENSION_DIR=ext_dir, **env))


def test_the_wheel_installs_into_an_empty_extension_directory(installed, wheel):
    listed = az_wheel(installed, "extension", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    [ext] = json.loads(listed.stdout)
    assert (ext["name"], ext["extensionType"]) == ("aks-connection", "whl")
    if not os.environ.get("AKS_CONNECTION_WHEEL"):
        assert ext["version"] == "1.0.0b1" + LOCAL_VERSION
    assert os.path.realpath(ext["path"]) == os.path.realpath(os.path.join(installed, "aks-connection"))
    package = os.path.join(ext["path"], "azext_aks_connection")
    assert os.path.isdir(package) and not os.path.islink(package)      # a copy from the wheel, not the checkout
    assert os.path.isfile(os.path.join(package, "azext_metadata.json"))
    assert os.path.isfile(os.path.join(package, "schema", "connections.schema.json"))   # for editors and CI linting
    # No run-time dependency beyond azure-cli's own: no kubernetes package (one Kubernetes client, the extension's),
    # no azure-* SDK azure-cli does not ship. The whole install stays small.
    names = os.listdir(ext["path"])
    assert [n for n in names if n.endswith(".dist-info")] == [f"aks_connection-{ext['version']}.dist-info"], names
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(installed) for f in files)
    assert size < MAX_INSTALL_BYTES, size


def test_the_code_az_runs_is_the_wheels(installed):
    """What az imports for `az aks connection` is the installed copy, not the checkout's (so the tests below try
    the wheel)."""
    ran = az_wheel(installed, "aks", "connection", "apply", "--file", "missing.yaml", PYTHONVERBOSE="1")
    assert ran.returncode == 2, ran.stderr[-3000:]
    imported = [line for line in ran.stderr.splitlines() if "azext_aks_connection/__init__.py" in line]
    assert imported, ran.stderr[-3000:]
    assert all(os.path.join(installed, "aks-connection", "azext_aks_connection") in line for line in imported), \
        imported


def test_the_installed_metadata_is_small(installed):
    """az parses the installed wheel's METADATA ~14 times in every `az aks ...` command (built-in ones and help
    too: azure-cli's serviceconnector loader lists the installed extensions once per source type). With README +
    HISTORY as its long description (41 KB) that was 13-25 ms a command; setup.py keeps it to a paragraph."""
    ext = os.path.join(installed, "aks-connection")
    [info] = [n for n in os.listdir(ext) if n.startswith("aks_connection-") and n.endswith(".dist-info")]
    size = os.path.getsize(os.path.join(ext, info, "METADATA"))
    assert size < 4096, size
    shown = az_wheel(installed, "extension", "show", "--name", "aks-connection", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert "az aks connection" in json.loads(shown.stdout)["metadata"]["description"]


def test_create_show_validate_delete_through_the_installed_wheel(installed, sandbox, kube):
    c, s = sandbox["seeds"]["cluster"], sandbox["seeds"]["storage"]["storage-blob"]
    conn = c["id"] + "/providers/Microsoft.ServiceLinker/linkers/wheel_blob"
    created = az_wheel(installed, "aks", "connection", "create", "storage-blob", "-g", c["resourceGroup"],
                       "-n", c["name"], "--tg", s["resourceGroup"], "--account", s["account"],
                       "--connection", "wheel_blob", "--kube-namespace", "wheel", "--secret", "-o", "json")
    assert created.returncode == 0, created.stderr[-3000:]
    assert json.loads(created.stdout)["provisioningState"] == "Succeeded"
    secret = kube.read_namespaced_secret("sc-wheelblob-secret", "wheel")
    assert list(secret.data) == ["AZURE_STORAGEBLOB_CONNECTIONSTRING"]

    shown = az_wheel(installed, "aks", "connection", "show", "--id", conn, "-o", "json")
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert json.loads(shown.stdout)["kubernetesResourceName"]["secret"] == "sc-wheelblob-secret"

    validated = az_wheel(installed, "aks", "connection", "validate", "--id", conn, "-o", "json")
    assert validated.returncode == 0, validated.stderr[-3000:]
    results = json.loads(validated.stdout)
    assert results and {r["result"] for r in results} == {"success"}, results

    deleted = az_wheel(installed, "aks", "connection", "delete", "--id", conn, "--yes")
    assert deleted.returncode == 0, deleted.stderr[-3000:]
    gone = az_wheel(installed, "aks", "connection", "show", "--id", conn, "-o", "json")
    assert gone.returncode == 3, gone.stderr[-3000:]
