# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Assemble and run one sandbox: TLS, Kubernetes API, ARM (+ token endpoint + control), Azurite, seeds.

Control endpoints on the ARM server (no auth; the sandbox is a local test bed):
  GET    /_sandbox/health                      {"status": "ok"}
  GET    /_sandbox/requests?since=<seq>        {"value": [request log entries], "last": <seq>,
                                               "inFlight": requests being handled now}
  DELETE /_sandbox/requests                    clear the log
  GET    /_sandbox/faults                      the fault rules
  POST   /_sandbox/faults                      add one: {plane ("arm" | "kube" | "*"), method, path
                                               (regex), mutating, skip, times, status, code, message,
                                               headers, bare, latency (s), hold (s), reset} -> {"id": n}
                                               (see sandbox.core.Faults); GET shows each rule's hits and
                                               held requests
  DELETE /_sandbox/faults[?id=n]               remove one or all (requests they hold go on)
  GET    /_sandbox/seeds                       the seeded resources (same as `python -m sandbox seeds`)
  PUT    /_sandbox/lro                         {"<kind>|default": seconds, "retryAfterMs": ms,
                                               "retryAfter": false (long-running operations then send no
                                               Retry-After / retry-after-ms at all, as some real ones),
                                               "noRetryAfter": ["managedClusters", ...] (the kinds whose
                                               operations never send it, as their real provider; default
                                               managedClusters)}
  POST   /_sandbox/clusters                    {"resourceGroup", "name", "kind"}: a new, empty cluster of a
                                               kind (local-accounts (default), entra-id, private,
                                               authorized-ip-ranges; entra-id: "callerRole", default Azure
                                               Kubernetes Service RBAC Cluster Admin for the signed-in
                                               principal, null for none)
  GET|POST /_sandbox/kube/denials              {"cluster": <ARM id>, "verb", "resource", "namespace",
                                               "group"}: the cluster's API server denies it (403, and
                                               SelfSubjectAccessReviews say allowed: false) -> {"id": n}
  DELETE /_sandbox/kube/denials[?id=n]         remove one or all
  PUT /_sandbox/kube/namespace-termination     {"seconds": s}: a deleted namespace stays Terminating that long
  ...    /_sandbox/arm/...                     resource-provider controls (see sandbox/arm)
