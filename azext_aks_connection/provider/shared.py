# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Reads shared by the plans of one process (``az aks connection apply``): the cluster GET, its user credentials,
each target and identity, read once however many connections need them. Off unless a command turns it on
(:func:`sharing`): a single create reads what it reads, as before. Concurrent plans asking for the same read wait
for the first one's answer; a read that fails is not kept (each connection reports its own error)."""
import contextlib
import copy
import threading

_ACTIVE = []        # the Shared of the command running (one per process: az runs one command)


class Shared:
    """{key: value} with one lock per key, so one read per key runs at a time and the others wait for it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._locks = {}
        self._values = {}
        self.hits = 0

    def get(self, key, read):
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            if key in self._values:
                self.hits += 1
                return self._values[key]
            value = read()
            self._values[key] = value
            return value

    def has(self, key):
        with self._lock:
            return key in self._values

    def put(self, key, value):
        with self._lock:
            self._values[key] = value

    def forget(self, key):
        with self._lock:
            self._values.pop(key, None)


@contextlib.contextmanager
def sharing():
    """Share reads across the plans run inside the block."""
    own = not _ACTIVE
    if own:
        _ACTIVE.append(Shared())
    try:
        yield _ACTIVE[0]
    finally:
        if own:
            _ACTIVE.clear()


def cached(key, read, *, mutable=True):
    """``read()``, or what it answered for ``key`` earlier in this process when sharing is on. ``mutable``: the
    caller gets its own copy (a plan may change what it was given)."""
    if not _ACTIVE:
        return read()
    value = _ACTIVE[0].get(key, read)
    return copy.deepcopy(value) if mutable else value


_LOCKS = {}
_LOCKS_LOCK = threading.Lock()


def lock(key):
    """A lock of this process for ``key``: the writers of one thing take turns (apply runs plans concurrently)."""
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(key, threading.Lock())


def active():
    return bool(_ACTIVE)


def known(key):
    """Whether ``key`` was answered already (sharing on)."""
    return bool(_ACTIVE) and _ACTIVE[0].has(key)


def remember(key, value):
    if _ACTIVE:
        _ACTIVE[0].put(key, value)


def forget(key):
    """``key`` is read again by the next plan that asks (what it read was just written)."""
    if _ACTIVE:
        _ACTIVE[0].forget(key)
