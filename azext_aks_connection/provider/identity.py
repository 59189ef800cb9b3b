# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""The identity half of a connection: the user-assigned identity, its federated credential, role
assignments on the target, and Key Vault access policies. Every step reads first and writes only
what is missing, under deterministic names, so a re-run converges and never duplicates.

Identities and federated credentials go through azure-mgmt-msi, role assignments and definitions through
azure-mgmt-authorization (both shipped with azure-cli, at its profile's api-versions), their errors as ArmError
(``arm.sdk_call``) and their answers as the REST JSON (``arm.rest``). ``arm`` (an Arm) gives the command; the
clients are for the subscription of the resource or scope at hand. Key Vault access policies go through
azure-mgmt-keyvault, Redis access policy assignments (and the cache's Microsoft Entra switch) through
azure-mgmt-redis, at those SDKs' api-versions. Retries: retry.call (a credential write colliding with another on
the identity, a principal not replicated yet).
"""
import re
import threading
import uuid

from azure.cli.core.azclierror import InvalidArgumentValueError, ResourceNotFoundError

from azext_aks_connection.provider import retry
from azext_aks_connection.provider.arm import ArmError, rest, sdk_call
from azext_aks_connection.provider.errors import arm_error
from azext_aks_connection.targets import BUILTIN_ROLES

IDENTITY_API = "2023-01-31"       # of the `az resource delete` line that removes a credential by hand
AUDIENCE = "api://AzureADTokenExchange"
AUTHZ = "/providers/Microsoft.Authorization"


def service_account_name(client_id):
    return f"sc-account-{client_id}"


def subject(namespace, client_id):
    return f"system:serviceaccount:{namespace}:{service_account_name(client_id)}"


def _msi(arm, resource_id):
    """azure-mgmt-msi's client for the subscription of ``resource_id``."""
    from azext_aks_connection._client_factory import cf_msi
    return cf_msi(arm.cli_ctx, resource_id.split("/")[2])


def _authz(arm, scope):
    """azure-mgmt-authorization's client for the subscription of ``scope``."""
    from azext_aks_connection._client_factory import cf_authorization
    return cf_authorization(arm.cli_ctx, scope.split("/")[2] if scope.lower().startswith("/subscriptions/")
                            else arm.subscription_id)


def get_identity(arm, identity_id):
    """{id, name, client_id, principal_id, tenant_id} of a user-assigned identity."""
    from azext_aks_connection.provider import shared       # apply: read once per process
    return shared.cached(("identity", identity_id.lower()), lambda: _get_identity(arm, identity_id))


def _get_identity(arm, identity_id):
    sub, rg, name = _id_parts(identity_id)
    try:
        body = rest(sdk_call(arm.cli_ctx, "GET", identity_id, _msi(arm, identity_id).user_assigned_identities.get,
                             rg, name))
    except ArmError as exc:
        if exc.status_code == 404:
            raise ResourceNotFoundError(
                f"Invalid user identity resource ID: user-assigned identity '{identity_id}' was not found.",
                recommendation=f"List the identities of that resource group (az identity list --subscription "
                f"{sub} -g {rg} --query \"[].id\" -o tsv) and pass one of their ids, or create it: az identity "
                f"create --subscription {sub} -g {rg} -n {name}") from None
        raise arm_error(exc, f"Reading user-assigned identity '{identity_id}'") from exc
    props = body.get("properties") or {}
    return {"id": body.get("id") or identity_id, "name": body.get("name"), "client_id": props.get("clientId"),
            "principal_id": props.get("principalId"), "tenant_id": props.get("tenantId")}


def identity_of_client_id(arm, subscription, client_id):
    """The user-assigned identity of ``subscription`` whose client id is ``client_id`` (a Service Connector linker
    names its identity by client id only), read to the last page; ResourceNotFoundError when none has it."""
    path = f"/subscriptions/{subscription}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
    pages = _msi(arm, path).user_assigned_identities.list_by_subscription()
    try:
        found = [rest(i) for i in sdk_call(arm.cli_ctx, "GET", path, list, pages)]
    except ArmError as exc:
        raise arm_error(exc, f"Listing the user-assigned identities of subscription '{subscription}'") from exc
    for body in found:
        props = body.get("properties") or {}
        if (props.get("clientId") or "").lower() == client_id.lower():
            return {"id": body.get("id"), "name": body.get("name"), "client_id": props.get("clientId"),
                    "principal_id": props.get("principalId"), "tenant_id": props.get("tenantId")}
    raise ResourceNotFoundError(
        f"No user-assigned identity of subscription '{subscription}' has client id {client_id}: the identity of the "
        "connection was deleted.", recommendation="Create the identity again (or choose another one) and re-apply "
        "the connection with it.")


def refuse_cluster_identity(cluster, identity):
    """Federated credentials do not work with the cluster's own control-plane or kubelet identity.
    ``identity``: what get_identity returned, or {"id": the id given} when it could not be read."""
    props = cluster.get("properties") or cluster
    ident = cluster.get("identity") or {}
    control_plane = {k.lower() for k in (ident.get("userAssignedIdentities") or {})}
    kubelet = ((props.get("identityProfile") or {}).get("kubeletidentity") or {})
    addons = [((a or {}).get("identity") or {}) for a in (props.get("addonProfiles") or {}).values()]
    iid = identity["id"].lower()
    if iid in control_plane:
        which = "control plane identity"
    elif iid == (kubelet.get("resourceId") or "").lower() or (
            identity.get("client_id") and identity["client_id"] == kubelet.get("clientId")):
        which = "kubelet identity"
    elif any(iid == (a.get("resourceId") or "").lower() for a in addons):
        which = "add-on identity"
    else:
        return
    raise InvalidArgumentValueError(
        f"'{identity['id'].split('/')[-1]}' is the cluster's {which}: federated identity credentials do not work with "
        "the AKS control plane, kubelet or add-on identities.",
        recommendation="Create a user-assigned identity for the workload and pass its id to --workload-identity: "
        f"az identity create -g {_id_parts(cluster['id'])[1]} -n {_id_parts(cluster['id'])[2]}-workload --query id "
        "-o tsv")


def federated_credential_name(namespace, issuer, subj):
    """Deterministic per (issuer, subject): one credential per cluster and namespace, whatever the connection."""
    digest = uuid.uuid5(uuid.NAMESPACE_URL, f"{issuer}|{subj}").hex[:12]
    return f"sc-{namespace}-{digest}"[:120]


MAX_FICS = 20                  # federated identity credentials one identity can hold (Microsoft Entra limit)
# 409 ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity (another credential write on the identity is
# in flight): retried for up to this many seconds, not a fixed number of times: ten writers on one identity can each
# collide many times in a row before their turn comes.
FIC_WRITE_SECONDS = 120.0
FIC_CONCURRENT = "ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity"
# Azure's answer when the identity holds MAX_FICS credentials already (not the concurrent-writes 409).
_FIC_FULL = re.compile(r"maximum of \d+ federated identity credentials|too many federated identity credentials are "
                       r"present", re.IGNORECASE)


def _id_parts(identity_id):
    parts = identity_id.split("/")
    return parts[2], parts[4], parts[-1]


def list_federated_credentials(arm, identity, shared=False):
    """The identity's credentials. ``shared``: under apply, one listing for the plans that read the identity
    together (a credential write drops it: _write_credential)."""
    from azext_aks_connection.provider import shared as shared_reads
    if shared:
        return shared_reads.cached(_fics_key(identity["id"]), lambda: list_federated_credentials(arm, identity))
    _, rg, name = _id_parts(identity["id"])
    pages = _msi(arm, identity["id"]).federated_identity_credentials.list(rg, name)
    try:
        return [rest(f) for f in sdk_call(arm.cli_ctx, "GET", identity["id"] + "/federatedIdentityCredentials",
                                          list, pages)]
    except ArmError as exc:
        raise arm_error(exc, f"Listing the federated credentials of identity '{identity['name']}'") from exc


def _fics_key(identity_id):
    return ("federatedCredentials", identity_id.lower())


def _matching(existing, issuer, subj):
    """The credential trusting (issuer, subject): Azure keeps at most one per identity, whatever its name."""
    for fic in existing:
        p = fic.get("properties") or {}
        if p.get("subject") == subj and (issuer is None or p.get("issuer") == issuer):
            return fic
    return None


def _refuse_other_audience(identity, fic):
    """A credential for our issuer and subject with another audience: Azure refuses a second one for the same pair,
    and the token exchange refuses this one: say which it is and how to fix it."""
    props = fic.get("properties") or {}
    if AUDIENCE in (props.get("audiences") or []):
        return
    sub, rg, name = _id_parts(identity["id"])
    raise InvalidArgumentValueError(
        f"Identity '{identity['name']}' already has federated credential '{fic.get('name')}' for issuer "
        f"{props.get('issuer')} and subject {props.get('subject')}, with audience(s) "
        f"{', '.join(props.get('audiences') or []) or '(none)'}, not {AUDIENCE}: workload identity tokens would be "
        "refused, and Azure allows no second credential for the same issuer and subject.",
        recommendation=f"Set its audience: az identity federated-credential update --subscription {sub} -g {rg} "
        f"--identity-name {name} --name {fic.get('name')} --issuer {props.get('issuer')} --subject "
        f"{props.get('subject')} --audiences {AUDIENCE}; or delete it (az identity federated-credential delete "
        f"--subscription {sub} -g {rg} --identity-name {name} --name {fic.get('name')} --yes) and run this "
        "command again.")


def check_fic_slot(arm, identity, namespace, issuer, existing=None):
    """Before anything is written: the credential the connection needs exists already, or the identity has room
    for it (at most MAX_FICS). ``issuer`` None: the OIDC issuer is about to be turned on, so no existing credential
    can be for it (count only). ``existing``: the identity's credentials as just listed (else listed here).
    Returns the identity's credentials."""
    subj = subject(namespace, identity["client_id"])
    existing = list_federated_credentials(arm, identity) if existing is None else existing
    match = _matching(existing, issuer, subj) if issuer else None
    if match is not None:
        _refuse_other_audience(identity, match)
        return existing
    if len(existing) >= MAX_FICS:
        sub, rg, name = _id_parts(identity["id"])
        names = ", ".join(sorted(f.get("name") or "?" for f in existing))
        raise InvalidArgumentValueError(
            f"Identity '{identity['name']}' already holds {len(existing)} federated identity credentials, the "
            f"most one identity can hold ({MAX_FICS}), and none is for this cluster's ServiceAccount {subj}: "
            f"{names}.",
            recommendation=f"Delete one it no longer needs (az identity federated-credential delete --subscription "
            f"{sub} -g {rg} --identity-name {name} --name <credential name> --yes), or pass another identity to "
            "--workload-identity.")
    return existing


def matching_credential(existing, issuer, namespace, identity):
    """The credential of ``existing`` that trusts the connection's ServiceAccount for ``issuer``, or None."""
    return _matching(existing, issuer, subject(namespace, identity["client_id"])) if issuer else None


def ensure_federated_credential(arm, identity, issuer, namespace, existing=None):
    """Make the identity trust the cluster's ServiceAccount. Returns (credential id, "created" | "present").
    An existing credential for the same issuer and subject is used whatever its name (Azure allows one).
    ``existing``: the identity's credentials as just listed (else listed here)."""
    if not issuer:      # never a credential with no issuer (Azure refuses it; the cluster update should have made one)
        from azure.cli.core.azclierror import AzureResponseError
        raise AzureResponseError(
            f"The cluster has no OIDC issuer URL yet: no federated credential was written on identity "
            f"'{identity['name']}'.", recommendation="Re-run this command when the cluster's update has ended "
            "(az aks show --query oidcIssuerProfile shows its issuerUrl).")
    # Azure refuses concurrent credential writes on one identity: this process's writers take turns (apply runs
    # plans concurrently); one that waited for another lists the credentials again.
    lock = _fic_lock(identity["id"])
    if not lock.acquire(blocking=False):
        lock.acquire()          # pylint: disable=consider-using-with  # released below
        existing = None
    try:
        return _ensure_credential(arm, identity, issuer, namespace, existing)
    finally:
        lock.release()


_FIC_LOCKS = {}
_FIC_LOCKS_LOCK = threading.Lock()


def _fic_lock(identity_id):
    with _FIC_LOCKS_LOCK:
        return _FIC_LOCKS.setdefault(identity_id.lower(), threading.Lock())


def _ensure_credential(arm, identity, issuer, namespace, existing):
    subj = subject(namespace, identity["client_id"])
    base = identity["id"] + "/federatedIdentityCredentials"
    match = _matching(list_federated_credentials(arm, identity) if existing is None else existing, issuer, subj)
    if match is not None:
        _refuse_other_audience(identity, match)
        return match["id"], "present"
    name = federated_credential_name(namespace, issuer, subj)
    try:
        created = _write_credential(arm, "PUT", f"{base}/{name}",
                                    {"issuer": issuer, "subject": subj, "audiences": [AUDIENCE]})
    except ArmError as exc:
        if exc.status_code == 400 and not _FIC_FULL.search(exc.error.message or ""):
            raise _refused_credential(exc, identity, name, issuer, subj) from exc
        raise arm_error(exc, f"Creating federated credential '{name}' on identity '{identity['name']}'" + (
            f" (an identity holds at most {MAX_FICS}: delete one it no longer needs, or pass another identity "
            "to --workload-identity)" if _FIC_FULL.search(exc.error.message or "") else "")) from exc
    return (created or {}).get("id") or f"{base}/{name}", "created"


def _refused_credential(exc, identity, name, issuer, subj):
    """A 400 on the credential PUT: what Azure refused, what the credential holds, and what each part must be."""
    from azure.cli.core.azclierror import BadRequestError
    return BadRequestError(
        f"Azure refused federated credential '{name}' on identity '{identity['name']}': ({exc.error.code}) "
        f"{exc.error.message} It trusts issuer {issuer} for subject {subj}, audience {AUDIENCE}.",
        recommendation="The issuer must be the cluster's OIDC issuer URL, as 'az aks show --query "
        "oidcIssuerProfile.issuerUrl' prints it (https); the subject system:serviceaccount:<namespace>:<service "
        "account>; the name 3-120 letters, digits, '-' or '_', starting with a letter or digit. Re-run this command "
        "once the cluster's issuer is set; an identity of another tenant than the cluster's cannot trust it.")


def _write_credential(arm, method, credential_id, properties=None):
    """One federated credential write (PUT with ``properties``, or DELETE), retried while another write on the same
    identity is in flight (409 FIC_CONCURRENT), for up to FIC_WRITE_SECONDS. Returns the answer's body."""
    parts = credential_id.split("/")
    rg, identity_name, name = parts[4], parts[-3], parts[-1]
    credentials = _msi(arm, credential_id).federated_identity_credentials
    if method == "PUT":
        from azure.cli.core.profiles import ResourceType, get_sdk
        model = get_sdk(arm.cli_ctx, ResourceType.MGMT_MSI, "FederatedIdentityCredential", mod="models",
                        operation_group="federated_identity_credentials")
        call, args = credentials.create_or_update, (rg, identity_name, name, model(**properties))
    else:
        call, args = credentials.delete, (rg, identity_name, name)
    from azext_aks_connection.provider import shared
    try:
        # Retry-After when Azure sends one, else "full jitter" (0.1-1 times 0.5 s doubling to 4 s): writers that
        # collided spread out instead of colliding again.
        return retry.call(lambda _: rest(sdk_call(arm.cli_ctx, method, credential_id, call, *args)),
                          retryable=lambda exc: isinstance(exc, ArmError) and exc.status_code == 409 and
                          exc.error.code == FIC_CONCURRENT, seconds=FIC_WRITE_SECONDS,
                          backoff=retry.Backoff(first=0.5, factor=2.0, cap=4.0, jitter=(0.1, 1.0)))
    finally:
        shared.forget(_fics_key(credential_id.rsplit("/", 2)[0]))     # a plan reading the identity next lists again


def delete_federated_credential(arm, credential_id):
    """Delete one federated credential (absent already: fine), retried like a create while another write on the
    identity is in flight."""
    try:
        _write_credential(arm, "DELETE", credential_id)
    except ArmError as exc:
        if exc.status_code != 404:
            raise arm_error(exc, f"Deleting federated credential '{credential_id}'") from exc


def role_definition_id(subscription, role):
    """A role given by name (built-in table), GUID or full id -> role definition id; None when unknown."""
    if role.lower().startswith("/subscriptions/") or role.lower().startswith("/providers/"):
        return role
    try:
        return f"/subscriptions/{subscription}{AUTHZ}/roleDefinitions/{uuid.UUID(role)}"
    except ValueError:
        pass
    for name, guid in BUILTIN_ROLES.items():
        if name.lower() == role.lower():
            return f"/subscriptions/{subscription}{AUTHZ}/roleDefinitions/{guid}"
    return None


def resolve_roles(arm, scope, roles):
    """[(display name, role definition id)] for the roles to grant; names not in the table are looked up."""
    subscription = scope.split("/")[2]
    resolved = []
    for role in roles:
        rid = role_definition_id(subscription, role)
        if rid is None:
            escaped = role.replace("'", "''")
            pages = _authz(arm, scope).role_definitions.list(scope, filter=f"roleName eq '{escaped}'")
            try:
                found = [rest(d) for d in sdk_call(arm.cli_ctx, "GET", f"{scope}{AUTHZ}/roleDefinitions", list, pages)]
            except ArmError as exc:
                raise arm_error(exc, f"Looking up role '{role}'") from exc
            if not found:
                raise InvalidArgumentValueError(f"Role '{role}' does not exist.",
                                                recommendation="List role names with 'az role definition list "
                                                "--query [].roleName -o tsv', or pass the role's id.")
            rid = found[0]["id"]
        elif rid.rstrip("/").split("/")[-1].lower() not in {g.lower() for g in BUILTIN_ROLES.values()}:
            _role_exists(arm, scope, role, rid)
        resolved.append((role, rid))
    return resolved


def _role_exists(arm, scope, role, rid):
    """A role given by id that the table does not know: read it, so a wrong id fails before any write."""
    guid = rid.rstrip("/").split("/")[-1]
    try:
        sdk_call(arm.cli_ctx, "GET", f"{scope}{AUTHZ}/roleDefinitions/{guid}", _authz(arm, scope).role_definitions.get,
                 scope, guid)
    except ArmError as exc:
        if exc.status_code in (400, 404):
            raise InvalidArgumentValueError(
                f"Role '{role}' does not exist.",
                recommendation="List role ids with 'az role definition list --query \"[].{name:roleName, "
                "id:name}\" -o table', or pass the role's name.") from exc
        raise arm_error(exc, f"Looking up role '{role}'") from exc


def assignment_name(scope, principal_id, role_def_id):
    guid = role_def_id.rstrip("/").split("/")[-1]
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope.lower()}|{principal_id.lower()}|{guid.lower()}"))


