# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Help texts with examples for every command; `create <target>` help is generated from the target table."""
from knack.help_files import helps

from azext_aks_connection import targets as t
from azext_aks_connection.targets import TARGETS

CLUSTER = ("/subscriptions/{subscription}/resourceGroups/ClusterRG"
           "/providers/Microsoft.ContainerService/managedClusters/MyCluster")
CONNECTION = CLUSTER + "/providers/Microsoft.ServiceLinker/linkers/MyConnection"

helps["aks connection"] = """
type: group
short-summary: Commands to manage aks connections (aks-connection extension).
long-summary: >
    Connect workloads on an AKS cluster to Azure services. The extension does the work from your
    machine: it reads the target's configuration, writes a Kubernetes Secret in the namespace you
    choose, and records the connection in the cluster itself, as one ConfigMap per connection in
    namespace aks-connection (change it with 'az config set aks_connection.store_namespace=NAME' or
    AZURE_AKS_CONNECTION_STORE_NAMESPACE). It installs no cluster extension. The machine running az must
    reach the cluster's API server (for a private cluster: a machine in its network).
"""

helps["aks connection create"] = """
type: group
short-summary: Create a connection between an AKS cluster and a target resource.
"""

helps["aks connection list"] = f"""
type: command
short-summary: List the connections of an AKS cluster.
examples:
  - name: List the connections of a cluster.
    text: az aks connection list -g ClusterRG -n MyCluster
  - name: List them as a table.
    text: az aks connection list -g ClusterRG -n MyCluster -o table
  - name: List only the connection names, one per line (for a script).
    text: az aks connection list -g ClusterRG -n MyCluster --query "[].name" -o tsv
  - name: List the connections of a cluster given by resource id.
    text: az aks connection list --source-id {CLUSTER}
"""

helps["aks connection show"] = f"""
type: command
short-summary: Show a connection, with its Kubernetes resource names and configuration (credentials blank).
long-summary: Exits with code 3 when the connection does not exist.
examples:
  - name: Show a connection.
    text: az aks connection show -g ClusterRG -n MyCluster --connection MyConnection
  - name: Show the Kubernetes Secret that holds a connection's configuration.
    text: >
        az aks connection show -g ClusterRG -n MyCluster --connection MyConnection
        --query kubernetesResourceName.secret -o tsv
  - name: Show a connection by resource id.
    text: az aks connection show --id {CONNECTION}
  - name: Print the objects a workload needs as YAML that kubectl apply takes (a v1 List).
    text: >
        az aks connection show --id {CONNECTION} --manifest --objects --query objects -o yaml
"""

helps["aks connection delete"] = f"""
type: command
short-summary: Delete a connection.
long-summary: >
    Removes the connection's record (its ConfigMap in namespace aks-connection). The Kubernetes Secret stays
    in the namespace (as with the built-in command); the command prints the kubectl line that deletes it.
    With --cleanup it also removes what the connection made (Secret, ServiceAccount, federated credential,
    role assignments, access policies, firewall rules), never what another connection still uses.
    A connection that did not finish (Creating, Updating, Failed) is found with what it set out to make, and
    one without a record by the connection-id annotation of its Kubernetes objects.
    Deleting a connection that does not exist succeeds with a warning.
examples:
  - name: Delete a connection, asking for confirmation.
    text: az aks connection delete -g ClusterRG -n MyCluster --connection MyConnection
  - name: Delete a connection by resource id without a prompt (for CI).
    text: az aks connection delete --id {CONNECTION} --yes
  - name: See what delete --cleanup would remove and keep, removing nothing.
    text: az aks connection delete --id {CONNECTION} --cleanup --dry-run -o table
  - name: Remove the connection and everything it made, the cluster features it turned on included.
    text: az aks connection delete --id {CONNECTION} --cleanup --cleanup-features --yes
"""

