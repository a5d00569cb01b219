"""``python -m bench``: run the scenarios, write the results as JSON, print the table.

Every knob is a flag, and each flag falls back to an environment variable (``BENCH_LATENCY``...)
so ``make bench`` can pass them either way. Exit status 0 when every scenario was measured (a
missed target is reported in the table, not an error), 1 when one could not be.

``--only`` measures some scenarios again: their results replace the same scenarios' in the
results file, when that file was measured with the same knobs and sizes (each scenario records
when and at which commit it was measured).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from b2_iconik.base.config import DEFAULT_MAX_RPS
from bench.figures import Result, endpoint_table, markdown_table, text_table
from bench.lab import Knobs, Lab
from bench.processes import ROOT
from bench.scenarios import SCENARIOS, run
from bench.scenarios.common import FULL, QUICK


def _env(name: str, default: str = "") -> str:
    """A knob's environment variable (empty counts as unset)."""
    return os.environ.get(name, "").strip() or default


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the plugin against the iconik sandbox and print the table.",
    )
    parser.add_argument("--quick", action="store_true", default=bool(_env("BENCH_QUICK")),
                        help="small sizes, under a minute (env BENCH_QUICK=1)")
    parser.add_argument("--latency", type=float, default=float(_env("BENCH_LATENCY", "0.02")),
                        help="seconds iconik takes per request (env BENCH_LATENCY; 0.02)")
    parser.add_argument("--rps", type=float, default=float(_env("BENCH_RPS", "50")),
                        help="iconik's rate limit: requests in any second before a 429 "
                             "(env BENCH_RPS; 50)")
    parser.add_argument("--slow-latency", type=float,
                        default=float(_env("BENCH_SLOW_LATENCY", "0.1")),
                        help="latency of the high-latency Remove (env BENCH_SLOW_LATENCY; 0.1)")
    max_rps = _env("BENCH_MAX_RPS")
    parser.add_argument("--max-rps", type=float, default=float(max_rps) if max_rps else None,
                        help="the plugin's ICONIK_MAX_RPS (env BENCH_MAX_RPS; default: the "
                             f"plugin's own, {DEFAULT_MAX_RPS:g})")
    parser.add_argument("--click-interval", type=float,
                        default=float(_env("BENCH_CLICK_INTERVAL", "1")),
                        help="seconds between waves of clicks; 0 sends them back to back "
                             "(env BENCH_CLICK_INTERVAL; 1)")
    parser.add_argument("--only", default=_env("BENCH_ONLY", ""),
                        help="comma-separated scenarios to run (env BENCH_ONLY): "
                             + ", ".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the results (env BENCH_OUT; bench/results.json, "
                             "bench/results-quick.json with --quick)")
    args = parser.parse_args(argv)
    if args.out is None:
        out = _env("BENCH_OUT")
        name = "results-quick.json" if args.quick else "results.json"
        args.out = Path(out) if out else ROOT / "bench" / name
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"no scenario {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")
    args.names = names
    return args


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if dirty.strip() else "")


def _earlier(path: Path, knobs: dict[str, Any], sizes: dict[str, Any]) -> list[Result]:
    """The scenarios of an earlier results file measured with the same knobs and sizes."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    same = json.loads(json.dumps({"knobs": knobs, "sizes": sizes}))  # as the file holds them
    held = document.get("sizes") or {}
    # A size added since (a new scenario's) cannot have changed what the file measured.
    sizes_differ = any(held[k] != v for k, v in same["sizes"].items() if k in held)
    if document.get("knobs") != same["knobs"] or sizes_differ:
        print(f"bench: {path} was measured with other knobs or sizes: replacing it",
              file=sys.stderr)
        return []
    return [Result.from_dict(k, v) for k, v in (document.get("scenarios") or {}).items()]


def write(path: Path, knobs: Knobs, sizes: Any, results: list[Result], started: float,
          merge: bool) -> list[Result]:
    """Write the results so far (after each scenario: a long run keeps what it measured).

    Returns:
        every scenario the file now holds (with ``merge``, earlier ones not measured again).
    """
    knob_values = {**asdict(knobs), "plugin_iconik_max_rps": knobs.max_rps or DEFAULT_MAX_RPS}
    held = {r.key: r for r in (_earlier(path, knob_values, asdict(sizes)) if merge else [])}
    held.update({r.key: r for r in results})
    ordered = [held[name] for name in SCENARIOS if name in held]
    document = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "system": platform.platform()},
        "knobs": knob_values,
        "sizes": asdict(sizes),
        "seconds": round(time.monotonic() - started, 1),
        "scenarios": {r.key: r.to_dict() for r in ordered},
        "table_markdown": markdown_table(ordered),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return ordered


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    knobs = Knobs(latency=args.latency, rps=args.rps, slow_latency=args.slow_latency,
                  max_rps=args.max_rps, click_interval=args.click_interval, quick=args.quick)
    sizes = QUICK if args.quick else FULL
    logs = Path(tempfile.mkdtemp(prefix="b2-iconik-bench-"))
    print(f"bench: iconik at {knobs.latency * 1000:g} ms and {knobs.rps:g} requests/s, plugin "
          f"ICONIK_MAX_RPS {knobs.max_rps or DEFAULT_MAX_RPS:g}; logs in {logs}",
          file=sys.stderr, flush=True)
    started = time.monotonic()
    merge = len(args.names) < len(SCENARIOS)
    results: list[Result] = []
    held: list[Result] = []
    with Lab(knobs, logs) as lab:
        for name in args.names:
            print(f"bench: {name}...", file=sys.stderr, flush=True)
            result = run(lab, name, sizes)
            result.details["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            result.details["commit"] = _commit()
            results.append(result)
            took = result.details.get("bench_seconds")
            print(f"bench: {name} {'FAILED: ' + result.error if result.error else 'done'} "
                  f"({took} s)", file=sys.stderr, flush=True)
            held = write(args.out, knobs, sizes, results, started, merge)
    print(text_table(results))
    print()
    print(endpoint_table(results))
    others = len(held) - len(results)
    print(f"\nresults in {args.out}" + (f" (with {others} scenarios measured before)"
                                         if others else ""))
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
