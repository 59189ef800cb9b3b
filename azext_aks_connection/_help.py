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
