"""Figures, each with its target or floor, and the table they are printed in.

A figure is a measured value. It may have a *floor* (the least the value can be, whatever the
code: e.g. the calls a Remove needs divided by iconik's rate), and then its ratio is value ÷ floor;
and it may have a *target* (from issue 11), on the ratio when there is a floor, else on the value
itself. The verdict says whether the target holds; a figure without a target is context only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure.

    Attributes:
        label: what it is.
        value: what was measured (a bool for a yes/no check).
        unit: "s", "MB", "" ...
        floor: the least possible value, in the same unit (ratio = value / floor).
        target: the most allowed: of the ratio when there is a floor, else of the value; for a
            check, True means it must hold.
        note: how the floor or the target is counted, in a few words.
    """

    label: str
    value: float | bool
    unit: str = ""
    floor: float | None = None
    target: float | bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value ÷ floor, or value ÷ target when there is no floor; None for a check."""
        if isinstance(self.value, bool):
            return None
        base = self.floor if self.floor is not None else self.target
        if base is None or isinstance(base, bool) or base <= 0:
            return None
        return float(self.value) / float(base)

    @property
    def verdict(self) -> str:
        """"ok", "MISSED", or "" when the figure has no target."""
        if self.target is None:
            return ""
        if isinstance(self.value, bool) or isinstance(self.target, bool):
            return "ok" if bool(self.value) == bool(self.target) else "MISSED"
        measured = self.ratio if self.floor is not None else float(self.value)
        return "ok" if measured is not None and measured <= float(self.target) + 1e-9 else "MISSED"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "verdict": self.verdict}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        """A figure read back from the results file."""
        return cls(data["label"], data["value"], data.get("unit", ""), data.get("floor"),
                   data.get("target"), data.get("note", ""))


@dataclass
class Result:
    """A scenario's figures, and the details behind them (calls by endpoint, settings...)."""

    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "figures": [f.to_dict() for f in self.figures],
            "details": self.details,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, key: str, data: dict[str, Any]) -> Result:
        """A scenario's result read back from the results file."""
        return cls(key, data["title"], [Figure.from_dict(f) for f in data["figures"]],
                   data.get("details") or {}, data.get("error"))


def _number(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if float(value).is_integer():
        return f"{int(value):,}{' ' + unit if unit else ''}"
    return f"{value:.2f}{' ' + unit if unit else ''}"


def _measured(figure: Figure) -> str:
    if isinstance(figure.value, bool):
        return "yes" if figure.value else "no"
    return _number(float(figure.value), figure.unit)


def _bound(figure: Figure) -> str:
    if figure.floor is not None:
        text = f"floor {_number(figure.floor, figure.unit)}"
        if figure.target is not None and not isinstance(figure.target, bool):
            text += f", target ≤ {float(figure.target):.2f}x"
        return text
    if figure.target is None:
        return "—"
    if isinstance(figure.target, bool):
        return "must be yes" if figure.target else "must be no"
    return f"target ≤ {_number(float(figure.target), figure.unit)}"


def rows(results: list[Result]) -> list[list[str]]:
    """The table's rows: scenario, figure, measured, floor/target, ratio, verdict."""
    table = []
    for result in results:
        if result.error:
            table.append([result.title, "could not be measured", result.error[:80], "", "",
                          "MISSED"])
            continue
        for index, figure in enumerate(result.figures):
            ratio = figure.ratio
            table.append([
                result.title if index == 0 else "",
                figure.label,
                _measured(figure),
                _bound(figure),
                f"{ratio:.2f}x" if ratio is not None else "—",
                figure.verdict or "—",
            ])
    return table


HEADER = ["scenario", "figure", "measured", "floor / target", "ratio", "verdict"]


def text_table(results: list[Result]) -> str:
    """The table as aligned text columns."""
    body = rows(results)
    widths = [max(len(r[i]) for r in [HEADER, *body]) for i in range(len(HEADER))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)), line]
    for row in body:
        if row[0] and out[-1] != line:
            out.append("")
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)


def markdown_table(results: list[Result]) -> str:
    """The table in Markdown, for docs/performance.md."""
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows(results):
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(out)


def endpoint_table(results: list[Result], most: int = 12) -> str:
    """Calls by endpoint for each scenario that records them (the busiest first)."""
    out = []
    for result in results:
        calls = result.details.get("calls_by_endpoint")
        if not calls:
            continue
        out.append(f"{result.title}: calls by endpoint")
        for endpoint, count in list(calls.items())[:most]:
            out.append(f"  {count:>7,}  {endpoint}")
        if len(calls) > most:
            rest = sum(list(calls.values())[most:])
            out.append(f"  {rest:>7,}  ({len(calls) - most} other endpoints)")
    return "\n".join(out)
