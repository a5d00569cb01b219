"""``b2-iconik-actions policy ...``: the plugin's policies as iconik automations.

``policy create`` makes (or refreshes) the policy's own custom action, then its automation,
INACTIVE, and prints iconik's estimate of how many assets it would act on; only ``--activate``
switches it on and only ``--run-existing`` runs it on the assets already there. Everything
else (list, estimate, activate, deactivate, run, delete) finds the policy by its slug among the
automations whose description marks them as this endpoint's (:mod:`.policies`), so other
automations and other deployments' policies are never touched. ``--dry-run`` goes through the
same code with a client that prints each write instead of sending it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import TextIO

from b2_iconik.base.config import parse_formats
from b2_iconik.custom_actions.actions import ActionSpec, Json, normalize_endpoint
from b2_iconik.custom_actions.api import (
    Environment,
    apply_change,
    check_storages,
    make_client,
    read_environment,
)
from b2_iconik.custom_actions.errors import UsageError
from b2_iconik.custom_actions.plan import reconcile
from b2_iconik.custom_actions.policies import (
    KEPT_FIELDS,
    KINDS,
    POLICY_CONTEXT,
    Policy,
    action_id_of,
    approved_policy,
    automation_differs,
    check_collection_id,
    check_slug,
    collection_policy,
    desired_automation,
    desired_policy_action,
    our_automations,
    owner_of,
    parse_days,
    policy_actions,
    policy_of_url,
    registered_spec,
    trigger_words,
    unmodified_policy,
)
from b2_iconik.custom_actions.render import PREVIEW_ID, describe, table
from b2_iconik.iconik.client import IconikClient

#: As in :mod:`.cli`, which imports this module (so it cannot be imported from there).
EXIT_OK = 0


def _verb(verb: str, dry_run: bool) -> str:
    """``created`` for what was done, ``would create`` for what a dry run would do."""
    return f"would {verb}" if dry_run else f"{verb}d"


def _done(dry_run: bool, out: TextIO) -> int:
    """The exit status of a command that may change iconik, saying so after a dry run."""
    if dry_run:
        print("dry run: nothing was changed", file=out)
    return EXIT_OK


# -- create --------------------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace, out: TextIO) -> int:
    """Create or refresh one policy; estimate it; activate or run it only when asked."""
    endpoint = normalize_endpoint(args.endpoint)
    _check_kind_options(args)
    env = read_environment(need_secret=True)
    formats = parse_formats("--formats", args.formats) if args.formats else None
    with make_client(env, preview=out if args.dry_run else None) as client:
        actions = client.list_custom_actions()
        policy = _policy(client, args)
        spec = registered_spec(actions, _spec(env, endpoint, args, formats), policy.operation)
        for line in check_storages(client, spec.b2_storage_id, spec.ll_storage_id):
            print(line, file=out)
        automations = our_automations(client.list_automations(), endpoint, policy.slug)
        print(f"policy {policy.slug}: {policy.name}", file=out)
        action_id = _ensure_action(client, actions, spec, policy, args.dry_run, out)
        automation = _ensure_automation(
            client, automations, endpoint, policy, action_id, args.dry_run, out
        )
        _estimate(client, automation, out)
        _follow_up(client, automation, args, endpoint, policy.slug, out)
    return _done(args.dry_run, out)


def _check_kind_options(args: argparse.Namespace) -> None:
    """Each kind takes its own option and no other's, so a typo cannot go unnoticed.

    Raises:
        UsageError: an option is missing, or given to a kind that has no use for it.
    """
    needs = {"remove-when-unmodified": "days", "add-when-in-collection": "collection"}
    for kind_name, option in needs.items():
        given = getattr(args, option) is not None
        if args.kind == kind_name and not given:
            raise UsageError(f"{kind_name} needs --{option}")
        if args.kind != kind_name and given:
            raise UsageError(f"--{option} is for {kind_name} only, not {args.kind}")
    if args.days is not None:
        parse_days(args.days)
    if args.collection is not None:
        check_collection_id(args.collection)


def _policy(client: IconikClient, args: argparse.Namespace) -> Policy:
    """The policy asked for; a collection must exist before anything is created for it.

    Raises:
        UsageError: iconik has no such collection.
    """
    if args.kind == "remove-when-approved":
        return approved_policy()
    if args.kind == "remove-when-unmodified":
        return unmodified_policy(parse_days(args.days))
    collection_id = check_collection_id(args.collection)
    collection = client.get_collection(collection_id)
    if collection is None:
        raise UsageError(f"--collection {collection_id}: iconik has no such collection")
    return collection_policy(collection_id, collection.get("title"))


def _spec(
    env: Environment, endpoint: str, args: argparse.Namespace, formats: tuple[str, ...] | None
) -> ActionSpec:
    """What the options give; :func:`registered_spec` fills the rest from the ordinary actions."""
    return ActionSpec(
        endpoint=endpoint,
        app_id=env.settings.iconik_id,
        secret=env.settings.shared_secret or "",
        b2_storage_id=args.b2_storage,
        ll_storage_id=args.ll_storage,
        formats=formats,
    )


def _ensure_action(
    client: IconikClient,
    actions: list[Json],
    spec: ActionSpec,
    policy: Policy,
    dry_run: bool,
    out: TextIO,
) -> str:
    """Create, update or keep the policy's own custom action (duplicates deleted); its id."""
    mine = [
        a
        for a in policy_actions(actions, spec.endpoint, policy.slug)
        if a.get("context") == POLICY_CONTEXT
    ]
    changes = reconcile(mine, desired_policy_action(spec, policy), POLICY_CONTEXT)
    action_id = PREVIEW_ID
    for change in changes:
        print(f"custom action: {describe(change, dry_run)}", file=out)
        stored = apply_change(client, change)
        if change.kind == "create":
            action_id = str((stored or {}).get("id") or PREVIEW_ID)
        elif change.kind in ("update", "unchanged"):
            action_id = str(change.action_id)
    return action_id


