# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Malformed answers on every route of a create of each auth type, on both planes (issue 25 item 1): a bare 200, a
truncated JSON body, an HTML page and a text/plain body where the service's JSON was due — what a proxy or a dropped
connection answers in the service's place. test_faults.py covers the workload-identity create; here: --secret
(storage-blob, and Service Bus whose values come from a listKeys of another family), --service-principal, Key Vault
--enable-csi and --engine service-connector.

For each (route, malformation) the create either succeeds through it with the clean run's end state (a client that
rightly retries), or exits non-zero with a clear error (an ERROR line naming the call and so the cluster or resource,
a re-run suggested, no traceback, no raw transport text, none of the injected body, no credential) and an immediate
re-run without the fault reaches the clean run's end state.

The routes are those of a clean run's request log. The malformation is put on every route not yet covered, once
each, in one create: a create that goes through all it met covers them all; one that fails clearly covers the call
its error names (else the first it met: the others it met, reads in parallel or the record of the failure, are
tried again where a create meets them first). Only a create that does not converge is taken apart, each route it
met alone, so that the counts name the route that does not. Each create and its re-run are az processes forked
from one warm zygote (tests/reliability/azproc.py), in a world of their own (world.py)."""
import base64
import json
import re
import time
import uuid

import pytest

from tests.reliability.conftest import quiesce
from tests.reliability import test_faults
from tests.reliability.test_faults import KINDS as ALL_KINDS, RAW, _error_line
from tests.reliability.world import arm_state, conn_id, create_args, kube_state, new_world, _raw

pytestmark = pytest.mark.e2e

MALFORMED = ("bare 200", "truncated JSON", "HTML page", "wrong content type")
KINDS = {k: ALL_KINDS[k] for k in MALFORMED}
# what of an injected body would be a raw dump of it in the output
BODY_MARKS = ('"ann', "<html", "502 Bad Gateway", "upstream connect error")
PASSWORD = "Pw-" + uuid.uuid4().hex
SP_CLIENT, SP_OBJECT = str(uuid.uuid4()), str(uuid.uuid4())
SCENARIOS = ("secret storage-blob", "secret servicebus", "service-principal", "keyvault csi",
             "service-connector engine")


def route_of(path, world):
    """test_faults.route_of, and a long-running operation's own suffix (``*<hash>``) as ``*{op}``."""
    return re.sub(r"\*[0-9A-F]{16,}$", "*{op}", test_faults.route_of(path, world))


def route_regex(route, world):
    rx = test_faults.route_regex(route.replace("*{op}", "*OPERATION"), world)
    return rx.replace(re.escape("*OPERATION"), r"\*[0-9A-F]+")


def xdist_group_of(item):
    """Each (auth type, malformation) a part of its own (~10-50 s; the clean run of its auth type is made again on
    each worker that meets it: one create), spread over the workers."""
    params = item.callspec.params if hasattr(item, "callspec") else {}
    return f"{params['scenario']} / {params['kind']}" if "scenario" in params else "one bug each"


def _args(sandbox, world, scenario):
    """The create of ``scenario`` in ``world`` (its cluster, its account, its namespace and connection name)."""
    seeds = sandbox["seeds"]
    if scenario == "secret storage-blob":
        return create_args(world, auth="secret")
    if scenario == "service-principal":
        return [a for a in create_args(world, auth="secret") if a != "--secret"] + [
            "--service-principal", f"client-id={SP_CLIENT}", f"secret={PASSWORD}", f"object-id={SP_OBJECT}"]
    if scenario == "service-connector engine":
        return create_args(world, "--engine", "service-connector")
    common = ["--source-id", world["cluster"]["id"], "--connection", world["connection"],
              "--kube-namespace", world["namespace"], "-o", "json"]
    if scenario == "secret servicebus":
        return ["aks", "connection", "create", "servicebus", "--target-id", seeds["targets"]["servicebus"],
                "--secret", "--client-type", "python"] + common
    assert scenario == "keyvault csi", scenario
    return ["aks", "connection", "create", "keyvault", "--target-id", seeds["keyvaults"]["rbac"], "--enable-csi",
            "--client-type", "python"] + common


