# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""validate's rows come from each step's own diff (provider/steps/base.py Step.explain): a row fails or warns exactly
when changes() is not empty, a read that could not run is "Not checked", and --opt-out softens a failure to a
warning. This is what makes validate and --dry-run agree by construction."""
import types

from azext_aks_connection.provider.steps import CANDIDATES
from azext_aks_connection.provider.steps.base import (FAILURE, SUCCESS, WARNING, Check, NotChecked, Step, fail,
                                                      item)


class _Step(Step):
    name = "thing"
    checks = (Check("Thing", "The thing is there."),)
    opted_out_by = "auth"

    def __init__(self, plan, diff):
        super().__init__(plan)
        self.diff = diff

    def changes(self):
        return self.diff

    def describe(self, changes):
        return [fail(f"{len(changes)} change(s) pending", "re-run", "ThingMissing")]


def _plan(opt_out=()):
    return types.SimpleNamespace(spec=types.SimpleNamespace(opt_out=set(opt_out)))


def _results(step):
    return [(check.name, row.result, row.code) for check, row in step.explain()]


def test_a_row_fails_exactly_when_the_diff_is_not_empty():
    assert _results(_Step(_plan(), [])) == [("Thing", SUCCESS, None)]
    assert _results(_Step(_plan(), [item("thing", "create", "x", "id", "n")])) == [
        ("Thing", FAILURE, "ThingMissing")]


def test_a_read_that_could_not_run_is_not_checked_and_an_error_is_a_failure():
    step = _Step(_plan(), [])
    step.read_error = NotChecked("the target cannot be read (see the target check).")
    (_, row), = step.explain()
    assert row.result == WARNING and row.message.startswith("Not checked: the target")
    step.read_error = PermissionError("denied")
    (_, row), = step.explain()
    assert (row.result, row.code, row.message) == (FAILURE, "PermissionError", "denied")


def test_opt_out_softens_a_failure_to_a_warning_naming_it():
    (_, row), = _Step(_plan(opt_out=["auth"]), [item("thing", "create", "x", "id", "n")]).explain()
    assert row.result == WARNING and "--opt-out auth" in row.message


def test_every_step_with_checks_explains_from_its_diff():
    """No step overrides explain(): its rows can only come from describe(changes) or caveat()."""
    for cls in CANDIDATES:
        assert cls.explain is Step.explain, cls
        if cls.checks:
            assert cls.describe is not Step.describe, cls
