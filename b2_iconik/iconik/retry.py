"""Which failed calls to iconik are tried again, how long to wait, and on whose budget.

urllib3's ``Retry`` for 429 and 5xx and connection errors, honouring ``Retry-After``, with
exponential backoff and jitter; POST only where iconik deduplicates (bulk copies). A retry is a
request like any other, so it waits for the client's budget (:mod:`.limiter`) too.
"""

from __future__ import annotations

from typing import Any

from urllib3.util.retry import Retry

from b2_iconik.iconik.limiter import Budget

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


class _IconikRetry(Retry):
    """urllib3's Retry, also retrying 429 for POST.

    A 429 means iconik refused the request before doing anything, so repeating it is always safe,
    whereas a 5xx on a POST may have half-happened and is retried only where the adapter allows
    POST (bulk copies, which iconik deduplicates).
    """

    #: The client's budget; set on per-client subclasses (see :func:`limited`), because urllib3
    #: rebuilds a Retry from its constructor arguments at every attempt.
    budget: Budget | None = None

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and self.total:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    def sleep(self, response: Any = None) -> None:
        """Back off, then wait for the budget: a retry is a request like any other.

        A 429 also pauses the instance's background requests for its ``Retry-After`` (or this
        backoff), not only this thread's: iconik's budget is shared, so every thread must slow.
        """
        if self.budget is not None and response is not None and response.status == 429:
            self.budget.pause(self.get_retry_after(response) or self.get_backoff_time())
        super().sleep(response)
        if self.budget is not None:
            self.budget.take()


def limited(policy: Retry, budget: Budget) -> Retry:
    """The same policy, whose retries also draw from the client's budget."""
    if budget.limiter is None or not isinstance(policy, _IconikRetry):
        return policy
    kind = type("_LimitedRetry", (type(policy),), {"budget": budget})
    limited = policy.new()
    limited.__class__ = kind
    return limited


def retry_policy(total: int = 6, backoff_factor: float = 0.5, post: bool = False) -> Retry:
    """The retry policy for iconik calls: exponential backoff with jitter, Retry-After honoured.

    Args:
        total: how many retries at the most.
        backoff_factor: the first backoff in seconds; it doubles each time, up to 30 s.
        post: also retry POSTs on 5xx (only for calls iconik deduplicates).
    """
    methods = _IDEMPOTENT | {"POST"} if post else _IDEMPOTENT
    return _IconikRetry(
        total=total,
        backoff_factor=backoff_factor,
        backoff_max=30,
        backoff_jitter=backoff_factor / 2,
        status_forcelist=_RETRY_STATUSES,
        allowed_methods=methods,
        respect_retry_after_header=True,
        raise_on_status=False,
    )

