"""A watch for secrets over the whole test session (DESIGN §6: never log a secret or a token).

One test checking one log proves little: a token may leak in a test that never looks. So the
fixtures tell this watch everything they know, and it is scanned once, when the session ends
(see ``tests/conftest.py``):

* :func:`secret`: the values that must never appear: the shared secret and every
  ``auth_token`` the sandbox accepts;
* :func:`log_file`: the files the plugin servers write their logs to;
* :func:`record`: texts captured along the way: the answers the plugin gave, the sandbox's
  request log and its jobs (their titles and messages), each test's captured output.

The session also writes every log record of the in-process tests through the plugin's own
JSON handler and redaction filter into a file of its own, which is scanned with the rest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

#: Shorter values could appear by chance (and the plugin does not redact them either).
MIN_LENGTH = 8


@dataclass
class Finding:
    """One secret found in one place."""

    secret: str = field(repr=False)  # a failure report must not print it whole
    origin: str = ""
    excerpt: str = ""

    def __str__(self) -> str:
        shown = self.secret[:4] + "…"
        return f"{shown} in {self.origin}: …{self.excerpt}…"


@dataclass
class LeakWatch:
    """The secrets of the session, and the places to look for them."""

    secrets: set[str] = field(default_factory=set)
    files: list[Path] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def secret(self, value: str) -> None:
        if len(value) >= MIN_LENGTH:
            with self._lock:
                self.secrets.add(value)

    def log_file(self, path: Path) -> None:
        with self._lock:
            self.files.append(path)

    def record(self, origin: str, text: str) -> None:
        with self._lock:
            self.texts.append((origin, text))

    def places(self) -> int:
        """How many files and texts the scan looks at."""
        return len(self.files) + len(self.texts)

    def findings(self) -> list[Finding]:
        """Every secret in every file and text, with a little context around it."""
        with self._lock:
            secrets, files, texts = sorted(self.secrets), list(self.files), list(self.texts)
        found: list[Finding] = []
        sources = [(str(p), p.read_text(errors="replace")) for p in files if p.exists()]
        for origin, text in sources + texts:
            for value in secrets:
                at = text.find(value)
                if at >= 0:
                    excerpt = text[max(0, at - 40): at].replace("\n", " ")
                    found.append(Finding(value, origin, excerpt))
        return found


WATCH = LeakWatch()


def secret(value: str) -> None:
    """This value must appear nowhere the session captured."""
    WATCH.secret(value)


def log_file(path: Path) -> None:
    """Scan this file (a plugin server's log) at the end of the session."""
    WATCH.log_file(path)


def record(origin: str, text: str) -> None:
    """Scan this text at the end of the session; ``origin`` says where it came from."""
    WATCH.record(origin, text)