def _covers(assignment_scope, scope):
    a, s = assignment_scope.lower().rstrip("/"), scope.lower().rstrip("/")
    return s == a or s.startswith(a + "/")


def assignments_of(arm, scope, principal_id):
    """The principal's role assignments that apply at ``scope`` (there and above); listed once per process when
    reads are shared (apply: assignment names are deterministic, a second writer of one finds it made)."""
    from azext_aks_connection.provider import shared
    return shared.cached(("assignments", scope.lower(), principal_id.lower()),
                         lambda: _assignments_of(arm, scope, principal_id))


def _assignments_of(arm, scope, principal_id):
    pages = _authz(arm, scope).role_assignments.list_for_scope(scope, filter=f"principalId eq '{principal_id}'")
    try:
        return [rest(a) for a in sdk_call(arm.cli_ctx, "GET", f"{scope}{AUTHZ}/roleAssignments", list, pages)]
    except ArmError as exc:
        raise arm_error(exc, f"Listing the role assignments of principal '{principal_id}' on '{scope}'") from exc


def granting(current, scope, rid):
    """The assignment of ``current`` that grants role definition ``rid`` at ``scope`` (there or above), or None."""
    guid = rid.rstrip("/").split("/")[-1].lower()
    return next((a for a in current if (a.get("properties") or {}).get("roleDefinitionId", "").lower()
                 .endswith("/" + guid) and _covers((a.get("properties") or {}).get("scope", ""), scope)), None)


