# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""What the sandbox's Service Connector RP (sandbox/arm/servicelinker.py) does when a linker PUT's operation ends
(docs "how-to-use-service-connector-in-aks", reference-azcli-aks-connection.md §7): the principal, the cluster's
OIDC issuer / workload identity / Key Vault add-on, the federated credential, the target's roles (or access
policy), the firewall, and the Secret / ServiceAccount sc-job writes; and the configurations that Secret holds
(the targets' table: servicelinker_targets.py).
"""
import base64
import hashlib
import re

from sandbox.arm import authorization, common, containerservice, managedidentity
from sandbox.arm.common import arm_error, system_data
from sandbox.arm.servicelinker_targets import is_credential, target_of_service

AUDIENCE = "api://AzureADTokenExchange"
ACCESS_POLICY_ASSIGNMENT = "Microsoft.Cache/Redis/accessPolicyAssignments"
SECRET_KEY = "secretValue"      # where the RP keeps a linker's user-given secret (meta of the linker, never answered)
CSI_ADDON = "azureKeyvaultSecretsProvider"
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def secret_name(linker_name):
    """The built-in's ``get_aks_resource_secret_name``: non-alphanumerics dropped, case kept."""
    return f"sc-{re.sub(r'[^a-zA-Z0-9]', '', linker_name)}-secret"


def service_account_name(client_id):
    return f"sc-account-{client_id}"


def is_csi(props):
    rp = (props.get("targetService") or {}).get("resourceProperties") or {}
    return bool(rp.get("connectAsKubernetesCsiDriver"))


class Provisioner:  # pylint: disable=no-member,too-few-public-methods
    """The provisioning half of the linker handler (a mixin of LinkerHandler: ``self.state``, ``self.sb``)."""

    @staticmethod
    def _kube_names(linker):
        props = linker["properties"]
        names = {"secret": secret_name(linker["name"]), "namespace": props.get("scope") or "default"}
        auth = props.get("authInfo") or {}
        if auth.get("authType") == "userAssignedIdentity" and not is_csi(props):
            names["serviceAccount"] = service_account_name(auth.get("clientId"))
        return names

    # ---- what Service Connector does when the operation ends (under the state lock)

    def _identity_by_client_id(self, client_id):
        for res in self.state.resources.values():
            if res.get("type", "").lower() == managedidentity.TYPE.lower() and \
                    str((res.get("properties") or {}).get("clientId", "")).lower() == str(client_id).lower():
                return res
        return None

    def _principal(self, linker, cluster):
        """(clientId, principalId (object id), identity resource or None) of the linker's auth; enables what the
        cluster needs for it (WI: OIDC issuer + workload identity; CSI: the Key Vault add-on)."""
        props = linker["properties"]
        auth = props["authInfo"]
        opt_out = auth.get("authMode") == "optOutAllAuth"
        cprops = cluster["properties"]
        if auth["authType"] == "userAssignedIdentity" and is_csi(props):
            addons = cprops.setdefault("addonProfiles", {})
            key = next((k for k in addons if k.lower() == CSI_ADDON.lower()), CSI_ADDON)
            if not (addons.get(key) or {}).get("enabled"):
                if opt_out:
                    raise arm_error(400, "BadRequest", f"The {CSI_ADDON} add-on of the cluster is off and authMode "
                                                       "optOutAllAuth forbids turning it on.")
                addons[key] = {"enabled": True, "config": None}
                containerservice._apply_computed(self.state, cluster)  # pylint: disable=protected-access
                containerservice.new_etag(cluster)
            addon = addons[key]
            ident = addon.get("identity") or {}
            return ident.get("clientId"), ident.get("objectId"), None
        if auth["authType"] == "userAssignedIdentity":
            ident = self._identity_by_client_id(auth["clientId"])
            if ident is None:
                raise arm_error(400, "BadRequest", f"The user-assigned identity with client id '{auth['clientId']}' "
                                                   f"was not found in subscription '{auth.get('subscriptionId')}'.")
            if not opt_out:
                changed = False
                oidc = cprops.setdefault("oidcIssuerProfile", {})
                if not oidc.get("enabled"):
                    oidc["enabled"] = changed = True
                wi = cprops.setdefault("securityProfile", {}).setdefault("workloadIdentity", {})
                if not wi.get("enabled"):
                    wi["enabled"] = changed = True
                if changed:
                    containerservice._apply_computed(self.state, cluster)  # pylint: disable=protected-access
                    containerservice.new_etag(cluster)
            return auth["clientId"], ident["properties"]["principalId"], ident
        if auth["authType"] == "servicePrincipalSecret":
            return auth["clientId"], auth["principalId"], None
        return None, None, None

    def _federate(self, linker, cluster, ident):
        props = linker["properties"]
        issuer = (cluster["properties"].get("oidcIssuerProfile") or {}).get("issuerURL")
        subject = f"system:serviceaccount:{props['scope']}:{service_account_name(props['authInfo']['clientId'])}"
        fics = [r for r in self.state.under(ident["id"])
                if r.get("type", "").lower() == managedidentity.FIC_TYPE.lower()]
        if any((f.get("properties") or {}).get("issuer") == issuer and
               (f.get("properties") or {}).get("subject") == subject for f in fics):
            return
        if len(fics) >= managedidentity.MAX_FICS:
            raise arm_error(400, "BadRequest", f"Too many Federated Identity Credentials are present on the Managed "
                                               f"Identity '{ident['name']}'. A maximum of {managedidentity.MAX_FICS} "
                                               "Federated Identity Credentials can be added to a user-assigned "
                                               "managed identity.")
        name = re.sub(r"[^A-Za-z0-9_-]", "", f"sc-{cluster['name']}-{linker['name']}")[:120]
        self.state.store({"id": f"{ident['id']}/federatedIdentityCredentials/{name}", "name": name,
                          "type": managedidentity.FIC_TYPE,
                          "properties": {"issuer": issuer, "subject": subject, "audiences": [AUDIENCE]},
                          "systemData": system_data(None, self.sb)})

    def _grant(self, linker, spec, resource, principal_id, tenant_id):
        auth = linker["properties"]["authInfo"]
        if spec["kind"] == "keyvault" and not (resource.get("properties") or {}).get("enableRbacAuthorization"):
            policies = resource["properties"].setdefault("accessPolicies", [])
            if not any(str(p.get("objectId", "")).lower() == principal_id.lower() for p in policies):
                policies.append({"tenantId": tenant_id, "objectId": principal_id, "permissions": {
                    "keys": [], "secrets": ["get", "list"], "certificates": ["get", "list"]}})
            return
        if spec.get("redis_access"):
            self._redis_access(spec, resource, principal_id, auth.get("clientId"))
            return
        roles = auth.get("roles") or spec["roles"]
        existing = authorization.list_assignments(self.state, principal_id)
        for role in roles:
            if role not in authorization.BUILTIN_ROLES:
                raise arm_error(400, "SandboxNotEmulated", f"Role '{role}' is not a built-in role the sandbox knows.")
            guid = authorization.BUILTIN_ROLES[role][0]
            if any(a["properties"]["scope"].lower() == resource["id"].lower() and
                   authorization.role_guid(a["properties"]["roleDefinitionId"]) == guid for a in existing):
                continue
            authorization.seed_assignment(self.state, resource["id"], principal_id, role)

    def _redis_access(self, spec, cache, principal_id, client_id):
        """Azure Cache for Redis takes no Azure role for data access: Service Connector assigns the identity the
        cache's built-in "Data Owner" access policy (MicrosoftDocs azure-docs how-to-integrate-redis-cache.md,
        Microsoft Entra authentication; cache-azure-active-directory-for-authentication.md). It does not turn
        Microsoft Entra authentication on: the built-in refuses first ("Please enable Microsoft Entra
        Authentication on your Redis first", serviceconnector ``_validators.py``) and the RP refuses the PUT
        (servicelinker.py). A cache holds one assignment per principal: an existing one is kept. The assignment's
        name and alias Service Connector uses are not documented: ``sc-<hash>`` and the client id here."""
        assignments = [r for r in self.state.under(cache["id"])
                       if r.get("type", "").lower() == ACCESS_POLICY_ASSIGNMENT.lower()]
        if any(str((a.get("properties") or {}).get("objectId", "")).lower() == principal_id.lower()
               for a in assignments):
            return
        name = "sc-" + hashlib.sha256(f"{cache['id'].lower()}|{principal_id.lower()}".encode()).hexdigest()[:20]
        self.state.store({"id": f"{cache['id']}/accessPolicyAssignments/{name}", "name": name,
                          "type": ACCESS_POLICY_ASSIGNMENT,
                          "properties": {"accessPolicyName": spec["redis_access"], "objectId": principal_id,
                                         "objectIdAlias": client_id or principal_id,
                                         "provisioningState": "Succeeded"}})

    def _open_firewall(self, linker, spec, resource, cluster_id):
        if (linker["properties"].get("publicNetworkSolution") or {}).get("action") == "optOut":
            return
        acls = (resource.get("properties") or {}).get("networkAcls") or {}
        if (acls.get("defaultAction") or "Allow").lower() != "deny":
            return
        ips = [ip for ip in containerservice.egress(self.state, cluster_id)["ips"] if ip]
        rules = acls.setdefault("ipRules", [])
        have = {str(r.get("value", "")).split("/", 1)[0] if str(r.get("value", "")).endswith("/32")
                else str(r.get("value", "")) for r in rules}
        for ip in ips:
            if ip in have:
                continue
            rules.append({"value": ip, "action": "Allow"} if spec["kind"] == "storage" else {"value": f"{ip}/32"})

    def configurations(self, linker, spec=None, client_id=None, tenant_id=None):
        """[(name, value, is_credential)] of the linker, in Service Connector's order and names."""
        props = linker["properties"]
        found, rid = target_of_service(props["targetService"])
        spec = spec or found
        if spec is None or (props.get("configurationInfo") or {}).get("action") == "optOut":
            return []
        resource = self.state.raw(rid) or {"id": rid or "", "name": (rid or "").rsplit("/", 1)[-1], "properties": {}}
        auth = props["authInfo"]
        auth_type = auth["authType"]
        if client_id is None and auth_type == "userAssignedIdentity" and is_csi(props):
            cluster = self.state.raw(common.parse_path(linker["id"]).scope) or {"properties": {}}
            addon = next((v for k, v in (cluster["properties"].get("addonProfiles") or {}).items()
                          if k.lower() == CSI_ADDON.lower()), None) or {}
            client_id = (addon.get("identity") or {}).get("clientId") or ""
        link = {"props": props, "user": auth.get("name"),
                "password": self.state.meta_of(linker["id"]).get(SECRET_KEY) or ""}
        values = spec["values"](self.state, resource, auth_type, props.get("clientType"), link)
        values.update(CLIENTID=client_id or auth.get("clientId") or "", TENANTID=tenant_id or self.sb.tenant_id,
                      CLIENTSECRET=auth.get("secret") or "")
        for k, v in list(values.items()):      # values that name the identity (SignalR's connection string)
            if isinstance(v, str) and ("{CLIENT" in v or "{TENANTID}" in v):
                values[k] = v.replace("{CLIENTID}", values["CLIENTID"]).replace(
                    "{CLIENTSECRET}", values["CLIENTSECRET"]).replace("{TENANTID}", values["TENANTID"])
        if auth_type == "secret" and props.get("clientType") == "springBoot" and spec.get("springboot"):
            pairs = spec["springboot"](values)
        elif spec.get("pairs"):      # keys per client type (the databases, the partners)
            pairs = spec["pairs"](spec, values, props.get("clientType"), auth_type)
        else:
            order = spec["keys"]["csi" if is_csi(props) else auth_type]
            pairs = [(f"{spec['prefix']}_{k}", values[k]) for k in order]
        custom = (props.get("configurationInfo") or {}).get("customizedKeys") or {}
        out = [(custom.get(n, n), v, is_credential(n)) for n, v in pairs]
        for k, v in ((props.get("configurationInfo") or {}).get("additionalConfigurations") or {}).items():
            out.append((k, v, False))
        return out

    def _provision(self, linker, spec):
        """Do the ARM side now; return the Kubernetes side (run outside the lock before the status flips)."""
        ref = common.parse_path(linker["id"])
        cluster = self.state.raw(ref.scope)
        if cluster is None:
            raise arm_error(404, "ResourceNotFound", f"The cluster '{ref.scope}' was not found.")
        props = linker["properties"]
        _, rid = target_of_service(props["targetService"])
        resource = self.state.raw(rid)
        if resource is None and not (spec.get("no_resource") or spec.get("unchecked")):
            raise arm_error(400, "BadRequest", f"The target resource '{props['targetService']['id']}' does not exist.")
        client_id, principal_id, ident = self._principal(linker, cluster)
        tenant_id = (ident or {}).get("properties", {}).get("tenantId") or self.sb.tenant_id
        if props["authInfo"].get("authMode") != "optOutAllAuth":
            if ident is not None:
                self._federate(linker, cluster, ident)
            if principal_id:
                self._grant(linker, spec, resource, principal_id, tenant_id)
        if resource is not None:
            self._open_firewall(linker, spec, resource, ref.scope)
        configs = self.configurations(linker, spec, client_id, tenant_id)
        names = self._kube_names(linker)
        for kind, value in (("Secret", names["secret"]), ("ServiceAccount", names.get("serviceAccount"))):
            if value is not None and not DNS_SUBDOMAIN_RE.match(value):
                # sc-job cannot create it: the built-in keeps the connection name's case, Kubernetes does not
                raise arm_error(400, "BadRequest", f"sc-job failed: {kind} \"{value}\" is invalid: metadata.name: "
                                                   f"Invalid value: \"{value}\": a lowercase RFC 1123 subdomain "
                                                   "must consist of lower case alphanumeric characters, '-' or '.', "
                                                   "and must start and end with an alphanumeric character.")
        sa = None
        if "serviceAccount" in names:
            sa = {"metadata": {"name": names["serviceAccount"], "namespace": names["namespace"],
                               "annotations": {"azure.workload.identity/client-id": client_id,
                                               "azure.workload.identity/tenant-id": tenant_id}}}
        secret = None
        if configs:
            secret = {"metadata": {"name": names["secret"], "namespace": names["namespace"]}, "type": "Opaque",
                      "data": {n: base64.b64encode(str(v).encode()).decode() for n, v, _ in configs}}
        if self.sb.kube is None:
            return None
        key = containerservice.kube_key_of(self.state, ref.scope)

        def kube_side():
            store = containerservice.ensure_kube_store(self.state, key)
            if store is None:
                return
            store.ensure_namespace(names["namespace"])
            for resource_name, obj in (("serviceaccounts", sa), ("secrets", secret)):
                if obj is None:
                    continue
                current = store.get(resource_name, names["namespace"], obj["metadata"]["name"])
                if current is None:
                    store.create(resource_name, names["namespace"], obj)
                else:
                    current["metadata"].setdefault("annotations", {}).update(obj["metadata"].get("annotations") or {})
                    if "data" in obj:
                        current["data"] = obj["data"]
                        current.pop("stringData", None)
                    current["metadata"].pop("resourceVersion", None)
                    store.replace(resource_name, names["namespace"], obj["metadata"]["name"], current)

        return kube_side
