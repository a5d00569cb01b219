"""The bench's scenarios (being split by what they measure: this re-export lasts one commit)."""

from bench.scenarios.work import FULL, QUICK, SCENARIOS, run

__all__ = ["FULL", "QUICK", "SCENARIOS", "run"]
