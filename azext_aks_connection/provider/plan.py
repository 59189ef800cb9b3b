"""Create a connection: the steps on both planes, independent ones run concurrently.

    cluster GET ──┐                 ┌─ cluster update (OIDC + workload identity | KV add-on), only if off ─┐
    target GET ───┼─ checks ────────┼─ keys (secret auth only) · kube credentials → connection store LIST  │
    identity GET ─┘  (local)        └─ role assignments (WI / SP with object id) ─────────────────────────┤
                                                                                                          │
    federated credential (issuer of the updated cluster) · KV access (add-on identity) ───────────────────┤
    namespace → ServiceAccount (WI) → Secret ──────────────────────────────────────────────────────────────┴─ record

The record (a ConfigMap in the store namespace, provider/store.py) is written last, only once everything else is
in place, so a connection that exists is a connection that works; a failed run leaves no record and re-running it
converges (every step reads first and writes only what differs, under deterministic names). No cluster extension
is installed or written.
"""
import os
from concurrent.futures import ThreadPoolExecutor

from azext_aks_connection import model
from azext_aks_connection import targets as t
from azext_aks_connection._validators import secret_name
from azext_aks_connection.provider import cluster as cluster_ops
from azext_aks_connection.provider import identity as identity_ops
from azext_aks_connection.provider import kube as kube_ops
from azext_aks_connection.provider import linkers
from azext_aks_connection.provider import store as store_ops
from azext_aks_connection.provider import target as target_ops
from azext_aks_connection.provider.arm import Arm
from knack.log import get_logger

logger = get_logger(__name__)


def parallel(**steps):
    """Run independent steps at once; returns {name: result}; re-raises the first failure.

    AKS_CONNECTION_SEQUENTIAL=1 runs them one after the other (bench/ compares the two)."""
    if os.environ.get("AKS_CONNECTION_SEQUENTIAL") == "1":
        return {name: fn() for name, fn in steps.items()}
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        futures = {name: pool.submit(fn) for name, fn in steps.items()}
        return {name: f.result() for name, f in futures.items()}


def _now():
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _caller(cmd):
    try:
        from azure.cli.core._profile import Profile
        return Profile(cli_ctx=cmd.cli_ctx).get_current_account_user()
    except Exception:  # pylint: disable=broad-except
        return None


def configurations(spec, values):
    """[{name, value, credential}] for the spec's auth and client type; --customized-keys renames."""
    return [{"name": spec.customized_keys.get(c["name"], c["name"]), "value": c["value"],
             "credential": c["credential"]}
            for c in t.configurations(spec.target, spec.auth, spec.client_type, values)]


def _tenant(cmd, subscription):
    from azure.cli.core._profile import Profile
    try:
        return Profile(cli_ctx=cmd.cli_ctx).get_subscription(subscription).get("tenantId")
    except Exception:  # pylint: disable=broad-except
        return Profile(cli_ctx=cmd.cli_ctx).get_subscription().get("tenantId")


def _nothing():
    return None


def _or_error(fn, *args, errors=Exception):
    """``fn(*args)``, or the exception (of ``errors``) it raised, for the caller to weigh."""
    try:
        return fn(*args)
    except errors as exc:  # pylint: disable=broad-except
        return exc


