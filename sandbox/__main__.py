# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""python -m sandbox up | down | env | seeds | status | serve

  up      start the sandbox in the background, seed it, log a private az config in to it, print
          ready-to-copy commands
  down    stop it (by PID)
  env     print the exports for a shell whose az (and kubectl) talk to the sandbox:
              eval "$(python -m sandbox env)"
  seeds   print the seeded resources as JSON
  status  say whether it runs
  serve   run it in the foreground (what `up` starts)

The state directory is $AKS_CONNECTION_SANDBOX_DIR, or .sandbox/ at the top of the repository.
AKS_CONNECTION_SANDBOX_RETRY_AFTER=0: long-running operations send no Retry-After (as some real ones; the
same as PUT /_sandbox/lro {"retryAfter": false}).
"""
import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_dir():
    return os.environ.get("AKS_CONNECTION_SANDBOX_DIR") or os.path.join(REPO, ".sandbox")


def load_state(state_dir):
    path = os.path.join(state_dir, "state.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    return state if _alive(state.get("pid")) else None


def _alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:   # a zombie (exited child not yet reaped) is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def env_vars(state):
    d = state["stateDir"]
    return {
        "AZURE_CONFIG_DIR": os.path.join(d, "azconfig"),
        "AZURE_CORE_COLLECT_TELEMETRY": "false",
        "AZURE_CORE_NO_COLOR": "true",
        "REQUESTS_CA_BUNDLE": os.path.join(d, "bundle.pem"),
        "IDENTITY_ENDPOINT": state["armUrl"] + "/msi/token",
        "IDENTITY_HEADER": "sandbox",
        # App Service's first managed identity API, which azure-cli up to 2.6x (msrestazure) uses: `make test-mincli`
        "APPSETTING_WEBSITE_SITE_NAME": "sandbox",
        "MSI_ENDPOINT": state["armUrl"] + "/msi/token",
        "MSI_SECRET": "sandbox",
        "KUBECONFIG": os.path.join(d, "kubeconfig"),
    }


def write_bundle(state):
    """CA bundle = the public roots (so pip and friends keep working) + the sandbox CA."""
    import certifi
    with open(certifi.where(), encoding="ascii") as f:
        roots = f.read()
    with open(state["ca"], encoding="ascii") as f:
        ca = f.read()
    with open(os.path.join(state["stateDir"], "bundle.pem"), "w", encoding="ascii") as f:
        f.write(roots.rstrip("\n") + "\n" + ca)


def az_login(state, az=None):
    """Register the sandbox as a cloud in a private AZURE_CONFIG_DIR and `az login --identity` there."""
    env = dict(os.environ, **env_vars(state))
    az = az or os.path.join(os.path.dirname(sys.executable), "az")
    steps = [[az, "cloud", "register", "-n", "AksConnectionSandbox", "--endpoint-resource-manager",
              state["armUrl"] + "/"],
             [az, "cloud", "set", "-n", "AksConnectionSandbox"],
             [az, "login", "--identity", "-o", "none"],
             [az, "aks", "get-credentials", "-g", state["seeds"]["cluster"]["resourceGroup"],
              "-n", state["seeds"]["cluster"]["name"], "--file", env["KUBECONFIG"], "--overwrite-existing",
              "-o", "none"]]
    for cmd in steps:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0 and cmd[2] == "register" and "already registered" in proc.stderr:
            # Registered by an earlier `up` of this state directory, with that run's port: point it here.
            cmd = [az, "cloud", "update"] + cmd[3:]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"sandbox: '{' '.join(cmd[1:4])}' failed:\n{proc.stderr}")


def up(state_dir, with_azurite=True, login=True, quiet=False):
    state = load_state(state_dir)
    if state is None:
        os.makedirs(state_dir, exist_ok=True)
        if os.path.exists(os.path.join(state_dir, "state.json")):     # left by a sandbox that died
            os.remove(os.path.join(state_dir, "state.json"))
        log = open(os.path.join(state_dir, "sandbox.log"), "ab")  # pylint: disable=consider-using-with
        args = [sys.executable, "-m", "sandbox", "serve", "--state-dir", state_dir]
        if not with_azurite:
            args.append("--no-azurite")
        proc = subprocess.Popen(args, cwd=REPO, stdout=log, stderr=log,  # pylint: disable=consider-using-with
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while state is None:
            if proc.poll() is not None:
                raise SystemExit(f"sandbox: the server exited ({proc.returncode}); see {state_dir}/sandbox.log")
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"sandbox: not ready after 60 s; see {state_dir}/sandbox.log")
            time.sleep(0.05)   # waiting for a child to write its state file: nothing to read a delay from
            state = load_state(state_dir)
        write_bundle(state)
        if login:
            az_login(state)
    if not quiet:
        print_welcome(state)
    return state


def print_welcome(state):
    s = state["seeds"]
    c = s["cluster"]
    acct = s["storage"]["storage-blob"]
    print(f"Sandbox is up (pid {state['pid']}): ARM {state['armUrl']}, Kubernetes {state['kubeUrl']}")
    print("Seeded: subscription " + s["subscription"] + f", cluster {c['resourceGroup']}/{c['name']}, "
          f"storage account {acct['resourceGroup']}/{acct['account']} with container '{acct['container']}'.")
    print("\nTry it:")
    print('  eval "$(python -m sandbox env)"')
    print(f"  az aks connection create storage-blob -g {c['resourceGroup']} -n {c['name']} "
          f"--tg {acct['resourceGroup']} --account {acct['account']} --connection orders_blob "
          f"--kube-namespace orders --secret")
    print("  kubectl get secret sc-ordersblob-secret -n orders -o jsonpath='{.data}'")
    print(f"  az aks connection list-configuration -g {c['resourceGroup']} -n {c['name']} --connection orders_blob")
    print("  python -m sandbox down")


def down(state_dir):
    state = load_state(state_dir)
    if state is None:
        print("sandbox: not running")
        return
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)   # waiting for a process to exit
    if _alive(state["pid"]):
        os.kill(state["pid"], signal.SIGKILL)
    azurite_pid = (state.get("azurite") or {}).get("pid")
    if _alive(azurite_pid):
        os.kill(azurite_pid, signal.SIGKILL)
    os.remove(os.path.join(state_dir, "state.json"))
    print(f"sandbox: stopped (pid {state['pid']})")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "env", "seeds", "status", "serve"])
    parser.add_argument("--state-dir", default=default_dir())
    parser.add_argument("--no-azurite", action="store_true", help="do not start Azurite (no blob data plane)")
    parser.add_argument("--no-login", action="store_true", help="up: skip the az login of the private config")
    args = parser.parse_args(argv)
    state_dir = os.path.abspath(args.state_dir)
    if args.command == "serve":
        sys.path.insert(0, REPO)
        from sandbox.server import run
        run(state_dir, with_azurite=not args.no_azurite)
    elif args.command == "up":
        up(state_dir, with_azurite=not args.no_azurite, login=not args.no_login)
    elif args.command == "down":
        down(state_dir)
    else:
        state = load_state(state_dir)
        if state is None:
            print("sandbox: not running; start it with 'python -m sandbox up'", file=sys.stderr)
            return 1
        if args.command == "env":
            for k, v in env_vars(state).items():
                print(f"export {k}={shlex.quote(v)}")
        elif args.command == "seeds":
            print(json.dumps(state["seeds"], indent=2))
        else:
            print(f"sandbox: running (pid {state['pid']}), ARM {state['armUrl']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
