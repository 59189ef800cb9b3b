# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""A small client of the sandbox's control endpoints, for tests and benchmarks (standard library only)."""
import json
import ssl
import urllib.request


class SandboxClient:
    def __init__(self, state):
        self.state = state
        self.base = state["armUrl"]
        self._ctx = ssl.create_default_context(cafile=state["ca"])

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self._ctx, timeout=30) as resp:  # nosec - local sandbox
            text = resp.read().decode()
        return json.loads(text) if text else None

    # request log
    def mark(self):
        """The sequence number of the last logged request: pass it to requests(since=...)."""
        return self.call("GET", "/_sandbox/requests?since=999999999")["last"]

    def in_flight(self):
        """How many requests (control ones aside) the sandbox is handling now."""
        return self.call("GET", "/_sandbox/requests?since=999999999")["inFlight"]

    def requests(self, since=0, plane=None, mutating=None):
        entries = self.call("GET", f"/_sandbox/requests?since={since}")["value"]
        return [e for e in entries if (plane is None or e["plane"] == plane)
                and (mutating is None or e["mutating"] == mutating)]

    # faults
    def add_fault(self, **rule):
        return self.call("POST", "/_sandbox/faults", rule)["id"]

    def clear_faults(self):
        self.call("DELETE", "/_sandbox/faults")

    def fault(self, rule_id):
        """The rule as it is now (``hits``, ``held``, ``times`` left), or None once removed."""
        return next((r for r in self.call("GET", "/_sandbox/faults")["value"] if r["id"] == rule_id), None)

    def remove_fault(self, rule_id):
        """Remove one rule; the requests it holds go on."""
        self.call("DELETE", f"/_sandbox/faults?id={int(rule_id)}")

    def seeds(self):
        return self.call("GET", "/_sandbox/seeds")

    def set_lro(self, **seconds):
        """Seconds per operation kind (or ``default``); returns {"lroSeconds", "retryAfterMs", "retryAfter"}."""
        return self.call("PUT", "/_sandbox/lro", seconds)

    def set_retry_after(self, enabled):
        """``True``: every long-running operation sends Retry-After, those of kinds whose real provider sends none
        (AKS: ``noRetryAfter``) too; ``False``: none sends it. Returns the previous setting, which restores it when
        passed back."""
        now = self.set_lro()
        before = {"retryAfter": now["retryAfter"], "noRetryAfter": now.get("noRetryAfter", [])}
        if isinstance(enabled, dict):
            self.set_lro(**enabled)
        else:
            self.set_lro(retryAfter=bool(enabled), **({"noRetryAfter": []} if enabled else {}))
        return before

    def new_cluster(self, name, resource_group=None, kind=None, **extra):
        """A new cluster; ``kind``: local-accounts (default), entra-id, private, authorized-ip-ranges; extra:
        callerRole (entra-id: the signed-in principal's role on it, None for none)."""
        body = dict(extra, name=name, resourceGroup=resource_group)
        if kind:
            body["kind"] = kind
        return self.call("POST", "/_sandbox/clusters", body)

    def deny_kube(self, cluster_id, verb, resource, namespace=None, group=None):
        """The cluster's API server denies ``verb`` on ``resource`` (in ``namespace``; None: anywhere): 403, and
        SelfSubjectAccessReviews answer allowed: false. Returns the rule id."""
        return self.call("POST", "/_sandbox/kube/denials", {"cluster": cluster_id, "verb": verb, "resource": resource,
                                                            "namespace": namespace, "group": group})["id"]

    def set_paging(self, size):
        """ARM lists answered ``size`` items a page, each with the nextLink of the next (0: one page)."""
        return self.arm("PUT", "paging", {"size": size})

    def set_namespace_termination(self, seconds):
        """A deleted namespace stays Terminating ``seconds`` (its content gone, creates in it refused), then goes."""
        return self.call("PUT", "/_sandbox/kube/namespace-termination", {"seconds": seconds})

    def clear_kube_denials(self):
        self.call("DELETE", "/_sandbox/kube/denials")

    def egress(self, resource_group, name):
        """{"outboundType", "publicIpIds", "ips"} of a cluster."""
        return self.arm("GET", f"clusters/{resource_group}/{name}/egress")

    def set_egress(self, resource_group, name, outbound_type="loadBalancer", ips=None):
        """Reshape a cluster's egress (loadBalancer, managedNATGateway, userAssignedNATGateway,
        userDefinedRouting) and/or change its outbound IPs (e.g. to make a firewall rule stale)."""
        body = {"outboundType": outbound_type}
        if ips is not None:
            body["ips"] = list(ips)
        return self.arm("PUT", f"clusters/{resource_group}/{name}/egress", body)

    def arm(self, method, path, body=None):
        """Resource-provider controls under /_sandbox/arm/..."""
        return self.call(method, "/_sandbox/arm/" + path.lstrip("/"), body)

    # cluster conditions and failures (see sandbox/arm/control.py and sandbox/arm/extension_faults.py)
    def set_cluster_state(self, resource_group, name, provisioning_state="Updating"):
        return self.arm("PUT", f"clusters/{resource_group}/{name}/provisioning-state",
                        {"provisioningState": provisioning_state})

    def release_cluster(self, resource_group, name):
        return self.arm("DELETE", f"clusters/{resource_group}/{name}/provisioning-state")

    def fail_extension_installs(self, resource_group, name, message, **extra):
        """Extension installs on the cluster fail with ``message``; extra: scJob, helmStatus, imagePull, code,
        operations."""
        return self.arm("PUT", f"clusters/{resource_group}/{name}/extension-install-outcome",
                        dict(extra, message=message))

    def clear_extension_failure(self, resource_group, name):
        return self.arm("DELETE", f"clusters/{resource_group}/{name}/extension-install-outcome")

    def set_node_taints(self, resource_group, name, taints):
        return self.arm("PUT", f"clusters/{resource_group}/{name}/node-taints", {"taints": list(taints)})

    def block_egress(self, resource_group, name, hosts):
        return self.arm("PUT", f"clusters/{resource_group}/{name}/blocked-hosts", {"blocked": list(hosts)})

    def set_provider(self, namespace, registration_state):
        return self.arm("PUT", f"providers/{namespace}", {"registrationState": registration_state})

    def deny(self, action, scope=None):
        """403 AuthorizationFailed for ``action`` on resources under ``scope``; returns the rule id."""
        return self.arm("POST", "denials", {"action": action, "scope": scope})["id"]

    def clear_denials(self):
        self.arm("DELETE", "denials")

    def new_identity(self, resource_group, name):
        """A user-assigned identity of one's own (principal replicated): {"id", "principalId", "clientId", ...}."""
        return self.arm("POST", "identities", {"resourceGroup": resource_group, "name": name})

    def new_storage_account(self, resource_group, name, location=None):
        """A storage account of its own, in ``location`` (None: the sandbox's region, where its clusters are; Azure
        Storage ignores IP rules for requests from its own region)."""
        return self.arm("POST", "storage-accounts", {"resourceGroup": resource_group, "name": name,
                                                     "location": location})

    def set_node_subnet(self, resource_group, name, service_endpoints=(), managed=False):
        """The cluster's node pools on a subnet of the user's own VNet with ``service_endpoints``
        ("Microsoft.Storage", ...); ``managed``: back on the AKS-managed VNet. Returns {"subnetId", ...}."""
        return self.arm("PUT", f"clusters/{resource_group}/{name}/node-subnet",
                        {"serviceEndpoints": list(service_endpoints), "managed": managed})

    # Microsoft's Service Connector resource provider (sandbox/arm/servicelinker.py)
    def set_servicelinker_retry_after(self, seconds):
        """Service Connector's LRO answers carry ``Retry-After: seconds`` (0: none, the default, as Microsoft's
        recordings show); returns the previous value."""
        before = self.arm("GET", "settings")["serviceLinkerRetryAfter"]
        self.arm("PUT", "settings", {"serviceLinkerRetryAfter": int(seconds or 0)})
        return before