def create(cmd, spec, progress, no_wait=False):  # pylint: disable=too-many-locals,too-many-statements,unused-argument
    """Apply the plan for ``spec``; returns (record, provisioning state). Every step is synchronous and short but
    the cluster update, which is waited for: ``no_wait`` changes nothing here."""
    target_sub = spec.target_id.split("/")[2] if spec.target_id.lower().startswith("/subscriptions/") \
        else spec.cluster.subscription        # Confluent Cloud: the target is an endpoint, not an ARM id
    arm = Arm(cmd.cli_ctx, subscription_id=target_sub)
    auth, target = spec.auth, spec.target
    scope = target_ops.resource_id(target, spec.target_id)     # where roles and access policies go
    wi, sp, csi = auth == t.AUTH_WORKLOAD_IDENTITY, auth == t.AUTH_SERVICE_PRINCIPAL, auth == t.AUTH_CSI
    grant = "auth" not in spec.opt_out            # --opt-out auth: no cluster feature, credential, role, policy
    write_config = "configinfo" not in spec.opt_out

    progress("Reading the cluster and the target")
    id_arm = Arm(cmd.cli_ctx, subscription_id=spec.auth_info["identity_id"].split("/")[2]) if wi else None
    role_names = spec.roles or (target.csi_roles if csi else target.roles)
    grants_roles = grant and (wi or (sp and spec.auth_info.get("object_id")) or csi) and role_names
    found = parallel(cluster=lambda: cluster_ops.get_cluster(cmd, spec.cluster),
                     target=lambda: target_ops.get_target(arm, target, spec.target_id),
                     identity=(lambda: _or_error(identity_ops.get_identity, id_arm, spec.auth_info["identity_id"]))
                     if wi else _nothing,
                     roles=(lambda: identity_ops.resolve_roles(arm, scope, role_names)) if grants_roles else _nothing,
                     linker=lambda: _or_error(linkers.get_linker, cmd, spec.cluster, spec.name))
    refuse_shadowing(spec, found["linker"])
    target_ops.refuse_key_auth_disabled(target, found["target"], auth)     # --secret on a target whose keys are off
    if wi:
        # The cluster's own identities are refused by id first: the kubelet one may not be readable.
        given = found["identity"] if isinstance(found["identity"], dict) else {"id": spec.auth_info["identity_id"]}
        identity_ops.refuse_cluster_identity(found["cluster"], given)
        if isinstance(found["identity"], Exception):
            raise found["identity"]
        if grant:       # a federated credential slot is free (or ours exists), before anything is written
            identity_ops.check_fic_slot(id_arm, found["identity"], spec.namespace,
                                        cluster_ops.issuer_of(found["cluster"]))

    progress("Fetching the target's configuration and the cluster's credentials")
    principal = found["identity"]["principal_id"] if wi else spec.auth_info.get("object_id") if sp else None
    # A Key Vault in access-policy mode ignores Azure roles on its data: its principals get an access policy.
    vault_policy = target.csi and not (found["target"].get("properties") or {}).get("enableRbacAuthorization")
    vault_rbac = csi and not vault_policy
    if vault_policy and spec.roles and grant and (csi or principal):
        logger.warning("Key vault '%s' uses access policies, not Azure RBAC: --role is ignored; the identity gets "
                       "an access policy instead.", found["target"].get("name"))
    # Reads first: nothing is written anywhere before every check below has passed.
    store_namespace = store_ops.namespace(cmd.cli_ctx)
    read = parallel(
        values=lambda: target_ops.fetch_values(arm, target, spec.target_id, found["target"],
                                               with_secret=auth == t.AUTH_SECRET),
        kube=lambda: cluster_ops.kube_api(cmd, spec.cluster),
        tenant=lambda: _tenant(cmd, target_sub) if sp or csi else None)
    from azext_aks_connection.provider import kubeaccess    # the API server answers, and we may write what we write
    kubeaccess.check_reachable(read["kube"], spec.cluster, found["cluster"])
    kubeaccess.preflight_create(read["kube"], spec.cluster, found["cluster"], store_namespace, spec.namespace,
                                secret=write_config, service_account=wi)
    store = store_ops.Store.read(read["kube"], store_namespace)
    all_records = store.records
    if spec.must_exist and store.find(spec.name) is None:
        raise store.deleted_error(spec.name)    # an update of a connection deleted meanwhile: nothing written
    refuse_conflicts(spec, all_records)     # before anything is written
    current_secret = None
    if write_config:
        current_secret = kube_ops.read_secret(read["kube"], spec.namespace, secret_name(spec.name))
        kube_ops.refuse_foreign_secret(current_secret, spec.namespace)
    steps = {
        "cluster": lambda: cluster_ops.ensure_features(cmd, spec.cluster, found["cluster"], progress,
                                                       workload_identity=wi and grant, kv_csi=csi and grant),
    }
    if "publicnetwork" not in spec.opt_out and target.firewall:
        steps["firewall"] = lambda: _firewall(cmd, arm, spec, scope, found["cluster"], found["target"], progress)
    if principal and grant and target.data_access_policy:
        steps["access"] = lambda: identity_ops.ensure_redis_access(
            arm, found["target"], target.api_version, principal, target.data_access_policy,
            alias=(found["identity"] or {}).get("name") if wi else None)
    if principal and grant and vault_policy:
        steps["vault_policy"] = lambda: identity_ops.ensure_vault_access_policy(
            arm, found["target"], target.api_version,
            (found["target"].get("properties") or {}).get("tenantId") or read["tenant"] or
            (found["identity"] or {}).get("tenant_id"), principal, identity_ops.KV_APP_PERMISSIONS)
    elif principal and found["roles"]:
        steps["roles"] = lambda: identity_ops.ensure_role_assignments(
            arm, scope, principal, found["roles"],
            principal_type="ServicePrincipal")
    done = dict(read, **parallel(**steps))
    cluster = done["cluster"]

    values = dict(done["values"])
    values.update(spec.auth_info.get("user_values") or {})   # what the user gave (--secret name=… secret=…)
    names = {"secret": secret_name(spec.name)} if write_config else {}
    provisioned = {}
    after = {}
    if wi:
        ident = found["identity"]
        issuer = ((cluster.get("properties") or {}).get("oidcIssuerProfile") or {}).get("issuerURL")
        values.update(client_id=ident["client_id"], tenant_id=ident["tenant_id"])
        spec.auth_info["client_id"] = ident["client_id"]
        names["serviceAccount"] = identity_ops.service_account_name(ident["client_id"])
        if grant:
            after["fic"] = lambda: identity_ops.ensure_federated_credential(id_arm, ident, issuer, spec.namespace)
        provisioned["identity"] = ident["id"]
    elif sp:
        values.update(client_id=spec.auth_info["client_id"], client_secret=spec.auth_info["client_secret"],
                      tenant_id=done["tenant"])
    elif csi:
        addon_identity = cluster_ops.addon(cluster, cluster_ops.KV_ADDON).get("identity") or {}
        if not addon_identity.get("clientId"):
            from azure.cli.core.azclierror import ValidationError
            raise ValidationError(f"The {cluster_ops.KV_ADDON} add-on of AKS cluster '{spec.cluster.name}' is off "
                                  "and --opt-out auth forbids turning it on.",
                                  recommendation="Drop --opt-out auth, or enable the add-on first: az aks "
                                  "enable-addons --addons azure-keyvault-secrets-provider -g <group> -n <cluster>")
        values.update(client_id=addon_identity.get("clientId"), tenant_id=done["tenant"])
        object_id = addon_identity.get("objectId")
        provisioned["identity"] = addon_identity.get("resourceId")
        if not grant:
            pass
        elif vault_rbac:
            after["roles"] = lambda: identity_ops.ensure_role_assignments(arm, scope, object_id, found["roles"])
        else:
            after["access"] = lambda: identity_ops.ensure_vault_access_policy(
                arm, found["target"], target.api_version, done["tenant"], object_id)
    configs = configurations(spec, values)

    def kube_side():
        if not names:
            return                          # --opt-out configinfo, no ServiceAccount: nothing in the cluster
        api = done["kube"]
        progress(f"Writing {' and '.join(sorted(names)) or 'nothing'} in namespace {spec.namespace}")
        kube_ops.ensure_namespace(api, spec.namespace)
        if "serviceAccount" in names:
            ident = found["identity"]
            kube_ops.apply_service_account(api, spec.namespace, names["serviceAccount"],
                                           {"azure.workload.identity/client-id": ident["client_id"],
                                            "azure.workload.identity/tenant-id": ident["tenant_id"]}, spec.id)
        if "secret" in names:
            kube_ops.apply_secret(api, spec.namespace, names["secret"], {c["name"]: c["value"] for c in configs},
                                  spec.id, known=current_secret)
    progress("Granting access and writing the Kubernetes resources")
    finished = parallel(kube=kube_side, **after)
    if "fic" in finished:
        provisioned["federatedCredential"] = finished["fic"][0]
    granted = finished.get("roles") or done.get("roles")
    if granted:
        provisioned["roleAssignments"] = [rid for rid, _ in granted]
    if finished.get("access") or done.get("vault_policy"):
        provisioned["accessPolicy"] = True
    if done.get("access"):
        provisioned["accessPolicyAssignment"] = done["access"][0]

    fw = done.get("firewall") or {}
    admitted = sorted(set(fw.get("added") or []) | set(fw.get("present") or []))
    if admitted:
        provisioned["firewall"] = admitted

    existing = store.find(spec.name)
    # For the caller to name what the connection used before and no longer does (an update's old grants).
    spec.previous = existing
    spec.others = [r for n, r in all_records.items() if n != spec.name]
    record = model.new_record(spec, configs, names, _caller(cmd), _now(), provisioned=provisioned)
    if existing and _same(existing, record):
        return existing, "Succeeded"        # nothing to change: no write at all
    if existing:
        record["systemData"]["createdAt"] = existing.get("systemData", {}).get("createdAt")
        record["systemData"]["createdBy"] = existing.get("systemData", {}).get("createdBy")
    progress(f"Recording the connection in namespace {store_namespace}")
    store.put(record)
    return record, "Succeeded"


