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
    if not req.header("X-IDENTITY-HEADER"):
        return Response(400, {"statusCode": 400, "message": "The X-IDENTITY-HEADER header is missing."})
    resource = req.query.get("resource")
    if not resource:
        return Response(400, {"statusCode": 400, "message": "The resource query parameter is required."})
    token, exp = make_token(sb, resource, client_id=req.query.get("client_id"),
                            object_id=req.query.get("object_id"))
    return Response(200, {"access_token": token, "expires_on": str(exp), "resource": resource,
                          "token_type": "Bearer", "client_id": req.query.get("client_id") or sb.caller_client_id},
                    {"Cache-Control": "no-store"})
