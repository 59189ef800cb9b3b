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
        return self.command_table

    def load_arguments(self, command):
        from azext_aks_connection._params import load_arguments
        load_arguments(self, command)


COMMAND_LOADER_CLS = AksConnectionCommandsLoader
