"""The operator's tool for the plugin's iconik custom actions: create (or refresh), list, delete.

Run as ``b2-iconik-actions`` or ``python -m b2_iconik.custom_actions``::

    b2-iconik-actions create https://REGION-PROJECT.cloudfunctions.net/iconik_handler \\
        --b2-storage B2_ID --ll-storage LL_ID --formats ORIGINAL,PPRO_PROXY
    b2-iconik-actions list
    b2-iconik-actions delete https://REGION-PROJECT.cloudfunctions.net/iconik_handler

The work is split into pure *planning* functions (what would change, given the actions iconik has)
and one *apply* function, so that ``--dry-run`` and the real run print the same plan and tests can
check a plan without a server. The tool is idempotent: ``create`` run twice leaves one action per
context and operation, updated in place; it only ever touches actions whose URL is ``ENDPOINT/add``
or ``ENDPOINT/remove`` for the endpoint named on the command line.

Errors are one line on stderr: exit status 2 for usage and configuration (including storage ids
that iconik does not know), 1 when iconik fails or cannot be reached. The shared secret and the
token are never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from b2_iconik.config import Settings, is_uuid, parse_formats
from b2_iconik.errors import ConfigError, IconikError, IconikHTTPError, IconikUnavailable
from b2_iconik.iconik import IconikClient, retry_policy

Json = dict[str, Any]

#: The contexts the plugin's actions appear in (one action per context and operation).
CONTEXTS: tuple[str, ...] = ("ASSET", "COLLECTION", "BULK", "SAVED_SEARCH")
#: The operations, as the last segment of the action's URL path.
OPERATIONS: tuple[str, ...] = ("add", "remove")
#: The header iconik sends with every call, carrying the shared secret.
SECRET_HEADER = "x-bz-secret"
#: How a secret is shown in any output.
MASK = "****"
#: Words for the format names iconik ships with; other names are shown as written.
FORMAT_WORDS: dict[str, str] = {
    "ORIGINAL": "original",
    "PPRO_PROXY": "Premiere Pro proxy",
    "EDIT_PROXY": "edit proxy",
    "PROXY": "proxy",
    "HIGH_RES_PROXY": "high resolution proxy",
    "AUDIO_PROXY": "audio proxy",
}
#: Fields of an action the tool owns; an update changes these and keeps the rest.
OWNED_FIELDS: tuple[str, ...] = ("type", "context", "title", "url", "headers", "app_id")
#: Fields an operator may have set in iconik's admin UI, carried over by an update (PUT).
KEPT_FIELDS: tuple[str, ...] = ("disabled", "metadata_view")
#: Shorter values are not masked inside error messages: they would garble the words.
MIN_MASKED = 6
#: Retries for the CLI: an operator waits at the terminal, so fail within seconds, not minutes.
CLI_RETRIES = 3
CLI_BACKOFF = 0.5

EXIT_OK, EXIT_ICONIK, EXIT_USAGE = 0, 1, 2

ChangeKind = Literal["create", "update", "delete", "unchanged"]


class UsageError(Exception):
    """A wrong argument or setting; exit status 2 with the message as the only output."""


@dataclass(frozen=True)
class Change:
    """One thing ``create`` or ``delete`` would do to one custom action.

    Attributes:
        kind: create, update, delete, or unchanged (shown, but nothing is sent).
        context: the iconik context of the action.
        action: the body to send (create/update), or the existing action (delete/unchanged).
        action_id: the existing action's id (update/delete/unchanged).
        fields: for an update, the names of the owned fields that differ.
    """

    kind: ChangeKind
    context: str
    action: Json
    action_id: str | None = None
    fields: tuple[str, ...] = field(default=())


# -- URLs ----------------------------------------------------------------------------------


def normalize_endpoint(endpoint: str) -> str:
    """The function's URL without a trailing slash, checked to be a plain http(s) URL.

    A query or fragment would end up in the middle of the action URLs, so it is refused.
    """
    endpoint = endpoint.strip()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"ENDPOINT must be the function's http(s) URL, not {endpoint!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"ENDPOINT must not have a query or fragment: {endpoint!r}")
    if parts.path.rstrip("/").rsplit("/", 1)[-1] in OPERATIONS:
        raise UsageError(
            f"ENDPOINT is the function's URL without /add or /remove (the tool adds them): "
            f"{endpoint!r}"
        )
    return endpoint.rstrip("/")


def _base(url: str) -> tuple[str, str, str]:
    """scheme, host and path (no trailing slash) of a URL, scheme and host in lower case."""
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")


def operation_of(url: object, endpoint: str | None = None) -> str | None:
    """``add`` or ``remove`` when the URL is one of the plugin's actions, else None.

    A plugin action's URL path ends with ``/add`` or ``/remove`` (a trailing slash allowed, the
    query ignored). With an endpoint, the path must also be exactly that endpoint's path plus the
    operation, on the same scheme and host: actions of other deployments are not ours to touch.
    """
    if not isinstance(url, str):
        return None
    scheme, host, path = _base(url)
    operation = path.rsplit("/", 1)[-1]
    if operation not in OPERATIONS or "/" not in path:
        return None
    if endpoint is not None:
        e_scheme, e_host, e_path = _base(endpoint)
        if (scheme, host, path) != (e_scheme, e_host, f"{e_path}/{operation}"):
            return None
    return operation


def action_url(endpoint: str, operation: str, query: dict[str, str]) -> str:
    """The URL iconik will POST to: the endpoint, the operation, and the query parameters.

    Commas stay literal (``formats=ORIGINAL,PPRO_PROXY``) so the URL reads well in iconik's admin.
    """
    url = f"{endpoint}/{operation}"
    return f"{url}?{urlencode(query, safe=',')}" if query else url


def display_url(url: str) -> str:
    """A URL safe to print: values of query parameters that look like secrets are masked."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [
        (k, MASK if any(w in k.lower() for w in ("secret", "token", "key")) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe=",")))


