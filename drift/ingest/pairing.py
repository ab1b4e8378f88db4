"""The pending table: where one half of a request/response pair waits for the other.

Pure and small: a bounded, time-limited map from a correlation key to the half that arrived
first. Every operation is O(1) (an ``OrderedDict`` in arrival order; every entry lives for the
same ``ttl``, so arrival order is also expiry order), and one lock makes it safe for concurrent
handlers. Halves that leave without a partner (expired, or evicted when the table is full) are
reported to ``on_drop``, which the caller uses for its counters; it runs under the lock, so it
must be quick and must not call back into the table.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Side(StrEnum):
    """Which half of a pair; the ``half`` label of the expiry counters."""

    REQUEST = "request"
    RESPONSE = "response"


class Drop(StrEnum):
    EXPIRED = "expired"  # waited ``ttl`` seconds for its partner
    EVICTED = "evicted"  # the oldest entry, pushed out by a new one when the table was full


class Offered(StrEnum):
    WAITING = "waiting"  # stored until its partner arrives
    PAIRED = "paired"  # the partner was waiting: it is returned and removed
    DUPLICATE = "duplicate"  # the same side of this key is waiting already: the first one stays


@dataclass(frozen=True, slots=True)
class Offer(Generic[V]):
    """What ``PendingTable.offer`` did; ``partner`` is the waiting other half when PAIRED."""

    status: Offered
    partner: V | None = None


class PendingTable(Generic[K, V]):
    """Halves waiting for their partner, at most ``capacity`` of them for ``ttl`` seconds."""

    def __init__(
        self,
        ttl: float,
        capacity: int,
        on_drop: Callable[[Drop, Side, V], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or capacity <= 0:
            raise ValueError("ttl and capacity must be positive")
        self.ttl = ttl
        self.capacity = capacity
        self._on_drop = on_drop
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (deadline, side, value); arrival order == deadline order
        self._entries: OrderedDict[K, tuple[float, Side, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def offer(self, key: K, side: Side, value: V) -> Offer[V]:
        """Pair ``value`` with the waiting other half of ``key``, or store it to wait."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            entries = self._entries
            waiting = entries.get(key)
            if waiting is not None:
                if waiting[1] is side:
                    return _DUPLICATE
                del entries[key]
                return Offer(Offered.PAIRED, waiting[2])
            if len(entries) >= self.capacity:
                _, (_, old_side, old_value) = entries.popitem(last=False)
                if self._on_drop is not None:
                    self._on_drop(Drop.EVICTED, old_side, old_value)
            entries[key] = (now + self.ttl, side, value)
            return _WAITING

    def discard(self, key: K) -> V | None:
        """Remove and return whatever waits under ``key`` (not reported as dropped)."""
        with self._lock:
            entry = self._entries.pop(key, None)
        return None if entry is None else entry[2]

    def sweep(self) -> int:
        """Drop the expired entries now (also done by every ``offer``); returns how many."""
        with self._lock:
            return self._expire(self._clock())

    def _expire(self, now: float) -> int:
        entries, dropped = self._entries, 0
        while entries:
            key = next(iter(entries))
            deadline, side, value = entries[key]
            if deadline > now:
                break
            del entries[key]
            dropped += 1
            if self._on_drop is not None:
                self._on_drop(Drop.EXPIRED, side, value)
        return dropped


_WAITING: Offer[Any] = Offer(Offered.WAITING)
_DUPLICATE: Offer[Any] = Offer(Offered.DUPLICATE)
