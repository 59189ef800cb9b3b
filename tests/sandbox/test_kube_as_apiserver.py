# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Where the Kubernetes API server refuses, the emulator refuses in its words (issue 24): a dryRun value other than
All, label values outside the label alphabet or over 63 characters, Secrets / ConfigMaps over 1 MiB; and every
written object carries metadata.managedFields naming its field manager."""
import base64

import pytest
from kubernetes.client.rest import ApiException

# pylint: disable-next=unused-import  # the module-scoped server and the per-test namespace of the emulator tests
from tests.sandbox.test_kube_emulator import env, ns, raw, secret, status_of  # noqa: F401


def _b64(data):
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("method, kind", [("POST", "CreateOptions"), ("PUT", "UpdateOptions"),
                                          ("PATCH", "PatchOptions"), ("DELETE", "DeleteOptions")])
def test_a_dry_run_value_other_than_all_is_refused_and_nothing_is_written(env, ns, method, kind):  # noqa: F811
    # kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/endpoints/handlers (create.go, update.go, patch.go,
    # delete.go): the options are validated first, errors.NewInvalid on meta.k8s.io/<Kind>Options.
    base = f"/clusters/c1/api/v1/namespaces/{ns}/configmaps"
    name = "cm-" + method.lower()
    if method != "POST":
        env.core.create_namespaced_config_map(ns, {"metadata": {"name": name}, "data": {"a": "1"}})
    path = base + ("?dryRun=Yes" if method == "POST" else f"/{name}?dryRun=Yes")
    body = {"POST": {"metadata": {"name": name}, "data": {"a": "2"}},
            "PUT": {"metadata": {"name": name}, "data": {"a": "2"}}, "PATCH": {"data": {"a": "2"}}}.get(method)
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None
    status, _, answer = raw(env, method, path, headers=headers, body=body)
    assert status == 422, answer
    assert answer["reason"] == "Invalid"
    assert answer["message"] == f'{kind}.meta.k8s.io "" is invalid: dryRun: Unsupported value: "Yes": ' \
                                'supported values: "All"'
    assert answer["details"]["causes"] == [{"reason": "FieldValueNotSupported", "field": "dryRun",
                                            "message": 'Unsupported value: "Yes": supported values: "All"'}]
    stored = env.c1.get("configmaps", ns, name)
    assert (stored or {}).get("data") == (None if method == "POST" else {"a": "1"})


@pytest.mark.parametrize("value, reason", [("has space", "regex"), ("-leading", "regex"), ("trailing.", "regex"),
                                           ("x" * 64, "length")])
def test_label_values_outside_the_rules_are_refused(env, ns, value, reason):  # noqa: F811
    # apimachinery pkg/util/validation/validation.go IsValidLabelValue: at most 63 characters of
    # (([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?
    with pytest.raises(ApiException) as exc:
        env.core.create_namespaced_secret(ns, secret("s", labels={"app": value}))
    assert exc.value.status == 422
    message = status_of(exc.value)["message"]
    assert message.startswith(f'Secret "s" is invalid: metadata.labels: Invalid value: "{value}": ') \
        or message.startswith('Secret "s" is invalid: [metadata.labels: Invalid value: ')
    assert ("must be no more than 63 characters" if reason == "length" else "a valid label must be") in message
    assert env.c1.get("secrets", ns, "s") is None


def test_label_values_inside_the_rules_are_taken(env, ns):  # noqa: F811
    made = env.core.create_namespaced_secret(ns, secret("ok", labels={"a": "", "b": "My_value.1", "c": "y" * 63}))
    assert made.metadata.labels == {"a": "", "b": "My_value.1", "c": "y" * 63}


def test_secrets_and_config_maps_over_one_mebibyte_are_refused(env, ns):  # noqa: F811
    # kubernetes pkg/apis/core/validation: ValidateSecret / ValidateConfigMap, MaxSecretSize = 1 MiB.
    with pytest.raises(ApiException) as exc:
        env.core.create_namespaced_secret(ns, secret("big", data={"blob": _b64(b"x" * (1024 * 1024 + 1))}))
    assert exc.value.status == 422
    assert status_of(exc.value)["message"] == 'Secret "big" is invalid: data: Too long: must have at most 1048576 bytes'
    with pytest.raises(ApiException) as exc:
        env.core.create_namespaced_config_map(ns, {"metadata": {"name": "big"}, "data": {"k": "x" * (1024 * 1024)}})
    assert exc.value.status == 422
    assert status_of(exc.value)["message"] == 'ConfigMap "big" is invalid: []: Too long: must have at most 1048576 ' \
                                              'bytes'
    # Exactly 1 MiB is still fine.
    env.core.create_namespaced_secret(ns, secret("edge", data={"blob": _b64(b"x" * (1024 * 1024))}))


def test_written_objects_carry_managed_fields_of_their_manager(env, ns):  # noqa: F811
    made = env.core.create_namespaced_config_map(ns, {"metadata": {"name": "mf", "labels": {"app": "x"}},
                                                      "data": {"k": "v"}})
    fields = made.metadata.managed_fields
    assert len(fields) == 1 and fields[0].manager == "OpenAPI-Generator" and fields[0].operation == "Update"
    assert fields[0].fields_type == "FieldsV1"
    assert fields[0].fields_v1 == {"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}
    status, _, got = raw(env, "GET", f"/clusters/c1/api/v1/namespaces/{ns}/configmaps/mf")
    assert status == 200 and got["metadata"]["managedFields"][0]["manager"] == "OpenAPI-Generator"
    # Another manager's write adds its own entry; the client's copy of the field is not taken as written.
    got["data"]["k2"] = "v2"
    got["metadata"]["managedFields"] = [{"manager": "forged"}]
    status, _, put = raw(env, "PUT", f"/clusters/c1/api/v1/namespaces/{ns}/configmaps/mf?fieldManager=aks-connection",
                         body=got)
    assert status == 200, put
    assert [e["manager"] for e in put["metadata"]["managedFields"]] == ["OpenAPI-Generator", "aks-connection"]
