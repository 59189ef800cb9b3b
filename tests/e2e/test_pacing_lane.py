# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The pacing lane of `make test` (marker ``pacing``): a workload-identity create through a cluster update that takes
20 s, as a real one takes minutes, with no Retry-After on the PUT nor on its operation status (Microsoft's recording
acs/tests/latest/recordings/test_aks_update_with_oidc_issuer_enabled.yaml: Azure-AsyncOperation only; the update ran
~2 min). The create must finish a few seconds after the update does, poll at its own short growing interval (not
azure-core's 30 s default, not in a busy loop), and show it is alive on the terminal at least every 10 s."""
import contextlib
import io
import threading
import time
import uuid

import pytest

from tests.e2e.helpers import lro_seconds

pytestmark = [pytest.mark.e2e, pytest.mark.pacing]

UPDATE = 20.0        # seconds the cluster update takes here
FEW = 8.0            # seconds after it the create may still take: its last poll (<= 5 s apart) + the rest of it
ALIVE = 10.0         # the longest a user may see nothing new on the terminal


class _Terminal(io.StringIO):
    """stderr as a terminal (azure-cli draws its progress line only on one), with the time of every write."""

    def __init__(self):
        super().__init__()
        self.writes = []
        self._lock = threading.Lock()

    def isatty(self):
        return True

    def write(self, s):
        with self._lock:
            if s.strip():
                self.writes.append((time.monotonic(), s))
        return super().write(s)


def test_workload_identity_through_a_20_second_cluster_update_without_retry_after(az, sandbox, sbc, monkeypatch):
    assert "managedClusters" in sbc.set_lro()["noRetryAfter"]          # the sandbox's default, as AKS answers
    cluster = sbc.new_cluster("pace-" + uuid.uuid4().hex[:6], "sandbox-rg")     # OIDC issuer and WI off
    s = sandbox["seeds"]["storage"]["storage-blob"]
    terminal = _Terminal()
    # azure-cli's progress view writes to the sys.stderr of when its module was first imported (a default argument
    # of get_progress_view): hand it the terminal whatever test imported it first.
    from azure.cli.core.commands import progress as az_progress
    view = az_progress.get_progress_view
    monkeypatch.setattr(az_progress, "get_progress_view",
                        lambda determinant=False, outstream=None, spinner=None: view(determinant, terminal, spinner))
    with lro_seconds(sbc, managedClusters=UPDATE):
        mark = sbc.mark()
        start = time.monotonic()
        with contextlib.redirect_stderr(terminal):
            res = az("aks", "connection", "create", "storage-blob", "--source-id", cluster["id"],
                     "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "pace_blob",
                     "--kube-namespace", "default", "--workload-identity",
                     sandbox["seeds"]["identities"]["sandbox-identity"], "-o", "json")
        took = time.monotonic() - start
    assert res.rc == 0, res
    log = sbc.requests(since=mark, plane="arm")
    puts = [e for e in log if e["method"] == "PUT" and e["path"].lower() == cluster["id"].lower()]
    assert len(puts) == 1, puts
    polls = [e for e in log if e["method"] == "GET" and "/providers/Microsoft.ContainerService/locations/" in e["path"]
             and "/operations/" in e["path"]]
    # The update itself: from the PUT's answer to the poll that saw it end.
    assert UPDATE <= took < UPDATE + FEW, took
    assert polls and polls[-1]["time"] - puts[0]["time"] < UPDATE + 6.0, [round(p["start"] - puts[0]["time"], 1)
                                                                          for p in polls]
    # Its own schedule (0.5 s growing by 1.25 to 5 s): about 11 polls in 20 s; azure-core's 30 s default would be 1,
    # a busy loop hundreds.
    assert 8 <= len(polls) <= 16, [round(p["start"] - puts[0]["time"], 1) for p in polls]
    # Alive on the terminal: the update's progress line, redrawn; never 10 s without a write while it ran.
    lines = [text for _, text in terminal.writes]
    assert any("a cluster update; it can take minutes" in text for text in lines), lines[:5]
    times = [start] + [t for t, _ in terminal.writes] + [start + took]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < ALIVE, [round(g, 1) for g in gaps]
