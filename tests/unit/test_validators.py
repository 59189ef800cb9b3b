# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
import pytest
from azure.cli.core.azclierror import (InvalidArgumentValueError, MutuallyExclusiveArgumentError,
                                       RequiredArgumentMissingError)

from azext_aks_connection import _validators as v
from azext_aks_connection.targets import TARGETS

CLUSTER = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1"


def test_secret_name_strips_and_lowercases():
    assert v.secret_name("order_acme_postgres") == "sc-orderacmepostgres-secret"
    assert v.secret_name("Orders.Blob-1") == "sc-ordersblob1-secret"


@pytest.mark.parametrize("name", ["a", "orders_blob", "orders-blob", "Orders.1", "x" * 60])
def test_connection_names_accepted(name):
    v.validate_connection_name(name)


@pytest.mark.parametrize("name", ["", "_x", "a b", "x" * 61, "a/b", "-a"])
def test_connection_names_refused(name):
    with pytest.raises(InvalidArgumentValueError):
        v.validate_connection_name(name)


@pytest.mark.parametrize("ns, ok", [("default", True), ("orders-prod", True), ("a" * 63, True), ("a" * 64, False),
                                    ("Orders", False), ("-a", False), ("a_b", False), ("", False)])
def test_namespace(ns, ok):
    if ok:
        v.validate_namespace(ns)
    else:
        with pytest.raises(InvalidArgumentValueError) as exc:
            v.validate_namespace(ns)
        assert "RFC 1123" in str(exc.value)


def test_parse_cluster_id():
    ref = v.parse_cluster_id(CLUSTER)
    assert (ref.subscription, ref.resource_group, ref.name) == ("s1", "rg", "c1")
    assert ref.connection_id("x") == CLUSTER + "/providers/Microsoft.ServiceLinker/linkers/x"
    with pytest.raises(InvalidArgumentValueError) as exc:
        v.parse_cluster_id("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/a")
    assert exc.value.recommendations


def test_resolve_connection_by_id():
    ref, name = v.resolve_connection(None, connection_id=CLUSTER + "/providers/Microsoft.ServiceLinker/linkers/conn1")
    assert ref.name == "c1" and name == "conn1"
    with pytest.raises(MutuallyExclusiveArgumentError):
        v.resolve_connection(None, resource_group_name="rg", connection_id=CLUSTER)
    with pytest.raises(InvalidArgumentValueError):
        v.resolve_connection(None, connection_id=CLUSTER)


def test_resolve_target_by_id_and_errors():
    blob = TARGETS["storage-blob"]
    tid = "/subscriptions/s1/resourceGroups/data/providers/Microsoft.Storage/storageAccounts/acct/blobServices/default"
    got, fields = v.resolve_target(None, blob, target_id=tid)
    assert got == tid and fields["account"] == "acct" and fields["target_resource_group"] == "data"
    with pytest.raises(InvalidArgumentValueError):
        v.resolve_target(None, blob, target_id=tid.replace("/blobServices/default", ""))
    with pytest.raises(MutuallyExclusiveArgumentError):
        v.resolve_target(None, blob, target_id=tid, names={"account": "x"})
    with pytest.raises(RequiredArgumentMissingError) as exc:
        v.resolve_target(None, blob, target_resource_group="data", names={})
    assert "--account" in str(exc.value)
