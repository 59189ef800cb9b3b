# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Authorization faults of the ARM emulator: deny an action on a scope, answered as ARM does.

The sandbox grants the signed-in caller everything. A test that needs a 403 adds a denial
``{"action": "Microsoft.Storage/storageAccounts/listKeys/action", "scope": "<ARM id prefix>"}``
(``action`` may use ``*`` wildcards; ``scope`` is optional: everywhere) and every request that needs
that action on a resource under the scope gets the body real ARM sends::

    403 {"error": {"code": "AuthorizationFailed", "message": "The client '<caller>' with object id
         '<oid>' does not have authorization to perform action '<action>' over scope '<id>' or the
         scope is invalid. If access was recently granted, please refresh your credentials."}}

The action a request needs is derived the way ARM derives it: ``<type>/read`` for GET (and lists),
``<type>/write`` for PUT and PATCH, ``<type>/delete`` for DELETE and ``<type>/<name>/action`` for a
POST action; ``<namespace>/register/action`` for a provider registration.
"""
import fnmatch
import threading

from sandbox.arm.common import arm_error, caller_of, jwt_claims


class Denials:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._next = 0

    def add(self, action, scope=None):
        with self._lock:
            self._next += 1
            self._rules.append({"id": self._next, "action": action, "scope": scope})
            return self._next

    def list(self):
        with self._lock:
            return [dict(r) for r in self._rules]

    def clear(self, rule_id=None):
        with self._lock:
            self._rules = [r for r in self._rules if rule_id is not None and r["id"] != rule_id]

    def denied(self, action, scope):
        with self._lock:
            for r in self._rules:
                if not fnmatch.fnmatchcase(action.lower(), r["action"].lower()):
                    continue
                prefix = (r.get("scope") or "").rstrip("/").lower()
                if not prefix or scope.lower() == prefix or scope.lower().startswith(prefix + "/"):
                    return True
        return False


def attach(state):
    """The Denials of an ArmState (created on first use)."""
    if getattr(state, "denials", None) is None:
        state.denials = Denials()
    return state.denials


def action_for(method, full_type, mode, tail=None):
    if mode == "action":
        return f"{full_type}/{tail}/action"
    if method in ("PUT", "PATCH"):
        return f"{full_type}/write"
    if method == "DELETE":
        return f"{full_type}/delete"
    return f"{full_type}/read"


def check(state, req, action, scope):
    """Raise ARM's 403 AuthorizationFailed when ``action`` on ``scope`` is denied."""
    denials = getattr(state, "denials", None)
    if denials is None or not denials.denied(action, scope):
        return
    who, _ = caller_of(req, state.sb)
    auth = req.header("Authorization") or ""
    oid = jwt_claims(auth[7:]).get("oid") if auth[:7].lower() == "bearer " else None
    raise arm_error(403, "AuthorizationFailed",
                    f"The client '{who}' with object id '{oid or state.sb.caller_object_id}' does not have "
                    f"authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. "
                    "If access was recently granted, please refresh your credentials.")
