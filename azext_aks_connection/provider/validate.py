"""`az aks connection validate`: compare a connection's end state with what is really there.

The built-in command asks the Service Linker service, which for AKS "always returns success" for what
is inside the cluster (mission M-V1). Ours looks: each check is one function in :data:`CHECKS`,
registered with :func:`check`, which declares the auth types (wire names: ``secret``,
``userAssignedIdentity``, ``servicePrincipalSecret``) and targets (``storage-blob``, ...) it applies
to; None means all; and optionally ``when``, a predicate of the record for finer cases (Key Vault CSI
against workload identity, both ``userAssignedIdentity``; a service principal with an object id). A check
gets a :class:`Context` (the connection record and lazily read, shared facts: the target resource, the
values the target gives now, the Kubernetes Secret, the cluster, the identity) and returns
:func:`ok`, :func:`fail` or :func:`warn`. The identity checks (identity, cluster features, federated
credential, role assignment or access policy, ServiceAccount) are in validate_identity.py, imported near
the end; the firewall check comes last. To add one, write a function here (or in a module imported below)
and decorate it::

    @check("Managed Identity permissions validated.", "The identity has its role on the target.",
           auth_types=("userAssignedIdentity",))
    def role_assignment(ctx):
        ...
        return fail("…", "…fix…", code="RoleAssignmentMissing")

Results follow the built-in's ``validationDetail`` items: ``name``, ``description``, ``result``
(success | failure | warning), ``errorMessage``, ``errorCode``, plus our ``recommendation``. No result
ever carries a credential: a drifted value is named by its key, never shown.
"""
import base64
from collections import namedtuple

from azext_aks_connection.provider import catalogue

SUCCESS, FAILURE, WARNING = "success", "failure", "warning"
SECRET_AUTH_TYPES = ("secret", "servicePrincipalSecret", "userAssignedIdentity")   # those that write a Secret

Check = namedtuple("Check", "name description fn auth_types targets when rank")
Result = namedtuple("Result", "result message recommendation code")
CHECKS = []


def check(name, description, *, auth_types=None, targets=None, when=None, rank=0):
    """Register a check. ``auth_types``/``targets``: the ones it applies to (None: every one); ``when(record)``:
    a further condition (None: always). Checks run by ``rank``, then in the order they were registered."""
    def deco(fn):
        CHECKS.append(Check(name, description, fn, tuple(auth_types) if auth_types else None,
                            tuple(targets) if targets else None, when, rank))
        return fn
    return deco


def ok(message=None):
    return Result(SUCCESS, message, None, None)


def fail(message, recommendation, code=None):
    return Result(FAILURE, message, recommendation, code)


def warn(message, recommendation=None, code=None):
    return Result(WARNING, message, recommendation, code)


class Skip(Exception):
    """Raised by a check that cannot run because a fact it needs is missing (another check reports why)."""


def applicable(record):
    auth = (record.get("authInfo") or {}).get("authType")
    target = record.get("target")
    return sorted((c for c in CHECKS if (c.auth_types is None or auth in c.auth_types)
                   and (c.targets is None or target in c.targets) and (c.when is None or c.when(record))),
                  key=lambda c: c.rank)


def is_csi(record):
    """Key Vault through the AKS add-on's identity (its wire auth type is userAssignedIdentity too)."""
    from azext_aks_connection import targets
    return targets.auth_of(record) == targets.AUTH_CSI


def is_workload_identity(record):
    return (record.get("authInfo") or {}).get("authType") == "userAssignedIdentity" and not is_csi(record)


def writes_secret(record):
    """Every connection writes a Secret, unless created with --opt-out configinfo."""
    return bool((record.get("kubernetesResourceName") or {}).get("secret")) or \
        (record.get("configurationInfo") or {}).get("action") != "optOut"


def cli_auth(record):
    """The auth of the record as a targets.AUTH_* value."""
    from azext_aks_connection import targets
    return targets.auth_of(record)


_UNSET = object()


