"""The per-(model, kind) alert state machine with hysteresis, and de-duplication by key.

``AlertTracker`` fires after ``fire_after`` consecutive drifted evaluations, resolves after
``resolve_after`` consecutive clean ones, and while firing says nothing more until
``repeat_interval`` seconds have passed (then it repeats once per interval). ``Deduplicator``
does the same for alerts that arrive already decided (from Alertmanager): a key is let through
when its status changes, or when a firing one is older than the repeat interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from drift.alerting.notification import Status


class Transition(StrEnum):
    FIRED = "fired"
    REPEATED = "repeated"
    RESOLVED = "resolved"


@dataclass
class AlertTracker:
    fire_after: int
    resolve_after: int
    repeat_interval: float  # seconds; 0: never repeat
    firing: bool = False
    drifted_streak: int = 0
    clean_streak: int = 0
    started_at: float | None = None
    last_sent: float | None = None

    def __post_init__(self) -> None:
        if self.fire_after < 1 or self.resolve_after < 1 or self.repeat_interval < 0:
            raise ValueError("need fire_after >= 1, resolve_after >= 1, repeat_interval >= 0")

    def to_state(self) -> dict[str, Any]:
        """Where the machine stands (not its configuration), JSON-able, for a snapshot; the
        times are the caller's clock (Unix time in the service)."""
        return {
            "firing": self.firing,
            "drifted_streak": self.drifted_streak,
            "clean_streak": self.clean_streak,
            "started_at": self.started_at,
            "last_sent": self.last_sent,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back what ``to_state`` saved (this tracker's configuration stays): a restart
        neither fires an alert again nor forgets that one is firing. Raises ValueError (or
        KeyError, TypeError) when ``state`` is not such a state."""
        firing, drifted, clean = state["firing"], state["drifted_streak"], state["clean_streak"]
        started, last = state["started_at"], state["last_sent"]
        if type(firing) is not bool or type(drifted) is not int or type(clean) is not int:
            raise ValueError(f"not an alert state: {dict(state)}")
        if min(drifted, clean) < 0 or (firing and started is None):
            raise ValueError(f"not an alert state: {dict(state)}")
        self.firing, self.drifted_streak, self.clean_streak = firing, drifted, clean
        self.started_at = None if started is None else float(started)
        self.last_sent = None if last is None else float(last)

    def observe(self, drifted: bool, now: float) -> Transition | None:
        """Feed one evaluation's decision; the transition to notify about, if any."""
        if drifted:
            self.drifted_streak += 1
            self.clean_streak = 0
        else:
            self.clean_streak += 1
            self.drifted_streak = 0
        if not self.firing:
            if self.drifted_streak >= self.fire_after:
                self.firing = True
                self.started_at = self.last_sent = now
                return Transition.FIRED
            return None
        if drifted:
            due = self.last_sent is None or now - self.last_sent >= self.repeat_interval
            if self.repeat_interval > 0 and due:
                self.last_sent = now
                return Transition.REPEATED
            return None
        if self.clean_streak >= self.resolve_after:
            self.firing = False
            self.last_sent = now
            return Transition.RESOLVED
        return None


class Deduplicator:
    """Remembers the last status sent per key (bounded: the oldest keys are forgotten)."""

    def __init__(self, repeat_interval: float, max_keys: int = 10_000) -> None:
        self.repeat_interval = repeat_interval
        self.max_keys = max_keys
        self._last: dict[str, tuple[Status, float]] = {}

    def is_repeat(self, key: str, status: Status, now: float) -> bool:
        """True when ``admit`` would refuse: the same status was sent for ``key`` and (for a
        firing alert) the repeat interval has not passed. Records nothing."""
        last = self._last.get(key)
        if last is None:
            return False
        last_status, sent_at = last
        return last_status is status and not (
            status is Status.FIRING
            and self.repeat_interval > 0
            and now - sent_at >= self.repeat_interval
        )

    def admit(self, key: str, status: Status, now: float) -> bool:
        if self.is_repeat(key, status, now):
            return False
        self._last.pop(key, None)
        self._last[key] = (status, now)
        while len(self._last) > self.max_keys:
            del self._last[next(iter(self._last))]
        return True
