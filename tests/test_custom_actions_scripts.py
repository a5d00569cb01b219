"""The root scripts of Backblaze's original instructions still run the custom-action CLI.

It stays at the top of tests/: the test finds the scripts next to its own directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.custom_actions import conftest as actions

env = actions.env  # the operator's environment, as for the other commands


def test_entry_points_for_the_original_instructions(env: pytest.MonkeyPatch, capsys: Any) -> None:
    import runpy

    root = Path(__file__).resolve().parent.parent
    for script, command in (
        ("create_custom_actions.py", "create"),
        ("delete_custom_actions.py", "delete"),
    ):
        env.setattr("sys.argv", [script, "--help"])
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(root / script), run_name="__main__")
        assert exit_info.value.code == 0
        assert f"b2-iconik-actions {command}" in capsys.readouterr().out
