"""Fakes of the sink port for tests and local experiments (like ``structlog.testing``)."""

from __future__ import annotations

import threading

from drift.alerting.notification import Notification
from drift.alerting.ports import SinkDeliveryError


class RecordingSink:
    """Keeps every delivered notification; ``fail_first`` attempts fail before it recovers;
    ``fail_first=-1`` never recovers."""

    def __init__(
        self, channel: str = "memory", fail_first: int = 0, retry_after: float | None = None
    ) -> None:
        self._channel = channel
        self.fail_first = fail_first
        self.retry_after = retry_after
        self.attempts = 0
        self.delivered: list[Notification] = []
        self.closed = False
        self._lock = threading.Lock()

    @property
    def channel(self) -> str:
        return self._channel

    def send(self, notification: Notification) -> None:
        with self._lock:
            self.attempts += 1
            if self.fail_first < 0 or self.attempts <= self.fail_first:
                raise SinkDeliveryError(self._channel, "fake failure", self.retry_after)
            self.delivered.append(notification)

    def close(self) -> None:
        self.closed = True


class BlockingSink(RecordingSink):
    """Every attempt blocks until ``release`` is set (a receiver that hangs), then fails."""

    def __init__(self, channel: str = "memory") -> None:
        super().__init__(channel, fail_first=-1)
        self.release = threading.Event()

    def send(self, notification: Notification) -> None:
        self.release.wait()
        super().send(notification)

    def close(self) -> None:
        self.release.set()
        super().close()