def refuse_shadowing(spec, linker):
    """A connection name is unique across both engines: a local connection never shadows a Service Connector one."""
    if not isinstance(linker, dict):
        return          # none of that name, or Service Connector unreadable (not registered: it has none)
    from azure.cli.core.azclierror import InvalidArgumentValueError
    raise InvalidArgumentValueError(
        f"Connection '{linker['name']}' already exists on AKS cluster '{spec.cluster.name}' as a Service Connector "
        "connection: an aks-connection (local) connection of the same name would shadow it.",
        recommendation=f"Choose another --connection name, or update it: az aks connection update "
        f"{spec.target.name} --id {linker['id']} …")


def refuse_conflicts(spec, records):
    """A connection name already used for another target or namespace, or a name that another connection's
    Secret would share (names differing only in case or punctuation: orders_blob, ordersblob, Orders-Blob):
    refused, with the way out, before anything is written."""
    from azure.cli.core.azclierror import InvalidArgumentValueError
    existing = records.get(spec.name)
    if existing:
        have = existing.get("targetService") or {}
        have_target = have.get("id") or have.get("endpoint") or ""
        moved = [what for what, old, new in (
            ("target type", existing.get("target"), spec.target.name),
            ("target", have_target.lower(), (spec.target_id or "").lower()),
            ("namespace", existing.get("scope") or "default", spec.namespace)) if old != new]
        if moved:
            raise InvalidArgumentValueError(
                f"Connection '{spec.name}' already exists and connects {existing.get('target')} "
                f"'{have_target}' in namespace '{existing.get('scope') or 'default'}': create would change its "
                f"{' and '.join(moved)}.",
                recommendation=f"Choose another --connection name, or delete '{spec.name}' first (az aks "
                "connection delete --id " + spec.id + " --yes). To change its auth or client type, use "
                f"'az aks connection update {existing.get('target')} --id {spec.id}'.")
    wanted = secret_name(spec.name)
    for name, record in records.items():
        if name == spec.name:
            continue
        if name.lower() == spec.name.lower():
            raise InvalidArgumentValueError(
                f"Connection '{name}' already exists: connection names are case-insensitive (as in Azure).",
                recommendation=f"Use --connection {name} to change it, or choose another name.")
        if (record.get("scope") or "default") == spec.namespace and \
                (record.get("kubernetesResourceName") or {}).get("secret") == wanted:
            raise InvalidArgumentValueError(
                f"Connection '{name}' in namespace '{spec.namespace}' already writes Secret '{wanted}': "
                f"connection '{spec.name}' would overwrite it (a Secret's name keeps only the lower-cased letters "
                "and digits of the connection name).",
                recommendation=f"Choose a --connection name that differs from '{name}' in its letters or digits.")


