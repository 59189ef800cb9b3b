# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""``--secret``: the target's own key or connection string (or, for some targets, values the user gives)."""
from azure.cli.core.azclierror import InvalidArgumentValueError, RequiredArgumentMissingError

from azext_aks_connection._validators import read_file_value
from azext_aks_connection.auth.base import Auth


def parse_args(wanted, items):
    """--secret name=XX secret=XX -> {field: value} of the target's user values."""
    usage = "--secret " + " ".join(f"{u.key}=XX" for u in wanted)
    by_key = {u.key: u for u in wanted}
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in by_key or not value:
            raise InvalidArgumentValueError(f"Invalid value for --secret: '{item.split('=')[0]}=…'. Usage: {usage}",
                                            recommendation=f"For example: {usage}")
        values[by_key[key].field] = read_file_value(value, f"--secret {key}") if by_key[key].credential else value
    missing = [u.key for u in wanted if u.field not in values]
    if missing:
        raise RequiredArgumentMissingError("--secret needs " + " and ".join(f"{k}=XX" for k in missing) + ".",
                                           recommendation=f"Usage: {usage}")
    return values


def _placeholder(user_value):
    """<user>, or @<password-file> for a credential: a file keeps it off the command line (az --debug echoes it)."""
    name = user_value.field.replace("_", "-")
    return f"@<{name}-file>" if user_value.credential else f"<{name}>"


class SecretAuth(Auth):
    wire = "secret"

    @classmethod
    def from_record(cls, target, record, *, validating=False):
        needs = [u for u in target.user_values if u.option == "--secret"]
        if needs and not validating:
            raise RequiredArgumentMissingError(
                "Auth info argument should be provided when updating the connection: --secret " +
                " ".join(f"{u.key}=XX" for u in needs) + " (the secret is not stored anywhere but the cluster).")
        return {}

    @classmethod
    def linker_auth(cls, spec, models, identity=None, roles=None):
        # The user's values are kept by field (user, password, connection_string): --secret's name= / secret= are
        # their keys. MongoDB Atlas takes no user name: the built-in sends "NA" (serviceconnector action.py).
        values = spec.auth_info.get("user_values") or {}
        given = {u.key: values.get(u.field) for u in spec.target.user_values if u.option == "--secret"}
        name = "NA" if spec.target.name == "mongodb-atlas" else given.get("name")
        return models.SecretAuthInfo(name=name, secret_info=models.ValueSecretInfo(
            value=given["secret"]) if given.get("secret") else None)

    @classmethod
    def fix_args(cls, target, record):
        if target is None or not target.user_values:
            return "--secret"
        own = " ".join(f"{u.option} {_placeholder(u)}" for u in target.user_values if u.option != "--secret")
        wanted = [f"{u.key}={_placeholder(u)}" for u in target.user_values if u.option == "--secret"]
        return " ".join(p for p in (own, "--secret " + " ".join(wanted) if wanted else "") if p)
