# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""One way to wait and one way to retry, for every call of the extension that waits or tries again.

- Waiting, on one delay policy (:class:`Backoff`): the service's Retry-After when its last answer carried one,
  else a short explicit interval growing to a cap (not azure-core's fixed 30 s, nor a fixed sleep).

  - long-running operations of the SDKs: azure-core's LROPoller with :func:`sdk_polling` (azure-mgmt-core's
    ARMPolling on that policy), waited for by :func:`follow`;
  - states polled by hand (a resource provider being registered, a busy cluster, a raw long-running write of a
    target): :func:`poll`, a step called until it answers anything but :class:`Pending`, up to a deadline.

- Retrying, :func:`call`: an attempt tried again while what it raised is retryable (a predicate the caller gives:
  a 409 / 412 of a conditional write, a principal not replicated yet, …) or while it asks for another try
  (:class:`Again`: verified and found wanting), with a re-read before the next attempt, a delay from Retry-After
  else the backoff, at most so many attempts or seconds.

Every wait is an Event wait (threads stay responsive) bounded by a deadline or a number of attempts.
"""
import random
import threading
import time

# Polls when the service sends no Retry-After (real ones do not always: Microsoft's recordings of the Service
# Connector RP send none): a short interval growing to a few seconds, not azure-core's fixed 30 s (the SDK clients'
# default polling_interval).
POLL_FIRST = 0.5            # seconds
POLL_FACTOR = 1.25
POLL_MAX = 5.0
MALFORMED_POLLS = 3         # answers in a row to a poll that are not its JSON before the wait fails (sdk_polling)


def retry_after(headers, default=1.0):
    """Seconds to wait, from retry-after-ms / x-ms-retry-after-ms / Retry-After (as azure-core reads them)."""
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("retry-after", 1.0)):
        if name in lower:
            try:
                return max(0.0, float(lower[name]) * scale)
            except ValueError:
                continue
    return default


def pause(seconds):
    """Wait ``seconds`` (what Retry-After or the backoff said); an Event wait, so threads stay responsive."""
    if seconds > 0:
        threading.Event().wait(seconds)


class Backoff:  # pylint: disable=too-few-public-methods  # one question (the next delay), with its state
    """Seconds to wait before the next try: the service's Retry-After when the last answer carried one, else the
    next step of ``first``, growing by ``factor`` up to ``cap``; ``jitter=(low, high)`` multiplies each step by a
    random factor in that range, so writers that collided spread out instead of colliding again. ``first=0``: no
    wait unless the service asks for one (a re-read that is itself the wait)."""

    def __init__(self, first=POLL_FIRST, cap=POLL_MAX, factor=POLL_FACTOR, jitter=None):
        self._next, self._cap, self._factor, self._jitter = first, cap, factor, jitter

    def delay(self, headers=None):
        own = self._next
        self._next = min(self._cap, self._next * self._factor)
        if self._jitter:
            own *= random.uniform(*self._jitter)
        return retry_after(headers, default=own)


def follow(poller, progress=None, tick=0.5):
    """Wait for an SDK poller (which follows Retry-After, else its own interval), ticking ``progress`` every
    ``tick`` seconds so a long operation shows it is alive; returns the result."""
    while not poller.done():
        if progress:
            progress()
        poller.wait(tick)           # returns as soon as the operation ends
    return poller.result()


def sdk_polling(first=POLL_FIRST, cap=POLL_MAX, factor=POLL_FACTOR, on_success=None, lro_options=None, *,
                wait_first=False, **operation_config):
    """A polling method for an SDK ``begin_*`` call (``polling=sdk_polling()``): azure-mgmt-core's ARMPolling,
    which waits the Retry-After of each answer when there is one (azure-core reads it before its own interval),
    with the Backoff schedule in place of its fixed ``polling_interval`` when there is none.

    ``on_success()`` is called when a poll finds the operation succeeded, before the SDK's final GET of the
    resource: what waits for the operation's end, not for that GET, can start alongside it. ``lro_options``: the
    operation's own (``{"final-state-via": …}``, as its SDK method gives its default ARMPolling). ``wait_first``:
    also wait the first answer's Retry-After before the first poll (azure-core asks once at once, then waits), as
    :func:`poll` does with ``first``. ``operation_config``: what each poll request takes (``logging_enable``).

    A poll is a read: an answer that is not the operation's JSON (empty, cut short, a proxy's page) is polled again,
    up to MALFORMED_POLLS answers in a row, rather than ending the wait (the operation goes on regardless)."""
    from azure.core.exceptions import DecodeError
    from azure.core.polling.base_polling import BadResponse
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    class _BackoffARMPolling(ARMPolling):
        def _extract_delay(self):
            delay = super()._extract_delay()        # Retry-After if the answer has one, else self._timeout
            self._timeout = min(cap, self._timeout * factor)
            return delay

        def update_status(self):
            for left in range(MALFORMED_POLLS - 1, -1, -1):
                try:
                    super().update_status()
                    break
                except (BadResponse, DecodeError):
                    if not left:
                        raise
                    self._delay()
            if on_success is not None and (self.status() or "").lower() == "succeeded":
                on_success()

        def _poll(self):
            if wait_first and not self.finished():
                self._delay()
            super()._poll()

    return _BackoffARMPolling(timeout=first, lro_options=lro_options, **operation_config)


class Pending:  # pylint: disable=too-few-public-methods  # a value: what a poll step saw
    """What a :func:`poll` step answers while the operation runs: its state (for the progress line and the timeout
    message) and the answer's headers (Retry-After)."""

    def __init__(self, state=None, headers=None):
        self.state, self.headers = state, headers


