"""What a run did to each resource, printed as it happens and summed up at the end.

On a failure the same record says what was already made, so nothing half-made goes unreported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

#: Outcomes that leave things as they were: a dry run shows them as they are.
_STILL = {"unchanged", "absent", "kept", "skipped"}


@dataclass
class Report:
    """The outcomes of one run, in order.

    Args:
        out: where each outcome is printed as it is recorded.
        dry_run: outcomes are what would happen ("would be created").
    """

    out: TextIO
    dry_run: bool = False
    entries: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, what: str, outcome: str, detail: str = "") -> None:
        """Record and print one outcome, e.g. ("queue b2-iconik", "created", "")."""
        self.entries.append((what, outcome, detail))
        print(f"  {self._line(what, outcome, detail)}", file=self.out)

    def changed(self) -> list[tuple[str, str, str]]:
        """The entries that changed something (or, in a dry run, would)."""
        return [e for e in self.entries if e[1] not in _STILL]

    def summary(self) -> str:
        """Every outcome, one per line, for the end of a run or after a failure."""
        if not self.entries:
            return "  (nothing)"
        return "\n".join(f"  {self._line(*entry)}" for entry in self.entries)

    def _line(self, what: str, outcome: str, detail: str) -> str:
        shown = outcome if outcome in _STILL or not self.dry_run else f"would be {outcome}"
        return f"{what:<56} {shown}" + (f" ({detail})" if detail else "")
