# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Command loader of `az aks connection`. Imports nothing heavy: no SDK, no kubernetes client."""
from azure.cli.core import AzCommandsLoader

from azext_aks_connection._compat import drop_overridden_loaders, freeze_gc_at_exit
from azext_aks_connection._help import helps  # noqa: F401  pylint: disable=unused-import


class AksConnectionCommandsLoader(AzCommandsLoader):

    def __init__(self, cli_ctx=None):
        from azure.cli.core.commands import CliCommandType
        custom = CliCommandType(operations_tmpl="azext_aks_connection.custom#{}")
        super().__init__(cli_ctx=cli_ctx, custom_command_type=custom)

    def load_command_table(self, args):
        from azext_aks_connection.commands import load_command_table
        load_command_table(self, args)
        drop_overridden_loaders(self)
        _on_our_command(self.cli_ctx, freeze_gc_at_exit)
        return self.command_table

    def load_arguments(self, command):
        from azext_aks_connection._params import load_arguments
        load_arguments(self, command)


def _on_our_command(cli_ctx, action):
    """``action()`` once az has parsed the arguments of one of our commands and is about to run it (not for help,
    nor for any other command this loader was loaded for: every `az aks ...` loads it)."""
    from knack.events import EVENT_INVOKER_POST_PARSE_ARGS
    register = getattr(cli_ctx, "register_event", None)
    if register is None:
        return

    def handler(_cli_ctx, **kwargs):
        command = kwargs.get("command") or ""
        if command == "aks connection" or command.startswith("aks connection "):
            action()
    register(EVENT_INVOKER_POST_PARSE_ARGS, handler)


COMMAND_LOADER_CLS = AksConnectionCommandsLoader
