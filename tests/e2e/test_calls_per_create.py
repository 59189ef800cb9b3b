# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""What one create sends, read from the sandbox's request log: each namespace read once (the store's and the
target's), the access reviews in one round with those reads and the create's reads of its own objects, no
Kubernetes GET repeated, and the ARM requests over one connection pool (no more connections than requests in
flight at once)."""
import re
import uuid

import pytest

from tests.e2e.helpers import create

pytestmark = pytest.mark.e2e

LATENCY = 2.0       # seconds per namespace read / access review on this test's cluster: overlaps show, even busy
ARM_LATENCY = 0.1   # per ARM call meanwhile: requests sent at once are in flight at once at the server


def test_a_create_reads_each_namespace_once_and_reviews_in_one_round(az, sandbox, sbc):
    cluster = sbc.new_cluster("calls-" + uuid.uuid4().hex[:6], "sandbox-rg")
    prefix = f"/clusters/{cluster['name']}/"
    round_paths = "^" + re.escape(prefix) + r"(api/v1/namespaces/[^/]+|apis/authorization\.k8s\.io/.*)$"
    own_reads = "^" + re.escape(prefix) + r"api/v1/namespaces/[^/]+/(configmaps|secrets)/[^/]+$"
    rules = [sbc.add_fault(plane="kube", method="*", path=round_paths, latency=LATENCY),
             sbc.add_fault(plane="kube", method="GET", path=own_reads, latency=LATENCY),
             sbc.add_fault(plane="arm", method="*", path=".*", latency=ARM_LATENCY)]
    try:
        mark = sbc.mark()
        res = create(az, sandbox, cluster, "calls_blob", namespace="calls")
        assert res.rc == 0, res
    finally:
        for rule in rules:
            sbc.call("DELETE", f"/_sandbox/faults?id={rule}")
    kube = [e for e in sbc.requests(since=mark, plane="kube") if e["path"].startswith(prefix)]
    gets = [e["path"][len(prefix) - 1:] for e in kube if e["method"] == "GET"]
    assert gets.count("/api/v1/namespaces/aks-connection") == 1, gets
    assert gets.count("/api/v1/namespaces/calls") == 1, gets
    assert len(gets) == len(set(gets)), gets                        # no Kubernetes read repeated
    # Both namespaces are missing: both created, once each, before what goes in them.
    creates = [e for e in kube if e["method"] == "POST" and e["path"].endswith("/api/v1/namespaces")]
    assert [e["status"] for e in creates] == [201, 201], kube
    # The access reviews, the namespace reads and the create's reads of its own record and Secret are one round:
    # every one of them had arrived before the first of them was answered. The reads prove the right to read, so
    # only the writes are reviewed: create and update of ConfigMaps and Secrets, create of namespaces.
    round_one = [e for e in kube if "selfsubjectaccessreviews" in e["path"] or
                 (e["method"] == "GET" and re.search(r"/api/v1/namespaces/[^/]+(/(configmaps|secrets)/[^/]+)?$",
                                                     e["path"]))]
    reviews = [e for e in round_one if "selfsubjectaccessreviews" in e["path"]]
    assert len(reviews) == 5 and len(round_one) == len(reviews) + 4, round_one
    assert max(e["start"] for e in round_one) < min(e["time"] for e in round_one), \
        sorted((round(e["start"] - kube[0]["start"], 2), round(e["time"] - kube[0]["start"], 2)) for e in round_one)
    # One connection pool for ARM: never more connections than requests were in flight at once.
    arm = [e for e in sbc.requests(since=mark, plane="arm") if not e["path"].startswith(("/msi/", "/metadata/"))]
    in_flight = max(sum(1 for o in arm if o["start"] <= e["start"] < o["time"] + 0.05) for e in arm)
    conns = {e["conn"] for e in arm}
    assert len(conns) <= in_flight, (len(conns), in_flight, len(arm))


PROBE = r"""
import io, json, sys
from azure.cli.core import get_default_cli
code = get_default_cli().invoke(sys.argv[1:], out_file=io.StringIO())
print(json.dumps({"rc": code, "kubernetes": sorted(m for m in sys.modules if m.split(".")[0] == "kubernetes")}),
      file=sys.__stderr__)
"""


@pytest.mark.parametrize("verb", ["create", "list", "show"])
def test_create_list_show_never_load_the_kubernetes_package(az, sandbox, sbc, verb):  # pylint: disable=unused-argument
    """The Kubernetes calls of these commands go through kubeaccess.KubeClient: a real az process (logged in by
    the az fixture) never imports the kubernetes package (~1.4 s and ~45 MB)."""
    import json
    import subprocess
    import sys
    s = sandbox["seeds"]["storage"]["storage-blob"]
    cluster = sbc.new_cluster("nok8s-" + uuid.uuid4().hex[:6], "sandbox-rg")
    where = ["--source-id", cluster["id"]]
    made = create_args = ["aks", "connection", "create", "storage-blob", *where, "--tg", s["resourceGroup"],
                          "--account", s["account"], "--connection", "nok8s_blob", "--secret", "-o", "none"]
    args = {"create": create_args, "list": ["aks", "connection", "list", *where, "-o", "none"],
            "show": ["aks", "connection", "show", "--id", cluster["id"] + "/providers/Microsoft.ServiceLinker/"
                     "linkers/nok8s_blob", "-o", "none"]}[verb]
    if verb != "create":
        made = subprocess.run([sys.executable, "-m", "azure.cli", *create_args], capture_output=True, text=True,
                              check=False, timeout=300)
        assert made.returncode == 0, made.stderr[-2000:]
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False,
                          timeout=300)
    seen = json.loads(proc.stderr.strip().splitlines()[-1])
    assert seen == {"rc": 0, "kubernetes": []}, proc.stderr[-2000:]


def test_a_create_reads_its_own_record_only(az, sandbox, sbc):
    """A create reads the record of its own connection (one GET of its ConfigMap), not the cluster's whole store:
    its bytes do not grow with the number of connections. A name another connection's Secret would share is still
    refused (test_names_and_lifecycle.py): the Secret names its writer."""
    cluster = sbc.new_cluster("own-" + uuid.uuid4().hex[:6], "sandbox-rg")
    for name in ("own_a", "own_b", "own_c"):
        assert create(az, sandbox, cluster, name).rc == 0
    mark = sbc.mark()
    assert create(az, sandbox, cluster, "own_d").rc == 0
    prefix = f"/clusters/{cluster['name']}/api/v1/namespaces/aks-connection/configmaps"
    reads = [e["path"][len(prefix):] for e in sbc.requests(since=mark, plane="kube")
             if e["method"] == "GET" and e["path"].startswith(prefix)]
    assert reads and all(r.startswith("/conn-own-d-") for r in reads), reads        # no LIST of the store
    again = sbc.mark()
    assert create(az, sandbox, cluster, "own_d").rc == 0                            # a re-run: the same one GET
    assert [e["method"] for e in sbc.requests(since=again, plane="kube") if e["path"].startswith(prefix)] == ["GET"]
