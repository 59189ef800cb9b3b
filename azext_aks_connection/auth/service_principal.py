"""``--service-principal client-id=… secret=… [object-id=…]``: the workload signs in as a service principal whose
secret the Secret holds; with its object id, it gets the target's roles."""
from azure.cli.core.azclierror import RequiredArgumentMissingError

from azext_aks_connection.auth.base import Auth


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
    def fix_args(cls, target, record):
        info = record.get("authInfo") or {}
        obj = info.get("principalId")
        return (f"--service-principal client-id={info.get('clientId')} secret=<client secret>" +
                (f" object-id={obj}" if obj else ""))
