# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`make bench-ab REV=<git revision>`: the working tree's extension against the one of REV, side by side in one
sandbox: each round runs every scenario once with each, in alternating order, so a busy minute of the machine
slows both alike. Prints, per scenario, the medians of wall time and CPU (user + system) of each and their ratio
(this tree / REV). Two runs of `make bench` made at different times compare the machine as much as the code; this
compares the code.

BENCH_RUNS (default 5): rounds. Each version gets clusters of its own (its records never meet the other's).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, install_wheel, run_az, sandbox_session  # noqa: E402  pylint: disable=wrong-import-position

RUNS = max(1, int(os.environ.get("BENCH_RUNS", "5")))
ARM_LATENCY, KUBE_LATENCY = 0.05, 0.02          # as bench.py: a stand-in for a network
QUIET = ["-o", "none", "--only-show-errors"]


def install_revision(rev, ext_root):
    """The extension of ``rev`` built and installed as bench/common.install_wheel installs the working tree's."""
    src = tempfile.mkdtemp(prefix="aksconn-ab-src-")
    try:
        archive = subprocess.run(["git", "-C", REPO, "archive", rev], check=True, capture_output=True,
                                 timeout=120).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True, timeout=120)
        install_wheel(ext_root, repo=src)
    finally:
        shutil.rmtree(src, ignore_errors=True)


class Side:  # pylint: disable=too-few-public-methods  # one version's environment and prepared cluster
    def __init__(self, tag, env, sbc, seeds):
        self.tag, self.env, self.sbc, self.seeds = tag, env, sbc, seeds
        storage = seeds["storage"]["storage-blob"]
        self.target = ["storage-blob", "--tg", storage["resourceGroup"], "--account", storage["account"]]
        self.cluster = sbc.new_cluster(f"ab-{tag}")
        self.count = 0
        run_az(env, ["aks", "connection", "create", *self.target, "--source-id", self.cluster["id"],
                     "--connection", "warm", "--secret", *QUIET])

    def _fresh(self, kind):
        """A cluster made for one run (not timed): OIDC issuer and Key Vault add-on off."""
        return self.sbc.new_cluster(f"ab-{self.tag}-{kind}{self.count}")["id"]

    def args(self, scenario):
        self.count += 1
        where = ["-g", self.cluster["resourceGroup"], "-n", self.cluster["name"]]
        create = ["aks", "connection", "create"]
        on = ["--source-id", self.cluster["id"]]
        commands = {
            "create --secret": lambda: [*create, *self.target, *on, "--connection", f"s{self.count}", "--secret"],
            "re-run": lambda: [*create, *self.target, *on, "--connection", "warm", "--secret"],
            "create --workload-identity": lambda: [
                *create, *self.target, "--source-id", self._fresh("wi"), "--connection", "wi",
                "--workload-identity", self.seeds["identities"]["sandbox-identity"]],
            "create keyvault --enable-csi": lambda: [
                *create, "keyvault", "--target-id", self.seeds["keyvaults"]["rbac"], "--source-id",
                self._fresh("csi"), "--connection", "kv", "--enable-csi"],
            "validate": lambda: ["aks", "connection", "validate", *where, "--connection", "warm"],
            "show": lambda: ["aks", "connection", "show", *where, "--connection", "warm"],
            "list": lambda: ["aks", "connection", "list", *where],
        }
        if scenario == "-h":
            return ["aks", "connection", "-h"]
        return [*commands[scenario](), *QUIET]


SCENARIOS = ("create --secret", "re-run", "create --workload-identity", "create keyvault --enable-csi", "validate",
             "show", "list", "-h")


def main(rev):
    with sandbox_session(prefix="aksconn-ab-") as (env, sbc, seeds):
        old_ext = tempfile.mkdtemp(prefix="aksconn-ab-ext-")
        install_revision(rev, old_ext)
        sides = {"this tree": Side("new", env, sbc, seeds),
                 rev: Side("old", dict(env, AZURE_EXTENSION_DIR=old_ext), sbc, seeds)}
        sbc.set_lro(default=1.0)
        sbc.add_fault(plane="arm", method="*", path=".*", latency=ARM_LATENCY)
        sbc.add_fault(plane="kube", method="*", path=".*", latency=KUBE_LATENCY)
        runs = {(s, tag): [] for s in SCENARIOS for tag in sides}
        for i in range(RUNS):
            print(f"bench-ab: round {i + 1} of {RUNS}", file=sys.stderr, flush=True)
            for k, scenario in enumerate(SCENARIOS):
                order = list(sides) if (i + k) % 2 == 0 else list(reversed(list(sides)))
                for tag in order:
                    side = sides[tag]
                    runs[(scenario, tag)].append(run_az(side.env, side.args(scenario)))
        sbc.clear_faults()
    new, old = list(sides)
    print(f"\n## this tree against {rev}: medians of {RUNS} interleaved runs (ARM +{ARM_LATENCY * 1000:.0f} ms, "
          f"Kubernetes +{KUBE_LATENCY * 1000:.0f} ms per call, LRO 1 s)\n")
    print(f"| scenario | wall: this tree / {rev} | ratio | CPU: this tree / {rev} | ratio |")
    print("|---|---|---|---|---|")
    med = statistics.median
    for s in SCENARIOS:
        a, b = runs[(s, new)], runs[(s, old)]
        ratio_wall = med(x.wall / y.wall for x, y in zip(a, b))
        ratio_cpu = med(x.cpu / y.cpu for x, y in zip(a, b))
        print(f"| {s} | {med(x.wall for x in a):.2f} / {med(y.wall for y in b):.2f} s | {ratio_wall:.3f} | "
              f"{med(x.cpu for x in a):.2f} / {med(y.cpu for y in b):.2f} s | {ratio_cpu:.3f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench/ab.py <git revision>")
    os.chdir(REPO)
    main(sys.argv[1])