# -- titles --------------------------------------------------------------------------------


def format_words(formats: Sequence[str]) -> str:
    """The formats in words: "original", "original and Premiere Pro proxy", "a, b and c"."""
    words = [FORMAT_WORDS.get(name.upper(), name) for name in formats]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def action_title(operation: str, formats: Sequence[str]) -> str:
    """The title users see in iconik's menu: what it does, to which formats."""
    what = format_words(formats)
    if operation == "add":
        return f"Add {what} files to LucidLink"
    return f"Remove {what} files from LucidLink"


# -- what the actions should be --------------------------------------------------------------


@dataclass(frozen=True)
class ActionSpec:
    """What ``create`` was asked for; everything needed to build the actions' bodies.

    Attributes:
        endpoint: the function's URL, normalized.
        app_id: ``ICONIK_ID``: iconik hands the plugin a token of this application.
        secret: ``BZ_SHARED_SECRET``, sent by iconik as ``x-bz-secret`` (repr hides it).
        b2_storage_id, ll_storage_id: put in the URL when given.
        formats: put in the URL when given (None: the function's ``FORMAT_NAMES`` decides).
    """

    endpoint: str
    app_id: str
    secret: str = field(repr=False)
    b2_storage_id: str | None = None
    ll_storage_id: str | None = None
    formats: tuple[str, ...] | None = None

    def query(self) -> dict[str, str]:
        """The query parameters of both actions' URLs, only those given."""
        query: dict[str, str] = {}
        if self.b2_storage_id:
            query["b2_storage_id"] = self.b2_storage_id
        if self.ll_storage_id:
            query["ll_storage_id"] = self.ll_storage_id
        if self.formats:
            query["formats"] = ",".join(self.formats)
        return query


def desired_action(spec: ActionSpec, context: str, operation: str) -> Json:
    """The custom action body for one context and operation (CustomActionSchema)."""
    return {
        "type": "POST",
        "context": context,
        "title": action_title(operation, spec.formats or ("ORIGINAL",)),
        "url": action_url(spec.endpoint, operation, spec.query()),
        "headers": {SECRET_HEADER: spec.secret},
        "app_id": spec.app_id,
    }


def plugin_actions(actions: Iterable[Json], endpoint: str | None = None) -> list[Json]:
    """The actions that belong to the plugin (optionally to one endpoint), in a stable order."""
    ours = [a for a in actions if operation_of(a.get("url"), endpoint)]
    order = {c: i for i, c in enumerate(CONTEXTS)}
    return sorted(
        ours,
        key=lambda a: (
            str(a.get("url", "")).split("?")[0],
            order.get(str(a.get("context")), len(order)),
            str(a.get("context")),
            str(a.get("title")),
        ),
    )


def _differs(current: Json, wanted: Json) -> tuple[str, ...]:
    """The owned fields whose values differ (app ids compared without dashes or case)."""
    changed = []
    for name in OWNED_FIELDS:
        have, want = current.get(name), wanted.get(name)
        if name == "app_id" and isinstance(have, str) and isinstance(want, str):
            have, want = have.replace("-", "").lower(), want.replace("-", "").lower()
        if name == "headers":
            have = have or {}
        if have != want:
            changed.append(name)
    return tuple(changed)