def _secret_values(state):
    """Secret values of the end state made comparable across worlds: a storage account's key (each world's own
    account) as {key}, a Helm release (sc-extension's: its time inside) as {release}."""
    for name, values in list(state["secrets"].items()):
        if "/sh.helm.release." in name:     # one release, its revisions (a re-run's PUT upgrades it) as one
            del state["secrets"][name]
            state["secrets"][name.rsplit(".v", 1)[0]] = "{release}"
            continue
        for k, v in list(values.items()):
            v = re.sub(r"AccountKey=[^;]+", "AccountKey={key}", v)
            values[k] = "{key}" if k.endswith("_KEY") or k.endswith("ACCOUNTKEY") else v
    return state


def _grants(sbc, world):
    """The role assignments of the principals a create of another auth makes them for: the service principal's,
    the Key Vault add-on identity's of the world's cluster."""
    cluster = _raw(sbc, world["cluster"]["id"]) or {}
    addon = (((cluster.get("properties") or {}).get("addonProfiles") or {}).get("azureKeyvaultSecretsProvider")
             or {})
    principals = {SP_OBJECT: "{sp}", ((addon.get("identity") or {}).get("objectId") or "-"): "{addon}"}
    found = []
    for principal, name in principals.items():
        for a in sbc.arm("GET", "role-assignments?principalId=" + principal)["value"]:
            p = a.get("properties") or {}
            if name == "{addon}" or p.get("scope", "").lower().startswith(world["account"]["id"].lower()):
                found.append([p.get("roleDefinitionId", "").rsplit("/", 1)[-1], name, p.get("scope")])
    return {"addon": bool(addon.get("enabled")), "grants": sorted(found),
            "addonIdentity": {k: (addon.get("identity") or {}).get(k) for k in ("resourceId", "objectId", "clientId")}}


WORLD_IDS = (("identity", "id"), ("identity", "principalId"), ("identity", "clientId"), ("identity", "name"),
             ("account", "id"), ("cluster", "id"), ("account", "name"), ("cluster", "name"))   # the longest first


def snapshot(sbc, kube_reader, world):
    """Both planes as a user would look at them, the world's own names as placeholders (world.snapshot's, for any
    auth): the cluster's features, the grants made, the firewall, the linker (Service Connector's engine), every
    namespace, ServiceAccount, Secret and record of the cluster."""
    linker = _raw(sbc, conn_id(world)) or {}
    grants = _grants(sbc, world)
    addon_identity = grants.pop("addonIdentity")
    state = {"arm": dict(arm_state(sbc, world), **grants),
             "linker": [(linker.get("properties") or {}).get(k) for k in ("provisioningState", "authInfo")],
             "kube": _secret_values(kube_state(kube_reader, world))}
    text = json.dumps(state, sort_keys=True)
    # the world's own names and ids (the add-on identity's: one per cluster); a role's id stays, so a grant of
    # another role shows
    swaps = [(state["arm"]["issuer"], "{issuer}")] if state["arm"]["issuer"] else []
    swaps += [(world[o][k], f"{{{o} {k}}}") for o, k in WORLD_IDS]
    swaps += [(v, f"{{addon {k}}}") for k, v in addon_identity.items() if v]
    swaps += [(world["connection"], "{connection}"), (world["connection"].replace("_", ""), "{conn}"),
              (world["namespace"], "{namespace}")] + [(ip, "{egress ip}") for ip in world["egress"]]
    for old, new in swaps:
        text = text.replace(old, new)
    text = re.sub(r"roleAssignments/[0-9a-fA-F-]{36}", "roleAssignments/{guid}", text)
    return json.loads(text)


CREDENTIAL_KEY = re.compile(r"(ACCOUNTKEY|_KEY|CONNECTIONSTRING|SECRET|PASSWORD)$")


def _credentials(kube_reader, world):
    """What a create put in the cluster that is a credential (a key, a connection string, a client secret)."""
    found = {PASSWORD}
    for sec in kube_reader.core(world["cluster"]["name"]).list_namespaced_secret(world["namespace"]).items:
        found |= {base64.b64decode(v).decode("utf-8", "replace") for k, v in (sec.data or {}).items()
                  if CREDENTIAL_KEY.search(k)}
    return {c for c in found if len(c) >= 8}


