"""No credential in any output or log, --debug included, for every target that hands out a secret: a real az
process creates the connection with --debug, then validates it (which reads the target's keys and the Secret
again) with --debug. Every secret-looking part of every credential value the Secret holds (a key, a password,
an instrumentation key inside a connection string) appears in neither run's stdout or stderr. What the user
gives is passed as @file (az itself echoes its command line under --debug)."""
import base64
import re

import pytest

from azext_aks_connection import targets as t
from tests.conftest import az_subprocess
from tests.e2e.test_all_targets import PASSWORD, _auth_args, _target_args

pytestmark = pytest.mark.e2e

SECRET_TARGETS = [n for n, x in sorted(t.TARGETS.items()) if t.AUTH_SECRET in x.auth_types]


def _args(sandbox, target, tmp_path):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(PASSWORD)
    return _target_args(sandbox, target.name) + _auth_args(sandbox, target, t.AUTH_SECRET, f"@{secret_file}")


def _secret_parts(value):
    """The parts of a credential value that are secret: long tokens with a digit (a key, a password, a GUID),
    not host names (a '.') or words (RootManageSharedAccessKey, a resource name)."""
    parts = {value}
    for token in re.split(r"[;,=:@/\s\"'?&]+", value):
        if len(token) >= 16 and "." not in token and re.search(r"[0-9]", token):
            parts.add(token)
    return parts


@pytest.mark.parametrize("name", SECRET_TARGETS)
def test_create_and_validate_debug_carry_no_credential(sandbox, kube, tmp_path, name):
    target = t.TARGETS[name]
    c = sandbox["seeds"]["cluster"]
    conn = f"dbg_{target.wire_name}"
    client = "none" if "none" in target.client_types else target.client_types[-1]
    base = ["-g", c["resourceGroup"], "-n", c["name"], "--connection", conn]
    made = az_subprocess("aks", "connection", "create", name, *base, *_args(sandbox, target, tmp_path),
                         "--kube-namespace", "debug-check", "--client-type", client, "-o", "json", "--debug")
    assert made.returncode == 0, made.stderr[-3000:]
    checked = az_subprocess("aks", "connection", "validate", *base, "-o", "json", "--debug")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]

    secret = kube.read_namespaced_secret(f"sc-{conn.replace('_', '')}-secret", "debug-check")
    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    credentials = [data[k.key] for k in target.keys_for(t.AUTH_SECRET, client) if k.credential]
    assert credentials, "the target's secret keys hold no credential"
    for proc in (made, checked):
        text = proc.stdout + proc.stderr
        assert "DEBUG" in text or "msrest" in text or "urllib3" in text or "cli.azure" in text  # --debug took effect
        for value in credentials:
            for part in _secret_parts(value):
                assert part not in text, f"a credential of {conn} ({len(part)} chars) is in the --debug output"
    az_subprocess("aks", "connection", "delete", *base, "--yes")
