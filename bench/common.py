"""Timings of `az aks connection create storage-blob --secret` against the sandbox; see README.md."""
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
BIN = os.path.dirname(sys.executable)
ARM_LATENCY, KUBE_LATENCY, RUNS = 0.05, 0.02, 5


AZ_OWN = ("/metadata/", "/msi/", "/oauth2/", "/subscriptions?", "/tenants")


def call_lines(calls):
    """The request log as '<plane> <method> <path>' with ids of operations and the subscription elided; az's
    own calls (cloud metadata, token, subscription) marked."""
    import re
    out = []
    for e in calls:
        path = e["path"].split("?")[0] + ("?" if "?" in e["path"] else "")
        path = re.sub(r"^/subscriptions/[^/]+", "", path)
        path = re.sub(r"/operations/[^/?]+", "/operations/<op>", path).rstrip("?")
        own = any(m in e["path"] for m in AZ_OWN) or path in ("", "/subscriptions")
        out.append(f"{e.get('plane', '?'):4s} {e['method']:6s} {path}{'   (az itself)' if own else ''}")
    return out


@contextlib.contextmanager
def sandbox_session(prefix="aksconn-bench-"):
    """A sandbox of its own and the extension linked in a throw-away extension dir; yields (env, sbc, seeds) with
    az logged in to the sandbox; stops the sandbox by PID at the end."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    ext = os.path.join(tmp, "ext", "aks-connection")
    os.makedirs(os.path.join(ext, "aks_connection-1.0.0b1.dist-info"))
    os.symlink(os.path.join(REPO, "azext_aks_connection"), os.path.join(ext, "azext_aks_connection"))
    with open(os.path.join(ext, "aks_connection-1.0.0b1.dist-info", "METADATA"), "w", encoding="utf-8") as f:
        f.write("Metadata-Version: 2.1\nName: aks-connection\nVersion: 1.0.0b1\n")
    env = dict(os.environ, AKS_CONNECTION_SANDBOX_DIR=os.path.join(tmp, "sandbox"),
               AZURE_EXTENSION_DIR=os.path.join(tmp, "ext"))
    subprocess.run([sys.executable, "-m", "sandbox", "up", "--no-login"], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    from sandbox.__main__ import load_state, env_vars, az_login
    from sandbox.client import SandboxClient
    state = load_state(env["AKS_CONNECTION_SANDBOX_DIR"])
    try:
        env.update(env_vars(state))
        os.environ.update(env)
        az_login(state)
        yield env, SandboxClient(state), state["seeds"]
    finally:
        subprocess.run([sys.executable, "-m", "sandbox", "down"], cwd=REPO, env=env, check=False,
                       stdout=subprocess.DEVNULL)


def main():  # pylint: disable=too-many-locals,too-many-statements
    with sandbox_session() as (env, sbc, seeds):
        c, s = seeds["cluster"], seeds["storage"]["storage-blob"]

        identity = seeds["identities"]["sandbox-identity"]

        def create(name, cluster_args=("-g", c["resourceGroup"], "-n", c["name"]), sequential=False,
                   auth=("--secret",)):
            e = dict(env, AKS_CONNECTION_SEQUENTIAL="1" if sequential else "0")
            t0 = time.perf_counter()
            p = subprocess.run([os.path.join(BIN, "az"), "aks", "connection", "create", "storage-blob",
                                *cluster_args, "--tg", s["resourceGroup"], "--account", s["account"],
                                "--connection", name, *auth, "-o", "none", "--only-show-errors"],
                               env=e, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - t0
            if p.returncode:
                raise SystemExit(p.stderr)
            return elapsed

        def helptime(*args):
            t0 = time.perf_counter()
            subprocess.run([os.path.join(BIN, "az"), *args, "-h"], env=env, capture_output=True, check=True)
            return time.perf_counter() - t0

        create("warmup")   # makes the store namespace on the seeded cluster
        sbc.add_fault(plane="arm", method="*", path=".*", latency=ARM_LATENCY)
        sbc.add_fault(plane="kube", method="*", path=".*", latency=KUBE_LATENCY)
        par = [create(f"par_{i}") for i in range(RUNS)]
        seq = [create(f"seq_{i}", sequential=True) for i in range(RUNS)]
        again = [create("par_0") for _ in range(RUNS)]
        mark = sbc.mark()
        create("par_0")
        rerun_calls = sbc.requests(since=mark)
        first = []
        for i in range(3):
            cl = sbc.new_cluster(f"bench-{i}")
            first.append(create("first", ("--source-id", cl["id"])))
        wi = ("--workload-identity", identity)
        wi_first, wi_first_seq, wi_ids = [], [], []
        for i in range(3):
            wi_ids.append(sbc.new_cluster(f"bench-wi-{i}")["id"])
            mark = sbc.mark()
            wi_first.append(create("wi", ("--source-id", wi_ids[-1]), auth=wi))
            if i == 0:
                wi_first_calls = sbc.requests(since=mark)
            wi_first_seq.append(create("wi", ("--source-id", sbc.new_cluster(f"bench-wis-{i}")["id"]), auth=wi,
                                       sequential=True))
        wi_again = [create("wi", ("--source-id", wi_ids[0]), auth=wi) for _ in range(RUNS)]
        mark = sbc.mark()
        create("wi", ("--source-id", wi_ids[0]), auth=wi)
        wi_rerun_calls = sbc.requests(since=mark)
        sbc.clear_faults()
        h_ext = [helptime("aks", "connection") for _ in range(RUNS)]
        h_aks = [helptime("aks") for _ in range(RUNS)]
        med = statistics.median
        rows = {
            "create, concurrent steps (s)": med(par),
            "create, sequential steps (s)": med(seq),
            "create re-run, nothing to change (s)": med(again),
            "first create on a fresh cluster (makes the store namespace) (s)": med(first),
            "workload identity, first create on a fresh cluster, concurrent (s)": med(wi_first),
            "workload identity, first create on a fresh cluster, sequential (s)": med(wi_first_seq),
            "workload identity re-run, nothing to change (s)": med(wi_again),
            "az aks connection -h (s)": med(h_ext),
            "az aks -h (s)": med(h_aks),
        }
        print(f"median of {RUNS} runs; injected latency ARM {ARM_LATENCY*1000:.0f} ms, "
              f"Kubernetes {KUBE_LATENCY*1000:.0f} ms per call; sandbox LRO 1 s")
        for k, v in rows.items():
            print(f"  {k:60s} {v:7.2f}")
        print(f"  {'ratio sequential / concurrent':60s} {med(seq) / med(par):7.2f}")
        print(f"  {'ratio re-run / create':60s} {med(again) / med(par):7.2f}")
        print(f"  {'ratio az aks connection -h / az aks -h':60s} {med(h_ext) / med(h_aks):7.2f}")
        print(f"  {'ratio WI first create sequential / concurrent':60s} {med(wi_first_seq) / med(wi_first):7.2f}")
        print(f"  {'ratio WI re-run / WI first create':60s} {med(wi_again) / med(wi_first):7.2f}")
        print(f"  re-run made {len(rerun_calls)} calls, {sum(e['mutating'] for e in rerun_calls)} of them writes")
        print(f"  WI re-run made {len(wi_rerun_calls)} calls, {sum(e['mutating'] for e in wi_rerun_calls)} writes")
        for title, calls in (("WI first create", wi_first_calls), ("WI re-run", wi_rerun_calls)):
            print(f"{title}: {len(calls)} calls, {sum(e['mutating'] for e in calls)} writes")
            for line in call_lines(calls):
                print("   ", line)
        print(json.dumps({k: round(v, 3) for k, v in rows.items()}))


if __name__ == "__main__":
    main()
