# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Every target of Microsoft's built-in ``az aks connection create <target>`` (azure-cli's serviceconnector module,
this extension NOT installed) against the sandbox's Service Connector RP, one auth type each (workload identity,
secret and service principal spread over the targets; secret only where that is all AKS offers): create, show,
list-configuration, delete. Each exits 0; the Secret the RP's sc-job writes holds exactly the keys
list-configuration names, every one with a value; credentials are blank in every output and the user's password
appears in no output or log.

To keep the time down, one Python process per group of targets runs the built-in's commands in-process (azure-cli's
own ``get_default_cli().invoke``, as ``az`` does), and the groups are spread over the xdist workers
(``xdist_group_of``). The built-in polls every 30 s without a Retry-After: the sandbox's is on (1 s) meanwhile.
"""
import json
import os
import subprocess
import tempfile
import uuid

import pytest

from tests.conftest import AZ
from tests.e2e.helpers import kube_for, new_cluster, secret_values
# pylint: disable-next=unused-import  # a pytest fixture: the test names it as an argument
from tests.e2e.test_builtin_cli import quick_service_connector  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e

PASSWORD = "Pw-" + uuid.uuid4().hex
SP = [f"client-id={uuid.uuid4()}", f"secret={PASSWORD}", f"object-id={uuid.uuid4()}"]
BOOTSTRAP = "pkc-sandbox.eastus.azure.confluent.cloud:9092"
REGISTRY = "https://psrc-sandbox.eastus.azure.confluent.cloud"

# group -> [(target, auth)]; auth: wi | secret | sp (one of those AKS offers for the target). Redis: secret, as
# the built-in refuses an identity unless the cache's Microsoft Entra authentication is on (the sandbox's RP test
# covers that path: tests/sandbox/test_servicelinker_sandbox.py).
GROUPS = {
    "storage-keyvault": [("storage-blob", "wi"), ("storage-queue", "secret"), ("storage-table", "sp"),
                         ("storage-file", "secret"), ("keyvault", "sp"), ("app-insights", "secret"),
                         ("appconfig", "secret")],
    "messaging-web": [("eventhub", "sp"), ("servicebus", "wi"), ("signalr", "secret"), ("webpubsub", "wi"),
                      ("cognitiveservices", "sp"), ("redis", "secret"), ("redis-enterprise", "secret")],
    "cosmos": [("cosmos-sql", "wi"), ("cosmos-mongo", "secret"), ("cosmos-table", "sp"),
               ("cosmos-cassandra", "secret"), ("cosmos-gremlin", "wi")],
    "databases-partners": [("postgres", "secret"), ("postgres-flexible", "secret"), ("mysql", "secret"),
                           ("mysql-flexible", "secret"), ("sql", "secret"), ("neon-postgres", "secret"),
                           ("mongodb-atlas", "secret"), ("confluent-cloud", "secret")],
}

# the built-in offers no python client for these (SUPPORTED_CLIENT_TYPE)
CLIENT = {"cosmos-mongo": "nodejs", "signalr": "dotnet"}
USER_SECRET = ("postgres", "postgres-flexible", "mysql", "mysql-flexible", "sql", "neon-postgres", "mongodb-atlas",
               "confluent-cloud")

# Runs in the az process: the built-in's commands one after another, each as `az` would run it.
DRIVER = r"""
import io, json, logging, sys
from azure.cli.core import get_default_cli
results = []
for args in json.load(open(sys.argv[1])):
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    out = io.StringIO()
    try:
        rc = get_default_cli().invoke(args, out_file=out)
    except SystemExit as exc:
        rc = exc.code
    finally:
        logging.getLogger().removeHandler(handler)
    results.append({"args": args, "rc": rc, "out": out.getvalue(), "log": log.getvalue()})
