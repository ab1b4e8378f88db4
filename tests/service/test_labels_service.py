"""Delayed labels through the service: predictions recorded at ingestion, labels joined by id,
performance computed off the request path and compared with the reference's, as
scikit-learn computes it on the same pairs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sklearn import metrics as skm

from drift.alerting import event, slack_blocks
from drift.alerting.testing import RecordingSink
from drift.config import settings_from_mapping
from drift.service.app import create_app
from drift.service.service import DriftService
from tests.alerting.test_alerting_event import assert_valid
from tests.conftest import running_service, started_service, wait_until

MODEL = "churn"


def classification_reference(rows: int = 600, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, rows)
    proba = np.clip(truth * 0.6 + rng.random(rows) * 0.4, 0, 1)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "city": rng.choice(["berlin", "paris"], rows),
            "pred": (proba > 0.5).astype(int),
            "proba": proba,
            "truth": truth,
        }
    )


def churn_model(path: Path, **columns: object) -> dict[str, object]:
    """The churn model's reference (a ``classification_reference()`` at ``path``) and columns:
    a class prediction, with ``columns`` added (target, scores)."""
    return {
        "reference": {"path": str(path)},
        "columns": {
            "numerical": ["age"],
            "categorical": ["city"],
            "prediction": "pred",
            "prediction_type": "categorical",
            **columns,
        },
    }


@pytest.fixture
def labelled(tmp_path: Path) -> Iterator[tuple[DriftService, pd.DataFrame]]:
    frame = classification_reference()
    path = tmp_path / "ref.csv"
    frame.to_csv(path, index=False)
    settings = settings_from_mapping(
        {
            "models": {
                MODEL: {
                    **churn_model(path, target="truth", scores={"1": "proba"}),
                    "window": {"size": 1000, "step": 1000},
                    "performance": {
                        "min_samples": 20,
                        "window": 500,
                        "label_ttl_seconds": 600,
                        "alert": {"metric": "accuracy", "max_drop": 0.1},
                    },
                }
            }
        }
    )
    with running_service(settings) as service:
        yield service, frame


def samples(
    n: int, start: int, rng: np.random.Generator
) -> tuple[list[dict[str, object]], np.ndarray]:
    proba = rng.random(n)
    batch = [
        {
            "id": f"req-{start + i}",
            "features": {"age": 40.0, "city": "paris"},
            "prediction": int(p > 0.5),
            "scores": float(p),
        }
        for i, p in enumerate(proba)
    ]
    return batch, proba


def scrape(service: DriftService) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(generate_latest(service.registry).decode()):
        for s in family.samples:
            out[(s.name, *(f"{k}={v}" for k, v in sorted(s.labels.items())))] = s.value
    return out


def test_reference_performance_equals_sklearn(labelled: tuple[DriftService, pd.DataFrame]) -> None:
    service, frame = labelled
    view = service.performance[MODEL].view()
    assert view.reference is not None
    got = view.reference.metrics
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(frame.truth, frame.pred), rel=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(frame.truth, frame.pred), rel=1e-12)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(frame.truth, frame.proba), rel=1e-12)
    assert got["log_loss"] == pytest.approx(
        skm.log_loss(frame.truth, np.column_stack([1 - frame.proba, frame.proba])), rel=1e-12
    )
    metrics = scrape(service)
    assert metrics[("drift_model_performance_reference", "metric=accuracy", f"model={MODEL}")] == (
        pytest.approx(got["accuracy"])
    )


def test_labels_join_before_and_after_their_predictions(
    labelled: tuple[DriftService, pd.DataFrame],
) -> None:
    service, _ = labelled
    rng = np.random.default_rng(0)
    batch, proba = samples(100, 0, rng)
    truth = rng.integers(0, 2, 100)
    # the first 30 labels arrive before their predictions, the rest after
    early = service.ingest_labels(
        MODEL, {"labels": [{"id": f"req-{i}", "label": int(truth[i])} for i in range(30)]}
    )
    assert (early.outcome.matched, early.outcome.held) == (0, 30)
    assert service.ingest(MODEL, {"samples": batch}).accepted == 100
    late = service.ingest_labels(
        MODEL,
        {
            "labels": [{"id": f"req-{i}", "label": int(truth[i])} for i in range(30, 100)]
            + [{"id": "never-predicted", "label": 1}, {"id": "req-5", "label": 0}, {"label": 1}]
        },
    )
    assert (late.outcome.matched, late.outcome.held, late.outcome.duplicate) == (70, 1, 1)
    assert [(r.index, r.field) for r in late.rejections] == [(72, "id")]
    service.evaluate_performance()
    view = service.performance[MODEL].view()
    assert view.current is not None
    pred = (proba > 0.5).astype(int)
    # join order: the 30 early labels joined as their predictions arrived, then the rest
    assert view.current.samples == 100
    got = view.current.metrics
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred), rel=1e-12)
    assert got["precision"] == pytest.approx(skm.precision_score(truth, pred, zero_division=0))
    assert got["recall"] == pytest.approx(skm.recall_score(truth, pred, zero_division=0))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(truth, pred, average="macro"))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, proba), rel=1e-12)
    assert got["log_loss"] == pytest.approx(
        skm.log_loss(truth, np.column_stack([1 - proba, proba])), rel=1e-12
    )
    metrics = scrape(service)
    assert metrics[("drift_labels_total", f"model={MODEL}", "outcome=matched")] == 100
    assert metrics[("drift_labels_total", f"model={MODEL}", "outcome=duplicate")] == 1
    assert metrics[("drift_labels_total", f"model={MODEL}", "outcome=invalid")] == 1
    assert metrics[("drift_labels_pending", "kind=label", f"model={MODEL}")] == 1
    assert metrics[("drift_model_performance_samples", f"model={MODEL}")] == 100
    # random predictions are far below the reference's accuracy: the condition holds
    assert view.degraded is True
    assert metrics[("drift_model_performance_degraded", f"model={MODEL}")] == 1


def test_unknown_labels_expire_and_are_counted(labelled: tuple[DriftService, pd.DataFrame]) -> None:
    service, _ = labelled
    service.ingest_labels(MODEL, {"labels": [{"id": "ghost", "label": 1}]})
    service.evaluate_performance(now=time.monotonic() + 601)
    metrics = scrape(service)
    assert metrics[("drift_labels_total", f"model={MODEL}", "outcome=expired_label")] == 1
    assert metrics[("drift_labels_pending", "kind=label", f"model={MODEL}")] == 0


def test_no_metrics_below_min_samples(labelled: tuple[DriftService, pd.DataFrame]) -> None:
    service, _ = labelled
    batch, _ = samples(10, 0, np.random.default_rng(1))
    service.ingest(MODEL, {"samples": batch})
    service.ingest_labels(MODEL, {"labels": [{"id": f"req-{i}", "label": 1} for i in range(10)]})
    service.evaluate_performance()
    assert service.performance[MODEL].view().current is None
    assert ("drift_model_performance_samples", f"model={MODEL}") not in scrape(service)


def test_labels_route_and_performance_route(labelled: tuple[DriftService, pd.DataFrame]) -> None:
    service, _ = labelled
    rng = np.random.default_rng(2)
    batch, _ = samples(60, 0, rng)
    with TestClient(create_app(service, manage_lifecycle=False)) as client:
        assert (
            client.post(f"/v1/models/{MODEL}/samples", json={"samples": batch}).status_code == 200
        )
        labels = [{"id": f"req-{i}", "label": i % 2} for i in range(60)]
        answer = client.post(
            f"/v1/models/{MODEL}/labels",
            json={"labels": [*labels, {"id": "x", "label": [1]}, {"id": "y", "label": 1}]},
        )
        assert answer.status_code == 422
        body = answer.json()
        assert (body["accepted"], body["matched"], body["held"]) == (61, 60, 1)
        assert body["rejected"] == [
            {
                "index": 60,
                "field": "label",
                "reason": "wrong_type",
                "detail": "expected a string, number or bool, got an array",
            }
        ]
        for bad, status, error in (
            (b"{", 400, "invalid_json"),
            (b'{"labels": 3}', 422, "invalid_body"),
            (b"[]", 422, "invalid_body"),
        ):
            answer = client.post(
                f"/v1/models/{MODEL}/labels",
                content=bad,
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == status
            assert answer.json()["error"] == error
        assert client.post("/v1/models/nope/labels", json={"labels": []}).status_code == 404
        service.evaluate_performance()
        perf = client.get(f"/v1/models/{MODEL}/performance").json()
        assert perf["current"]["samples"] == 60
        assert perf["current"]["task"] == "classification"
        assert set(perf["current"]["metrics"]) >= {"accuracy", "f1", "roc_auc", "log_loss"}
        assert perf["reference"]["samples"] == 600
        assert perf["alert"]["metric"] == "accuracy"
        assert perf["alert"]["degraded"] in (True, False)
        assert perf["labels"]["matched"] == 60
        assert perf["labels"]["pending_labels"] == 1
        assert perf["labels"]["invalid"] == 1


def test_a_performance_drop_fires_a_native_alert_and_resolves(tmp_path: Path) -> None:
    """The ``performance.alert`` condition drives the native state machine like drift does:
    ``fire_after`` degraded performance evaluations fire, ``resolve_after`` good ones resolve;
    the notification renders for Slack and as a schema-valid Kafka event."""
    frame = classification_reference()
    path = tmp_path / "ref.csv"
    frame.to_csv(path, index=False)
    settings = settings_from_mapping(
        {
            "alerts": {"fire_after": 2, "resolve_after": 1, "kinds": ["performance"]},
            "models": {
                MODEL: {
                    **churn_model(path, target="truth"),
                    "performance": {
                        "min_samples": 20,
                        "window": 40,
                        "alert": {"metric": "accuracy", "max_drop": 0.1},
                    },
                }
            },
        }
    )
    sink = RecordingSink()
    service = started_service(settings, {"memory": sink})
    try:

        def round_of(start: int, correct: bool) -> None:
            batch = [
                {"id": f"r{start + i}", "features": {"age": 40.0, "city": "paris"}, "prediction": 1}
                for i in range(40)
            ]
            service.ingest(MODEL, {"samples": batch})
            label = 1 if correct else 0
            labels = [{"id": f"r{start + i}", "label": label} for i in range(40)]
            service.ingest_labels(MODEL, {"labels": labels})
            service.evaluate_performance()

        round_of(0, correct=False)  # accuracy 0: degraded once, not yet firing
        assert sink.delivered == []
        round_of(100, correct=False)
        wait_until(lambda: len(sink.delivered) == 1, what="the firing notification")
        firing = sink.delivered[0]
        assert (firing.kind, firing.status.value, firing.model) == ("performance", "firing", MODEL)
        assert "accuracy 0 over 40 labelled predictions" in firing.summary
        assert "allowed drop 0.1" in firing.summary
        round_of(200, correct=True)  # accuracy 1: resolved
        wait_until(lambda: len(sink.delivered) == 2, what="the resolved notification")
    finally:
        service.stop()
    resolved = sink.delivered[1]
    assert resolved.status.value == "resolved"
    assert resolved.alert_id == firing.alert_id
    for notification in sink.delivered:
        assert_valid(event.event(notification))
        assert slack_blocks.text(notification)
        assert slack_blocks.blocks(notification)


# --------------------------------------------------------------------- bounded in bytes


def test_over_long_ids_and_labels_are_rejected_one_by_one_and_counted(
    labelled: tuple[DriftService, pd.DataFrame],
) -> None:
    service, _ = labelled
    with TestClient(create_app(service, manage_lifecycle=False)) as client:
        answer = client.post(
            f"/v1/models/{MODEL}/labels",
            json={
                "labels": [
                    {"id": "ok-1", "label": "x" * 256},  # exactly the cap
                    {"id": "i" * 300, "label": 1},
                    {"id": "ok-2", "label": "é" * 129},  # 129 characters, 258 bytes
                    {"id": 10**300, "label": 1},
                    {"id": "ok-3", "label": 10**270},  # its digits are the label's spelling
                    {"id": "ok-4", "label": 1},
                ]
            },
        )
    assert answer.status_code == 422
    body = answer.json()
    assert (body["accepted"], body["held"]) == (2, 2)
    assert body["rejected"] == [
        {"index": 1, "field": "id", "reason": "too_long", "detail": "300 bytes > 256"},
        {"index": 2, "field": "label", "reason": "too_long", "detail": "258 bytes > 256"},
        {"index": 3, "field": "id", "reason": "too_long", "detail": "301 bytes > 256"},
        {"index": 4, "field": "label", "reason": "too_long", "detail": "271 bytes > 256"},
    ]
    metrics = scrape(service)
    assert metrics[("drift_labels_total", f"model={MODEL}", "outcome=invalid")] == 4
    assert metrics[("drift_labels_pending", "kind=label", f"model={MODEL}")] == 2


def byte_capped(path: Path, max_pending_bytes: int) -> DriftService:
    classification_reference().to_csv(path, index=False)
    settings = settings_from_mapping(
        {
            "models": {
                MODEL: {
                    **churn_model(path),
                    "performance": {"max_pending_bytes": max_pending_bytes},
                }
            }
        }
    )
    service = DriftService(settings)
    service.load_references()
    return service


def test_the_byte_cap_evicts_the_oldest_and_counts_them(tmp_path: Path) -> None:
    """256-byte ids fill 64 KiB long before max_pending (100,000) entries: the oldest go, and
    are counted as evicted, as for the count cap."""
    service = byte_capped(tmp_path / "ref.csv", 64 * 1024)
    long_id = "i" * 250
    labels = [{"id": f"{long_id}{i:06d}", "label": "y" * 256} for i in range(1000)]
    assert service.ingest_labels(MODEL, {"labels": labels}).outcome.held == 1000
    rows = [
        {"id": f"{long_id}p{i:05d}", "features": {"age": 1.0, "city": "x"}, "prediction": "n" * 256}
        for i in range(1000)
    ]
    assert service.ingest(MODEL, {"samples": rows}).accepted == 1000
    view = service.performance[MODEL].view()
    assert 0 < view.pending_labels < 200
    assert 0 < view.pending_predictions < 200
    metrics = scrape(service)
    evicted_labels = metrics[("drift_labels_total", f"model={MODEL}", "outcome=evicted_label")]
    evicted = metrics[("drift_labels_total", f"model={MODEL}", "outcome=evicted_prediction")]
    assert evicted_labels == 1000 - view.pending_labels
    assert evicted == 1000 - view.pending_predictions
    # the newest are the ones kept: the last label still joins its prediction
    last = {"id": f"{long_id}000999", "features": {"age": 1.0, "city": "x"}, "prediction": "y"}
    assert service.ingest(MODEL, {"samples": [last]}).accepted == 1
    assert service.performance[MODEL].view().counters.matched == 1
