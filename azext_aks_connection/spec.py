# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Arguments -> ConnectionSpec: every check a create or update makes before any request (the auth types' own
argument parsing is theirs: auth/)."""
import re

from azure.cli.core.azclierror import (InvalidArgumentValueError, MutuallyExclusiveArgumentError,
                                       RequiredArgumentMissingError)
from knack.log import get_logger

from azext_aks_connection import targets as t
from azext_aks_connection.model import opt_out_of_record
from azext_aks_connection._validators import read_file_value
from azext_aks_connection.auth import secret, service_principal, workload_identity

logger = get_logger(__name__)


def option_values(target, given):
    """The target's user values that have options of their own (--server, --kafka-key, …): all required."""
    values, missing = {}, []
    for u in target.user_values:
        if u.option == "--secret":
            continue
        value = given.get("user_" + u.field)
        if not value:
            missing.append(u.option)
            continue
        values[u.field] = read_file_value(value, u.option) if u.credential else value
    if missing:
        raise RequiredArgumentMissingError("Required argument is missing: " + ", ".join(missing) + ".",
                                           recommendation=f"{target.display} needs " + ", ".join(
                                               u.option for u in target.user_values if u.option != "--secret"))
    return values


def default_name(target, target_id, namespace, auth):
    """The connection's name when --connection is not given: deterministic (target type, target resource,
    namespace, auth type), so a pipeline that re-runs the same create converges on one connection (the built-in's
    random suffix makes a second connection and a second Secret on every run). Lower-case letters, digits and '_':
    valid for both engines. Over 60 characters: shortened, with a hash of the whole."""
    import hashlib
    short = {t.AUTH_SECRET: "secret", t.AUTH_WORKLOAD_IDENTITY: "wi", t.AUTH_SERVICE_PRINCIPAL: "sp",
             t.AUTH_CSI: "csi"}[auth]
    resource = (target_id or "").rstrip("/").split("/")
    # the resource's own name: the segment after the resource type (storageAccounts/<name>/blobServices/default)
    name = resource[8] if len(resource) > 8 and (target_id or "").lower().startswith("/subscriptions/") \
        else resource[-1].split(":")[0]
    full = re.sub(r"[^a-z0-9]+", "_", f"{target.wire_name}_{name}_{namespace}_{short}".lower()).strip("_")
    if len(full) <= 60:
        return full
    digest = hashlib.sha256(full.encode("utf-8")).hexdigest()[:8]
    return full[:51].rstrip("_") + "_" + digest


def with_option_values(target, auth, auth_info, user_args):
    """--secret of a target whose values the user gives: those given as options of their own added."""
    if auth == t.AUTH_SECRET and target.user_values:
        return dict(auth_info, user_values=dict(auth_info.get("user_values") or {},
                                                **option_values(target, user_args)))
    return auth_info


def auth_from_args(target, secret_auth_info=None, workload_identity_auth_info=None,
                   service_principal_auth_info=None, enable_csi=None):
    """(auth type, auth details) from the arguments: exactly one auth type, the default when none."""
    given = []
    if secret_auth_info is not None:
        wanted = [u for u in target.user_values if u.option == "--secret"]
        if secret_auth_info and not wanted:
            raise InvalidArgumentValueError(
                f"{target.display} takes its secret from the target itself: use --secret with no values.",
                recommendation="For example: --secret")
        given.append((t.AUTH_SECRET, {"user_values": secret.parse_args(wanted, secret_auth_info)}
                      if wanted else {}))
    if workload_identity_auth_info is not None:
        if not workload_identity.IDENTITY_ID.match(workload_identity_auth_info):
            raise InvalidArgumentValueError(
                f"Invalid user identity resource ID: '{workload_identity_auth_info}'.",
                recommendation="Pass the full resource id of a user-assigned identity to --workload-identity; list "
                "yours with: az identity list --query \"[].id\" -o tsv")
        given.append((t.AUTH_WORKLOAD_IDENTITY, {"identity_id": workload_identity_auth_info}))
    if service_principal_auth_info is not None:
        given.append((t.AUTH_SERVICE_PRINCIPAL, service_principal.parse_args(service_principal_auth_info)))
    if enable_csi:
        if given:
            raise MutuallyExclusiveArgumentError(
                "--enable-csi uses the managed identity of the AKS azureKeyvaultSecretsProvider add-on: it takes no "
                "other auth argument (" + ", ".join("--" + a for a, _ in given) + " given).",
                recommendation="Drop " + ", ".join("--" + a for a, _ in given) + ", or drop --enable-csi to connect "
                "with that auth type instead.")
        return t.AUTH_CSI, {}
    if len(given) > 1:
        raise MutuallyExclusiveArgumentError(
            "Use one auth type: " + ", ".join("--" + a for a, _ in given) + " were given.")
    if given:
        return given[0]
    default = t.default_auth_type(target)
    if default is None:
        secret_usage = " ".join(f"{u.key}=XX" for u in target.user_values if u.option == "--secret")
        options = [f"--{a}" + (f" {secret_usage}" if a == t.AUTH_SECRET and secret_usage else "")
                   for a in t.offered_auth_types(target)] + (["--enable-csi"] if target.csi else [])
        raise RequiredArgumentMissingError(
            f"Auth info is not specified: {target.display} needs one of " + ", ".join(options) + ".",
            recommendation="For example: --workload-identity <user-assigned identity resource id>"
            if t.AUTH_WORKLOAD_IDENTITY in options[0] else "Pass " + options[0])
    if not target.user_values:
        logger.warning("Auth info is not specified, use default one: --%s", default)
    return default, {}