helps["aks connection list-configuration"] = f"""
type: command
short-summary: List a connection's configuration keys. Credential values are shown as empty strings.
long-summary: >
    Read the credentials themselves from the Kubernetes Secret in the cluster. The result is one object
    holding the list "configurations": -o tsv of it says little, query the list (see the examples).
examples:
  - name: List a connection's configuration.
    text: az aks connection list-configuration -g ClusterRG -n MyCluster --connection MyConnection
  - name: List it as a table.
    text: az aks connection list-configuration --id {CONNECTION} -o table
  - name: List the configuration key names, one per line (the environment variables a workload gets).
    text: >
        az aks connection list-configuration -g ClusterRG -n MyCluster --connection MyConnection
        --query "configurations[].name" -o tsv
  - name: Print the value of one key (for a key whose value is not a credential).
    text: >
        az aks connection list-configuration -g ClusterRG -n MyCluster --connection MyConnection
        --query "configurations[?name=='AZURE_STORAGEBLOB_RESOURCEENDPOINT'].value" -o tsv
"""

helps["aks connection list-support-types"] = """
type: command
short-summary: List the targets, auth types and client types this extension supports for AKS.
examples:
  - name: List every supported target.
    text: az aks connection list-support-types -o table
  - name: Show one target.
    text: az aks connection list-support-types --target-type storage-blob -o table
"""

helps["aks connection wait"] = f"""
type: command
short-summary: Place the CLI in a waiting state until a condition of a connection is met.
long-summary: >
    Polls every --interval seconds (az's default, 30, is far longer than a connection takes: pass a few
    seconds), up to --timeout seconds.
examples:
  - name: Wait until a connection created with --no-wait is ready, checking every 2 seconds.
    text: az aks connection wait --id {CONNECTION} --created --interval 2
  - name: Wait until a connection is deleted, checking every 2 seconds for at most 5 minutes.
    text: >
        az aks connection wait -g ClusterRG -n MyCluster --connection MyConnection --deleted --interval 2
        --timeout 300
"""

helps["aks connection validate"] = f"""
type: command
short-summary: Validate a connection against what is really there, one result per check.
long-summary: >
    Unlike the built-in command (whose answer for AKS is always success), every check looks at the
    real thing: the target resource exists; the Kubernetes Secret exists in
    the connection's namespace; its keys and values are still what the target gives now (a value edited
    in the cluster, a deleted Secret, a rotated storage key); the target's firewall admits the cluster's
    current egress IPs (a rule left behind by an egress change fails). For identity connections also:
    the identity exists with the recorded client id; the cluster's OIDC issuer, workload identity or Key
    Vault add-on are on; the federated credential matches the cluster's issuer, the ServiceAccount
    subject and the audience; the role assignments (or the vault access policy) are in place; the
    ServiceAccount carries the client-id annotation. Each result has name, result
    (success, failure or warning), errorMessage and recommendation (the fix). -o table shortens the
    message and the fix to fit a terminal; -o json shows them whole. No credential is ever shown: a drifted
    value is named by its key. Exits with code 1 when a check fails (warnings alone exit 0), and with code 3
    when the connection does not exist.
examples:
  - name: Validate a connection.
    text: az aks connection validate -g ClusterRG -n MyCluster --connection MyConnection
  - name: Validate a connection by resource id, as a table.
    text: az aks connection validate --id {CONNECTION} -o table
  - name: Gate a CI job on the connection (non-zero exit code when a check fails).
    text: az aks connection validate --id {CONNECTION} -o none
  - name: Print the names of the failed checks, one per line.
    text: az aks connection validate --id {CONNECTION} --query "[?result=='failure'].name" -o tsv
  - name: Print the whole fix of each failed check.
    text: az aks connection validate --id {CONNECTION} --query "[?result=='failure'].recommendation" -o tsv
"""

