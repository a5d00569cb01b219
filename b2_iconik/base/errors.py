"""The plugin's exceptions, one tree under :class:`PluginError`.

::

    PluginError
    ├── ConfigError          a setting is missing or malformed (start-up stops)
    ├── PayloadError         the custom-action request is bad (HTTP 400/413); names the field
    ├── SecretUnavailable    the shared secret could not be read (HTTP 503)
    │   └── SecretMissing    Secret Manager has no such secret (not configured)
    ├── QueueRefused         Cloud Tasks refused a step for good (too large, not allowed...)
    └── IconikError          talking to iconik went wrong
        ├── IconikHTTPError  iconik answered with an error status (carries status and messages)
        └── IconikUnavailable no usable answer: connection failed, timed out, retries exhausted

``requests`` exceptions are translated into these inside the iconik client only, and errors are
mapped to HTTP statuses only in :mod:`b2_iconik.edge.router`.
"""

from __future__ import annotations


class PluginError(Exception):
    """Root of every error the plugin raises on purpose."""


class ConfigError(PluginError):
    """A setting is missing or malformed; the message is one line naming the variable."""


class PayloadError(PluginError):
    """The incoming custom-action request is invalid.

    Attributes:
        field: the request field (or query parameter) that is wrong.
        status: the HTTP status to answer with (400, or 413 for a body too large).
    """

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.status = status


class SecretUnavailable(PluginError):
    """The shared secret could not be read, so no request can be authenticated."""


class SecretMissing(SecretUnavailable):
    """Secret Manager has no such secret (or no version of it): it was never configured."""


class QueueRefused(PluginError):
    """The queue will never take this step (too large, invalid, not allowed): retrying is vain."""


class IconikError(PluginError):
    """Base for failures talking to iconik."""


class IconikHTTPError(IconikError):
    """iconik answered with an error status.

    Attributes:
        status: the HTTP status code.
        messages: iconik's own error messages from its ``{"errors": ...}`` body.
        method, path: the request that failed (never with its query, which may be long).
    """

    def __init__(self, status: int, messages: list[str], method: str, path: str) -> None:
        detail = "; ".join(messages) if messages else "no message"
        super().__init__(f"iconik answered {status} to {method} {path}: {detail}")
        self.status = status
        self.messages = messages
        self.method = method
        self.path = path


class IconikUnavailable(IconikError):
    """iconik gave no usable answer: connection error, timeout, or retries exhausted."""


def is_transient(error: Exception) -> bool:
    """True for failures that may pass: no answer, rate limited, or iconik's own 5xx."""
    if isinstance(error, IconikUnavailable):
        return True
    return isinstance(error, IconikHTTPError) and (error.status == 429 or error.status >= 500)