def ensure_role_assignments(arm, scope, principal_id, roles, *, principal_type="ServicePrincipal", current=None):
    """Grant each (name, role definition id) to the principal on ``scope`` unless an assignment at that scope
    or above already grants it. Returns [(assignment id, "created" | "present")]. ``current``: the principal's
    assignments as just listed (else listed here)."""
    from azext_aks_connection.provider.graph import run_or_raise
    current = assignments_of(arm, scope, principal_id) if current is None else current
    present = {rid: granting(current, scope, rid) for _, rid in roles}
    # The missing ones at once (each is a PUT of its own, with a deterministic name: no order between them).
    created = run_or_raise({rid: (lambda name=name, rid=rid: _create_assignment(
        arm, scope, principal_id, name, rid, principal_type=principal_type), ())
        for name, rid in roles if not present[rid]})
    return [(present[rid]["id"], "present") if present[rid] else (created[rid], "created") for _, rid in roles]


def assignment_id(scope, principal_id, rid):
    """The id a role assignment made by this extension gets (deterministic: a re-run never duplicates it)."""
    return f"{scope}{AUTHZ}/roleAssignments/{assignment_name(scope, principal_id, rid)}"


CONFLICT_ATTEMPTS = 4          # a role assignment PUT answered 409 Conflict: tries in all
PRINCIPAL_WAIT = 120.0         # seconds: a new identity can take a while to reach Microsoft Entra replicas
PRINCIPAL_INTERVAL = 1.0       # seconds before the first retry when Azure sends no Retry-After (then growing to 5 s)
_EXISTING_ID = re.compile(r"existing role assignment is ([0-9a-fA-F]{32}|[0-9a-fA-F-]{36})")


