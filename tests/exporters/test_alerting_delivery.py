"""Delivery: per-sink bounded queues, retries by the policy, max age, counted drops, metrics;
the service wiring (evaluations -> notifications -> sinks, per-model channel switches) and
``POST /v1/alertmanager``. Sinks are the fakes of ``drift.alerting.testing``."""

from __future__ import annotations

import dataclasses
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from drift.alerting.notification import TRUNCATED
from drift.alerting.ports import AlertSink
from drift.alerting.testing import BlockingSink, RecordingSink
from drift.config import Settings, settings_from_mapping
from drift.retry import RetryPolicy
from drift.service.app import create_app
from drift.service.service import DriftService
from exporters.alerts.delivery import DeliveryWorker
from exporters.prometheus.collector import ServiceMetrics
from tests.alerting_data import firing_and_resolved
from tests.conftest import sample, wait_until

AM_DROPPED = "drift_alertmanager_alerts_dropped_total"
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, multiplier=2, jitter=0.5, max_age=5)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def worker(
    sink: AlertSink, registry: CollectorRegistry, policy: RetryPolicy = FAST, size: int = 10
) -> DeliveryWorker:
    metrics = ServiceMetrics(registry, ["m1"], [sink.channel])
    return DeliveryWorker(sink, policy, metrics, size, lambda m: m or "_other")


def test_zeros_for_every_model_and_channel_from_start_up(registry: CollectorRegistry) -> None:
    ServiceMetrics(registry, ["a", "b"], ["slack", "kafka"])
    for model in ("a", "b"):
        for channel in ("slack", "kafka"):
            for status in ("sent", "retried", "dropped"):
                labels = {"model": model, "channel": channel, "status": status}
                assert value(registry, "drift_alerts_total", **labels) == 0.0
    assert value(registry, "drift_alert_delivery_seconds_count", channel="kafka") == 0.0
    for channel in ("slack", "kafka"):
        for reason in ("queue_size", "queue_bytes", "shutdown"):
            labels = {"channel": channel, "reason": reason}
            assert value(registry, "drift_alert_queue_dropped_total", **labels) == 0.0
    for reason in ("duplicate", "rate_limited"):
        assert value(registry, AM_DROPPED, reason=reason) == 0.0


def test_failed_attempts_are_retried_then_delivered_once(registry: CollectorRegistry) -> None:
    sink = RecordingSink("kafka", fail_first=3)
    w = worker(sink, registry)
    w.start()
    firing, _ = firing_and_resolved()
    w.submit(firing)
    wait_until(lambda: len(sink.delivered) == 1, what="delivery")
    w.stop()
    assert sink.attempts == 4
    assert sink.delivered == [firing]
    labels = {"model": "m1", "channel": "kafka"}
    assert value(registry, "drift_alerts_total", status="sent", **labels) == 1
    assert value(registry, "drift_alerts_total", status="retried", **labels) == 3
    assert value(registry, "drift_alerts_total", status="dropped", **labels) == 0
    assert value(registry, "drift_alert_delivery_seconds_count", channel="kafka") == 1
    assert sink.closed


def test_too_old_notifications_are_dropped_and_counted(registry: CollectorRegistry) -> None:
    sink = RecordingSink("kafka", fail_first=-1)
    policy = RetryPolicy(initial_backoff=0.05, max_backoff=0.05, jitter=0, max_age=0.3)
    w = worker(sink, registry, policy)
    w.start()
    w.submit(firing_and_resolved()[0])
    labels = {"model": "m1", "channel": "kafka"}
    wait_until(lambda: value(registry, "drift_alerts_total", status="dropped", **labels) == 1)
    w.stop()
    assert sink.delivered == []
    assert 4 <= sink.attempts <= 8
    assert value(registry, "drift_alerts_total", status="retried", **labels) == sink.attempts - 1