def _ensure_automation(
    client: IconikClient,
    mine: list[Json],
    endpoint: str,
    policy: Policy,
    action_id: str,
    dry_run: bool,
    out: TextIO,
) -> Json:
    """Create the automation INACTIVE, or update ours in place keeping its status; returns it."""
    wanted = desired_automation(endpoint, policy, action_id)
    if not mine:
        created = client.create_automation({**wanted, "status": "INACTIVE"})
        print(f"automation: {_verb('create', dry_run)} {policy.name!r}, INACTIVE", file=out)
        return {**wanted, "status": "INACTIVE", **created}
    first, *duplicates = mine
    fields = automation_differs(first, wanted)
    if fields:
        kept = {k: first[k] for k in KEPT_FIELDS if first.get(k) is not None}
        client.update_automation(str(first["id"]), {**wanted, **kept})
        changes = ", ".join(fields)
        print(f"automation: {_verb('update', dry_run)} {policy.name!r} ({changes})", file=out)
        first = {**first, **wanted}
    else:
        print(f"automation: unchanged {policy.name!r}, {first.get('status')}", file=out)
    for duplicate in duplicates:
        client.delete_automation(str(duplicate["id"]))
        print(f"automation: {_verb('delete', dry_run)} a duplicate ({duplicate['id']})", file=out)
    return first


def _estimate(client: IconikClient, automation: Json, out: TextIO) -> None:
    """Print iconik's estimate, unless the automation exists only in a dry run."""
    if automation.get("id") in (None, PREVIEW_ID):
        print("estimate: none yet (iconik estimates an automation once it exists)", file=out)
        return
    print(f"estimate: {_estimate_words(client, str(automation['id']))}", file=out)


def _estimate_words(client: IconikClient, automation_id: str) -> str:
    """iconik's ``runs/estimate`` answer in words."""
    answer = client.estimate_automation(automation_id)
    words = f"{answer.get('total', '?')} asset(s) match it now"
    errors = [str(e) for e in answer.get("errors") or []]
    return words + (f" (iconik: {'; '.join(errors)})" if errors else "")


def _follow_up(
    client: IconikClient,
    automation: Json,
    args: argparse.Namespace,
    endpoint: str,
    slug: str,
    out: TextIO,
) -> None:
    """Activate and run on existing assets, each only when its own flag asks for it."""
    automation_id = str(automation.get("id") or PREVIEW_ID)
    if args.activate:
        _set_status(client, automation, "ACTIVE", out)
    elif automation.get("status") != "ACTIVE":
        print(
            f"not active: b2-iconik-actions policy activate {endpoint} {slug} "
            "(or create again with --activate) switches it on",
            file=out,
        )
    if args.run_existing:
        _run_existing(client, automation_id, args.dry_run, out)


def _run_existing(client: IconikClient, automation_id: str, dry_run: bool, out: TextIO) -> None:
    """POST the run (iconik answers 202 and works in the background)."""
    client.run_automation(automation_id)
    if not dry_run:
        print("run: iconik runs it on the existing assets it matches, in the background", file=out)


def _set_status(client: IconikClient, automation: Json, status: str, out: TextIO) -> None:
    """PATCH the automation's status, unless it already has it."""
    if automation.get("status") == status:
        print(f"status: already {status}", file=out)
        return
    client.patch_automation(str(automation.get("id") or PREVIEW_ID), status=status)
    print(f"status: {automation.get('status') or '-'} -> {status}", file=out)


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
        print(f"{args.slug}: {_estimate_words(client, str(automation['id']))}", file=out)
    return EXIT_OK


def _status_command(status: str) -> Callable[[argparse.Namespace, TextIO], int]:
    """``activate`` or ``deactivate``: PATCH the status of one policy."""

    def command(args: argparse.Namespace, out: TextIO) -> int:
        endpoint = normalize_endpoint(args.endpoint)
        env = read_environment(need_secret=False)
        with make_client(env, preview=out if args.dry_run else None) as client:
            _set_status(client, _find(client, endpoint, args.slug), status, out)
        return _done(args.dry_run, out)

    command.__doc__ = f"Set one policy's automation {status}."
    return command


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    """Run the policy now on the existing assets it matches (iconik works in the background)."""
    endpoint = normalize_endpoint(args.endpoint)
    env = read_environment(need_secret=False)
    with make_client(env, preview=out if args.dry_run else None) as client:
        automation = _find(client, endpoint, args.slug)
        print(f"estimate: {_estimate_words(client, str(automation['id']))}", file=out)
        _run_existing(client, str(automation["id"]), args.dry_run, out)
    return _done(args.dry_run, out)


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
    return _done(args.dry_run, out)


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