def plan_create(existing: Iterable[Json], spec: ActionSpec) -> list[Change]:
    """What ``create`` must do so that exactly one action per context and operation exists.

    The endpoint's existing action for a context and operation is updated in place (or left
    alone when already right); any duplicates of it, e.g. from running an older tool twice, are
    deleted; missing ones are created. Actions of other endpoints are not looked at.
    """
    ours = plugin_actions(existing, spec.endpoint)
    changes: list[Change] = []
    for operation in OPERATIONS:
        for context in CONTEXTS:
            wanted = desired_action(spec, context, operation)
            matches = [
                a
                for a in ours
                if a.get("context") == context and operation_of(a.get("url")) == operation
            ]
            if not matches:
                changes.append(Change("create", context, wanted))
                continue
            first, *duplicates = matches
            fields = _differs(first, wanted)
            if fields:
                body = {**{k: first[k] for k in KEPT_FIELDS if first.get(k) is not None}, **wanted}
                changes.append(Change("update", context, body, str(first.get("id")), fields))
            else:
                changes.append(Change("unchanged", context, first, str(first.get("id"))))
            changes.extend(Change("delete", context, d, str(d.get("id"))) for d in duplicates)
    return changes


def plan_delete(existing: Iterable[Json], endpoint: str) -> list[Change]:
    """What ``delete`` removes: the endpoint's plugin actions, every context, nothing else."""
    return [
        Change("delete", str(a.get("context")), a, str(a.get("id")))
        for a in plugin_actions(existing, endpoint)
    ]


# -- applying and describing -------------------------------------------------------------------


def apply_changes(client: IconikClient, changes: Iterable[Change], out: TextIO) -> int:
    """Send the planned changes to iconik, printing each as it is done; returns how many.

    Stops at the first failure (the error propagates): what was already done is printed, and
    running ``create`` again converges, since every step is an update of what is there.
    """
    done = 0
    for change in changes:
        if change.kind == "create":
            client.create_custom_action(change.context, change.action)
        elif change.kind == "update":
            client.update_custom_action(change.context, str(change.action_id), change.action)
        elif change.kind == "delete":
            client.delete_custom_action(change.context, str(change.action_id))
        else:
            continue
        done += 1
        print(describe(change, dry_run=False), file=out)
    return done


_VERBS: dict[ChangeKind, tuple[str, str]] = {
    "create": ("would create", "created"),
    "update": ("would update", "updated"),
    "delete": ("would delete", "deleted"),
    "unchanged": ("unchanged", "unchanged"),
}


def describe(change: Change, dry_run: bool) -> str:
    """One line for a change, safe to print: the secret header's value is masked."""
    verb = _VERBS[change.kind][0 if dry_run else 1]
    action = change.action
    line = (
        f"{verb:<13} {change.context:<12} {action.get('title', '')!s:<60} "
        f"{action.get('type') or 'POST'} {display_url(str(action.get('url', '')))}"
    )
    if change.kind in ("create", "update"):
        line += f"  {SECRET_HEADER}: {MASK}"
    if change.fields:
        line += f"  (changes: {', '.join(change.fields)})"
    return line