class Context:  # pylint: disable=too-many-instance-attributes
    """One connection and the facts its checks share, each read once, on first use."""

    def __init__(self, cmd, cluster, record, store=None):
        from azext_aks_connection import targets
        self.cmd = cmd
        self.cluster = cluster
        self.record = record
        self.store = store          # provider/store.py Store the record came from (its API client is reused)
        self.target = targets.TARGETS.get(record.get("target"))
        self.target_id = (record.get("targetService") or {}).get("id")
        self.namespace = record.get("scope") or "default"
        self.secret_name = (record.get("kubernetesResourceName") or {}).get("secret")
        self.ctx = catalogue.Context.of(cluster)
        self._cache = {}

    def _once(self, key, load):
        if key not in self._cache:
            try:
                self._cache[key] = (load(), None)
            except Exception as exc:  # pylint: disable=broad-except
                self._cache[key] = (None, exc)
        value, exc = self._cache[key]
        if exc is not None:
            raise exc
        return value

    @property
    def arm(self):
        from azext_aks_connection.provider.arm import Arm
        # A target that is not an ARM resource (Confluent Cloud: an endpoint) is read in the cluster's subscription.
        sub = self.target_id.split("/")[2] if (self.target_id or "").lower().startswith("/subscriptions/") \
            else self.cluster.subscription
        return self._once("arm", lambda: Arm(self.cmd.cli_ctx, subscription_id=sub))

    def target_resource(self):
        from azext_aks_connection.provider import target as target_ops
        return self._once("target", lambda: target_ops.get_target(self.arm, self.target, self.target_id))

    def target_values(self):
        from azext_aks_connection.provider import target as target_ops
        from azext_aks_connection import targets
        # Identity auth: no keys API call (the Secret holds no key), as at create.
        with_secret = cli_auth(self.record) == targets.AUTH_SECRET
        return self._once("values", lambda: target_ops.fetch_values(self.arm, self.target, self.target_id,
                                                                    self.target_resource(), with_secret))

    @property
    def auth_info(self):
        return self.record.get("authInfo") or {}

    @property
    def provisioned(self):
        return self.record.get("provisioned") or {}

    @property
    def connection_id(self):
        return self.cluster.connection_id(self.record["name"])

    def arm_for(self, subscription):
        from azext_aks_connection.provider.arm import Arm
        return self._once(f"arm:{subscription.lower()}", lambda: Arm(self.cmd.cli_ctx, subscription_id=subscription))

    def cluster_resource(self):
        """The managed cluster as it is now (REST shape)."""
        from azext_aks_connection.provider import cluster as cluster_ops
        return self._once("cluster", lambda: cluster_ops.get_cluster(self.cmd, self.cluster))

    def addon_identity(self):
        """The Key Vault add-on's identity on the cluster now ({clientId, objectId, resourceId}): the one a CSI
        connection uses, as create reads it. While the add-on is off a check that needs it is not checked."""
        from azext_aks_connection.provider import cluster as cluster_ops
        found = cluster_ops.addon_identity(self.cluster_resource())
        if not found.get("objectId"):
            raise Skip(f"the {cluster_ops.KV_ADDON} add-on is off: it has no identity (see the cluster check).")
        return found

    def identity(self):
        """The workload identity ({id, name, client_id, principal_id, tenant_id}); ResourceNotFoundError when gone."""
        from azext_aks_connection.provider import identity as identity_ops
        iid = self.provisioned.get("identity")
        if not iid:
            raise Skip("the connection record does not name its identity (made by an older version: re-apply "
                       f"the connection with '{self.update_command()}').")
        return self._once("identity", lambda: identity_ops.get_identity(self.arm_for(iid.split("/")[2]), iid))

    def kube(self):
        from azext_aks_connection.provider import cluster as cluster_ops
        if self.store is not None:
            return self.store.api
        return self._once("kube", lambda: cluster_ops.kube_api(self.cmd, self.cluster))

    def secret(self):
        """The Secret's data as {key: value} (decoded), or None when it does not exist."""
        def load():
            from azext_aks_connection.provider.kube import ApiException, core_v1
            from azext_aks_connection.provider.errors import kube_error
            try:
                sec = core_v1(self.kube()).read_namespaced_secret(self.secret_name, self.namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise kube_error(exc, f"Reading Secret '{self.secret_name}' in namespace '{self.namespace}'") from exc
            return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (sec.data or {}).items()}
        return self._once("secret", load)

    def _auth_args(self):
        """The auth argument that gives this connection's auth again. What only the user knew (a service
        principal's secret, a database login, Confluent's keys) is kept nowhere but the cluster: a <placeholder>
        stands for it."""
        from azext_aks_connection import targets
        auth = cli_auth(self.record)
        if auth == targets.AUTH_WORKLOAD_IDENTITY:
            return f"--workload-identity {self.provisioned.get('identity') or '<identity resource id>'}"
        if auth == targets.AUTH_SERVICE_PRINCIPAL:
            obj = self.auth_info.get("principalId")
            return (f"--service-principal client-id={self.auth_info.get('clientId')} secret=<client secret>" +
                    (f" object-id={obj}" if obj else ""))
        if auth == targets.AUTH_SECRET and self.target is not None and self.target.user_values:
            own = " ".join(f"{u.option} {_placeholder(u)}" for u in self.target.user_values
                           if u.option != "--secret")
            wanted = [f"{u.key}={_placeholder(u)}" for u in self.target.user_values if u.option == "--secret"]
            return " ".join(p for p in (own, "--secret " + " ".join(wanted) if wanted else "") if p)
        return f"--{auth}"

    def _kept_args(self):
        """Roles, key names and opt-outs of the connection, as arguments (an update carries them over itself)."""
        args = []
        roles = self.auth_info.get("roles") or []
        if roles:
            args += [f"--role '{r}'" if " " in r else f"--role {r}" for r in roles]
        renames = (self.record.get("configurationInfo") or {}).get("customizedKeys") or {}
        if renames:
            args.append("--customized-keys " + " ".join(f"{k}={v}" for k, v in renames.items()))
        opt_out = [o for o, on in (("auth", self.auth_info.get("authMode") == "optOutAllAuth"),
                                   ("publicnetwork", (self.record.get("publicNetworkSolution") or {}).get("action")
                                    == "optOut")) if on]
        if opt_out:
            args.append("--opt-out " + " ".join(opt_out))
        return "".join(" " + a for a in args)

    def _target_arg(self):
        endpoint = (self.record.get("targetService") or {}).get("endpoint")
        if not self.target_id and endpoint:
            return f"--bootstrap-server {endpoint}"     # Confluent Cloud: an endpoint, not an ARM resource
        return f"--target-id {self.target_id}"

    def service_connector_fix(self):
        """A Service Connector connection is re-applied by Service Connector, not by aks-connection (a local create
        of the same name would shadow it)."""
        from azext_aks_connection.provider.linkers import LINKER_API
        return (f"re-apply Service Connector connection '{self.record['name']}' through Service Connector (its "
                "update re-runs sc-job, which rewrites what it made): the portal's Service Connector blade, or "
                f"'az rest --method put --url {self.connection_id}?api-version={LINKER_API} --body @<the "
                "connection's properties>'")

    def create_command(self):
        """The idempotent command that rewrites this connection's Kubernetes resources."""
        if self.record.get("engine") == "service-connector":
            return self.service_connector_fix()
        return (f"az aks connection create {self.record.get('target')} --source-id {self.cluster.id} "
                f"{self._target_arg()} --connection {self.record['name']} --kube-namespace {self.namespace} "
                f"--client-type {self.record.get('clientType') or 'none'} {self._auth_args()}{self._kept_args()}")

    def update_command(self):
        """The idempotent command that re-applies the connection as recorded (roles, opt-outs and key names
        kept): cluster features, identity grants, firewall rules, ServiceAccount and Secret. What only the user
        knew (a service principal's secret, a database password) is not kept anywhere but the cluster: its
        command carries a placeholder."""
        from azext_aks_connection import targets
        if self.record.get("engine") == "service-connector":
            return self.service_connector_fix()
        auth = cli_auth(self.record)
        needs_auth = auth in (targets.AUTH_WORKLOAD_IDENTITY, targets.AUTH_SERVICE_PRINCIPAL) or (
            auth == targets.AUTH_SECRET and self.target is not None and self.target.user_values)
        return (f"az aks connection update {self.record.get('target')} --id {self.connection_id} "
                f"--client-type {self.record.get('clientType') or 'none'}" +
                (f" {self._auth_args()}" if needs_auth else ""))


