"""The plugin as a real functions-framework server for the scenarios, alone or on the queue."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from iconik_sandbox import Sandbox
from tests import leaks
from tests.scenarios.dispatcher import Dispatcher

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-shared-secret-0123456789"
WAIT_SECONDS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PluginServer:
    """``functions-framework --target iconik_handler`` as a subprocess (its own process
    group, so a kill takes gunicorn's workers too), logging to a file."""

    def __init__(self, sandbox: Sandbox, log_path: Path, port: int, **extra: str) -> None:
        self.port, self.log_path = port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "ICONIK_ID": sandbox.app_id,
            "ICONIK_URL": sandbox.url,
            "BZ_SHARED_SECRET": SECRET,
            "FORMAT_NAMES": "ORIGINAL,PPRO_PROXY",
            "REMOVE_WAIT_SECONDS": str(WAIT_SECONDS),
            "REMOVE_RECHECK_SECONDS": "0.2",
            "ICONIK_MAX_RPS": "300",
            "GATHER_SECONDS": "1",  # automations' requests start a second or two later
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        self.process: subprocess.Popen | None = None
        leaks.log_file(log_path)

    def start(self) -> PluginServer:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "functions_framework", "--target", "iconik_handler",
                 "--source", "main.py", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(self.port, self.process, self.log_path)
        return self

    def kill(self) -> None:
        """Stop at once, mid-step, as an instance that dies (SIGKILL to the whole group)."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        _wait_until_closed(self.port)


def _wait_until_closed(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)


def serve_plugin(sandbox: Sandbox, log_path: Path, port: int, **extra: str) -> Iterator[dict]:
    """A plugin server for a fixture: yields its url, log file, pid and the server itself."""
    server = PluginServer(sandbox, log_path, port, **extra).start()
    assert server.process is not None
    yield {"url": server.url, "log": log_path, "server": server, "pid": server.process.pid}
    server.stop()


def wait_for_port(port: int, process: subprocess.Popen, log_path: Path) -> None:
    """Poll until something listens on 127.0.0.1:port, or fail with the process's output.

    60 s: a server's start (gunicorn, the function's imports) can take a loaded machine well
    over the few seconds it takes an idle one; a server that starts never waits this long."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text())
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"nothing listened on port {port}:\n" + log_path.read_text())


def free_port() -> int:
    return _free_port()


# -- Cloud Tasks: the emulator (names, schedule) and the dispatcher (delivery) -----------------

QUEUE = "projects/test-project/locations/here/queues/b2-iconik"
EMULATOR_PYTHON = ROOT / ".venv-tasks" / "bin" / "python"
#: The queue's --max-attempts in these tests (and so the plugin's TASKS_MAX_ATTEMPTS).
MAX_ATTEMPTS = 5


#: The service account the queue's tasks carry an OIDC token for, and the tokens' sealing key.
TASKS_ACCOUNT = "b2-iconik@test-project.iam.gserviceaccount.com"
TASKS_KEY = "5eed" * 16


def queue_env(emulator: str, dispatcher: Dispatcher, port: int) -> dict[str, str]:
    """What a function on the queue gets: as make deploy sets it, with test endpoints."""
    return {
        "TASKS_QUEUE": QUEUE,
        "TASKS_URL": f"http://127.0.0.1:{port}/",
        "CLOUD_TASKS_EMULATOR_HOST": emulator,
        "TASKS_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "TASKS_SERVICE_ACCOUNT": TASKS_ACCOUNT,
        "TASKS_OIDC_CERTS_URL": f"{dispatcher.url}/certs",
        "TASKS_TOKEN_KEY": TASKS_KEY,
    }


def serve_queued(sandbox: Sandbox, emulator: str, log_path: Path, port: int,
                 dispatcher: Dispatcher, **extra: str) -> Iterator[dict]:
    """The plugin with TASKS_QUEUE set: every background step goes through the emulator."""
    yield from serve_plugin(sandbox, log_path, port,
                            **{**queue_env(emulator, dispatcher, port), **extra})


# -- plugins with an application token of their own (policies: iconik's automations) ----------

#: The plugin's own iconik token (``ICONIK_TOKEN``) in the tests of automations' requests.
APP_TOKEN = "app-token-" + secrets.token_hex(8)