@pytest.fixture(scope="module")
def references(sandbox, sbc, zygote, kube_reader):
    """A clean run of each scenario (made when first asked): its end state and routes, (plane, method, route)."""
    made = {}

    def reference(scenario):
        if scenario not in made:
            world = new_world(sbc, "mref")
            mark = sbc.mark()
            res = zygote.run(_args(sandbox, world, scenario), timeout=240)
            assert res.returncode == 0, res
            quiesce(sbc)
            routes = sorted({(e["plane"], e["method"], route_of(e["path"], world)) for e in sbc.requests(since=mark)
                             if e["path"] != "/msi/token"})
            made[scenario] = {"snapshot": snapshot(sbc, kube_reader, world), "routes": routes}
        return made[scenario]
    return reference


def _clear(text, credentials):
    """An ERROR line, then a line with the fix (a re-run), and nothing raw: no transport text, none of the injected
    body, no credential."""
    lines = [line for line in text.splitlines() if line.strip() and "preview and under development" not in line
             and "altered by the following extension" not in line and not line.startswith("WARNING")]
    error = [i for i, line in enumerate(lines) if line.startswith("ERROR:")]
    if not error or len(lines) <= error[0] + 1:
        return "no ERROR line and fix"
    if "re-run" not in text.lower() and "rerun" not in text.lower() and "run it again" not in text.lower():
        return "no re-run suggested"
    raw = [r for r in RAW + BODY_MARKS if r in text] + ["a credential" for c in credentials if c in text]
    return f"raw text: {raw[0]}" if raw else ""


def _named(err, hit, world):
    """The route of ``hit`` whose call the error names ("answered GET <path> with ..."), else None."""
    found = re.search(r"answered (GET|PUT|POST|PATCH|DELETE) (\S+) with", err)
    if not found:
        return None
    path = re.sub(r"^https://[^/]+", "", found.group(2)).split("?")[0]
    candidates = (path, f"/clusters/{world['cluster']['name']}{path}")
    return next((r for r in hit if r[1] == found.group(1)
                 and any(re.search(route_regex(r[2], world), c) for c in candidates)), None)


def _attempt(ctx, kind, routes):
    """One create (an az process: what it prints is what a user sees) in a world of its own with the malformation
    ``kind`` on each of ``routes``, once each; the re-run without it when it fails. (routes met in the order met,
    the route the error names or None, outcome, why)."""
    sbc, scenario = ctx["sbc"], ctx["scenario"]
    world = new_world(sbc, "mal")
    res, hit = test_faults.faulted_run(sbc, world, routes, KINDS[kind], route_regex, lambda: ctx["zygote"].run(
        _args(ctx["sandbox"], world, scenario), timeout=240))
    text, named = res.out + res.err, _named(res.err, hit, world)
    if res.returncode == 0:
        if snapshot(sbc, ctx["kube_reader"], world) == ctx["reference"]["snapshot"]:
            leaked = [c for c in _credentials(ctx["kube_reader"], world) if c in text]
            return hit, None, ("credential in the output" if leaked else "succeeded"), ""
        return hit, None, "succeeded with another end state", "objects differ"
    again = ctx["zygote"].run(_args(ctx["sandbox"], world, scenario), timeout=240)
    why = _clear(text, _credentials(ctx["kube_reader"], world))
    if why:
        return hit, named, "unclear error", f"{why}: {_error_line(res.err)[:300]}"
    if again.returncode != 0 or snapshot(sbc, ctx["kube_reader"], world) != ctx["reference"]["snapshot"]:
        return hit, named, "re-run did not converge", f"rc {again.returncode}: {_error_line(again.err)[:200]}"
    return hit, named, "clear error, re-run converged", _error_line(res.err)[:200]


