"""``python -m b2_iconik``: the plugin's version, and how to run it.

The plugin is not a program of its own: it is served by functions-framework (the same server
Cloud Functions runs), so this only answers ``--version`` and otherwise says how to start the
server. Without ``--version`` it exits 2, having run nothing: a service manager pointed here
by mistake sees a failure, not a server that ended well.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from b2_iconik import __version__

EXIT_USAGE = 2
SERVE = (
    "functions-framework --target iconik_handler --source main.py --host 0.0.0.0 --port 8080"
)


def build_parser() -> argparse.ArgumentParser:
    """The usage, kept as written: the command must stay on one line to be copied."""
    return argparse.ArgumentParser(
        prog="python -m b2_iconik",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "The Backblaze B2 Storage Plugin for iconik. It runs under functions-framework.\n"
            "As a standalone server, from the repository's directory:\n"
            f"  {SERVE}\n"
            "(deploy/b2-iconik.service and deploy/com.backblaze.b2-iconik.plist run exactly "
            "that).\nOn Google Cloud: make deploy."
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the version (``--version``, exit 0) or the usage (exit 2); others are refused."""
    parser = build_parser()
    parser.add_argument("--version", action="version", version=f"b2-iconik {__version__}")
    parser.parse_args(argv)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
