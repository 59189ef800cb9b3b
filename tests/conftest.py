# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Test set-up. The environment must be fixed before azure.cli.core is imported: its config and
extension directories are read at import time.

- AZURE_CONFIG_DIR: a throw-away directory, so nothing touches ~/.azure.
- AZURE_EXTENSION_DIR: holds `aks-connection/` in the installed-wheel layout, with the package
  linked to this checkout (edits take effect without reinstalling).
- The sandbox is started once per session (`python -m sandbox up`, its own process, on free ports) and
  stopped by PID at the end; under pytest-xdist every worker is a session of its own (its own TMP, sandbox
  and az config). Its long-running operations last TEST_LRO_SECONDS: tests that watch or measure one set
  their own duration (tests/e2e/helpers.py lro_seconds).
"""
import io
import json
import os
import subprocess
import sys
import tempfile

import pytest

# The reliability suite's counts, gathered from every worker's reports and printed at the end (tests/reliability).
# pylint: disable-next=unused-import  # pytest finds hooks by their name in conftest.py
from tests.reliability.tally import pytest_runtest_logreport, pytest_terminal_summary  # noqa: F401,E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMP = tempfile.mkdtemp(prefix="aksconn-tests-")
EXT_DIR = os.path.join(TMP, "ext")
BIN = os.path.dirname(sys.executable)
AZ = os.path.join(BIN, "az")
KUBECTL = os.path.join(BIN, "kubectl")
# The sandbox's own Python: the tests' by default; `make test-mincli` runs az from a virtualenv of an older
# azure-cli (without the packages the sandbox needs, such as azure-storage-blob) and the sandbox from .venv.
SANDBOX_PYTHON = os.environ.get("AKS_CONNECTION_SANDBOX_PYTHON") or sys.executable
# The sandbox's long-running operations in tests (its own default is 1 s, with retry-after-ms 200).
TEST_LRO_SECONDS = 0.05
TEST_RETRY_AFTER_MS = 50


def _install_dev_extension():
    ext = os.path.join(EXT_DIR, "aks-connection")
    info = os.path.join(ext, "aks_connection-1.0.0b1.dist-info")
    os.makedirs(info, exist_ok=True)
    os.symlink(os.path.join(REPO, "azext_aks_connection"), os.path.join(ext, "azext_aks_connection"))
    with open(os.path.join(info, "METADATA"), "w", encoding="utf-8") as f:
        f.write("Metadata-Version: 2.1\nName: aks-connection\nVersion: 1.0.0b1\n")


_install_dev_extension()
os.environ["AZURE_CONFIG_DIR"] = os.path.join(TMP, "azconfig")
os.environ["AZURE_CORE_COLLECT_TELEMETRY"] = "false"
os.environ["AZURE_EXTENSION_DIR"] = EXT_DIR
os.environ["AZURE_CORE_NO_COLOR"] = "true"
sys.path.insert(0, REPO)


# The longest single groups first, seconds of their tests in all (`pytest --durations=0`, 2 cores, 4 workers):
# xdist hands groups out in collection order, and a long one that starts last sets the end of the run.
_LONGEST_FIRST = {f: i for i, f in enumerate([
    "tests/reliability/test_malformed.py",            # 380-630 in 21 groups, 28-51 in its longest
    "tests/e2e/test_builtin_cli.py",                  # 62: the built-in's 30 s poll without Retry-After, once
    "tests/e2e/test_builtin_targets.py",              # 40-80 per group, 4 groups: the built-in on all 27 targets
    "tests/e2e/test_pacing_lane.py",                  # 28: the pacing lane, a 20 s cluster update (marker pacing)
    "tests/e2e/test_store.py",                        # 59
    "tests/e2e/test_interop.py",                      # 54
    "tests/reliability/test_faults.py",               # 59 in three groups, 38 in its longest
    "tests/e2e/test_arm_semantics.py",                # 47
    "tests/e2e/test_wheel_install.py",                # 38: a wheel built and installed by az
    "tests/e2e/test_identity_auth.py",                # 34
    "tests/unit/test_loader.py",                      # 33
])}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """``make test`` (pytest-xdist, --dist loadgroup): the tests of one file run on one worker, in their order
    (files may share state between their tests), except in files that say which of their tests are independent
    of each other: a module-level ``xdist_group_of(item)`` names the part of the file an item belongs to, and
    the parts may run on different workers (each worker runs its own sandbox). Runs before xdist reads the marks."""
    if not getattr(config.option, "loadgroup", False):      # what xdist sets for --dist loadgroup, workers included
        return
    # The longest files first (xdist hands out groups in collection order): one that starts last sets the end.
    items.sort(key=lambda item: _LONGEST_FIRST.get(item.nodeid.split("::")[0], len(_LONGEST_FIRST)))
    for item in items:
        part = getattr(item.module, "xdist_group_of", None)
        group = item.nodeid.split("::")[0] + (f"#{part(item)}" if part else "")
        item.add_marker(pytest.mark.xdist_group(group))


class AzResult:  # pylint: disable=too-few-public-methods
    def __init__(self, rc, out, result, log):
        self.rc, self.out, self.result, self.log = rc, out, result, log

    @property
    def json(self):
        return json.loads(self.out) if self.out.strip() else None

    def __repr__(self):
        return f"AzResult(rc={self.rc}, out={self.out[:500]!r}, log={self.log[-2000:]!r})"


@pytest.fixture(scope="session")
def sandbox():
    """The running sandbox's state (ARM URL, CA, seeds); stopped by PID after the session."""
    state_dir = os.path.join(TMP, "sandbox")
    env = dict(os.environ, AKS_CONNECTION_SANDBOX_DIR=state_dir)
    subprocess.run([SANDBOX_PYTHON, "-m", "sandbox", "up", "--no-login"], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    from sandbox.__main__ import load_state, env_vars
    from sandbox.client import SandboxClient
    state = load_state(state_dir)
    try:
        # Short long-running operations for the whole session: the tests that measure or watch a duration set
        # their own (sbc.set_lro(...), restored afterwards).
        SandboxClient(state).set_lro(default=TEST_LRO_SECONDS, retryAfterMs=TEST_RETRY_AFTER_MS)
        os.environ.update({k: v for k, v in env_vars(state).items() if k != "AZURE_CONFIG_DIR"})
        # Only the sandbox's CA, not the public roots + it (bundle.pem, for a user's shell): the tests talk to the
        # sandbox alone, and every new TLS connection loads the whole file again (~25 ms for ~150 roots).
        os.environ["REQUESTS_CA_BUNDLE"] = state["ca"]
        yield state
    finally:
        subprocess.run([SANDBOX_PYTHON, "-m", "sandbox", "down"], cwd=REPO, env=env, check=False,
                       stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def sbc(sandbox):
    from sandbox.client import SandboxClient
    return SandboxClient(sandbox)


@pytest.fixture
def faults(sbc):
    """add(**rule) -> id; every rule the test added is removed afterwards (requests they hold go on)."""
    added = []

    def add(**rule):
        added.append(sbc.add_fault(**rule))
        return added[-1]
    yield add
    for rule in added:
        sbc.remove_fault(rule)


def run_az(*args):
    """Run az in-process. Errors go through knack logging: capture them with a handler of our own."""
    import logging
    from azure.cli.core import get_default_cli
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    cli, out = get_default_cli(), io.StringIO()
    try:
        try:
            rc = cli.invoke(list(args), out_file=out)
        except SystemExit as exc:
            rc = exc.code
        result = cli.result.result if cli.result else None
    finally:
        root.removeHandler(handler)
    return AzResult(rc, out.getvalue(), result, buf.getvalue())


@pytest.fixture(scope="session")
def az(sandbox):
    """In-process az, logged in to the sandbox (custom cloud + az login --identity)."""
    for args in (["cloud", "register", "-n", "Sandbox", "--endpoint-resource-manager", sandbox["armUrl"] + "/"],
                 ["cloud", "set", "-n", "Sandbox"],
                 ["login", "--identity", "-o", "none"]):
        res = run_az(*args)
        assert res.rc == 0, res
    return run_az


def az_subprocess(*args, env=None):
    """A real `az` process (same config dir, same sandbox)."""
    return subprocess.run([AZ] + list(args), capture_output=True, text=True, env=env or dict(os.environ),
                          check=False, timeout=300)


@pytest.fixture(scope="session")
def kube(az, sandbox, tmp_path_factory):
    """kubernetes CoreV1Api for the seeded cluster, from `az aks get-credentials` (user credentials)."""
    from kubernetes import client, config
    c = sandbox["seeds"]["cluster"]
    path = str(tmp_path_factory.mktemp("kube") / "config")
    res = az("aks", "get-credentials", "-g", c["resourceGroup"], "-n", c["name"], "--file", path, "-o", "none")
    assert res.rc == 0, res
    api = config.new_client_from_config(config_file=path)
    core = client.CoreV1Api(api)
    core.kubeconfig_path = path
    return core


@pytest.fixture
def fresh_cluster(sbc, az, tmp_path):
    """A new cluster in sandbox-rg in its first state (no sc-extension; OIDC issuer, workload identity and
    add-ons off) and a CoreV1Api for it: for tests that must not depend on what other tests did."""
    import uuid
    from kubernetes import client, config
    name = "aks-" + uuid.uuid4().hex[:8]
    created = sbc.new_cluster(name, "sandbox-rg")
    path = str(tmp_path / "kubeconfig")
    res = az("aks", "get-credentials", "-g", "sandbox-rg", "-n", name, "--file", path, "-o", "none")
    assert res.rc == 0, res
    core = client.CoreV1Api(config.new_client_from_config(config_file=path))
    core.kubeconfig_path = path
    return {"name": name, "resourceGroup": "sandbox-rg", "id": created["id"], "core": core}
