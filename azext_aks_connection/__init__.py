"""Command loader of `az aks connection`. Imports nothing heavy: no SDK, no kubernetes client."""
from azure.cli.core import AzCommandsLoader

from azext_aks_connection._help import helps  # noqa: F401  pylint: disable=unused-import


class AksConnectionCommandsLoader(AzCommandsLoader):

    def __init__(self, cli_ctx=None):
        from azure.cli.core.commands import CliCommandType
        custom = CliCommandType(operations_tmpl="azext_aks_connection.custom#{}")
        super().__init__(cli_ctx=cli_ctx, custom_command_type=custom)

    def load_command_table(self, args):
        from azext_aks_connection.commands import load_command_table
        load_command_table(self, args)
        _drop_overridden_loaders(self)
        return self.command_table

    def load_arguments(self, command):
        from azext_aks_connection._params import load_arguments
        load_arguments(self, command)


def _drop_overridden_loaders(loader):
    """Our commands replace the built-in `az aks connection` ones (azure-cli's serviceconnector module) of the same
    names in az's command table, but az still runs the built-in loader's load_arguments for them: ~90 ms of work on
    every command (it registers the arguments of all 331 of its commands) for arguments of commands no longer there.
    So the built-in loaders are taken off our commands (az appends ours to them right after this returns). Nothing
    happens when az's main loader is not at hand or has no such map (another azure-cli, a tool loading commands)."""
    invocation = getattr(loader.cli_ctx, "invocation", None)
    mapping = getattr(getattr(invocation, "commands_loader", None), "cmd_to_loader_map", None)
    if not isinstance(mapping, dict):
        return
    for name in loader.command_table:
        if mapping.get(name):
            mapping[name] = [other for other in mapping[name] if other is loader]


COMMAND_LOADER_CLS = AksConnectionCommandsLoader