def test_permanent_errors_drop_at_once(registry: CollectorRegistry) -> None:
    class Refusing(RecordingSink):
        def send(self, notification: Any) -> None:
            from drift.alerting.ports import SinkDeliveryError

            self.attempts += 1
            raise SinkDeliveryError("slack", "invalid_auth", permanent=True)

    sink = Refusing("slack")
    w = worker(sink, registry)
    w.start()
    w.submit(firing_and_resolved()[0])
    labels = {"model": "m1", "channel": "slack"}
    wait_until(lambda: value(registry, "drift_alerts_total", status="dropped", **labels) == 1)
    w.stop()
    assert sink.attempts == 1


def test_queue_stays_bounded_and_drops_the_oldest(registry: CollectorRegistry) -> None:
    sink = BlockingSink("kafka")
    w = worker(sink, registry, size=3)
    w.start()
    firing, resolved = firing_and_resolved()
    w.submit(firing)  # taken by the worker, which hangs in send
    wait_until(lambda: sink.attempts == 0 and w.depth == 0, what="in flight")
    for _ in range(20):
        w.submit(firing)
        assert w.depth <= 3
    w.submit(resolved)
    assert value(registry, "drift_alert_queue_depth", channel="kafka") == 3
    labels = {"model": "m1", "channel": "kafka"}
    assert value(registry, "drift_alerts_total", status="dropped", **labels) == 18
    assert w.stop(timeout=0.1) == 4  # the 3 waiting and the one in flight
    sink.release.set()
    assert w.depth == 0
    assert value(registry, "drift_alerts_total", status="dropped", **labels) == 22
    shutdown = {"channel": "kafka", "reason": "shutdown"}
    assert value(registry, "drift_alert_queue_dropped_total", **shutdown) == 4


# the service -------------------------------------------------------------------------------


def alert_settings(
    reference_csv: Path, alerts: dict[str, Any] | None = None, **model_alerts: Any
) -> Settings:
    columns = {"numerical": ["age", "income"], "categorical": ["city"], "prediction": "score"}
    return settings_from_mapping(
        {
            "alerts": {"fire_after": 1, "resolve_after": 1, "kinds": ["dataset"], **(alerts or {})},
            "models": {
                "credit-scoring": {
                    "reference": {"path": str(reference_csv)},
                    "columns": columns,
                    "window": {"size": 100, "step": 100},
                    "alerts": model_alerts,
                }
            },
        }
    )


@pytest.fixture
def sinks() -> dict[str, RecordingSink]:
    return {"slack": RecordingSink("slack"), "kafka": RecordingSink("kafka")}


def started(settings: Settings, sinks: dict[str, RecordingSink]) -> DriftService:
    svc = DriftService(settings, alert_sinks=sinks)
    svc.start(load_in_background=False)
    return svc


def drifted_batch(n: int = 100) -> list[dict[str, object]]:
    return [sample(age=90.0, income=1e7, city="rome", score=0.99) for _ in range(n)]


def test_evaluations_notify_every_channel(
    reference_csv: Path, sinks: dict[str, RecordingSink]
) -> None:
    svc = started(alert_settings(reference_csv), sinks)
    try:
        svc.ingest("credit-scoring", {"samples": drifted_batch()})
        wait_until(lambda: all(s.delivered for s in sinks.values()), what="both sinks")
        for sink in sinks.values():
            (n,) = sink.delivered
            assert (n.model, n.kind, n.status.value) == ("credit-scoring", "dataset", "firing")
            assert n.window.start is not None
            assert n.window.samples == 100
            assert n.reference_version is not None
    finally:
        svc.stop()


def test_a_model_can_switch_a_channel_off(
    reference_csv: Path, sinks: dict[str, RecordingSink]
) -> None:
    svc = started(alert_settings(reference_csv, slack={"enabled": False}), sinks)
    try:
        svc.ingest("credit-scoring", {"samples": drifted_batch()})
        wait_until(lambda: bool(sinks["kafka"].delivered), what="kafka")
        time.sleep(0.1)
        assert sinks["slack"].delivered == []
        assert sinks["slack"].attempts == 0
    finally:
        svc.stop()


