"""Configuration (b2_iconik.base.config): Settings.from_env, its defaults and its one-line errors.

Most tests pass ``environ=`` explicitly so nothing leaks in from the machine's environment; the
``.env`` tests go through ``os.environ`` (cleared with monkeypatch) and a file in ``tmp_path``.
The last test runs ``import main`` in a clean subprocess to check start-up fails with one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from b2_iconik.base.config import Settings, is_uuid, parse_formats
from b2_iconik.base.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
APP_ID = "11111111-1111-1111-1111-111111111111"
B2 = "22222222-2222-2222-2222-222222222222"
LL = "33333333-3333-3333-3333-333333333333"
QUEUE = "projects/p/locations/europe-west1/queues/q"
TASKS_URL = "https://europe-west1-p.cloudfunctions.net/iconik_handler"

#: Every variable Settings reads, cleared before the tests that go through os.environ.
VARIABLES = (
    "ICONIK_ID",
    "ICONIK_URL",
    "BZ_SHARED_SECRET",
    "FORMAT_NAMES",
    "FORMAT_NAME",
    "B2_STORAGE_ID",
    "LL_STORAGE_ID",
    "REMOVE_WAIT_SECONDS",
    "REMOVE_RECHECK_SECONDS",
    "ICONIK_MAX_RPS",
    "WORKER_THREADS",
    "TASKS_QUEUE",
    "TASKS_URL",
    "CLOUD_TASKS_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
    "SECRET_MANAGER_ENDPOINT",
)


def settings(**env: str) -> Settings:
    return Settings.from_env(environ={"ICONIK_ID": APP_ID, **env}, dotenv_path=None)


def config_error(**env: str) -> str:
    """The message of the ConfigError the environment gives (checked to be one line)."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ=env, dotenv_path=None)
    message = str(caught.value)
    assert message and "\n" not in message
    return message


# -- required and defaults ---------------------------------------------------------------------


@pytest.mark.parametrize("env", [{}, {"ICONIK_ID": ""}, {"ICONIK_ID": "   "}])
def test_iconik_id_is_required(env: dict[str, str]) -> None:
    assert "ICONIK_ID" in config_error(**env)


def test_defaults() -> None:
    s = settings()
    assert s.iconik_id == APP_ID
    assert s.iconik_url == "https://app.iconik.io"
    assert s.format_names == ("ORIGINAL",)
    assert s.remove_wait_seconds == 21600
    assert s.iconik_max_rps == 45
    assert s.shared_secret is None
    assert s.b2_storage_id is None and s.ll_storage_id is None
    assert s.tasks_queue is None and s.tasks_url is None
    assert s.google_cloud_project is None
    assert (s.tasks_max_attempts, s.token_refresh_seconds, s.watchdog_seconds) == (10, 3600, 3600)
    assert s.inprocess_stale_seconds == 900


def test_values_are_read() -> None:
    s = settings(
        ICONIK_URL="https://eu.iconik.io/",
        BZ_SHARED_SECRET="shared-secret-value",
        B2_STORAGE_ID=B2,
        LL_STORAGE_ID=LL,
        REMOVE_WAIT_SECONDS="60",
        ICONIK_MAX_RPS="12.5",
        WORKER_THREADS="2",
        TASKS_QUEUE=QUEUE,
        TASKS_URL=TASKS_URL,
        GOOGLE_CLOUD_PROJECT="proj",
        TASKS_MAX_ATTEMPTS="7",
        TOKEN_REFRESH_SECONDS="120",
        WATCHDOG_SECONDS="600",
    )
    assert (s.tasks_max_attempts, s.token_refresh_seconds, s.watchdog_seconds) == (7, 120, 600)
    assert s.iconik_url == "https://eu.iconik.io"  # trailing slash dropped
    assert s.shared_secret == "shared-secret-value"
    assert (s.b2_storage_id, s.ll_storage_id) == (B2, LL)
    assert s.remove_wait_seconds == 60
    assert s.iconik_max_rps == 12.5
    assert s.worker_threads == 2
    assert (s.tasks_queue, s.tasks_url) == (QUEUE, TASKS_URL)
    assert s.google_cloud_project == "proj"


def test_shared_secret_is_not_in_repr() -> None:
    assert "shared-secret-value" not in repr(settings(BZ_SHARED_SECRET="shared-secret-value"))


def test_blank_values_count_as_unset() -> None:
    s = settings(ICONIK_URL="  ", FORMAT_NAMES="", REMOVE_WAIT_SECONDS=" ")
    assert s.iconik_url == "https://app.iconik.io"
    assert s.format_names == ("ORIGINAL",)
    assert s.remove_wait_seconds == 21600


