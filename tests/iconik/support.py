"""Shared constants and helpers of the iconik client's tests (tests/iconik/)."""

from __future__ import annotations

from typing import Any

from pytest_httpserver import HTTPServer

from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.retry import retry_policy

BASE = "https://iconik.test"
APP_ID = "11111111-1111-1111-1111-111111111111"
TOKEN = "user-token-0123456789abcdef"
ASSET = "a1a1a1a1-0000-4000-8000-000000000001"
FILE_SET = "f5f5f5f5-0000-4000-8000-000000000001"
COLLECTION = "c1c1c1c1-0000-4000-8000-000000000001"
LL = "33333333-3333-3333-3333-333333333333"
B2 = "22222222-2222-2222-2222-222222222222"
JOB = "10b10b10-0000-4000-8000-000000000001"

JOBS = f"{BASE}/API/jobs/v1/jobs/"
BULK = f"{BASE}/API/files/v1/storages/{LL}/bulk/"
CONTENTS = f"{BASE}/API/assets/v1/collections/{COLLECTION}/contents/"
FILE_SET_URL = f"{BASE}/API/files/v1/assets/{ASSET}/file_sets/{FILE_SET}/"
TOKEN_URL = f"{BASE}/API/auth/v1/auth/token/"


def fast_client(base: str = BASE, **kwargs: Any) -> IconikClient:
    kwargs.setdefault("retry", retry_policy(total=3, backoff_factor=0.01))
    kwargs.setdefault("copy_retry", retry_policy(total=3, backoff_factor=0.01, post=True))
    return IconikClient(base, APP_ID, TOKEN, **kwargs)


def base_of(server: HTTPServer) -> str:
    return server.url_for("/").rstrip("/")
