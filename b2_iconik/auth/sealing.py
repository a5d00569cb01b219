"""Users' iconik tokens sealed in task bodies (AES-GCM), so the queue holds no readable token.

A Cloud Tasks task carries its step in the clear, and a step carries the token of the user who
clicked: anyone allowed to view tasks in full could act as that user toward iconik. So the token
travels sealed with AES-GCM (an AEAD: tampering is detected, not just hidden), under a 256-bit key
kept in Secret Manager (``bz-task-key``, 64 hex characters; ``TASKS_TOKEN_KEY`` for local runs),
with the action's job id as associated data, so a sealed token cannot be moved to another step.
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

from b2_iconik.auth.secret import ManagedSecret
from b2_iconik.base.errors import PluginError, SecretUnavailable

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_SECRET_ID = "bz-task-key"
PREFIX = "aead1:"
NONCE_BYTES = 12


class SealBroken(PluginError):
    """A sealed token that does not open: tampered with, or sealed under another key."""


class TokenSeal:
    """Seals and opens tokens with the key from ``key`` (read once, lazily)."""

    def __init__(self, key: ManagedSecret) -> None:
        self._key = key

    def seal(self, token: str, context: str) -> str:
        """The token, sealed for steps of the action ``context`` (its job id)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead().encrypt(nonce, token.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: str) -> str:
        """The token a step carries, opened.

        Raises:
            SealBroken: it is not sealed, was changed, or belongs to another action.
        """
        from cryptography.exceptions import InvalidTag

        if not sealed.startswith(PREFIX):
            raise SealBroken("the step's token is not sealed")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(PREFIX) :])
            plain = self._aead().decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):
            raise SealBroken("the step's token does not open: changed, or another key") from None
        return plain.decode()

    def _aead(self) -> AESGCM:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            key = bytes.fromhex(self._key.get().decode())
        except ValueError:
            key = b""
        if len(key) != 32:
            raise SecretUnavailable(
                f"the task key ({KEY_SECRET_ID}) must be 64 hex characters (32 bytes)"
            )
        return AESGCM(key)