def _firewall(cmd, arm, spec, scope, cluster, target_body, progress):
    """Admit the cluster's egress IPs on the target (M-T2), and say what was and was not done."""
    from azext_aks_connection.provider import firewall
    cluster_arm = Arm(cmd.cli_ctx, subscription_id=spec.cluster.subscription)
    ips, note = cluster_ops.egress_ips(cluster_arm, cluster)
    if not ips:
        logger.warning("No firewall rule was added on the %s: %s. If the target restricts networks, allow the "
                       "cluster's egress address yourself, or pass --opt-out publicnetwork to skip this step.",
                       spec.target.display, note)
        return {"added": [], "present": [], "skipped_reason": note}
    progress(f"Admitting the cluster's egress IP(s) {', '.join(ips)} on the {spec.target.display}")
    outcome = firewall.ensure_rules(arm, spec.target, scope, target_body, ips)
    if outcome.get("added"):
        logger.warning("Added firewall rule(s) for %s on the %s.", ", ".join(outcome["added"]), spec.target.display)
    elif outcome.get("skipped_reason"):
        logger.info("Firewall: %s", outcome["skipped_reason"])
    if note:
        logger.warning("Firewall: %s.", note)
    return outcome


def _same(a, b):
    strip = ("systemData",)
    return {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}