def poll(step, *, seconds, timed_out, progress=None, backoff=None, first=None):
    """``step()`` until it answers anything but a :class:`Pending`, which is returned. After each Pending: past
    ``seconds`` raises ``timed_out(state)``; else ``progress(state)`` and a pause (Retry-After, else ``backoff``,
    never past the deadline). ``first``: the headers of the answer that started the operation; the first step then
    comes after the pause they ask for."""
    deadline = time.monotonic() + seconds
    backoff = backoff or Backoff()
    if first is not None:
        pause(min(backoff.delay(first), seconds))
    while True:
        answer = step()
        if not isinstance(answer, Pending):
            return answer
        if time.monotonic() >= deadline:
            raise timed_out(answer.state)
        if progress:
            progress(answer.state)
        pause(min(backoff.delay(answer.headers), max(0.0, deadline - time.monotonic())))


class Again(Exception):
    """Raised by an attempt of :func:`call`: not done yet (verified and found wanting), try again after ``delay``
    seconds (None: the backoff's)."""

    def __init__(self, delay=None):
        super().__init__("not done yet")
        self.delay = delay


def _headers(exc):
    """The headers of a failed answer (ArmError, azure-core's HttpResponseError, a Kubernetes API error)."""
    headers = getattr(exc, "headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    return headers if hasattr(headers, "items") else None


# pylint: disable-next=too-many-arguments  # the parts of one retry policy, each optional
def call(attempt, *, retryable=None, attempts=None, seconds=None, reread=None, backoff=None, exhausted=None):
    """``attempt(n)`` (n: how many tries came before), tried again while it raises :class:`Again` or an exception
    ``retryable(exc)`` gives a kind for (anything but None / False; the rest propagate as raised).

    Bounds: ``attempts``, a number of tries in all, or {kind: tries} per kind (Again's kind: ``Again``; a kind not
    in it is not retried), and / or ``seconds`` from the first try. Between tries: the pause (the failed answer's
    Retry-After, else ``Again.delay``, else ``backoff``'s next step; never past the deadline), then ``reread(exc)``
    (read again what the next try compares with). Out of tries: raises ``exhausted(last)`` when given (an
    exception; the cause is the last failure), else the last failure itself."""
    if attempts is None and seconds is None:
        raise ValueError("a retry needs a bound: attempts or seconds")
    deadline = None if seconds is None else time.monotonic() + seconds
    backoff = backoff or Backoff()
    counts, n = {}, 0
    while True:
        try:
            return attempt(n)
        except Again as exc:
            last, kind, wait = exc, Again, exc.delay
        except Exception as exc:  # pylint: disable=broad-except  # the caller's predicate says what is retried
            kind = retryable(exc) if retryable is not None else None
            if kind is None or kind is False or isinstance(attempts, dict) and kind not in attempts:
                raise
            last, wait = exc, None
        n += 1
        counts[kind] = counts.get(kind, 0) + 1
        limit = attempts[kind] if isinstance(attempts, dict) else attempts
        left = None if deadline is None else deadline - time.monotonic()
        if (limit is not None and (counts[kind] if isinstance(attempts, dict) else n) >= limit) or \
                (left is not None and left <= 0):
            if exhausted is None:
                raise last
            raise exhausted(last) from last
        wait = backoff.delay(_headers(last)) if wait is None else wait
        if wait > 0:
            pause(wait if left is None else min(wait, left))
        if reread is not None:
            reread(last)
