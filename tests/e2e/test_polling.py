# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Polls of long-running operations without Retry-After: real Azure operations do not always send it (Microsoft's
recordings of the Service Connector RP send none), and azure-core then waits 30 s between polls (the SDK clients'
default polling_interval). The extension polls at the service's Retry-After when it is sent and otherwise at a
short interval growing to a few seconds (provider/retry.py Backoff / sdk_polling), so the same create takes about
as long with and without the sandbox's Retry-After:

- workload identity on a new cluster (OIDC issuer and workload identity off: a managed-cluster update, an SDK
  poller);
- a secret for a PostgreSQL flexible server from a new cluster (a firewall rule for the cluster's egress IP: a PUT
  that is a long-running operation, polled by the extension's own loop).

Each create runs twice per setting, interleaved, on clusters of its own; the faster of the two counts (other
tests may run on the same machine). That it followed the service is read from the gaps between its polls of one
operation (from the answer of one to the arrival of the next, in the sandbox's request log), not from how many
polls fit in the operation: on a loaded 2-core machine a poll's round trip alone can take a few hundred ms."""
import time
import uuid

import pytest

from tests.e2e.helpers import lro_seconds, run

pytestmark = pytest.mark.e2e

LRO = 1.5          # seconds per long-running operation here (the session's is shorter): room for 2 polls at 0.5 s
RATIO = 1.2
SLACK = 1.5        # seconds: a poll interval of the first steps, and scheduling noise on a busy 2-core machine


def _status_polls(sbc, mark):
    """GETs of operation-status / result URLs: what the extension polled (log entries)."""
    return [e for e in sbc.requests(since=mark)
            if e["method"] == "GET" and "operation" in e["path"].lower()]


def _gaps(polls):
    """Seconds from the answer to one poll of an operation to the arrival of the next poll of it."""
    last, gaps = {}, []
    for e in polls:
        if e["path"] in last:
            gaps.append(e["start"] - last[e["path"]]["time"])
        last[e["path"]] = e
    return gaps


def _workload_identity(az, sandbox, sbc):
    name = "poll-" + uuid.uuid4().hex[:6]
    cluster = sbc.new_cluster(name, "sandbox-rg")
    s = sandbox["seeds"]["storage"]["storage-blob"]
    return run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"],
               "--tg", s["resourceGroup"], "--account", s["account"], "--connection", "poll_blob",
               "--kube-namespace", "default", "--workload-identity",
               sandbox["seeds"]["identities"]["sandbox-identity"], "-o", "json")


def _firewall(az, sandbox, sbc):
    name = "pollfw-" + uuid.uuid4().hex[:6]
    cluster = sbc.new_cluster(name, "sandbox-rg")
    return run(az, "aks", "connection", "create", "postgres-flexible", "--source-id", cluster["id"],
               "--target-id", sandbox["seeds"]["targets"]["postgres-flexible"], "--connection", "poll_pg",
               "--secret", "name=sandboxadmin", "secret=Pw-" + uuid.uuid4().hex, "-o", "json")


def _timed(sbc, create, retry_after):
    previous = sbc.set_retry_after(retry_after)
    try:
        mark = sbc.mark()
        started = time.monotonic()
        res = create()
        elapsed = time.monotonic() - started
    finally:
        sbc.set_retry_after(previous)
    assert res.rc == 0, res
    return elapsed, _status_polls(sbc, mark), res


@pytest.mark.parametrize("scenario", ["workload-identity", "firewall"])
def test_the_same_create_takes_as_long_with_and_without_retry_after(az, sandbox, sbc, scenario):
    create = {"workload-identity": _workload_identity, "firewall": _firewall}[scenario]
    times = {True: [], False: []}
    polls = {True: [], False: []}
    gaps = {True: [], False: []}
    with lro_seconds(sbc, default=LRO):
        for retry_after in (True, False, True, False):
            elapsed, seen, res = _timed(sbc, lambda: create(az, sandbox, sbc), retry_after)
            times[retry_after].append(elapsed)
            polls[retry_after].append(len(seen))
            gaps[retry_after].extend(_gaps(seen))
            if scenario == "firewall":
                assert "Added firewall rule" in res.log, res      # the write that is polled happened
    with_ra, without_ra = min(times[True]), min(times[False])
    assert without_ra < 15.0, f"without Retry-After the create took {without_ra:.1f} s (azure-core's 30 s default?)"
    assert without_ra <= RATIO * with_ra + SLACK, (scenario, times)
    assert with_ra <= RATIO * without_ra + SLACK, (scenario, times)
    # It did poll, and followed the service: at its Retry-After (50 ms in tests) when sent, else at its own
    # interval (POLL_FIRST 0.5 s, growing): never sooner than that without one, and sooner than that with one.
    assert min(polls[False]) >= 1 and min(polls[True]) >= 1, polls
    assert gaps[True] and gaps[False], (polls, gaps)
    assert min(gaps[False]) >= 0.5, gaps
    assert min(gaps[True]) < 0.4, gaps