def _placeholder(user_value):
    """<user>, or @<password-file> for a credential: a file keeps it off the command line (az --debug echoes it)."""
    name = user_value.field.replace("_", "-")
    return f"@<{name}-file>" if user_value.credential else f"<{name}>"


def _error_text(exc):
    return getattr(exc, "error_msg", None) or str(exc)


def _error_fix(exc):
    recs = getattr(exc, "recommendations", None) or []
    return " ".join(recs) or None


def run(cmd, cluster, record, store=None):
    """[validationDetail item] for the connection ``record``."""
    ctx = Context(cmd, cluster, record, store)
    out = []
    for c in applicable(record):
        try:
            res = c.fn(ctx)
        except Skip as exc:
            res = warn(f"Not checked: {exc}")
        except Exception as exc:  # pylint: disable=broad-except
            res = fail(_error_text(exc), _error_fix(exc), type(exc).__name__)
        out.append({"name": c.name, "description": c.description, "result": res.result,
                    "errorMessage": res.message if res.result != SUCCESS else None,
                    "errorCode": res.code, "recommendation": res.recommendation})
    return out


# --------------------------------------------------------------------------- the checks

def _unfinished(record):
    return (record.get("provisioningState") or "Succeeded") != "Succeeded" and record.get("engine") != \
        "service-connector"


