# --------------------------------------------------------------------------------------------
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License. See License.txt in the project root for license information.
# --------------------------------------------------------------------------------------------
"""Command table: `create <target>` is generated from the target table."""
from azure.cli.core.commands import CliCommandType

from azext_aks_connection._format import (transform_apply_table, transform_export_table, transform_connection_table,
                                          transform_connections_table, transform_configurations_table,
                                          transform_support_types_table, transform_troubleshoot_table,
                                          transform_validation_table)
from azext_aks_connection.targets import TARGETS


DIAGNOSE = CliCommandType(operations_tmpl="azext_aks_connection.custom_diagnose#{}")
DELETE = CliCommandType(operations_tmpl="azext_aks_connection.custom_delete#{}")
APPLY = CliCommandType(operations_tmpl="azext_aks_connection.custom_apply#{}")


def load_command_table(self, _):
    with self.command_group("aks connection", is_preview=True) as g:
        g.custom_command("list", "connection_list", table_transformer=transform_connections_table)
        # custom_command, not custom_show_command: az's show handler drops the fix line of a 404 (exit 3 either way).
        # show-command is azdev's own checker (azdev linter); plain pylint (azdev style) does not know its name.
        # pylint: disable-next=unknown-option-value
        g.custom_command("show", "connection_show",  # pylint: disable=show-command
                         table_transformer=transform_connection_table)
        g.custom_command("delete", "connection_delete", custom_command_type=DELETE, confirmation=True,
                         supports_no_wait=True)
        g.custom_command("list-configuration", "connection_list_configuration",
                         table_transformer=transform_configurations_table)
        g.custom_command("list-support-types", "connection_list_support_types",
                         table_transformer=transform_support_types_table)
        g.custom_command("wait", "connection_wait")
        g.custom_command("validate", "connection_validate", custom_command_type=DIAGNOSE,
                         table_transformer=transform_validation_table)
        g.custom_command("troubleshoot", "connection_troubleshoot", custom_command_type=DIAGNOSE,
                         table_transformer=transform_troubleshoot_table)
        g.custom_command("apply", "connection_apply", custom_command_type=APPLY,
                         table_transformer=transform_apply_table)
        g.custom_command("export", "connection_export", custom_command_type=APPLY,
                         table_transformer=transform_export_table)

    with self.command_group("aks connection create", is_preview=True) as g:
        for name, target in TARGETS.items():
            g.custom_command(name, "connection_create", supports_no_wait=True,
                             table_transformer=transform_connection_table,
                             deprecate_info=g.deprecate(hide=False) if target.deprecated else None)

    with self.command_group("aks connection update", is_preview=True) as g:
        for name, target in TARGETS.items():
            g.custom_command(name, "connection_update", supports_no_wait=True,
                             table_transformer=transform_connection_table,
                             deprecate_info=g.deprecate(hide=False) if target.deprecated else None)
