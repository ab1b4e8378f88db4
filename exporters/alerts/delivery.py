"""Delivery off the request path: one queue and one worker thread per sink, bounded in
notifications and in bytes, retries by a ``RetryPolicy`` (exponential backoff with jitter, a
server's Retry-After as the floor), and a maximum age after which a notification is dropped and
counted.

Shutdown drains within a deadline (``AlertDelivery.stop(timeout)``): the queues take no new
notification, each worker keeps delivering what is queued until its queue is empty or the
deadline passes; a retry whose backoff ends past the deadline is not waited for. What is not
delivered by then (queued, or in flight to a sink that has not answered) is counted as dropped
with reason ``shutdown`` and logged once per channel, unless the stop keeps it
(``stop(timeout, keep=True)``, with ``state`` configured): then ``undelivered()`` hands it to
the service, which saves it, and ``requeue`` queues it again after the restart (a send that was
in flight is sent again: at least once). A send in flight at the deadline is bounded by the
sink's own timeout and does not hold the stop: the worker is a daemon thread, and it closes its
sink itself when that send returns.

``AlertDelivery`` is what the service holds: it feeds evaluations to the alert engine, lets
Alertmanager payloads through its ``Forwarder`` (duplicates and receivers over their rate are
held back and counted), cuts every notification's texts to ``alerts.max_text_bytes``, routes
each one to the channels its model has switched on, and exports ``drift_alerts_total``,
``drift_alert_queue_depth``, ``drift_alert_queue_bytes``, ``drift_alert_queue_dropped_total``,
``drift_alert_delivery_seconds`` and ``drift_alertmanager_alerts_dropped_total``.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from drift.alerting import alertmanager
from drift.alerting.alertmanager import Forwarder, ReceiverBuckets, default_burst
from drift.alerting.engine import AlertEngine, WindowClock, reference_version
from drift.alerting.notification import (
    ColumnScore,
    Notification,
    Source,
    Status,
    TextLimits,
    Window,
    approx_bytes,
    limited,
)
from drift.alerting.policy import AlertPolicy, policies
from drift.alerting.ports import AlertSink, SinkDeliveryError
from drift.alerting.state import Deduplicator
from drift.config import AlertsConfig, DeliveryConfig, Settings
from drift.core.reference import ReferenceProfile
from drift.core.report import DriftReport
from drift.retry import RetryPolicy
from exporters.prometheus.collector import ServiceMetrics

log = logging.getLogger(__name__)

OTHER_MODEL = "_other"  # the model label of forwarded alerts about models not configured here


def retry_policy(config: DeliveryConfig) -> RetryPolicy:
    """Delivery stops by age only (no attempt limit). A receiver's Retry-After is a floor,
    capped at ``max_age``: one the age limit cannot accommodate drops the notification."""
    return RetryPolicy(
        initial_backoff=config.initial_backoff_seconds,
        max_backoff=max(config.max_backoff_seconds, config.initial_backoff_seconds),
        multiplier=config.multiplier,
        jitter=config.jitter,
        max_age=config.max_age_seconds,
        max_attempts=None,
        max_retry_after=config.max_age_seconds,
    )


def notification_state(n: Notification) -> dict[str, Any]:
    """``n`` as JSON-able data (``notification_from_state`` reverses it)."""
    return dataclasses.asdict(n)


def notification_from_state(state: Mapping[str, Any]) -> Notification:
    """The notification ``notification_state`` saved; KeyError, TypeError or ValueError when
    ``state`` is not one."""

    def column(c: Any) -> ColumnScore:
        return ColumnScore(**c)

    fields = dict(state)
    prediction, window = fields.pop("prediction"), fields.pop("window")
    return Notification(
        **{
            **fields,
            "status": Status(fields["status"]),
            "source": Source(fields["source"]),
            "columns": tuple(column(c) for c in fields["columns"]),
            "labels": tuple((str(k), str(v)) for k, v in fields["labels"]),
            "notes": tuple(str(note) for note in fields["notes"]),
        },
        prediction=None if prediction is None else column(prediction),
        window=Window(**window),
    )


def build_sinks(config: AlertsConfig) -> dict[str, AlertSink]:
    """The switched-on sinks of the config. Cheap: clients are created on the first send."""
    sinks: dict[str, AlertSink] = {}
    if config.slack is not None and config.slack.enabled:
        from exporters.alerts.slack import SlackSink

        sinks["slack"] = SlackSink(config.slack)
    if config.kafka is not None and config.kafka.enabled:
        from exporters.alerts.kafka import KafkaSink

        sinks["kafka"] = KafkaSink(config.kafka)
    return sinks


DEFAULT_QUEUE_BYTES = 16 * 1024 * 1024


class DeliveryWorker:
    """A FIFO bounded in notifications (``queue_size``) and in approximate bytes
    (``queue_bytes``, by ``approx_bytes``), and a thread delivering it in order. When a bound is
    passed the oldest waiting notifications are dropped (the newest state is the one worth
    delivering); a notification larger than ``queue_bytes`` on its own is dropped too.

    Stopping is ``shutdown(deadline)`` (no new work, drain until ``deadline``) then
    ``join(deadline)`` (wait, count what is left); ``stop(timeout)`` does both. Deadlines are
    ``time.monotonic()`` values."""

    def __init__(
        self,
        sink: AlertSink,
        policy: RetryPolicy,
        metrics: ServiceMetrics,
        queue_size: int,
        model_label: Callable[[str | None], str],
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        *,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
    ) -> None:
        self.sink = sink
        self.channel = sink.channel
        self.policy = policy
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self._metrics = metrics
        self._label = model_label
        self._clock = clock
        self._rng = rng or random.Random()
        self._items: deque[tuple[Notification, float, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()  # guards everything below and the queue
        self._deadline: float | None = None  # set by shutdown(): drain until then
        self._abandoned = False  # set by join(): the worker settles nothing more
        # taken from the queue, not yet settled: (notification, queued_at)
        self._in_flight: tuple[Notification, float] | None = None
        self._refused = 0  # submitted after shutdown(), not yet logged
        self._keep = False  # set by shutdown(keep=True): keep what is left instead of dropping
        self.kept: list[tuple[Notification, float]] = []  # (notification, queued_at) kept
        self._thread = threading.Thread(
            target=self._loop, name=f"drift-alerts-{self.channel}", daemon=True
        )
        metrics.alert_queue_depth.labels(self.channel).set_function(lambda: self.depth)
        metrics.alert_queue_bytes.labels(self.channel).set_function(lambda: self.bytes)

    @property
    def depth(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """Approximate bytes of the waiting notifications (the one being sent not included)."""
        return self._bytes

    def _count(self, notification: Notification, status: str) -> None:
        self._metrics.alerts.labels(self._label(notification.model), self.channel, status).inc()

    def _drop(self, notification: Notification, reason: str) -> None:
        self._count(notification, "dropped")
        self._metrics.alert_queue_dropped.labels(self.channel, reason).inc()

    def submit(self, notification: Notification, queued_at: float | None = None) -> None:
        """Queue a notification (``queued_at``: when it was first queued, on ``clock``, for
        one queued again after a restart); never blocks. After ``shutdown`` it is dropped and
        counted, or kept (``shutdown(keep=True)``)."""
        size = approx_bytes(notification)
        with self._cond:
            at = self._clock() if queued_at is None else queued_at
            if self._deadline is not None:
                if self._keep:
                    self.kept.append((notification, at))
                    return
                self._drop(notification, "shutdown")
                self._refused += 1
                return
            self._items.append((notification, at, size))
            self._bytes += size
            while self._items and (
                len(self._items) > self.queue_size or self._bytes > self.queue_bytes
            ):
                reason = "queue_size" if len(self._items) > self.queue_size else "queue_bytes"
                dropped, _, dropped_size = self._items.popleft()
                self._bytes -= dropped_size
                self._drop(dropped, reason)
                log.warning(
                    "%s: queue full (%d notifications, %d bytes), dropped %s %r of model %r",
                    self.channel,
                    self.queue_size,
                    self.queue_bytes,
                    dropped.event_type,
                    dropped.kind,
                    dropped.model,
                )
            if self._items:
                self._cond.notify()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0, keep: bool = False) -> int:
        """``shutdown`` and ``join`` with a deadline ``timeout`` seconds from now; returns the
        number of notifications not delivered."""
        deadline = time.monotonic() + timeout
        self.shutdown(deadline, keep)
        return self.join(deadline)

    def shutdown(self, deadline: float, keep: bool = False) -> None:
        """Take no new notifications; keep delivering the queued ones until the queue is empty
        or ``deadline`` (``time.monotonic()``) passes. Does not wait. With ``keep``, what is
        not delivered goes to ``kept`` instead of being dropped."""
        with self._cond:
            if self._deadline is None or deadline < self._deadline:
                self._deadline = deadline
            self._keep = self._keep or keep
            self._cond.notify_all()

    def join(self, deadline: float) -> int:
        """Wait for the drain until ``deadline`` at most, then count every notification not
        delivered (queued, in flight, refused after ``shutdown``) as dropped with reason
        ``shutdown`` and log their number once (kept instead, after ``shutdown(keep=True)``).
        Returns that number."""
        self.shutdown(deadline)
        started = self._thread.ident is not None
        if started:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._abandoned = True
            self._cond.notify_all()
            left = [(notification, at) for notification, at, _ in self._items]
            self._items.clear()
            self._bytes = 0
            in_flight = self._in_flight is not None and self._thread.is_alive()
            if self._in_flight is not None:
                left.insert(0, self._in_flight)  # the oldest: taken first from the queue
                self._in_flight = None
            if self._keep:
                self.kept[:0] = left  # before those refused after the shutdown began
                undelivered = len(self.kept)
            else:
                for notification, _ in left:
                    self._drop(notification, "shutdown")
                undelivered = len(left) + self._refused
            self._refused = 0
        if not started:
            self.sink.close()  # else the worker closes it on its way out
        if undelivered and self._keep:
            log.warning(
                "%s: %d notification(s) not delivered by the shutdown deadline, kept for the "
                "next start",
                self.channel,
                undelivered,
            )
        elif undelivered:
            log.warning(
                "%s: %d notification(s) not delivered by the shutdown deadline, dropped%s",
                self.channel,
                undelivered,
                " (a send still in flight)" if in_flight else "",
            )
        return undelivered

    def _loop(self) -> None:
        try:
            while (taken := self._next()) is not None:
                if not self._deliver(*taken):
                    return
        finally:
            self.sink.close()

    def _next(self) -> tuple[Notification, float] | None:
        """The oldest waiting notification, now in flight; None: stop (shut down and the queue
        empty, or past the deadline)."""
        with self._cond:
            while not self._items and self._deadline is None:
                self._cond.wait()
            deadline = self._deadline
            if (
                self._abandoned
                or not self._items
                or (deadline is not None and time.monotonic() >= deadline)
            ):
                return None
            notification, queued_at, size = self._items.popleft()
            self._bytes -= size
            self._in_flight = (notification, queued_at)
            return notification, queued_at

    def _settle(self, notification: Notification, status: str) -> bool:
        """Count the final outcome of the notification in flight; False when ``join`` has
        given up on it already (counted there as a shutdown drop)."""
        with self._cond:
            if self._abandoned:
                return False
            self._in_flight = None
            self._count(notification, status)
            return True

    def _retry_fits(self, retry_at: float) -> bool:
        """Whether a retry at ``retry_at`` may still be made (call with the lock held): not
        when ``join`` gave up, nor at or after the shutdown deadline."""
        deadline = self._deadline
        return not self._abandoned and (deadline is None or retry_at < deadline)

    def _plan_retry(self, notification: Notification, retry_at: float) -> bool:
        """Count the failed attempt as retried, unless the retry cannot be made (False: the
        notification stays in flight for ``join`` to count)."""
        with self._cond:
            if not self._retry_fits(retry_at):
                return False
            self._count(notification, "retried")
            return True

    def _wait_until(self, retry_at: float) -> bool:
        """Sleep until ``retry_at``; False as soon as a shutdown makes the retry impossible."""
        with self._cond:
            while self._retry_fits(retry_at):
                remaining = retry_at - time.monotonic()
                if remaining <= 0:
                    return True
                self._cond.wait(remaining)  # woken early by submit and shutdown
            return False

    def _deliver(self, notification: Notification, queued_at: float) -> bool:
        """Send with retries; False when the worker is to stop (shutdown deadline)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                self.sink.send(notification)
            except SinkDeliveryError as exc:
                error = exc
            except Exception as exc:  # a sink bug must not kill the worker
                error = SinkDeliveryError(self.channel, f"{type(exc).__name__}: {exc}")
            else:
                if not self._settle(notification, "sent"):
                    return False
                elapsed = self._clock() - queued_at
                self._metrics.alert_delivery_seconds.labels(self.channel).observe(elapsed)
                return True
            delay = self.policy.delay(attempt, self._rng, error.retry_after)
            if error.permanent or self.policy.exhausted(attempt, self._clock() - queued_at, delay):
                if not self._settle(notification, "dropped"):
                    return False
                log.error(
                    "%s: dropped %s %r of model %r after %d attempt(s): %s",
                    self.channel,
                    notification.event_type,
                    notification.kind,
                    notification.model,
                    attempt,
                    error.cause,
                )
                return True
            retry_at = time.monotonic() + delay
            if not self._plan_retry(notification, retry_at):
                if not self._abandoned:  # else join counted and logged it already
                    log.warning(
                        "%s: attempt %d failed (%s); no retry before the shutdown deadline",
                        self.channel,
                        attempt,
                        error,
                    )
                return False
            log.warning(
                "%s: attempt %d failed (%s); retry in %.2fs", self.channel, attempt, error, delay
            )
            if not self._wait_until(retry_at):
                return False


