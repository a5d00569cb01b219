"""The session's leak watch (tests/leaks.py) finds what it is told to look for."""

from __future__ import annotations

from pathlib import Path

from tests.leaks import LeakWatch

TOKEN = "tok-1234567890abcdef"


def test_a_secret_in_a_text_is_found() -> None:
    watch = LeakWatch()
    watch.secret(TOKEN)
    watch.record("an answer", f'{{"error": "bad token {TOKEN}"}}')
    watch.record("another answer", '{"error": "bad token [redacted]"}')
    (finding,) = watch.findings()
    assert finding.origin == "an answer"
    assert "bad token" in str(finding) and TOKEN not in str(finding)


def test_a_secret_in_a_log_file_is_found(tmp_path: Path) -> None:
    watch = LeakWatch()
    watch.secret(TOKEN)
    log = tmp_path / "plugin.log"
    log.write_text(f'{{"message": "calling iconik with {TOKEN}"}}\n')
    watch.log_file(log)
    watch.log_file(tmp_path / "never-written.log")
    assert [f.origin for f in watch.findings()] == [str(log)]


def test_values_too_short_to_be_secrets_are_not_looked_for() -> None:
    watch = LeakWatch()
    watch.secret("abc")
    watch.record("text", "abcabc")
    assert watch.findings() == []
