"""Shutdown of alert delivery within a budget (``DeliveryWorker.stop``, ``AlertDelivery.stop``,
``DriftService.stop``): queues drain while the budget lasts; a hanging send or a retry due after
the deadline does not hold the stop; what is left is counted as dropped with reason
``shutdown``. Time bounds are upper bounds with a second of slack (no tight timing)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from drift.alerting.notification import Notification
from drift.alerting.ports import AlertSink
from drift.alerting.testing import RecordingSink
from drift.config import Settings, settings_from_mapping
from drift.errors import ConfigError
from drift.retry import RetryPolicy
from exporters.alerts.delivery import DeliveryWorker
from exporters.prometheus.collector import ServiceMetrics
from tests.alerting_data import firing_and_resolved
from tests.conftest import started_service, wait_until

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, multiplier=2, jitter=0.5, max_age=60)
SLACK = 1.0  # seconds a stop may take beyond its budget on a loaded machine


class SlowSink(RecordingSink):
    """Every send takes ``seconds`` (a slow but working receiver)."""

    def __init__(self, channel: str = "memory", seconds: float = 0.05) -> None:
        super().__init__(channel)
        self.seconds = seconds

    def send(self, notification: Notification) -> None:
        time.sleep(self.seconds)
        super().send(notification)


class HangingSink(RecordingSink):
    """Every send hangs until ``release`` or its own timeout (like an HTTP client's), then fails."""

    def __init__(self, channel: str = "memory", timeout: float = 60.0) -> None:
        super().__init__(channel, fail_first=-1)
        self.timeout = timeout
        self.release = threading.Event()
        self.entered = threading.Event()

    def send(self, notification: Notification) -> None:
        self.entered.set()
        self.release.wait(self.timeout)
        super().send(notification)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def dropped_at_shutdown(registry: CollectorRegistry, channel: str) -> float | None:
    return value(registry, "drift_alert_queue_dropped_total", channel=channel, reason="shutdown")


def alerts(registry: CollectorRegistry, status: str, channel: str, model: str = "m1") -> float:
    labels = {"model": model, "channel": channel, "status": status}
    return value(registry, "drift_alerts_total", **labels) or 0.0


def worker(
    sink: AlertSink, registry: CollectorRegistry, policy: RetryPolicy = FAST
) -> DeliveryWorker:
    metrics = ServiceMetrics(registry, ["m1"], [sink.channel])
    return DeliveryWorker(sink, policy, metrics, 1000, lambda m: m or "_other")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def firing() -> Notification:
    return firing_and_resolved()[0]


def timed_stop(w: DeliveryWorker, budget: float) -> tuple[int, float]:
    started = time.monotonic()
    undelivered = w.stop(timeout=budget)
    return undelivered, time.monotonic() - started


def test_a_slow_sink_drains_its_whole_queue_within_the_budget(
    registry: CollectorRegistry, firing: Notification
) -> None:
    sink = SlowSink("slack", seconds=0.05)
    w = worker(sink, registry)
    for _ in range(20):
        w.submit(firing)
    w.start()
    budget = 10.0  # 20 x 50 ms = 1 s of sending
    undelivered, took = timed_stop(w, budget)
    assert undelivered == 0
    assert len(sink.delivered) == 20
    assert alerts(registry, "sent", "slack") == 20
    assert dropped_at_shutdown(registry, "slack") == 0
    assert w.depth == 0
    assert sink.closed
    assert took < budget + SLACK


def test_a_hanging_sink_does_not_hold_the_stop_and_the_rest_is_counted(
    registry: CollectorRegistry, firing: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    sink = HangingSink("slack")
    w = worker(sink, registry)
    w.start()
    for _ in range(10):
        w.submit(firing)
    assert sink.entered.wait(10), "the worker never called send"
    budget = 0.5
    try:
        with caplog.at_level(logging.WARNING, logger="exporters.alerts.delivery"):
            undelivered, took = timed_stop(w, budget)
        assert took < budget + SLACK
        assert undelivered == 10  # one in flight, nine waiting
        assert w.depth == 0
        assert w.bytes == 0
        assert dropped_at_shutdown(registry, "slack") == 10
        assert alerts(registry, "dropped", "slack") == 10
        assert value(registry, "drift_alert_queue_depth", channel="slack") == 0
        (record,) = [r for r in caplog.records if "shutdown deadline" in r.getMessage()]
        assert "slack: 10 notification(s) not delivered" in record.getMessage()
    finally:
        sink.release.set()
    # the send in flight returns after the stop: counted once (above), the worker ends and
    # closes its sink
    wait_until(lambda: sink.closed, what="the worker closing the sink")
    assert alerts(registry, "dropped", "slack") == 10
    assert alerts(registry, "retried", "slack") == 0


def test_a_retry_due_after_the_deadline_is_not_waited_for(
    registry: CollectorRegistry, firing: Notification
) -> None:
    sink = RecordingSink("kafka", fail_first=-1)
    backoff = RetryPolicy(initial_backoff=120, max_backoff=120, jitter=0, max_age=3600)
    w = worker(sink, registry, backoff)
    w.start()
    for _ in range(5):
        w.submit(firing)
    wait_until(lambda: alerts(registry, "retried", "kafka") == 1, what="the first retry planned")
    budget = 30.0  # the worker sleeps 120 s before its next attempt
    undelivered, took = timed_stop(w, budget)
    assert took < budget / 3  # gave up at once: waiting for the deadline would not help
    assert undelivered == 5
    assert sink.attempts == 1
    assert dropped_at_shutdown(registry, "kafka") == 5
    assert alerts(registry, "dropped", "kafka") == 5
    wait_until(lambda: sink.closed, what="the worker closing the sink")


def test_a_failing_sink_keeps_retrying_within_the_budget_then_stops_at_the_deadline(
    registry: CollectorRegistry, firing: Notification
) -> None:
    sink = RecordingSink("kafka", fail_first=-1)
    w = worker(sink, registry)  # retries every 10..50 ms
    w.start()
    for _ in range(3):
        w.submit(firing)
    budget = 0.5
    undelivered, took = timed_stop(w, budget)
    assert took < budget + SLACK
    assert undelivered == 3
    assert sink.attempts >= 2
    assert dropped_at_shutdown(registry, "kafka") == 3
    wait_until(lambda: sink.closed, what="the worker ending")  # no retry loop left running


def test_a_sink_that_recovers_during_the_drain_delivers_everything(
    registry: CollectorRegistry, firing: Notification
) -> None:
    sink = RecordingSink("kafka", fail_first=3)
    w = worker(sink, registry)
    for _ in range(5):
        w.submit(firing)
    w.start()
    assert w.stop(timeout=10.0) == 0
    assert len(sink.delivered) == 5
    assert alerts(registry, "retried", "kafka") == 3
    assert dropped_at_shutdown(registry, "kafka") == 0


def test_notifications_submitted_after_the_stop_began_are_refused_and_counted(
    registry: CollectorRegistry, firing: Notification
) -> None:
    sink = RecordingSink("slack")
    w = worker(sink, registry)
    w.start()
    deadline = time.monotonic() + 5.0
    w.shutdown(deadline)
    w.submit(firing)
    assert w.depth == 0
    assert w.join(deadline) == 1
    w.submit(firing)  # after the stop: counted too
    assert sink.attempts == 0
    assert dropped_at_shutdown(registry, "slack") == 2


def test_a_worker_never_started_counts_its_queue_and_closes_the_sink(
    registry: CollectorRegistry, firing: Notification
) -> None:
    sink = RecordingSink("slack")
    w = worker(sink, registry)
    w.submit(firing)
    assert w.stop(timeout=1.0) == 1
    assert sink.closed
    assert dropped_at_shutdown(registry, "slack") == 1


# the service -------------------------------------------------------------------------------


def service_settings(reference_csv: Path, server: dict[str, object] | None = None) -> Settings:
    columns = {"numerical": ["age", "income"], "categorical": ["city"], "prediction": "score"}
    return settings_from_mapping(
        {
            "server": server or {},
            "models": {
                "credit-scoring": {
                    "reference": {"path": str(reference_csv)},
                    "columns": columns,
                    "window": {"size": 100, "step": 100},
                }
            },
        }
    )


def test_service_stop_drains_a_slow_sink_within_its_budget(reference_csv: Path) -> None:
    slow, fast = SlowSink("slack", seconds=0.05), RecordingSink("kafka")
    svc = started_service(service_settings(reference_csv), {"slack": slow, "kafka": fast})
    firing, _ = firing_and_resolved("credit-scoring")
    for _ in range(20):
        svc.alerts.dispatch(firing)
    budget = 10.0
    started_at = time.monotonic()
    svc.stop(budget)
    assert time.monotonic() - started_at < budget + SLACK
    assert len(slow.delivered) == 20
    assert len(fast.delivered) == 20
    for channel in ("slack", "kafka"):
        assert dropped_at_shutdown(svc.registry, channel) == 0
        assert alerts(svc.registry, "sent", channel, "credit-scoring") == 20
    assert not svc.evaluator.running


def test_service_stop_with_a_hanging_sink_returns_at_the_budget(reference_csv: Path) -> None:
    hanging, fast = HangingSink("slack"), RecordingSink("kafka")
    svc = started_service(service_settings(reference_csv), {"slack": hanging, "kafka": fast})
    firing, _ = firing_and_resolved("credit-scoring")
    try:
        for _ in range(30):
            svc.alerts.dispatch(firing)
        assert hanging.entered.wait(10), "the worker never called send"
        budget = 1.0
        started_at = time.monotonic()
        svc.stop(budget)
        assert time.monotonic() - started_at < budget + SLACK
        assert len(fast.delivered) == 30  # the other channel drained in parallel
        assert dropped_at_shutdown(svc.registry, "kafka") == 0
        assert dropped_at_shutdown(svc.registry, "slack") == 30
        assert alerts(svc.registry, "dropped", "slack", "credit-scoring") == 30
    finally:
        hanging.release.set()


def test_service_stop_without_a_budget_uses_the_configured_one(reference_csv: Path) -> None:
    settings = service_settings(reference_csv, {"shutdown_timeout_seconds": 0.5})
    hanging = HangingSink("slack")
    svc = started_service(settings, {"slack": hanging})
    try:
        svc.alerts.dispatch(firing_and_resolved("credit-scoring")[0])
        assert hanging.entered.wait(10), "the worker never called send"
        started_at = time.monotonic()
        svc.stop()
        assert time.monotonic() - started_at < 0.5 + SLACK
        assert dropped_at_shutdown(svc.registry, "slack") == 1
    finally:
        hanging.release.set()


def test_shutdown_timeout_defaults_to_30_seconds_and_must_be_positive(
    reference_csv: Path,
) -> None:
    assert service_settings(reference_csv).server.shutdown_timeout_seconds == 30
    with pytest.raises(ConfigError, match=r"server\.shutdown_timeout_seconds"):
        service_settings(reference_csv, {"shutdown_timeout_seconds": 0})
