"""The port the delivery workers send through, and the error a sink raises."""

from __future__ import annotations

from typing import Protocol

from drift.alerting.notification import Notification
from drift.errors import DriftError


class SinkDeliveryError(DriftError):
    """One delivery attempt failed. ``retry_after``: seconds the receiver asked us to wait
    (HTTP 429 ``Retry-After``); ``permanent``: retrying cannot help (e.g. a bad token)."""

    def __init__(
        self, sink: str, cause: str, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(f"{sink}: {cause}")
        self.sink = sink
        self.cause = cause
        self.retry_after = retry_after
        self.permanent = permanent


class AlertSink(Protocol):
    """Delivers one notification or raises SinkDeliveryError. Called from one worker thread."""

    @property
    def channel(self) -> str:
        """The ``channel`` label: ``slack``, ``kafka``, ..."""
        ...

    def send(self, notification: Notification) -> None: ...

    def close(self) -> None: ...
