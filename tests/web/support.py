"""Shared constants and helpers of the HTTP edge's tests (tests/web/)."""

from __future__ import annotations

from tests import leaks

ICONIK = "https://iconik.test"
SECRET = "s3cret-value-for-tests"
TOKEN = "user-token-abcdef"
B2 = "b2000000-0000-4000-8000-000000000000"
LL = "11000000-0000-4000-8000-000000000000"
ASSET = "a0000000-0000-4000-8000-000000000001"
COLLECTION = "c0000000-0000-4000-8000-000000000001"
JOB = "j0000000-0000-4000-8000-000000000001"
QUERY = f"?b2_storage_id={B2}&ll_storage_id={LL}"
leaks.secret(SECRET)  # neither may appear in any log or output (see tests/leaks.py)
leaks.secret(TOKEN)


class RecordingRunner:
    """Stands in for the background pool: records the steps the handler starts."""

    def __init__(self) -> None:
        self.started: list = []

    def start(self, steps) -> None:
        self.started.extend(steps)

    def enqueue(self, step) -> bool:
        self.started.append(step)
        return True

    def claim(self, name) -> bool:
        return True


def body(**changes):
    payload = {"context": "ASSET", "asset_ids": [ASSET], "collection_ids": [],
               "saved_search_ids": [], "auth_token": TOKEN, "user_id": ASSET}
    payload.update(changes)
    return payload


def post(client, path="/remove" + QUERY, payload=None, secret=SECRET, **kwargs):
    headers = {"x-bz-secret": secret} if secret is not None else {}
    if "data" not in kwargs:
        kwargs["json"] = body() if payload is None else payload
    return client.post(path, headers=headers, **kwargs)


def iconik_paths(mock) -> list[str]:
    return [f"{c.request.method} {c.request.path_url.split('?')[0]}" for c in mock.calls]
