"""The identity checks of `az aks connection validate` (mission M-V2, M-K5, M-T3): registered in
validate.py's CHECKS when validate.py imports this module, in this order, after its own checks.

  User-assigned identity    workload identity    GET the identity (provisioned.identity): it exists and its
                                                 clientId is authInfo.clientId
  Cluster features          workload identity,   GET the cluster: OIDC issuer + workload identity enabled;
                            Key Vault CSI        for CSI the azureKeyvaultSecretsProvider add-on
  Federated credential      workload identity    GET {identity}/federatedIdentityCredentials: one with the
                                                 cluster's current issuer URL, subject
                                                 system:serviceaccount:<ns>:sc-account-<clientId>, audience
                                                 api://AzureADTokenExchange
  Identity permissions      workload identity,   GET {target}/providers/Microsoft.Authorization/roleAssignments
                            service principal    ?$filter=principalId eq '<principal>': each role (authInfo.roles,
                            with object id,      else the target's roles / csi_roles) at the target's resource
                            Key Vault CSI        or a scope above it. Key Vault CSI on an access-policy vault:
                                                 an access policy of the add-on identity with get on secrets
  Kubernetes ServiceAccount workload identity    GET the ServiceAccount: it exists, annotated with the clientId
                                                 (and the identity's tenant, when it carries a tenant-id)

Each failure names what is wrong and recommends the az command that repairs it. A connection made with
--opt-out auth left the cluster features, the credential and the grants to the user: what is missing is
then reported as a warning, not a failure.
"""
from azure.cli.core.azclierror import ResourceNotFoundError

from azext_aks_connection.provider.validate import (Skip, check, fail, is_csi, is_workload_identity, ok, warn,
                                                    FAILURE, Result, WARNING)

CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"


def _opted_out(ctx):
    return ctx.auth_info.get("authMode") == "optOutAllAuth"


def _soften(ctx, result):
    """--opt-out auth: the user took this over; what is missing is theirs to decide (a warning)."""
    if result.result == FAILURE and _opted_out(ctx):
        return Result(WARNING, result.message + " The connection was made with --opt-out auth, which leaves this "
                      "to you.", result.recommendation, result.code)
    return result


def _identity_or_skip(ctx):
    try:
        return ctx.identity()
    except ResourceNotFoundError as exc:
        raise Skip("the identity does not exist (see the identity check).") from exc


def _cluster_props(ctx):
    return ctx.cluster_resource().get("properties") or {}


def _issuer(ctx):
    oidc = _cluster_props(ctx).get("oidcIssuerProfile") or {}
    return oidc.get("issuerURL") if oidc.get("enabled") else None


def _upper_first(text):
    return text[:1].upper() + text[1:]


def _id_parts(resource_id):
    parts = resource_id.split("/")
    return parts[2], parts[4], parts[-1]


def _where(resource_id):
    sub, rg, _ = _id_parts(resource_id)
    return f"--subscription {sub} -g {rg}"


def _roles_apply(record):
    """Roles are granted (and so checked) for workload identity, a service principal given with its object id,
    and Key Vault CSI; never for a target without data-plane roles."""
    from azext_aks_connection import targets
    target = targets.TARGETS.get(record.get("target"))
    info = record.get("authInfo") or {}
    if target is None or not target.resource_type:
        return False
    if is_csi(record):
        return bool(info.get("roles") or target.csi_roles)
    if not (info.get("roles") or target.roles or target.data_access_policy):
        return False
    return is_workload_identity(record) or (info.get("authType") == "servicePrincipalSecret"
                                            and bool(info.get("principalId")))


# --------------------------------------------------------------------------- identity

@check("User-assigned identity validated.",
       "The workload identity of the connection exists and has the client id the connection uses.",
       auth_types=("userAssignedIdentity",), when=is_workload_identity)
