# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""A cluster's credentials for the Kubernetes client: the cluster's user credentials (listClusterUserCredential,
kept in memory, never logged nor written to disk). On an AKS-managed Entra ID cluster they are an exec of
kubelogin; the exec user is replaced by a bearer token for the AKS server application (``--server-id`` of the exec
args, 6dae42f8-… by default) from the current login, as azure-cli's ``az aks command invoke`` does
(Profile.get_raw_token): user, service principal and managed identity logins work without kubelogin and nothing
ever prompts."""
import json
import os

from azext_aks_connection.provider.kubeclient import ClusterContext, KubeClient, timeouts

AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"


def _kubelogin_arg(user, name):
    """The value of kubelogin's ``name`` argument (--tenant-id, …) in an exec user, or None."""
    args = [str(a) for a in (((user or {}).get("exec") or {}).get("args") or [])]
    return next((args[i + 1] for i, a in enumerate(args[:-1]) if a == name), None)


def _kubelogin_server_id(user):
    """The --server-id of a kubelogin exec user; None when the user is not one."""
    exec_cfg = (user or {}).get("exec") or {}
    command = os.path.basename(str(exec_cfg.get("command") or "")).lower()
    args = [str(a) for a in exec_cfg.get("args") or []]
    if not (command.startswith("kubelogin") or "get-token" in args):
        return None
    for i, arg in enumerate(args):
        if arg == "--server-id" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--server-id="):
            return arg.split("=", 1)[1]
    return AKS_SERVER_APP


def _tenant_of_subscription(cmd, subscription):
    from azure.cli.core._profile import Profile
    try:
        return (Profile(cli_ctx=cmd.cli_ctx).get_subscription(subscription).get("tenantId") or "").lower()
    except Exception:  # pylint: disable=broad-except  # not a subscription of this login: not known
        return ""


def entra_token(cmd, cluster_ref, server_app=AKS_SERVER_APP, tenant=None):
    """An access token for the AKS server application from the current az login (never prompts). ``tenant``: the
    cluster's Entra ID tenant (the exec's --tenant-id), asked for by name when it is not the subscription's."""
    from azure.cli.core._profile import Profile
    from azure.cli.core.azclierror import AuthenticationError
    profile = Profile(cli_ctx=cmd.cli_ctx)
    subscription = getattr(cluster_ref, "subscription", None)
    if tenant and tenant.lower() != _tenant_of_subscription(cmd, subscription):
        try:
            return profile.get_raw_token(resource=server_app, tenant=tenant)[0][1]
        except Exception as exc:  # pylint: disable=broad-except
            raise AuthenticationError(
                f"AKS cluster '{cluster_ref.name}' trusts Entra ID tenant {tenant}, not the tenant of its "
                f"subscription, and the current login cannot get a token in that tenant for its API server "
                f"(application {server_app}): {exc}",
                recommendation=f"Sign in with an account of tenant {tenant} (a user or a service principal: a managed "
                f"identity has tokens of its own tenant only): az login --tenant {tenant}") from None
    try:
        try:
            raw = profile.get_raw_token(resource=server_app, subscription=getattr(cluster_ref, "subscription", None))
        except Exception as exc:  # pylint: disable=broad-except
            if "subscription" not in str(exc).lower():
                raise
            raw = profile.get_raw_token(resource=server_app)     # the cluster's subscription is not a login's
        return raw[0][1]
    except Exception as exc:  # pylint: disable=broad-except
        raise AuthenticationError(
            f"Could not get an Entra ID token for the API server of AKS cluster '{cluster_ref.name}' (application "
            f"{server_app}) from the current login: {exc}",
            recommendation="Run 'az login' (a user, a service principal or 'az login --identity') and try "
            "again.") from None


def token_claims(token):
    """The claims of a JWT access token (not verified: what it says of its subject, for messages); {} if none."""
    import base64
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8"))
    except (IndexError, ValueError, UnicodeDecodeError):
        return {}


def api_client(cmd, cluster_ref, cluster_resource=None):
    """A KubeClient for the cluster from its user credentials (never logged, never written to disk)."""
    import yaml
    from azure.core.exceptions import HttpResponseError
    from azext_aks_connection.provider.cluster import _client
    from azext_aks_connection.provider.errors import arm_error
    from azure.core.exceptions import DecodeError, DeserializationError
    from azext_aks_connection.provider.arm import malformed
    try:
        # format=exec: an Entra ID cluster's kubeconfig with kubelogin's exec user (replaced below), not the azure
        # auth-provider of older API versions' default, which no client runs any more
        creds = _client(cmd, cluster_ref.subscription).managed_clusters.list_cluster_user_credentials(
            cluster_ref.resource_group, cluster_ref.name, format="exec", logging_enable=False)
        # libyaml's safe loader when PyYAML has it (azure-cli's wheels do): 0.3 ms for a kubeconfig, not 5 ms
        kubeconfig = yaml.load(creds.kubeconfigs[0].value.decode("utf-8"),
                               Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if not isinstance(kubeconfig, dict):
            raise ValueError("not a kubeconfig")
    except (DecodeError, DeserializationError, AttributeError, TypeError, IndexError, ValueError, yaml.YAMLError):
        # an answer that is not the credentials (empty, a proxy's page): never shown, it may hold a credential
        raise malformed("POST", f"{cluster_ref.id}/listClusterUserCredential", None) from None
    except HttpResponseError as exc:
        raise arm_error(exc, f"Getting the user credentials of AKS cluster '{cluster_ref.name}'") from exc
    contexts = {c.get("name"): c.get("context") or {} for c in kubeconfig.get("contexts") or []}
    current = contexts.get(kubeconfig.get("current-context")) or next(iter(contexts.values()), {})
    clusters = {c.get("name"): c.get("cluster") or {} for c in kubeconfig.get("clusters") or []}
    ctx = ClusterContext(cluster_ref, server=(clusters.get(current.get("cluster")) or {}).get("server"), cmd=cmd)
    ctx.learn(cluster_resource)
    for entry in kubeconfig.get("users") or []:
        if entry.get("name") != current.get("user"):
            continue
        server_app = _kubelogin_server_id(entry.get("user"))
        if server_app:
            tenant = _kubelogin_arg(entry.get("user"), "--tenant-id")
            token = entra_token(cmd, cluster_ref, server_app, tenant=tenant)
            entry["user"] = {"token": token}
            ctx.entra = True
            ctx.principal = token_claims(token).get("oid")
    return KubeClient(kubeconfig, ctx, timeouts(cmd.cli_ctx))
