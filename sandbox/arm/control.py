# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Control endpoints of the ARM emulator (no auth, JSON), under ``/_sandbox/arm``.

  GET    /_sandbox/arm                                   this list
  GET    /_sandbox/arm/providers                         {namespace: registrationState}
  PUT    /_sandbox/arm/providers/{namespace}             {"registrationState": "NotRegistered" | "Registered" | ...}
  PUT    /_sandbox/arm/clusters/{rg}/{name}/provisioning-state
                                                         {"provisioningState": "Updating"}: hold the cluster
                                                         in that state (writes then get 409) until set back
  DELETE /_sandbox/arm/clusters/{rg}/{name}/provisioning-state      back to "Succeeded"
  PUT    /_sandbox/arm/clusters/{rg}/{name}/extension-install-outcome
                                                         {"message": "...", "code": "InstallationFailed",
                                                          "operations": ["create", "update"]}: extension
                                                         installs/upgrades on the cluster then fail
                                                         optional: "scJob": {"log": "...", "exitCode": 1}
                                                         (a failed Job sc-job with pod, log and events in
                                                         the release namespace), "helmStatus": "failed" |
                                                         "pending-upgrade" | ... | null (no Helm release)
  GET    /_sandbox/arm/clusters/{rg}/{name}/extension-install-outcome
  DELETE /_sandbox/arm/clusters/{rg}/{name}/extension-install-outcome  installs succeed again
  GET    /_sandbox/arm/clusters/{rg}/{name}/egress     {"outboundType", "publicIpIds", "ips"}: where the
                                                         cluster's traffic leaves from
  PUT    /_sandbox/arm/clusters/{rg}/{name}/egress     {"outboundType": "loadBalancer" | "managedNATGateway"
                                                         (or "natGateway") | "userAssignedNATGateway" |
                                                         "userDefinedRouting", "ips": ["20.1.2.3", ...]}:
                                                         reshape the egress and/or change its addresses
                                                         (ips default to the current ones)
  PUT    /_sandbox/arm/clusters/{rg}/{name}/node-subnet {"serviceEndpoints": ["Microsoft.Storage", ...]}: the
                                                         node pools on a subnet of the user's own VNet with
                                                         these service endpoints; {"managed": true}: back on
                                                         the AKS-managed VNet
  PUT    /_sandbox/arm/clusters/{rg}/{name}/node-taints  {"taints": ["CriticalAddonsOnly=true:NoSchedule"]}:
                                                         every node pool gets these taints (all pools
                                                         CriticalAddonsOnly: extension installs fail)
  DELETE /_sandbox/arm/clusters/{rg}/{name}/node-taints  no taints
  PUT    /_sandbox/arm/clusters/{rg}/{name}/blocked-hosts {"blocked": ["scaksextension.azurecr.io",
                                                          "mcr.microsoft.com"]}: the cluster cannot reach
                                                         these hosts (chart download / image pulls fail)
  DELETE /_sandbox/arm/clusters/{rg}/{name}/blocked-hosts  nothing blocked
  PUT    /_sandbox/arm/paging                            {"size": n}: every ARM list answered n items a page, with
                                                         the nextLink of the next (0: one page)
  GET|POST /_sandbox/arm/denials                         {"action": "Microsoft.Storage/storageAccounts/
                                                          listKeys/action", "scope": "<id prefix>"}: 403
                                                         AuthorizationFailed for it (see denials.py)
  DELETE /_sandbox/arm/denials[?id=n]                    remove one or all
  POST   /_sandbox/arm/storage-accounts                  {"resourceGroup", "name", "location"}: a storage
                                                         account of its own (random keys, not served by
                                                         Azurite), in ``location`` (default: the sandbox's
                                                         region, where its clusters are)
  POST   /_sandbox/arm/identities                        {"resourceGroup", "name"}: a user-assigned identity
                                                         of its own, its principal replicated already (as
                                                         the seeded one)
  POST   /_sandbox/arm/principals                        {"principalId": "<guid>"}: a service principal or user
                                                         the directory knows (role assignments without
                                                         principalType to anyone else: 400 PrincipalNotFound)
  GET    /_sandbox/arm/role-assignments[?principalId=<id>]  {"value": [role assignments]} (ARM keeps them
                                                         out of the resource listings)
  GET    /_sandbox/arm/resource?id=<ARM id>              the stored resource, raw
  PUT    /_sandbox/arm/resource?id=<ARM id>              store the body as the resource, raw
  PATCH  /_sandbox/arm/resource?id=<ARM id>              JSON merge patch (RFC 7386: null removes a key)
  DELETE /_sandbox/arm/resource?id=<ARM id>              remove it and everything under it
  GET    /_sandbox/arm/resources[?type=<full type>]      {"value": [ids]}
  GET    /_sandbox/arm/operations                        every long-running operation and its status
  GET|PUT /_sandbox/arm/settings                         {"conflictRetryAfter": true}: whether the 409 for
                                                         a write during an extension operation carries
                                                         Retry-After (azure-core then retries it silently);
                                                         {"ficWriteSeconds": 0.2}: how long a federated
                                                         credential write holds its identity (a concurrent
                                                         one gets 409); {"principalReplicationSeconds": 2}:
                                                         how long a new identity's principal is
                                                         PrincipalNotFound to role-assignment PUTs;
                                                         {"serviceLinkerRetryAfter": 1}: Service Connector's
                                                         LRO answers carry Retry-After: 1 (0, the default:
                                                         none, as Microsoft's recordings show)
POST is accepted wherever PUT is.
"""
from sandbox.arm import common, denials, extension_faults, managedidentity, servicelinker
from sandbox.arm.common import arm_error
from sandbox.arm.targetkit import ipv4
from sandbox.core import Response, Router

HELP = __doc__


def build_router(state):
    r = Router()
    base = r"/_sandbox/arm"

    @r.route("GET", base)
    def index(req):
        return Response(200, {"endpoints": [line for line in HELP.splitlines()[2:] if line.strip()]})

    @r.route("GET", base + r"/providers")
    def providers(req):
        with state.lock:
            return Response(200, {state.registry.canonical_namespace(ns): state.provider_state(ns)
                                  for ns in state.registry.namespaces})

    @r.route(["PUT", "POST"], base + r"/providers/([^/]+)")
    def set_provider(req, ns):
        body = common.json_body(req)
        value = body.get("registrationState") or body.get("state")
        if not value:
            raise arm_error(400, "InvalidRequestContent", "Give registrationState.")
        if not state.registry.known_namespace(ns):
            state.registry.namespace(ns)
        state.set_provider_state(state.registry.canonical_namespace(ns), value)
        return Response(200, {"namespace": state.registry.canonical_namespace(ns), "registrationState": value})

    def cluster_or_404(rg, name):
        cid = state.cluster_id(rg, name)
        if state.get(cid) is None:
            raise common.resource_not_found(cid)
        return cid

    @r.route(["PUT", "POST", "DELETE"], base + r"/clusters/([^/]+)/([^/]+)/provisioning-state")
    def cluster_state(req, rg, name):
        cluster_or_404(rg, name)
        value = "Succeeded" if req.method == "DELETE" else \
            (common.json_body(req).get("provisioningState") or "Updating")
        res = state.set_cluster_provisioning_state(rg, name, value)
        return Response(200, {"id": res["id"], "provisioningState": res["properties"]["provisioningState"]})

    @r.route(["GET", "PUT", "POST", "DELETE"], base + r"/clusters/([^/]+)/([^/]+)/extension-install-outcome")
    def install_outcome(req, rg, name):
        cid = cluster_or_404(rg, name)
        if req.method == "DELETE":
            state.clear_extension_install_outcome(rg, name)
        elif req.method in ("PUT", "POST"):
            body = common.json_body(req)
            if not body.get("message"):
                raise arm_error(400, "InvalidRequestContent", "Give message.")
            state.set_extension_install_outcome(rg, name, body["message"], body.get("code") or "InstallationFailed",
                                                body.get("operations") or ("create", "update"))
            with state.lock:
                state.install_outcomes[cid.lower()].update(
                    {k: body[k] for k in ("scJob", "helmStatus", "imagePull") if k in body})
        with state.lock:
            outcome = state.install_outcomes.get(cid.lower())
        return Response(200, {"id": cid, "outcome": outcome})

    @r.route(["GET", "PUT", "POST"], base + r"/clusters/([^/]+)/([^/]+)/egress")
    def cluster_egress(req, rg, name):
        cluster_or_404(rg, name)
        if req.method == "GET":
            return Response(200, state.cluster_egress(rg, name))
        body = common.json_body(req)
        ips = body.get("ips")
        if ips is not None and (not isinstance(ips, list) or any(ipv4(ip) is None for ip in ips)):
            raise arm_error(400, "InvalidRequestContent", "ips must be a list of IPv4 addresses.")
        try:
            return Response(200, state.set_cluster_egress(rg, name, body.get("outboundType") or "loadBalancer", ips))
        except ValueError as exc:
            raise arm_error(400, "InvalidRequestContent", str(exc)) from exc

    @r.route(["PUT", "POST"], base + r"/clusters/([^/]+)/([^/]+)/node-subnet")
    def node_subnet(req, rg, name):
        cluster_or_404(rg, name)
        body = common.json_body(req)
        services = body.get("serviceEndpoints") or []
        if not isinstance(services, list) or not all(isinstance(s, str) and s for s in services):
            raise arm_error(400, "InvalidRequestContent", "serviceEndpoints must be a list of service names.")
        return Response(200, state.set_cluster_node_subnet(rg, name, services, bool(body.get("managed"))))

    @r.route(["PUT", "POST", "DELETE"], base + r"/clusters/([^/]+)/([^/]+)/node-taints")
    def node_taints(req, rg, name):
        cid = cluster_or_404(rg, name)
        taints = [] if req.method == "DELETE" else common.json_body(req).get("taints") or []
        return Response(200, {"id": cid, "nodeTaints": extension_faults.set_node_taints(state, cid, taints)})

    @r.route(["GET", "PUT", "POST", "DELETE"], base + r"/clusters/([^/]+)/([^/]+)/blocked-hosts")
    def blocked_hosts(req, rg, name):
        cid = cluster_or_404(rg, name)
        if req.method != "GET":
            hosts = [] if req.method == "DELETE" else common.json_body(req).get("blocked") or []
            extension_faults.set_egress_blocked(state, cid, hosts)
        return Response(200, {"id": cid, "blocked": extension_faults.egress_blocked(state, cid)})

    @r.route(["GET", "PUT"], base + r"/paging")
    def paging(req):
        from sandbox.arm import app as arm_app
        if req.method == "PUT":
            arm_app.PAGING["size"] = int(req.json({}).get("size") or 0)
        return Response(200, dict(arm_app.PAGING))

    @r.route(["GET", "POST", "PUT", "DELETE"], base + r"/denials")
    def denial_rules(req):
        rules = denials.attach(state)
        if req.method == "DELETE":
            rules.clear(int(req.query["id"]) if req.query.get("id") else None)
        elif req.method != "GET":
            body = common.json_body(req)
            if not body.get("action"):
                raise arm_error(400, "InvalidRequestContent", "Give action (and optionally scope).")
            return Response(201, {"id": rules.add(body["action"], body.get("scope"))})
        return Response(200, {"value": rules.list()})

    @r.route("POST", base + r"/storage-accounts")
    def storage_account(req):
        body = common.json_body(req)
        rg, name = body.get("resourceGroup"), body.get("name")
        if not rg or not name:
            raise arm_error(400, "InvalidRequestContent", "Give resourceGroup and name.")
        endpoints = {svc: f"https://{name}.{svc}.core.windows.net/" for svc in ("blob", "queue", "table", "file")}
        res = state.add_storage_account(rg, name, None, endpoints, location=body.get("location"))
        return Response(201, {"id": res["id"], "resourceGroup": rg, "name": name, "location": res["location"]})

    @r.route("GET", base + r"/role-assignments")
    def role_assignments(req):
        from sandbox.arm import authorization
        return Response(200, {"value": authorization.list_assignments(state, req.query.get("principalId"))})

    @r.route("POST", base + r"/principals")
    def principal(req):
        from sandbox.arm import authorization
        pid = common.json_body(req).get("principalId")
        if not pid:
            raise arm_error(400, "InvalidRequestContent", "Give principalId.")
        authorization.add_principal(state, str(pid))
        return Response(201, {"principalId": pid})

    @r.route("POST", base + r"/identities")
    def identity(req):
        body = common.json_body(req)
        rg, name = body.get("resourceGroup"), body.get("name")
        if not rg or not name:
            raise arm_error(400, "InvalidRequestContent", "Give resourceGroup and name.")
        res = state.add_user_assigned_identity(rg, name)
        props = res.get("properties") or {}
        return Response(201, {"id": res["id"], "resourceGroup": rg, "name": name,
                              "principalId": props.get("principalId"), "clientId": props.get("clientId")})

    @r.route(["GET", "PUT", "POST", "PATCH", "DELETE"], base + r"/resource")
    def resource(req):
        rid = req.query.get("id")
        if not rid:
            raise arm_error(400, "InvalidRequestContent", "Give ?id=<ARM resource id>.")
        if req.method == "GET":
            res = state.get(rid)
        elif req.method in ("PUT", "POST"):
            res = state.put_raw(rid, common.json_body(req))
        elif req.method == "PATCH":
            res = state.patch_raw(rid, common.json_body(req))
        else:
            existed = state.get(rid) is not None
            state.delete_raw(rid)
            return Response(200 if existed else 204)
        if res is None:
            raise arm_error(404, "ResourceNotFound", f"No resource with id '{rid}' in the sandbox.")
        return Response(200, res)

    @r.route("GET", base + r"/resources")
    def resources(req):
        return Response(200, {"value": state.list_ids(req.query.get("type"))})

    @r.route("GET", base + r"/operations")
    def operations(req):
        return Response(200, {"value": state.operations()})

    @r.route(["GET", "PUT", "POST", "PATCH"], base + r"/settings")
    def settings(req):
        identity = managedidentity.settings(state)
        if req.method != "GET":
            body = common.json_body(req)
            if "conflictRetryAfter" in body:
                state.conflict_retry_after = bool(body["conflictRetryAfter"])
            for key in managedidentity.DEFAULT_SETTINGS:
                if key in body:
                    identity[key] = float(body[key])
            if "serviceLinkerRetryAfter" in body:
                servicelinker.settings(state)["retryAfter"] = int(body["serviceLinkerRetryAfter"] or 0)
        return Response(200, dict(identity, conflictRetryAfter=state.conflict_retry_after,
                                  serviceLinkerRetryAfter=servicelinker.settings(state)["retryAfter"]))

    return r
