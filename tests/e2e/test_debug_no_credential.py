# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""No credential in any output or log, --debug included, for every target that hands out a secret: a real az
process creates the connection with --debug, then validates it (which reads the target's keys and the Secret
again) with --debug. Every secret-looking part of every credential value the Secret holds (a key, a password,
an instrumentation key inside a connection string) appears in neither run's stdout or stderr. What the user
gives is passed as @file (az itself echoes its command line under --debug).

The real az processes are shared per target family (the targets whose secret comes from the same place, e.g.
the four storage services or the five database servers): one process runs the creates and validates of the
whole family one after another (tests/e2e/az_batch.py), and each target's test reads its own commands' part of
that process's stdout and stderr."""
import base64
import json
import os
import re
import subprocess
import sys

import pytest

from azext_aks_connection import targets as t
from tests.e2e import az_batch
from tests.e2e.test_all_targets import PASSWORD, _auth_args, _target_args

pytestmark = pytest.mark.e2e

SECRET_TARGETS = [n for n, x in sorted(t.TARGETS.items()) if t.AUTH_SECRET in x.auth_types]
NAMESPACE = "debug-check"


def family(target):
    """Targets whose secret comes from the same place: storage:blob and storage:queue are one family."""
    return (target.secret_source or target.name).split(":")[0]


FAMILIES = {}
for _name in SECRET_TARGETS:
    FAMILIES.setdefault(family(t.TARGETS[_name]), []).append(_name)


def xdist_group_of(item):
    """make test: one part per family (its tests share one az process), spread over the workers
    (tests/conftest.py)."""
    return family(t.TARGETS[item.callspec.params["name"]])


def _secret_parts(value):
    """The parts of a credential value that are secret: long tokens with a digit (a key, a password, a GUID),
    not host names (a '.') or words (RootManageSharedAccessKey, a resource name)."""
    parts = {value}
    for token in re.split(r"[;,=:@/\s\"'?&]+", value):
        if len(token) >= 16 and "." not in token and re.search(r"[0-9]", token):
            parts.add(token)
    return parts


def _base(sandbox, target):
    c = sandbox["seeds"]["cluster"]
    return ["-g", c["resourceGroup"], "-n", c["name"], "--connection", f"dbg_{target.wire_name}"]


def _client(target):
    return "none" if "none" in target.client_types else target.client_types[-1]


_RUNS = {}


def _family_run(sandbox, tmp_path_factory, name):
    """{target name: {"create": (rc, text), "validate": (rc, text)}} of the target's family, from one real az
    process (run once per family, on its first test)."""
    fam = family(t.TARGETS[name])
    if fam not in _RUNS:
        secret_file = tmp_path_factory.mktemp(f"debug-{fam}") / "secret.txt"
        secret_file.write_text(PASSWORD)
        commands, names = [], []
        for member in FAMILIES[fam]:
            target = t.TARGETS[member]
            args = _target_args(sandbox, member) + _auth_args(sandbox, target, t.AUTH_SECRET, f"@{secret_file}")
            commands.append(["aks", "connection", "create", member, *_base(sandbox, target), *args,
                             "--kube-namespace", NAMESPACE, "--client-type", _client(target), "-o", "json",
                             "--debug"])
            commands.append(["aks", "connection", "validate", *_base(sandbox, target), "-o", "json", "--debug"])
            names.append(member)
        proc = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "az_batch.py")],
                              input=json.dumps(commands), capture_output=True, text=True, env=dict(os.environ),
                              check=False, timeout=600)
        out = az_batch.split(proc.stdout, len(commands))
        err = az_batch.split(proc.stderr, len(commands))
        runs = {}
        for i, member in enumerate(names):
            runs[member] = {}
            for j, step in ((2 * i, "create"), (2 * i + 1, "validate")):
                rc = out[j][1] if out[j][1] is not None else err[j][1]
                runs[member][step] = (rc, out[j][0] + err[j][0])
        _RUNS[fam] = {"runs": runs, "returncode": proc.returncode, "tail": proc.stderr[-3000:]}
    found = _RUNS[fam]
    assert name in found["runs"], f"the az process of family {fam} exited {found['returncode']}: {found['tail']}"
    return found["runs"][name]


@pytest.mark.parametrize("name", SECRET_TARGETS)
def test_create_and_validate_debug_carry_no_credential(sandbox, az, kube, tmp_path_factory, name):
    target = t.TARGETS[name]
    conn = f"dbg_{target.wire_name}"
    run = _family_run(sandbox, tmp_path_factory, name)
    made_rc, made = run["create"]
    assert made_rc == 0, made[-3000:]
    checked_rc, checked = run["validate"]
    assert checked_rc == 0, checked[-3000:]

    secret = kube.read_namespaced_secret(f"sc-{conn.replace('_', '')}-secret", NAMESPACE)
    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    credentials = [data[k.key] for k in target.keys_for(t.AUTH_SECRET, _client(target)) if k.credential]
    assert credentials, "the target's secret keys hold no credential"
    for text in (made, checked):
        assert "DEBUG" in text or "msrest" in text or "urllib3" in text or "cli.azure" in text  # --debug took effect
        for value in credentials:
            for part in _secret_parts(value):
                assert part not in text, f"a credential of {conn} ({len(part)} chars) is in the --debug output"
    assert az("aks", "connection", "delete", *_base(sandbox, target), "--yes").rc == 0
