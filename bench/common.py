# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""What both bench scripts share: a sandbox of their own, az run as a user runs it, the request log as lines."""
import contextlib
import shutil
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
BIN = os.path.dirname(sys.executable)
AZ = os.path.join(BIN, "az")


AZ_OWN = ("/metadata/", "/msi/", "/oauth2/", "/subscriptions?", "/tenants")


def call_lines(calls):
    """The request log as '<plane> <method> <path>' with ids of operations and the subscription elided; az's
    own calls (cloud metadata, token, subscription) marked."""
    import re
    out = []
    for e in calls:
        path = e["path"].split("?")[0] + ("?" if "?" in e["path"] else "")
        path = re.sub(r"^/subscriptions/[^/]+", "", path)
        path = re.sub(r"/operations/[^/?]+", "/operations/<op>", path).rstrip("?")
        own = any(m in e["path"] for m in AZ_OWN) or path in ("", "/subscriptions")
        out.append(f"{e.get('plane', '?'):4s} {e['method']:6s} {path}{'   (az itself)' if own else ''}")
    return out


def install_wheel(ext_root, repo=REPO):
    """The extension as a user has it: the wheel built from the sources as `make wheel` builds it
    (scripts/wheel.py; the build fetches setuptools, as there), installed into ``ext_root``/aks-connection as
    `az extension add` installs it (pip install --target, bytecode compiled; --no-deps --no-index: its dependencies
    are in this venv). So its dist-info is the real one: az reads that metadata ~14 times in every `az aks`
    command. ``repo``: the sources of another checkout (bench/ab.py: a revision's)."""
    dist = tempfile.mkdtemp(prefix="aksconn-wheel-")
    try:
        subprocess.run([sys.executable, os.path.join(repo, "scripts", "wheel.py"), dist], check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        wheel = os.path.join(dist, next(f for f in os.listdir(dist) if f.endswith(".whl")))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                        os.path.join(ext_root, "aks-connection"), wheel], check=True,
                       env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"), stdout=subprocess.DEVNULL,
                       timeout=600)
    finally:
        shutil.rmtree(dist, ignore_errors=True)


@contextlib.contextmanager
def sandbox_session(prefix="aksconn-bench-"):
    """A sandbox of its own and the extension installed from its wheel in a throw-away extension dir
    (install_wheel); yields (env, sbc, seeds) with az logged in to the sandbox; stops the sandbox by PID at the
    end."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    install_wheel(os.path.join(tmp, "ext"))
    env = dict(os.environ, AKS_CONNECTION_SANDBOX_DIR=os.path.join(tmp, "sandbox"),
               AZURE_EXTENSION_DIR=os.path.join(tmp, "ext"))
    subprocess.run([sys.executable, "-m", "sandbox", "up", "--no-login"], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    from sandbox.__main__ import load_state, env_vars, az_login
    from sandbox.client import SandboxClient
    state = load_state(env["AKS_CONNECTION_SANDBOX_DIR"])
    try:
        env.update(env_vars(state))
        os.environ.update(env)
        az_login(state)
        yield env, SandboxClient(state), state["seeds"]
    finally:
        subprocess.run([sys.executable, "-m", "sandbox", "down"], cwd=REPO, env=env, check=False,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


class Run:  # pylint: disable=too-few-public-methods,too-many-instance-attributes  # one az process, as measured
    """One az process: wall time (s), exit code, peak RSS (MB, the process and what it waited for), what it
    printed, and what the sandbox received meanwhile (request log entries, long-running operations started)."""

    # pylint: disable-next=too-many-positional-arguments  # what one run measured, in the order it is measured
    def __init__(self, wall, rc, rss_mb, out, err, calls, operations, cpu=0.0):
        self.wall, self.rc, self.rss, self.out, self.err = wall, rc, rss_mb, out, err
        self.calls, self.operations = calls, operations
        self.cpu = cpu              # user + system CPU seconds of the process: far less swayed by a busy machine


def outside_checkout(env):
    """Where az runs: the directory holding the extension directory, not the checkout. az starts as ``python -m
    azure.cli``, which puts the working directory first on sys.path, ahead of the extension directory az appends:
    run from the checkout, ``import azext_aks_connection`` took the sources there (compiled afresh in every run),
    not the wheel installed in AZURE_EXTENSION_DIR."""
    where = os.path.dirname(env.get("AZURE_EXTENSION_DIR") or "") or tempfile.gettempdir()
    assert not os.path.exists(os.path.join(where, "azext_aks_connection")), where
    return where


def run_az(env, args, sbc=None, check=True):
    """``az <args>`` in a process of its own (run from outside_checkout), timed from spawn to exit; with ``sbc`` the
    request log of the run and the sandbox operations that started during it."""
    mark = sbc.mark() if sbc is not None else None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen([AZ, *args], env=env, stdout=out, stderr=err,  # pylint: disable=consider-using-with
                                stdin=subprocess.DEVNULL, cwd=outside_checkout(env))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        ended = time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text_out, text_err = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    if check and proc.returncode:
        raise SystemExit(f"az {' '.join(args)} failed ({proc.returncode}):\n{text_err[-3000:]}")
    calls, ops = None, None
    if sbc is not None:
        calls = sbc.requests(since=mark)
        ops = [o for o in sbc.arm("GET", "operations")["value"] if began - 0.5 <= _epoch(o["startTime"]) <= ended]
    return Run(wall, proc.returncode, usage.ru_maxrss / 1024.0, text_out, text_err, calls, ops,
               cpu=usage.ru_utime + usage.ru_stime)


def _epoch(iso):
    """Seconds since the epoch of an ARM timestamp (2024-05-01T12:34:56.1234567Z)."""
    import datetime
    head, _, frac = iso.rstrip("Z").partition(".")
    stamp = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp() + float("0." + (frac or "0"))