# -- formats -----------------------------------------------------------------------------------


def test_format_name_is_an_alias() -> None:
    assert settings(FORMAT_NAME="PPRO_PROXY").format_names == ("PPRO_PROXY",)


def test_format_names_wins_over_format_name() -> None:
    assert settings(FORMAT_NAMES="ORIGINAL", FORMAT_NAME="PPRO_PROXY").format_names == (
        "ORIGINAL",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ORIGINAL", ("ORIGINAL",)),
        ("ORIGINAL,PPRO_PROXY", ("ORIGINAL", "PPRO_PROXY")),
        (" ORIGINAL , PPRO_PROXY ", ("ORIGINAL", "PPRO_PROXY")),
        ("ORIGINAL,,PPRO_PROXY,", ("ORIGINAL", "PPRO_PROXY")),
        ("ORIGINAL,PPRO_PROXY,ORIGINAL", ("ORIGINAL", "PPRO_PROXY")),
        ("PPRO_PROXY,ORIGINAL", ("PPRO_PROXY", "ORIGINAL")),
        ("my-format_2", ("my-format_2",)),
    ],
)
def test_format_names_parsing(value: str, expected: tuple[str, ...]) -> None:
    assert settings(FORMAT_NAMES=value).format_names == expected
    assert parse_formats("X", value) == expected


@pytest.mark.parametrize("value", [",", " , ,"])
def test_format_names_empty(value: str) -> None:
    message = config_error(ICONIK_ID=APP_ID, FORMAT_NAMES=value)
    assert "FORMAT_NAMES" in message and "empty" in message


@pytest.mark.parametrize("value", ["ORIGINAL,PPRO PROXY", "ORIG/INAL", "ORIGINAL;DROP", "Ö"])
def test_format_names_invalid(value: str) -> None:
    assert "FORMAT_NAMES" in config_error(ICONIK_ID=APP_ID, FORMAT_NAMES=value)


def test_invalid_format_name_through_the_alias_names_a_variable() -> None:
    message = config_error(ICONIK_ID=APP_ID, FORMAT_NAME="BAD NAME")
    assert "FORMAT_NAME" in message


# -- malformed settings: one line naming the variable ------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REMOVE_WAIT_SECONDS", "six hours"),
        ("REMOVE_WAIT_SECONDS", "-1"),
        ("REMOVE_WAIT_SECONDS", "nan"),
        ("ICONIK_MAX_RPS", "fast"),
        ("ICONIK_MAX_RPS", "0"),
        ("ICONIK_MAX_RPS", "-5"),
        ("ICONIK_MAX_RPS", "nan"),
        ("REMOVE_RECHECK_SECONDS", "0"),
        ("WORKER_THREADS", "2.5"),
        ("WORKER_THREADS", "0"),
        ("ICONIK_URL", "app.iconik.io"),
        ("ICONIK_URL", "ftp://app.iconik.io"),
        ("ICONIK_URL", "https://"),
        ("B2_STORAGE_ID", "not-a-uuid"),
        ("LL_STORAGE_ID", "1234"),
        ("TASKS_MAX_ATTEMPTS", "0"),
        ("TASKS_MAX_ATTEMPTS", "2.5"),
        ("TOKEN_REFRESH_SECONDS", "-1"),
        ("TOKEN_REFRESH_SECONDS", "an hour"),
        ("WATCHDOG_SECONDS", "0"),
        ("INPROCESS_STALE_SECONDS", "soon"),
        ("GATHER_SECONDS", "0.5"),
        ("GATHER_SECONDS", "a minute"),
        ("LOOP_GUARD_SECONDS", "-1"),
    ],
)
def test_malformed_setting_names_the_variable(variable: str, value: str) -> None:
    message = config_error(ICONIK_ID=APP_ID, **{variable: value})
    assert variable in message
    assert value.strip() in message or "at least" in message


def test_zero_wait_is_allowed() -> None:
    assert settings(REMOVE_WAIT_SECONDS="0").remove_wait_seconds == 0


@pytest.mark.parametrize(
    "queue",
    [
        "my-queue",
        "projects/p/queues/q",
        "projects/p/locations/l/queues/",
        "projects/p/locations/l/queues/q/tasks/t",
    ],
)
def test_tasks_queue_format(queue: str) -> None:
    message = config_error(ICONIK_ID=APP_ID, TASKS_QUEUE=queue, TASKS_URL=TASKS_URL)
    assert "TASKS_QUEUE" in message


