"""Structured logging (b2_iconik.base.logs): JSON lines, job id and trace, trace headers, redaction.

``setup_logging`` writes to a buffer here; a fixture puts the root logger's handlers and level
back after each test.
"""

from __future__ import annotations

import contextvars
import io
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from b2_iconik.base import logs
from b2_iconik.base.logs import log_context, redact, setup_logging, trace_from_headers

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_KEY = "logging.googleapis.com/trace"

log = logging.getLogger("tests.logs")


@pytest.fixture
def restore_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Logger]:
    """The plugin's logging as a fresh process has it, whatever tests ran before here.

    Other tests register values to redact (a fake token named "token", say) and may leave the
    plugin's handler on the root logger (``import main`` sets it up): here neither may count.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(logs, "_handler", None)
    monkeypatch.setattr(logs, "_secrets", logs._Secrets())
    root.handlers[:] = [h for h in handlers
                        if not any(isinstance(f, logs.ContextFilter) for f in h.filters)]
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def buffer(restore_root: logging.Logger) -> io.StringIO:
    buf = io.StringIO()
    setup_logging(project="proj", stream=buf)
    return buf


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, parsed (each must be one JSON object)."""
    parsed = [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


def secret_value() -> str:
    """A value unique to the test: the redaction registry is process-wide."""
    return f"tok-{uuid.uuid4().hex}"


# -- JSON lines ------------------------------------------------------------------------------------


def test_one_json_object_per_line(buffer: io.StringIO) -> None:
    log.info("first %s", "line")
    log.warning("second line\nwith a newline inside")
    log.error("third")
    written = lines(buffer)
    assert [(w["severity"], w["message"]) for w in written] == [
        ("INFO", "first line"),
        ("WARNING", "second line\nwith a newline inside"),
        ("ERROR", "third"),
    ]
    assert len(buffer.getvalue().strip().splitlines()) >= 3


def test_level_filters(restore_root: logging.Logger) -> None:
    buf = io.StringIO()
    setup_logging(project="proj", stream=buf, level=logging.WARNING)
    log.info("quiet")
    log.warning("loud")
    assert [w["message"] for w in lines(buf)] == ["loud"]


def test_setup_twice_replaces_the_handler(restore_root: logging.Logger) -> None:
    before = len(restore_root.handlers)
    first, second = io.StringIO(), io.StringIO()
    setup_logging(project="proj", stream=first)
    setup_logging(project="proj", stream=second)
    assert len(restore_root.handlers) == before + 1
    log.info("only once")
    assert [w["message"] for w in lines(second)] == ["only once"]
    assert lines(first) == []


def test_no_context_no_job_id(buffer: io.StringIO) -> None:
    log.info("outside")
    (written,) = lines(buffer)
    assert "job_id" not in written
    assert not written.get(TRACE_KEY)


def test_log_context_adds_job_id_and_trace(buffer: io.StringIO) -> None:
    with log_context(job_id="J", trace=TRACE):
        log.info("inside")
        log.warning("inside again")
    log.info("after")
    inside, again, after = lines(buffer)
    for written in (inside, again):
        assert written["job_id"] == "J"
        assert written[TRACE_KEY] == f"projects/proj/traces/{TRACE}"
    assert "job_id" not in after
    assert not after.get(TRACE_KEY)


def test_trace_without_project(restore_root: logging.Logger) -> None:
    buf = io.StringIO()
    setup_logging(project=None, stream=buf)
    with log_context(trace=TRACE):
        log.info("x")
    (written,) = lines(buf)
    assert TRACE in written[TRACE_KEY]


def test_nested_contexts(buffer: io.StringIO) -> None:
    with log_context(trace=TRACE):
        with log_context(job_id="J1"):
            log.info("one")
            with log_context(job_id="J2"):
                log.info("two")
            log.info("one again")
        log.info("trace only")
    one, two, one_again, trace_only = lines(buffer)
    assert [one["job_id"], two["job_id"], one_again["job_id"]] == ["J1", "J2", "J1"]
    assert all(w[TRACE_KEY].endswith(TRACE) for w in (one, two, one_again, trace_only))
    assert "job_id" not in trace_only


def test_extra_json_fields_kept(buffer: io.StringIO) -> None:
    with log_context(job_id="J"):
        log.info("with fields", extra={"json_fields": {"asset_id": "A"}})
    (written,) = lines(buffer)
    assert written["asset_id"] == "A"
    assert written["job_id"] == "J"


def test_context_reaches_another_thread_only_when_copied(buffer: io.StringIO) -> None:
    """Observed: a plain new thread starts with an empty context (no job id, no trace); a thread
    that runs inside ``contextvars.copy_context()`` keeps both. The runner does not copy the
    context: the job id and trace travel in the step and the worker re-enters ``log_context``."""
    with log_context(job_id="J", trace=TRACE):
        plain = threading.Thread(target=log.info, args=("plain thread",))
        plain.start()
        plain.join()
        copied_context = contextvars.copy_context()
        copied = threading.Thread(target=copied_context.run, args=(log.info, "copied context"))
        copied.start()
        copied.join()
    by_message = {w["message"]: w for w in lines(buffer)}
    assert "job_id" not in by_message["plain thread"]
    assert not by_message["plain thread"].get(TRACE_KEY)
    assert by_message["copied context"]["job_id"] == "J"
    assert by_message["copied context"][TRACE_KEY] == f"projects/proj/traces/{TRACE}"


# -- trace headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "trace"),
    [
        ({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}, TRACE),
        ({"Traceparent": f"00-{TRACE}-00f067aa0ba902b7-00"}, TRACE),
        ({"X-Cloud-Trace-Context": f"{TRACE}/123;o=1"}, TRACE),
        ({"x-cloud-trace-context": f"{TRACE.upper()}/1"}, TRACE),
        ({"X-Cloud-Trace-Context": TRACE}, TRACE),
        ({"X-Cloud-Trace-Context": f"{TRACE};o=0"}, TRACE),
        (
            {
                "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
                "X-Cloud-Trace-Context": f"{'1' * 32}/1;o=1",
            },
            TRACE,
        ),
        (
            {"traceparent": "garbage", "X-Cloud-Trace-Context": f"{TRACE}/1;o=1"},
            TRACE,
        ),
    ],
)
def test_trace_from_headers(headers: dict[str, str], trace: str) -> None:
    assert trace_from_headers(headers) == trace


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"traceparent": ""},
        {"traceparent": "garbage"},
        {"traceparent": f"00-{TRACE[:-1]}-00f067aa0ba902b7-01"},
        {"traceparent": f"00-{TRACE}-00f067aa0ba902b-01"},
        {"traceparent": f"00-{TRACE.replace('a', 'z')}-00f067aa0ba902b7-01"},
        {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01-extra"},
        {"X-Cloud-Trace-Context": "garbage"},
        {"X-Cloud-Trace-Context": f"{TRACE}x/1"},
        {"X-Cloud-Trace-Context": f"{TRACE}/abc"},
        {"X-Cloud-Trace-Context": f"{TRACE}/1;o=1\nInjected: yes"},
        {"X-Trace": TRACE},
    ],
)
def test_trace_from_headers_rejects_garbage(headers: dict[str, str]) -> None:
    assert trace_from_headers(headers) is None


