# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""``--service-principal client-id=… secret=… [object-id=…]``: the workload signs in as a service principal whose
secret the Secret holds; with its object id, it gets the target's roles."""
import re

from azure.cli.core.azclierror import InvalidArgumentValueError, RequiredArgumentMissingError

from azext_aks_connection._validators import read_file_value

from azext_aks_connection.auth.base import Auth


GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def parse_args(values):
    """client-id=… secret=… [object-id=…] -> dict; every value checked before any request."""
    parsed = {}
    for item in values:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if sep and key in ("client-id", "secret", "object-id") and value and not value.strip():
            raise InvalidArgumentValueError(f"--service-principal {key} is blank (only white space).",
                                            recommendation=f"Pass the real value: {key}=XX, or {key}=@<file> "
                                            "holding it.")
        if not sep or key not in ("client-id", "secret", "object-id") or not value:
            raise InvalidArgumentValueError(
                f"Invalid value for --service-principal: '{item.split('=')[0]}=…'. "
                "Usage: --service-principal client-id=XX secret=XX [object-id=XX]",
                recommendation="For example: --service-principal client-id=<appId> secret=<password> "
                "object-id=<object id of the service principal>")
        if key in parsed:
            raise InvalidArgumentValueError(f"--service-principal: '{key}' is given twice.")
        parsed[key] = value
    missing = [k for k in ("client-id", "secret") if k not in parsed]
    if missing:
        raise RequiredArgumentMissingError(
            "--service-principal needs " + " and ".join(f"{k}=XX" for k in missing) + ".",
            recommendation="Usage: --service-principal client-id=XX secret=XX [object-id=XX]")
    # secret=@file keeps the secret off the command line, which `az --debug` echoes before any extension runs.
    parsed["secret"] = read_file_value(parsed["secret"], "--service-principal secret")
    for key in ("client-id", "object-id"):
        if key in parsed and not GUID.match(parsed[key]):
            raise InvalidArgumentValueError(f"--service-principal {key} must be a GUID.",
                                            recommendation=f"Pass the service principal's {key} as shown by "
                                            "'az ad sp show --id <appId>'.")
    return {"client_id": parsed["client-id"], "client_secret": parsed["secret"],
            "object_id": parsed.get("object-id")}


def tenant_of(cmd, subscription):
    from azure.cli.core._profile import Profile
    try:
        return Profile(cli_ctx=cmd.cli_ctx).get_subscription(subscription).get("tenantId")
    except Exception:  # pylint: disable=broad-except
        return Profile(cli_ctx=cmd.cli_ctx).get_subscription().get("tenantId")


class ServicePrincipalAuth(Auth):
    wire = "servicePrincipalSecret"

    def reads(self):
        return {"tenant": (lambda: tenant_of(self.plan.cmd, self.plan.target_sub), ())}

    def principal(self):
        return self.plan.spec.auth_info.get("object_id")

    def who(self):
        return f"service principal {self.plan.spec.auth_info.get('client_id')}"

    def client_id(self):
        return self.plan.spec.auth_info.get("client_id")

    def values(self):
        info = self.plan.spec.auth_info
        return {"client_id": info["client_id"], "client_secret": info.get("client_secret"),
                "tenant_id": self.plan.found.get("tenant")}

    @classmethod
    def from_record(cls, target, record, *, validating=False):
        if not validating:
            raise RequiredArgumentMissingError(
                "Auth info argument should be provided when updating the connection: --service-principal (its "
                "secret is not stored anywhere but the cluster).",
                recommendation="Pass --service-principal client-id=XX secret=XX [object-id=XX] again.")
        info = record.get("authInfo") or {}
        return {"client_id": info.get("clientId"), "object_id": info.get("principalId")}

    @classmethod
    def wire_info(cls, spec):
        return {"clientId": spec.auth_info["client_id"], "principalId": spec.auth_info.get("object_id")}

    @classmethod
    def refuse_without_object_id(cls, spec):
        """Service Connector grants the roles itself: it needs the object id (checked before any request)."""
        if not spec.auth_info.get("object_id"):
            raise RequiredArgumentMissingError(
                "Service Connector needs the service principal's object id (authInfo.principalId).",
                recommendation="Add object-id=<object id> to --service-principal (az ad sp show --id <appId> --query "
                "id -o tsv).")

    @classmethod
    def linker_auth(cls, spec, models, identity=None, roles=None):
        cls.refuse_without_object_id(spec)
        return models.ServicePrincipalSecretAuthInfo(client_id=spec.auth_info["client_id"],
                                                     principal_id=spec.auth_info.get("object_id"),
                                                     secret=spec.auth_info["client_secret"], roles=roles)

    @classmethod
    def fix_args(cls, target, record):
        info = record.get("authInfo") or {}
        obj = info.get("principalId")
        return (f"--service-principal client-id={info.get('clientId')} secret=<client secret>" +
                (f" object-id={obj}" if obj else ""))
