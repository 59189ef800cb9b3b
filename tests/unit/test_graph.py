# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""graph.prefetch and graph.start (work in the background); the plan's reads started as a cluster update ends."""
import sys
import threading
import time

from azext_aks_connection.provider import graph


def test_prefetch_imports_in_the_background_and_swallows_a_failure(tmp_path, monkeypatch):
    (tmp_path / "aksconn_prefetched.py").write_text("import time\ntime.sleep(0.3)\nLOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = threading.active_count()
    started = time.monotonic()
    graph.prefetch("aksconn_prefetched")
    graph.prefetch("aksconn_no_such_module")                 # no error here: the step's own import says why
    assert time.monotonic() - started < 0.2                  # the caller does not wait for the import
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before                # both threads ended, the failing one too
    assert sys.modules["aksconn_prefetched"].LOADED


def test_start_runs_in_the_background_and_hands_over_the_result_or_the_error():
    gate = threading.Event()
    future = graph.start(lambda: (gate.wait(5), "listed")[1])
    assert not future.done()                                  # the caller went on
    gate.set()
    assert future.result(timeout=5) == "listed"

    def fails():
        raise ValueError("no such identity")
    try:
        graph.start(fails).result(timeout=5)
        raise AssertionError("the error was not handed over")
    except ValueError as exc:
        assert str(exc) == "no such identity"


class _Step:
    name = "federatedCredential"

    def __init__(self):
        self.reads = 0

    def read_after_update(self):
        self.reads += 1
        return f"read {self.reads}"


def _plan_of(step):
    import types
    from types import SimpleNamespace
    from azext_aks_connection.provider.plan import Plan
    plan = SimpleNamespace(steps=[step], _after_update={})
    for name in ("cluster_update_succeeded", "cluster_update_waits", "read_after_update"):
        setattr(plan, name, types.MethodType(getattr(Plan, name), plan))
    return plan


def test_a_read_started_as_the_update_ended_is_used_once():
    step = _Step()
    plan = _plan_of(step)
    plan.cluster_update_succeeded()                  # a poll found the update succeeded: the read starts now
    assert plan.read_after_update(step) == "read 1"  # the step takes that one, not a read of its own
    assert plan.read_after_update(step) == "read 2"  # used once: a later ask reads again
    assert step.reads == 2


def test_a_read_started_before_another_wait_is_not_used():
    step = _Step()
    plan = _plan_of(step)
    plan.cluster_update_succeeded()
    plan._after_update[step.name].result(timeout=5)   # pylint: disable=protected-access
    plan.cluster_update_waits()                      # the update goes on waiting (someone else's update)
    assert plan.read_after_update(step) == "read 2"  # read again after that wait
    assert step.reads == 2
