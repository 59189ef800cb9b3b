# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""`az aks connection validate`: the connection's plan, read as recorded, and each step's explain().

The built-in command asks the Service Linker service, which for AKS "always returns success" for what is inside
the cluster (mission M-V1). Ours reads the plan of the connection as its record describes it (``Plan`` with the
record: the reads only, no access review, nothing refused) and reports, per step, the rows its ``explain()`` makes
from its own diff — the diff ``--dry-run`` prints. A step fails (or warns) exactly when its diff is not empty, so
validate and --dry-run cannot disagree. Beside the steps, three readers that write nothing: the connection's state
(an unfinished command), the target (it exists), and the workload identity (it exists, with the client id the
connection uses: auth/workload_identity.py).

Rows follow the built-in's ``validationDetail`` items: ``name``, ``description``, ``result`` (success | failure |
warning), ``errorMessage``, ``errorCode``, plus our ``recommendation``. No row ever carries a credential: a drifted
value is named by its key, never shown.
"""
from azext_aks_connection import model
from azext_aks_connection import targets as t
from azext_aks_connection.provider.steps import UNKNOWN
from azext_aks_connection.provider.steps.base import SUCCESS, Check, fail, ok, row_of_error, warn

STATE = Check("Connection state", "The command that made or last changed the connection finished.")
TARGET = Check("Target resource", "The target resource of the connection exists and can be read.")
# The order rows are printed in (each step's rows, wherever the step is in the plan).
ORDER = [STATE.name, TARGET.name, "Kubernetes Secret",
         "Configuration values", "User-assigned identity",
         "Cluster features", "Federated identity credential", "Identity permissions",
         "Kubernetes ServiceAccount", "Target firewall"]


class Fixes:
    """The commands validate's fixes name: the idempotent create or update that re-applies this connection as
    recorded (roles, key names and opt-outs kept). What only the user knew (a service principal's secret, a
    database password) is kept nowhere but the cluster: its command carries a placeholder."""

    def __init__(self, cluster, record, target):
        self.cluster, self.record, self.target = cluster, record, target
        self.auth = t.auth_of(record)
        self.info = record.get("authInfo") or {}
        self.connection_id = cluster.connection_id(record["name"])

    def _auth_args(self):
        from azext_aks_connection.auth import AUTH_CLASSES
        return AUTH_CLASSES[self.auth].fix_args(self.target, self.record)

    def _kept_args(self):
        args = [f"--role '{r}'" if " " in r else f"--role {r}" for r in self.info.get("roles") or []]
        renames = (self.record.get("configurationInfo") or {}).get("customizedKeys") or {}
        if renames:
            args.append("--customized-keys " + " ".join(f"{k}={v}" for k, v in renames.items()))
        opt_out = [o for o in model.opt_out_of_record(self.record) if o != "configinfo"]
        if opt_out:
            args.append("--opt-out " + " ".join(opt_out))
        return "".join(" " + a for a in args)

    def _target_arg(self):
        service = self.record.get("targetService") or {}
        if not service.get("id") and service.get("endpoint"):
            return f"--bootstrap-server {service['endpoint']}"     # Confluent Cloud: an endpoint, not an ARM resource
        return f"--target-id {service.get('id')}"

    def create_command(self):
        """The idempotent command that rewrites this connection's Kubernetes resources. A Service Connector
        connection is re-applied through Service Connector (a local create of the same name would shadow it): its
        update command goes through the resource provider, which re-runs sc-job."""
        if self.record.get("engine") == "service-connector":
            return self.update_command()
        return (f"az aks connection create {self.record.get('target')} --source-id {self.cluster.id} "
                f"{self._target_arg()} --connection {self.record['name']} --kube-namespace "
                f"{self.record.get('scope') or 'default'} --client-type {self.record.get('clientType') or 'none'} "
                f"{self._auth_args()}{self._kept_args()}")

    def update_command(self):
        """The idempotent command that re-applies the connection as recorded: cluster features, identity grants,
        firewall rules, ServiceAccount and Secret."""
        needs_auth = self.auth in (t.AUTH_WORKLOAD_IDENTITY, t.AUTH_SERVICE_PRINCIPAL) or (
            self.auth == t.AUTH_SECRET and self.target is not None and self.target.user_values)
        command = (f"az aks connection update {self.record.get('target')} --id {self.connection_id} "
                   f"--client-type {self.record.get('clientType') or 'none'}" +
                   (f" {self._auth_args()}" if needs_auth else ""))
        if self.record.get("engine") == "service-connector":
            return f"re-apply it through Service Connector (this update goes through its resource provider): {command}"
        return command


def spec_of_record(cluster, record, target):
    """The ConnectionSpec a record describes (what only the user knew: unknown)."""
    from azext_aks_connection import auth
    service = record.get("targetService") or {}
    kind, info = auth.of_record(target, record, validating=True)
    spec = model.ConnectionSpec(
        cluster, record["name"], target, service.get("id") or service.get("endpoint"), kind,
        record.get("clientType") or "none", record.get("scope") or "default", auth_info=info,
        roles=(record.get("authInfo") or {}).get("roles"),
        customized_keys=(record.get("configurationInfo") or {}).get("customizedKeys"),
        opt_out=model.opt_out_of_record(record))
    spec.engine = record.get("engine") or "local"
    return spec


def _state_row(record, fix):
    """A record left Creating / Updating (its command was interrupted) or Failed holds what that command set out
    to do: the fix re-runs it (with the record's own values), never a create that would put the old values back."""
    from azext_aks_connection.provider import record as records
    state = records.state_of(record)
    if state == records.SUCCEEDED or record.get("engine") == "service-connector":
        return None
    failure = record.get("failure") or {}
    why = (f"failed at step {failure.get('step')}: {failure.get('message')}" if state == records.FAILED else
           f"is {state}: the command changing it did not finish (interrupted), or still runs")
    return fail(f"Connection '{record['name']}' {why}.",
                f"Finish it (the command makes only what is missing): {fix.update_command()}", "ConnectionUnfinished")


def _target_row(plan, record):
    from azure.cli.core.azclierror import ResourceNotFoundError
    error = plan.errors.get("target")
    if isinstance(error, ResourceNotFoundError):
        target_id = (record.get("targetService") or {}).get("id")
        return fail(f"The target '{target_id}' does not exist (any more).",
                    f"Re-create the target, or delete the connection with 'az aks connection delete --id "
                    f"{plan.spec.id}'.", "TargetNotFound")
    return row_of_error(error) if error is not None else ok()


def _as_output(check, row):
    return {"name": check.name, "description": check.description, "result": row.result,
            "errorMessage": row.message if row.result != SUCCESS else None, "errorCode": row.code,
            "recommendation": row.recommendation}


def run(cmd, cluster, record, store=None):
    """[validationDetail item] for the connection ``record``."""
    from azext_aks_connection.provider.plan import Plan
    target = t.TARGETS.get(record.get("target"))
    fix = Fixes(cluster, record, target)
    rows = []
    state = _state_row(record, fix)
    if state is not None:
        rows.append((STATE, state))
    if target is None:
        return [_as_output(c, r) for c, r in rows + [(TARGET, warn(
            f"Target type '{record.get('target')}' is not known to this version of the extension.",
            "Update the aks-connection extension (az extension update -n aks-connection).", "UnknownTarget"))]]
    plan = Plan(cmd, spec_of_record(cluster, record, target), lambda *_: None, record=record, store=store)
    plan.fix = fix
    plan.read()
    found = plan.found.get("identity")
    if isinstance(found, dict) and not (record.get("provisioned") or {}).get("identity"):
        # found by its client id (a Service Connector connection): the fixes name it
        fix.record = dict(record, provisioned=dict(record.get("provisioned") or {}, identity=found["id"]))
    rows.append((TARGET, _target_row(plan, record)))
    if hasattr(plan.auth, "explain_identity"):
        rows += plan.auth.explain_identity()
    for step in plan.steps:
        rows += step.explain()
    rows.sort(key=lambda pair: ORDER.index(pair[0].name) if pair[0].name in ORDER else len(ORDER))
    return [_as_output(c, r) for c, r in rows]


def recorded_configurations(plan):
    """validate: the keys of the record's auth and client type (those it recorded), each computed again from
    what the target gives now where every field it reads is known; else the value recorded (never a
    credential); else UNKNOWN (only its presence is checked). --customized-keys renames are followed."""
    recorded = {c.get("name"): c for c in plan.record.get("configurations") or []}
    known = dict(plan.found.get("values") or {})
    known["client_id"] = plan.auth.client_id()
    out = []
    for k in plan.target.keys_for(plan.spec.auth, plan.spec.client_type or "none"):
        name = plan.spec.customized_keys.get(k.key, k.key)
        if recorded and name not in recorded:
            continue
        if all(known.get(f) is not None for f in t.fields_of(k.field)):
            value = t.config_value(k, known)
        elif not k.credential and (recorded.get(name) or {}).get("value"):
            value = recorded[name]["value"]
        else:
            value = UNKNOWN
        out.append({"name": name, "value": value, "credential": k.credential})
    return out