def _existing_assignment(arm, scope, principal_id, rid, exc):
    """The id of the assignment a 409 RoleAssignmentExists is about: the one Azure names in the message, else the
    one a listing shows (same scope, principal and role)."""
    found = _EXISTING_ID.search(exc.error.message or "")
    if found:
        return f"{scope}{AUTHZ}/roleAssignments/{uuid.UUID(found.group(1))}"
    guid = rid.rstrip("/").split("/")[-1].lower()
    for a in assignments_of(arm, scope, principal_id):
        props = a.get("properties") or {}
        if props.get("roleDefinitionId", "").lower().endswith("/" + guid) and \
                props.get("scope", "").lower().rstrip("/") == scope.lower().rstrip("/"):
            return a["id"]
    raise arm_error(exc, f"Granting role '{rid}' to principal '{principal_id}' on '{scope}'") from exc


def _create_assignment(arm, scope, principal_id, role_name, rid, *, principal_type):
    from azure.cli.core.profiles import ResourceType, get_sdk
    aid = assignment_id(scope, principal_id, rid)
    create_parameters, properties = get_sdk(arm.cli_ctx, ResourceType.MGMT_AUTHORIZATION,
                                            "RoleAssignmentCreateParameters", "RoleAssignmentProperties", mod="models")
    body = create_parameters(properties=properties(role_definition_id=rid, principal_id=principal_id,
                                                   principal_type=principal_type))

    def attempt(_):
        try:
            sdk_call(arm.cli_ctx, "PUT", aid, _authz(arm, scope).role_assignments.create, scope,
                     aid.rsplit("/", 1)[1], body)
            return aid
        except ArmError as exc:
            if exc.status_code == 409 and exc.error.code == "RoleAssignmentExists":
                return _existing_assignment(arm, scope, principal_id, rid, exc)   # granted meanwhile, another name
            raise

    def kind(exc):
        if not isinstance(exc, ArmError):
            return None
        if exc.error.code == "PrincipalNotFound":
            return "principal"
        # a one-off 409 Conflict (another write on the scope's assignments at the same moment): tried again, a few
        # times (RoleAssignmentExists is an answer, not a conflict: the attempt reads the existing one)
        return "conflict" if exc.status_code == 409 and exc.error.code in ("Conflict", "ConflictError") else None

    try:    # a new identity not in Microsoft Entra's replicas yet: retried for up to PRINCIPAL_WAIT seconds
        return retry.call(attempt, retryable=kind, attempts={"principal": None, "conflict": CONFLICT_ATTEMPTS},
                          seconds=PRINCIPAL_WAIT, backoff=retry.Backoff(first=PRINCIPAL_INTERVAL))
    except ArmError as exc:
        raise arm_error(exc, f"Granting role '{role_name}' to principal '{principal_id}' on '{scope}'") from exc