@check("Connection state validated.", "The command that made or last changed the connection finished.", rank=-1,
       when=_unfinished)
def connection_state(ctx):
    """A record left Creating / Updating (its command was interrupted) or Failed holds what that command set out
    to do: the fix re-runs it (with the record's own values, the new ones of an interrupted update), never a
    create that would put the old values back."""
    from azext_aks_connection.provider import plan
    state = plan.state_of(ctx.record)
    failure = ctx.record.get("failure") or {}
    why = (f"failed at step {failure.get('step')}: {failure.get('message')}" if state == plan.FAILED else
           f"is {state}: the command changing it did not finish (interrupted), or still runs")
    return fail(f"Connection '{ctx.record['name']}' {why}.",
                f"Finish it (the command makes only what is missing): {ctx.update_command()}", "ConnectionUnfinished")


@check("Target resource existence validated.", "The target resource of the connection exists and can be read.")
def target_exists(ctx):
    if ctx.target is None:
        return warn(f"Target type '{ctx.record.get('target')}' is not known to this version of the extension.",
                    "Update the aks-connection extension (az extension update -n aks-connection).", "UnknownTarget")
    from azure.cli.core.azclierror import ResourceNotFoundError
    try:
        ctx.target_resource()
    except ResourceNotFoundError:
        return fail(f"The target '{ctx.target_id}' does not exist (any more).",
                    "Re-create the target, or delete the connection with 'az aks connection delete --id "
                    f"{ctx.cluster.connection_id(ctx.record['name'])}'.", "TargetNotFound")
    return ok()


@check("Kubernetes Secret existence validated.",
       "The Kubernetes Secret that holds the connection's configuration exists in the connection's namespace.",
       auth_types=SECRET_AUTH_TYPES, when=writes_secret)
def secret_exists(ctx):
    if not ctx.secret_name:
        return fail("The connection record names no Kubernetes Secret.", f"Re-create it: {ctx.create_command()}",
                    "SecretNotRecorded")
    if ctx.secret() is None:
        return fail(f"Secret '{ctx.secret_name}' does not exist in namespace '{ctx.namespace}': workloads that use "
                    "it cannot start or cannot connect.",
                    f"Write it again (the command changes nothing else): {ctx.create_command()}", "SecretNotFound")
    return ok()


def _expected_values(ctx, values):
    """{Secret key: expected value, or _UNSET when only its presence can be checked} for the record's
    auth and client type. A key is computed again from what the target gives now when every field it reads
    is known; a key that reads what only the user knew (a database login, a service principal's secret, a
    tenant) is compared with the value the connection recorded, or, for a credential (never recorded),
    checked for presence only. --customized-keys renames are followed; --opt-out configinfo keys are absent. The
    client id of a CSI connection is the Key Vault add-on identity's now (what create writes; not checked while
    the add-on is off)."""
    from azext_aks_connection import targets
    auth = cli_auth(ctx.record)
    renames = (ctx.record.get("configurationInfo") or {}).get("customizedKeys") or {}
    recorded = {c.get("name"): c for c in ctx.record.get("configurations") or []}
    known = dict(values)
    if is_csi(ctx.record):
        known["client_id"] = ctx.addon_identity().get("clientId")     # what create writes: the add-on's, now
    elif ctx.auth_info.get("clientId"):
        known["client_id"] = ctx.auth_info["clientId"]
    expected = {}
    for k in ctx.target.keys_for(auth, ctx.record.get("clientType") or "none"):
        name = renames.get(k.key, k.key)
        if recorded and name not in recorded:
            continue
        if all(f in known for f in targets.fields_of(k.field)):
            expected[name] = targets.config_value(k, known)
        elif not k.credential and (recorded.get(name) or {}).get("value"):
            expected[name] = recorded[name]["value"]
        else:
            expected[name] = _UNSET
    return expected


@check("Configured connection information validated.",
       "The Secret holds the configuration keys of the connection, with the values the target gives now.",
       auth_types=SECRET_AUTH_TYPES, when=writes_secret)
