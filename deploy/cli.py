"""The command line of ``make deploy`` and ``make undeploy``, and the order of their steps.

Exit status: 0 done (or nothing to do), 1 a step failed or the operator said no, 2 a wrong flag or
setting. Every failure is one sentence on stderr saying what to do; what was already done is
listed after it, so nothing half-made goes unreported. Running either command again is safe: it
picks up where it stopped.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from deploy import function, removal, secret
from deploy import resources as r
from deploy.actions import Registration, delete_actions, register_actions
from deploy.gcloud import DeployError, Gcloud
from deploy.report import Report
from deploy.settings import (
    APP_TOKEN_NAME,
    ROOT,
    SECRET_NAME,
    TASK_KEY_NAME,
    SettingsError,
    Target,
    build_target,
    read_env_yaml,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: The deployment's Secret Manager secrets: kept by make undeploy unless --delete-secret.
SECRETS = (SECRET_NAME, TASK_KEY_NAME, APP_TOKEN_NAME)
DRY_RUN_NOTE = (
    "dry run: no gcloud command is run, not even the read-only checks; each check's answer is "
    "assumed as its line says ({assumed})."
)


def plugin_version() -> str:
    """The plugin's ``__version__``, read from ``b2_iconik/__init__.py`` without importing it.

    deploy never imports the plugin (its dependencies need not be installed to deploy it).

    Raises:
        SettingsError: the file does not assign ``__version__`` a string.
    """
    path = ROOT / "b2_iconik" / "__init__.py"
    for node in ast.parse(path.read_text()).body:
        match node:
            case ast.Assign(targets=[ast.Name(id="__version__")],
                            value=ast.Constant(value=str() as version)):
                return version
    raise SettingsError(f"{path} does not set __version__ to a string")


def build_parser() -> argparse.ArgumentParser:
    """``deploy`` and ``undeploy``, with the flags they share."""
    parser = argparse.ArgumentParser(
        prog="python -m deploy",
        description="Deploy the Backblaze B2 plugin for iconik to Google Cloud, or remove it. "
        "Reads .env.yaml (see .env.yaml.example); flags win over it.",
    )
    parser.add_argument("--version", action="version", version=f"b2-iconik {plugin_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    deploy = sub.add_parser("deploy", help="make or update everything (make deploy)")
    _shared(deploy)
    deploy.add_argument(
        "--b2-storage",
        metavar="ID",
        help="B2 storage id for the actions' URLs (default: B2_STORAGE_ID in .env.yaml)",
    )
    deploy.add_argument(
        "--ll-storage",
        metavar="ID",
        help="LucidLink storage id for the actions' URLs (default: LL_STORAGE_ID in .env.yaml)",
    )
    deploy.add_argument(
        "--formats",
        metavar="NAMES",
        help="formats for the actions, e.g. "
        "ORIGINAL,PPRO_PROXY (default: FORMAT_NAMES in .env.yaml)",
    )
    deploy.add_argument(
        "--rotate-secret",
        action="store_true",
        help=f"replace the shared secret {SECRET_NAME}: "
        "new version, redeploy, re-register the actions, disable the old version "
        f"(never {TASK_KEY_NAME}: see docs/operating.md)",
    )
    deploy.add_argument(
        "--redeploy", action="store_true", help="deploy the function even when nothing changed"
    )
    deploy.add_argument(
        "--app-token",
        action="store_true",
        help=f"store the iconik token (--iconik-token, else $ICONIK_TOKEN) as the secret "
        f"{APP_TOKEN_NAME}, which the function may read, so that iconik's automations "
        "(policies), whose requests carry no token, are served with it; a new version when it "
        "differs (without this flag the secret is left as it is)",
    )
    undeploy = sub.add_parser(
        "undeploy", help="remove the actions, function, queue and service account (make undeploy)"
    )
    _shared(undeploy)
    undeploy.add_argument(
        "--delete-secret",
        action="store_true",
        help=f"delete the secrets {_names(SECRETS)} too (all kept by default)",
    )
    undeploy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


def _shared(parser: argparse.ArgumentParser) -> None:
    """The flags both commands take."""
    parser.add_argument(
        "--env-file",
        default=".env.yaml",
        type=Path,
        metavar="PATH",
        help="the settings file (default .env.yaml)",
    )
    parser.add_argument("--project", help="Google Cloud project (default: GOOGLE_CLOUD_PROJECT)")
    parser.add_argument("--region", help="region, e.g. europe-west1 (default: DEPLOY_REGION)")
    parser.add_argument(
        "--function", help="function name (default: DEPLOY_FUNCTION, else iconik-handler)"
    )
    parser.add_argument("--queue", help="Cloud Tasks queue (default: DEPLOY_QUEUE, else b2-iconik)")
    parser.add_argument(
        "--service-account",
        dest="account",
        metavar="NAME",
        help="service account name (default: DEPLOY_SERVICE_ACCOUNT, else b2-iconik)",
    )
    parser.add_argument(
        "--iconik-token", metavar="TOKEN", help="iconik application token (default: $ICONIK_TOKEN)"
    )
    parser.add_argument(
        "--skip-actions", action="store_true", help="leave the iconik custom actions alone"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print every command it would run, run none"
    )


# -- deploy ---------------------------------------------------------------------------------------


def run_deploy(args: argparse.Namespace, t: Target, g: Gcloud, report: Report) -> str:
    """Every step of a deployment, in order; returns the function's URL."""
    token = _token(args)
    if args.rotate_secret and args.skip_actions:
        raise SettingsError(
            "--rotate-secret re-registers the actions with the new secret: drop --skip-actions"
        )
    if not t.iconik_id:
        raise SettingsError(
            "ICONIK_ID is not set in .env.yaml: copy .env.yaml.example to .env.yaml and fill it in"
        )
    r.check_login(g)
    r.check_project(g)
    r.ensure_apis(g, report)
    fresh = r.ensure_account(g, t, report)
    old_versions = secret.ensure_secret(g, report, rotate=args.rotate_secret)
    secret.ensure_secret_access(g, t, report, fresh, SECRET_NAME)
    secret.ensure_task_key(g, report)
    secret.ensure_secret_access(g, t, report, fresh, TASK_KEY_NAME)
    new_token = _app_token(args, t, g, report, fresh, token)
    r.ensure_queue(g, t, report)
    r.ensure_queue_access(g, t, report, fresh)
    r.ensure_self_access(g, t, report, fresh)
    force = args.redeploy or args.rotate_secret or new_token
    url = function.deploy_function(g, t, report, force=force)
    if args.skip_actions:
        report.add("iconik custom actions", "skipped", "--skip-actions")
    else:
        registration = Registration(
            token=token,
            b2_storage=args.b2_storage or t.env.get("B2_STORAGE_ID"),
            ll_storage=args.ll_storage or t.env.get("LL_STORAGE_ID"),
            formats=args.formats or t.env.get("FORMAT_NAMES") or t.env.get("FORMAT_NAME"),
        )
        register_actions(g, t, registration, url, report)
    secret.disable_versions(g, report, old_versions)
    return url