def delete_role_assignment(arm, rid):
    """delete --cleanup: remove a role assignment this extension made (absent already: fine)."""
    try:
        sdk_call(arm.cli_ctx, "DELETE", rid, _authz(arm, rid).role_assignments.delete_by_id, rid)
    except ArmError as exc:
        if exc.status_code != 404:
            raise arm_error(exc, f"Deleting roleAssignment {rid}") from exc


KV_READ_PERMISSIONS = {"secrets": ["get"], "keys": ["get"], "certificates": ["get"]}   # the CSI add-on
# A workload's own identity on an access-policy vault: read and list what it holds (the RBAC counterpart of
# the default roles).
KV_APP_PERMISSIONS = {"secrets": ["get", "list"], "keys": ["get", "list"], "certificates": ["get", "list"]}


def vault_policy_present(vault, object_id, permissions):
    """The vault has an access policy for ``object_id`` allowing at least ``permissions``."""
    for policy in (vault.get("properties") or {}).get("accessPolicies") or []:
        if (policy.get("objectId") or "").lower() != object_id.lower():
            continue
        have = {k: {p.lower() for p in v or []} for k, v in (policy.get("permissions") or {}).items()}
        if all(set(want) <= have.get(kind, set()) or "all" in have.get(kind, set())
               for kind, want in permissions.items()):
            return True
    return False


