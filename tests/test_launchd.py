"""The macOS launchd job (``deploy/com.backblaze.b2-iconik.plist``): a valid property list that
runs what the systemd unit runs, keeps it running, and really starts the server."""

from __future__ import annotations

import configparser
import os
import plistlib
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
PLIST = ROOT / "deploy" / "com.backblaze.b2-iconik.plist"
UNIT = ROOT / "deploy" / "b2-iconik.service"
#: What ``dotenv run`` is given before the server's own command.
LOADER = ("dotenv", "-f", "{env_file}", "run", "--")


def job() -> dict[str, Any]:
    with PLIST.open("rb") as file:
        return plistlib.load(file)


def service() -> configparser.SectionProxy:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    return unit["Service"]


def split(arguments: list[str]) -> tuple[list[str], list[str]]:
    """The plist's arguments as (the loader's, the server's), at the ``--``."""
    cut = arguments.index("--") + 1
    return arguments[:cut], arguments[cut:]


def test_the_plist_is_a_valid_property_list() -> None:
    plutil = shutil.which("plutil")
    if plutil:  # macOS: Apple's own check as well
        done = subprocess.run([plutil, "-lint", str(PLIST)], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    assert job()["Label"] == PLIST.name.removesuffix(".plist")


def test_it_runs_exactly_the_command_of_the_systemd_unit() -> None:
    _, server = split(job()["ProgramArguments"])
    assert server == shlex.split(service()["ExecStart"])


def test_it_loads_the_same_settings_file_with_dotenv_from_the_same_venv() -> None:
    loader, server = split(job()["ProgramArguments"])
    venv_bin = Path(server[0]).parent
    assert loader == [str(venv_bin / "dotenv"), "-f", service()["EnvironmentFile"], "run", "--"]


def test_same_working_directory_and_environment() -> None:
    unit = service()
    assert job()["WorkingDirectory"] == unit["WorkingDirectory"]
    name, value = unit["Environment"].split("=", 1)
    assert job()["EnvironmentVariables"] == {name: value}


def test_it_starts_at_boot_keeps_running_and_logs_to_a_file() -> None:
    plist, unit = job(), service()
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] is True
    assert plist["ThrottleInterval"] == int(unit["RestartSec"])
    assert plist["ExitTimeOut"] == int(unit["TimeoutStopSec"])
    for key in ("StandardOutPath", "StandardErrorPath"):
        assert plist[key] == "/Library/Logs/b2-iconik/b2-iconik.log"
    assert plist["UserName"].startswith("_")  # a role account, not root
    assert "GroupName" not in plist  # the role account's own group


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The plist's command as launchd would run it, with this checkout's paths and a free port."""
    env_file = tmp_path / "b2-iconik.env"
    env_file.write_text('ICONIK_ID=launchd-test\nBZ_SHARED_SECRET="launchd secret"\n')
    port = free_port()
    venv = ROOT / ".venv" / "bin"
    paths = {"/opt/b2-iconik/venv/bin": str(venv), "/etc/b2-iconik.env": str(env_file),
             "0.0.0.0": "127.0.0.1", "8080": str(port)}
    arguments = []
    for argument in job()["ProgramArguments"]:
        for old, new in paths.items():
            argument = argument.replace(old, new)
        arguments.append(argument)
    log = (tmp_path / "b2-iconik.log").open("wb")
    process = subprocess.Popen(arguments, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env={"PATH": os.environ["PATH"], **job()["EnvironmentVariables"]},
                               start_new_session=True)
    yield process, f"http://127.0.0.1:{port}"
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    log.close()


def wait_for_health(url: str, process: subprocess.Popen[bytes]) -> requests.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server ended at start-up"
        try:
            return requests.get(f"{url}/healthz", timeout=2)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer within 30 s")


@pytest.mark.e2e
def test_the_command_serves_with_the_settings_file_and_stops_on_sigterm(
        launched: tuple[subprocess.Popen[bytes], str]) -> None:
    process, url = launched
    answer = wait_for_health(url, process)
    assert answer.status_code == 200, answer.text
    # dotenv exec()s the server: launchd's SIGTERM reaches it, and it stops.
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(30) == 0
