"""Check that the README's move into docs/ lost nothing (issue 17).

Every non-blank line of the README as it was before the move (commit ea706e0, 1,603 lines) must
appear in README.md, CHANGELOG.md or a page of docs/, ignoring heading levels (a section became a
page), link targets (``#anchor`` became ``page.md#anchor``) and runs of spaces. Lines edited on
purpose are reported too: say why, or move them back.

    python tools/docs_moved.py [BASE_COMMIT]
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = "ea706e0"


def normalise(line: str) -> str:
    line = re.sub(r"^#{1,6}\s+", "", line.strip())
    line = re.sub(r"\]\([^)\s]*\)", "]()", line)
    return re.sub(r"\s+", " ", line)


def main(base: str = BASE) -> int:
    old = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{base}:README.md"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    now = "\n".join(
        normalise(line) for page in pages if page.exists() for line in page.read_text().splitlines()
    )
    lines = [line for line in old.splitlines() if line.strip()]
    missing = [line for line in lines if normalise(line) not in now]
    print(f"{len(lines)} non-blank lines in README.md at {base}: {len(missing)} not found now")
    for line in missing:
        print(f"  not found: {line}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
