# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`make bench`: wall time against the lower bound for each scenario, with the goals of issue 16; see README.md.

BENCH_RUNS (default 5): runs per figure (medians; interleaved: each round runs every scenario once, in a rotated
order). BENCH_LROS (default "1,5"): the sandbox's long-running operation durations. BENCH_SIZES (default
"1,100,1000"): connections in the store for list/show/validate. BENCH_VERBOSE=1: every run's critical path.
"""
import http.client
import json
import os
import ssl
import statistics
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chain import lower_chain  # noqa: E402  pylint: disable=wrong-import-position
from common import REPO, run_az, sandbox_session  # noqa: E402  pylint: disable=wrong-import-position

RUNS = max(1, int(os.environ.get("BENCH_RUNS", "5")))
LROS = [float(x) for x in os.environ.get("BENCH_LROS", "1,5").split(",") if x.strip()]
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "1,100,1000").split(",") if x.strip()]
VERBOSE = os.environ.get("BENCH_VERBOSE") == "1"
ARM_LATENCY, KUBE_LATENCY = 0.05, 0.02          # seconds added to every ARM / Kubernetes call (a network)
READ_RUNS = min(RUNS, 3)                        # list/show/validate: no goal figure rides on their medians
HELP_PAIRS = max(RUNS, 2 * RUNS)
CREATES = ("secret", "wi", "csi", "sc")
STORE_NAMESPACE = "aks-connection"
med = statistics.median


class Bench:  # pylint: disable=too-many-instance-attributes
    def __init__(self, env, sbc, seeds):
        self.env, self.sbc, self.seeds = env, sbc, seeds
        self.storage = seeds["storage"]["storage-blob"]
        self.identity = seeds["identities"]["sandbox-identity"]
        self.vault = seeds["keyvaults"]["rbac"]
        self.counter = 0
        self.clusters = {}

    # ------------------------------------------------------------------ commands

    def _target(self):
        return ["storage-blob", "--tg", self.storage["resourceGroup"], "--account", self.storage["account"]]

    def _name(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def command(self, scenario, tag=""):  # pylint: disable=too-many-return-statements  # one per scenario
        """(az arguments, chain rules) of one run of ``scenario``; fresh clusters are made here (not timed)."""
        sbc = self.sbc
        if scenario == "group list":
            return ["group", "list", "-o", "none"], {}
        if scenario == "aks start-up":
            return ["aks", "connection", "list-support-types", "-o", "none"], {}
        if scenario == "secret":
            return ["aks", "connection", "create", *self._target(), "--source-id", self.clusters["secret"]["id"],
                    "--connection", self._name("sec"), "--secret", "-o", "none", "--only-show-errors"], {}
        if scenario == "rerun":
            return ["aks", "connection", "create", *self._target(), "--source-id", self.clusters["secret"]["id"],
                    "--connection", "warm_blob", "--secret", "-o", "none", "--only-show-errors"], {}
        if scenario == "wi":
            cluster = sbc.new_cluster(f"bench-wi{tag}-{self._name('')}")
            return ["aks", "connection", "create", *self._target(), "--source-id", cluster["id"],
                    "--connection", "wi_blob", "--workload-identity", self.identity, "-o", "none",
                    "--only-show-errors"], {"after_cluster_update": [r"/federatedIdentityCredentials/"]}
        if scenario == "csi":
            cluster = sbc.new_cluster(f"bench-csi{tag}-{self._name('')}")
            return ["aks", "connection", "create", "keyvault", "--target-id", self.vault, "--source-id",
                    cluster["id"], "--connection", "kv_csi", "--enable-csi", "-o", "none", "--only-show-errors"], \
                {"after_cluster_update": [r"/federatedIdentityCredentials/", r"/roleAssignments/",
                                          r"/accessPolicies", r"/secrets"]}
        if scenario == "sc":
            return ["aks", "connection", "create", *self._target(), "--source-id", self.clusters["sc"]["id"],
                    "--connection", self._name("sc_"), "--secret", "--engine", "service-connector", "-o", "none",
                    "--only-show-errors"], {}
        raise ValueError(scenario)

    def measure(self, scenario, tag=""):
        args, rules = self.command(scenario, tag)
        run = run_az(self.env, args, self.sbc)
        run.bound = lower_chain(run.calls, run.operations, store_namespace=STORE_NAMESPACE, **rules)
        if VERBOSE:
            print(f"    {scenario}{tag}: {run.wall:.2f} s (CPU {run.cpu:.2f} s), chain {run.bound['chain']:.3f} s",
                  flush=True)
            for line in run.bound["path"]:
                print("       ", line)
        return run

    # ------------------------------------------------------------------ set-up (no latency yet)

    def prepare(self):
        sbc = self.sbc
        self.clusters["secret"] = sbc.new_cluster("bench-secret")
        self.clusters["sc"] = sbc.new_cluster("bench-sc")
        run_az(self.env, ["group", "list", "-o", "none"])
        run_az(self.env, ["aks", "connection", "create", *self._target(), "--source-id", self.clusters["secret"]["id"],
                          "--connection", "warm_blob", "--secret", "-o", "none", "--only-show-errors"])
        run_az(self.env, ["aks", "connection", "create", *self._target(), "--source-id", self.clusters["sc"]["id"],
                          "--connection", "warm_sc", "--secret", "--engine", "service-connector", "-o", "none",
                          "--only-show-errors"])
        for n in SIZES:
            cluster = sbc.new_cluster(f"bench-n{n}")
            self.clusters[f"n{n}"] = cluster
            run_az(self.env, ["aks", "connection", "create", *self._target(), "--source-id", cluster["id"],
                              "--connection", "target_blob", "--secret", "-o", "none", "--only-show-errors"])
            self._clone_records(cluster["name"], "target_blob", n - 1)

    def _kube(self):
        import yaml
        with open(self.env["KUBECONFIG"], encoding="utf-8") as f:
            config = yaml.safe_load(f)
        token = config["users"][0]["user"]["token"]
        url = urllib.parse.urlparse(self.sbc.state["kubeUrl"])
        ctx = ssl.create_default_context(cafile=self.sbc.state["ca"])
        return http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=30), \
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def _clone_records(self, cluster_name, template, count):
        """``count`` more connection records in the cluster's store, copies of ``template``'s with other names (as
        many creates would leave them; written straight to the API server: 1,000 creates through az would take
        an hour)."""
        if count <= 0:
            return
        from azext_aks_connection.provider import store
        from azext_aks_connection.model import dump_record
        conn, headers = self._kube()
        base = f"/clusters/{cluster_name}/api/v1/namespaces/{STORE_NAMESPACE}/configmaps"
        conn.request("GET", base + "/" + store.configmap_name(template), headers=headers)
        answer = conn.getresponse()
        item = json.loads(answer.read())
        record = json.loads(item["data"][store.DATA_KEY])
        for i in range(count):
            name = f"clone_{i:04d}"
            copy = json.loads(json.dumps(record).replace(template, name).replace(
                template.replace("_", ""), name.replace("_", "")))
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": store.configmap_name(name), "labels": dict(store.LABELS),
                                 "annotations": {store.NAME_ANNOTATION: name}},
                    "data": {store.DATA_KEY: dump_record(copy)}}
            conn.request("POST", base, body=json.dumps(body), headers=headers)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 201:
                raise SystemExit(f"seeding {cluster_name}: {answer.status}")
        conn.close()

    # ------------------------------------------------------------------ rounds

    def conditions(self, lro):
        """Both conditions of one LRO duration (Retry-After sent, not sent), each with its scenarios
        (scenarios_of()) RUNS times, interleaved: each round runs the two conditions one after the other (in
        alternating order; the sandbox is switched between them), each condition's scenarios in a rotated order.
        So a slow minute of this machine slows both conditions alike, and their with / without Retry-After
        comparison compares runs made side by side. {retry_after: {scenario: [Run]}}."""
        sbc = self.sbc
        sbc.set_lro(default=lro)
        lists = {ra: ["group list", *scenarios_of(lro, ra)] for ra in (True, False)}
        runs = {ra: {s: [] for s in scenarios} for ra, scenarios in lists.items()}
        for i in range(RUNS):
            for ra in ((True, False) if i % 2 == 0 else (False, True)):
                sbc.set_retry_after(ra)
                sbc.set_servicelinker_retry_after(1 if ra else 0)
                scenarios, tag = lists[ra], f"-{int(lro)}{'r' if ra else 'n'}"
                for s in scenarios[i % len(scenarios):] + scenarios[:i % len(scenarios)]:
                    runs[ra][s].append(self.measure(s, tag))
        return runs

    def reads(self):
        """list / show / validate at each store size (and the bytes of one create there)."""
        out = {}
        for n in SIZES:
            cluster = self.clusters[f"n{n}"]
            where = ["-g", cluster["resourceGroup"], "-n", cluster["name"]]
            cmds = {"list": ["aks", "connection", "list", *where, "-o", "none"],
                    "show": ["aks", "connection", "show", *where, "--connection", "target_blob", "-o", "none"],
                    "validate": ["aks", "connection", "validate", *where, "--connection", "target_blob", "-o",
                                 "none"]}
            cmds["group list"] = ["group", "list", "-o", "none"]      # az start-up, in the same rounds
            runs = {k: [] for k in cmds}
            for _ in range(READ_RUNS):
                for k, args in cmds.items():
                    run = run_az(self.env, args, self.sbc)
                    run.bound = lower_chain(run.calls, run.operations, store_namespace=STORE_NAMESPACE,
                                            record_driven=k in ("show", "validate"))
                    runs[k].append(run)
            create = run_az(self.env, ["aks", "connection", "create", *self._target(), "--source-id",
                                       cluster["id"], "--connection", f"probe_{n}", "--secret", "-o", "none",
                                       "--only-show-errors"], self.sbc)
            create.bound = lower_chain(create.calls, create.operations, store_namespace=STORE_NAMESPACE)
            runs["create"] = [create]
            out[n] = runs
        return out


def scenarios_of(lro, retry_after):
    """What each condition runs. The first (LRO 1 s, Retry-After sent) runs everything; without Retry-After only
    what waits for long-running operations (the --secret create has none: Retry-After cannot change it); at LRO 5 s
    the Service Connector engine is left out (two operations of 5 s a run: the bench's time)."""
    first = lro == LROS[0]
    if first and retry_after:
        return ["aks start-up", "secret", "wi", "csi", "sc", "rerun"]
    if first:
        return ["wi", "csi", "sc"]
    return ["secret", "wi", "csi"] if retry_after else ["wi", "csi"]


MINIMAL_LOADER = """from azure.cli.core import AzCommandsLoader
from knack.help_files import helps

helps["aks connection zz-bench"] = "type: command\\nshort-summary: A bench stand-in.\\n"


class Loader(AzCommandsLoader):
    def __init__(self, cli_ctx=None):
        from azure.cli.core.commands import CliCommandType
        super().__init__(cli_ctx=cli_ctx, custom_command_type=CliCommandType(operations_tmpl=__name__ + "#{}"))

    def load_command_table(self, args):
        with self.command_group("aks connection") as g:
            g.custom_command("zz-bench", "zz_bench")
        return self.command_table


def zz_bench():
    return None


COMMAND_LOADER_CLS = Loader
"""


def _minimal_extension(ext_dir, into):
    """An extension of the same name and metadata whose loader adds one command under `az aks connection`: what az
    charges for loading any extension there (finding it, reading its metadata, importing a loader), without ours."""
    import compileall
    import shutil
    name = "aks-connection"
    for entry in os.listdir(os.path.join(ext_dir, name)):
        if entry.endswith(".dist-info"):
            shutil.copytree(os.path.join(ext_dir, name, entry), os.path.join(into, name, entry))
    package = os.path.join(into, name, "azext_aks_connection")
    os.makedirs(package)
    with open(os.path.join(package, "__init__.py"), "w", encoding="utf-8") as f:
        f.write(MINIMAL_LOADER)
    compileall.compile_dir(package, quiet=1)
    return into


def help_pairs(ext_dir):
    """`az aks connection -h` with the extension, with a minimal extension (_minimal_extension) and with the
    built-in alone (no extension), same az, alternated in rotated order; each with a config dir of its own (az
    caches its command index there). ratio: extension / built-in (the goal); own: extension / minimal (what the
    extension's own loading adds); az: minimal / built-in (what az charges any extension)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = {k: v for k, v in os.environ.items() if k not in ("AZURE_CONFIG_DIR", "AZURE_EXTENSION_DIR")}
        os.makedirs(os.path.join(tmp, "none"))
        envs = {"ext": dict(base, AZURE_CONFIG_DIR=os.path.join(tmp, "c1"), AZURE_EXTENSION_DIR=ext_dir),
                "minimal": dict(base, AZURE_CONFIG_DIR=os.path.join(tmp, "c3"),
                                AZURE_EXTENSION_DIR=_minimal_extension(ext_dir, os.path.join(tmp, "minimal"))),
                "builtin": dict(base, AZURE_CONFIG_DIR=os.path.join(tmp, "c2"),
                                AZURE_EXTENSION_DIR=os.path.join(tmp, "none"))}
        for env in envs.values():
            for _ in range(2):
                run_az(env, ["aks", "connection", "-h"])
        times = {k: [] for k in envs}
        order = list(envs)
        for i in range(HELP_PAIRS):
            for which in order[i % 3:] + order[:i % 3]:
                times[which].append(run_az(envs[which], ["aks", "connection", "-h"]).wall)

        def ratio(a, b):
            return med([x / y for x, y in zip(times[a], times[b])])
        return {"ext": med(times["ext"]), "builtin": med(times["builtin"]), "minimal": med(times["minimal"]),
                "ratio": ratio("ext", "builtin"), "own": ratio("ext", "minimal"), "az": ratio("minimal", "builtin")}


# ---------------------------------------------------------------------- figures

AZ_OWN = ("/msi/", "/oauth2/", "/metadata/")


def planes(run):
    """calls, bytes and TCP connections per plane (az's own token/metadata calls apart)."""
    out = {"arm": [0, 0, set()], "az": [0, 0, set()], "kube": [0, 0, set()]}
    for e in run.calls:
        plane = "az" if any(m in e["path"] for m in AZ_OWN) else e["plane"]
        counts = out.setdefault(plane, [0, 0, set()])
        counts[0] += 1
        counts[1] += e.get("bytesIn", 0) + e.get("bytesOut", 0)
        counts[2].add(e.get("conn"))
    return {k: (c, b, len(conns)) for k, (c, b, conns) in out.items()}


def summarize(runs, startup):
    walls = [r.wall for r in runs]
    chains = [r.bound["chain"] for r in runs]
    lros = [r.bound["lro"] for r in runs]
    bound = startup + med(chains)
    last = runs[-1]
    return {"wall": med(walls), "chain": med(chains), "lro": med(lros), "bound": bound,
            "ratio": med(walls) / bound, "excess": med(walls) - bound, "rss": med(r.rss for r in runs),
            "cpu": med(r.cpu for r in runs),
            "planes": planes(last), "repeats": last.bound["repeats"], "path": runs[0].bound["path"],
            "n": len(runs)}


def startup_of(runs):
    """az's start-up: the wall time of `az group list` less the chain of its own calls (token, one GET)."""
    return med(r.wall - r.bound["chain"] for r in runs)


def row(title, s):
    p = s["planes"]

    def kb(plane):
        return p.get(plane, (0, 0, 0))[1] / 1024.0
    return (f"  {title:38s} {s['wall']:6.2f} {s['bound']:6.2f} {s['chain']:6.2f} {s['lro']:5.2f} {s['ratio']:5.2f} "
            f"{s['excess']:6.2f}  {p.get('arm', (0,))[0]:3d}+{p.get('az', (0,))[0]:<2d} {p.get('kube', (0,))[0]:4d} "
            f"{s['repeats']:3d}  {p.get('arm', (0, 0, 0))[2]:2d}/{p.get('kube', (0, 0, 0))[2]:<2d} "
            f"{kb('arm'):7.1f} {kb('kube'):8.1f} {s['rss']:6.0f} {s['cpu']:5.2f}")


HEADER = (f"  {'scenario':38s} {'wall':>6s} {'bound':>6s} {'chain':>6s} {'(LRO)':>5s} {'ratio':>5s} {'excess':>6s}  "
          f"{'ARM+az':6s} {'kube':>4s} {'rep':>3s}  {'conns':5s} {'ARM KB':>7s} {'kube KB':>8s} {'RSS MB':>6s} "
          f"{'CPU s':>5s}")
TITLES = {"aks start-up": "az aks connection list-support-types", "secret": "create --secret (prepared cluster)",
          "wi": "create --workload-identity (OIDC off)", "csi": "create keyvault --enable-csi",
          "sc": "create --engine service-connector",
          "rerun": "re-run, nothing to change", "group list": "az group list"}


def goal(text, figure, met):
    return f"  [{'met' if met else 'NOT met':7s}] {text:70s} {figure}"


# pylint: disable-next=too-many-locals,too-many-branches,too-many-statements  # one printed report, section by section
def report(results, startups, reads, helps, elapsed):
    print(f"\nbench: {RUNS} run(s) per figure (medians, interleaved), injected latency ARM {ARM_LATENCY * 1000:.0f} ms "
          f"and Kubernetes {KUBE_LATENCY * 1000:.0f} ms per call; {os.cpu_count()} CPUs; took {elapsed:.0f} s")
    print("  bound = az start-up (az group list less its calls, same condition) + chain (longest dependent chain of "
          "the request log, LRO included); seconds")
    summaries = {}
    for (lro, ra), runs in results.items():
        startup = startups[(lro, ra)]
        print(f"\n## LRO {lro:g} s, Retry-After {'sent' if ra else 'NOT sent'}; az start-up {startup:.2f} s")
        print(HEADER)
        for scenario, rs in runs.items():
            s = summarize(rs, startup)
            summaries[(lro, ra, scenario)] = s
            print(row(TITLES[scenario], s))
    print("\n## list / show / validate by connections in the store (LRO 1 s, Retry-After sent)")
    print(HEADER)
    for n, runs in reads.items():
        startup = startup_of(runs["group list"])
        for k, rs in runs.items():
            if k == "group list":
                continue
            s = summarize(rs, startup)
            summaries[(n, k)] = s
            print(row(f"{k} at {n} connection(s)", s))
        print(f"  {'(az start-up in these rounds)':38s} {startup:6.2f}")
    print(f"\n## help: az aks connection -h, extension {helps['ext']:.2f} s vs built-in {helps['builtin']:.2f} s "
          f"(median of {HELP_PAIRS} rounds): ratio {helps['ratio']:.3f}; a minimal extension {helps['minimal']:.2f} "
          f"s: extension / minimal {helps['own']:.3f} (the extension's own loading), minimal / built-in "
          f"{helps['az']:.3f} (what az charges any extension)")

    print("\n## goals (issue 16, item 2)")
    lines = []
    for lro, limit in ((1.0, 1.3), (5.0, 1.1)):
        for sc in ("secret", "wi", "csi"):
            s = summaries.get((lro, True, sc))
            if s:
                lines.append(goal(f"{TITLES[sc]}, LRO {lro:g} s: wall <= {limit} x bound",
                                  f"{s['ratio']:.2f} x ({s['wall']:.2f} / {s['bound']:.2f} s)", s["ratio"] <= limit))
                lines.append(goal(f"{TITLES[sc]}, LRO {lro:g} s: time above the bound <= 0.5 s",
                                  f"{s['excess']:.2f} s", s["excess"] <= 0.5))
    rerun, gl = summaries.get((LROS[0], True, "rerun")), summaries.get((LROS[0], True, "group list"))
    if rerun and gl:
        lines.append(goal("re-run, nothing to change: wall <= 1.2 x az group list",
                          f"{rerun['wall'] / gl['wall']:.2f} x ({rerun['wall']:.2f} / {gl['wall']:.2f} s)",
                          rerun["wall"] / gl["wall"] <= 1.2))
    lines.append(goal("az aks connection -h <= 1.03 x the built-in", f"{helps['ratio']:.3f} x",
                      helps["ratio"] <= 1.03))
    lines.append(goal("az aks connection -h: the extension's own loading <= 3 % (extension / minimal extension)",
                      f"{helps['own']:.3f} x", helps["own"] <= 1.03))
    for lro in LROS:
        for sc in CREATES:
            on, off = summaries.get((lro, True, sc)), summaries.get((lro, False, sc))
            if on and off:
                r = max(on["wall"], off["wall"]) / min(on["wall"], off["wall"])
                lines.append(goal(f"{TITLES[sc]}, LRO {lro:g} s: with / without Retry-After within 1.2 x",
                                  f"{r:.2f} x ({off['wall']:.2f} s without, {on['wall']:.2f} s with)", r <= 1.2))
    if gl:
        for sc in CREATES:
            s = summaries.get((LROS[0], True, sc))
            if s:
                lines.append(goal(f"{TITLES[sc]}: peak RSS <= 1.3 x az group list",
                                  f"{s['rss'] / gl['rss']:.2f} x ({s['rss']:.0f} / {gl['rss']:.0f} MB)",
                                  s["rss"] / gl["rss"] <= 1.3))
    creates = {n: summaries.get((n, "create")) for n in SIZES}
    if len(SIZES) > 1 and all(creates.values()):
        total = {n: sum(b for _, b, _ in s["planes"].values()) for n, s in creates.items()}
        lo, hi = total[SIZES[0]], total[SIZES[-1]]
        lines.append(goal(f"bytes per create independent of the connections ({SIZES[0]} -> {SIZES[-1]}; within 10 %)",
                          " / ".join(f"{total[n] / 1024:.0f} KB" for n in SIZES), hi <= 1.1 * lo))
    aks = summaries.get((LROS[0], True, "aks start-up"))
    if aks and gl:
        lines.append(f"  note: az aks connection list-support-types (no calls: an az aks command's start-up, az's "
                     f"built-in aks module loaded) {aks['wall']:.2f} s vs az group list {gl['wall']:.2f} s "
                     f"({aks['wall'] - gl['wall']:+.2f} s); the bound counts az group list's.")
    print("\n".join(lines))

    print(f"\n## critical paths (first run, LRO {LROS[0]:g} s, Retry-After sent)")
    for sc in ("group list", *CREATES, "rerun"):
        s = summaries.get((LROS[0], True, sc))
        if s:
            print(f"  {TITLES[sc]}: chain {s['chain']:.3f} s")
            for line in s["path"]:
                print("     ", line)
    rows = {" / ".join(str(k) for k in key): {x: round(v, 3) for x, v in s.items() if isinstance(v, float)}
            for key, s in summaries.items()}
    print("\n" + json.dumps({"runs": RUNS, "seconds": round(elapsed), "rows": rows,
                             "help": {k: round(v, 3) for k, v in helps.items()}}))


def main():
    started = time.monotonic()
    with sandbox_session() as (env, sbc, seeds):
        bench = Bench(env, sbc, seeds)
        bench.prepare()
        sbc.add_fault(plane="arm", method="*", path=".*", latency=ARM_LATENCY)
        sbc.add_fault(plane="kube", method="*", path=".*", latency=KUBE_LATENCY)
        results, startups = {}, {}
        for lro in LROS:
            print(f"bench: LRO {lro:g} s, Retry-After on and off ({time.monotonic() - started:.0f} s)",
                  file=sys.stderr, flush=True)
            for ra, runs in bench.conditions(lro).items():
                startups[(lro, ra)] = startup_of(runs["group list"])
                results[(lro, ra)] = runs
        sbc.set_lro(default=LROS[0])
        sbc.set_retry_after(True)
        print(f"bench: list/show/validate ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        reads = bench.reads()
        sbc.clear_faults()
        print(f"bench: help ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        helps = help_pairs(env["AZURE_EXTENSION_DIR"])
    report(results, startups, reads, helps, time.monotonic() - started)


if __name__ == "__main__":
    os.chdir(REPO)
    main()
