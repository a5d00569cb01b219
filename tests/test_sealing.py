"""Users' tokens sealed in task bodies: they open only for their action, and not if changed."""

from __future__ import annotations

import pytest

from b2_iconik.auth.sealing import KEY_SECRET_ID, SealBroken, TokenSeal
from b2_iconik.auth.secret import ManagedSecret
from b2_iconik.base.config import Settings
from b2_iconik.base.errors import SecretUnavailable

KEY = "00112233445566778899aabbccddeeff" * 2
TOKEN = "the-users-iconik-token-0123456789"


def seal(key: str = KEY) -> TokenSeal:
    return TokenSeal(ManagedSecret(Settings(iconik_id="app"), KEY_SECRET_ID, key))


def test_a_sealed_token_opens_for_its_action_and_is_not_readable():
    sealed = seal().seal(TOKEN, "job-1")
    assert TOKEN not in sealed and sealed.startswith("aead1:")
    assert seal().open(sealed, "job-1") == TOKEN
    assert seal().seal(TOKEN, "job-1") != sealed  # a fresh nonce each time


@pytest.mark.parametrize("change", ["another action", "tampered", "not sealed", "other key"])
def test_a_token_that_does_not_belong_does_not_open(change):
    sealed = seal().seal(TOKEN, "job-1")
    with pytest.raises(SealBroken):
        if change == "another action":
            seal().open(sealed, "job-2")
        elif change == "tampered":
            seal().open(sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"),
                        "job-1")
        elif change == "not sealed":
            seal().open(TOKEN, "job-1")
        else:
            seal("ff" * 32).open(sealed, "job-1")


@pytest.mark.parametrize("bad", ["short", "zz" * 32, "00" * 31])
def test_a_key_that_is_not_256_bits_is_refused_clearly(bad):
    with pytest.raises(SecretUnavailable, match="64 hex characters"):
        seal(bad).seal(TOKEN, "job-1")
