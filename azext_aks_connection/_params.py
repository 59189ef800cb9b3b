# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Arguments, with the built-in `az aks connection` names; per-target ones come from the target table."""
from azext_aks_connection._validators import skip_builtin_validation
from azext_aks_connection.targets import (AUTH_SECRET, AUTH_SERVICE_PRINCIPAL, AUTH_WORKLOAD_IDENTITY, TARGETS,
                                          offered_auth_types)

OWN = {"validator": skip_builtin_validation}   # see load_arguments
CONNECTION_NAME_HELP = ("Name of the connection: 1-60 letters, digits, '_', '.' or '-'. When omitted: the same name "
                        "for every create of one target, namespace and auth type (for example "
                        "storageblob_mystorage_orders_secret), so re-running a create updates that connection "
                        "instead of making another.")

BREAK_LEASE_HELP = ("Take over a connection whose record another command holds (it says Creating or Updating, under a "
                    "lease that has not run out). A lease held by a process of this machine that has ended is taken "
                    "over without it; use it when the holder ran elsewhere and you know it has ended: two commands "
                    "writing one connection at once may leave its record and Secret from different runs.")


ID_COMMANDS = ("show", "delete", "list-configuration", "wait", "update", "validate")


def _for(command):
    """Whether the arguments of scope ``aks connection <scope>`` are wanted: az loads the arguments of the command
    it runs (``command``), and of every command when it names none (help indexes, azdev)."""
    return lambda scope: not command or command == "aks connection " + scope or \
        command.startswith("aks connection " + scope + " ")