helps["aks connection troubleshoot"] = f"""
type: command
short-summary: Find out why connections of a cluster fail, and how to fix it.
long-summary: >
    Runs the Service Connector troubleshooting guide for you and reports one finding per step: the
    resource providers Microsoft.ContainerService and Microsoft.KubernetesConfiguration are registered;
    the cluster's provisioning state; whether every node pool is tainted CriticalAddonsOnly; the
    connection store (the record ConfigMaps in namespace aks-connection). When the cluster has Microsoft's
    Service Connector extension sc-extension (installed by Service Connector, not by this extension):
    its state and status messages, namespace sc-system, its Helm release, Job sc-job (status, events,
    logs of its pods) and pods that cannot pull their image.
    Each finding has name, result (success, failure or warning), message and recommendation (the fix:
    the command to run or the FQDN to allow); -o table shortens the message and the fix, -o json shows
    them whole. It only reads. Exits with code 1 when a finding is a failure.
examples:
  - name: Troubleshoot the connections of a cluster.
    text: az aks connection troubleshoot -g ClusterRG -n MyCluster
  - name: Show the findings as a table.
    text: az aks connection troubleshoot -g ClusterRG -n MyCluster -o table
  - name: Troubleshoot a cluster given by resource id.
    text: az aks connection troubleshoot --source-id {CLUSTER}
  - name: Print the whole fix of each failed finding.
    text: >
        az aks connection troubleshoot -g ClusterRG -n MyCluster
        --query "[?result=='failure'].recommendation" -o tsv
"""

IDENTITY = ("/subscriptions/{subscription}/resourceGroups/IdentityRG"
            "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/MyIdentity")

_CREATE = """
type: command
short-summary: Create an AKS connection to {display}.
long-summary: >
    Writes Kubernetes Secret sc-{{connection}}-secret ({{connection}}: the --connection name without its
    non-alphanumeric characters) in --kube-namespace (created when missing)
    holding the configuration keys of the auth type and client type, and records the connection as a
    ConfigMap in namespace aks-connection (no cluster extension is installed). {auth_text}
    Re-running the same command (with the same --connection name) changes nothing; without --connection a new
    name is generated each time. --dry-run prints the plan (each step and what it would create or change) and
    writes nothing: exit code 0 when nothing would change, 2 when changes are pending. The record says
    Creating while the command runs and Failed (with the failing step) if it fails; re-running it finishes it.
examples:
{examples}"""

_AUTH_TEXT = {
    t.AUTH_WORKLOAD_IDENTITY: "With --workload-identity it also turns on the cluster's OIDC issuer and workload "
    "identity when they are off (a cluster update of a few minutes), adds a federated credential to the identity, "
    "writes ServiceAccount sc-account-{{client-id}} (the identity's client id) and grants the identity {roles} "
    "on the target.",
    t.AUTH_SERVICE_PRINCIPAL: "With --service-principal the Secret holds the client id, secret and tenant id; "
    "given the object-id, the service principal is granted {roles} on the target.",
    t.AUTH_CSI: "With --enable-csi it turns on the cluster's azureKeyvaultSecretsProvider add-on when off and grants "
    "the add-on's identity {csi_roles} (or an access policy, in a vault that uses them); list-configuration then "
    "gives what a SecretProviderClass needs.",
}


def _example(name, text):
    return f"  - name: {name}\n    text: >\n        {text}\n"


def _secret_arg(target):
    """What --secret looks like for this target in an example ('' when the target takes no --secret)."""
    wanted = [u for u in target.user_values if u.option == "--secret"]
    if wanted:
        return "--secret " + " ".join(f"{u.key}=" + ("@password.txt" if u.credential else "MyUser")
                                      for u in wanted)
    return "" if target.user_values else "--secret"


def _user_options(target):
    return "".join(f" {u.option} " + ("@" + u.field.replace("_", "-") + ".txt" if u.credential else
                                      "My" + u.field.title().replace("_", ""))
                   for u in target.user_values if u.option != "--secret")


