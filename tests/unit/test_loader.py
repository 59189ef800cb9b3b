# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The loader and help paths import no SDK and no kubernetes client; every command has help whose
examples use only options the command has."""
import json
import shlex
import subprocess
import sys

import pytest

from azext_aks_connection.targets import TARGETS  # pure data
from tests.conftest import REPO, run_az

PROBE = r"""
import sys, json, io
from azure.cli.core import get_default_cli
try:
    get_default_cli().invoke(sys.argv[1:], out_file=io.StringIO())
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.startswith(("kubernetes", "azure.mgmt.kubernetesconfiguration",
               "azure.mgmt.containerservice", "azure.mgmt.storage", "azure.storage",
               "azure.cli.command_modules.serviceconnector._params",
               # az imports each command's module to describe it; the create machinery stays out of help.
               "azext_aks_connection.auth", "azext_aks_connection.provider", "azext_aks_connection.spec")))
print(json.dumps(heavy), file=sys.__stderr__)
"""


COMMANDS = ["list", "show", "delete", "list-configuration", "list-support-types", "wait", "validate",
            "troubleshoot", "apply", "export"] + [f"{verb} {name}" for name in sorted(TARGETS)
                                                  for verb in ("create", "update")]


def _modules_after(*args, extension=True):
    import os
    import tempfile
    env = dict(os.environ)
    if not extension:
        env["AZURE_EXTENSION_DIR"] = tempfile.mkdtemp()
        # A config dir of its own: az caches its command index there, and an index made without the
        # extension would make later in-process runs load the built-in commands instead of ours.
        env["AZURE_CONFIG_DIR"] = tempfile.mkdtemp()
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=REPO,
                          check=False, env=env)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [("aks", "connection", "-h"), ("aks", "connection", "create", "storage-blob", "-h"),
                                  ("aks", "connection", "list", "-h"), ("aks", "connection", "validate", "-h"),
                                  ("aks", "connection", "troubleshoot", "-h"),
                                  ("aks", "connection", "apply", "-h")])
def test_help_imports_no_sdk(args):
    """Whatever the built-in `az aks` loader imports anyway, the extension adds no SDK to it."""
    with_ext = _modules_after(*args)
    without = _modules_after(*args, extension=False)
    assert with_ext - without == set()
    assert not any(m.startswith(("kubernetes", "azure.mgmt.kubernetesconfiguration")) for m in with_ext)


@pytest.mark.parametrize("args", [("aks", "connection", "create", "storage-blob", "-h"),
                                  ("aks", "connection", "list", "-h")])
def test_the_built_in_loader_does_not_load_arguments_for_our_commands(args):
    """az runs load_arguments of every loader of a command; ours replace the built-in commands of the same names,
    so the built-in module's (~90 ms: the arguments of its 331 commands) is not run for them."""
    params = "azure.cli.command_modules.serviceconnector._params"
    assert params in _modules_after(*args, extension=False)      # what the built-in commands load
    assert params not in _modules_after(*args)


def _loaded_command(cmd):
    """The command as az loaded it for `az aks connection <cmd> -h` (arguments included)."""
    import io
    from azure.cli.core import get_default_cli
    cli = get_default_cli()
    try:
        cli.invoke(["aks", "connection"] + cmd.split() + ["-h"], out_file=io.StringIO())
    except SystemExit:
        pass
    return cli.invocation.commands_loader.command_table["aks connection " + cmd]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_examples_use_real_options(cmd):
    import importlib
    import yaml
    from knack.help_files import helps
    import azext_aks_connection._help
    command = _loaded_command(cmd)
    # In a real az process the extension's help entries load after the built-in module's and win;
    # in this long-lived test process the built-in may have been re-registered since: register ours again.
    importlib.reload(azext_aks_connection._help)
    entry = yaml.safe_load(helps["aks connection " + cmd])
    assert entry["short-summary"]
    assert entry.get("examples"), f"{cmd} has no examples"
    options = {o for arg in command.arguments.values() for o in (arg.type.settings.get("options_list") or [])
               if isinstance(o, str)}
    options |= {"-o", "--output", "--query", "--debug", "--subscription", "--yes", "-y"}
    # Argument help that names another option ("Required if '--id' is not specified") names one it has.
    import re
    for arg in command.arguments.values():
        named = set(re.findall(r"'(--[a-z-]+)'", arg.type.settings.get("help") or ""))
        assert named <= options, (cmd, arg.type.settings.get("options_list"), named - options)
    for example in entry["examples"]:
        words = shlex.split(example["text"])
        assert words[:len(cmd.split()) + 3] == ["az", "aks", "connection"] + cmd.split(), example
        used = [w for w in words if w.startswith("-")]
        unknown = [w for w in used if w not in options]
        assert not unknown, (cmd, example["text"], unknown)
        # A client type in an example is one the target offers.
        from azext_aks_connection import targets
        target = targets.TARGETS.get(cmd.split()[-1])
        if target is not None and "--client-type" in words:
            assert words[words.index("--client-type") + 1] in target.client_types, (cmd, example["text"])


def test_list_support_types_table():
    res = run_az("aks", "connection", "list-support-types", "-o", "table")
    assert res.rc == 0, res
    assert "storage-blob" in res.out and "secret" in res.out and "springBoot" in res.out
    one = run_az("aks", "connection", "list-support-types", "--target-type", "storage-blob", "-o", "json")
    assert [r["target"] for r in one.json] == ["storage-blob"]
    kv = run_az("aks", "connection", "list-support-types", "--target-type", "keyvault", "-o", "json")
    assert kv.json[0]["auth_types"] == ["workload-identity", "service-principal", "enable-csi"]


EXIT_PROBE = r"""
import atexit, gc, runpy, sys
# Registered before az starts, so it runs after every handler az and the extension register: what the process
# is left with when the interpreter finalizes.
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count(), file=sys.__stderr__))
sys.argv = ["az"] + sys.argv[1:]
runpy.run_module("azure.cli", run_name="__main__")
"""


def _frozen_at_exit(*args, config_dir):
    import os
    env = dict(os.environ, AZURE_CONFIG_DIR=config_dir)
    proc = subprocess.run([sys.executable, "-c", EXIT_PROBE, *args], capture_output=True, text=True, cwd="/",
                          check=False, env=env, timeout=120)
    line = [x for x in proc.stderr.splitlines() if x.startswith("frozen at exit:")][-1]
    return proc, int(line.split(":")[1])


def test_our_commands_exit_without_the_final_collection(tmp_path):
    """After one of our commands runs, the process's objects are frozen (gc.freeze) before the interpreter's last
    collections: its exit skips walking them (0.12-0.15 s here). Not after help, nor after a built-in `az aks`
    command, though every `az aks ...` loads the extension: the built-in commands exit as az makes them exit."""
    config = str(tmp_path)
    proc, frozen = _frozen_at_exit("aks", "connection", "list-support-types", "-o", "json", config_dir=config)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == len(TARGETS)          # the output is all there
    assert frozen > 0
    proc, frozen = _frozen_at_exit("aks", "connection", "-h", config_dir=config)
    assert proc.returncode == 0 and "list-support-types" in proc.stdout
    assert frozen == 0
    proc, frozen = _frozen_at_exit("aks", "show", "-g", "rg", "-n", "cluster", config_dir=config)
    assert proc.returncode != 0 and "az login" in proc.stderr     # it ran, and failed as az's own command fails
    assert frozen == 0
