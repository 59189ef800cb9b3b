# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""provider/retry.py: the one retry helper (retry.call) and the one state poll (retry.poll), on a fake clock: which
errors are retried, the Retry-After honoured before the backoff, the bounds (attempts, per kind, deadline), the
re-read between tries, and the waits never past the deadline."""
import pytest

from azext_aks_connection.provider import retry


class Clock:
    """retry's ``time``: monotonic() is what the pauses added up to."""

    def __init__(self):
        self.now = 1000.0
        self.waits = []

    def monotonic(self):
        return self.now

    def pause(self, seconds):
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture(name="clock")
def _clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(retry, "time", clock)
    monkeypatch.setattr(retry, "pause", clock.pause)
    return clock


class Failed(Exception):
    def __init__(self, status, headers=None):
        super().__init__(status)
        self.status, self.headers = status, headers or {}


def _failing(*failures, result="done"):
    """An attempt that raises ``failures`` one after the other, then returns ``result``; ``calls`` records n."""
    left = list(failures)

    def attempt(n):
        attempt.calls.append(n)
        if left:
            raise left.pop(0)
        return result
    attempt.calls = []
    return attempt


def _conflict(exc):
    return isinstance(exc, Failed) and exc.status == 409


def test_retryable_errors_are_tried_again_until_the_attempt_succeeds(clock):
    attempt = _failing(Failed(409), Failed(409))
    assert retry.call(attempt, retryable=_conflict, attempts=5) == "done"
    assert attempt.calls == [0, 1, 2]
    assert len(clock.waits) == 2


def test_an_error_the_predicate_does_not_name_propagates_at_once(clock):
    attempt = _failing(Failed(403))
    with pytest.raises(Failed) as raised:
        retry.call(attempt, retryable=_conflict, attempts=5)
    assert raised.value.status == 403 and attempt.calls == [0] and clock.waits == []


def test_retry_after_is_honoured_before_the_backoff(clock):
    attempt = _failing(Failed(409, {"Retry-After": "7"}), Failed(409, {"retry-after-ms": "250"}), Failed(409))
    retry.call(attempt, retryable=_conflict, attempts=5, backoff=retry.Backoff(first=1.0, factor=2.0, cap=8.0))
    # the service's 7 s and 0.25 s; then, with no Retry-After, the backoff's own third step (1 -> 2 -> 4)
    assert clock.waits == [7.0, 0.25, 4.0]


def test_no_retry_after_means_the_backoff_growing_to_its_cap(clock):
    attempt = _failing(*[Failed(409)] * 5)
    retry.call(attempt, retryable=_conflict, attempts=6, backoff=retry.Backoff(first=0.5, factor=2.0, cap=3.0))
    assert clock.waits == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_out_of_attempts_the_last_error_or_exhausted_is_raised(clock):
    attempt = _failing(*[Failed(409)] * 9)
    with pytest.raises(Failed):
        retry.call(attempt, retryable=_conflict, attempts=3)
    assert attempt.calls == [0, 1, 2] and len(clock.waits) == 2, "no wait after the last try"
    attempt = _failing(*[Failed(409)] * 9)
    with pytest.raises(RuntimeError, match="kept changing") as raised:
        retry.call(attempt, retryable=_conflict, attempts=3, exhausted=lambda last: RuntimeError("kept changing"))
    assert isinstance(raised.value.__cause__, Failed)


def test_attempts_per_kind(clock):
    def kind(exc):
        return exc.status if isinstance(exc, Failed) else None
    attempt = _failing(Failed(412), Failed(409), Failed(412), Failed(409))
    with pytest.raises(Failed) as raised:
        retry.call(attempt, retryable=kind, attempts={412: 5, 409: 2}, backoff=retry.Backoff(first=0.0))
    assert raised.value.status == 409 and attempt.calls == [0, 1, 2, 3], "the second 409 is one too many"
    assert clock.waits == [], "first=0: no wait unless the service asks for one"
    attempt = _failing(Failed(500))
    with pytest.raises(Failed):     # a kind with no bound of its own is not retried: raised as it is
        retry.call(attempt, retryable=kind, attempts={412: 5}, exhausted=lambda _: RuntimeError("kept changing"))
    assert attempt.calls == [0]


def test_the_deadline_bounds_the_tries_and_no_wait_runs_past_it(clock):
    attempt = _failing(*[Failed(409, {"Retry-After": "4"})] * 99)
    with pytest.raises(Failed):
        retry.call(attempt, retryable=_conflict, seconds=10)
    assert clock.waits == [4.0, 4.0, 2.0], "the last wait is cut to the deadline"
    assert len(attempt.calls) == 4 and clock.now == 1010.0


def test_reread_runs_between_tries_after_the_wait(clock):
    seen = []
    attempt = _failing(Failed(409, {"Retry-After": "1"}))
    retry.call(attempt, retryable=_conflict, attempts=3, reread=lambda exc: seen.append((exc.status, clock.now)))
    assert seen == [(409, 1001.0)]


def test_again_asks_for_another_try_after_its_own_delay(clock):
    attempt = _failing(retry.Again(delay=2.5), retry.Again())
    assert retry.call(attempt, attempts=4, backoff=retry.Backoff(first=0.25, factor=2.0, cap=4.0)) == "done"
    assert clock.waits == [2.5, 0.25]
    with pytest.raises(RuntimeError):
        retry.call(_failing(*[retry.Again()] * 9), attempts={retry.Again: 2}, exhausted=lambda _: RuntimeError())


def test_a_retry_without_a_bound_is_refused():
    with pytest.raises(ValueError):
        retry.call(lambda n: n, retryable=_conflict)


def test_jitter_spreads_the_backoff_within_its_range():
    delays = [retry.Backoff(first=1.0, jitter=(0.5, 1.5)).delay() for _ in range(200)]
    assert all(0.5 <= d <= 1.5 for d in delays) and len(set(delays)) > 100


def test_poll_waits_retry_after_else_the_backoff_until_done(clock):
    answers = [retry.Pending("Registering", {"Retry-After": "3"}), retry.Pending("Registering"), "Registered"]
    shown = []
    assert retry.poll(lambda: answers.pop(0), seconds=60, timed_out=RuntimeError, progress=shown.append,
                      backoff=retry.Backoff(first=1.0, factor=2.0, cap=15.0)) == "Registered"
    assert clock.waits == [3.0, 2.0] and shown == ["Registering", "Registering"]


def test_poll_first_waits_the_starting_answer_s_retry_after(clock):
    answers = [None]
    assert retry.poll(lambda: answers.pop(0), seconds=60, timed_out=RuntimeError, first={"Retry-After": "5"}) is None
    assert clock.waits == [5.0]


def test_poll_times_out_with_the_last_state_and_never_waits_past_the_deadline(clock):
    with pytest.raises(RuntimeError, match="still Updating"):
        retry.poll(lambda: retry.Pending("Updating", {"Retry-After": "7"}), seconds=20,
                   timed_out=lambda state: RuntimeError(f"still {state}"))
    assert clock.waits == [7.0, 7.0, 6.0] and clock.now == 1020.0
