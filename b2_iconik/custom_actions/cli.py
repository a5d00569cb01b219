"""The command line of ``b2-iconik-actions``: argparse, the commands, the exit statuses.

``create``, ``list`` and ``delete`` are here; the ``policy`` group is in :mod:`.policy_cli`.

Each command reads its inputs, asks :mod:`.plan` what to do, prints it with :mod:`.render` and
applies it through :mod:`.api`. Every expected failure ends here as one line on stderr and an exit
status: 2 for a wrong argument or setting, 1 when iconik fails or cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from b2_iconik import __version__
from b2_iconik.base.config import parse_formats
from b2_iconik.base.errors import ConfigError, IconikError, IconikHTTPError, IconikUnavailable
from b2_iconik.custom_actions.actions import (
    ActionSpec,
    Json,
    normalize_endpoint,
    plugin_actions,
)
from b2_iconik.custom_actions.api import (
    apply_changes,
    check_storages,
    make_client,
    read_environment,
)
from b2_iconik.custom_actions.audit import add_parser as add_audit_parser
from b2_iconik.custom_actions.errors import UsageError
from b2_iconik.custom_actions.plan import Change, plan_create, plan_delete
from b2_iconik.custom_actions.policies import policy_of_url
from b2_iconik.custom_actions.policy_cli import add_policy_parser
from b2_iconik.custom_actions.render import describe, fail, render_table, summary
from b2_iconik.iconik.client import AUTOMATIONS, IconikClient

EXIT_OK, EXIT_ICONIK, EXIT_USAGE = 0, 1, 2


# -- commands ------------------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace, out: TextIO) -> int:
    """Create or refresh the 8 actions of an endpoint (2 operations x 4 contexts)."""
    endpoint = normalize_endpoint(args.endpoint)
    b2_id, ll_id, formats_arg = _legacy_positionals(args)
    env = read_environment(need_secret=True)
    formats = parse_formats("--formats", formats_arg) if formats_arg else env.formats_env
    b2_id = b2_id or env.settings.b2_storage_id
    ll_id = ll_id or env.settings.ll_storage_id
    spec = ActionSpec(
        endpoint=endpoint,
        app_id=env.settings.iconik_id,
        secret=env.settings.shared_secret or "",
        b2_storage_id=b2_id,
        ll_storage_id=ll_id,
        formats=formats,
    )
    with make_client(env) as client:
        for line in check_storages(client, b2_id, ll_id):
            print(line, file=out)
        if not (b2_id and ll_id):
            print(
                "note: no storage id given for "
                + " and ".join(n for n, v in (("B2", b2_id), ("LucidLink", ll_id)) if not v)
                + ": the function's B2_STORAGE_ID / LL_STORAGE_ID must be set",
                file=sys.stderr,
            )
        changes = plan_create(client.list_custom_actions(), spec)
        return _run(client, changes, args.dry_run, out)


def cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    """Delete the endpoint's plugin actions, and nothing else."""
    endpoint = normalize_endpoint(args.endpoint)
    env = read_environment(need_secret=False)
    with make_client(env) as client:
        actions = client.list_custom_actions()
        _note_policies(actions, endpoint)
        changes = plan_delete(actions, endpoint)
        if not changes:
            print(f"no plugin actions for {endpoint}", file=out)
            return EXIT_OK
        return _run(client, changes, args.dry_run, out)


def _note_policies(actions: list[Json], endpoint: str) -> None:
    """Say so on stderr when the endpoint has policies: ``delete`` leaves them, and once the
    function is gone their automations would call nothing (``make undeploy`` runs ``delete``)."""
    owners = (policy_of_url(a.get("url"), endpoint) for a in actions)
    slugs = sorted({owner[0] for owner in owners if owner})
    if slugs:
        print(
            f"note: the policies of {endpoint} are kept ({', '.join(slugs)}): "
            f"b2-iconik-actions policy delete {endpoint} --all removes them",
            file=sys.stderr,
        )


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """Print the plugin's actions (optionally one endpoint's) with their health."""
    endpoint = normalize_endpoint(args.endpoint) if args.endpoint else None
    env = read_environment(need_secret=False)
    with make_client(env) as client:
        actions = plugin_actions(client.list_custom_actions(), endpoint)
    if not actions:
        where = f" for {endpoint}" if endpoint else ""
        print(f"no plugin actions{where}", file=out)
        return EXIT_OK
    print(render_table(actions), file=out)
    failing = sum(1 for a in actions if a.get("status") == "FAILING")
    print(f"\n{len(actions)} action(s), {failing} failing", file=out)
    return EXIT_OK


def _run(client: IconikClient, changes: list[Change], dry_run: bool, out: TextIO) -> int:
    """Print the plan (dry run) or apply it, then a one-line summary."""
    if dry_run:
        for change in changes:
            print(describe(change, dry_run=True), file=out)
        print("dry run: nothing was changed", file=out)
        return EXIT_OK
    for change in changes:
        if change.kind == "unchanged":
            print(describe(change, dry_run=False), file=out)
    done = apply_changes(client, changes, out)
    print(summary(changes, done), file=out)
    return EXIT_OK


