"""The one retry policy of every sender: the drift client posting samples to the sidecar, the
alert delivery workers (Slack, Kafka) and the ClearML reporter. A policy is a value passed in;
the sender owns its loop::

    attempt = 0
    while True:
        attempt += 1
        ...  # one try; return on success, give up at once on a permanent error
        delay = policy.delay(attempt, rng, retry_after)
        if policy.exhausted(attempt, age, delay):
            ...  # give up and count it
        sleep(delay)

``retry_after_seconds(headers)`` reads a response's ``Retry-After`` for ``delay``.

It lives in the client package because the client is installed on its own into model servers
(the ``drift-sidecar-client`` distribution, docs/client.md), where nothing else of ``drift`` is;
the server's senders use it as ``drift.retry``. Standard library only.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

#: HTTP statuses worth another try (``RetryPolicy.retryable``: these and any other 5xx)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with jitter, a server's ``Retry-After``, and when to stop.

    Backoff after failed attempt ``n`` (1-based): ``min(max_backoff, initial_backoff *
    multiplier ** (n - 1))``, scaled by a uniform factor in ``[1 - jitter, 1 + jitter]``.

    Retry-After, one rule for every sender: the server's ``Retry-After`` is a floor, capped at
    ``max_retry_after``; the delay is ``max(backoff, min(retry_after, max_retry_after))``. A
    sender never comes back sooner than the server asked (up to the cap) nor sooner than its
    own backoff, and a hostile or buggy server cannot park a sender for longer than the cap.
    Where ``max_age`` is set it bounds the wait too: a delay that would take the item past it
    ends the retries (``exhausted``). Before this class was shared, the client's Retry-After
    *replaced* the backoff (``Retry-After: 0`` meant at once); it now waits at least the backoff.
    Alert delivery kept its floor and builds its policy with ``max_retry_after = max_age``, so
    its age limit, not the cap, decides as before.

    Stop rules, either or both (one is required): ``max_attempts`` (attempts per item, the
    first included) and ``max_age`` (seconds since the item was queued); ``None`` switches one
    off. The drift client stops by attempts (``drift.client.client.CLIENT_RETRY``), alert
    delivery by age (``exporters.alerts.delivery.retry_policy``). The defaults here are those
    of alert delivery. Keyword arguments only (the two former classes ordered their fields
    differently, so a positional call would silently mean something else).
    """

    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.2  # each backoff is scaled by a uniform factor in [1 - jitter, 1 + jitter]
    max_age: float | None = 3600.0  # seconds since queued; None: no age limit
    max_attempts: int | None = None  # attempts per item, the first included; None: no limit
    max_retry_after: float = 60.0  # the most a server's Retry-After makes us wait

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1 or None, got {self.max_attempts}")
        if self.max_age is not None and not 0 < self.max_age < math.inf:
            raise ValueError(f"max_age must be > 0 and finite or None, got {self.max_age}")
        if self.max_attempts is None and self.max_age is None:
            raise ValueError("need a stop rule: max_attempts or max_age (or both)")
        if not 0 <= self.initial_backoff <= self.max_backoff < math.inf:
            raise ValueError(
                "need 0 <= initial_backoff <= max_backoff (finite), got "
                f"initial_backoff={self.initial_backoff}, max_backoff={self.max_backoff}"
            )
        if self.max_attempts is None and self.initial_backoff == 0:
            raise ValueError("initial_backoff must be > 0 when only max_age stops the retries")
        if not 1 <= self.multiplier < math.inf:
            raise ValueError(f"multiplier must be >= 1 and finite, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")
        if not 0 <= self.max_retry_after < math.inf:
            raise ValueError(f"max_retry_after must be >= 0 and finite, got {self.max_retry_after}")

    @staticmethod
    def retryable(status: int) -> bool:
        """Whether an HTTP status is worth another try: 429 and 5xx."""
        return status in RETRYABLE_STATUS or 500 <= status < 600

    def backoff(self, attempt: int) -> float:
        """The backoff after failed attempt ``attempt`` (1-based), before jitter."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        try:
            grown = self.initial_backoff * self.multiplier ** (attempt - 1)
        except OverflowError:  # long past max_backoff
            return self.max_backoff
        return min(self.max_backoff, grown)

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): the jittered backoff, or
        the server's ``retry_after`` (capped at ``max_retry_after``) when that is longer."""
        wait = self.backoff(attempt) * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        if retry_after is not None and retry_after > 0:  # NaN is not > 0
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait

    def expired(self, age: float, next_delay: float = 0.0) -> bool:
        """True when waiting ``next_delay`` more would take the item past ``max_age``."""
        return self.max_age is not None and age + next_delay > self.max_age

    def exhausted(self, attempts: int, age: float = 0.0, next_delay: float = 0.0) -> bool:
        """True when the sender should give up rather than wait ``next_delay`` and try again:
        ``attempts`` made reached ``max_attempts``, or the wait would pass ``max_age``
        (``age``: seconds since the item was queued)."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return self.expired(age, next_delay)


def retry_after_seconds(
    headers: Mapping[str, Any] | None, now: float | None = None
) -> float | None:
    """Seconds a response's ``Retry-After`` asks for; None when absent or unreadable.

    The header name in any case; a value that is a string, bytes or a number, or a list or
    tuple of them (the first is read); delta-seconds (``"120"``, decimals accepted) or an HTTP
    date (``"Wed, 21 Oct 2015 07:28:00 GMT"``, counted from ``now``, default ``time.time()``;
    a date without a zone is UTC). Negative values and past dates give 0; NaN and infinity give
    None. Capping is the policy's job (``RetryPolicy.max_retry_after``).
    """
    value: Any = None
    for name, raw in (headers or {}).items():
        if isinstance(name, str) and name.lower() == "retry-after":
            value = raw
            break
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = when.timestamp() - (time.time() if now is None else now)
    else:
        return None
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