def load_arguments(self, command):
    """Every argument sets its own (no-op) validator: the built-in serviceconnector module registers the
    same commands' arguments with validators of its own (which prompt interactively), settings of one dest
    merge across loaders, and a None would not replace theirs. Our checks run in custom.py.
    Only the arguments of ``command`` are registered (the others are not read: ~1,000 registrations)."""
    from azure.cli.core.commands.parameters import get_enum_type, get_three_state_flag
    wanted = _for(command)

    # Registered per command (not once for the group): the built-in registers validators at the
    # command's own scope, and the most specific scope wins.
    scopes = ["list", "show", "delete", "list-configuration", "wait", "validate", "troubleshoot", "export"] + \
        [verb + " " + name for name in TARGETS for verb in ("create", "update")]
    for scope in [c for c in scopes if wanted(c)]:
        with self.argument_context("aks connection " + scope) as c:
            # A command takes the cluster either with --source-id (list, troubleshoot, create) or with the
            # connection's --id (the others): each help names only the option its command has.
            other = "--id" if scope.split()[0] in ID_COMMANDS else "--source-id"
            c.argument("resource_group_name", **OWN, options_list=["--resource-group", "-g"],
                       help=f"The resource group which contains the managed cluster. Required if '{other}' is not "
                       "specified.")
            c.argument("cluster", **OWN, options_list=["--name", "-n"],
                       help=f"Name of the managed cluster. Required if '{other}' is not specified.")
            c.argument("source_id", **OWN, options_list=["--source-id"],
                       help="The resource id of the AKS cluster. Required if ['--resource-group', '--name'] "
                       "are not specified.")
            c.argument("connection_name", **OWN, options_list=["--connection"],
                       help=CONNECTION_NAME_HELP if scope.startswith("create ") else
                       "Name of the connection. Required if '--id' is not specified.")
            c.argument("connection_id", **OWN, options_list=["--id"],
                       help="The resource id of the connection. ['--resource-group', '--name', '--connection'] "
                       "are required if '--id' is not specified.")

    if wanted("wait"):
        with self.argument_context("aks connection wait", arg_group="Wait Condition") as c:
            c.argument("timeout", **OWN, options_list=["--timeout"], type=int, default=3600,
                       help="Maximum wait in seconds: the command fails when it passes first.")
            c.argument("interval", **OWN, options_list=["--interval"], type=int, default=30,
                       help="Polling interval in seconds (never past --timeout).")
            c.argument("deleted", **OWN, options_list=["--deleted"], action="store_true", help="Wait until deleted.")
            c.argument("created", **OWN, options_list=["--created"], action="store_true",
                       help="Wait until created with 'provisioningState' at 'Succeeded'.")
            c.argument("updated", **OWN, options_list=["--updated"], action="store_true",
                       help="Wait until updated with provisioningState at 'Succeeded'.")
            c.argument("exists", **OWN, options_list=["--exists"], action="store_true",
                       help="Wait until the connection exists.")
            c.argument("custom", **OWN, options_list=["--custom"],
                       help="Wait until the condition satisfies a custom JMESPath query. E.g. "
                       "provisioningState!='Creating'.")

    with self.argument_context("aks connection show") as c:
        c.argument("manifest", **OWN, options_list=["--manifest"], arg_type=get_three_state_flag(),
                   help="Print what a workload needs to use the connection instead: 'workload', the pod template "
                   "pieces to copy into a Deployment or Job (serviceAccountName and the workload identity label, "
                   "envFrom of the Secret, the CSI volume and its mount), and 'objects', a v1 List to apply or "
                   "commit (the SecretProviderClass of a Key Vault CSI connection).")
        c.argument("objects", **OWN, options_list=["--objects"], arg_type=get_three_state_flag(),
                   help="With --manifest: add the Kubernetes objects the connection made (ServiceAccount, Secret) "
                   "to 'objects', read from the cluster, credential values masked.")
        c.argument("include_secrets", **OWN, options_list=["--include-secrets"], arg_type=get_three_state_flag(),
                   help="With --manifest --objects: the Secret's credential values as they are (a warning says "
                   "so): keep such output out of logs and repositories.")

    with self.argument_context("aks connection delete") as c:
        c.argument("cleanup", **OWN, options_list=["--cleanup"], arg_type=get_three_state_flag(),
                   help="Also remove what the connection made: its Secret and ServiceAccount, federated credential, "
                   "role assignments, access policies and firewall rules, but never what another connection "
                   "still uses (named as kept). Without it the record goes and the rest is named, with the commands "
                   "that remove it.")
        c.argument("cleanup_features", **OWN, options_list=["--cleanup-features"],
                   arg_type=get_three_state_flag(),
                   help="With --cleanup: also turn off the cluster features the connection turned on (workload "
                   "identity, the Key Vault CSI add-on) when no other connection needs them. The OIDC issuer "
                   "stays on: AKS cannot turn it off.")
        c.argument("dry_run", **OWN, options_list=["--dry-run"], arg_type=get_three_state_flag(),
                   help="Print what delete would remove and keep, and remove nothing. Exit code 2 when it would "
                   "remove anything, 0 otherwise.")
        c.argument("break_lease", **OWN, options_list=["--break-lease"], arg_type=get_three_state_flag(),
                   help=BREAK_LEASE_HELP)

    _apply_args(self, wanted, get_three_state_flag)

    with self.argument_context("aks connection list-support-types") as c:
        c.argument("target_type", **OWN, options_list=["--target-type", "-t"], arg_type=get_enum_type(sorted(TARGETS)),
                   help="The target resource type. Omit to list every target.")

    for name, target in TARGETS.items():
        if not (wanted(f"create {name}") or wanted(f"update {name}")):
            continue
        with self.argument_context(f"aks connection create {name}") as c:
            c.argument("scope", **OWN, options_list=["--kube-namespace"],
                       help="The Kubernetes namespace where the connection information is saved (as a "
                       "Kubernetes Secret). Created when missing.")
            if "{target_resource_group}" in target.id_template:
                c.argument("target_resource_group", **OWN, options_list=["--target-resource-group", "--tg"],
                           arg_group="Target Resource",
                           help="The resource group which contains the target. Required if '--target-id' is not "
                           "specified.")
            else:
                c.ignore("target_resource_group")
            by_name = (["--target-resource-group"] if "{target_resource_group}" in target.id_template else []) + \
                [a.options[0] for a in target.name_args]
            c.argument("target_id", **OWN, options_list=["--target-id"], arg_group="Target Resource",
                       help=f"The resource id of the target: {target.id_template}. Required if "
                       f"{', '.join(repr(o) for o in by_name)} {'are' if len(by_name) > 1 else 'is'} not specified.")
            c.ignore("target_names")      # the **kwargs that carries the name arguments below
            c.argument("engine", **OWN, options_list=["--engine"],
                       arg_type=get_enum_type(["local", "service-connector"]),
                       help="Who makes the connection: local (default: aks-connection, from this machine, needs the "
                       "API server reachable from here) or service-connector (Microsoft's Service Connector resource "
                       "provider, which installs sc-extension and runs sc-job in the cluster: works for private "
                       "clusters). Default: az config aks_connection.engine, else local.")
            for arg in target.name_args:
                c.extra(arg.dest, options_list=arg.options, arg_group="Target Resource",
                        help=arg.help + " Required if '--target-id' is not specified.")
            _connection_args(c, target, get_enum_type, get_three_state_flag)
        with self.argument_context(f"aks connection update {name}") as c:
            c.ignore("user_args")      # the **kwargs that carries the user value options below
            c.argument("scope", **OWN, options_list=["--kube-namespace"],
                       help="The connection's Kubernetes namespace. It cannot change: the connection keeps its "
                       "own (omit it, or give the same).")
            _connection_args(c, target, get_enum_type, get_three_state_flag)


