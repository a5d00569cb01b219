"""The custom-action CLI tests' shared pieces: the operator's values, run(), ours(), create().

``run`` runs ``main(argv)`` in-process, with the environment set through monkeypatch and the
output captured.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from b2_iconik import custom_actions as ca
from tests import leaks

if TYPE_CHECKING:
    from tests.custom_actions.backends import Backend


APP_ID = "11111111-1111-1111-1111-111111111111"
TOKEN = "operator-token-0123456789"
SECRET = "s3cr3t-shared-value-abcdef"
B2 = "22222222-2222-2222-2222-222222222222"
LL = "33333333-3333-3333-3333-333333333333"
ENDPOINT = "https://europe-west1-proj.cloudfunctions.net/iconik_handler"
OTHER_ENDPOINT = "https://us-central1-other.cloudfunctions.net/iconik_handler"
leaks.secret(TOKEN)  # the CLI prints neither, whatever it is asked (see tests/leaks.py)
leaks.secret(SECRET)


def _point_at(env: pytest.MonkeyPatch, backend: Backend) -> None:
    env.setenv("ICONIK_URL", backend.url)
    env.setenv("ICONIK_ID", backend.app_id)
    env.setenv("ICONIK_TOKEN", backend.token)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """main(argv), its exit status and output; the secret and token never appear in either."""
    status = ca.main(list(argv))
    out, err = capsys.readouterr()
    for text in (out, err):
        assert SECRET not in text
        assert os.environ.get("ICONIK_TOKEN", TOKEN) not in text
    return status, out, err


def ours(backend: Backend, endpoint: str = ENDPOINT) -> list[dict[str, Any]]:
    return [a for a in backend.actions.values() if ca.operation_of(a["url"], endpoint)]


def create(backend: Backend, *extra: str) -> tuple[str, ...]:
    return ("create", ENDPOINT, "--b2-storage", backend.b2, "--ll-storage", backend.ll, *extra)