def _customized_keys(target, auth, client_type, values):
    """ORIGINAL=NEW ... -> {ORIGINAL: NEW}; ORIGINAL must be a key of this auth and client type."""
    if not values:
        return None
    known = [k.key for k in target.keys_for(auth, client_type)]
    mapping = {}
    for item in values:
        original, sep, new = item.partition("=")
        if not sep or not original or not new:
            raise InvalidArgumentValueError(f"Invalid value for --customized-keys: '{item}'. Usage: "
                                            "--customized-keys ORIGINAL=NEW ...",
                                            recommendation="For example: --customized-keys "
                                            f"{known[0] if known else 'AZURE_X'}=MY_X")
        if original in mapping:
            raise InvalidArgumentValueError(
                f"--customized-keys: '{original}' is renamed twice ({original}={mapping[original]} and {item}).",
                recommendation=f"Give one name: --customized-keys {original}={new}")
        if original not in known:
            raise InvalidArgumentValueError(
                f"--customized-keys: '{original}' is not a configuration key of this connection.",
                recommendation="Keys of this auth and client type: " + ", ".join(known))
        if not SECRET_KEY.match(new):
            raise InvalidArgumentValueError(
                f"--customized-keys: '{new}' cannot be a Kubernetes Secret key: use letters, digits, '-', '_' "
                "or '.'.")
        mapping[original] = new
    names = [mapping.get(k, k) for k in known]
    if len(set(names)) != len(names):
        raise InvalidArgumentValueError("--customized-keys: two configuration keys would get the same name.")
    return mapping


SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


def build_spec(target, cluster_ref, connection_name, tid, client_type, *, scope, auth, auth_info, roles,
               customized_keys, opt_out_list):
    """The checks every create and update makes before any request, then the ConnectionSpec."""
    from azext_aks_connection.model import ConnectionSpec
    if client_type not in target.client_types:
        raise InvalidArgumentValueError(f"Client type '{client_type}' is not supported for {target.name}.",
                                        recommendation="Use one of: " + ", ".join(target.client_types))
    if any(not (r or "").strip() for r in roles or []):
        example = (target.roles or ["Reader"])[0]
        raise InvalidArgumentValueError("--role is empty: name a role, or leave --role out for the target's default "
                                        "roles.", recommendation=f"For example: --role \"{example}\"")
    roles = [r.strip() for r in roles or []] or None
    opt_out = set(opt_out_list or []) - {"none"}
    if roles and auth == t.AUTH_SECRET:
        raise InvalidArgumentValueError("--role applies to identity auth only (--workload-identity, "
                                        "--service-principal, --enable-csi), not to --secret.")
    if roles and "auth" in opt_out:
        raise MutuallyExclusiveArgumentError("--role grants a role, --opt-out auth skips granting: use one.")
    if auth == t.AUTH_SERVICE_PRINCIPAL and roles and not auth_info.get("object_id"):
        raise RequiredArgumentMissingError("--role needs the service principal's object-id to grant the role to.",
                                           recommendation="Add object-id=<object id> to --service-principal.")
    keys = _customized_keys(target, auth, client_type, customized_keys)
    if auth == t.AUTH_SERVICE_PRINCIPAL and not auth_info.get("object_id") and target.roles \
            and "auth" not in opt_out:
        from azext_aks_connection.provider.target import resource_id
        logger.warning("--service-principal has no object-id: no role is granted on the target. Grant one with: "
                       "az role assignment create --assignee-object-id <object id> --assignee-principal-type "
                       "ServicePrincipal --role \"%s\" --scope %s", target.roles[0], resource_id(target, tid))
    return ConnectionSpec(cluster_ref, connection_name, target, tid, auth, client_type, scope,
                          auth_info=auth_info, roles=roles, customized_keys=keys, opt_out=opt_out)


def carried_over(target, record, auth, auth_info, *, client_type, customized_keys, opt_out_list, roles):
    """update: (key renames, opt-outs, roles), the connection's own carried over where the update gives none."""
    keys = customized_keys
    old_keys = (record.get("configurationInfo") or {}).get("customizedKeys") or {}
    if keys is None and old_keys:
        # Carry the renames over, as the built-in does, for the keys the new auth and client type still have.
        known = {k.key for k in target.keys_for(auth, client_type)}
        keys = [f"{k}={v}" for k, v in old_keys.items() if k in known]
        dropped = sorted(set(old_keys) - known)
        if dropped:
            logger.warning("--customized-keys of %s no longer apply (not keys of this auth and client type).",
                           ", ".join(dropped))
    # The connection's opt-outs stay unless 'none' clears them: an update about something else must not grant
    # what the user opted out of.
    if opt_out_list and "none" in opt_out_list:
        opt_out = [o for o in opt_out_list if o != "none"]
    else:
        opt_out = sorted(set(opt_out_of_record(record)) | set(opt_out_list or []))
    if roles is None and auth != t.AUTH_SECRET and "auth" not in opt_out:
        # Carry the connection's roles over where they can be granted (a service principal without its
        # object id gets none, with the warning that says how).
        if not (auth == t.AUTH_SERVICE_PRINCIPAL and not auth_info.get("object_id")):
            roles = (record.get("authInfo") or {}).get("roles")
    return keys, opt_out, roles