def _connection_args(c, target, get_enum_type, get_three_state_flag):
    """Arguments that create and update share: client type, auth, roles, keys, opt-outs."""
    c.argument("client_type", **OWN, arg_type=get_enum_type(target.client_types),
               help="The client type of the workload; it picks the configuration key names. "
               "Default: none (create), the connection's own (update).")
    offered = offered_auth_types(target)
    secret_values = [u for u in target.user_values if u.option == "--secret"]
    if AUTH_SECRET in offered and secret_values:
        usage = " ".join(f"{u.key}=XX" for u in secret_values)
        c.argument("secret_auth_info", **OWN, options_list=["--secret"], nargs="+", arg_group="AuthType",
                   metavar=usage,
                   help=f"Authenticate with a secret you give: {usage} (" + "; ".join(
                       f"{u.key}: {u.help.rstrip('.')}"
                       for u in secret_values) + "). secret=@PATH reads it from a file, "
                   "which keeps it off the command line.")
    elif AUTH_SECRET in offered and not any(u.option.startswith("--") for u in target.user_values):
        c.argument("secret_auth_info", **OWN, options_list=["--secret"], nargs="*", arg_group="AuthType",
                   help="Authenticate with the target's own key or connection string, stored in a "
                   "Kubernetes Secret. Takes no values for this target.")
    else:
        c.ignore("secret_auth_info")
    for u in target.user_values:
        if u.option != "--secret":
            c.extra("user_" + u.field, options_list=[u.option], arg_group="Target Resource" if not u.credential
                    else "AuthType", help=u.help + " Required." + (
                        " @PATH reads it from a file." if u.credential else ""))
    if AUTH_WORKLOAD_IDENTITY in offered:
        c.argument("workload_identity_auth_info", **OWN, options_list=["--workload-identity"],
                   arg_group="AuthType", metavar="USER-IDENTITY-RESOURCE-ID",
                   help="Authenticate with Microsoft Entra workload identity: the resource id of a "
                   "user-assigned managed identity. The cluster gets the OIDC issuer and workload identity "
                   "(when not on yet), the identity a federated credential for ServiceAccount "
                   "sc-account-{client-id} (the identity's client id) and a role on the target. Do not use the "
                   "cluster's control plane or kubelet identity: federated credentials do not work with them.")
    else:
        c.ignore("workload_identity_auth_info")
    if AUTH_SERVICE_PRINCIPAL in offered:
        c.argument("service_principal_auth_info", **OWN, options_list=["--service-principal"], nargs="+",
                   arg_group="AuthType", metavar="client-id=XX secret=XX [object-id=XX]",
                   help="Authenticate with a service principal: its client id and secret go into the "
                   "Kubernetes Secret; with object-id (the service principal's object id) it also gets a "
                   "role on the target. secret=@PATH reads the secret from a file, which keeps it out of "
                   "the command line (az --debug prints the command line).")
    else:
        c.ignore("service_principal_auth_info")
    if target.csi:
        c.argument("enable_csi", **OWN, options_list=["--enable-csi"], arg_type=get_three_state_flag(),
                   arg_group="AuthType",
                   help="Use the key vault as a secrets store via a CSI volume: enables the cluster's "
                   "azureKeyvaultSecretsProvider add-on and grants its identity read access on the vault. "
                   "If specified, AuthType arguments are not needed.")
    else:
        c.ignore("enable_csi")
    if target.roles:
        c.argument("roles", **OWN, options_list=["--role"], action="append", arg_group="AuthType",
                   help="A role to grant the identity on the target, by name or id; repeat for more. "
                   "Replaces the default (" + ", ".join(target.roles) + "). Applies to "
                   "--workload-identity, --service-principal with object-id, and --enable-csi.")
    else:
        c.ignore("roles")
    c.argument("customized_keys", **OWN, options_list=["--customized-keys"], nargs="+",
               help="Rename configuration keys: ORIGINAL=NEW ... (ORIGINAL is a default key name of the auth "
               "and client type, as list-configuration shows them).")
    c.argument("opt_out_list", **OWN, options_list=["--opt-out"], nargs="+",
               arg_type=get_enum_type(["auth", "configinfo", "publicnetwork", "none"]),
               help="Steps to skip: auth (no cluster feature, federated credential, role or access policy), "
               "configinfo (no Kubernetes Secret: the configuration is only recorded), publicnetwork (no "
               "firewall rule on the target). On update the steps given are added to the connection's own "
               "opt-outs; 'none' clears those first (--opt-out none: skip nothing; --opt-out none auth: skip "
               "only auth).")
    c.argument("dry_run", **OWN, options_list=["--dry-run"], arg_type=get_three_state_flag(),
               help="Print the plan and write nothing: each step (cluster features, role assignments, federated "
               "credential, firewall rules, Kubernetes objects with credential values masked, the record) with what "
               "it would create or change, or that it is in place. Exit code 0 when nothing would change, 2 when "
               "changes are pending.")
    c.argument("break_lease", **OWN, options_list=["--break-lease"], arg_type=get_three_state_flag(),
               help=BREAK_LEASE_HELP)


