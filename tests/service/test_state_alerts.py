"""Alerts across restarts of the service (``state`` configured): drift that fired before a
kill -9 does not fire again after it and resolves once; the performance alert likewise; a stop
with a hanging sink saves the queue, and the next start delivers every notification once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drift.alerting.notification import Status
from drift.alerting.testing import RecordingSink
from drift.config import Settings, settings_from_mapping
from drift.service.service import DriftService
from tests.alerting_data import firing_and_resolved
from tests.conftest import CREDIT_COLUMNS, reference_frame, sample, wait_until
from tests.exporters.test_alerting_delivery_shutdown import HangingSink
from tests.service.conftest import start

MODEL = "m"


def make_settings(tmp_path: Path, **alerts: Any) -> Settings:
    reference = tmp_path / "reference.csv"
    if not reference.exists():
        reference_frame().to_csv(reference, index=False)
    return settings_from_mapping(
        {
            "state": {"dir": str(tmp_path / "state"), "snapshot_seconds": 3600},
            "alerts": {"fire_after": 1, "resolve_after": 1, "kinds": ["dataset"], **alerts},
            "models": {
                MODEL: {
                    "reference": {"path": str(reference)},
                    "columns": CREDIT_COLUMNS,
                    "window": {"size": 100, "step": 100, "min_seconds_between_evaluations": 0},
                }
            },
        }
    )


def batch(drifted: bool) -> dict[str, Any]:
    if drifted:
        return {"samples": [sample(age=90.0, income=1e7, city="rome", score=0.99)] * 100}
    frame = reference_frame(rows=100, seed=5)
    return {
        "samples": [
            sample(age=r.age, income=r.income, city=r.city, score=r.score)
            for r in frame.itertuples()
        ]
    }


def evaluated(svc: DriftService, seen: int) -> None:
    wait_until(
        lambda: (r := svc.latest(MODEL)) is not None and r.samples_seen == seen,
        what=f"an evaluation of {seen} samples",
    )


def test_drift_firing_before_a_kill_neither_fires_again_nor_resolves_silently(
    tmp_path: Path, services: list[DriftService]
) -> None:
    settings = make_settings(tmp_path)
    before = RecordingSink("slack")
    old = start(services, settings, {"slack": before})
    old.ingest(MODEL, batch(drifted=True))
    wait_until(lambda: len(before.delivered) == 1, what="FIRING")
    assert old.state is not None
    assert old.state.snapshot(MODEL)  # then kill -9: no stop

    after = RecordingSink("slack")
    new = start(services, settings, {"slack": after})
    tracker = new.alerts.engine.tracker(MODEL, "dataset")
    assert tracker is not None
    assert tracker.firing
    new.ingest(MODEL, batch(drifted=True))  # still drifted: no second FIRING
    evaluated(new, 200)
    new.ingest(MODEL, batch(drifted=False))  # resolved: RESOLVED, once, same episode
    evaluated(new, 300)
    wait_until(lambda: len(after.delivered) == 1, what="RESOLVED")
    new.ingest(MODEL, batch(drifted=False))
    evaluated(new, 400)
    new.stop(5.0)
    (resolved,) = after.delivered
    assert resolved.status is Status.RESOLVED
    assert resolved.alert_id == before.delivered[0].alert_id
    assert resolved.started_at == before.delivered[0].started_at


def test_a_stop_with_a_hanging_sink_delivers_the_queue_once_after_the_restart(
    tmp_path: Path, services: list[DriftService]
) -> None:
    settings = make_settings(tmp_path)
    hanging, kafka = HangingSink("slack"), RecordingSink("kafka")
    old = start(services, settings, {"slack": hanging, "kafka": kafka})
    firing, resolved = firing_and_resolved(MODEL)
    try:
        old.alerts.dispatch(firing)
        assert hanging.entered.wait(10)
        old.alerts.dispatch(resolved)
        old.stop(1.0)
    finally:
        hanging.release.set()
    assert [n.event_id for n in kafka.delivered] == [firing.event_id, resolved.event_id]
    queue = tmp_path / "state" / "alerts" / "queue.json"
    saved = json.loads(queue.read_text())["notifications"]
    assert [s["channel"] for s in saved] == ["slack", "slack"]

    slack, kafka_again = RecordingSink("slack"), RecordingSink("kafka")
    new = start(services, settings, {"slack": slack, "kafka": kafka_again})
    assert not queue.exists()
    wait_until(lambda: len(slack.delivered) == 2, what="the saved notifications")
    assert [n.event_id for n in slack.delivered] == [firing.event_id, resolved.event_id]
    assert slack.delivered[0] == firing
    assert kafka_again.delivered == []  # kafka had delivered its copies before the stop
    new.stop(5.0)
    again = RecordingSink("slack")
    start(services, settings, {"slack": again, "kafka": RecordingSink("kafka")}).stop(5.0)
    assert again.delivered == []  # sent once, not at every start