def _vaults(arm, vault_id):
    """azure-mgmt-keyvault's vault operations for the subscription of ``vault_id``."""
    from azext_aks_connection._client_factory import cf_keyvault
    return cf_keyvault(arm.cli_ctx, vault_id.split("/")[2]).vaults


def _update_access_policy(arm, vault_id, kind, policy):
    """``PUT {vault}/accessPolicies/{kind}`` (add / remove) of one policy, through azure-mgmt-keyvault (at its
    api-version): Key Vault merges it into, or takes it out of, the vault's list on its side."""
    parts = vault_id.split("/")
    sdk_call(arm.cli_ctx, "PUT", f"{vault_id}/accessPolicies/{kind}", _vaults(arm, vault_id).update_access_policy,
             parts[4], parts[-1], kind, {"properties": {"accessPolicies": [policy]}})


# pylint: disable-next=unused-argument  # api_version: the vault's read is the target's; the write is the SDK's
def ensure_vault_access_policy(arm, vault, api_version, tenant_id, object_id, *, permissions=None):
    """Access-policy vaults: add a policy for the principal unless one already allows at least ``permissions``.
    Returns "created" | "present"."""
    permissions = permissions or KV_READ_PERMISSIONS
    if vault_policy_present(vault, object_id, permissions):
        return "present"
    try:
        _update_access_policy(arm, vault["id"], "add",
                              {"tenantId": tenant_id, "objectId": object_id, "permissions": permissions})
    except ArmError as exc:
        raise arm_error(exc, f"Adding an access policy for '{object_id}' to key vault '{vault['name']}'") from exc
    return "created"


