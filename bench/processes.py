"""The processes of the bench: the plugin as a real server (``functions-framework``, exactly as
Cloud Functions runs it), and starting, waiting for and stopping any process the bench spawns
(the simulated iconik, the Cloud Tasks emulator). Every wait here is bounded in time."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

#: The repository's root: where the plugin's ``main.py`` is, and where processes run.
ROOT = Path(__file__).resolve().parents[1]


class BenchError(RuntimeError):
    """A scenario could not be measured (the plugin failed, or a wait ran out)."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path,
                  timeout: float = 60.0) -> None:
    """Poll until something listens on 127.0.0.1:port (every 5 ms, so start-up is timed well).

    Raises:
        BenchError: the process died or did not listen in time (its log is in the message).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise BenchError(f"the process exited before listening:\n{_tail(log)}")
        time.sleep(0.005)
    raise BenchError(f"nothing listened on port {port} within {timeout:g} s:\n{_tail(log)}")


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM to the process's own group (gunicorn's worker too), then SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class PluginServer:
    """``functions-framework --target iconik_handler`` in its own process group.

    Args:
        env: the plugin's environment; nothing of the bench's own environment leaks in, so
            the plugin runs on its defaults unless a knob sets a variable.
        log: where its output goes.
        port: its port (0: a free one).
    """

    def __init__(self, env: dict[str, str], log: Path, port: int = 0) -> None:
        self.env, self.log = env, log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.spawned = 0.0
        self.listening = 0.0

    def start(self) -> PluginServer:
        """Start it and wait until it listens; ``listening - spawned`` is its start-up time."""
        with open(self.log, "ab") as out:
            self.spawned = time.perf_counter()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "functions_framework", "--target", "iconik_handler",
                 "--source", "main.py", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(self.port, self.process, self.log)
        self.listening = time.perf_counter()
        return self

    def peak_rss_mb(self) -> float:
        """The peak resident memory (VmHWM) of the process that does the work, in MB.

        functions-framework's gunicorn imports ``main`` and then forks one worker, which
        answers the requests and runs the steps: its peak is the one that can grow with the
        work (the parent's stays at what the import took). Without a worker, the process's own.
        """
        if self.process is None:
            return 0.0
        pids = _children(self.process.pid) or [self.process.pid]
        return max(_vm_hwm_kb(pid) for pid in pids) / 1024

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process)

    def __enter__(self) -> PluginServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(c) for c in f.read().split())
    return found


def _vm_hwm_kb(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0