def _legacy_positionals(args: argparse.Namespace) -> tuple[str | None, str | None, str | None]:
    """Merge Backblaze's original ``ENDPOINT B2_ID LL_ID [FORMATS]`` form with the options.

    Raises:
        UsageError: the same value is given both ways.
    """
    merged = []
    for option, flag, positional in (
        ("--b2-storage", args.b2_storage, args.legacy_b2),
        ("--ll-storage", args.ll_storage, args.legacy_ll),
        ("--formats", args.formats, args.legacy_formats),
    ):
        if flag and positional:
            raise UsageError(f"{option} given twice (as an option and as a positional argument)")
        merged.append(flag or positional)
    return merged[0], merged[1], merged[2]


def build_parser() -> argparse.ArgumentParser:
    """The command line: create, list, delete, and the policy group."""
    parser = argparse.ArgumentParser(
        prog="b2-iconik-actions",
        description=(
            "Register, list and delete the Backblaze B2 plugin's iconik custom actions "
            "(Add to LucidLink / Remove from LucidLink). Reads ICONIK_ID, ICONIK_TOKEN, "
            "ICONIK_URL and BZ_SHARED_SECRET from the environment or a local .env file."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = sub.add_parser(
        "create",
        help="create the actions, or update them in place when they exist",
        description=(
            "Create 'Add' and 'Remove' POST actions in the ASSET, COLLECTION, BULK and "
            "SAVED_SEARCH contexts for ENDPOINT. Existing actions of ENDPOINT are updated in "
            "place; actions of other endpoints are never touched."
        ),
    )
    create.add_argument("endpoint", metavar="ENDPOINT", help="the function's URL")
    create.add_argument("legacy_b2", nargs="?", metavar="B2_STORAGE_ID", help=argparse.SUPPRESS)
    create.add_argument("legacy_ll", nargs="?", metavar="LL_STORAGE_ID", help=argparse.SUPPRESS)
    create.add_argument("legacy_formats", nargs="?", metavar="FORMATS", help=argparse.SUPPRESS)
    create.add_argument(
        "--b2-storage", metavar="ID", help="the B2 storage's iconik id (default: $B2_STORAGE_ID)"
    )
    create.add_argument(
        "--ll-storage",
        metavar="ID",
        help="the LucidLink storage's iconik id (default: $LL_STORAGE_ID)",
    )
    create.add_argument(
        "--formats",
        metavar="NAMES",
        help="comma-separated format names, e.g. ORIGINAL,PPRO_PROXY (default: $FORMAT_NAMES, "
        "else left to the function)",
    )
    create.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    create.set_defaults(func=cmd_create)

    listing = sub.add_parser("list", help="show the plugin's actions and their health")
    listing.add_argument("endpoint", nargs="?", metavar="ENDPOINT", help="only this function's")
    listing.set_defaults(func=cmd_list)

    delete = sub.add_parser("delete", help="delete the plugin's actions of one endpoint")
    delete.add_argument("endpoint", metavar="ENDPOINT", help="the function's URL")
    delete.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    delete.set_defaults(func=cmd_delete)

    add_policy_parser(sub)
    add_audit_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool; returns the exit status (0 ok, 1 iconik failed, 2 usage or configuration).

    Every expected failure becomes one line on stderr, never a traceback, and never carries the
    token or the secret (iconik's error messages are passed through with both masked).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        return int(args.func(args, out))
    except (UsageError, ConfigError) as error:
        fail(str(error))
        return EXIT_USAGE
    except IconikHTTPError as error:
        fail(_explain_http(error))
        return EXIT_ICONIK
    except IconikUnavailable as error:
        url = os.environ.get("ICONIK_URL") or "https://app.iconik.io"
        fail(f"iconik at {url} could not be reached ({error}); check ICONIK_URL and the network")
        return EXIT_ICONIK
    except IconikError as error:
        fail(f"iconik failed: {error}")
        return EXIT_ICONIK
    except KeyboardInterrupt:
        fail("interrupted")
        return 130


def _explain_http(error: IconikHTTPError) -> str:
    """iconik's error status in words an operator can act on."""
    if error.status == 401:
        return (
            "iconik refused the token (401): check ICONIK_ID and ICONIK_TOKEN "
            "(an application token of this iconik domain, see ICONIK_URL)"
        )
    if error.status == 403 and error.path.startswith(AUTOMATIONS):
        return (
            f"iconik denied {error.method} {error.path} (403): the application token's user "
            f"needs the role {automation_role(error.method, error.path)}"
        )
    if error.status == 403:
        return (
            f"iconik denied {error.method} {error.path} (403): the application token's user "
            "needs the rights to manage custom actions and read storages"
        )
    return f"iconik failed: {error}"


def automation_role(method: str, path: str) -> str:
    """The iconik role a call to the automations API needs (automations.md, section 4)."""
    if "/runs/" in path:
        return "can_run_automations"
    if method == "GET":
        return "can_read_automations"
    if method == "DELETE":
        return "can_delete_automations"
    return "can_write_automations"
