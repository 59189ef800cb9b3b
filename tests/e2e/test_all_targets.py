# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Every target of the table, end to end against the sandbox: create with its default auth type (and with
secret auth where the target offers both), list-configuration, delete. The Secret's keys are the table's
keys for the client type; credential values are blank in every output."""
import base64
import uuid

import pytest

from azext_aks_connection import targets as t

pytestmark = pytest.mark.e2e

PASSWORD = "Pw-" + uuid.uuid4().hex          # a user-given secret: it must reach the Secret and nothing else
CONFLUENT = "pkc-sandbox.eastus.azure.confluent.cloud:9092"
SP_CLIENT, SP_OBJECT = str(uuid.uuid4()), str(uuid.uuid4())


def _target_args(sandbox, name):
    seeds = sandbox["seeds"]
    if name == "confluent-cloud":
        return ["--bootstrap-server", CONFLUENT]
    tid = seeds["targets"].get(name)
    if tid is None:
        pytest.skip(f"the sandbox serves no {name} resource")
    return ["--target-id", tid]


def _user_args(sandbox, target, credential=PASSWORD):
    """The values a target takes from the user (database login, Neon host, Confluent keys, …); ``credential``
    for the secret ones (a value, or @file)."""
    args, secret = [], []
    for u in target.user_values:
        value = credential if u.credential else {
            "user": (sandbox["seeds"].get("databaseLogins") or {}).get(target.name, "sandboxadmin"),
            "host": "ep-sandbox.eastus2.azure.neon.tech", "database": "orders",
            "schema_registry": "https://psrc-sandbox.eastus.azure.confluent.cloud"}.get(u.field, "key-" + u.field)
        if u.option == "--secret":
            secret.append(f"{u.key}={value}")
        else:
            args += [u.option, value]
    return args, (["--secret"] + secret if secret else [])


def _auth_args(sandbox, target, auth, credential=PASSWORD):
    user, secret = _user_args(sandbox, target, credential)
    if auth == t.AUTH_WORKLOAD_IDENTITY:
        return user + ["--workload-identity", sandbox["seeds"]["identities"]["sandbox-identity"]]
    if auth == t.AUTH_SECRET:
        return user + (secret or ([] if target.user_values else ["--secret"]))
    if auth == t.AUTH_SERVICE_PRINCIPAL:
        return user + ["--service-principal", f"client-id={SP_CLIENT}", f"secret={PASSWORD}",
                       f"object-id={SP_OBJECT}"]
    raise AssertionError(auth)


CASES = []
for _name, _target in sorted(t.TARGETS.items()):
    _default = _target.auth_types[0]
    CASES.append((_name, _default))
    for _other in (t.AUTH_SECRET, t.AUTH_SERVICE_PRINCIPAL):
        if _other != _default and _other in _target.auth_types:
            CASES.append((_name, _other))


def xdist_group_of(item):
    """make test: each target's cases are independent of the others' (connections of their own): one part per
    target, spread over the workers (tests/conftest.py)."""
    params = getattr(item, "callspec", None)
    return params.params["name"] if params else "rest"


@pytest.mark.parametrize("name, auth", CASES, ids=[f"{n}-{a}" for n, a in CASES])
def test_target_create_list_configuration_delete(az, sandbox, kube, name, auth):
    target = t.TARGETS[name]
    c = sandbox["seeds"]["cluster"]
    conn = f"all_{target.wire_name}_{auth.split('-')[0]}"
    namespace = "all-targets"
    client = "none" if "none" in target.client_types else target.client_types[-1]
    res = az("aks", "connection", "create", name, "-g", c["resourceGroup"], "-n", c["name"],
             *_target_args(sandbox, name), *_auth_args(sandbox, target, auth), "--connection", conn,
             "--kube-namespace", namespace, "--client-type", client, "-o", "json")
    assert res.rc == 0, res
    out = res.json
    assert out["authInfo"]["authType"] == t.WIRE_AUTH_TYPE[auth]
    keys = [k.key for k in target.keys_for(auth, client)]
    assert [i["name"] for i in out["configurations"]] == keys
    credentials = {k.key for k in target.keys_for(auth, client) if k.credential}
    assert all(i["value"] == "" for i in out["configurations"] if i["name"] in credentials)
    assert PASSWORD not in res.out

    # The Secret holds exactly the table's keys, every one with a value.
    secret = kube.read_namespaced_secret(out["kubernetesResourceName"]["secret"], namespace)
    values = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    assert sorted(values) == sorted(keys)
    assert all(values[k] for k in keys), {k: bool(v) for k, v in values.items()}
    if any(u.credential for u in target.user_values) or auth == t.AUTH_SERVICE_PRINCIPAL:
        assert any(PASSWORD in v for v in values.values())
    if auth == t.AUTH_SERVICE_PRINCIPAL and target.roles:
        # The service principal holds the target's data-plane role(s) on the target.
        from azext_aks_connection.provider.target import resource_id
        scope = resource_id(target, _target_args(sandbox, name)[1])
        got = az("rest", "--method", "get", "--url", f"{scope}/providers/Microsoft.Authorization/roleAssignments"
                 f"?api-version=2022-04-01&$filter=principalId eq '{SP_OBJECT}'").json["value"]
        granted = {a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1] for a in got}
        assert granted >= {t.BUILTIN_ROLES[r] for r in target.roles}, (granted, target.roles)

    # validate tells the truth right after create: every check passes (a target without IP rules, or one
    # that cannot be checked, may warn), and its output carries no credential.
    checked = az("aks", "connection", "validate", "-g", c["resourceGroup"], "-n", c["name"], "--connection", conn,
                 "-o", "json")
    assert checked.rc == 0, [(r["name"], r["errorMessage"]) for r in checked.json or [] if r["result"] != "success"]
    assert [r for r in checked.json if r["result"] == "failure"] == []
    by_name = {r["name"]: r["result"] for r in checked.json}
    assert by_name["Configuration values"] == "success", checked.json
    assert PASSWORD not in checked.out

    listed = az("aks", "connection", "list-configuration", "-g", c["resourceGroup"], "-n", c["name"],
                "--connection", conn, "-o", "json")
    assert listed.rc == 0, listed
    assert [i["name"] for i in listed.json["configurations"]] == keys
    assert all(i["value"] == "" for i in listed.json["configurations"] if i["name"] in credentials)
    assert PASSWORD not in listed.out

    deleted = az("aks", "connection", "delete", "-g", c["resourceGroup"], "-n", c["name"], "--connection", conn,
                 "--yes")
    assert deleted.rc == 0, deleted
    gone = az("aks", "connection", "show", "-g", c["resourceGroup"], "-n", c["name"], "--connection", conn)
    assert gone.rc == 3


def test_user_secret_targets_refuse_a_missing_password_before_any_request(az, sandbox, sbc):
    c = sandbox["seeds"]["cluster"]
    mark = sbc.mark()
    res = az("aks", "connection", "create", "postgres-flexible", "-g", c["resourceGroup"], "-n", c["name"],
             "--target-id", sandbox["seeds"]["targets"]["postgres-flexible"], "--secret", "name=sandboxadmin")
    assert res.rc != 0 and "--secret needs secret=XX" in res.log, res
    assert [e for e in sbc.requests(since=mark) if "/_sandbox" not in e["path"]
            and "/msi/token" not in e["path"] and "metadata/endpoints" not in e["path"]] == []
