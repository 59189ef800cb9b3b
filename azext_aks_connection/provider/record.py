# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""A connection's record as the local engine keeps it (provider/store.py holds it): its provisioning states, what
it made (``provisioned.created``, what delete --cleanup may remove) and what an unfinished run set out to make."""
import datetime

from azext_aks_connection import model
from azext_aks_connection.provider import steps as s

SUCCEEDED, FAILED = "Succeeded", "Failed"
CREATING, UPDATING = "Creating", "Updating"


def now(later=0.0):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=later)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def caller(cmd):
    try:
        from azure.cli.core._profile import Profile
        return Profile(cli_ctx=cmd.cli_ctx).get_current_account_user()
    except Exception:  # pylint: disable=broad-except
        return None


def state_of(record):
    return (record or {}).get("provisioningState") or SUCCEEDED


def new_record(plan, existing, state, provisioned, items=None):
    """The record for the plan's spec: ``provisioned`` says what the connection uses and made; ``items`` (while it
    is being made) what this run sets out to make."""
    record = model.new_record(plan.spec, plan.configurations(), plan.k8s_names, caller(plan.cmd), now(),
                              provisioned=provisioned)
    if state != SUCCEEDED:
        record["provisioningState"] = state
    if items:
        record["plan"] = items
    if existing:
        for key in ("createdAt", "createdBy"):
            record["systemData"][key] = (existing.get("systemData") or {}).get(key)
    return record


def merge_provisioned(base, parts, made, keep_uses=False):
    """Each step's provisioned entries (what the connection uses now), and the items made: those of ``base``
    (what earlier runs recorded) and ``made``. ``keep_uses``: also what ``base`` used (a record of a run that
    has not finished: delete must still find what the connection used before)."""
    out = {k: v for k, v in base.items() if k != "created"} if keep_uses else {}
    for part in parts:
        out.update(part)
    created = {}
    for entry in [e for item in list(base.get("created") or []) + list(made) for e in _as_made(item)]:
        created.setdefault((entry["step"], entry["id"].lower(), entry.get("name") or ""), entry)
    if created:
        out["created"] = [created[k] for k in sorted(created)]
    return out


def makes(item):
    """A plan item that makes something of the connection's own (what delete --cleanup may remove): a create, or
    the addresses a firewall update adds and the features a cluster update turns on; not a change of the target
    itself (Microsoft Entra authentication turned on on a cache)."""
    return bool(item.get("id")) and (item.get("action") == s.CREATE or item.get("step") in ("firewall",
                                                                                            "clusterFeatures"))


_MADE_DETAIL = {"clusterFeatures": ("enable",), "accessPolicy": ("objectId", "tenantId", "permissions"),
                "firewall": ("ip",)}


def _as_made(item):
    """An item a run made, in the one shape the record keeps (whether it comes from a plan or from an apply): a
    firewall item per address; named by the last segment of its id but for what has no id of its own."""
    step, rid, detail = item.get("step"), item.get("id"), dict(item.get("detail") or {})
    if not rid:
        return []
    if step == "firewall":
        return [{"step": step, "id": rid, "name": ip, "detail": {"ip": ip}}
                for ip in ([detail["ip"]] if detail.get("ip") else detail.get("admit") or [])]
    out = {"step": step, "id": rid}         # named by its id, but what has none of its own
    if step in ("clusterFeatures", "accessPolicy"):
        out["name"] = item.get("name")
    kept = {k: detail[k] for k in _MADE_DETAIL.get(step, ()) if k in detail}
    if kept:
        out["detail"] = kept
    return [out]


def carried(existing, plan):
    """What an earlier run recorded. When it did not finish (Creating / Updating / Failed), the items it set out
    to make that are in place now were made by it: they count as made by the connection."""
    if not existing:
        return {}
    base = dict(existing.get("provisioned") or {})
    if state_of(existing) == SUCCEEDED or not existing.get("plan"):
        return base
    still = {(i.get("id") or "").lower() for i in plan.changes()}
    done = [i for i in existing["plan"] if makes(i) and i["id"].lower() not in still]
    return merge_provisioned(base, [], done, keep_uses=True)


def same(a, b):
    strip = ("systemData",)
    return {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}
