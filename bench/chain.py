# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The longest dependent chain of one command, derived from the sandbox's request log (bench/README.md, "The lower
bound", states the rules; this module is their only implementation).

Input: the request log entries of one az process (``start`` = the request had arrived, ``time`` = its answer was
ready, both at the server) and the sandbox's long-running operations that started meanwhile. Output: the chain's
length in seconds, the part of it that is long-running operations, and the requests on it.
"""
import re
import statistics

TOKEN = re.compile(r"^/(msi/token|[^/]+/oauth2/)", re.I)           # az's own token requests
POLL = re.compile(r"/(operations|operationStatuses|operationresults)/", re.I)
NETWORK = re.compile(r"/providers/Microsoft\.Network/(publicIPAddresses|natGateways|virtualNetworks|"
                     r"publicIPPrefixes)/", re.I)
CLUSTER = re.compile(r"/providers/Microsoft\.ContainerService/managedClusters/([^/]+)$", re.I)
CREDENTIALS = re.compile(r"/managedClusters/([^/]+)/listCluster(User|Admin)Credential$", re.I)
LINKERS = re.compile(r"/providers/Microsoft\.ServiceLinker/linkers", re.I)
KUBE_CLUSTER = re.compile(r"^/clusters/([^/]+)/")
NAMESPACE_CREATE = re.compile(r"^/clusters/[^/]+/api/v1/namespaces$")
AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"
EPS = 0.002     # seconds: "ended before it started", allowing for the clock's resolution


class Node:  # pylint: disable=too-few-public-methods,too-many-instance-attributes  # one request, as the chain needs it
    def __init__(self, entry, kind, weight, label=None, lro=0.0):
        self.entry, self.kind, self.weight, self.lro = entry, kind, weight, lro
        self.start, self.end = entry["start"], entry["time"]
        self.label = label or f"{entry['plane']} {entry['method']} {short(entry['path'])}"
        self.needs = []


def short(path):
    path = re.sub(r"^/subscriptions/[^/]+", "", path)
    path = re.sub(r"/resourceGroups/[^/]+/providers/", "/…/", path, flags=re.I)
    return path if len(path) <= 90 else path[:40] + "…" + path[-45:]


def _key(e):
    return (e["plane"], e["method"], e["path"].lower(), tuple(sorted((e.get("query") or {}).items())))


def _lro_of(write, operations):
    """The sandbox operation a write started: same resource, started while the write was being answered."""
    path = write["path"].lower()
    for op in operations:
        rid = (op.get("resourceId") or "").lower()
        if rid == path and write["start"] - 0.2 <= op["_start"] <= write["time"] + 0.2:
            return op
    return None


def build(calls, operations, store_namespace="aks-connection", record_driven=False, after_cluster_update=()):
    """The nodes and their needs (the rules of README.md); returns (nodes, repeated reads)."""
    from common import _epoch        # noqa  pylint: disable=import-outside-toplevel
    ops = []
    for op in operations or []:
        if op.get("startTime") and op.get("endTime"):
            ops.append(dict(op, _start=_epoch(op["startTime"]), _end=_epoch(op["endTime"])))
    calls = sorted(calls, key=lambda e: e["start"])
    nodes, seen, repeats, lro_nodes = [], set(), 0, []
    polls = [e for e in calls if e["method"] == "GET" and POLL.search(e["path"])]
    for e in calls:
        path, method = e["path"], e["method"]
        if method == "GET" and POLL.search(path):
            continue                                         # rule 6: an operation's polls are not requests of it
        if not e["mutating"]:
            # rule 6: a GET of what a long-running write changes, while it runs or right after: its polls/final read
            if any(n.entry["path"].lower() == path.lower() and n.start <= e["start"] for n in lro_nodes):
                continue
            key = _key(e)
            if method == "GET" and key in seen:
                repeats += 1                                 # rule 2: a repeated read counts once
                continue
            seen.add(key)
            kind = "token" if TOKEN.search(path) else "read"
            nodes.append(Node(e, kind, e["time"] - e["start"]))
            continue
        op = _lro_of(e, ops)
        if op is None:
            nodes.append(Node(e, "write", e["time"] - e["start"]))
            continue
        mine = [p["time"] - p["start"] for p in polls if op["_start"] <= p["start"]]
        poll = statistics.median(mine) if mine else e["time"] - e["start"]
        final = next((c for c in calls if c["method"] == "GET" and c["path"].lower() == path.lower()
                      and c["start"] >= op["_end"] - EPS), None)
        final_time = final["time"] - final["start"] if final else 0.0
        duration = op["_end"] - op["_start"]
        node = Node(e, "lro", (e["time"] - e["start"]) + duration + poll + final_time,
                    label=f"{e['plane']} {method} {short(path)} + {op.get('kind')} operation {duration:.2f} s + "
                    f"1 poll{' + final GET' if final else ''}", lro=duration)
        seen_polls = [p["time"] for p in polls if op["_start"] <= p["start"] and p["start"] >= op["_end"] - EPS]
        # Ends when the client had the result (the final GET, else the poll that saw the operation end).
        node.end = final["time"] if final else min(seen_polls, default=e["time"] + duration + poll)
        nodes.append(node)
        lro_nodes.append(node)
    _needs(nodes, store_namespace, record_driven, after_cluster_update)
    return nodes, repeats


def _needs(nodes, store_namespace, record_driven, after_cluster_update):  # pylint: disable=too-many-branches
    tokens = [n for n in nodes if n.kind == "token"]
    arm_token = next((n for n in tokens if AKS_SERVER_APP not in str(n.entry.get("query"))), None)
    kube_token = next((n for n in tokens if AKS_SERVER_APP in str(n.entry.get("query"))), None)
    store_prefix = re.compile(rf"^/clusters/[^/]+/api/v1/namespaces/{re.escape(store_namespace)}/configmaps")
    credentials = {}
    cluster_get = None
    for n in nodes:
        m = CREDENTIALS.search(n.entry["path"])
        if m and n.kind == "read":
            credentials.setdefault(m.group(1).lower(), n)
        if n.kind == "read" and CLUSTER.search(n.entry["path"]) and cluster_get is None:
            cluster_get = n
    store_reads = [n for n in nodes if n.kind == "read" and store_prefix.search(n.entry["path"])]
    cluster_updates = [n for n in nodes if n.kind == "lro" and CLUSTER.search(n.entry["path"])]
    after = [re.compile(p, re.I) for p in after_cluster_update]
    for n in nodes:
        if n.kind == "token":
            continue
        path, plane = n.entry["path"], n.entry["plane"]
        needs = []
        if plane == "kube":                                          # rule 3
            m = KUBE_CLUSTER.match(path)
            needs.append(credentials.get(m.group(1).lower()) if m else None)
            needs.append(kube_token)
        else:                                                        # rule 1
            needs.append(arm_token)
        if NETWORK.search(path):                                     # rule 4
            needs.append(cluster_get)
        if record_driven and not (n in store_reads or n is cluster_get or CREDENTIALS.search(path)
                                  or LINKERS.search(path)):          # rule 5
            needs.extend(store_reads)
        if n.kind in ("write", "lro"):                               # rule 7
            needs.extend(m for m in nodes if m.kind in ("read", "token") and m.end <= n.start + EPS)
            if plane == "kube" and "/namespaces/" in path:
                needs.extend(m for m in nodes if m.kind == "write" and NAMESPACE_CREATE.match(m.entry["path"]))
            if plane == "kube" and store_prefix.search(path):         # rule 8: the record is written last
                needs.extend(m for m in nodes if m.kind in ("write", "lro") and m is not n and
                             not store_prefix.search(m.entry["path"]))
            if any(p.search(path) for p in after):                   # rule 9
                needs.extend(cluster_updates)
        # Only what ended before this one started: the run itself shows the rest was not needed.
        n.needs = [m for m in dict.fromkeys(x for x in needs if x is not None) if m.end <= n.start + EPS]


def longest(nodes):
    """(chain seconds, long-running seconds on it, [labels of its nodes, first first])."""
    finish, via = {}, {}
    for n in sorted(nodes, key=lambda x: x.start):
        best = max(n.needs, key=lambda m: finish[id(m)], default=None)
        finish[id(n)] = (finish[id(best)] if best is not None else 0.0) + n.weight
        via[id(n)] = best
    if not nodes:
        return 0.0, 0.0, []
    last = max(nodes, key=lambda n: finish[id(n)])
    path, node = [], last
    while node is not None:
        path.append(node)
        node = via[id(node)]
    path.reverse()
    return finish[id(last)], sum(n.lro for n in path), [f"{n.weight:6.3f} s  {n.label}" for n in path]


def lower_chain(calls, operations, **rules):
    """{"chain", "lro", "path", "repeats"} of one command."""
    nodes, repeats = build(calls, operations, **rules)
    chain, lro, path = longest(nodes)
    return {"chain": chain, "lro": lro, "path": path, "repeats": repeats}
