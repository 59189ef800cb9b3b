# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The reliability suite's counts, printed at the end of every run that ran any of it (pytest-xdist included).

A test records what it tried through the ``tally`` fixture (tests/reliability/conftest.py); the records ride on the
test's report (``user_properties``, which pytest-xdist sends from its workers), are gathered here from the reports
and printed by ``pytest_terminal_summary`` — whatever -s or -q say, and also when tests failed (the counts say
what did not hold). The hooks are imported by tests/conftest.py, which the controlling process loads."""
import json
from collections import defaultdict

KEY = "aks-connection-reliability"
_RECORDS = []


def record(node, part, **fields):
    node.user_properties.append((KEY, json.dumps(dict(fields, part=part), sort_keys=True)))


def pytest_runtest_logreport(report):
    if report.when != "teardown":
        return
    for name, value in getattr(report, "user_properties", ()) or ():
        if name == KEY:
            _RECORDS.append(json.loads(value))


def _by(part):
    return [r for r in _RECORDS if r["part"] == part]


def _bad_inputs(write):
    rows = _by("bad-input")
    if not rows:
        return
    ok = [r for r in rows if r["ok"]]
    targets = sorted({r["target"] for r in rows})
    kinds = {r["case"].split(": ", 1)[1] for r in rows}
    write(f"bad inputs: {len(rows)} tried ({len(kinds)} kinds over {len(targets)} targets); {len(ok)} refused as they "
          "should be "
          f"(exit code, a fix named, no mutating call on either plane); "
          f"{sum(r['writes'] for r in rows)} mutating calls in all")
    for r in [r for r in rows if not r["ok"]][:10]:
        write(f"    NOT REFUSED AS IT SHOULD BE: {r['case']}: rc={r['rc']} writes={r['writes']} {r['why']}")


def _faults(write):
    rows = _by("fault")
    if not rows:
        return
    kinds = sorted({r["kind"] for r in rows})
    table = defaultdict(dict)
    for r in rows:
        table[(r["plane"], r["route"])][r["kind"]] = r
    converged = [r for r in rows if r["converged"]]
    write(f"faults: {len(rows)} injected on {len(table)} routes of a workload-identity create "
          f"({', '.join(kinds)}); {len(converged)} converged "
          f"({sum(r['outcome'] == 'succeeded' for r in rows)} succeeded through the fault, "
          f"{sum(r['outcome'] == 'clear error, re-run converged' for r in rows)} failed clearly and the re-run "
          "converged)")
    width = max(len(f"{p} {r}") for p, r in table) + 2
    write("    " + "route".ljust(width) + "".join(k.ljust(12) for k in kinds))
    for (plane, route), cells in sorted(table.items()):
        write("    " + f"{plane} {route}".ljust(width) + "".join(
            ({"succeeded": "ok", "clear error, re-run converged": "err+rerun"}.get(cells[k]["outcome"], "NO")
             if k in cells else "-").ljust(12) for k in kinds))
    for r in [r for r in rows if not r["converged"]]:
        write(f"    NOT CONVERGED: {r['plane']} {r['route']} {r['kind']}: {r['outcome']}: {r['why']}")


def _malformed(write):
    """Malformed answers over the routes of a create of each auth type (tests/reliability/test_malformed.py): per
    create, (route, malformation) tried and held, the routes that did not hold named, and the family's time."""
    rows = _by("malformed")
    if not rows:
        return
    times = _by("malformed-time")
    held = [r for r in rows if r["held"]]
    write(f"malformed answers (bare 200, truncated JSON, HTML page, wrong content type) over every route of a create "
          f"of each auth type: {len(rows)} tried, {len(held)} held "
          f"({sum(r['outcome'] == 'succeeded' for r in rows)} succeeded through it, "
          f"{sum(r['outcome'] == 'clear error, re-run converged' for r in rows)} failed clearly and the re-run "
          f"converged); {sum(t['creates'] for t in times)} faulted creates in {sum(t['seconds'] for t in times):.0f} s")
    for scenario in sorted({r["scenario"] for r in rows}):
        mine = [r for r in rows if r["scenario"] == scenario]
        routes = {(r["plane"], r["route"]) for r in mine}
        write(f"    {scenario}: {len(mine)} tried on {len(routes)} routes "
              f"({sum(r['plane'] == 'arm' for r in mine)} ARM, {sum(r['plane'] == 'kube' for r in mine)} Kubernetes), "
              f"{sum(r['held'] for r in mine)} held")
    kinds = sorted({r["kind"] for r in rows})
    cells = {(r["scenario"], r["plane"], r["route"], r["kind"]): r for r in rows}
    width = max(len(f"{r['plane']} {r['route']}") for r in rows) + 2
    for scenario in sorted({r["scenario"] for r in rows}):
        write(f"    {scenario}: " + " " * (width - len(scenario)) + "".join(k.ljust(20) for k in kinds))
        for plane, route in sorted({(r["plane"], r["route"]) for r in rows if r["scenario"] == scenario}):
            write("      " + f"{plane} {route}".ljust(width) + "".join(
                ({"succeeded": "ok", "clear error, re-run converged": "err+rerun"}.get(
                    cells[(scenario, plane, route, k)]["outcome"], "NO") if (scenario, plane, route, k) in cells
                 else "-").ljust(20) for k in kinds))
    for r in [r for r in rows if not r["held"]]:
        write(f"    NOT HELD: {r['scenario']}: {r['plane']} {r['route']} {r['kind']}: {r['outcome']}: {r['why']}")


def _kills(write):
    rows = _by("kill")
    if not rows:
        return
    for command in sorted({r["command"] for r in rows}):
        mine = [r for r in rows if r["command"] == command]
        write(f"kills during {command}: {len(mine)} (at the N-th mutating request of N = "
              f"{', '.join(sorted({str(r['point']) for r in mine}, key=int))}; the held request "
              f"{' / '.join(sorted({r['variant'] for r in mine}))}); the re-run converged ("
              f"{'no connection, and all that is left named' if 'delete' in command else 'the clean end state'}) in "
              f"{sum(r['converged'] for r in mine)}; duplicates found in {sum(bool(r['duplicates']) for r in mine)}")
        for r in [r for r in mine if not r["converged"] or r["duplicates"]]:
            write(f"    NOT CONVERGED: point {r['point']} ({r['variant']}): {r['why']} {r['duplicates'] or ''}")


def _killed_visible(write):
    seen = _by("kill-visible")
    if seen:
        write(f"killed creates looked at before a re-run: {len(seen)}; shown as Creating/Failed in "
              f"{sum(r['visible'] for r in seen)}; delete removed or named everything they made in "
              f"{sum(r['accounted'] for r in seen)}")
        for r in [r for r in seen if not (r["visible"] and r["accounted"])]:
            write(f"    NOT VISIBLE/ACCOUNTED: point {r['point']}: {r['why']}")


def _concurrency(write):
    rows = _by("concurrency")
    if not rows:
        return
    write(f"concurrent writers: {len(rows)} scenarios, {sum(r['ok'] for r in rows)} with nothing lost")
    for r in rows:
        write(f"    {'ok  ' if r['ok'] else 'LOST'} {r['scenario']}: {r['detail']}")


def pytest_terminal_summary(terminalreporter):
    if not _RECORDS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("reliability suite (issue 13 item 8, issue 25): counts")
    for part in (_bad_inputs, _faults, _malformed, _kills, _killed_visible, _concurrency):
        part(write)
