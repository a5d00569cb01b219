"""The operator's tool for the plugin's iconik custom actions: create (or refresh), list, delete.

Run as ``b2-iconik-actions`` or ``python -m b2_iconik.custom_actions``::

    b2-iconik-actions create https://REGION-PROJECT.cloudfunctions.net/iconik_handler \\
        --b2-storage B2_ID --ll-storage LL_ID --formats ORIGINAL,PPRO_PROXY
    b2-iconik-actions list
    b2-iconik-actions delete https://REGION-PROJECT.cloudfunctions.net/iconik_handler
    b2-iconik-actions policy create ENDPOINT remove-when-approved [--activate] [--dry-run]
    b2-iconik-actions policy list|estimate|activate|deactivate|run|delete ...
    b2-iconik-actions audit --b2-storage B2_ID --ll-storage LL_ID [--json] [--csv FILE]

The work is split so that a reader finds each rule in one place:

* :mod:`.actions`: which actions the plugin owns, their URLs and titles, the body each should have;
* :mod:`.plan`: the planning rule, pure functions from the actions iconik has to the changes to
  make, so that ``--dry-run`` and the real run print the same plan and tests need no server;
* :mod:`.render`: the lines, tables and error lines printed, with the secret masked;
* :mod:`.api`: the iconik side, reading the operator's settings, checking the storages and
  applying a plan;
* :mod:`.cli`: argparse, the commands and the exit statuses;
* :mod:`.policies`, :mod:`.policy_cli`, :mod:`.policy_create` and :mod:`.policy_acts`: the
  ``policy`` group, iconik automations that run the plugin on their own triggers, each through a
  custom action of its own;
* :mod:`.audit`: the ``audit`` command (what is on LucidLink, and is it safe), over
  :mod:`b2_iconik.audit`; :mod:`.audit_report` prints it, :mod:`.audit_acts` writes its CSV and
  its two actions, ``--copy-missing`` and ``--free-safe``.

The tool is idempotent: ``create`` run twice leaves one action per context and operation, updated
in place; it only ever touches actions whose URL is ``ENDPOINT/add`` or ``ENDPOINT/remove`` for the
endpoint named on the command line. Errors are one line on stderr: exit status 2 for usage and
configuration (including storage ids that iconik does not know), 1 when iconik fails or cannot be
reached. The shared secret and the token are never printed.

Layer 5, a tool beside :mod:`b2_iconik.app`: it may import :mod:`b2_iconik.base`,
:mod:`b2_iconik.iconik`, :mod:`b2_iconik.rules` and :mod:`b2_iconik.audit` (it talks to the
plugin only over HTTP, never through the edge or the engine); nothing in the plugin imports it.
"""

from b2_iconik.custom_actions.actions import (
    CONTEXTS,
    OPERATIONS,
    SECRET_HEADER,
    ActionSpec,
    action_title,
    action_url,
    desired_action,
    format_words,
    normalize_endpoint,
    operation_of,
    plugin_actions,
)
from b2_iconik.custom_actions.cli import EXIT_ICONIK, EXIT_OK, EXIT_USAGE, build_parser, main
from b2_iconik.custom_actions.errors import UsageError
from b2_iconik.custom_actions.plan import Change, ChangeKind, plan_create, plan_delete
from b2_iconik.custom_actions.render import MASK, describe, display_url, render_table

__all__ = [
    "CONTEXTS",
    "EXIT_ICONIK",
    "EXIT_OK",
    "EXIT_USAGE",
    "MASK",
    "OPERATIONS",
    "SECRET_HEADER",
    "ActionSpec",
    "Change",
    "ChangeKind",
    "UsageError",
    "action_title",
    "action_url",
    "build_parser",
    "describe",
    "desired_action",
    "display_url",
    "format_words",
    "main",
    "normalize_endpoint",
    "operation_of",
    "plan_create",
    "plan_delete",
    "plugin_actions",
    "render_table",
]