# -- redaction -------------------------------------------------------------------------------------


def test_redacted_in_message(buffer: io.StringIO) -> None:
    value = secret_value()
    redact(value)
    log.info(f"the token is {value}!")
    out = buffer.getvalue()
    assert value not in out
    assert lines(buffer)[0]["message"] == "the token is [redacted]!"


def test_redacted_in_args(buffer: io.StringIO) -> None:
    value = secret_value()
    redact(value)
    log.warning("token=%s and again %r", value, {"auth_token": value})
    out = buffer.getvalue()
    assert value not in out
    assert lines(buffer)[0]["message"].count("[redacted]") == 2


def test_redacted_in_tracebacks(buffer: io.StringIO) -> None:
    value = secret_value()
    redact(value)
    try:
        raise RuntimeError(f"iconik refused token {value}")
    except RuntimeError:
        log.exception("call failed")
    out = buffer.getvalue()
    assert value not in out
    (written,) = lines(buffer)
    assert "Traceback" in written["message"]
    assert "RuntimeError: iconik refused token [redacted]" in written["message"]


def test_redacted_in_chained_tracebacks(buffer: io.StringIO) -> None:
    value = secret_value()
    redact(value)
    try:
        try:
            raise KeyError(value)
        except KeyError as inner:
            raise ValueError("wrapped") from inner
    except ValueError:
        log.error("failed", exc_info=True)
    assert value not in buffer.getvalue()


