"""Figures the long-running tests measured, printed at the end of the session.

docs/reliability.md quotes them; printing them with the test summary (instead
of asking for ``-s``) means every ``make test`` shows what it measured.
"""

from __future__ import annotations

LINES: list[str] = []


def report(line: str) -> None:
    """Print this line in the session's summary."""
    LINES.append(line)
