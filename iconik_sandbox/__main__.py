"""Run the sandbox by hand: ``python -m iconik_sandbox --port 8900 --seed demo``.

Prints what a client needs (as ``NAME=value`` lines a shell or a demo script can read), then
serves until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from iconik_sandbox.seed import Catalogue
from iconik_sandbox.server import DEFAULT_APP_ID, Sandbox

#: A small catalogue with one asset of each kind Remove must refuse.
DEMO = Catalogue(
    assets=12,
    collections_depth=2,
    collections_per_level=2,
    on_b2=0.8,
    on_ll=0.6,
    duplicates=2,
    b2_missing=1,
    b2_wrong_size=1,
    b2_bad_status=1,
    seed=7,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m iconik_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("--port", type=int, default=8900, help="port; 0 picks a free one")
    parser.add_argument(
        "--seed",
        default=None,
        help="'demo', or a JSON catalogue spec like '{\"assets\": 100}'; default: empty",
    )
    parser.add_argument("--app-id", default=DEFAULT_APP_ID, help="the App-ID to accept")
    parser.add_argument("--token", default=None, help="the Auth-Token to accept (default random)")
    parser.add_argument("--per-page-cap", type=int, default=100, help="largest page size")
    parser.add_argument("--copy-seconds", type=float, default=0.3, help="how long copies take")
    parser.add_argument(
        "--faults", default=None, help="JSON fault settings, e.g. '{\"latency\": 0.2}'"
    )
    parser.add_argument("--no-validate", action="store_true", help="skip spec validation")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start, seed, print the ids, serve until interrupted."""
    args = parse_args(argv)
    try:
        faults: dict[str, Any] = json.loads(args.faults) if args.faults else {}
        catalogue = None
        if args.seed == "demo":
            catalogue = DEMO
        elif args.seed:
            catalogue = Catalogue.from_dict(json.loads(args.seed))
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sandbox = Sandbox(
        args.host,
        args.port,
        per_page_cap=args.per_page_cap,
        copy_seconds=args.copy_seconds,
        validate=not args.no_validate,
        faults=faults,
        app_id=args.app_id,
        token=args.token,
        log_requests=not args.quiet,
    )
    try:
        sandbox.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    lines = {"ICONIK_URL": sandbox.url, "ICONIK_ID": sandbox.app_id, "AUTH_TOKEN": sandbox.token}
    if catalogue is not None:
        result = sandbox.seed(catalogue)
        lines.update(
            B2_STORAGE_ID=result.b2_storage_id,
            LL_STORAGE_ID=result.ll_storage_id,
            ROOT_COLLECTION_ID=result.root_collection_id,
            SAVED_SEARCH_IDS=",".join(result.saved_search_ids),
            ASSET_IDS=",".join(result.asset_ids),
        )
    print(f"iconik sandbox serving on {sandbox.url} (admin API: {sandbox.url}/_sandbox/state)")
    for name, value in lines.items():
        print(f"{name}={value}")
    sys.stdout.flush()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
