"""Keeping what a stop could not deliver (``stop(keep=True)``, with ``state`` configured):
nothing is dropped, ``undelivered()`` hands it over as JSON-able data, and ``requeue`` after the
restart sends each once, in order, to its channel."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from prometheus_client import CollectorRegistry

from drift.alerting.notification import ColumnScore
from drift.alerting.testing import RecordingSink
from drift.config import Settings, settings_from_mapping
from exporters.alerts.delivery import (
    AlertDelivery,
    notification_from_state,
    notification_state,
)
from exporters.prometheus.collector import ServiceMetrics
from tests.alerting_data import firing_and_resolved
from tests.conftest import wait_until
from tests.exporters.test_alerting_delivery_shutdown import HangingSink


def settings() -> Settings:
    return settings_from_mapping(
        {"models": {"m1": {"reference": {"path": "r.csv"}, "columns": {"numerical": ["x"]}}}}
    )


def delivery(sinks: dict[str, RecordingSink]) -> tuple[AlertDelivery, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, ["m1"], list(sinks))
    return AlertDelivery(settings(), metrics, dict(sinks)), registry


def dropped(registry: CollectorRegistry, channel: str) -> float | None:
    labels = {"channel": channel, "reason": "shutdown"}
    return registry.get_sample_value("drift_alert_queue_dropped_total", labels)


def test_a_notification_round_trips_through_json() -> None:
    firing, resolved = firing_and_resolved()
    labelled = dataclasses.replace(
        firing,
        labels=(("alertname", "X"), ("team", "ml")),
        notes=("a note",),
        prediction=ColumnScore("p", "psi", 0.3, 0.1, True),
    )
    for n in (firing, resolved, labelled):
        assert notification_from_state(json.loads(json.dumps(notification_state(n)))) == n


def test_what_a_hanging_sink_holds_is_kept_in_order_not_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hanging = HangingSink("slack")
    alerts, registry = delivery({"slack": hanging})
    alerts.start()
    firing, resolved = firing_and_resolved()
    try:
        alerts.dispatch(firing)
        assert hanging.entered.wait(10)
        alerts.dispatch(resolved)
        with caplog.at_level(logging.WARNING):
            assert alerts.stop(0.2, keep=True) == 2
        alerts.dispatch(firing)  # after the stop began: kept too
    finally:
        hanging.release.set()
    assert dropped(registry, "slack") == 0
    saved = json.loads(json.dumps(alerts.undelivered()))
    assert [(s["channel"], s["notification"]["status"]) for s in saved] == [
        ("slack", "firing"),
        ("slack", "resolved"),
        ("slack", "firing"),
    ]
    assert "kept for the next start" in caplog.text

    recorder = RecordingSink("slack")
    again, _ = delivery({"slack": recorder, "kafka": RecordingSink("kafka")})
    assert again.requeue(saved) == 3
    again.start()
    wait_until(lambda: len(recorder.delivered) == 3, what="the requeued notifications")
    ids = [firing.event_id, resolved.event_id, firing.event_id]
    assert [n.event_id for n in recorder.delivered] == ids
    assert again.stop(5.0) == 0


def test_requeue_skips_channels_no_longer_configured_and_invalid_entries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    firing, _ = firing_and_resolved()
    state = notification_state(firing)
    alerts, _ = delivery({"kafka": RecordingSink("kafka")})
    saved = [
        {"channel": "slack", "queued_at": 1.0, "notification": state},
        {"channel": "kafka", "queued_at": 1.0, "notification": {**state, "status": "weird"}},
        {"channel": "kafka"},
        {"channel": "kafka", "queued_at": 1.0, "notification": state},
    ]
    with caplog.at_level(logging.WARNING):
        assert alerts.requeue(saved) == 1
    assert "slack: no longer configured" in caplog.text
    assert caplog.text.count("not valid, skipped") == 2
    assert alerts.workers["kafka"].depth == 1


def test_without_keep_a_stop_still_drops_and_counts() -> None:
    hanging = HangingSink("slack")
    alerts, registry = delivery({"slack": hanging})
    alerts.start()
    try:
        alerts.dispatch(firing_and_resolved()[0])
        assert hanging.entered.wait(10)
        assert alerts.stop(0.1) == 1
    finally:
        hanging.release.set()
    assert dropped(registry, "slack") == 1
    assert alerts.undelivered() == []