def remove_vault_access_policy(arm, vault_id, object_id, *, tenant_id=None, permissions=None):
    """delete --cleanup: take the access policy of ``object_id`` out of vault ``vault_id`` (the vault gone
    already: fine)."""
    try:
        _update_access_policy(arm, vault_id, "remove",
                              {"tenantId": tenant_id, "objectId": object_id, "permissions": permissions or {}})
    except ArmError as exc:
        if exc.status_code != 404:
            raise arm_error(exc, f"Removing the access policy of '{object_id}' from key vault "
                                 f"'{vault_id.split('/')[-1]}'") from exc


def redis_aad_enabled(cache):
    config = ((cache.get("properties") or {}).get("redisConfiguration") or {})
    return str(config.get("aad-enabled", "")).lower() == "true"


def redis_assignment_id(cache_id, object_id):
    """The id of the access policy assignment this extension makes for ``object_id`` (deterministic)."""
    name = "sc-" + uuid.uuid5(uuid.NAMESPACE_URL, f"{cache_id.lower()}|{object_id.lower()}").hex[:20]
    return f"{cache_id}/accessPolicyAssignments/{name}"


def _redis(arm, cache_id):
    """azure-mgmt-redis's client for the subscription of ``cache_id``, and (resource group, cache name)."""
    from azext_aks_connection._client_factory import cf_redis
    parts = cache_id.split("/")
    return cf_redis(arm.cli_ctx, parts[2]), parts[4], parts[8]