json.dump(results, open(sys.argv[2], "w"))
"""


def xdist_group_of(item):
    """make test: each group of targets has a cluster of its own, and so have the engine comparisons (one part):
    the parts may run on different workers."""
    params = getattr(item, "callspec", None)
    return params.params.get("group", "engine") if params else "rest"


def _create_args(sandbox, target, auth):
    seeds = sandbox["seeds"]
    if target == "confluent-cloud":
        return ["--bootstrap-server", BOOTSTRAP, "--kafka-key", "kafkakey", "--kafka-secret", PASSWORD,
                "--schema-registry", REGISTRY, "--schema-key", "schemakey", "--schema-secret", PASSWORD]
    if target == "neon-postgres":       # no --target-id: the built-in fills in its placeholder id
        user = seeds["userValues"]["neon-postgres"]
        return ["--server", user["host"], "--database", user["database"], "--secret", f"name={user['user']}",
                f"secret={PASSWORD}"]
    if target == "mongodb-atlas":
        parts = seeds["targets"]["mongodb-atlas"].split("/")
        return ["--tg", parts[4], "--server", parts[-1], "--secret",
                f"secret=mongodb+srv://app:{PASSWORD}@cluster0.abcde.mongodb.net/"]
    args = ["--target-id", seeds["targets"][target]]
    if target in ("postgres", "postgres-flexible", "mysql", "mysql-flexible", "sql"):
        return args + ["--secret", f"name={seeds['databaseLogins'][target]}", f"secret={PASSWORD}"]
    return args + {"wi": ["--workload-identity", seeds["identities"]["sandbox-identity"]], "secret": ["--secret"],
                   "sp": ["--service-principal"] + SP}[auth]


def _linkers(target, conn):
    return [conn, f"{conn}_schema"] if target == "confluent-cloud" else [conn]


def _run_builtin(commands, tmp_path):
    """Run the built-in's commands in one az process with no extension installed; their results in order."""
    ext_dir = tempfile.mkdtemp(prefix="aksconn-no-ext-")
    todo, done = tmp_path / "commands.json", tmp_path / "results.json"
    todo.write_text(json.dumps(commands))
    proc = subprocess.run([os.path.join(os.path.dirname(AZ), "python"), "-c", DRIVER, str(todo), str(done)],
                          capture_output=True, text=True, env=dict(os.environ, AZURE_EXTENSION_DIR=ext_dir),
                          timeout=900, check=False)
    assert proc.returncode == 0 and done.exists(), proc.stderr[-4000:]
    assert os.listdir(ext_dir) == []
    results = json.loads(done.read_text())
    assert PASSWORD not in proc.stdout + proc.stderr
    for r in results:
        assert "aks-connection" not in r["log"], r
        assert PASSWORD not in r["out"] + r["log"], r["args"][:4]
    return results


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_builtin_create_show_list_configuration_delete_for_every_target(
        az, sbc, sandbox, tmp_path, group, quick_service_connector):  # noqa: F811  pylint: disable=redefined-outer-name
    cluster = dict(new_cluster(sbc, "bi-" + group[:8]), resourceGroup="sandbox-rg")
    cid = cluster["id"]
    commands, plan = [], []
    for target, auth in GROUPS[group]:
        conn = f"bi_{target.replace('-', '_')}"
        commands.append(["aks", "connection", "create", target, "--source-id", cid, "--connection", conn,
                         "--client-type", CLIENT.get(target, "python"), "--kube-namespace", "builtin", "-o", "json",
                         *_create_args(sandbox, target, auth)])
        plan.append((target, "create", conn))
        for name in _linkers(target, conn):
            linker = f"{cid}/providers/Microsoft.ServiceLinker/linkers/{name}"
            commands += [["aks", "connection", "show", "--id", linker, "-o", "json"],
                         ["aks", "connection", "list-configuration", "--id", linker, "-o", "json"]]
            plan += [(target, "show", name), (target, "list-configuration", name)]
    for target, _ in GROUPS[group]:
        for name in _linkers(target, f"bi_{target.replace('-', '_')}"):
            commands.append(["aks", "connection", "delete", "--id",
                             f"{cid}/providers/Microsoft.ServiceLinker/linkers/{name}", "--yes"])
            plan.append((target, "delete", name))
    commands.append(["aks", "connection", "list", "--source-id", cid, "-o", "json"])
    results = _run_builtin(commands, tmp_path)
    failed = [(step, r["rc"], r["log"][-1500:]) for step, r in zip(plan + [("all", "list", "")], results)
              if r["rc"] != 0]
    assert failed == [], failed
    assert json.loads(results[-1]["out"]) == []          # every linker deleted

    core, _ = kube_for(az, cluster, tmp_path)
    shown = {}
    for (target, step, name), r in zip(plan, results):
        out = json.loads(r["out"]) if r["out"].strip() else None
        if step == "create":
            made = out if isinstance(out, list) else [out]      # confluent-cloud: both linkers
            assert [m["provisioningState"] for m in made] == ["Succeeded"] * len(made), (target, made)
        elif step == "show":
            assert out["name"] == name and out["provisioningState"] == "Succeeded", (target, out)
            shown[name] = out
        elif step == "list-configuration":
            names = [c["name"] for c in out["configurations"]]
            # Service Connector leaves the Secret when the connection is deleted: read after the deletes
            secret = secret_values(core, "builtin", shown[name]["kubernetesResourceName"]["secret"])
            assert names and sorted(names) == sorted(secret), (target, names, sorted(secret))
            assert all(secret.values()), (target, [k for k, v in secret.items() if not v])
            credentials = [c for c in out["configurations"] if PASSWORD in secret[c["name"]]]
            assert all(c["value"] == "" for c in credentials), (target, credentials)
            if dict(GROUPS[group])[target] == "sp" or target in USER_SECRET:
                # the secret the user gave reaches the Secret (and no output)
                assert credentials, (target, sorted(secret))


# --------------------------------------------------------------------------- the extension's Service Connector engine

# One target of every family, with the auth type the comparison uses (storage-blob with workload identity:
# tests/e2e/test_interop.py test_engine_service_connector_reaches_the_builtins_end_state).
FAMILIES = [("keyvault", "sp"), ("servicebus", "wi"), ("appconfig", "secret"), ("cognitiveservices", "sp"),
            ("webpubsub", "wi"), ("cosmos-cassandra", "secret"), ("redis", "secret"), ("app-insights", "secret"),
            ("postgres-flexible", "secret"), ("mongodb-atlas", "secret"), ("neon-postgres", "secret"),
            ("confluent-cloud", "secret")]