def test_several_values_redacted(buffer: io.StringIO) -> None:
    first, second = secret_value(), secret_value()
    redact(first)
    redact(second)
    log.info("%s %s", first, second)
    assert lines(buffer)[0]["message"] == "[redacted] [redacted]"


def test_unregistered_values_pass(buffer: io.StringIO) -> None:
    value = secret_value()
    log.info("not secret: %s", value)
    assert value in lines(buffer)[0]["message"]


@pytest.mark.parametrize("value", [None, "", "abc"])
def test_tiny_values_not_registered(buffer: io.StringIO, value: str | None) -> None:
    redact(value)
    log.info("abcdef")
    assert lines(buffer)[0]["message"] == "abcdef"


def test_redaction_registry_is_bounded() -> None:
    registry = logs._Secrets(most=3)
    values = [secret_value() for _ in range(5)]
    for v in values:
        registry.add(v)
    scrubbed = registry.scrub(" ".join(values))
    assert scrubbed.split() == values[:2] + ["[redacted]"] * 3


def test_a_value_registered_again_is_kept_over_older_ones() -> None:
    # Every step of an action registers its token again: a long Remove's token must not be
    # the one forgotten when newer clicks fill the registry.
    registry = logs._Secrets(most=3)
    active, *others = [secret_value() for _ in range(4)]
    registry.add(active)
    registry.add(others[0])
    registry.add(others[1])
    registry.add(active)  # the active action's next step
    registry.add(others[2])
    assert registry.scrub(active) == "[redacted]"
    assert registry.scrub(others[0]) == others[0]  # the oldest unused one went instead


def test_an_entry_has_cloud_loggings_fields(buffer: io.StringIO) -> None:
    log.warning("look", extra={"json_fields": {"asset_id": "A"}})
    (written,) = lines(buffer)
    assert written["severity"] == "WARNING" and written["message"] == "look"
    assert written["asset_id"] == "A"
    assert written["logging.googleapis.com/labels"] == {"python_logger": "tests.logs"}
    where = written["logging.googleapis.com/sourceLocation"]
    assert where["file"].endswith("test_logs.py") and where["function"] == (
        "test_an_entry_has_cloud_loggings_fields")
    assert "httpRequest" not in written  # no request being answered


def test_an_entry_inside_a_request_names_it(buffer: io.StringIO) -> None:
    import flask

    app = flask.Flask("t")
    with app.test_request_context("/remove?x=1", method="POST",
                                  headers={"User-Agent": "iconik"}):
        log.info("answering")
    (written,) = lines(buffer)
    assert written["httpRequest"] == {"requestMethod": "POST",
                                      "requestUrl": "http://localhost/remove?x=1",
                                      "userAgent": "iconik", "protocol": "HTTP/1.1"}


def test_importing_main_loads_no_google_client_library() -> None:
    """Cold starts: Secret Manager, Cloud Tasks and gRPC are imported when first needed."""
    import subprocess
    import sys
    from pathlib import Path

    env = {"ICONIK_ID": "app", "ICONIK_URL": "http://127.0.0.1:9", "PATH": "",
           "BZ_SHARED_SECRET": "a-secret-of-the-test", "FORMAT_NAMES": "ORIGINAL"}
    code = ("import sys, main; print(sorted(m for m in sys.modules "
            "if m.startswith(('google.', 'grpc', 'cryptography'))))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert out.strip().splitlines()[-1] == "['google.cloud']"
