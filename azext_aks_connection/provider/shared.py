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

KEY = "aks_connection_shared"


class Shared:
    """{key: value} with one lock per key, so one read per key runs at a time and the others wait for it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._locks = {}
        self._values = {}
        self.hits = 0

    def get(self, key, read):
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._values:
                self.hits += 1
                return self._values[key]
            value = read()
            self._values[key] = value
            return value

    def put(self, key, value):
        with self._lock:
            self._values[key] = value

    def forget(self, key):
        with self._lock:
            self._values.pop(key, None)


@contextlib.contextmanager
def sharing(cli_ctx):
    """Share reads across the plans run inside the block."""
    shared = cli_ctx.data.get(KEY)
    own = shared is None
    if own:
        shared = cli_ctx.data[KEY] = Shared()
    try:
        yield shared
    finally:
        if own:
            cli_ctx.data.pop(KEY, None)


def cached(cli_ctx, key, read, *, mutable=True):
    """``read()``, or what it answered for ``key`` earlier in this process when sharing is on. ``mutable``: the
    caller gets its own copy (a plan may change what it was given)."""
    shared = cli_ctx.data.get(KEY) if cli_ctx is not None else None
    if shared is None:
        return read()
    value = shared.get(key, read)
    return copy.deepcopy(value) if mutable else value


def remember(cli_ctx, key, value):
    shared = cli_ctx.data.get(KEY)
    if shared is not None:
        shared.put(key, value)
