"""Structured logging for Cloud Logging: one JSON object a line, with trace and job id.

Cloud Functions and Cloud Run read JSON lines on stdout as structured entries: ``severity``,
``message``, and the ``logging.googleapis.com/*`` fields Google documents ("special JSON fields
in structured logs"). :class:`JsonLineHandler` writes exactly those; google-cloud-logging's
``StructuredLogHandler`` writes the same lines, but importing that library took 0.35 s of every
cold start, more than the rest of the plugin. Most of our lines come from background steps, so
the trace and the job id travel in context variables (copied into each step) and a filter puts
them on every record. A second filter removes every registered secret (the shared secret, each
``auth_token``) from the message and any traceback before it is written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/\d+)?(?:;o=\d)?$")
_REDACTED = "[redacted]"


def trace_from_headers(headers: Mapping[str, str]) -> str | None:
    """The trace id of a request, from ``traceparent`` or ``X-Cloud-Trace-Context``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    match = _TRACEPARENT.match(lowered.get("traceparent", "").strip())
    if match:
        return match.group(1)
    match = _CLOUD_TRACE.match(lowered.get("x-cloud-trace-context", "").strip())
    return match.group(1).lower() if match else None


@contextmanager
def log_context(job_id: str | None = None, trace: str | None = None) -> Iterator[None]:
    """Put a job id and a trace on every log line written inside the block (this thread)."""
    job_token = _job_id.set(job_id or _job_id.get())
    trace_token = _trace.set(trace or _trace.get())
    try:
        yield
    finally:
        _job_id.reset(job_token)
        _trace.reset(trace_token)


class _Secrets:
    """The values that must never reach a log line, bounded so tokens cannot pile up.

    When full, the value registered least recently is forgotten. Every step of an action
    registers its token again, so a token still in use is never the one forgotten, however
    many clicks came after it.
    """

    def __init__(self, most: int = 1000) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._most = most
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4:
            with self._lock:
                self._values[value] = None
                self._values.move_to_end(value)
                while len(self._values) > self._most:
                    self._values.popitem(last=False)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = list(self._values)
        for value in values:
            if value in text:
                text = text.replace(value, _REDACTED)
        return text


_secrets = _Secrets()


def redact(value: str | None) -> None:
    """Never log this value (the shared secret, an ``auth_token``)."""
    _secrets.add(value)


class ContextFilter(logging.Filter):
    """Adds the job id (as a JSON field) and the Cloud Logging trace to each record."""

    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self.project = project

    def filter(self, record: logging.LogRecord) -> bool:
        job_id, trace = _job_id.get(), _trace.get()
        if job_id:
            fields = dict(getattr(record, "json_fields", None) or {})
            fields.setdefault("job_id", job_id)
            record.json_fields = fields
        if trace and not hasattr(record, "trace"):
            record.trace = f"projects/{self.project}/traces/{trace}" if self.project else trace
        return True


class RedactionFilter(logging.Filter):
    """Replaces every registered secret in the message and traceback with ``[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = _secrets.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _secrets.scrub(record.exc_text)
        return True


class JsonLineHandler(logging.StreamHandler):
    """Writes each record as one Cloud Logging structured entry (a JSON object on one line).

    The message includes any traceback; ``json_fields`` on a record become top-level fields;
    inside a Flask request the entry also carries the request (``httpRequest``).
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = dict(getattr(record, "json_fields", None) or {})
        entry.update({
            "message": super().format(record),
            "severity": record.levelname,
            "logging.googleapis.com/labels": {"python_logger": record.name},
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname, "line": record.lineno, "function": record.funcName,
            },
        })
        trace = getattr(record, "trace", None)
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        request = _http_request()
        if request:
            entry["httpRequest"] = request
        return json.dumps(entry, ensure_ascii=False, default=str)


def _http_request() -> dict[str, str] | None:
    """The Flask request being answered, if any (Flask is not imported for this)."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return None
    request = flask.request
    return {
        "requestMethod": request.method,
        "requestUrl": request.url,
        "userAgent": request.headers.get("User-Agent", ""),
        "protocol": request.environ.get("SERVER_PROTOCOL", ""),
    }


_handler: logging.Handler | None = None
_setup_lock = threading.Lock()


def setup_logging(
    project: str | None = None, stream: IO[str] | None = None, level: int = logging.INFO
) -> logging.Handler:
    """Send the root logger's records to stdout as Cloud Logging JSON lines (once per process).

    Args:
        project: the Google Cloud project, to write traces in the form Cloud Logging links.
        stream: where to write (stdout by default; tests pass a buffer).
        level: the root logger's level.
    """
    global _handler
    with _setup_lock:
        root = logging.getLogger()
        if _handler is not None:
            root.removeHandler(_handler)
        handler = JsonLineHandler(stream or sys.stdout)
        handler.addFilter(RedactionFilter())
        handler.addFilter(ContextFilter(project))
        root.addHandler(handler)
        root.setLevel(level)
        _handler = handler
        return handler