@pytest.mark.parametrize("kind", MALFORMED)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_malformed_answers_on_every_route_of_a_create_of_each_auth(sandbox, sbc, zygote, kube_reader, references,
                                                                   scenario, kind, tally):
    started = time.monotonic()
    ctx = {"sandbox": sandbox, "sbc": sbc, "zygote": zygote, "kube_reader": kube_reader, "scenario": scenario,
           "reference": references(scenario)}
    remaining = list(ctx["reference"]["routes"])
    results, creates = {}, 0
    while remaining:
        hit, named, outcome, why = _attempt(ctx, kind, remaining)
        creates += 1
        if not hit:
            break
        if outcome == "succeeded":                 # through every malformation it met
            covered = {r: (outcome, why) for r in hit}
        elif outcome == "clear error, re-run converged":
            # the call the error names (else the first met): other routes met meanwhile (reads in parallel, the
            # record of the failure) are tried again where a create meets them first
            covered = {named or hit[0]: (outcome, why)}
        else:                                      # which one: each alone, in the order met
            covered = {}
            for route in hit:
                alone = _attempt(ctx, kind, [route])
                creates += 1
                covered[route] = alone[2:] if alone[0] else ("succeeded", "not reached alone")
        results.update(covered)
        remaining = [r for r in remaining if r not in covered]
    for route in remaining:
        results[route] = ("not reached", "the create made no such request")
    for (plane, method, route), (outcome, why) in sorted(results.items()):
        tally("malformed", scenario=scenario, plane=plane, route=f"{method} {route}", kind=kind, outcome=outcome,
              why=why, held=outcome in ("succeeded", "clear error, re-run converged"))
    tally("malformed-time", scenario=scenario, kind=kind, seconds=round(time.monotonic() - started, 1),
          creates=creates)
    bad = {r: o for r, o in results.items() if o[0] not in ("succeeded", "clear error, re-run converged")}
    assert not bad, bad


# The bugs the family found, each alone (a create each): (scenario, method, the path's end as a regex with the
# world's names in braces, the malformation, what the create does: fails clearly, or goes through it).
BUGS = {
    # provider/arm.py Arm.post: a listKeys answering no body read as no keys, then an IndexError in the fetcher
    "listKeys bare": ("secret storage-blob", "POST", "/{account}/listKeys", "bare 200", "error"),
    # provider/arm.py sdk_call: a provider read answering no body (with its headers) was taken for a provider
    "provider read bare": ("service-connector engine", "GET", "/providers/Microsoft\\.ServiceLinker", "bare 200",
                           "error"),
    # provider/sc_engine.py create: the linker operation's final GET answering no body, an AttributeError; a
    # proxy's page there, the SDK's DeserializationError
    "linker final GET bare": ("service-connector engine", "GET", "/linkers/{connection}", "bare 200", "error"),
    "linker final GET HTML": ("service-connector engine", "GET", "/linkers/{connection}", "HTML page", "error"),
    # provider/retry.py sdk_polling: a poll answering no body ended the wait ("does not contain a body", the
    # linker's failure and troubleshoot advice) while the operation went on, and the re-run met its 409
    "linker poll bare": ("service-connector engine", "GET", "/operationStatuses/[^/]+", "bare 200", "through"),
    # provider/linkers.py get_linker: a local create's read of a Service Connector connection of its name answering
    # no body or a page was taken for "none": the check that it shadows no such connection silently skipped
    "local create linker read bare": ("secret storage-blob", "GET", "/linkers/{connection}", "bare 200", "error"),
    "local create linker read HTML": ("service-principal", "GET", "/linkers/{connection}", "HTML page", "error"),
}


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_a_malformed_answer_where_one_is_read_fails_clearly_or_is_gone_through(sandbox, sbc, zygote, kube_reader,
                                                                               bug):
    scenario, method, tail, kind, expect = BUGS[bug]
    world = new_world(sbc, "mbug")
    tail_rx = tail.format(account=re.escape(world["account"]["name"]), connection=re.escape(world["connection"]))
    rule = sbc.add_fault(plane="arm", method=method, path=".*" + tail_rx + "$", times=1, **KINDS[kind])
    try:
        res = zygote.run(_args(sandbox, world, scenario), timeout=240)
        assert (sbc.fault(rule) or {}).get("hits"), "the fault was not met"
    finally:
        sbc.remove_fault(rule)
    quiesce(sbc)
    if expect == "through":
        assert res.returncode == 0, res
    else:
        assert res.returncode == 1, res
        assert re.search(f"answered {method} \\S*{tail_rx} with ", res.err), res.err[-2000:]
        assert not _clear(res.err, _credentials(kube_reader, world)), res.err[-2000:]
        again = zygote.run(_args(sandbox, world, scenario), timeout=240)
        assert again.returncode == 0, again
