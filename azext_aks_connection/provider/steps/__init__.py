# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""What a connection needs, one step per thing (steps/base.py says what a step is):

    cluster.py      ClusterFeatures       OIDC issuer + workload identity, or the Key Vault CSI add-on
    network.py      Firewall              the target's IP firewall admits the cluster's egress IPs
    grants.py       RoleAssignments, VaultAccessPolicy, RedisAccess: the principal's access to the target
    credential.py   FederatedCredential   the identity trusts the cluster's OIDC issuer
    kubernetes.py   Namespace, ServiceAccount, Secret

``CANDIDATES`` is every step in the order a plan lists them; the plan decides which are part of a connection.
"""
from azext_aks_connection.provider.steps.base import (AFTER_CLUSTER_UPDATE, CREATE, UPDATE, NotChecked, Step,
                                                      item)
from azext_aks_connection.provider.steps.cluster import ClusterFeatures
from azext_aks_connection.provider.steps.credential import FederatedCredential
from azext_aks_connection.provider.steps.grants import RedisAccess, RoleAssignments, VaultAccessPolicy
from azext_aks_connection.provider.steps.kubernetes import UNKNOWN, Namespace, Secret, ServiceAccount
from azext_aks_connection.provider.steps.network import Firewall

CANDIDATES = (ClusterFeatures, Firewall, RoleAssignments, VaultAccessPolicy, RedisAccess, FederatedCredential,
              Namespace, ServiceAccount, Secret)
REMOVERS = {"federatedCredential": FederatedCredential, "roleAssignment": RoleAssignments,
            "accessPolicy": VaultAccessPolicy, "redisAccess": RedisAccess}

__all__ = ["AFTER_CLUSTER_UPDATE", "CREATE", "UPDATE", "NotChecked", "Step", "item", "UNKNOWN", "CANDIDATES",
           "REMOVERS", "ClusterFeatures", "Firewall", "RoleAssignments", "VaultAccessPolicy", "RedisAccess",
           "FederatedCredential", "Namespace", "ServiceAccount", "Secret"]