def _apply_args(self, wanted, get_three_state_flag):
    """apply and export: the connections file."""
    if wanted("apply"):
        with self.argument_context("aks connection apply") as c:
            c.argument("file_path", **OWN, options_list=["--file", "-f"],
                       help="The connections file (YAML or JSON; its format: README 'Connections as code', its "
                       "JSON Schema: schema/connections.schema.json in the extension).")
            c.argument("dry_run", **OWN, options_list=["--dry-run"], arg_type=get_three_state_flag(),
                       help="Print the plan of every connection and write nothing. Exit code 0 when nothing would "
                       "change, 2 when anything would.")
            c.argument("prune", **OWN, options_list=["--prune"], arg_type=get_three_state_flag(),
                       help="Also delete the connections, of the engines the file uses, on the clusters the file "
                       "names that the file does not name (asks first; --yes does not). Never a cluster the file "
                       "does not name.")
            c.argument("clusters", **OWN, options_list=["--cluster"], nargs="+",
                       help="Only the connections of these clusters of the file (resource ids or names): one CI job "
                       "per cluster.")
            c.argument("yes", **OWN, options_list=["--yes", "-y"], action="store_true",
                       help="Do not ask before --prune deletes.")
    if wanted("export"):
        with self.argument_context("aks connection export") as c:
            c.argument("file_path", **OWN, options_list=["--file", "-f"],
                       help="Write the connections file there (.json: JSON, else YAML) instead of printing it.")
