# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""ArmState: every ARM resource of a sandbox, keyed by lower-cased id, plus seeding helpers."""
import copy
import threading

from sandbox.arm import common
from sandbox.arm import authorization, containerservice, keyvault, kubernetesconfiguration, managedidentity
from sandbox.arm import network, resources, storage, targets
from sandbox.arm import appconfiguration, cache, cognitiveservices, dbservers, documentdb, insights, marketplace
from sandbox.arm import messaging, signalrservice, sql
from sandbox.arm import servicelinker

# One module per resource provider; each has ``register(registry)``. Add new providers here.
PROVIDER_MODULES = [resources, containerservice, kubernetesconfiguration, storage, network, managedidentity,
                    authorization, keyvault,
                    # the targets of `az aks connection` (see targets.py)
                    insights, appconfiguration, cognitiveservices, documentdb, messaging, dbservers, sql, cache,
                    signalrservice, marketplace,
                    # Microsoft's Service Connector resource provider (linkers under a managed cluster)
                    servicelinker]


class ArmState:
    """Thread-safe store of ARM resources and provider state.

    ``resources`` maps a lower-cased ARM id to the stored (wire-shaped) resource dict; ``meta``
    holds what the sandbox keeps beside a resource but never serves (storage keys, protected
    settings, the KubeStore key of a cluster, ...). ``lock`` guards both; handlers hold it while
    they read-modify-write.
    """

    def __init__(self, sb):
        self.sb = sb
        self.lock = threading.RLock()
        self.resources = {}
        self.meta = {}
        self.providers = {}            # lower namespace -> registrationState
        self.install_outcomes = {}     # lower cluster id -> {"message", "code", "operations"}
        # Whether a 409 for a write during an extension operation carries Retry-After.
        self.conflict_retry_after = True
        self.lro = common.LroManager(self)
        self.registry = common.HandlerRegistry(self)
        for module in PROVIDER_MODULES:
            module.register(self.registry)

    # ------------------------------------------------------------------ raw store

    def raw(self, resource_id):
        """The live stored resource (callers hold ``lock`` when they modify it), or ``None``."""
        return self.resources.get(resource_id.lower()) if resource_id else None

    def store(self, res):
        with self.lock:
            self.resources[res["id"].lower()] = res
        return res

    def meta_of(self, resource_id):
        with self.lock:
            return self.meta.setdefault(resource_id.lower(), {})

    def remove_tree(self, resource_id):
        """Remove a resource and everything under it (children, extension resources)."""
        lid = resource_id.lower()
        with self.lock:
            for key in [k for k in self.resources if k == lid or k.startswith(lid + "/")]:
                del self.resources[key]
                self.meta.pop(key, None)

    def under(self, prefix_id):
        with self.lock:
            p = prefix_id.lower() + "/"
            return [r for k, r in self.resources.items() if k.startswith(p)]

    # ------------------------------------------------------------------ public helpers for tests/seeding

    def get(self, resource_id):
        """A copy of the stored resource, or ``None``."""
        with self.lock:
            res = self.raw(resource_id)
            return copy.deepcopy(res) if res is not None else None

    def put_raw(self, resource_id, body):
        """Store ``body`` as the resource ``resource_id`` (id/name filled when missing). Returns a copy."""
        body = copy.deepcopy(body)
        body.setdefault("id", resource_id)
        body["id"] = resource_id
        ref = common.parse_path(resource_id)
        if ref is not None and ref.is_resource:
            body.setdefault("name", ref.name)
            body.setdefault("type", ref.full_type)
        with self.lock:
            self.resources[resource_id.lower()] = body
        return copy.deepcopy(body)

    def patch_raw(self, resource_id, patch):
        """JSON-merge-patch (RFC 7386) the stored resource. Returns a copy, or ``None`` when absent."""
        with self.lock:
            res = self.raw(resource_id)
            if res is None:
                return None
            new = common.merge_patch(res, patch)
            new["id"] = res["id"]
            self.resources[resource_id.lower()] = new
            return copy.deepcopy(new)

    def delete_raw(self, resource_id):
        self.remove_tree(resource_id)

    def list_ids(self, type_name=None):
        with self.lock:
            return sorted(r["id"] for r in self.resources.values()
                          if type_name is None or r.get("type", "").lower() == type_name.lower())

    # ------------------------------------------------------------------ seeding

    def rg_id(self, name):
        return f"/subscriptions/{self.sb.subscription_id}/resourceGroups/{name}"

    def add_resource_group(self, name, location=None, managed_by=None, tags=None):
        return copy.deepcopy(resources.put_resource_group(self, name, location or self.sb.location,
                                                          tags=tags, managed_by=managed_by))

    def ensure_resource_group(self, name, location=None):
        with self.lock:
            rg = self.raw(self.rg_id(name))
            if rg is None:
                rg = resources.put_resource_group(self, name, location or self.sb.location)
            return rg

    def add_managed_cluster(self, resource_group, name, location=None, kube_key=None, **overrides):
        return copy.deepcopy(containerservice.seed_cluster(self, resource_group, name, location, kube_key, overrides))

    def add_public_ip(self, resource_group, name, ip_address, location=None, tags=None):
        return copy.deepcopy(network.seed_public_ip(self, resource_group, name, ip_address, location, tags))

    def add_storage_account(self, resource_group, name, keys, endpoints, location=None, containers=None, **overrides):
        return copy.deepcopy(storage.seed_account(self, resource_group, name, keys, endpoints, location,
                                                  containers or [], overrides))

    def add_user_assigned_identity(self, resource_group, name, location=None, tags=None):
        """A user-assigned managed identity (the existing one when it is there already)."""
        return copy.deepcopy(managedidentity.seed_identity(self, resource_group, name, location, tags))

    def add_key_vault(self, resource_group, name, rbac=True, location=None, **properties):
        """A key vault; ``rbac`` = enableRbacAuthorization; ``properties`` override vault properties."""
        return copy.deepcopy(keyvault.seed_vault(self, resource_group, name, rbac, location, properties))

    def add_target(self, target, resource_group, name, location=None, **children):
        """Seed the resource(s) of an ``az aks connection`` target (``servicebus``, ``cosmos-sql``, ...) and
        return its target id, spelt as the built-in's template (see :mod:`sandbox.arm.targets`)."""
        return targets.seed_target(self, target, resource_group, name, location, **children)

    def set_cluster_egress(self, resource_group, name, outbound_type, ips=None):
        """Give a cluster a loadBalancer / managedNATGateway / userAssignedNATGateway / userDefinedRouting
        egress with ``ips`` (see :func:`containerservice.set_egress`); returns :meth:`cluster_egress`."""
        return containerservice.set_egress(self, self.cluster_id(resource_group, name), outbound_type, ips)

    def set_cluster_node_subnet(self, resource_group, name, service_endpoints=(), managed=False):
        """The cluster's node pools on a subnet of the user's own VNet with ``service_endpoints``, or (``managed``)
        back on the AKS-managed VNet (see :func:`network.set_node_subnet`)."""
        return network.set_node_subnet(self, self.cluster_id(resource_group, name), service_endpoints, managed)

    def cluster_egress(self, resource_group, name):
        """{"id", "outboundType", "publicIpIds", "ips"} of a cluster."""
        return containerservice.egress(self, self.cluster_id(resource_group, name))

    def role_assignments(self, principal_id=None):
        """Copies of the role assignments (they are not in ``resources``), optionally of one principal."""
        return authorization.list_assignments(self, principal_id)

    def set_provider_state(self, namespace, state):
        with self.lock:
            self.providers[namespace.lower()] = state
            self.registry.namespace(namespace)

    def provider_state(self, namespace):
        with self.lock:
            return self.providers.get(namespace.lower(), "Registered")

    def set_cluster_provisioning_state(self, resource_group, name, state="Updating"):
        """Hold a cluster in ``state`` (e.g. "Updating") until set back (e.g. "Succeeded")."""
        return containerservice.set_provisioning_state(self, self.cluster_id(resource_group, name), state)

    def set_extension_install_outcome(self, resource_group, cluster, message, code="InstallationFailed",
                                      operations=("create", "update")):
        """Make extension installs (and upgrades) on this cluster fail with ``message``."""
        with self.lock:
            self.install_outcomes[self.cluster_id(resource_group, cluster).lower()] = {
                "message": message, "code": code, "operations": list(operations)}

    def clear_extension_install_outcome(self, resource_group, cluster):
        with self.lock:
            self.install_outcomes.pop(self.cluster_id(resource_group, cluster).lower(), None)

    def cluster_id(self, resource_group, name):
        return f"{self.rg_id(resource_group)}/providers/Microsoft.ContainerService/managedClusters/{name}"

    def storage_account_id(self, resource_group, name):
        return f"{self.rg_id(resource_group)}/providers/Microsoft.Storage/storageAccounts/{name}"

    def extension_id(self, resource_group, cluster, name):
        return (f"{self.cluster_id(resource_group, cluster)}"
                f"/providers/Microsoft.KubernetesConfiguration/extensions/{name}")

    def operations(self):
        return self.lro.list()
