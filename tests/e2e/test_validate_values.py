# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`az aks connection validate`, the values check on every kind of Secret: one whose values are partly the
user's (a database login: its password is never recorded, so only its presence is checked), one with
renamed keys (--customized-keys), a workload-identity one, and Confluent Cloud (an endpoint, not an ARM
resource). Right after create each passes; an edit of a value the target gives fails naming the key; the
recommendations are commands that work once the user's placeholders are filled in."""
import shlex
import uuid

import pytest

# pylint: disable-next=unused-import  # pytest fixtures: a test names them as arguments
from tests.e2e.helpers import by_name, kube_for, new_cluster, quick_extensions, run, writes  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("quick_extensions")]

TARGET = "Target resource"
SECRET = "Kubernetes Secret"
VALUES = "Configuration values"
FIREWALL = "Target firewall"
PASSWORD = "Pw-" + uuid.uuid4().hex


def conn_id(cluster, name):
    return cluster["id"] + "/providers/Microsoft.ServiceLinker/linkers/" + name


def validate(az, cluster, name):
    return run(az, "aks", "connection", "validate", "--id", conn_id(cluster, name), "-o", "json")


def command_of(recommendation, **placeholders):
    """The az command in a recommendation ('…: az aks …[; or …]') with the user's placeholders filled in."""
    command = recommendation.split(": ", 1)[1].split("; or ")[0]
    for name, value in placeholders.items():
        assert f"<{name}>" in command, (name, command)
        command = command.replace(f"<{name}>", value)
    assert "<" not in command, command
    args = shlex.split(command)
    assert args[0] == "az", command
    return args[1:]


def test_database_secret_passes_then_drift_is_named_and_the_fixes_run(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "val-sql")
    rg, name = cluster["id"].split("/")[4], cluster["name"]
    user = sandbox["seeds"]["databaseLogins"]["sql"]
    made = run(az, "aks", "connection", "create", "sql", "--source-id", cluster["id"], "--target-id",
               sandbox["seeds"]["targets"]["sql"], "--connection", "orders_sql", "--kube-namespace", "shop",
               "--secret", f"name={user}", f"secret={PASSWORD}", "-o", "json")
    assert made.rc == 0, made
    mark = sbc.mark()
    res = validate(az, cluster, "orders_sql")
    assert res.rc == 0, res
    assert {r["result"] for r in res.json} == {"success"}, res.json
    assert writes(sbc, mark) == []

    # The host (the target's) edited, the password (the user's) emptied: both named, neither value shown.
    core, _ = kube_for(az, cluster, tmp_path)
    core.patch_namespaced_secret("sc-orderssql-secret", "shop",
                                 {"stringData": {"AZURE_SQL_HOST": "evil.example.com", "AZURE_SQL_PASSWORD": ""}})
    res = validate(az, cluster, "orders_sql")
    assert res.rc == 1, res
    item = by_name(res.json)[VALUES]
    assert (item["result"], item["errorCode"]) == ("failure", "ConfigurationDrift")
    assert "The value of AZURE_SQL_HOST in Secret 'sc-orderssql-secret' differs" in item["errorMessage"]
    assert "AZURE_SQL_PASSWORD in Secret 'sc-orderssql-secret' is empty" in item["errorMessage"]
    assert "evil.example.com" not in res.out and PASSWORD not in res.out + res.log
    # The fix names what only the user knows as placeholders; filled in, it repairs the Secret.
    pw_file = tmp_path / "pw.txt"
    pw_file.write_text(PASSWORD)
    fixed = run(az, *command_of(item["recommendation"], user=user, **{"password-file": str(pw_file)}))
    assert fixed.rc == 0, fixed
    assert validate(az, cluster, "orders_sql").rc == 0

    # The egress IP changes: the firewall fix (update, which needs the secret again) works once filled in.
    sbc.set_egress(rg, name, ips=["52.10.20.40"])
    res = validate(az, cluster, "orders_sql")
    item = by_name(res.json)[FIREWALL]
    assert res.rc == 1 and item["errorCode"] == "FirewallRuleStale", res.json
    args = command_of(item["recommendation"], user=user, **{"password-file": str(pw_file)})
    assert args[:3] == ["aks", "connection", "update"], args
    fixed = run(az, *args)
    assert fixed.rc == 0, fixed
    res = validate(az, cluster, "orders_sql")
    assert res.rc == 0 and by_name(res.json)[FIREWALL]["result"] == "success", res.json