def secret_values(ctx):
    data = ctx.secret() if ctx.secret_name else None
    if data is None:
        raise Skip("the Secret cannot be read (see the Secret check).")
    if ctx.target is None:
        raise Skip("the target type is unknown.")
    from azure.cli.core.azclierror import ResourceNotFoundError
    try:
        values = ctx.target_values()
    except ResourceNotFoundError as exc:
        raise Skip("the target cannot be read (see the target check).") from exc
    expected = _expected_values(ctx, values)
    missing = sorted(k for k in expected if k not in data)
    drifted = sorted(k for k, v in expected.items() if k in data and v is not _UNSET and data[k] != v)
    empty = sorted(k for k, v in expected.items() if k in data and v is _UNSET and not data[k])
    extra = sorted(k for k in data if k not in expected)
    fix = f"Write the current values again (the command changes nothing else): {ctx.create_command()}"
    problems = []
    if missing:
        problems.append(f"Secret '{ctx.secret_name}' lacks key(s) {', '.join(missing)}")
    if drifted:
        problems.append(f"the value of {', '.join(drifted)} in Secret '{ctx.secret_name}' differs from what the target "
                        "gives now (the Secret was edited, or the target's key was rotated)")
    if empty:
        problems.append(f"{', '.join(empty)} in Secret '{ctx.secret_name}' is empty")
    if problems:
        text = "; ".join(problems)
        return fail(text[0].upper() + text[1:] + ".", fix, "ConfigurationDrift")
    if extra:
        return warn(f"Secret '{ctx.secret_name}' also holds key(s) this connection does not write: {', '.join(extra)}.",
                    "Nothing to do if you added them; a re-run of the create command removes them.", "ExtraKeys")
    return ok()


# The identity checks (identity, cluster features, federated credential, permissions, ServiceAccount) come next.
from azext_aks_connection.provider import validate_identity  # noqa: E402,F401  pylint: disable=C0413,W0611,R0401


def _firewall_applies(record):
    from azext_aks_connection import targets
    target = targets.TARGETS.get(record.get("target"))
    return target is not None and bool(target.resource_type) and \
        (record.get("publicNetworkSolution") or {}).get("action") != "optOut"


@check("Target service firewall validated.",
       "The target's IP firewall admits the cluster's current egress IP(s) (skipped with --opt-out publicnetwork).",
       when=_firewall_applies, rank=1)
def target_firewall(ctx):
    from azure.cli.core.azclierror import ResourceNotFoundError
    from azext_aks_connection.provider import cluster as cluster_ops
    from azext_aks_connection.provider import firewall
    from azext_aks_connection.provider import target as target_ops
    try:
        body = ctx.target_resource()
    except ResourceNotFoundError as exc:
        raise Skip("the target cannot be read (see the target check).") from exc
    ips, note = cluster_ops.egress_ips(ctx.arm_for(ctx.cluster.subscription), ctx.cluster_resource())
    ips = [ip for ip in ips if ":" not in ip]
    rid = target_ops.resource_id(ctx.target, ctx.target_id)
    name = body.get("name") or rid.split("/")[-1]
    found = firewall.admits(ctx.arm, ctx.target, rid, body, ips)
    if found["state"] == firewall.OPEN:
        return ok(f"The {ctx.target.display} admits all networks ({found['reason']}).")
    if found["state"] == firewall.NO_RULES:
        return warn(f"Not checked: {found['reason']}", None, "NoIpRules")
    if found["state"] == firewall.CLOSED:
        return warn(f"Not checked: {found['reason']}", None, "PublicAccessDisabled")
    if not ips:
        return warn(f"Not checked: the egress IP of AKS cluster '{ctx.cluster.name}' is not known ({note}).",
                    f"Make sure the {ctx.target.display} '{name}' admits the address the cluster's traffic leaves "
                    "from (your firewall's or NVA's public IP).", "EgressUnknown")
    missing = found["missing"]
    if not missing:
        return ok()
    stale = sorted(set(ctx.provisioned.get("firewall") or []) - set(ips))
    text = (f"The {ctx.target.display} '{name}' does not admit the cluster's egress IP(s) {', '.join(missing)}: "
            "connections from the cluster are refused.")
    if stale:
        text += (f" The rule(s) this connection added for {', '.join(stale)} are stale: AKS cluster "
                 f"'{ctx.cluster.name}' no longer sends traffic from there (its egress changed).")
    rules = [firewall.rule_command(ctx.target, rid, ip, body) for ip in missing]
    by_hand = " && ".join(r for r in rules if r) if all(rules) else None
    from azext_aks_connection import targets
    if cli_auth(ctx.record) == targets.AUTH_SERVICE_PRINCIPAL and by_hand:
        fix = (f"Admit {'it' if len(missing) == 1 else 'them'}: {by_hand}; or re-apply the connection "
               f"(it adds what is missing): {ctx.update_command()}")
    else:
        fix = f"Re-apply the connection (it adds the missing rule, nothing else): {ctx.update_command()}" + \
            (f"; or add the rule yourself: {by_hand}" if by_hand else "")
    return fail(text, fix, "FirewallRuleStale" if stale else "FirewallRuleMissing")
