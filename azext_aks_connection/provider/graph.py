# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Run a set of dependent calls, each as soon as what it needs has finished (no waves: the long cluster update
starts the moment its own inputs are known). ``AKS_CONNECTION_SEQUENTIAL=1`` runs them one after the other in
dependency order (bench/ compares the two)."""
import contextlib
import os
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait


class NodeFailed(Exception):
    """A node raised: ``error`` is what it raised, ``done`` what the other nodes returned before the run stopped."""

    def __init__(self, node, error, done):
        super().__init__(f"{node}: {error}")
        self.node, self.error, self.done = node, error, done


@contextlib.contextmanager
def pool(workers):
    """A ThreadPoolExecutor that does not wait on leaving for its idle threads to end: joining them costs the
    command's thread a few ms a round (16 threads: ~4 ms on an idle machine, more when the GIL is busy), on the
    critical path. What it ran has been collected by then; a future left running (the block raised) ends on its
    own, and az's exit waits for it as it did before."""
    executor = ThreadPoolExecutor(max_workers=workers)
    try:
        yield executor
    finally:
        executor.shutdown(wait=False)


def prefetch(*modules):
    """Import ``modules`` (SDK modules a command needs later) on a thread of its own: a command spends most of its
    time waiting on the network, and the imports (tens of ms of CPU each: azure-mgmt-authorization ~0.1 s, else paid
    when the roles are read, on the critical path) then cost no wall time. Not a daemon: it never is cut off
    mid-import at exit. A later import of the same module waits for it (the import lock), so nothing can see one
    half done. A module that fails is skipped: the code that needs it imports it again and says why."""
    import importlib

    def load():
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # pylint: disable=broad-except  # said where the module is needed
                pass
    threading.Thread(target=load, name="aks-connection-import", daemon=False).start()


def start(fn):
    """``fn()`` in a daemon thread of its own; returns its Future (the result, or the exception it raised)."""
    from concurrent.futures import Future
    future = Future()

    def run_it():
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn())
            except BaseException as exc:  # pylint: disable=broad-except  # handed to whoever asks the future
                future.set_exception(exc)
    threading.Thread(target=run_it, name="aks-connection-background", daemon=True).start()
    return future


def _ready(pending, done):
    return [name for name, (_, needs) in pending.items() if all(n in done for n in needs)]


def run(nodes):
    """``nodes``: {name: (fn, needs)}; needs naming no node are ignored (a step that is not part of this plan).
    Returns {name: fn()}. On the first failure no further node starts, the running ones finish, and NodeFailed
    is raised with the results so far."""
    pending = {name: (fn, tuple(n for n in needs if n in nodes)) for name, (fn, needs) in nodes.items()}
    done, failed = {}, {}
    if os.environ.get("AKS_CONNECTION_SEQUENTIAL") == "1" or len(pending) < 2:
        while pending and not failed:
            name = _ready(pending, done)[0]
            fn, _ = pending.pop(name)
            try:
                done[name] = fn()
            except Exception as exc:  # pylint: disable=broad-except
                failed[name] = exc
    else:
        with pool(len(pending)) as executor:
            running = {}
            while pending or running:
                for name in ([] if failed else _ready(pending, done)):
                    running[executor.submit(pending.pop(name)[0])] = name
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    try:
                        done[name] = future.result()
                    except Exception as exc:  # pylint: disable=broad-except
                        failed.setdefault(name, exc)
    if failed:
        name = next(iter(failed))
        raise NodeFailed(name, failed[name], done)
    return done


def run_or_raise(nodes):
    """:func:`run`, re-raising a failing node's own error (for reads, where nothing was written)."""
    try:
        return run(nodes)
    except NodeFailed as failure:
        raise failure.error from None


def parallel(**calls):
    """Run independent calls at once; returns {name: result}; re-raises the first failure."""
    return run_or_raise({name: (fn, ()) for name, fn in calls.items()})


def or_error(fn, *args, errors=Exception):
    """``fn(*args)``, or the exception (of ``errors``) it raised, for the caller to weigh."""
    try:
        return fn(*args)
    except errors as exc:  # pylint: disable=broad-except
        return exc
