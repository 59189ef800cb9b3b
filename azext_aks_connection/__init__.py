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
        _on_our_command(self.cli_ctx, _exit_without_final_collection)
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


_EXIT = []


def _exit_without_final_collection():
    """At exit, move the objects of the process out of the garbage collector's reach (gc.freeze) before the
    interpreter's last collections walk them all: every module, SDK model class and request az and the SDKs made.
    That walk was 0.12-0.15 s of every command's time here, after its output was written (the process ended
    0.15 s after the last atexit handler; 0.025 s with this). Refcounting frees what it frees, as before; the
    memory goes back with the process. The atexit handlers registered before this one (azure-cli's, logging's)
    still run after it. What it gives up: finalizers of objects in reference cycles that still exist at exit,
    which Python does not promise to run either; the command's connections are closed by the process's end.
    Registered once per process, for our commands only (in-process callers: at their own exit)."""
    if not _EXIT:
        import atexit
        import gc
        atexit.register(gc.freeze)
        _EXIT.append(True)


COMMAND_LOADER_CLS = AksConnectionCommandsLoader
