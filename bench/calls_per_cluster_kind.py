# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The calls of one `create storage-blob --secret` and one `--workload-identity` create on each seeded cluster kind
(local-accounts, entra-id, private, authorized-ip-ranges), read from the sandbox's request log: `make calls`."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BIN, call_lines, sandbox_session  # noqa: E402  pylint: disable=wrong-import-position


def main():
    with sandbox_session("aksconn-calls-") as (env, sbc, seeds):
        s = seeds["storage"]["storage-blob"]
        identity = seeds["identities"]["sandbox-identity"]
        for kind, cluster in seeds["clusters"].items():
            for auth in (("--secret",), ("--workload-identity", identity)):
                mark = sbc.mark()
                t0 = time.perf_counter()
                p = subprocess.run([os.path.join(BIN, "az"), "aks", "connection", "create", "storage-blob",
                                    "--source-id", cluster["id"], "--tg", s["resourceGroup"], "--account",
                                    s["account"], "--connection", f"calls_{auth[0][2:6]}", *auth, "-o", "none",
                                    "--only-show-errors"], env=env, capture_output=True, text=True, check=False)
                elapsed = time.perf_counter() - t0
                calls = sbc.requests(since=mark)
                print(f"\n## {kind}: create {auth[0]} -> exit {p.returncode} in {elapsed:.2f} s; {len(calls)} calls, "
                      f"{sum(e['mutating'] for e in calls)} writes")
                if p.returncode:
                    print("   " + (p.stderr.strip().splitlines() or ["?"])[0][:300])
                for line, e in zip(call_lines(calls), calls):
                    print(f"   {line}  [{e['status']}]")


if __name__ == "__main__":
    main()