def render_table(actions: Sequence[Json]) -> str:
    """The plugin's actions as a table: context, status, title, URL, last error.

    The URL is shown without any secret; headers are never shown. A disabled action says so
    in its status.
    """
    header = ("CONTEXT", "STATUS", "TITLE", "URL", "LAST ERROR")
    rows = [header]
    for action in actions:
        status = str(action.get("status") or "-")
        if action.get("disabled"):
            status += " (disabled)"
        error = str(action.get("last_error") or "")
        if error and action.get("last_error_date"):
            error += f" (at {action['last_error_date']})"
        rows.append(
            (
                str(action.get("context", "")),
                status,
                str(action.get("title", "")),
                display_url(str(action.get("url", ""))),
                " ".join(error.split()) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


# -- checks against iconik -----------------------------------------------------------------------


def check_storages(
    client: IconikClient, b2_storage_id: str | None, ll_storage_id: str | None
) -> list[str]:
    """Make sure the storage ids name two different storages iconik knows, before any change.

    A wrong id would otherwise only show when a user clicks the action (the function answers
    400). Returns lines describing the storages found.

    Raises:
        UsageError: an id is not a UUID, both are the same, or iconik does not know one.
    """
    given = {"--b2-storage": b2_storage_id, "--ll-storage": ll_storage_id}
    for option, storage_id in given.items():
        if storage_id is not None and not is_uuid(storage_id):
            raise UsageError(f"{option} is not a storage id (a UUID): {storage_id!r}")
    if b2_storage_id and ll_storage_id and _same_id(b2_storage_id, ll_storage_id):
        raise UsageError(
            f"--b2-storage and --ll-storage are the same storage {b2_storage_id}: "
            "give the B2 storage and the LucidLink storage"
        )
    found = []
    for option, storage_id in given.items():
        if storage_id is None:
            continue
        storage = client.get_storage(storage_id)
        if storage is None:
            raise UsageError(f"{option} {storage_id}: iconik has no such storage")
        name = storage.get("name") or "(no name)"
        method = storage.get("method") or "?"
        found.append(f"{option.lstrip('-')}: {name} ({method}, {storage_id})")
    return found


def _same_id(a: str, b: str) -> bool:
    return a.replace("-", "").lower() == b.replace("-", "").lower()


# -- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    """What the tool reads from the environment (or ``.env``); repr hides the secrets."""

    settings: Settings
    token: str = field(repr=False)
    formats_env: tuple[str, ...] | None = None


def read_environment(need_secret: bool) -> Environment:
    """Read and check ``ICONIK_ID``, ``ICONIK_TOKEN``, ``ICONIK_URL`` and, for create, the secret.

    The checks come first so that a missing variable is named at once, before iconik is called.

    Raises:
        UsageError: a variable is missing or malformed; the message names it.
    """
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        raise UsageError(str(error)) from None
    token = os.environ.get("ICONIK_TOKEN", "").strip()
    if not token:
        raise UsageError("ICONIK_TOKEN is not set: give the iconik application token")
    if need_secret and not settings.shared_secret:
        raise UsageError(
            "BZ_SHARED_SECRET is not set: give the shared secret the function checks "
            "(the value of the Secret Manager secret bz-shared-secret)"
        )
    raw = os.environ.get("FORMAT_NAMES", "").strip() or os.environ.get("FORMAT_NAME", "").strip()
    return Environment(settings, token, settings.format_names if raw else None)


def make_client(env: Environment) -> IconikClient:
    """An iconik client for the operator's application token, with CLI-sized retries."""
    retry = retry_policy(total=CLI_RETRIES, backoff_factor=CLI_BACKOFF)
    return IconikClient(
        env.settings.iconik_url,
        env.settings.iconik_id,
        env.token,
        max_rps=env.settings.iconik_max_rps,
        retry=retry,
        copy_retry=retry,
    )


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
        changes = plan_delete(client.list_custom_actions(), endpoint)
        if not changes:
            print(f"no plugin actions for {endpoint}", file=out)
            return EXIT_OK
        return _run(client, changes, args.dry_run, out)


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
    counts = {k: sum(1 for c in changes if c.kind == k) for k in _VERBS}
    print(
        f"{done} change(s): {counts['create']} created, {counts['update']} updated, "
        f"{counts['delete']} deleted, {counts['unchanged']} unchanged",
        file=out,
    )
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
    """The command line: create, list, delete."""
    parser = argparse.ArgumentParser(
        prog="b2-iconik-actions",
        description=(
            "Register, list and delete the Backblaze B2 plugin's iconik custom actions "
            "(Add to LucidLink / Remove from LucidLink). Reads ICONIK_ID, ICONIK_TOKEN, "
            "ICONIK_URL and BZ_SHARED_SECRET from the environment or a local .env file."
        ),
    )
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
        _fail(str(error))
        return EXIT_USAGE
    except IconikHTTPError as error:
        _fail(_explain_http(error))
        return EXIT_ICONIK
    except IconikUnavailable as error:
        url = os.environ.get("ICONIK_URL") or "https://app.iconik.io"
        _fail(f"iconik at {url} could not be reached ({error}); check ICONIK_URL and the network")
        return EXIT_ICONIK
    except IconikError as error:
        _fail(f"iconik failed: {error}")
        return EXIT_ICONIK
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130


def _explain_http(error: IconikHTTPError) -> str:
    """iconik's error status in words an operator can act on."""
    if error.status == 401:
        return (
            "iconik refused the token (401): check ICONIK_ID and ICONIK_TOKEN "
            "(an application token of this iconik domain, see ICONIK_URL)"
        )
    if error.status == 403:
        return (
            f"iconik denied {error.method} {error.path} (403): the application token's user "
            "needs the rights to manage custom actions and read storages"
        )
    return f"iconik failed: {error}"


def _fail(message: str) -> None:
    """Print one error line on stderr, with any secret from the environment masked."""
    for name in ("BZ_SHARED_SECRET", "ICONIK_TOKEN"):
        value = os.environ.get(name, "").strip()
        if len(value) >= MIN_MASKED:
            message = message.replace(value, MASK)
    print(f"b2-iconik-actions: error: {' '.join(message.split())}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