# pylint: disable-next=unused-argument  # api_version: azure-mgmt-redis's own (the target's read is by id)
def list_redis_assignments(arm, cache, api_version=None):
    """The cache's access policy assignments (every page), through azure-mgmt-redis."""
    client, rg, name = _redis(arm, cache["id"])
    try:
        return [rest(a) for a in sdk_call(arm.cli_ctx, "GET", cache["id"] + "/accessPolicyAssignments", list,
                                          client.access_policy_assignment.list(rg, name))]
    except ArmError as exc:
        raise arm_error(exc, f"Listing the access policy assignments of cache '{cache['name']}'") from exc


def redis_assignment_of(assignments, object_id):
    """The assignment of ``assignments`` that admits ``object_id`` (a cache holds one per principal), or None. One
    being deleted, or whose write failed, admits no one: it does not count (create writes it again)."""
    return next((a for a in assignments if ((a.get("properties") or {}).get("objectId") or "").lower()
                 == object_id.lower() and (a.get("properties") or {}).get("provisioningState")
                 not in ("Deleting", "Failed")), None)


# pylint: disable-next=too-many-arguments,unused-argument  # api_version: azure-mgmt-redis's own
def ensure_redis_access(arm, cache, api_version, object_id, policy, *, alias=None, assignments=None):
    """Azure Cache for Redis takes no Azure role for data access: Microsoft Entra authentication on the cache
    (``aad-enabled``) and an access policy assignment for the principal. Returns (assignment id, "created" |
    "present"). A cache holds one assignment per principal: an existing one is kept (its policy named).
    ``assignments``: the cache's assignments as just listed (listed here when not given or after a cache update).
    Both writes are long-running: azure-mgmt-redis's pollers, followed to their end (retry.sdk_polling)."""
    import io
    import json
    from azure.mgmt.redis.models import RedisCacheAccessPolicyAssignment
    from azext_aks_connection.provider.retry import follow, sdk_polling
    cache_id = cache["id"]
    client, rg, name = _redis(arm, cache_id)
    if not redis_aad_enabled(cache):
        what = f"Turning on Microsoft Entra authentication on cache '{cache['name']}'"
        # The PATCH body as bytes: RedisUpdateParameters would also send its defaults (enableNonSslPort,
        # publicNetworkAccess, disableAccessKeyAuthentication), resetting what the cache's owner set.
        body = io.BytesIO(json.dumps({"properties": {"redisConfiguration": {"aad-enabled": "true"}}}).encode())
        try:
            sdk_call(arm.cli_ctx, "PATCH", cache_id, lambda: follow(client.redis.begin_update(
                rg, name, body, content_type="application/json", polling=sdk_polling())))
        except ArmError as exc:
            raise arm_error(exc, what) from exc
        assignments = None                  # after a wait: read again
    if assignments is None:
        assignments = list_redis_assignments(arm, cache)
    found = redis_assignment_of(assignments, object_id)
    if found is not None:
        return found["id"], "present"
    aid = redis_assignment_id(cache_id, object_id)
    model = RedisCacheAccessPolicyAssignment(access_policy_name=policy, object_id=object_id,
                                             object_id_alias=alias or object_id)
    try:
        made = sdk_call(arm.cli_ctx, "PUT", aid, lambda: follow(client.access_policy_assignment.begin_create_update(
            rg, name, aid.rsplit("/", 1)[1], model, polling=sdk_polling())))
    except ArmError as exc:
        raise arm_error(exc, f"Assigning access policy '{policy}' of cache '{cache['name']}' to '{object_id}'") \
            from exc
    # The id as Azure spells it (what a listing shows a re-run), not as built from the cache id given.
    return (rest(made) or {}).get("id") or aid, "created"


def delete_redis_access(arm, rid):
    """delete --cleanup: remove an access policy assignment this extension made (absent already: fine), followed
    to its end."""
    from azext_aks_connection.provider.retry import follow, sdk_polling
    client, rg, name = _redis(arm, rid)
    try:
        sdk_call(arm.cli_ctx, "DELETE", rid, lambda: follow(client.access_policy_assignment.begin_delete(
            rg, name, rid.rsplit("/", 1)[1],
            polling=sdk_polling(lro_options={"final-state-via": "location"}))))
    except ArmError as exc:
        if exc.status_code != 404:
            raise arm_error(exc, f"Deleting access policy assignment '{rid}'") from exc
