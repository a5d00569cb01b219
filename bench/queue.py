"""Cloud Tasks for the bench: the emulator the end-to-end tests use, with their dispatcher.

gcloud-tasks-emulator keeps the tasks and their schedule (``tests/scenarios/run_tasks_emulator.py``
wraps it, in the ``.venv-tasks`` virtualenv ``make test`` builds), and the tests' dispatcher
(``tests/scenarios/dispatcher.py``) delivers them as Cloud Tasks does: named tasks, up to
``max_concurrent`` at once, retries with backoff. The bench turns none of its faults on.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from b2_iconik.engine.cloud_tasks import DISPATCH_DEADLINE_SECONDS
from bench.processes import ROOT, free_port, stop_process, wait_for_port
from tests.scenarios.dispatcher import Dispatcher

QUEUE = "projects/bench-project/locations/here/queues/b2-iconik"
EMULATOR_PYTHON = ROOT / ".venv-tasks" / "bin" / "python"
EMULATOR_SCRIPT = ROOT / "tests" / "scenarios" / "run_tasks_emulator.py"
#: The queue's --max-concurrent-dispatches, as the deployment in docs/deploying.md creates it.
MAX_CONCURRENT = 4
#: The queue's --max-attempts, and so the plugin's TASKS_MAX_ATTEMPTS (its default).
MAX_ATTEMPTS = 10


def available() -> bool:
    """Whether the emulator's virtualenv is there (``make bench`` builds it)."""
    return EMULATOR_PYTHON.exists()


class TasksEmulator:
    """The emulator and its dispatcher, on 127.0.0.1. A context manager.

    Args:
        log: where the emulator's output goes.
    """

    def __init__(self, log: Path) -> None:
        self.log = log
        self.dispatcher = Dispatcher(
            max_concurrent=MAX_CONCURRENT,
            max_attempts=MAX_ATTEMPTS,
            deadline=float(DISPATCH_DEADLINE_SECONDS),
        )
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        #: The key that seals users' tokens in tasks: one per emulator, as one per deployment.
        self.token_key = secrets.token_hex(32)

    @property
    def host(self) -> str:
        """``host:port`` for ``CLOUD_TASKS_EMULATOR_HOST``."""
        return f"127.0.0.1:{self.port}"

    def plugin_env(self, plugin_port: int) -> dict[str, str]:
        """The variables that put a plugin on this queue."""
        return {
            "TASKS_QUEUE": QUEUE,
            "TASKS_URL": f"http://127.0.0.1:{plugin_port}/",
            "CLOUD_TASKS_EMULATOR_HOST": self.host,
            "TASKS_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "TASKS_TOKEN_KEY": self.token_key,  # Secret Manager's bz-task-key, deployed
        }

    def __enter__(self) -> TasksEmulator:
        self.dispatcher.__enter__()
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(EMULATOR_PYTHON), str(EMULATOR_SCRIPT), str(self.port), QUEUE,
                 self.dispatcher.url],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            wait_for_port(self.port, self.process, self.log)
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        process, self.process = self.process, None
        stop_process(process)
        self.dispatcher.__exit__()