NEON_HOST = "ep-sandbox.eastus2.azure.neon.tech"
ATLAS = f"mongodb+srv://app:{PASSWORD}@cluster0.abcde.mongodb.net/"


def _family_args(sandbox, target, auth, engine):
    """The same connection's arguments for the built-in and for the extension (each spells its target its way:
    the built-in fills in its placeholder ids for the partners, the extension takes the seeded resource)."""
    seeds = sandbox["seeds"]
    if target == "confluent-cloud":
        return ["--bootstrap-server", BOOTSTRAP, "--kafka-key", "kafkakey", "--kafka-secret", PASSWORD,
                "--schema-registry", REGISTRY, "--schema-key", "schemakey", "--schema-secret", PASSWORD]
    if target == "neon-postgres":
        where = ["--target-id", seeds["targets"][target]] if engine == "extension" else []
        return where + ["--server", NEON_HOST, "--database", "orders", "--secret", "name=sandboxadmin",
                        f"secret={PASSWORD}"]
    if target == "mongodb-atlas":
        parts = seeds["targets"][target].split("/")
        where = ["--target-id", seeds["targets"][target]] if engine == "extension" else \
            ["--tg", parts[4], "--server", parts[-1]]
        return where + ["--secret", f"secret={ATLAS}"]
    return _create_args(sandbox, target, auth)


@pytest.fixture(scope="module")
def builtin_made(az, sbc, sandbox, tmp_path_factory):
    """The built-in's connection of every family on one cluster, made in one az process."""
    seconds = sbc.set_lro()["lroSeconds"]
    before = {k: seconds.get(k, seconds.get("default", 1.0)) for k in ("linkers", "validateLinker", "extensions")}
    sbc.set_lro(linkers=0.2, validateLinker=0.1, extensions=0.2)
    retry_after = sbc.set_servicelinker_retry_after(1)
    try:
        cluster = dict(new_cluster(sbc, "bi-fam"), resourceGroup="sandbox-rg")
        results = _run_builtin([["aks", "connection", "create", target, "--source-id", cluster["id"], "--connection",
                                 f"fam_{target.replace('-', '_')}", "--client-type", CLIENT.get(target, "python"),
                                 "--kube-namespace", "fam", "-o", "json",
                                 *_family_args(sandbox, target, auth, "builtin")] for target, auth in FAMILIES],
                               tmp_path_factory.mktemp("builtin-families"))
        assert [(r["args"][3], r["rc"]) for r in results] == [(t, 0) for t, _ in FAMILIES], \
            [r["log"][-800:] for r in results if r["rc"]]
        yield cluster
    finally:
        sbc.set_servicelinker_retry_after(retry_after)
        sbc.set_lro(**before)


@pytest.fixture(scope="module")
def engine_cluster(sbc):
    return dict(new_cluster(sbc, "sc-fam"), resourceGroup="sandbox-rg")


def _view(az, core, cluster, name):
    """What a user sees of a Service Connector connection: the linker (as show prints it, the cluster-specific
    ids dropped) and the Secret sc-job wrote."""
    shown = az("aks", "connection", "show", "--id", f"{cluster['id']}/providers/Microsoft.ServiceLinker/linkers/"
               f"{name}", "-o", "json")
    assert shown.rc == 0, shown
    out = shown.json
    target = dict(out["targetService"])
    if (target.get("id") or "").startswith("/subscriptions/aaaabbbb-"):
        target.pop("id")          # the built-in's placeholder id of a partner: the extension names the real one
    return {"linker": {"authInfo": out["authInfo"], "clientType": out["clientType"], "scope": out["scope"],
                       "targetType": target.get("type"), "kubernetesResourceName": out["kubernetesResourceName"],
                       "engine": out["engine"]},
            "secret": secret_values(core, "fam", out["kubernetesResourceName"]["secret"])}


@pytest.mark.parametrize("target, auth", FAMILIES, ids=[t for t, _ in FAMILIES])
def test_engine_service_connector_reaches_the_builtins_end_state_for_every_family(
        az, sandbox, tmp_path, builtin_made, engine_cluster, target, auth):  # pylint: disable=redefined-outer-name
    """The same connection made by the built-in on one cluster and by --engine service-connector on another: the same
    linker (auth, client type, scope, target type), the same Secret (keys and values)."""
    conn = f"fam_{target.replace('-', '_')}"
    made = az("aks", "connection", "create", target, "--source-id", engine_cluster["id"], "--connection", conn,
              "--client-type", CLIENT.get(target, "python"), "--kube-namespace", "fam", "--engine",
              "service-connector", "-o", "json", *_family_args(sandbox, target, auth, "extension"))
    assert made.rc == 0, made
    assert PASSWORD not in made.out + made.log
    names = _linkers(target, conn)
    for name in names:
        theirs = _view(az, kube_for(az, builtin_made, tmp_path)[0], builtin_made, name)
        ours = _view(az, kube_for(az, engine_cluster, tmp_path)[0], engine_cluster, name)
        assert ours == theirs, name
