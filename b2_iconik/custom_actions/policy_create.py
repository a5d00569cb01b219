"""``b2-iconik-actions policy create``: a policy's own custom action, then its automation.

It makes (or refreshes) the action, then the automation, INACTIVE, and prints iconik's estimate
of how many assets it would act on; only ``--activate`` switches it on and only
``--run-existing`` runs it on the assets already there. ``--dry-run`` goes through the same code
with a client that prints each write instead of sending it.
"""

from __future__ import annotations

import argparse
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
    POLICY_CONTEXT,
    Policy,
    approved_policy,
    automation_differs,
    check_collection_id,
    collection_policy,
    desired_automation,
    desired_policy_action,
    our_automations,
    parse_days,
    policy_actions,
    registered_spec,
    unmodified_policy,
)
from b2_iconik.custom_actions.policy_acts import (
    done,
    estimate_words,
    run_existing,
    set_status,
    verb,
)
from b2_iconik.custom_actions.render import PREVIEW_ID, describe
from b2_iconik.iconik.client import IconikClient


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
    return done(args.dry_run, out)


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
        print(f"automation: {verb('create', dry_run)} {policy.name!r}, INACTIVE", file=out)
        return {**wanted, "status": "INACTIVE", **created}
    first, *duplicates = mine
    fields = automation_differs(first, wanted)
    if fields:
        kept = {k: first[k] for k in KEPT_FIELDS if first.get(k) is not None}
        client.update_automation(str(first["id"]), {**wanted, **kept})
        changes = ", ".join(fields)
        print(f"automation: {verb('update', dry_run)} {policy.name!r} ({changes})", file=out)
        first = {**first, **wanted}
    else:
        print(f"automation: unchanged {policy.name!r}, {first.get('status')}", file=out)
    for duplicate in duplicates:
        client.delete_automation(str(duplicate["id"]))
        print(f"automation: {verb('delete', dry_run)} a duplicate ({duplicate['id']})", file=out)
    return first


def _estimate(client: IconikClient, automation: Json, out: TextIO) -> None:
    """Print iconik's estimate, unless the automation exists only in a dry run."""
    if automation.get("id") in (None, PREVIEW_ID):
        print("estimate: none yet (iconik estimates an automation once it exists)", file=out)
        return
    print(f"estimate: {estimate_words(client, str(automation['id']))}", file=out)


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
        set_status(client, automation, "ACTIVE", out)
    elif automation.get("status") != "ACTIVE":
        print(
            f"not active: b2-iconik-actions policy activate {endpoint} {slug} "
            "(or create again with --activate) switches it on",
            file=out,
        )
    if args.run_existing:
        run_existing(client, automation_id, args.dry_run, out)
