# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The intent of a run: the record (state Creating / Updating, with the plan's items) written right before the
run's first write, under a lease renewed while the run lasts, and the record that says Failed when a step fails.

Of two commands changing one connection at once the second stops at its check or at the intent's compare-and-swap,
having written nothing, so record and Secret always come from one run. A run killed outright leaves the lease to
expire; a re-run converges (every step reads first, names are deterministic) and ``delete`` finds what it made."""
import os
import socket
import threading

from knack.log import get_logger

from azext_aks_connection.provider import record as records

logger = get_logger(__name__)

LEASE_SECONDS = 60      # an unfinished record's lease (renewed every third of it while the run lasts)


def _start_of(pid):
    """When process ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22), or None where /proc is not
    there: with the pid it names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _holder():
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _start_of(os.getpid())}


def holder_gone(holder):
    """The lease's holder is a process of this machine that has ended (its pid is gone, or is now another
    process's): nobody is renewing it. Unknown holders and other machines' are not judged."""
    if not isinstance(holder, dict) or holder.get("host") != socket.gethostname() or not holder.get("pid"):
        return False
    pid = holder["pid"]
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False        # alive, another user's
    started = _start_of(pid)
    return started is not None and holder.get("started") is not None and started != holder["started"]


def _lease(seconds):
    return {"until": records.now(seconds), "holder": _holder()}


class Intent:  # pylint: disable=too-many-instance-attributes  # the intent, where it is kept, and its lease's clock
    """What this run sets out to make, recorded once before its first write, then renewed until released."""

    def __init__(self, cmd, name, progress):
        self.name, self.progress = name, progress
        self.record = None            # the intent, set by the engine before apply
        self.store = None
        self.written = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        try:
            seconds = cmd.cli_ctx.config.get("aks_connection", "lease_seconds", LEASE_SECONDS)
            self.seconds = max(1.0, float(seconds))
        except (TypeError, ValueError):
            self.seconds = float(LEASE_SECONDS)

    def before_write(self):
        """Called by a step right before its first write: the intent is recorded first, once, with a lease.
        Waits (a busy cluster) come before it."""
        with self._lock:
            if self.record is None or self.written:
                return
            self.progress(f"Recording what connection '{self.name}' will make")
            self.record["lease"] = _lease(self.seconds)
            self.store.put(self.record)
            self.written = True
        threading.Thread(target=self._renew, daemon=True).start()     # stopped by release(), never joined

    def note_planned(self, items):
        """Items whose ids were not known when the intent was recorded (the federated credential's issuer, the
        CSI add-on's identity: known once the cluster update is done), added to it before they are written."""
        items = [i for i in items if i.get("id")]
        if not items:
            return
        self.before_write()
        with self._lock:
            known = {(i.get("step"), (i.get("id") or "").lower()) for i in self.record.get("plan") or []}
            new = [i for i in items if (i["step"], i["id"].lower()) not in known]
            if new:
                renewed = dict(self.record, plan=list(self.record.get("plan") or []) + new)
                self.store.put(renewed)
                self.record = renewed

    def _renew(self):
        while not self._stop.wait(self.seconds / 3):
            with self._lock:
                if self._stop.is_set():
                    return
                renewed = dict(self.record, lease=_lease(self.seconds))
                try:
                    self.store.put(renewed)
                    self.record = renewed
                except Exception as exc:  # pylint: disable=broad-except
                    # The API server may be restarting (an OIDC issuer turned on): try again at the next tick.
                    # A record changed by another command fails the final write, which says so.
                    logger.debug("Renewing the lease of connection '%s': %s", self.name, exc)

    def release(self):
        """Stop renewing the lease (the next write of the record, final or Failed, has none). Once the lock has
        been had after the stop, no renewal is writing and none will (each checks the stop under the lock): the
        renewer, a daemon thread, ends on its own, and is not joined (its wake-up cost the final write ~5 ms)."""
        self._stop.set()
        with self._lock:
            pass

    def record_failure(self, failure):
        """The record says Failed, at which step, and what was made (nothing written: no record)."""
        from azext_aks_connection.provider.errors import message_of
        if not self.written:
            return          # nothing was written: no record (a re-run starts afresh)
        made = [i for _, items in failure.done.values() for i in items]
        record = {k: v for k, v in self.record.items() if k != "lease"}
        record.update(provisioningState=records.FAILED,
                      failure={"step": failure.node, "message": message_of(failure.error)})
        record["provisioned"] = records.merge_provisioned(self.record.get("provisioned") or {},
                                                          [p for p, _ in failure.done.values()], made, keep_uses=True)
        try:
            self.store.put(record)
        except Exception as exc:  # pylint: disable=broad-except
            logger.warning("Connection '%s' failed at step %s, and its record could not say so: %s", self.name,
                           failure.node, message_of(exc))