def identity_exists(ctx):
    iid = ctx.provisioned.get("identity")
    if not iid:
        return warn("Not checked: the connection record does not name its user-assigned identity (it was made by "
                    "an older version of the extension).", f"Re-apply the connection: {ctx.update_command()}",
                    "IdentityNotRecorded")
    sub, rg, name = _id_parts(iid)
    try:
        ident = ctx.identity()
    except ResourceNotFoundError:
        return fail(f"The user-assigned identity '{iid}' of the connection does not exist (any more): pods using "
                    f"ServiceAccount '{_service_account(ctx)}' get no Microsoft Entra token.",
                    "Create the identity again (or choose another one) and re-apply the connection, then run the "
                    "pods with the ServiceAccount the command names (a new identity has a new client id): "
                    f"az identity create --subscription {sub} -g {rg} -n {name} && "
                    f"az aks connection update {ctx.record.get('target')} --id {ctx.connection_id} "
                    f"--client-type {ctx.record.get('clientType') or 'none'} --workload-identity {iid}",
                    "IdentityNotFound")
    used = ctx.auth_info.get("clientId")
    if used and ident.get("client_id") and used.lower() != ident["client_id"].lower():
        return fail(f"The client id of identity '{name}' is now {ident['client_id']}, but the connection (its Secret "
                    f"and ServiceAccount) uses {used}: the identity was deleted and created again.",
                    "Re-apply the connection with the identity as it is now (it writes a ServiceAccount for the "
                    "new client id; run the pods with it): "
                    f"az aks connection update {ctx.record.get('target')} --id {ctx.connection_id} "
                    f"--client-type {ctx.record.get('clientType') or 'none'} --workload-identity {iid}",
                    "IdentityClientIdChanged")
    return ok()


# --------------------------------------------------------------------------- cluster features

@check("Cluster features validated.",
       "The cluster has what the connection needs: OIDC issuer and workload identity, or the Key Vault secrets "
       "provider add-on.", auth_types=("userAssignedIdentity",))
def cluster_features(ctx):
    from azext_aks_connection.provider import cluster as cluster_ops
    csi = is_csi(ctx.record)
    missing = cluster_ops.missing_features(ctx.cluster_resource(), workload_identity=not csi, kv_csi=csi)
    if not missing:
        return ok()
    c = ctx.cluster
    where = f"--subscription {c.subscription} -g {c.resource_group} -n {c.name}"
    if csi:
        return _soften(ctx, fail(
            f"The {cluster_ops.KV_ADDON} add-on is off on AKS cluster '{c.name}': the Secrets Store CSI driver "
            "cannot mount the vault's secrets.",
            f"Enable the add-on: az aks enable-addons {where} --addons azure-keyvault-secrets-provider",
            "KeyVaultAddonDisabled"))
    flags = " ".join(flag for feature, flag in (("OIDC issuer", "--enable-oidc-issuer"),
                                                ("workload identity", "--enable-workload-identity"))
                     if feature in missing)
    return _soften(ctx, fail(
        f"{_upper_first(' and '.join(missing))} {'is' if len(missing) == 1 else 'are'} off on AKS cluster "
        f"'{c.name}': pods get no federated token to exchange for the identity's.",
        f"Enable {'it' if len(missing) == 1 else 'them'}: az aks update {where} {flags}",
        "ClusterFeatureDisabled"))


# --------------------------------------------------------------------------- federated credential

@check("Federated identity credential validated.",
       "The identity trusts the cluster's OIDC issuer for the connection's ServiceAccount "
       "(audience api://AzureADTokenExchange).", auth_types=("userAssignedIdentity",), when=is_workload_identity)