class AlertDelivery:
    """Native alert evaluation, Alertmanager forwarding and one DeliveryWorker per sink."""

    def __init__(
        self,
        settings: Settings,
        metrics: ServiceMetrics,
        sinks: Mapping[str, AlertSink],
        clock: Callable[[], float] = time.time,
    ) -> None:
        config = settings.alerts
        self.policies: dict[str, AlertPolicy] = policies(settings)
        self.engine = AlertEngine(self.policies)
        self.window_clock = WindowClock()
        self.limits = TextLimits(config.max_text_bytes, config.max_labels)
        self.dedup = Deduplicator(config.repeat_interval_seconds)
        am = config.alertmanager
        self.forwarder = Forwarder(
            self.policies,
            self.dedup,
            ReceiverBuckets(
                am.max_per_minute,
                am.burst if am.burst is not None else default_burst(am.max_per_minute),
                am.max_receivers,
            ),
            self.limits,
            config.runbook_base_url,
        )
        self._metrics = metrics
        self._clock = clock
        self._versions: dict[int, tuple[ReferenceProfile, str]] = {}
        policy = retry_policy(config.delivery)
        self.workers = {
            channel: DeliveryWorker(
                sink,
                policy,
                metrics,
                config.delivery.queue_size,
                self.model_label,
                queue_bytes=config.delivery.queue_bytes,
            )
            for channel, sink in sinks.items()
        }

    def model_label(self, model: str | None) -> str:
        return model if model is not None and model in self.policies else OTHER_MODEL

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    def stop(self, timeout: float = 5.0, keep: bool = False) -> int:
        """Drain every queue in parallel for ``timeout`` seconds at most (see the module
        docstring); returns the number of notifications not delivered, all channels. With
        ``keep`` they are not dropped: ``undelivered()`` has them."""
        deadline = time.monotonic() + timeout
        for worker in self.workers.values():
            worker.shutdown(deadline, keep)
        return sum(worker.join(deadline) for worker in self.workers.values())

    def undelivered(self) -> list[dict[str, Any]]:
        """What ``stop(keep=True)`` kept, oldest first per channel, as JSON-able data (channel,
        notification, Unix time it was first queued), for ``requeue`` after a restart."""
        to_wall = time.time() - time.monotonic()
        return [
            {
                "channel": channel,
                "queued_at": queued_at + to_wall,
                "notification": notification_state(notification),
            }
            for channel, worker in self.workers.items()
            for notification, queued_at in worker.kept
        ]

    def requeue(self, saved: list[Any]) -> int:
        """Queue again what ``undelivered`` gave before a restart, each to its channel (kept
        age: ``delivery.max_age_seconds`` counts from when it was first queued); a channel no
        longer configured, or an entry that is not valid, is logged and skipped. Returns how
        many were queued."""
        to_monotonic = time.monotonic() - time.time()
        queued = 0
        for entry in saved:
            try:
                worker = self.workers.get(entry["channel"])
                notification = notification_from_state(entry["notification"])
                queued_at = float(entry["queued_at"]) + to_monotonic
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("a saved notification is not valid, skipped: %r", exc)
                continue
            if worker is None:
                log.warning(
                    "%s: no longer configured, saved %s %r of model %r not sent",
                    entry["channel"],
                    notification.event_type,
                    notification.kind,
                    notification.model,
                )
                continue
            worker.submit(notification, queued_at)
            queued += 1
        return queued

    def model_state(self, model: str) -> dict[str, Any]:
        """The model's alert trackers and batch arrival times as JSON-able data, for a
        snapshot (``drift.service.state``)."""
        return {
            "trackers": self.engine.model_state(model),
            "clock": self.window_clock.model_state(model),
        }

    def restore_model(
        self, model: str, trackers: Mapping[str, Any], clock: Mapping[str, Any] | None
    ) -> None:
        """Take back saved trackers (only the kinds given) and, unless None, arrival times.
        Raises ValueError (or KeyError, TypeError) when they are not valid."""
        self.engine.restore_model(model, trackers)
        if clock is not None:
            self.window_clock.restore(model, clock)

    def reset_model(self, model: str) -> None:
        """Trackers as at start-up (a fleet aggregator losing or taking over the model)."""
        self.engine.reset_model(model)

    def record_ingest(self, model: str, count: int) -> None:
        self.window_clock.record(model, count, self._clock())

    def _reference_version(self, profile: ReferenceProfile | None) -> str | None:
        if profile is None:
            return None
        cached = self._versions.get(id(profile))
        if cached is None or cached[0] is not profile:
            cached = (profile, reference_version(profile))
            self._versions = {id(profile): cached}  # one profile per model is current
        return cached[1]

    def observe(self, report: DriftReport, profile: ReferenceProfile | None) -> None:
        """Called by the evaluator thread after each evaluation."""
        start = self.window_clock.arrival(
            report.model, report.samples_seen - report.window_samples + 1
        )
        version = self._reference_version(profile) if self.policies[report.model].native else None
        for notification in self.engine.observe(report, self._clock(), start, version):
            self.dispatch(notification)

    def observe_performance(self, model: str, degraded: bool, detail: str) -> None:
        """Called by the service's ticker after a performance evaluation of a model with a
        ``performance.alert`` condition."""
        for notification in self.engine.observe_performance(model, degraded, detail, self._clock()):
            self.dispatch(notification)

    def observe_condition(self, model: str, kind: str, bad: bool, detail: str) -> None:
        """Called by the evaluator thread after a model's estimation (``estimated_performance``,
        ``multivariate``): feeds the condition to the kind's tracker, queues what it fires."""
        for notification in self.engine.observe_condition(model, kind, bad, detail, self._clock()):
            self.dispatch(notification)

    def receive_alertmanager(self, payload: alertmanager.AlertmanagerPayload) -> int:
        """Queue the payload's alerts that the forwarder lets through (new or changed status,
        receiver within its rate); count the others; how many were queued."""
        admission = self.forwarder.admit(payload, self._clock())
        for reason, count in (
            ("duplicate", admission.duplicate),
            ("rate_limited", admission.rate_limited),
        ):
            if count:
                self._metrics.alertmanager_dropped.labels(reason).inc(count)
        if admission.rate_limited:
            log.warning(
                "alertmanager: receiver %r over its rate, %d alert(s) not forwarded",
                payload.receiver[:128],
                admission.rate_limited,
            )
        return sum(self.dispatch(n) for n in admission.notifications)

    def dispatch(self, notification: Notification) -> int:
        """Queue ``notification`` (texts cut to ``alerts.max_text_bytes``) for each channel its
        model has on; 1 if it went to any."""
        notification = limited(notification, self.limits)
        policy = self.policies.get(notification.model or "")
        targets = [w for c, w in self.workers.items() if policy is None or policy.wants(c)]
        for worker in targets:
            worker.submit(notification)
        return 1 if targets else 0
