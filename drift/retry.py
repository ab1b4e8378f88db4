"""The retry policy object the delivery workers are given: exponential backoff with jitter and
a maximum age after which a notification is dropped."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.2  # each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter]
    max_age: float = 3600.0

    def __post_init__(self) -> None:
        if self.initial_backoff <= 0 or self.max_backoff < self.initial_backoff:
            raise ValueError("need 0 < initial_backoff <= max_backoff")
        if self.multiplier < 1 or not 0 <= self.jitter <= 1 or self.max_age <= 0:
            raise ValueError("need multiplier >= 1, 0 <= jitter <= 1, max_age > 0")

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based). A server's
        ``Retry-After`` is a floor: we never come back sooner than asked."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        wait = base * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return max(wait, retry_after or 0.0)

    def expired(self, age: float, next_delay: float = 0.0) -> bool:
        """True when waiting ``next_delay`` more would take the notification past ``max_age``."""
        return age + next_delay > self.max_age
