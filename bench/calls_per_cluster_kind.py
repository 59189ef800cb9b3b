"""The calls of one `create storage-blob --secret` and one `--workload-identity` create on each seeded cluster kind
(local-accounts, entra-id, private, authorized-ip-ranges), read from the sandbox's request log: `make calls`."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_create import BIN, REPO, call_lines  # noqa: E402  pylint: disable=wrong-import-position


def main():
    tmp = tempfile.mkdtemp(prefix="aksconn-calls-")
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
        sbc = SandboxClient(state)
        seeds = state["seeds"]
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
    finally:
        subprocess.run([sys.executable, "-m", "sandbox", "down"], cwd=REPO, env=env, check=False,
                       stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
