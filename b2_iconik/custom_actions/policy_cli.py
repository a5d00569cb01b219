"""``b2-iconik-actions policy ...``: the plugin's policies as iconik automations.

``policy create`` (:mod:`.policy_create`) makes (or refreshes) the policy's own custom action,
then its automation, INACTIVE, and prints iconik's estimate of how many assets it would act on;
only ``--activate`` switches it on and only ``--run-existing`` runs it on the assets already
there. Everything else (list, estimate, activate, deactivate, run, delete), here, finds the
policy by its slug among the automations whose description marks them as this endpoint's
(:mod:`.policies`), so other automations and other deployments' policies are never touched.
``--dry-run`` goes through the same code with a client that prints each write instead of
sending it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import TextIO

from b2_iconik.custom_actions.actions import Json, normalize_endpoint
from b2_iconik.custom_actions.api import (
    make_client,
    read_environment,
)
from b2_iconik.custom_actions.errors import UsageError
from b2_iconik.custom_actions.policies import (
    KINDS,
    action_id_of,
    check_slug,
    our_automations,
    owner_of,
    policy_actions,
    policy_of_url,
    trigger_words,
)
from b2_iconik.custom_actions.policy_acts import (
    EXIT_OK,
    done,
    estimate_words,
    run_existing,
    set_status,
)
from b2_iconik.custom_actions.policy_create import cmd_create
from b2_iconik.custom_actions.render import table
from b2_iconik.iconik.client import IconikClient

# -- the commands on existing policies ------------------------------------------------------------


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """Show our policies: slug, status, name, trigger, the custom action's health."""
    endpoint = normalize_endpoint(args.endpoint) if args.endpoint else None
    env = read_environment(need_secret=False)
    with make_client(env) as client:
        automations = our_automations(client.list_automations(), endpoint)
        actions = {str(a.get("id")): a for a in client.list_custom_actions()}
        rows = [_list_row(client, a, actions, args.estimate) for a in automations]
        orphans = _orphans(actions.values(), automations, endpoint)
    if not rows and not orphans:
        print(f"no policies{f' for {endpoint}' if endpoint else ''}", file=out)
        return EXIT_OK
    header = ["SLUG", "STATUS", "NAME", "TRIGGER", "ACTION"]
    header += ["ESTIMATE"] if args.estimate else []
    if rows and endpoint:
        print(table(header, [row[:-1] for row in rows]), file=out)
    elif rows:
        print(table([*header, "ENDPOINT"], rows), file=out)
    active = sum(1 for a in automations if a.get("status") == "ACTIVE")
    print(f"\n{len(rows)} policy(ies), {active} active", file=out)
    for line in orphans:
        print(line, file=out)
    return EXIT_OK


def _list_row(
    client: IconikClient, automation: Json, actions: dict[str, Json], estimate: bool
) -> list[str]:
    """One policy's cells; the estimate costs a call per policy, so only under --estimate."""
    endpoint, slug = owner_of(automation) or ("", "")
    row = [
        slug,
        str(automation.get("status") or "-"),
        str(automation.get("name") or ""),
        trigger_words(automation),
        _health(actions.get(str(action_id_of(automation)))),
    ]
    if estimate:
        row.append(str(client.estimate_automation(str(automation["id"])).get("total", "?")))
    return [*row, endpoint]


def _health(action: Json | None) -> str:
    """The custom action's status, with iconik's last error when it has one."""
    if action is None:
        return "MISSING (create the policy again)"
    health = str(action.get("status") or "-")
    if action.get("last_error"):
        health += f": {' '.join(str(action['last_error']).split())}"
        if action.get("last_error_date"):
            health += f" (at {action['last_error_date']})"
    return health


def _orphans(actions: Iterable[Json], automations: list[Json], endpoint: str | None) -> list[str]:
    """Lines for policy actions no automation of ours calls (``policy delete`` removes them)."""
    called = {action_id_of(a) for a in automations}
    lines = []
    for action in actions:
        owner = policy_of_url(action.get("url"), endpoint)
        if owner and str(action.get("id")) not in called:
            lines.append(f"custom action of policy {owner[0]} has no automation: {action['id']}")
    return lines


def _find(client: IconikClient, endpoint: str, slug: str) -> Json:
    """Our automation for the slug.

    Raises:
        UsageError: there is none.
    """
    found = our_automations(client.list_automations(), endpoint, check_slug(slug))
    if not found:
        raise UsageError(
            f"no policy {slug} for {endpoint} (b2-iconik-actions policy list {endpoint} "
            "shows them)"
        )
    return found[0]


def cmd_estimate(args: argparse.Namespace, out: TextIO) -> int:
    """Print iconik's estimate of how many assets the policy would act on now."""
    endpoint = normalize_endpoint(args.endpoint)
    with make_client(read_environment(need_secret=False)) as client:
        automation = _find(client, endpoint, args.slug)
        print(f"{args.slug}: {estimate_words(client, str(automation['id']))}", file=out)
    return EXIT_OK


