# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Several az commands in ONE real az process: ``python tests/e2e/az_batch.py < commands.json``.

What ``python -m azure.cli`` (the ``az`` script) does for one command, done for each command of the JSON list
(a list of argument lists) in turn, in a fresh ``AzCli`` each time; the process's stdout and stderr are what
a user's terminal would show, with a marker line before and after each command on both streams so a test can
cut them apart (``split``). Used where a test needs real az processes (their whole output, --debug included)
for many commands: the start-up of az is paid once per batch instead of once per command.
"""
import json
import os
import sys

MARK = "=== az-batch"


def main():
    commands = json.load(sys.stdin)
    os.environ.setdefault("AZ_INSTALLER", "PIP")     # as the az script sets it
    from azure.cli.core import get_default_cli
    for i, args in enumerate(commands):
        for stream in (sys.stdout, sys.stderr):
            stream.write(f"\n{MARK} {i} start ===\n")
            stream.flush()
        try:
            rc = get_default_cli().invoke(args)
        except SystemExit as exc:     # what az does with an error: exit with its code (here: go on)
            rc = exc.code if exc.code is not None else 1
        except Exception as exc:  # pylint: disable=broad-except
            print(f"az-batch: {type(exc).__name__}: {exc}", file=sys.stderr)
            rc = 1
        for stream in (sys.stdout, sys.stderr):
            stream.write(f"\n{MARK} {i} end rc={rc} ===\n")
            stream.flush()
    return 0


def split(text, count):
    """``count`` parts of one stream of a batch: what command i printed, and its exit code (None: it never
    ended, e.g. the process died)."""
    parts = []
    for i in range(count):
        start = f"{MARK} {i} start ===\n"
        begin = text.find(start)
        if begin < 0:
            parts.append(("", None))
            continue
        begin += len(start)
        end = text.find(f"\n{MARK} {i} end rc=", begin)
        if end < 0:
            parts.append((text[begin:], None))
            continue
        rc = text[end:].split("rc=", 1)[1].split(" ", 1)[0]
        parts.append((text[begin:end], int(rc) if rc.lstrip("-").isdigit() else 1))
    return parts


if __name__ == "__main__":
    sys.exit(main())
