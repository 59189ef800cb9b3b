# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""One home per auth type: what it adds to a plan, how it is read from a record, how validate names it.

    secret.py               --secret
    workload_identity.py    --workload-identity <identity id>
    service_principal.py    --service-principal client-id=… secret=… [object-id=…]
    csi.py                  --enable-csi (Key Vault, through the AKS add-on's identity)
"""
from azext_aks_connection import targets as t
from azext_aks_connection.auth.csi import CsiAuth
from azext_aks_connection.auth.secret import SecretAuth
from azext_aks_connection.auth.service_principal import ServicePrincipalAuth
from azext_aks_connection.auth.workload_identity import WorkloadIdentityAuth

AUTH_CLASSES = {t.AUTH_SECRET: SecretAuth, t.AUTH_WORKLOAD_IDENTITY: WorkloadIdentityAuth,
                t.AUTH_SERVICE_PRINCIPAL: ServicePrincipalAuth, t.AUTH_CSI: CsiAuth}


def of_record(target, record, *, validating=False):
    """(auth type, auth details) of a connection record."""
    auth = t.auth_of(record)
    cls = AUTH_CLASSES.get(auth)
    if cls is None:
        from azure.cli.core.azclierror import RequiredArgumentMissingError
        raise RequiredArgumentMissingError("Auth info argument should be provided when updating the connection.",
                                           recommendation="Pass one of: " + ", ".join(
                                               "--" + a for a in t.offered_auth_types(target)))
    return auth, cls.from_record(target, record, validating=validating)