"""
import base64
import json
import os
import secrets

from sandbox.arm import clusterkinds, marketplace
from sandbox.arm.storage import core_endpoints as storage_core_endpoints
from sandbox.context import Sandbox
from sandbox.core import Faults, HttpError, RequestLog, Response, Router, make_tls, serve

CLUSTER_RG = "sandbox-rg"
CLUSTER_NAME = "sandbox-aks"
# The seeded cluster of each kind (sandbox/arm/clusterkinds.py); local-accounts is CLUSTER_NAME.
KIND_CLUSTERS = {"entra-id": "sandbox-aks-entra", "private": "sandbox-aks-private",
                 "authorized-ip-ranges": "sandbox-aks-authip"}
TARGET_RG = "sandbox-data-rg"
STORAGE_ACCOUNT = "sandboxstore"
STORAGE_CONTAINER = "orders"
IDENTITY_NAME = "sandbox-identity"
KEYVAULT_RBAC = "sandboxkvrbac"
KEYVAULT_POLICY = "sandboxkvpolicy"
# One resource per other Azure-resource-backed target of `az aks connection`, in TARGET_RG (children named
# "orders"; redis database 0, redis-enterprise database default).
TARGET_NAMES = {
    "app-insights": "sandbox-insights", "appconfig": "sandbox-appconfig", "cognitiveservices": "sandbox-ai",
    "cosmos-cassandra": "sandbox-cosmos-cassandra", "cosmos-gremlin": "sandbox-cosmos-gremlin",
    "cosmos-mongo": "sandbox-cosmos-mongo", "cosmos-sql": "sandbox-cosmos-sql", "cosmos-table": "sandbox-cosmos-table",
    "eventhub": "sandbox-eventhubs", "servicebus": "sandbox-servicebus", "mysql": "sandbox-mysql",
    "mysql-flexible": "sandbox-mysql-flex", "postgres": "sandbox-pg", "postgres-flexible": "sandbox-pg-flex",
    "sql": "sandbox-sql", "redis": "sandbox-redis", "redis-enterprise": "sandbox-redis-ent",
    "signalr": "sandbox-signalr", "webpubsub": "sandbox-webpubsub",
    "neon-postgres": "sandbox-neon", "mongodb-atlas": "sandbox-atlas",
}


def control_app(sb, arm_app, seeds):
    r = Router()

    @r.route("GET", "/_sandbox/health")
    def health(req):
        return Response(200, {"status": "ok"})

    @r.route("GET", "/_sandbox/requests")
    def requests_(req):
        since = int(req.query.get("since") or 0)
        return Response(200, {"value": sb.log.entries(since), "last": sb.log.last_seq(),
                              "inFlight": sb.log.in_flight()})

    @r.route("DELETE", "/_sandbox/requests")
    def clear_requests(req):
        sb.log.clear()
        return Response(200, {"last": sb.log.last_seq()})

    @r.route("GET", "/_sandbox/faults")
    def faults(req):
        return Response(200, {"value": sb.faults.list()})

    @r.route("POST", "/_sandbox/faults")
    def add_fault(req):
        return Response(201, {"id": sb.faults.add(req.json({}))})

    @r.route("DELETE", "/_sandbox/faults")
    def clear_faults(req):
        sb.faults.clear(int(req.query["id"]) if req.query.get("id") else None)
        return Response(200, {"value": sb.faults.list()})

    @r.route("GET", "/_sandbox/seeds")
    def get_seeds(req):
        return Response(200, seeds)

    @r.route("PUT", "/_sandbox/lro")
    def lro(req):
        body = req.json({})
        if "retryAfterMs" in body:
            sb.retry_after_ms = int(body.pop("retryAfterMs"))
        if "retryAfter" in body:
            sb.retry_after = bool(body.pop("retryAfter"))
        if "noRetryAfter" in body:
            sb.no_retry_after = set(body.pop("noRetryAfter") or ())
        sb.lro_seconds.update({k: float(v) for k, v in body.items()})
        return Response(200, {"lroSeconds": sb.lro_seconds, "retryAfterMs": sb.retry_after_ms,
                              "retryAfter": sb.retry_after, "noRetryAfter": sorted(sb.no_retry_after)})

    @r.route("POST", "/_sandbox/clusters")
    def new_cluster(req):
        body = req.json({})
        rg, name = body.get("resourceGroup") or CLUSTER_RG, body.get("name")
        if not name:
            raise HttpError(400, "BadRequest", "name is required")
        if sb.arm.get(f"/subscriptions/{sb.subscription_id}/resourceGroups/{rg}") is None:
            sb.arm.add_resource_group(rg)
        kind = body.get("kind") or "local-accounts"
        if kind not in clusterkinds.KINDS:
            raise HttpError(400, "BadRequest", f"kind must be one of {', '.join(clusterkinds.KINDS)}")
        if kind == "local-accounts":
            cluster = sb.arm.add_managed_cluster(rg, name)
        else:
            cluster = clusterkinds.seed(sb.arm, rg, name, kind,
                                        caller_role=body.get("callerRole", clusterkinds.CALLER_ROLE))
        return Response(201, {"id": cluster["id"], "resourceGroup": rg, "name": name, "kind": kind})

    @r.route(["GET", "POST"], "/_sandbox/kube/denials")
    def kube_denials(req):
        if req.method == "GET":
            return Response(200, {"value": sb.kube_access.denials()})
        return Response(201, {"id": sb.kube_access.add_denial(req.json({}))})

    @r.route("PUT", "/_sandbox/kube/namespace-termination")
    def namespace_termination(req):
        from sandbox.kube import store as kube_store
        kube_store.NAMESPACE_TERMINATION["seconds"] = float(req.json({}).get("seconds") or 0)
        return Response(200, dict(kube_store.NAMESPACE_TERMINATION))

    @r.route("DELETE", "/_sandbox/kube/denials")
    def clear_kube_denials(req):
        sb.kube_access.clear_denials(int(req.query["id"]) if req.query.get("id") else None)
        return Response(200, {"value": sb.kube_access.denials()})

    def app(req):
        if req.path.startswith("/_sandbox/") and not req.path.startswith("/_sandbox/arm"):
            return r.dispatch(req)
        return arm_app(req)
    return app


def _key():
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


def seed(sb, azurite_endpoints, storage_keys):
    """The seed: one cluster, one storage account with a container, one user-assigned identity, two key
    vaults (RBAC and access-policy mode), and one resource per other target (TARGET_NAMES). Returns the
    seeds document; ``targets`` maps every Azure-resource-backed target to the id passed as --target-id;
    ``userValues`` holds what the user passes for neon-postgres ({host, database, user, password}) and
    mongodb-atlas ({connection_string})."""
    sub = sb.subscription_id
    sb.arm.add_resource_group(CLUSTER_RG)
    sb.arm.add_resource_group(TARGET_RG)
    cluster = sb.arm.add_managed_cluster(CLUSTER_RG, CLUSTER_NAME)
    clusters = {"local-accounts": {"resourceGroup": CLUSTER_RG, "name": CLUSTER_NAME, "id": cluster["id"]}}
    for kind, name in KIND_CLUSTERS.items():
        clusters[kind] = {"resourceGroup": CLUSTER_RG, "name": name,
                          "id": clusterkinds.seed(sb.arm, CLUSTER_RG, name, kind)["id"]}
    endpoints = {svc: f"{url}/{STORAGE_ACCOUNT}/" for svc, url in azurite_endpoints.items()}
    for svc, url in storage_core_endpoints(STORAGE_ACCOUNT).items():
        endpoints.setdefault(svc, url)
    account = sb.arm.add_storage_account(TARGET_RG, STORAGE_ACCOUNT, storage_keys, endpoints,
                                         containers=[STORAGE_CONTAINER])
    if azurite_endpoints.get("blob"):
        from azure.storage.blob import BlobServiceClient
        conn = (f"DefaultEndpointsProtocol=http;AccountName={STORAGE_ACCOUNT};AccountKey={storage_keys[0]};"
                f"BlobEndpoint={endpoints['blob']}")
        service = BlobServiceClient.from_connection_string(conn)
        try:
            service.create_container(STORAGE_CONTAINER)
        except Exception as exc:  # pylint: disable=broad-except
            if "ContainerAlreadyExists" not in str(exc):
                raise
    identity = sb.arm.add_user_assigned_identity(CLUSTER_RG, IDENTITY_NAME)
    kv_rbac = sb.arm.add_key_vault(TARGET_RG, KEYVAULT_RBAC, rbac=True)
    kv_policy = sb.arm.add_key_vault(TARGET_RG, KEYVAULT_POLICY, rbac=False)
    targets = {"storage-blob": account["id"] + "/blobServices/default", "keyvault": kv_rbac["id"]}
    for svc in ("file", "queue", "table"):
        targets[f"storage-{svc}"] = sb.arm.add_target(f"storage-{svc}", TARGET_RG, STORAGE_ACCOUNT)
    for target, name in TARGET_NAMES.items():
        targets[target] = sb.arm.add_target(target, TARGET_RG, name)
    # Targets in another region than the clusters': reached over the cluster's egress IP (Azure Storage ignores IP
    # rules for requests from its own region).
    from sandbox.arm.targets import OTHER_REGION
    other = {t: sb.arm.add_target(t, TARGET_RG, name, location=OTHER_REGION)
             for t, name in (("storage-blob", STORAGE_ACCOUNT + "west"), ("keyvault", KEYVAULT_RBAC + "-west"))}
    return {
        "subscription": sub,
        "tenant": sb.tenant_id,
        "cluster": {"resourceGroup": CLUSTER_RG, "name": CLUSTER_NAME, "id": cluster["id"]},
        "clusters": clusters,
        "targets": dict(sorted(targets.items())),
        "otherRegion": {"region": OTHER_REGION, "targets": other},
        "databaseLogins": {t: "sandboxadmin" for t in ("mysql", "mysql-flexible", "postgres", "postgres-flexible",
                                                       "sql")},
        # What a user copies from the partner's portal for the targets whose secret is the user's.
        "userValues": {t: marketplace.user_values(sb.arm, targets[t]) for t in ("neon-postgres", "mongodb-atlas")},
        "keyvaults": {"rbac": kv_rbac["id"], "policy": kv_policy["id"]},
        "storage": {"storage-blob": {"account": STORAGE_ACCOUNT, "resourceGroup": TARGET_RG,
                                     "container": STORAGE_CONTAINER}},
        "identities": {IDENTITY_NAME: identity["id"]},
    }


def run(state_dir, with_azurite=True, ready_file=None):
    """Start everything, write ``state.json``, serve until the process is told to stop."""
    import signal
    import threading
    from sandbox.arm import ArmState, arm_error_response, build_arm_app
    from sandbox.kube import KubeRegistry, build_kube_app, kube_error_response
    from sandbox.kube.access import KubeAccess
    from sandbox import azurite

    os.makedirs(state_dir, exist_ok=True)
    tls = make_tls(state_dir)
    sb = Sandbox(RequestLog(), Faults())
    with open(os.path.join(state_dir, "ca.pem"), encoding="ascii") as f:
        sb.ca_pem = f.read()
    sb.kube = KubeRegistry()
    sb.kube_access = KubeAccess(sb)
    kube_server = serve(build_kube_app(sb.kube, sb.kube_token, access=sb.kube_access), "kube", sb.log, sb.faults,
                        kube_error_response, ssl_context=tls)
    sb.kube_url = f"https://127.0.0.1:{kube_server.server_port}"

    storage_keys = [_key(), _key()]
    azurite_proc, azurite_endpoints = None, {}
    if with_azurite:
        azurite_proc, azurite_endpoints = azurite.start(state_dir, {STORAGE_ACCOUNT: storage_keys})
    sb.azurite = azurite_endpoints

    sb.arm = ArmState(sb)
    seeds = {}
    arm_server = serve(control_app(sb, build_arm_app(sb), seeds), "arm", sb.log, sb.faults, arm_error_response,
                       ssl_context=tls)
    sb.arm_url = f"https://127.0.0.1:{arm_server.server_port}"
    seeds.update(seed(sb, azurite_endpoints, storage_keys))

    state = {"pid": os.getpid(), "armUrl": sb.arm_url, "kubeUrl": sb.kube_url,
             "ca": os.path.join(state_dir, "ca.pem"), "stateDir": state_dir,
             "azurite": {"pid": azurite_proc.pid if azurite_proc else None, "endpoints": azurite_endpoints},
             "seeds": seeds}
    tmp = os.path.join(state_dir, "state.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=2)
    os.replace(tmp, ready_file or os.path.join(state_dir, "state.json"))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        arm_server.shutdown()
        kube_server.shutdown()
        if azurite_proc:
            azurite_proc.terminate()
            try:
                azurite_proc.wait(10)
            except Exception:  # pylint: disable=broad-except
                azurite_proc.kill()
