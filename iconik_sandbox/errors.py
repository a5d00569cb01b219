"""Errors the sandbox's state raises; the HTTP layer turns each into iconik's error answer."""

from __future__ import annotations


class SandboxError(Exception):
    """An error with the HTTP status iconik would answer and its ``errors`` messages."""

    status = 400

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class BadRequest(SandboxError):
    """400: the request is malformed."""

    status = 400


class Forbidden(SandboxError):
    """403: the token lacks a role the call needs."""

    status = 403


class NotFound(SandboxError):
    """404: the object does not exist (iconik also says this for a list page that does not)."""

    status = 404


class Conflict(SandboxError):
    """409: e.g. a file set with the same components already exists on the storage."""

    status = 409
