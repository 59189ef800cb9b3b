"""``--secret``: the target's own key or connection string (or, for some targets, values the user gives)."""
from azure.cli.core.azclierror import RequiredArgumentMissingError

from azext_aks_connection.auth.base import Auth


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
    def fix_args(cls, target, record):
        if target is None or not target.user_values:
            return "--secret"
        own = " ".join(f"{u.option} {_placeholder(u)}" for u in target.user_values if u.option != "--secret")
        wanted = [f"{u.key}={_placeholder(u)}" for u in target.user_values if u.option == "--secret"]
        return " ".join(p for p in (own, "--secret " + " ".join(wanted) if wanted else "") if p)
