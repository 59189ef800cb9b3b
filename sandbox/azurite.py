# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Azurite (npm `azurite`) as a child process: the data plane behind the sandbox's storage accounts.

Accounts are fixed when Azurite starts (AZURITE_ACCOUNTS), so the sandbox decides its storage
accounts and their keys before starting it.
"""
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_binary():
    for candidate in (os.environ.get("AZURITE_BIN"),
                      os.path.join(REPO, ".tools", "node_modules", ".bin", "azurite"),
                      shutil.which("azurite")):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("Azurite is not installed: run 'make tools' (npm install azurite into .tools/) "
                       "or set AZURITE_BIN.")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workdir, accounts):
    """Start Azurite with ``accounts`` ({name: [key1, key2]}); returns (process, endpoints)."""
    ports = {"blob": free_port(), "queue": free_port(), "table": free_port()}
    env = dict(os.environ)
    env["AZURITE_ACCOUNTS"] = ";".join(f"{name}:{':'.join(keys)}" for name, keys in accounts.items())
    location = os.path.join(workdir, "azurite")
    os.makedirs(location, exist_ok=True)
    log = open(os.path.join(workdir, "azurite.log"), "ab")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [find_binary(), "--blobHost", "127.0.0.1", "--blobPort", str(ports["blob"]),
         "--queueHost", "127.0.0.1", "--queuePort", str(ports["queue"]),
         "--tableHost", "127.0.0.1", "--tablePort", str(ports["table"]),
         "--location", location, "--skipApiVersionCheck", "--disableProductStyleUrl", "--loose"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
    endpoints = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"Azurite exited with {proc.returncode}; see {workdir}/azurite.log")
        try:
            urllib.request.urlopen(endpoints["blob"] + "/", timeout=1)  # pylint: disable=consider-using-with
            break
        except urllib.error.HTTPError:
            break           # it answers (with an error for this bare URL): it is up
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("Azurite did not start within 30 s") from exc
            time.sleep(0.05)  # waiting for a child process to open its port: nothing to read a delay from
    return proc, endpoints