def test_customized_keys_pass_and_the_fix_keeps_them(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "val-ck")
    s = sandbox["seeds"]["storage"]["storage-blob"]
    made = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
               s["resourceGroup"], "--account", s["account"], "--connection", "ck_blob", "--secret",
               "--customized-keys", "AZURE_STORAGEBLOB_CONNECTIONSTRING=BLOB_CONN", "-o", "json")
    assert made.rc == 0, made
    res = validate(az, cluster, "ck_blob")
    assert res.rc == 0, res
    assert by_name(res.json)[VALUES]["result"] == "success", res.json      # no "extra key" for the renamed one

    core, _ = kube_for(az, cluster, tmp_path)
    core.delete_namespaced_secret("sc-ckblob-secret", "default")
    item = by_name(validate(az, cluster, "ck_blob").json)[SECRET]
    assert "--customized-keys AZURE_STORAGEBLOB_CONNECTIONSTRING=BLOB_CONN" in item["recommendation"]
    assert run(az, *command_of(item["recommendation"])).rc == 0
    secret = core.read_namespaced_secret("sc-ckblob-secret", "default")
    assert sorted(secret.data) == ["BLOB_CONN"]
    assert validate(az, cluster, "ck_blob").rc == 0


def test_workload_identity_secret_values_are_checked(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "val-wiv")
    s = sandbox["seeds"]["storage"]["storage-blob"]
    made = run(az, "aks", "connection", "create", "storage-blob", "--source-id", cluster["id"], "--tg",
               s["resourceGroup"], "--account", s["account"], "--connection", "wi_blob", "--workload-identity",
               sandbox["seeds"]["identities"]["sandbox-identity"], "-o", "json")
    assert made.rc == 0, made
    res = validate(az, cluster, "wi_blob")
    assert res.rc == 0, res
    assert by_name(res.json)[VALUES]["result"] == "success", res.json
    core, _ = kube_for(az, cluster, tmp_path)
    core.patch_namespaced_secret("sc-wiblob-secret", "default",
                                 {"stringData": {"AZURE_STORAGEBLOB_CLIENTID": str(uuid.uuid4())}})
    res = validate(az, cluster, "wi_blob")
    assert res.rc == 1, res
    assert "The value of AZURE_STORAGEBLOB_CLIENTID" in by_name(res.json)[VALUES]["errorMessage"]


def test_confluent_cloud_validates_without_an_arm_resource(az, sandbox, sbc, tmp_path):
    cluster = new_cluster(sbc, "val-cf")
    made = run(az, "aks", "connection", "create", "confluent-cloud", "--source-id", cluster["id"],
               "--bootstrap-server", "pkc-sandbox.eastus.azure.confluent.cloud:9092", "--kafka-key", "KAFKAKEY",
               "--kafka-secret", PASSWORD, "--schema-registry", "https://psrc-sandbox.eastus.azure.confluent.cloud",
               "--schema-key", "SCHEMAKEY", "--schema-secret", PASSWORD, "--connection", "cf_kafka", "-o", "json")
    assert made.rc == 0, made
    res = validate(az, cluster, "cf_kafka")
    assert res.rc == 0, res
    found = by_name(res.json)
    assert found[TARGET]["result"] == "success" and found[VALUES]["result"] == "success", res.json
    assert "NoneType" not in res.out + res.log
    core, _ = kube_for(az, cluster, tmp_path)
    core.delete_namespaced_secret("sc-cfkafka-secret", "default")
    item = by_name(validate(az, cluster, "cf_kafka").json)[SECRET]
    assert "--bootstrap-server pkc-sandbox.eastus.azure.confluent.cloud:9092" in item["recommendation"]
    pw_file = tmp_path / "pw.txt"
    pw_file.write_text(PASSWORD)
    filled = {"kafka-key": "KAFKAKEY", "kafka-secret-file": str(pw_file), "schema-registry": "https://psrc.example",
              "schema-key": "SK", "schema-secret-file": str(pw_file)}
    fixed = run(az, *command_of(item["recommendation"], **filled))
    assert fixed.rc == 0, fixed
    assert validate(az, cluster, "cf_kafka").rc == 0