def federated_credential(ctx):
    from azext_aks_connection.provider import identity as identity_ops
    ident = _identity_or_skip(ctx)
    client_id = ctx.auth_info.get("clientId") or ident["client_id"]
    subj = identity_ops.subject(ctx.namespace, client_id)
    issuer = _issuer(ctx)
    listed = identity_ops.list_federated_credentials(ctx.arm_for(ident["id"].split("/")[2]), ident)
    mine = [f for f in listed if (f.get("properties") or {}).get("subject") == subj]
    if issuer is None:
        return _soften(ctx, fail(
            f"The OIDC issuer of AKS cluster '{ctx.cluster.name}' is off: no token of ServiceAccount "
            f"'{identity_ops.service_account_name(client_id)}' can match a federated credential of identity "
            f"'{ident['name']}'" + (f" ({', '.join(repr(f.get('name')) for f in mine)} trusts "
                                    f"{(mine[0].get('properties') or {}).get('issuer')})." if mine else "."),
            f"Turn the issuer on and trust it (the command writes only what is missing): {ctx.update_command()}",
            "OidcIssuerDisabled"))
    for fic in mine:
        props = fic.get("properties") or {}
        if props.get("issuer") == issuer:
            if identity_ops.AUDIENCE in (props.get("audiences") or []):
                return ok()
            sub, rg, name = _id_parts(ident["id"])
            return _soften(ctx, fail(
                f"Federated credential '{fic.get('name')}' of identity '{ident['name']}' has audience(s) "
                f"{', '.join(props.get('audiences') or []) or '(none)'}, not {identity_ops.AUDIENCE}: the token "
                "exchange is refused.",
                f"Set the audience: az identity federated-credential update --subscription {sub} -g {rg} "
                f"--identity-name {name} --name {fic.get('name')} --issuer {issuer} --subject {subj} "
                f"--audiences {identity_ops.AUDIENCE}", "FederatedCredentialAudience"))
    sub, rg, name = _id_parts(ident["id"])
    create = (f"az identity federated-credential create --subscription {sub} -g {rg} --identity-name {name} "
              f"--name {identity_ops.federated_credential_name(ctx.namespace, issuer, subj)} --issuer {issuer} "
              f"--subject {subj} --audiences {identity_ops.AUDIENCE}")
    if mine:
        old = sorted({(f.get("properties") or {}).get("issuer") for f in mine})
        return _soften(ctx, fail(
            f"The OIDC issuer of AKS cluster '{ctx.cluster.name}' changed: identity '{ident['name']}' trusts "
            f"ServiceAccount '{identity_ops.service_account_name(client_id)}' for issuer {', '.join(old)}, but the "
            f"cluster's issuer is now {issuer} (the cluster was re-created, or its OIDC issuer turned off and on "
            "again): token exchange is refused.",
            f"Trust the current issuer: {create}", "FederatedCredentialIssuerChanged"))
    return _soften(ctx, fail(
        f"Identity '{ident['name']}' has no federated credential for issuer {issuer} and subject {subj}: pods "
        f"using ServiceAccount '{identity_ops.service_account_name(client_id)}' cannot get its token.",
        f"Create it: {create}", "FederatedCredentialNotFound"))


# --------------------------------------------------------------------------- role assignment / access policy

def _principal(ctx):
    """(object id, what it is) of the principal that needs the roles."""
    from azext_aks_connection.provider import cluster as cluster_ops
    if is_csi(ctx.record):
        return ctx.addon_identity()["objectId"], f"the {cluster_ops.KV_ADDON} add-on identity"
    if is_workload_identity(ctx.record):
        ident = _identity_or_skip(ctx)
        return ident["principal_id"], f"identity '{ident['name']}'"
    return ctx.auth_info["principalId"], f"service principal {ctx.auth_info.get('clientId')}"


def _vault_uses_rbac(ctx):
    return bool((ctx.target_resource().get("properties") or {}).get("enableRbacAuthorization"))


@check("Identity permissions validated.",
       "The identity has its role(s) on the target (or the Key Vault CSI add-on identity its access policy).",
       auth_types=("userAssignedIdentity", "servicePrincipalSecret"), when=_roles_apply)
def identity_permissions(ctx):
    from azext_aks_connection.provider import target as target_ops
    try:
        ctx.target_resource()
    except ResourceNotFoundError as exc:
        raise Skip("the target cannot be read (see the target check).") from exc
    principal, who = _principal(ctx)
    scope = target_ops.resource_id(ctx.target, ctx.target_id)
    if ctx.target.csi and not _vault_uses_rbac(ctx):         # a Key Vault in access-policy mode
        return _soften(ctx, _access_policy(ctx, principal, who, scope))
    if ctx.target.data_access_policy:                       # Azure Cache for Redis: its own access policies
        return _soften(ctx, _redis_access(ctx, principal, who, scope))
    names = ctx.auth_info.get("roles") or (ctx.target.csi_roles if is_csi(ctx.record) else ctx.target.roles)
    missing = _missing_roles(ctx, scope, principal, names)
    if not missing:
        return ok()
    fixes = " && ".join(f'az role assignment create --assignee-object-id {principal} --assignee-principal-type '
                        f'ServicePrincipal --role "{name}" --scope {scope}' for name in missing)
    return _soften(ctx, fail(
        f"{_upper_first(who)} (object id {principal}) lacks role(s) {', '.join(repr(n) for n in missing)} on "
        f"'{scope}' and every scope above it: its requests to the {ctx.target.display} are refused.",
        f"Grant {'it' if len(missing) == 1 else 'them'}: {fixes}", "RoleAssignmentMissing"))


