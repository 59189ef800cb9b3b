# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Fixtures of the reliability suite (issue 13 item 8): counts, killable az processes, faults removed after each
test, a Kubernetes reader for any cluster, and settings that are not what is tested here."""
import os
import time

import pytest

from tests.reliability import tally as _tally
from tests.reliability.world import KubeReader


@pytest.fixture
def tally(request):
    """tally(part, **fields): one line of the suite's counts (tests/reliability/tally.py)."""
    def add(part, **fields):
        _tally.record(request.node, part, **fields)
    return add


@pytest.fixture(scope="module")
def zygote(az):   # pylint: disable=unused-argument  # az: logged in first
    from tests.reliability.azproc import Zygote
    with Zygote(dict(os.environ)) as z:
        yield z


@pytest.fixture(scope="module")
def kube_reader(az, sandbox, tmp_path_factory):
    import yaml
    c = sandbox["seeds"]["cluster"]
    path = str(tmp_path_factory.mktemp("kubeconfig") / "config")
    res = az("aks", "get-credentials", "-g", c["resourceGroup"], "-n", c["name"], "--file", path, "-o", "none")
    assert res.rc == 0, res
    with open(path, encoding="utf-8") as f:
        token = yaml.safe_load(f)["users"][0]["user"]["token"]
    return KubeReader(sandbox, token)


@pytest.fixture(scope="module", autouse=True)
def quick_settings(sbc):
    """What is not tested here is quick: a new identity's principal is usable at once, a federated credential
    write holds its identity briefly. Restored afterwards."""
    before = sbc.arm("GET", "settings")
    sbc.arm("PUT", "settings", {"principalReplicationSeconds": 0, "ficWriteSeconds": 0.05})
    yield
    sbc.arm("PUT", "settings", {k: before[k] for k in ("principalReplicationSeconds", "ficWriteSeconds")})


def quiesce(sbc, timeout=60):
    """Wait until the sandbox answers no request any more (a killed process's requests in flight have landed)."""
    deadline = time.monotonic() + timeout
    while sbc.in_flight():
        assert time.monotonic() < deadline, "requests still in flight"
        time.sleep(0.02)