def _app_token(
    args: argparse.Namespace, t: Target, g: Gcloud, report: Report, fresh: bool, token: str
) -> bool:
    """Store the application token and let the function read it (--app-token), else only say
    whether policies' requests will be served; True when the function must read a new value."""
    if not getattr(args, "app_token", False):
        secret.report_app_token(g, t, report)
        return False
    changed = secret.ensure_app_token(g, report, token)
    secret.ensure_secret_access(g, t, report, fresh, APP_TOKEN_NAME)
    return changed


def _token(args: argparse.Namespace) -> str:
    """The iconik token for the actions (flag, else $ICONIK_TOKEN), checked before any change.

    Raises:
        SettingsError: the actions (or, with --app-token, the secret) want one and there is none.
    """
    token = (args.iconik_token or os.environ.get("ICONIK_TOKEN", "")).strip()
    if not token and getattr(args, "app_token", False):
        raise SettingsError(
            f"--app-token stores ICONIK_TOKEN as the secret {APP_TOKEN_NAME}, and it is not "
            "set: export ICONIK_TOKEN=<your iconik application token> (or pass --iconik-token)"
        )
    if not token and not args.skip_actions:
        raise SettingsError(
            "ICONIK_TOKEN is not set: export ICONIK_TOKEN=<your iconik application token> "
            "(or pass --skip-actions to leave the custom actions alone)"
        )
    return token


def deploy_done(t: Target, url: str, report: Report, out: TextIO) -> None:
    """The closing lines: what was done, the URL, and where to see the actions."""
    print(f"\nSummary ({'dry run' if report.dry_run else 'done'}):", file=out)
    print(report.summary(), file=out)
    print(f"\nFunction URL: {url}", file=out)
    print(
        "In iconik, select an asset, a collection or a saved search: its menu now has "
        "'Add ... to LucidLink' and 'Remove ... from LucidLink'.\n"
        "Their health (with ICONIK_ID, ICONIK_TOKEN and ICONIK_URL set): "
        f".venv/bin/python -m b2_iconik.custom_actions list {url}\n"
        f'Logs: Logs Explorer, resource.labels.service_name="{t.function}".',
        file=out,
    )


# -- undeploy -------------------------------------------------------------------------------------


