"""``--version`` on every command the plugin ships, and ``python -m b2_iconik``'s usage."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import b2_iconik
from b2_iconik import __main__ as package_main
from b2_iconik.custom_actions import cli as actions_cli
from deploy import cli as deploy_cli

ROOT = Path(__file__).resolve().parent.parent
VERSION = b2_iconik.__version__


@pytest.mark.parametrize(("main", "name"), [
    (package_main.main, "b2-iconik"),
    (actions_cli.main, "b2-iconik-actions"),
    (deploy_cli.main, "b2-iconik"),
])
def test_version_flag_prints_the_version_and_exits_0(
        main: Callable[..., int], name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"{name} {VERSION}\n"


@pytest.mark.parametrize("module", ["b2_iconik", "b2_iconik.custom_actions", "deploy"])
def test_python_dash_m_version(module: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--version"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f" {VERSION}")


def test_without_arguments_it_says_how_to_run_the_server_and_exits_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert package_main.main([]) == 2
    err = capsys.readouterr().err
    assert "functions-framework --target iconik_handler --source main.py" in err
    assert "usage: python -m b2_iconik" in err


def test_unknown_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        package_main.main(["--serve"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --serve" in capsys.readouterr().err


def test_the_usage_names_the_command_the_service_files_run() -> None:
    unit = (ROOT / "deploy" / "b2-iconik.service").read_text()
    assert package_main.SERVE.replace("functions-framework", "") in unit


def test_deploy_reads_the_version_without_importing_the_plugin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "b2_iconik").mkdir()
    (tmp_path / "b2_iconik" / "__init__.py").write_text('"""Doc."""\n\n__version__ = "9.8.7"\n')
    monkeypatch.setattr(deploy_cli, "ROOT", tmp_path)
    assert deploy_cli.plugin_version() == "9.8.7"
    (tmp_path / "b2_iconik" / "__init__.py").write_text("VERSION = 1\n")
    with pytest.raises(deploy_cli.SettingsError, match="does not set __version__"):
        deploy_cli.plugin_version()


def test_every_place_that_states_the_version_states_the_same_one() -> None:
    """pyproject.toml, openapi.yaml and the changelog's newest release follow ``__version__``."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    openapi = yaml.safe_load((ROOT / "openapi.yaml").read_text())["info"]["version"]
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert (pyproject, str(openapi), released[0]) == (VERSION, VERSION, VERSION)
