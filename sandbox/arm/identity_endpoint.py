# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Cloud metadata (``/metadata/endpoints``) and the App-Service-style managed identity token
endpoint (``/msi/token``) that ``az login --identity`` uses with IDENTITY_ENDPOINT/IDENTITY_HEADER.

Tokens are unsigned JWTs (header ``alg: RS256`` with a placeholder signature): az and the SDKs
only decode them. They are never logged.
"""
import base64
import json
import time

from sandbox.arm.common import base_url
from sandbox.core import Response

MANAGEMENT_AUDIENCE = "https://management.core.windows.net/"


def metadata(req, sb):
    base = base_url(req, sb)
    if req.query.get("api-version") == "2015-01-01":
        # The first format, which azure-cli up to 2.6x asks for (msrestazure's _populate_from_metadata_endpoint):
        # a few endpoints under other names, as ARM still answers it.
        return {"galleryEndpoint": base + "/gallery/", "graphEndpoint": "https://graph.windows.net/",
                "portalEndpoint": base + "/portal/",
                "authentication": {"loginEndpoint": base + "/", "audiences": [MANAGEMENT_AUDIENCE,
                                                                              "https://management.azure.com/"]}}
    return {
        "name": "Sandbox",
        "portal": base + "/portal/",
        "resourceManager": base + "/",
        "authentication": {"loginEndpoint": base + "/", "audiences": [MANAGEMENT_AUDIENCE,
                                                                      "https://management.azure.com/"],
                           "tenant": "common", "identityProvider": "AAD"},
        "media": base + "/media/",
        "graphAudience": "https://graph.windows.net/",
        "graph": base + "/graph/",
        "gallery": base + "/gallery/",
        "batch": "https://batch.core.windows.net/",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "sqlManagement": base + "/sql/",
        "vmImageAliasDoc": base + "/vmimagealiases.json",
        "microsoftGraphResourceId": base + "/",
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "appInsightsTelemetryChannelResourceId": base + "/appinsights/",
        "attestationResourceId": "https://attest.azure.net",
        "synapseAnalyticsResourceId": "https://dev.azuresynapse.net",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "ossrdbmsResourceId": "https://ossrdbms-aad.database.windows.net",
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.azure.net",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "storageSyncEndpointSuffix": "afs.azure.net",
            "mhsmDns": "managedhsm.azure.net",
            "mysqlServerEndpoint": "mysql.database.azure.com",
            "postgresqlServerEndpoint": "postgres.database.azure.com",
            "mariadbServerEndpoint": "mariadb.database.azure.com",
            "synapseAnalytics": "dev.azuresynapse.net",
            "attestationEndpoint": "attest.azure.net",
        },
    }


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_token(sb, resource, client_id=None, object_id=None, lifetime=3600):
    """An unsigned JWT for the sandbox caller; returns (token, exp)."""
    now = int(time.time())
    exp = now + lifetime
    appid = client_id or sb.caller_client_id
    oid = object_id or sb.caller_object_id
    header = {"typ": "JWT", "alg": "RS256", "kid": "sandbox-unsigned"}
    claims = {"aud": resource, "iss": f"https://sts.windows.net/{sb.tenant_id}/", "iat": now, "nbf": now - 5,
              "exp": exp, "aio": "sandbox", "appid": appid, "azp": appid, "appidacr": "2", "idp":
              f"https://sts.windows.net/{sb.tenant_id}/", "idtyp": "app", "oid": oid, "sub": oid,
              "tid": sb.tenant_id, "uti": "sandbox", "ver": "1.0",
              "xms_mirid": f"/subscriptions/{sb.subscription_id}/resourcegroups/sandbox/providers/"
                           "Microsoft.ManagedIdentity/userAssignedIdentities/sandbox-caller"}
    token = ".".join([_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()),
                      _b64url(b"sandbox-unsigned-signature")])
    issued = getattr(sb, "issued_tokens", None)
    if issued is not None:     # what the Kubernetes API of an Entra ID cluster accepts (sandbox/kube/access.py)
        issued[token] = {"aud": resource, "oid": oid, "appid": appid, "exp": exp}
    return token, exp


def msi_token(req, sb):
    """App Service's managed identity endpoint: api-version 2019-08-01 (IDENTITY_ENDPOINT, header
    X-IDENTITY-HEADER: MSAL, azure-cli >= 2.7x) and the first one, 2017-09-01 (MSI_ENDPOINT, header ``secret``,
    ``clientid``, ``expires_on`` as a date: msrestazure, azure-cli up to 2.6x), as App Service serves both."""
    legacy = req.query.get("api-version") == "2017-09-01"
    if not req.header("secret" if legacy else "X-IDENTITY-HEADER"):
        header = "secret" if legacy else "X-IDENTITY-HEADER"
        return Response(400, {"statusCode": 400, "message": f"The {header} header is missing."})
    resource = req.query.get("resource")
    if not resource:
        return Response(400, {"statusCode": 400, "message": "The resource query parameter is required."})
    client_id = req.query.get("clientid" if legacy else "client_id")
    token, exp = make_token(sb, resource, client_id=client_id, object_id=None if legacy else req.query.get("object_id"))
    expires_on = time.strftime("%m/%d/%Y %H:%M:%S +00:00", time.gmtime(exp)) if legacy else str(exp)
    body = {"access_token": token, "expires_on": expires_on, "resource": resource, "token_type": "Bearer"}
    if not legacy:
        body["client_id"] = client_id or sb.caller_client_id
    return Response(200, body, {"Cache-Control": "no-store"})
