# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Bad inputs (issue 13 item 8), generated from a table over every target and the arguments of `create`: each must
be refused with a non-zero exit code and a message that names the fix, before anything is written on either plane
(the sandbox's request log shows no mutating call).

A case is one argument made wrong in a command that is otherwise right for its target (its target id, its auth
arguments and user values as tests/e2e/test_all_targets.py passes them)."""
import pytest

from azext_aks_connection import targets as t
from tests.e2e.helpers import run
from tests.e2e.test_all_targets import _auth_args, _target_args

pytestmark = pytest.mark.e2e

# What a fix line looks like: an example, the allowed values, the usage, or what to do.
FIX_WORDS = ("For example", "for example", "Allowed values", "Usage", "usage:", "Use ", "use one", "Pass ", "Drop ",
             "Add ", "Choose", "Give ", "Create ", "Check ", "az ", "--")


def _swap(args, option, value):
    """``args`` with ``option``'s value replaced (or the option added)."""
    args = list(args)
    if option in args:
        args[args.index(option) + 1] = value
        return args
    return args + [option, value]


def _drop_auth(args):
    """``args`` without their auth arguments (the user values kept)."""
    out, skip = [], False
    for a in args:
        if a in ("--secret", "--workload-identity", "--service-principal", "--enable-csi"):
            skip = a
            if a == "--secret":
                out.append(a)         # --secret may carry the target's user values: kept when it has some
                skip = "secret-values"
                continue
            continue
        if skip and not a.startswith("--"):
            if skip == "secret-values":
                out.append(a)
            continue
        skip = False
        out.append(a)
    if out and out[-1] == "--secret":
        out.pop()
    return out


def _after_secret(args, value):
    """``value`` added to the values of --secret."""
    i = args.index("--secret") + 1
    while i < len(args) and not args[i].startswith("--"):
        i += 1
    return args[:i] + [value] + args[i:]


def _wi(sandbox):
    return ["--workload-identity", sandbox["seeds"]["identities"]["sandbox-identity"]]


def _mutations(target, sandbox, blank_file):
    """(case, args to add or change, given the base args) for the target; only those that apply to it."""
    auth = target.auth_types[0]
    client = target.client_types[0]
    keys = [k.key for k in target.keys_for(auth, client)]
    offered = t.offered_auth_types(target)
    cluster = sandbox["seeds"]["cluster"]
    cases = [
        ("connection name with '..'", lambda a: _swap(a, "--connection", "orders..blob")),
        ("connection name ending in '.'", lambda a: _swap(a, "--connection", "orders.")),
        ("connection name starting with '-'", lambda a: _swap(a, "--connection", "-orders")),
        ("connection name too long", lambda a: _swap(a, "--connection", "c" * 70)),
        ("namespace not a DNS label", lambda a: _swap(a, "--kube-namespace", "Bad_NS")),
        ("unknown client type", lambda a: _swap(a, "--client-type", "cobol")),
        ("key that is not one of this connection", lambda a: a + ["--customized-keys", "NOT_A_KEY=X"]),
        ("new key name not a Secret key", lambda a: a + ["--customized-keys", f"{keys[0]}=bad key!"]),
        ("cluster id that is not a cluster", lambda a: _swap([x for x in a if x not in (
            "-g", cluster["resourceGroup"], "-n", cluster["name"])], "--source-id",
            f"/subscriptions/{sandbox['seeds']['subscription']}/resourceGroups/{cluster['resourceGroup']}")),
        ("unknown opt-out", lambda a: a + ["--opt-out", "everything"]),
    ]
    if keys:
        cases.append(("key renamed twice", lambda a: a + ["--customized-keys", f"{keys[0]}=A", f"{keys[0]}=B"]))
    if target.name != "confluent-cloud":
        cases.append(("target id of another resource type", lambda a: _swap(a, "--target-id", cluster["id"])))
        cases.append(("target id that is not an id", lambda a: _swap(a, "--target-id", "not-an-id")))
    if t.AUTH_WORKLOAD_IDENTITY in offered:
        cases.append(("workload identity that is not an identity id",
                      lambda a: _drop_auth(a) + ["--workload-identity", "not-an-id"]))
        cases.append(("two auth types", lambda a: _drop_auth(a) + _wi(sandbox) + [
            "--service-principal", "client-id=00000000-0000-0000-0000-0000000000aa", "secret=x"]))
    if target.roles and t.AUTH_WORKLOAD_IDENTITY in offered:
        cases.append(("empty role", lambda a: _drop_auth(a) + _wi(sandbox) + ["--role", ""]))
        cases.append(("role with --opt-out auth", lambda a: _drop_auth(a) + _wi(sandbox) + [
            "--role", "Reader", "--opt-out", "auth"]))
    if target.roles and t.AUTH_SECRET in offered:
        cases.append(("role with secret auth", lambda a: _drop_auth(a) + ["--secret"] + ["--role", "Reader"]))
    if t.AUTH_SERVICE_PRINCIPAL in offered:
        cases.append(("service principal client id not a GUID", lambda a: _drop_auth(a) + [
            "--service-principal", "client-id=abc", "secret=x"]))
        cases.append(("service principal without its secret", lambda a: _drop_auth(a) + [
            "--service-principal", "client-id=00000000-0000-0000-0000-0000000000aa"]))
        cases.append(("service principal secret file holding only white space", lambda a: _drop_auth(a) + [
            "--service-principal", "client-id=00000000-0000-0000-0000-0000000000aa", f"secret=@{blank_file}"]))
    secret_values = [u for u in target.user_values if u.option == "--secret"]
    if secret_values:
        cases.append(("--secret missing a value", lambda a: [x for x in a if not x.startswith(
            secret_values[-1].key + "=")]))
        cases.append(("--secret with an unknown key", lambda a: _after_secret(a, "nokey=1")))
    elif t.AUTH_SECRET in offered and target.name != "confluent-cloud":
        cases.append(("--secret values for a target that gives its own", lambda a: _drop_auth(a) + [
            "--secret", "name=x", "secret=y"]))
    if target.csi:
        cases.append(("--enable-csi with an identity", lambda a: _drop_auth(a) + ["--enable-csi"] + _wi(sandbox)))
    return cases


SHARE = 5        # each target gets one in SHARE of the cases (rotating), and all of those only a few targets have


def cases_of(target, sandbox, blank_file):
    """The target's cases: a rotating share of the table (every case is tried on several targets and the whole stays
    above 100 cases), and all of those only a few targets have (user values, --enable-csi)."""
    mine = _mutations(target, sandbox, blank_file)
    offset = NAMES.index(target.name)
    own = [c for c in mine if c[0].startswith(("--secret", "--enable-csi"))]     # a few targets only: all
    shared = [c for c in mine if c not in own]
    return [c for i, c in enumerate(shared) if (i + offset) % SHARE == 0] + own


def _base(sandbox, target):
    c = sandbox["seeds"]["cluster"]
    auth_args = _auth_args(sandbox, target, target.auth_types[0])
    return (["aks", "connection", "create", target.name, "-g", c["resourceGroup"], "-n", c["name"]] +
            _target_args(sandbox, target.name) + auth_args +
            ["--connection", f"bad_{target.wire_name}", "--kube-namespace", "bad-inputs", "-o", "json"])


def names_fix(text):
    lines = [line for line in text.splitlines() if line.strip() and "preview and under development" not in line
             and "altered by the following extension" not in line]
    return any(word in line for line in lines for word in FIX_WORDS)


NAMES = sorted(t.TARGETS)


def xdist_group_of(item):
    params = getattr(item, "callspec", None)
    return f"bad-{NAMES.index(params.params['name']) % 2}" if params else "bad"


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_are_refused_before_any_write(az, sandbox, sbc, name, tally, tmp_path):
    target = t.TARGETS[name]
    blank = tmp_path / "blank-secret.txt"
    blank.write_text(" \n\t \n", encoding="utf-8")
    base = _base(sandbox, target)
    failures = []
    for case, mutate in cases_of(target, sandbox, blank):
        args = mutate(base)
        mark = sbc.mark()
        res = run(az, *args)
        writes = [(e["method"], e["path"]) for e in sbc.requests(since=mark) if e["mutating"]]
        ok = res.rc not in (0, None) and names_fix(res.log) and not writes
        why = "" if ok else ("exit code 0" if res.rc == 0 else "no fix named" if not names_fix(res.log)
                             else f"wrote {writes}")
        tally("bad-input", target=name, case=f"{name}: {case}", ok=ok, rc=res.rc, writes=len(writes), why=why)
        if not ok:
            failures.append((case, res.rc, why, res.log.strip().splitlines()[-2:]))
    assert not failures, failures
