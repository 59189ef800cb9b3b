"""Help texts with examples for every command; `create <target>` help is generated from the target table."""
from knack.help_files import helps

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
    choose, and records the connection in the cluster extension sc-extension.
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
"""

helps["aks connection delete"] = f"""
type: command
short-summary: Delete a connection.
long-summary: >
    Removes the connection's record from sc-extension. The Kubernetes Secret stays in the namespace
    (as with the built-in command); the command prints the kubectl line that deletes it.
    Deleting a connection that does not exist succeeds with a warning.
examples:
  - name: Delete a connection, asking for confirmation.
    text: az aks connection delete -g ClusterRG -n MyCluster --connection MyConnection
  - name: Delete a connection by resource id without a prompt (for CI).
    text: az aks connection delete --id {CONNECTION} --yes
"""

helps["aks connection list-configuration"] = f"""
type: command
short-summary: List a connection's configuration keys. Credential values are shown as empty strings.
long-summary: Read the credentials themselves from the Kubernetes Secret in the cluster.
examples:
  - name: List a connection's configuration.
    text: az aks connection list-configuration -g ClusterRG -n MyCluster --connection MyConnection
  - name: List it as a table.
    text: az aks connection list-configuration --id {CONNECTION} -o table
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
examples:
  - name: Wait until a connection created with --no-wait is ready.
    text: az aks connection wait --id {CONNECTION} --created
  - name: Wait until a connection is deleted.
    text: az aks connection wait -g ClusterRG -n MyCluster --connection MyConnection --deleted
"""

helps["aks connection validate"] = f"""
type: command
short-summary: Validate a connection against what is really there, one result per check.
long-summary: >
    Unlike the built-in command (whose answer for AKS is always success), every check looks at the
    real thing: sc-extension is healthy; the target resource exists; the Kubernetes Secret exists in
    the connection's namespace; its keys and values are still what the target gives now (a value edited
    in the cluster, a deleted Secret, a rotated storage key). Each result has name, result
    (success, failure or warning), errorMessage and recommendation (the fix). No credential is ever
    shown: a drifted value is named by its key. Exits with code 1 when a check fails (warnings alone
    exit 0), and with code 3 when the connection does not exist.
examples:
  - name: Validate a connection.
    text: az aks connection validate -g ClusterRG -n MyCluster --connection MyConnection
  - name: Validate a connection by resource id, as a table.
    text: az aks connection validate --id {CONNECTION} -o table
  - name: Gate a CI job on the connection (non-zero exit code when a check fails).
    text: az aks connection validate --id {CONNECTION} -o none
"""

helps["aks connection troubleshoot"] = f"""
type: command
short-summary: Find out why connections of a cluster fail, and how to fix it.
long-summary: >
    Runs the Service Connector troubleshooting guide for you and reports one finding per step: the
    resource providers Microsoft.ContainerService and Microsoft.KubernetesConfiguration are registered;
    the cluster's provisioning state; whether every node pool is tainted CriticalAddonsOnly;
    sc-extension's state and status messages; in the cluster, namespace sc-system, the Helm release of
    sc-extension, Job sc-job (status, events, logs of its pods) and pods that cannot pull their image.
    Each finding has name, result (success, failure or warning), message and recommendation (the fix:
    the command to run or the FQDN to allow). It only reads. Exits with code 1 when a finding is a
    failure.
examples:
  - name: Troubleshoot the connections of a cluster.
    text: az aks connection troubleshoot -g ClusterRG -n MyCluster
  - name: Show the findings as a table.
    text: az aks connection troubleshoot -g ClusterRG -n MyCluster -o table
  - name: Troubleshoot a cluster given by resource id.
    text: az aks connection troubleshoot --source-id {CLUSTER}
"""

_CREATE = """
type: command
short-summary: Create an AKS connection to {display}.
long-summary: >
    Writes Kubernetes Secret sc-<connection name>-secret in --kube-namespace (created when missing)
    holding the configuration keys of the client type, installs sc-extension on the cluster's first
    connection, and records the connection there. Re-running the same command changes nothing.
examples:
  - name: Connect a cluster to {display} with the target's secret, in namespace default.
    text: az aks connection create {name} -g ClusterRG -n MyCluster --tg TargetRG {name_args} --secret
  - name: Name the connection, pick the namespace and the client type.
    text: >
        az aks connection create {name} -g ClusterRG -n MyCluster --tg TargetRG {name_args}
        --connection orders_{wire} --kube-namespace orders --client-type python --secret
  - name: Use resource ids, and return before the connection record is confirmed.
    text: az aks connection create {name} --source-id {cluster} --target-id {target_id} --secret --no-wait
"""

for _name, _target in TARGETS.items():
    helps[f"aks connection create {_name}"] = _CREATE.format(
        display=_target.display, name=_name, wire=_target.wire_name, cluster=CLUSTER,
        name_args=" ".join(f"{a.options[0]} {a.placeholder}" for a in _target.name_args),
        target_id=_target.id_template.replace("{target_resource_group}", "TargetRG").replace(
            "{" + _target.name_args[0].dest + "}", _target.name_args[0].placeholder))
