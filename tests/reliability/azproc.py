# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""az processes that can be killed, at a fraction of the start-up cost of the `az` script.

A *zygote* process imports azure-cli, this extension and the SDKs a command uses once, then forks one child per
command: each child is an OS process of its own that runs the command line as the `az` script does
(``get_default_cli().invoke(args)``, its stdout and stderr in files) and exits with its exit code. A child can be
SIGKILLed at any moment like any az process; it shares nothing with its siblings but the imported code (fork is
copy-on-write; the zygote never opens a connection or starts a thread, so a child inherits no socket or lock).
Starting the `az` script costs ~3 s of CPU here; a child ~0.3 s.

    with Zygote(env) as z:
        child = z.start(["aks", "connection", "create", ...])
        ...; child.kill(); child.wait() -> -9
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

_ZYGOTE = r'''
import json, os, signal, sys, threading
# What every connection command imports: paid once here, shared by every child.
import azure.cli.core
from azure.cli.core import get_default_cli
# Load the command table once (no network: list-support-types is local).
with open(os.devnull, "w") as null:
    get_default_cli().invoke(["aks", "connection", "list-support-types", "-o", "none"], out_file=null)
import importlib
for name in ("azure.mgmt.containerservice", "azure.mgmt.resource", "azure.mgmt.servicelinker", "yaml", "msal",
             "msal.managed_identity", "azure.cli.core.auth.msal_credentials", "azure.cli.core.commands.progress",
             "azure.cli.core.sdk.policies", "azure.core.pipeline.transport._requests_basic",
             "azure.core.rest._requests_basic", "concurrent.futures.thread",
             # the kubernetes client loads its APIs and their (pydantic) models lazily: ~3 s on first use
             "kubernetes.client.api.core_v1_api", "kubernetes.client.api.authorization_v1_api",
             "kubernetes.client.api.version_api", "kubernetes.config",
             "azext_aks_connection.provider.plan", "azext_aks_connection.provider.kubeaccess",
             "azext_aks_connection.provider.store", "azext_aks_connection.provider.identity",
             "azext_aks_connection.provider.firewall", "azext_aks_connection.provider.failure",
             "azext_aks_connection.provider.sc_engine", "azext_aks_connection.provider.validate"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
import logging
for logger in (logging.getLogger(), logging.getLogger("cli")):     # the warm-up's handlers: each child adds its own
    for h in list(logger.handlers):
        logger.removeHandler(h)

def reap(*_):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        rc = os.waitstatus_to_exitcode(status)
        path = pending.pop(pid, None)
        if path:
            with open(path + ".tmp", "w") as f:
                f.write(str(rc))
            os.replace(path + ".tmp", path)

pending = {}
signal.signal(signal.SIGCHLD, reap)
out = sys.stdout
for line in sys.stdin:
    job = json.loads(line)
    assert threading.active_count() == 1, "the zygote must not fork with threads running"
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setpgid(0, 0)
        os.environ.update(job.get("env") or {})
        fd_out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        fd_err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        try:
            rc = get_default_cli().invoke(job["args"], out_file=sys.stdout)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            rc = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc or 0)
    pending[pid] = job["rc"]
    out.write(json.dumps({"pid": pid}) + "\n")
    out.flush()
'''


class Child:
    """One az command in a process of its own."""

    def __init__(self, pid, args, paths):
        self.pid, self.args = pid, args
        self._out, self._err, self._rc = paths
        self.returncode = None

    def poll(self):
        if self.returncode is None and os.path.exists(self._rc):
            with open(self._rc, encoding="ascii") as f:
                self.returncode = int(f.read())
        return self.returncode

    def wait(self, timeout=300):
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"az {' '.join(self.args[:4])} did not end within {timeout} s")
            time.sleep(0.02)        # a child's end is a file appearing: nothing to wait on but a short poll
        return self.returncode

    def kill(self):
        """SIGKILL, as `kill -9` of an az process."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    @property
    def out(self):
        with open(self._out, encoding="utf-8") as f:
            return f.read()

    @property
    def err(self):
        with open(self._err, encoding="utf-8") as f:
            return f.read()

    @property
    def json(self):
        text = self.out
        return json.loads(text) if text.strip() else None

    def __repr__(self):
        return f"Child(rc={self.returncode}, args={self.args[:5]}, err={self.err[-1500:]!r})"


class Zygote:
    def __init__(self, env=None, cwd=None):
        self._dir = tempfile.mkdtemp(prefix="azproc-")
        self._n = 0
        self._proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(os.path.join(self._dir, "zygote.err"), "w", encoding="utf-8"),  # noqa: SIM115
            env=dict(env or os.environ), cwd=cwd, text=True, bufsize=1)

    def start(self, args, env=None):
        self._n += 1
        base = os.path.join(self._dir, str(self._n))
        paths = (base + ".out", base + ".err", base + ".rc")
        self._proc.stdin.write(json.dumps({"args": list(args), "env": env or {}, "stdout": paths[0],
                                           "stderr": paths[1], "rc": paths[2]}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            with open(os.path.join(self._dir, "zygote.err"), encoding="utf-8") as f:
                raise RuntimeError("the az zygote died: " + f.read()[-3000:])
        return Child(json.loads(line)["pid"], list(args), paths)

    def run(self, args, env=None, timeout=300):
        child = self.start(args, env)
        child.wait(timeout)
        return child

    def close(self):
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