def run_undeploy(
    args: argparse.Namespace, t: Target, g: Gcloud, report: Report, ask: Callable[[str], str]
) -> bool:
    """Every step of removing a deployment, in order; False when the operator said no."""
    token = _token(args)
    if not args.skip_actions and not t.iconik_id:
        raise SettingsError(
            "ICONIK_ID is not set in .env.yaml: it is needed to find the actions "
            "(or pass --skip-actions)"
        )
    r.check_login(g)
    r.check_project(g)
    if not (args.yes or g.dry_run or _confirmed(args, t, ask)):
        return False
    if not args.skip_actions:
        for url in _urls(g, t):
            delete_actions(g, t, token, url, report)
    removal.remove_function(g, t, report)
    removal.remove_queue(g, t, report)
    if args.delete_secret:
        removal.remove_account(g, t, report)
        for name in SECRETS:
            removal.remove_secret(g, report, name)
    else:
        kept = [name for name in SECRETS if removal.remove_secret_access(g, t, report, name)]
        removal.remove_account(g, t, report)
        for name in SECRETS:
            if name in kept:
                report.add(f"secret {name}", "kept", "--delete-secret deletes it")
            else:
                report.add(f"secret {name}", "absent")
    return True


def _urls(g: Gcloud, t: Target) -> list[str]:
    """The URLs actions may point at: the predicted one, and the function's own if it differs."""
    found = function.describe_function(g, t, assume="present, at its predicted URL")
    actual = str((found or {}).get("url") or t.predicted_url)
    return [t.predicted_url] if actual == t.predicted_url else [t.predicted_url, actual]


def _confirmed(args: argparse.Namespace, t: Target, ask: Callable[[str], str]) -> bool:
    """Ask before deleting anything; only "yes" (or "y") goes on."""
    what = [] if args.skip_actions else [f"the iconik custom actions of {t.predicted_url}"]
    what += [
        f"the function {t.function}",
        f"the queue {t.queue} and its tasks",
        f"the service account {t.account_email}",
    ]
    names = _names(SECRETS)
    what.append(f"the secrets {names}" if args.delete_secret else f"(the secrets {names} are kept)")
    prompt = f"This deletes, in project {t.project}: " + "; ".join(what) + ".\nType yes to go on: "
    return ask(prompt).strip().lower() in ("yes", "y")


def _names(names: Sequence[str]) -> str:
    """Names as a phrase: "a, b and c"."""
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


# -- main -----------------------------------------------------------------------------------------


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    ask: Callable[[str], str] | None = None,
) -> int:
    """Run ``deploy`` or ``undeploy``; returns the exit status (no traceback for known failures).

    Args:
        argv: the arguments (default: the command line).
        out, err: where the report and the one-line error go (default stdout, stderr).
        ask: how to ask for confirmation (default: a prompt read from stdin; end of input is no).
    """
    out, err = out or sys.stdout, err or sys.stderr
    args = build_parser().parse_args(argv)
    rerun = f"make {args.command}"
    try:
        t = build_target(read_env_yaml(args.env_file), vars(args))
    except SettingsError as error:
        print(f"{rerun}: error: {error}.", file=err)
        return EXIT_USAGE
    g = Gcloud(t.project, out, dry_run=args.dry_run, rerun=rerun, cwd=ROOT)
    report = Report(out, dry_run=args.dry_run)
    _header(args, t, out)
    try:
        if args.command == "deploy":
            url = run_deploy(args, t, g, report)
            deploy_done(t, url, report, out)
        elif not run_undeploy(args, t, g, report, ask or _prompt(out)):
            print("Nothing was removed.", file=out)
            return EXIT_FAILED
        else:
            print(
                f"\nSummary ({'dry run' if args.dry_run else 'done'}):\n{report.summary()}",
                file=out,
            )
    except SettingsError as error:
        print(f"{rerun}: error: {error}.", file=err)
        return EXIT_USAGE
    except (DeployError, KeyboardInterrupt) as error:
        reason = str(error) if isinstance(error, DeployError) else f"interrupted; {rerun} again."
        print(f"{rerun}: error: {reason}", file=err)
        print(f"\nDone before it stopped:\n{report.summary()}", file=out)
        return EXIT_FAILED
    return EXIT_OK


def _header(args: argparse.Namespace, t: Target, out: TextIO) -> None:
    """What the run is about to do, and where."""
    verb = "Deploying" if args.command == "deploy" else "Removing"
    print(
        f"{verb} the B2 plugin for iconik: project {t.project}, region {t.region}, "
        f"function {t.function}, queue {t.queue}, service account {t.account}",
        file=out,
    )
    for note in t.notes:
        print(f"note: {note}", file=out)
    if args.dry_run:
        assumed = (
            "absent, so everything is shown as made"
            if args.command == "deploy"
            else "present, so everything is shown as removed"
        )
        if getattr(args, "rotate_secret", False):
            assumed += "; the shared secret is assumed present, to show its rotation"
        print(DRY_RUN_NOTE.format(assumed=assumed), file=out)


def _prompt(out: TextIO) -> Callable[[str], str]:
    """A confirmation read from stdin; no answer (end of input) counts as no."""

    def ask(question: str) -> str:
        print(question, end="", file=out, flush=True)
        line = sys.stdin.readline()
        if not line:
            print(file=out)
        return line

    return ask