def _missing_roles(ctx, scope, principal, names):
    """The role names of ``names`` no assignment of ``principal`` grants at ``scope`` or above (create's own
    test: identity.granting)."""
    from azext_aks_connection.provider import identity as identity_ops
    current = identity_ops.assignments_of(ctx.arm, scope, principal)
    return [name for name, rid in identity_ops.resolve_roles(ctx.arm, scope, names)
            if identity_ops.granting(current, scope, rid) is None]


def _redis_access(ctx, principal, who, cache_id):
    from azext_aks_connection.provider import identity as identity_ops
    cache = ctx.target_resource()
    name = cache.get("name") or cache_id.split("/")[-1]
    fix = f"Re-apply the connection (it turns on what is missing): {ctx.update_command()}"
    if not identity_ops.redis_aad_enabled(cache):
        return fail(f"Microsoft Entra authentication is off on cache '{name}': {who} cannot sign in to it.", fix,
                    "EntraAuthDisabled")
    current = identity_ops.list_redis_assignments(ctx.arm, cache, ctx.target.api_version)
    if identity_ops.redis_assignment_of(current, principal) is not None:       # create's own test
        return ok()
    return fail(f"Cache '{name}' has no access policy assignment for {who} (object id {principal}): its "
                "sign-in is refused.",
                f"{fix}; or: az redis access-policy-assignment create {_where(cache_id)} -n {name} "
                f"--access-policy-name \"{ctx.target.data_access_policy}\" --object-id {principal} --object-id-alias "
                f"{principal} --policy-assignment-name sc-{principal[:8]}", "AccessPolicyAssignmentMissing")


def _access_policy(ctx, principal, who, vault_id):
    from azext_aks_connection.provider import identity as identity_ops
    vault = ctx.target_resource()
    if identity_ops.vault_policy_present(vault, principal, {"secrets": ["get"]}):     # create's own test
        return ok()
    return fail(f"Key vault '{vault.get('name')}' uses access policies, and none lets {who} (object id {principal}) "
                "get secrets: " + ("the CSI driver" if is_csi(ctx.record) else "the workload") + " cannot read them.",
                f"Add the policy: az keyvault set-policy {_where(vault_id)} -n {vault.get('name')} --object-id "
                f"{principal} --secret-permissions get --key-permissions get --certificate-permissions get",
                "AccessPolicyMissing")


# --------------------------------------------------------------------------- ServiceAccount

def _service_account(ctx):
    from azext_aks_connection.provider import identity as identity_ops
    return (ctx.record.get("kubernetesResourceName") or {}).get("serviceAccount") or \
        identity_ops.service_account_name(ctx.auth_info.get("clientId"))


@check("Kubernetes ServiceAccount validated.",
       f"The connection's ServiceAccount exists in its namespace, annotated {CLIENT_ID_ANNOTATION} with the "
       "identity's client id.", auth_types=("userAssignedIdentity",), when=is_workload_identity)
def service_account(ctx):
    from azext_aks_connection.provider import kube as kube_ops
    name = _service_account(ctx)
    fix = f"Write it again (the command writes only what is missing or differs): {ctx.update_command()}"
    account = kube_ops.read_service_account(ctx.kube(), ctx.namespace, name)      # create's own read
    if account is None:
        return fail(f"ServiceAccount '{name}' does not exist in namespace '{ctx.namespace}': pods that name it "
                    "are not created.", fix, "ServiceAccountNotFound")
    notes = (account.metadata.annotations or {})
    want = ctx.auth_info.get("clientId")
    problems = []
    have = notes.get(CLIENT_ID_ANNOTATION)
    if have is None:
        problems.append(f"has no {CLIENT_ID_ANNOTATION} annotation")
    elif want and have.lower() != want.lower():
        problems.append(f"is annotated {CLIENT_ID_ANNOTATION}={have}, not the connection's client id {want}")
    tenant = notes.get(TENANT_ID_ANNOTATION)
    if tenant is not None:
        try:
            expected = ctx.identity().get("tenant_id")
        except (ResourceNotFoundError, Skip):
            expected = None
        if expected and tenant.lower() != expected.lower():
            problems.append(f"is annotated {TENANT_ID_ANNOTATION}={tenant}, not the identity's tenant {expected}")
    if problems:
        return fail(f"ServiceAccount '{name}' in namespace '{ctx.namespace}' {' and '.join(problems)}: the workload "
                    "identity webhook gives its pods the wrong identity, or none.", fix, "ServiceAccountAnnotation")
    return ok()
