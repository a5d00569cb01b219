"""The bench (``make bench``) runs from start to end: a smoke test, with no timing asserted.

It runs ``python -m bench --quick`` as ``make bench-quick`` does, with iconik made fast (short
latency, a high rate limit) so it adds little to ``make test``; the figures themselves are the
bench's business, not this test's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e


def test_the_quick_bench_completes_and_writes_every_scenarios_figures(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--latency", "0.002",
         "--slow-latency", "0.01", "--rps", "1000", "--max-rps", "900",
         "--click-interval", "0.2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-3000:]
    results = json.loads(out.read_text())
    assert set(results["scenarios"]) == set(SCENARIOS)
    for name, scenario in results["scenarios"].items():
        assert scenario["error"] is None, f"{name}: {scenario['error']}"
        assert scenario["figures"], f"{name} measured nothing"
        for figure in scenario["figures"]:
            assert figure["verdict"] in ("ok", "MISSED", ""), figure
    # Gathering an automation's burst is checked for what is not a timing: every request
    # answered, every asset removed once, every job ended once.
    for figure in results["scenarios"]["policies"]["figures"]:
        if isinstance(figure["target"], bool):
            assert figure["verdict"] == "ok", figure
    assert results["knobs"]["rps"] == 1000 and results["knobs"]["max_rps"] == 900
    assert "| scenario |" in results["table_markdown"]
    assert "scenario" in run.stdout and "verdict" in run.stdout, "the table is printed"