def _create_help(target):
    group = " --tg TargetRG" if "{target_resource_group}" in target.id_template else ""
    base = f"az aks connection create {target.name} -g ClusterRG -n MyCluster{group} " + \
        " ".join(f"{a.options[0]} {a.placeholder}" for a in target.name_args) + _user_options(target)
    target_id = target.id_template.replace("{target_resource_group}", "TargetRG")
    for a in target.name_args:
        target_id = target_id.replace("{" + a.dest + "}", a.placeholder)
    secret = _secret_arg(target)
    offered = t.offered_auth_types(target)
    examples, texts = [], []
    if t.AUTH_SECRET in offered:
        examples.append(_example(f"Connect a cluster to {target.display} with a secret, in namespace default.",
                                 (base + " " + secret).rstrip()))
    if t.AUTH_WORKLOAD_IDENTITY in offered:
        examples.append(_example("Connect with workload identity, in namespace orders, for a Python app.",
                                 f"{base} --kube-namespace orders --client-type {_app_client(target)} "
                                 f"--workload-identity {IDENTITY}"))
    if t.AUTH_SERVICE_PRINCIPAL in offered:
        examples.append(_example("Connect with a service principal, granting it the default role on the target.",
                                 base + " --service-principal client-id=00000000-0000-0000-0000-000000000000 "
                                 "secret=@sp-secret.txt object-id=11111111-1111-1111-1111-111111111111"))
    if target.csi:
        examples.append(_example("Use the key vault as a secrets store via the Secrets Store CSI driver add-on.",
                                 base + " --enable-csi"))
    auth = secret if t.AUTH_SECRET in offered else f"--workload-identity {IDENTITY}"
    examples.append(_example("Name the connection, and return before the connection record is confirmed.",
                             f"az aks connection create {target.name} --source-id {CLUSTER} --target-id {target_id}"
                             f"{_user_options(target)} --connection orders_{target.wire_name} {auth} --no-wait"
                             .replace("  ", " ")))
    examples.append(_example("Print the plan and write nothing (exit code 2 when changes are pending, for CI gates).",
                             f"{base} --connection orders_{target.wire_name} {auth} --dry-run -o table"
                             .replace("  ", " ")))
    examples.append(_example("Let Microsoft's Service Connector make the connection (works for private clusters).",
                             f"{base} --connection orders_{target.wire_name} {auth} --engine service-connector"
                             .replace("  ", " ")))
    if target.roles and t.AUTH_WORKLOAD_IDENTITY in offered:
        examples.append(_example("Grant a role of your choice instead of the default one.",
                                 f"{base} --workload-identity {IDENTITY} --role \"Reader\""))
    example_auth = t.AUTH_SECRET if t.AUTH_SECRET in offered else t.AUTH_WORKLOAD_IDENTITY
    first_key = next(iter(target.keys_for(example_auth, "none")), None) if offered else None
    if first_key:
        examples.append(_example("Rename a configuration key, and leave the target's firewall as it is.",
                                 f"{base} {auth} --customized-keys ".replace("  ", " ")
                                 + f"{first_key.key}=MY_{first_key.key.split('_')[-1]} --opt-out publicnetwork"))
    for auth_type in offered + ([t.AUTH_CSI] if target.csi else []):
        if auth_type in _AUTH_TEXT:
            texts.append(_AUTH_TEXT[auth_type].format(roles=" and ".join(target.roles) or "no role",
                                                      csi_roles=" and ".join(target.csi_roles)))
    return _CREATE.format(display=target.display, auth_text=" ".join(texts), examples="".join(examples))


