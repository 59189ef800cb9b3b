"""Arguments, with the built-in `az aks connection` names; per-target ones come from the target table."""
from azext_aks_connection._validators import skip_builtin_validation
from azext_aks_connection.targets import AUTH_SECRET, TARGETS, offered_auth_types

OWN = {"validator": skip_builtin_validation}   # see load_arguments
CONNECTION_NAME_HELP = ("Name of the connection: 1-60 letters, digits, '_', '.' or '-'. Generated as "
                        "<target>_<5 random characters> when omitted.")


def load_arguments(self, _):
    """Every argument sets its own (no-op) validator: the built-in serviceconnector module registers the
    same commands' arguments with validators of its own (which prompt interactively), settings of one dest
    merge across loaders, and a None would not replace theirs. Our checks run in custom.py."""
    from azure.cli.core.commands.parameters import get_enum_type

    # Registered per command (not once for the group): the built-in registers validators at the
    # command's own scope, and the most specific scope wins.
    for command in ["list", "show", "delete", "list-configuration", "wait", "validate", "troubleshoot"] + \
            ["create " + name for name in TARGETS]:
        with self.argument_context("aks connection " + command) as c:
            c.argument("resource_group_name", **OWN, options_list=["--resource-group", "-g"],
                       help="The resource group which contains the managed cluster. Required if '--source-id' "
                       "or '--id' is not specified.")
            c.argument("cluster", **OWN, options_list=["--name", "-n"],
                       help="Name of the managed cluster. Required if '--source-id' or '--id' is not specified.")
            c.argument("source_id", **OWN, options_list=["--source-id"],
                       help="The resource id of the AKS cluster. Required if ['--resource-group', '--name'] "
                       "are not specified.")
            c.argument("connection_name", **OWN, options_list=["--connection"], help=CONNECTION_NAME_HELP)
            c.argument("connection_id", **OWN, options_list=["--id"],
                       help="The resource id of the connection. ['--resource-group', '--name', '--connection'] "
                       "are required if '--id' is not specified.")

    with self.argument_context("aks connection list-support-types") as c:
        c.argument("target_type", **OWN, options_list=["--target-type", "-t"], arg_type=get_enum_type(sorted(TARGETS)),
                   help="The target resource type. Omit to list every target.")

    for name, target in TARGETS.items():
        with self.argument_context(f"aks connection create {name}") as c:
            c.argument("client_type", **OWN, arg_type=get_enum_type(target.client_types),
                       help="The client type of the workload; it picks the configuration key names. "
                       "Default: none.")
            c.argument("scope", **OWN, options_list=["--kube-namespace"],
                       help="The Kubernetes namespace where the connection information is saved (as a "
                       "Kubernetes Secret). Created when missing.")
            c.argument("target_resource_group", **OWN, options_list=["--target-resource-group", "--tg"],
                       arg_group="Target Resource",
                       help="The resource group which contains the target. Required if '--target-id' is not "
                       "specified.")
            c.argument("target_id", **OWN, options_list=["--target-id"], arg_group="Target Resource",
                       help="The resource id of the target: " + target.id_template + ". Required if "
                       "['--target-resource-group'] and the name arguments are not specified.")
            c.ignore("target_names")      # the **kwargs that carries the name arguments below
            for arg in target.name_args:
                c.extra(arg.dest, options_list=arg.options, arg_group="Target Resource",
                        help=arg.help + " Required if '--target-id' is not specified.")
            if AUTH_SECRET in offered_auth_types(target):
                c.argument("secret_auth_info", **OWN, options_list=["--secret"], nargs="*", arg_group="AuthType",
                           help="Authenticate with the target's own key or connection string, stored in a "
                           "Kubernetes Secret. Takes no values for this target.")