def test_tasks_queue_without_url() -> None:
    message = config_error(ICONIK_ID=APP_ID, TASKS_QUEUE=QUEUE)
    assert "TASKS_QUEUE" in message and "TASKS_URL" in message


def test_tasks_url_without_queue() -> None:
    message = config_error(ICONIK_ID=APP_ID, TASKS_URL=TASKS_URL)
    assert "TASKS_QUEUE" in message and "TASKS_URL" in message


def test_tasks_url_must_be_a_url() -> None:
    assert "TASKS_URL" in config_error(ICONIK_ID=APP_ID, TASKS_QUEUE=QUEUE, TASKS_URL="nowhere")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (B2, True),
        (B2.replace("-", ""), True),
        (B2.upper(), True),
        ("not-a-uuid", False),
        ("", False),
        (None, False),
        (42, False),
    ],
)
def test_is_uuid(value: object, expected: bool) -> None:
    assert is_uuid(value) is expected


# -- .env ----------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No plugin variable in os.environ, and the working directory an empty tmp_path."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_dotenv_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text(
        f"ICONIK_ID={APP_ID}\n"
        "ICONIK_URL=https://eu.iconik.io\n"
        "FORMAT_NAMES=ORIGINAL,PPRO_PROXY\n"
        f"B2_STORAGE_ID={B2}\n"
        "ICONIK_MAX_RPS=20\n"
    )
    s = Settings.from_env(environ=None)
    assert s.iconik_id == APP_ID
    assert s.iconik_url == "https://eu.iconik.io"
    assert s.format_names == ("ORIGINAL", "PPRO_PROXY")
    assert s.b2_storage_id == B2
    assert s.iconik_max_rps == 20


def test_environment_beats_dotenv(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text(f"ICONIK_ID={APP_ID}\nICONIK_URL=https://eu.iconik.io\n")
    monkeypatch.setenv("ICONIK_URL", "https://us.iconik.io")
    s = Settings.from_env(environ=None)
    assert s.iconik_url == "https://us.iconik.io"
    assert s.iconik_id == APP_ID


def test_dotenv_errors_name_the_variable(clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"ICONIK_ID={APP_ID}\nREMOVE_WAIT_SECONDS=soon\n")
    with pytest.raises(ConfigError, match="REMOVE_WAIT_SECONDS"):
        Settings.from_env(environ=None)


def test_no_dotenv_and_no_iconik_id(clean_env: Path) -> None:
    with pytest.raises(ConfigError, match="ICONIK_ID"):
        Settings.from_env(environ=None)


def test_dotenv_skipped_when_path_is_none(clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"ICONIK_ID={APP_ID}\n")
    with pytest.raises(ConfigError, match="ICONIK_ID"):
        Settings.from_env(environ=None, dotenv_path=None)


def test_dotenv_ignored_when_environ_is_given(clean_env: Path) -> None:
    (clean_env / ".env").write_text("ICONIK_URL=https://eu.iconik.io\n")
    s = Settings.from_env(environ={"ICONIK_ID": APP_ID})
    assert s.iconik_url == "https://app.iconik.io"


# -- start-up ----------------------------------------------------------------------------------


def test_main_without_iconik_id_exits_with_one_line(tmp_path: Path) -> None:
    """``import main`` stops with exit code 1 and one line on stderr, no traceback.

    It runs in an empty working directory (so no stray ``.env`` supplies ICONIK_ID) with the
    repository on PYTHONPATH, and an environment holding only PATH.
    """
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ICONIK_ID" in lines[0]
    assert "Traceback" not in result.stderr


def test_storage_ids_become_canonical() -> None:
    s = settings(B2_STORAGE_ID=B2.replace("-", ""), LL_STORAGE_ID=LL.upper())
    assert (s.b2_storage_id, s.ll_storage_id) == (B2, LL)


def test_policy_settings_have_defaults_and_read_their_variables() -> None:
    default = Settings.from_env(environ={"ICONIK_ID": APP_ID}, dotenv_path=None)
    assert (default.gather_seconds, default.loop_guard_seconds) == (60.0, 3600.0)
    assert default.iconik_token is None
    given = Settings.from_env(environ={"ICONIK_ID": APP_ID, "GATHER_SECONDS": "5",
                                       "LOOP_GUARD_SECONDS": "0", "ICONIK_TOKEN": "t0ken"},
                              dotenv_path=None)
    assert (given.gather_seconds, given.loop_guard_seconds) == (5.0, 0.0)
    assert given.iconik_token == "t0ken" and "t0ken" not in repr(given)