helps["aks connection apply"] = f"""
type: command
short-summary: Converge the connections a file names (connections as code), on one or many clusters.
long-summary: >
    The file (YAML or JSON) lists connections under 'connections:', each with cluster (a resource id, or a name
    with resourceGroup), name, target (a 'create' sub-command), targetId, and optionally namespace, clientType,
    auth (secret | workload-identity | service-principal | csi), identity, servicePrincipal (clientId, objectId,
    secretFile or secretEnv: never an inline secret), roles, customizedKeys, optOut and engine (local |
    service-connector). The whole file is checked before any request, each error with its line and key.
    Each connection is made as 'create' makes it; one result per connection (created, updated, unchanged,
    deleted, failed with its error and fix). Exit code 1 when any failed (the others still converge; a re-run
    picks up where it stopped); with --dry-run, 2 when anything would change, 0 when nothing would.
    One process: each cluster, credential, target and identity is read once, each cluster updated at most once
    (every feature its connections need), connections applied concurrently.
examples:
  - name: Print what would change, and change nothing (exit code 2 when anything would).
    text: az aks connection apply --file connections.yaml --dry-run
  - name: Apply the file, one row per connection.
    text: az aks connection apply --file connections.yaml -o table
  - name: Apply only the connections of one cluster of the file (one CI job per cluster).
    text: az aks connection apply --file connections.yaml --cluster {CLUSTER}
  - name: Also delete the connections of the file's clusters that the file does not name, without a prompt.
    text: az aks connection apply --file connections.yaml --prune --yes
"""

helps["aks connection export"] = f"""
type: command
short-summary: Write a cluster's connections (both engines) as a connections file for 'apply'.
long-summary: >
    Applying the export changes nothing. It never holds a secret: a service principal's secret is named by
    secretEnv (set that variable, or replace it with secretFile, before applying it).
examples:
  - name: Export a cluster's connections to a file.
    text: az aks connection export -g ClusterRG -n MyCluster --file connections.yaml
  - name: Print them as JSON.
    text: az aks connection export --source-id {CLUSTER} -o json
"""

helps["aks connection update"] = """
type: group
short-summary: Update a connection between an AKS cluster and a target resource.
"""

_UPDATE = """
type: command
short-summary: Update an AKS connection to {display}.
long-summary: >
    Re-applies the connection with what you change (client type, auth, roles, key names, opt-outs) and
    carries over the rest: target, namespace, customized keys. The namespace never changes (the built-in
    command resets it to 'default'). Updating to the same values changes nothing.
examples:
  - name: Change the client type (the Secret gets that client type's keys).
    text: >-
      az aks connection update {name} -g ClusterRG -n MyCluster --connection MyConnection --client-type
      dotnet{again}
  - name: Change the client type of a connection given by id.
    text: az aks connection update {name} --id {connection} --client-type {client}{again}
  - name: Print what the update would change, and change nothing (exit code 2 when changes are pending).
    text: az aks connection update {name} --id {connection} --client-type {client}{again} --dry-run
{extra}"""


def _app_client(target):
    """A client type for an app example: python where the target offers it."""
    return "python" if "python" in target.client_types else next(
        c for c in target.client_types if c != "none")


def _update_help(target):
    extra = ""
    offered = t.offered_auth_types(target)
    if t.AUTH_WORKLOAD_IDENTITY in offered:
        extra += _example("Switch the connection to workload identity.",
                          f"az aks connection update {target.name} -g ClusterRG -n MyCluster --connection "
                          f"MyConnection --workload-identity {IDENTITY}")
    first_key = next(iter(target.keys_for(offered[0], "none")), None) if offered else None
    if first_key and not target.user_values:
        auth_arg = f" --workload-identity {IDENTITY}" if offered[0] == t.AUTH_WORKLOAD_IDENTITY else \
            " --secret" if offered[0] == t.AUTH_SECRET else ""
        extra += _example("Rename a configuration key (of the auth type given).",
                          f"az aks connection update {target.name} -g ClusterRG -n MyCluster --connection "
                          f"MyConnection{auth_arg} --client-type none --customized-keys "
                          f"{first_key.key}=MY_{first_key.key.split('_')[-1]}")
    # Secrets the user gave are kept only in the cluster: an update of such a connection gives them again.
    again = (_user_options(target) + " " + _secret_arg(target)).rstrip() if target.user_values else ""
    return _UPDATE.format(display=target.display, name=target.name, connection=CONNECTION, extra=extra,
                          client=_app_client(target),
                          again=again.replace("  ", " "))


for _name, _target in TARGETS.items():
    helps[f"aks connection create {_name}"] = _create_help(_target)
    helps[f"aks connection update {_name}"] = _update_help(_target)