def test_native_alerting_off_for_a_model(
    reference_csv: Path, sinks: dict[str, RecordingSink]
) -> None:
    svc = started(alert_settings(reference_csv, enabled=False), sinks)
    try:
        svc.ingest("credit-scoring", {"samples": drifted_batch()})
        wait_until(lambda: svc.latest("credit-scoring") is not None, what="evaluation")
        time.sleep(0.1)
        assert all(s.attempts == 0 for s in sinks.values())
    finally:
        svc.stop()


def am_payload(status: str = "firing", **extra: Any) -> dict[str, Any]:
    alert = {
        "status": status,
        "labels": {
            "alertname": "DriftDatasetDetected",
            "model": "credit-scoring",
            "severity": "warning",
            "instance": "pod:8000",
            "job": "drift-sidecar",
        },
        "annotations": {
            "summary": "Dataset drift on model credit-scoring",
            "runbook_url": "https://git.example.com/runbook#driftdatasetdetected",
        },
        "startsAt": "2026-01-02T03:04:05Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-01-02T05:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
        "fingerprint": "5ef7f0d4e2a0c1b3",
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DriftDatasetDetected"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "drift-sidecar",
        "groupLabels": {"alertname": "DriftDatasetDetected"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
        **extra,
    }


@pytest.fixture
def am_client(
    reference_csv: Path, sinks: dict[str, RecordingSink]
) -> Iterator[tuple[TestClient, DriftService]]:
    alerts = {"runbook_base_url": "https://git.example.com/"}
    svc = started(alert_settings(reference_csv, alerts, kafka={"enabled": False}), sinks)
    with TestClient(create_app(svc, manage_lifecycle=False)) as client:
        yield client, svc
    svc.stop()


def test_alertmanager_webhook_forwards_new_and_changed_alerts_once(
    am_client: tuple[TestClient, DriftService], sinks: dict[str, RecordingSink]
) -> None:
    client, svc = am_client
    response = client.post("/v1/alertmanager", json=am_payload())
    assert response.status_code == 200
    assert response.json() == {"received": 1, "queued": 1}
    # Alertmanager re-sends a group at every group_interval: not forwarded again, counted
    assert client.post("/v1/alertmanager", json=am_payload()).json() == {
        "received": 1,
        "queued": 0,
    }
    assert value(svc.registry, AM_DROPPED, reason="duplicate") == 1
    assert client.post("/v1/alertmanager", json=am_payload("resolved")).json()["queued"] == 1
    assert client.post("/v1/alertmanager", json=am_payload("resolved")).json()["queued"] == 0
    assert value(svc.registry, AM_DROPPED, reason="duplicate") == 2
    assert value(svc.registry, AM_DROPPED, reason="rate_limited") == 0
    wait_until(lambda: len(sinks["slack"].delivered) == 2, what="slack")
    time.sleep(0.1)
    assert len(sinks["slack"].delivered) == 2  # duplicates were not re-sent
    firing, resolved = sinks["slack"].delivered
    assert (firing.kind, firing.status.value, resolved.status.value) == (
        "DriftDatasetDetected",
        "firing",
        "resolved",
    )
    assert firing.runbook_url == "https://git.example.com/runbook#driftdatasetdetected"
    assert sinks["kafka"].attempts == 0  # switched off for this model


def many_alerts(n: int, receiver: str = "drift-sidecar", first: int = 0) -> dict[str, Any]:
    one = am_payload()["alerts"][0]
    alerts = [{**one, "fingerprint": f"{i:016x}"} for i in range(first, first + n)]
    return am_payload(alerts=alerts, receiver=receiver)


def test_300_alerts_in_one_payload_are_rate_limited_per_receiver(
    am_client: tuple[TestClient, DriftService], sinks: dict[str, RecordingSink]
) -> None:
    client, svc = am_client
    response = client.post("/v1/alertmanager", json=many_alerts(300))
    assert response.json() == {"received": 300, "queued": 60}  # the default burst: 1 a second
    assert value(svc.registry, AM_DROPPED, reason="rate_limited") == 240
    # another receiver has a bucket of its own
    other = client.post("/v1/alertmanager", json=many_alerts(1, receiver="critical", first=1000))
    assert other.json()["queued"] == 1
    wait_until(lambda: len(sinks["slack"].delivered) == 61, what="slack")
    time.sleep(0.2)
    assert len(sinks["slack"].delivered) == 61
    assert value(svc.registry, AM_DROPPED, reason="duplicate") == 0


def test_forwarded_texts_are_cut_before_they_are_queued(
    am_client: tuple[TestClient, DriftService], sinks: dict[str, RecordingSink]
) -> None:
    client, svc = am_client
    body = am_payload()
    alert = body["alerts"][0]
    alert["annotations"]["description"] = "d" * 3_000_000
    alert["labels"].update({f"x{i:03}": "v" * 5000 for i in range(100)})
    assert client.post("/v1/alertmanager", json=body).json()["queued"] == 1
    wait_until(lambda: len(sinks["slack"].delivered) == 1, what="slack")
    (n,) = sinks["slack"].delivered
    assert n.description is not None
    assert n.description.endswith(TRUNCATED)
    assert len(n.description.encode()) <= 4096  # alerts.max_text_bytes
    assert len(n.labels) == 32  # alerts.max_labels
    # the sidecar's own notifications are cut too
    huge = dataclasses.replace(n, summary="s" * 100_000, alert_id="own")
    svc.alerts.dispatch(huge)
    wait_until(lambda: len(sinks["slack"].delivered) == 2, what="slack")
    assert len(sinks["slack"].delivered[1].summary.encode()) <= 4096


def test_queue_bytes_stay_under_the_cap_while_the_sink_hangs(registry: CollectorRegistry) -> None:
    """The finding: 180 queued alerts with 3 MB descriptions held 550 MB while Slack hung."""
    cap = 8 * 1024 * 1024
    sink = BlockingSink("slack")
    metrics = ServiceMetrics(registry, ["m1"], ["slack"])
    w = DeliveryWorker(sink, FAST, metrics, 1000, lambda m: m or "_other", queue_bytes=cap)
    w.start()
    firing, _ = firing_and_resolved()

    def big(i: int) -> Any:  # distinct strings: nothing is shared between notifications
        return dataclasses.replace(firing, description=f"{i:04}" + "d" * 3_000_000)

    w.submit(big(0))  # taken by the worker, which hangs in send
    wait_until(lambda: w.depth == 0, what="in flight")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1, 61):
            w.submit(big(i))
            assert w.bytes <= cap
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert w.depth == 2  # 3 MB each: a third would pass 8 MiB
    assert held <= cap + 1024 * 1024, f"{held / 2**20:.1f} MiB held"  # not 60 x 3 MB
    assert value(registry, "drift_alert_queue_bytes", channel="slack") == w.bytes
    dropped = value(
        registry, "drift_alert_queue_dropped_total", channel="slack", reason="queue_bytes"
    )
    assert dropped == 58
    assert (
        value(registry, "drift_alert_queue_dropped_total", channel="slack", reason="queue_size")
        == 0
    )
    labels = {"model": "m1", "channel": "slack", "status": "dropped"}
    assert value(registry, "drift_alerts_total", **labels) == 58
    w.stop(timeout=0.1)
    sink.release.set()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "3", "status": "firing", "alerts": []}, "version"),
        ({"version": "4", "status": "firing"}, "alerts"),
        ({"version": "4", "status": "firing", "alerts": [{"status": "x"}]}, "alerts.0.status"),
    ],
)
def test_alertmanager_webhook_refuses_bad_payloads(
    am_client: tuple[TestClient, DriftService], body: dict[str, Any], field: str
) -> None:
    client, _svc = am_client
    response = client.post("/v1/alertmanager", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    # not JSON: a client error (which one is the body-decoding rules' business, drift/service)
    json_type = {"content-type": "application/json"}
    not_json = client.post("/v1/alertmanager", content=b"{", headers=json_type)
    assert 400 <= not_json.status_code < 500
