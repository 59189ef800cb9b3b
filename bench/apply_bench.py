# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`make bench` (second part) / `make bench-apply`: the scale goals of issue 27 (connections as code), in one run:

* apply of 12 connections (6 --secret, 6 --workload-identity on one identity, in 10 namespaces) on
  a fresh cluster, against one `create --workload-identity` on a fresh cluster: goal ratio <= 2;
* the re-apply of those 12 (nothing to change), against one no-op create (a re-run): goal ratio <= 1.3;
* calls per connection and bytes for N = 1, 12, 50 connections (half --secret, half --workload-identity).

Same conditions as bench.py: a sandbox of its own, the wheel installed, ARM 50 ms and Kubernetes 20 ms of latency on
every call, LRO 1 s with Retry-After, every run a fresh `az` process, runs interleaved. BENCH_RUNS (default 3)."""
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, run_az, sandbox_session  # noqa: E402  pylint: disable=wrong-import-position

RUNS = max(1, int(os.environ.get("BENCH_RUNS", "3")))
SIZES = [int(x) for x in os.environ.get("BENCH_APPLY_SIZES", "1,12,50").split(",") if x.strip()]
ARM_LATENCY, KUBE_LATENCY = 0.05, 0.02
AZ_OWN = ("/metadata/", "/msi/", "/oauth2/", "/subscriptions?", "/tenants")
med = statistics.median


class ApplyBench:
    def __init__(self, env, sbc, seeds, tmp):
        self.env, self.sbc, self.seeds, self.tmp = env, sbc, seeds, tmp
        self.blob = seeds["targets"]["storage-blob"]
        self.storage = seeds["storage"]["storage-blob"]

    def _cluster(self, prefix):
        return self.sbc.new_cluster(f"{prefix}-{uuid.uuid4().hex[:6]}")

    def _identity(self):
        return self.sbc.new_identity("sandbox-rg", f"bench-wi-{uuid.uuid4().hex[:6]}")["id"]

    def file_of(self, cluster, n, identity):
        """N connections on ``cluster``: the first half --secret, the rest --workload-identity on ``identity``, spread
        over 10 namespaces (one federated credential per namespace: an identity holds at most 20)."""
        import yaml
        secrets = (n + 1) // 2
        entries = []
        for i in range(n):
            entry = {"cluster": cluster["id"], "name": f"c{i}", "target": "storage-blob", "targetId": self.blob,
                     "namespace": f"ns{i % 10}"}     # 10 namespaces: an identity holds at most 20 credentials
            entry.update({"auth": "secret"} if i < secrets else {"auth": "workload-identity", "identity": identity})
            entries.append(entry)
        path = os.path.join(self.tmp, f"{cluster['name']}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump({"connections": entries}, f)
        return path

    def apply(self, path):
        import json
        run = run_az(self.env, ["aks", "connection", "apply", "--file", path, "-o", "json", "--only-show-errors"],
                     self.sbc, check=False)
        if run.rc:
            failed = [r for r in json.loads(run.out or "[]") if r["result"] == "failed"]
            raise SystemExit(f"apply of {path} failed ({run.rc}): " + json.dumps(failed, indent=1)[:3000] +
                             run.err[-2000:])
        return run

    def create_wi(self):
        cluster = self._cluster("bench-wi1")
        return run_az(self.env, ["aks", "connection", "create", "storage-blob", "--source-id", cluster["id"],
                                 "--target-id", self.blob, "--connection", "one_wi", "--workload-identity",
                                 self._identity(), "-o", "none", "--only-show-errors"], self.sbc)

    def rounds(self):
        """Each round: one WI create (fresh cluster), apply of 12 (fresh cluster), the no-op re-apply, one no-op
        create; rotated order."""
        noop_cluster = self._cluster("bench-noop")
        noop = ["aks", "connection", "create", "storage-blob", "--source-id", noop_cluster["id"], "--target-id",
                self.blob, "--connection", "again", "--secret", "-o", "none", "--only-show-errors"]
        run_az(self.env, noop)
        runs = {"wi": [], "apply12": [], "reapply12": [], "noop": []}
        for i in range(RUNS):
            order = ["wi", "apply12", "noop"]
            for what in order[i % 3:] + order[:i % 3]:
                if what == "wi":
                    runs["wi"].append(self.create_wi())
                elif what == "noop":
                    runs["noop"].append(run_az(self.env, noop, self.sbc))
                else:
                    path = self.file_of(self._cluster("bench-ap12"), 12, self._identity())
                    runs["apply12"].append(self.apply(path))
                    runs["reapply12"].append(self.apply(path))
        return runs

    def sizes(self):
        """{N: (first apply, re-apply)} on a fresh cluster each."""
        out = {}
        for n in SIZES:
            path = self.file_of(self._cluster(f"bench-n{n}"), n, self._identity())
            out[n] = (self.apply(path), self.apply(path))
        return out


def planes(run):
    out = {}
    for e in run.calls:
        plane = "az" if any(m in e["path"] for m in AZ_OWN) else e["plane"]
        calls, size = out.get(plane, (0, 0))
        out[plane] = (calls + 1, size + e.get("bytesIn", 0) + e.get("bytesOut", 0))
    return out


def writes(run):
    return sum(1 for e in run.calls if e.get("mutating"))


def report(runs, sizes, elapsed):
    wall = {k: med(r.wall for r in v) for k, v in runs.items()}
    print(f"\nbench apply (issue 27): {RUNS} run(s) per figure (medians, interleaved), injected latency ARM "
          f"{ARM_LATENCY * 1000:.0f} ms, Kubernetes {KUBE_LATENCY * 1000:.0f} ms, LRO 1 s with Retry-After")
    titles = {"wi": "create --workload-identity (fresh cluster)", "apply12": "apply 12 (6 secret + 6 WI, fresh)",
              "reapply12": "re-apply 12 (nothing to change)", "noop": "create re-run (nothing to change)"}
    print(f"  {'scenario':44s} {'wall s':>7s} {'CPU s':>6s} {'calls':>6s} {'writes':>6s}")
    for key, title in titles.items():
        last = runs[key][-1]
        print(f"  {title:44s} {wall[key]:7.2f} {med(r.cpu for r in runs[key]):6.2f} {len(last.calls):6d} "
              f"{writes(last):6d}")
    ratio_apply, ratio_noop = wall["apply12"] / wall["wi"], wall["reapply12"] / wall["noop"]
    print(f"  [{'met' if ratio_apply <= 2 else 'NOT met':7s}] apply of 12 <= 2x one WI create on a fresh cluster"
          f"{'':8s} {ratio_apply:.2f}x")
    print(f"  [{'met' if ratio_noop <= 1.3 else 'NOT met':7s}] re-apply of 12 <= 1.3x one no-op create"
          f"{'':21s} {ratio_noop:.2f}x")
    reapply_writes = max(writes(r) for r in runs["reapply12"])
    print(f"  [{'met' if reapply_writes == 0 else 'NOT met':7s}] re-apply of 12 writes nothing{'':32s} "
          f"{reapply_writes} write(s)")
    print(f"\n  {'N':>4s} {'apply s':>8s} {'calls/conn':>10s} {'ARM+az':>7s} {'kube':>6s} {'KB/conn':>8s} "
          f"{'re-apply s':>10s} {'calls/conn':>10s} {'KB/conn':>8s}")
    for n, (first, again) in sizes.items():
        p, q = planes(first), planes(again)
        calls = sum(c for c, _ in p.values())
        size = sum(b for _, b in p.values())
        print(f"  {n:4d} {first.wall:8.2f} {calls / n:10.1f} {p.get('arm', (0, 0))[0] + p.get('az', (0, 0))[0]:7d} "
              f"{p.get('kube', (0, 0))[0]:6d} {size / 1024 / n:8.1f} {again.wall:10.2f} "
              f"{sum(c for c, _ in q.values()) / n:10.1f} {sum(b for _, b in q.values()) / 1024 / n:8.1f}")
    print(f"\nbench apply: {elapsed:.0f} s")


def main():
    started = time.monotonic()
    with sandbox_session("aksconn-bench-apply-") as (env, sbc, seeds), tempfile.TemporaryDirectory() as tmp:
        sbc.set_lro(default=1.0)
        sbc.set_retry_after(True)
        bench = ApplyBench(env, sbc, seeds, tmp)
        run_az(env, ["group", "list", "-o", "none"])
        sbc.add_fault(plane="arm", method="*", path=".*", latency=ARM_LATENCY)
        sbc.add_fault(plane="kube", method="*", path=".*", latency=KUBE_LATENCY)
        runs = bench.rounds()
        print(f"bench apply: N = {', '.join(map(str, SIZES))} ({time.monotonic() - started:.0f} s)", file=sys.stderr,
              flush=True)
        sizes = bench.sizes()
        sbc.clear_faults()
    report(runs, sizes, time.monotonic() - started)


if __name__ == "__main__":
    os.chdir(REPO)
    main()