def _status_command(status: str) -> Callable[[argparse.Namespace, TextIO], int]:
    """``activate`` or ``deactivate``: PATCH the status of one policy."""

    def command(args: argparse.Namespace, out: TextIO) -> int:
        endpoint = normalize_endpoint(args.endpoint)
        env = read_environment(need_secret=False)
        with make_client(env, preview=out if args.dry_run else None) as client:
            set_status(client, _find(client, endpoint, args.slug), status, out)
        return done(args.dry_run, out)

    command.__doc__ = f"Set one policy's automation {status}."
    return command


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    """Run the policy now on the existing assets it matches (iconik works in the background)."""
    endpoint = normalize_endpoint(args.endpoint)
    env = read_environment(need_secret=False)
    with make_client(env, preview=out if args.dry_run else None) as client:
        automation = _find(client, endpoint, args.slug)
        print(f"estimate: {estimate_words(client, str(automation['id']))}", file=out)
        run_existing(client, str(automation["id"]), args.dry_run, out)
    return done(args.dry_run, out)


def cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    """Delete our automation(s) and their custom actions: the slug's, or every one with --all."""
    endpoint = normalize_endpoint(args.endpoint)
    if bool(args.slug) == bool(args.all):
        raise UsageError("give either SLUG or --all")
    slug = check_slug(args.slug) if args.slug else None
    env = read_environment(need_secret=False)
    with make_client(env, preview=out if args.dry_run else None) as client:
        automations = our_automations(client.list_automations(), endpoint, slug)
        actions = policy_actions(client.list_custom_actions(), endpoint, slug)
        if not automations and not actions:
            if slug:
                _find(client, endpoint, slug)  # raises: unknown slug
            print(f"no policies for {endpoint}", file=out)
            return EXIT_OK
        verb = "would delete" if args.dry_run else "deleted"
        for automation in automations:  # first, so that none is left calling a missing action
            client.delete_automation(str(automation["id"]))
            print(f"{verb} automation {automation.get('name')!r} ({automation['id']})", file=out)
        for action in actions:
            client.delete_custom_action(str(action.get("context")), str(action["id"]))
            print(f"{verb} custom action {action.get('title')!r} ({action['id']})", file=out)
    return done(args.dry_run, out)


# -- argparse ------------------------------------------------------------------------------------


def add_policy_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``policy`` and its commands, under the tool's parser."""
    policy = sub.add_parser(
        "policy",
        help="manage the plugin's policies (iconik automations that run Add or Remove)",
        description=(
            "Policies are iconik automations whose one action calls a custom action of their "
            "own (ENDPOINT/policies/SLUG/add or /remove). Run 'create ENDPOINT' first: a "
            "policy takes its storages and formats from the ordinary actions."
        ),
    )
    commands = policy.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    create = commands.add_parser(
        "create",
        help="create a policy (INACTIVE) or update it in place; print iconik's estimate",
    )
    create.add_argument("endpoint", metavar="ENDPOINT", help="the function's URL")
    create.add_argument("kind", choices=KINDS, metavar="KIND", help=" | ".join(KINDS))
    create.add_argument("--days", metavar="N", help="remove-when-unmodified: N days, N >= 1")
    create.add_argument(
        "--collection", metavar="ID", help="add-when-in-collection: the collection's id"
    )
    create.add_argument("--b2-storage", metavar="ID", help="default: the ordinary actions'")
    create.add_argument("--ll-storage", metavar="ID", help="default: the ordinary actions'")
    create.add_argument("--formats", metavar="NAMES", help="default: the ordinary actions'")
    create.add_argument("--activate", action="store_true", help="switch it on (ACTIVE)")
    create.add_argument(
        "--run-existing",
        action="store_true",
        help="also run it now on the existing assets it matches",
    )
    _dry_run(create)
    create.set_defaults(func=cmd_create)

    listing = commands.add_parser("list", help="show our policies, their status and health")
    listing.add_argument("endpoint", nargs="?", metavar="ENDPOINT", help="only this function's")
    listing.add_argument(
        "--estimate", action="store_true", help="add iconik's estimate (one call per policy)"
    )
    listing.set_defaults(func=cmd_list)

    for name, func, text in (
        ("estimate", cmd_estimate, "print how many assets the policy would act on now"),
        ("activate", _status_command("ACTIVE"), "switch the policy on"),
        ("deactivate", _status_command("INACTIVE"), "switch the policy off"),
        ("run", cmd_run, "run the policy now on the existing assets it matches"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("endpoint", metavar="ENDPOINT", help="the function's URL")
        command.add_argument("slug", metavar="SLUG", help="as policy list shows it")
        if name != "estimate":
            _dry_run(command)
        command.set_defaults(func=func)

    delete = commands.add_parser("delete", help="delete a policy (or --all): ours only")
    delete.add_argument("endpoint", metavar="ENDPOINT", help="the function's URL")
    delete.add_argument("slug", nargs="?", metavar="SLUG", help="as policy list shows it")
    delete.add_argument("--all", action="store_true", help="every policy of ENDPOINT")
    _dry_run(delete)
    delete.set_defaults(func=cmd_delete)


def _dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="print the requests it would send; change nothing"
    )
