# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""What create refuses before anything is written, from the records and objects its reads found: a name that
would shadow a Service Connector connection, change another connection, share its Secret, or a connection another
command is changing now; a target firewall no rule of ours can open."""
from knack.log import get_logger

from azext_aks_connection._validators import secret_name
from azext_aks_connection.provider import store as store_ops
from azext_aks_connection.provider.record import CREATING, UPDATING, now, state_of

logger = get_logger(__name__)


def refuse_shadowing(spec, linker):
    """A connection name is unique across both engines: a local connection never shadows a Service Connector one."""
    from azure.cli.core.azclierror import AzCLIError
    if isinstance(linker, AzCLIError):
        raise linker    # an answer that tells nothing (arm.malformed): the check cannot be skipped on it
    if not isinstance(linker, dict):
        return          # none of that name, or Service Connector unreadable (not registered: it has none)
    from azure.cli.core.azclierror import InvalidArgumentValueError
    raise InvalidArgumentValueError(
        f"Connection '{linker['name']}' already exists on AKS cluster '{spec.cluster.name}' as a Service Connector "
        "connection: an aks-connection (local) connection of the same name would shadow it.",
        recommendation=f"Choose another --connection name, or update it: az aks connection update "
        f"{spec.target.name} --id {linker['id']} …")


def refuse_shared_secret(spec, secret, store):
    """The Secret the connection writes exists and another connection of this cluster that still exists wrote it
    (names differing only in case or punctuation share it: orders_blob, ordersblob): refused before anything is
    written. The Secret's connection-id annotation names its writer, whose record is read then (one GET), so a create
    reads no other record."""
    if secret is None:
        return
    owner = ((secret.metadata.annotations or {}).get("aks-connection/connection-id") or "")
    base = spec.cluster.id.lower() + "/providers/microsoft.servicelinker/linkers/"
    if not owner.lower().startswith(base) or owner.lower() == spec.id.lower():
        return
    other = store.record_of(owner[len(base):])
    if other is not None and other["name"].lower() != spec.name.lower():
        refuse_conflicts(spec, {other["name"]: other})


def refuse_conflicts(spec, records):
    """A connection name already used for another target or namespace, or a name that another connection's
    Secret would share (names differing only in case or punctuation: orders_blob, ordersblob, Orders-Blob):
    refused, with the way out, before anything is written. ``records``: the ones read (a create reads its own
    only: ``refuse_shared_secret`` finds the other writer of its Secret)."""
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


def refuse_leased(existing, take_over=False):
    """Another command is changing this connection (its record is Creating/Updating under a lease that has not run
    out): refused before anything is written. Taken over at once when that command was a process of this machine
    that has ended (killed: nobody renews the lease); ``take_over`` (--break-lease): taken over whatever holds it."""
    if state_of(existing) not in (CREATING, UPDATING):
        return
    from azext_aks_connection.provider.lease import holder_gone
    lease = (existing or {}).get("lease") or {}
    until, holder = lease.get("until"), lease.get("holder") or {}
    if not until or until <= now():
        return          # no lease, or run out: that command was interrupted (a re-run takes over)
    who = f"process {holder.get('pid')} on {holder.get('host')}" if holder.get("pid") else "another command"
    if holder_gone(holder):
        logger.warning("Connection '%s' was being changed by %s, which has ended: taking over (what it made is in "
                       "its record).", existing["name"], who)
        return
    if take_over:
        logger.warning("Connection '%s' is held by %s until %s: taking over (--break-lease). If that command still "
                       "runs, the connection's record and Secret may end up from different runs: re-run it after "
                       "both have ended.", existing["name"], who, until)
        return
    from azure.cli.core.azclierror import AzureResponseError
    raise AzureResponseError(
        f"Connection '{existing['name']}' is being changed by another command ({who}; its record says "
        f"{state_of(existing)}, under a lease until {until}): nothing was written.",
        recommendation="Re-run this command when the other one is done; if it was interrupted, re-run after "
        f"{until} (az aks connection show names the state), or now with --break-lease if you know it has ended "
        "(on another machine: a lease held on this one is taken over at once when its process has ended).")


def refuse_all(plan):
    """Every refusal that can be known before writing, from what the plan's reads found."""
    spec, store = plan.spec, plan.found["store"]
    refuse_shadowing(spec, plan.found["linker"])
    plan.auth.check()
    if spec.must_exist and store.find(spec.name) is None:
        raise store_ops.deleted_error(spec.name)    # an update of a connection deleted meanwhile: nothing written
    refuse_leased(store.find(spec.name), take_over=spec.break_lease)
    refuse_conflicts(spec, store.records)
    firewall = plan.step("firewall")
    if firewall is not None:
        firewall.refuse()       # no rule this tool writes can admit the pods (provider/netpath.py)
    if plan.write_config:
        from azext_aks_connection.provider import kube as kube_ops
        kube_ops.refuse_foreign_secret(plan.found["secret"], spec.namespace)
        refuse_shared_secret(spec, plan.found["secret"], store)
    if plan.vault_policy() and spec.roles and plan.grant and plan.has_principal():
        logger.warning("Key vault '%s' uses access policies, not Azure RBAC: --role is ignored; the identity gets "
                       "an access policy instead.", plan.found["target"].get("name"))
