"""Native alerts on estimation (the ``estimated_performance`` and ``multivariate`` kinds): fed by
each window's estimate through the service, with the alert kinds' hysteresis; an estimate
fires on its worse side only (as the rule DriftModelPerformanceEstimatedDegraded); a
multiclass CBPE's averages carry the realized macro averages' names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from drift.alerting import event, slack_blocks
from drift.alerting.notification import Notification
from drift.alerting.testing import RecordingSink
from drift.config import settings_from_mapping
from drift.core.estimation import fit_cbpe
from drift.service.service import DriftService
from tests.alerting.test_alerting_event import assert_valid
from tests.conftest import wait_until
from tests.service.test_estimation import CLASSIFIER, WINDOW, classifier_frame, samples


def _service(
    tmp_path: Path, model: dict[str, Any], reference: pd.DataFrame
) -> tuple[DriftService, RecordingSink]:
    path = tmp_path / "ref.csv"
    reference.to_csv(path, index=False)
    settings = settings_from_mapping(
        {
            "alerts": {
                "fire_after": 2,
                "resolve_after": 2,
                "kinds": ["estimated_performance", "multivariate"],
            },
            "models": {
                "m": {
                    "reference": {"path": str(path), "cache_dir": str(tmp_path / "cache")},
                    "window": {"size": WINDOW, "step": WINDOW},
                    **model,
                }
            },
        }
    )
    sink = RecordingSink()
    return DriftService(settings, alert_sinks={"memory": sink}), sink


def unsure(rows: int, seed: int) -> pd.DataFrame:
    """The reference's features, but scores near 0.5: CBPE expects accuracy near 0.5."""
    frame = classifier_frame(rows, seed)
    proba = np.random.default_rng(seed + 100).uniform(0.45, 0.55, rows)
    return frame.assign(proba=proba, pred=(proba >= 0.5).astype(int))


def confident(rows: int, seed: int) -> pd.DataFrame:
    """Scores near 0 or 1: CBPE expects accuracy far above the reference's (the better side)."""
    frame = classifier_frame(rows, seed)
    rng = np.random.default_rng(seed + 200)
    proba = np.where(rng.random(rows) < 0.5, rng.uniform(0, 0.03, rows), rng.uniform(0.97, 1, rows))
    return frame.assign(proba=proba, pred=(proba >= 0.5).astype(int))


def feed(service: DriftService, window: pd.DataFrame, delivered: int, sink: RecordingSink) -> None:
    """One window's samples, then wait for its estimate (and ``delivered`` notifications)."""
    estimation = service.estimation["m"]
    before = estimation.latest
    service.ingest("m", samples(window))
    wait_until(lambda: estimation.latest is not before, what="the window's estimate")
    wait_until(lambda: len(sink.delivered) >= delivered, what=f"{delivered} notifications")


def kinds(notifications: list[Notification]) -> list[tuple[str, str]]:
    return sorted((n.kind, n.status.value) for n in notifications)


def test_an_estimated_drop_and_a_joint_shift_fire_and_resolve(tmp_path: Path) -> None:
    reference = classifier_frame(5000, 1)
    service, sink = _service(tmp_path, CLASSIFIER, reference)
    service.start(load_in_background=False)
    try:
        feed(service, classifier_frame(WINDOW, 2), 0, sink)  # like the reference: nothing
        assert sink.delivered == []
        # scores near 0.5 and the correlation of age and income flipped: both conditions
        shifted = [unsure(WINDOW, 3).assign(income=lambda f: -f["income"]) for _ in range(2)]
        feed(service, shifted[0], 0, sink)
        assert sink.delivered == []  # fire_after 2
        feed(service, shifted[1], 2, sink)
        assert kinds(sink.delivered) == [
            ("estimated_performance", "firing"),
            ("multivariate", "firing"),
        ]
        estimate = service.estimation["m"].latest
        assert estimate is not None
        degraded = {e.metric for e in estimate.degraded()}
        assert "accuracy" in degraded
        firing = {n.kind: n for n in sink.delivered}
        accuracy = next(e for e in estimate.performance if e.metric == "accuracy")
        lower = accuracy.thresholds.lower
        assert lower is not None
        summary = firing["estimated_performance"].summary
        assert summary.startswith("Estimated performance drop on model m: ")
        assert f"estimated accuracy {accuracy.value:.4g} beyond its lower threshold" in summary
        assert f"{lower:.4g}" in summary
        assert "assuming no concept drift" in summary
        reconstruction = estimate.multivariate
        assert reconstruction is not None
        assert reconstruction.alert
        assert firing["multivariate"].summary.startswith(
            f"Multivariate drift on model m: pca reconstruction {reconstruction.value:.4g}"
        )
        for notification in sink.delivered:  # they render for Slack and as Kafka events
            assert slack_blocks.blocks(notification)
            assert_valid(event.event(notification))
            assert event.event(notification)["kind"] == notification.kind

        for seed in (4, 5):  # back to normal: both resolve after resolve_after windows
            feed(service, classifier_frame(WINDOW, seed), 2 + 2 * (seed == 5), sink)
        resolved = sink.delivered[2:]
        assert kinds(resolved) == [
            ("estimated_performance", "resolved"),
            ("multivariate", "resolved"),
        ]
        assert {n.alert_id for n in resolved} == {n.alert_id for n in firing.values()}
    finally:
        service.stop()


def test_an_estimate_on_its_better_side_does_not_alert(tmp_path: Path) -> None:
    service, sink = _service(tmp_path, CLASSIFIER, classifier_frame(5000, 1))
    service.start(load_in_background=False)
    try:
        for seed in (6, 7, 8):
            feed(service, confident(WINDOW, seed), 0, sink)
        estimate = service.estimation["m"].latest
        assert estimate is not None
        accuracy = next(e for e in estimate.performance if e.metric == "accuracy")
        assert accuracy.alert  # outside the thresholds, as NannyML flags it ...
        upper = accuracy.thresholds.upper
        assert upper is not None
        assert accuracy.value > upper
        assert "accuracy" not in {e.metric for e in estimate.degraded()}
        assert [n.kind for n in sink.delivered if n.kind == "estimated_performance"] == []
    finally:
        service.stop()


def multiclass_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(rows, 3)) * 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    classes = np.array(["a", "b", "c"])
    truth = np.array([rng.choice(classes, p=p) for p in proba])
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "pred": classes[proba.argmax(axis=1)],
            "truth": truth,
            "pa": proba[:, 0],
            "pb": proba[:, 1],
            "pc": proba[:, 2],
        }
    )


def multiclass_samples(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame``'s rows as samples with a score per class."""
    return [
        {
            "features": {"x": r.x},
            "prediction": r.pred,
            "scores": {"a": r.pa, "b": r.pb, "c": r.pc},
        }
        for r in frame.itertuples()
    ]


@pytest.mark.parametrize("positive_label", [None, "b"])
def test_multiclass_averages_carry_the_realized_macro_names(
    tmp_path: Path, positive_label: str | None
) -> None:
    """Realized multiclass precision/recall/f1 are one class's with ``positive_label``; the
    estimate's averages are named as the realized macro averages, so the two never pair wrongly
    on a graph. Values: the core's multiclass CBPE on the same reference and window."""
    model = {
        "columns": {
            "numerical": ["x"],
            "prediction": "pred",
            "prediction_type": "categorical",
            "target": "truth",
            "scores": {"a": "pa", "b": "pb", "c": "pc"},
        },
        "performance": {"task": "classification", "positive_label": positive_label},
        "estimation": {"cbpe": True},
    }
    reference = multiclass_frame(6000, 1)
    service, _ = _service(tmp_path, model, reference)
    service.start(load_in_background=False)
    try:
        window = multiclass_frame(WINDOW, 2)
        body = {"samples": multiclass_samples(window)}
        estimation = service.estimation["m"]
        service.ingest("m", body)
        wait_until(lambda: estimation.latest is not None, what="an estimate")
        latest = estimation.latest
        assert latest is not None
        names = {e.metric: e.value for e in latest.performance}
        assert set(names) == {
            "roc_auc",
            "f1_macro",
            "precision_macro",
            "recall_macro",
            "specificity_macro",
            "accuracy",
        }
        core = fit_cbpe(
            reference["truth"].to_numpy(dtype=object),
            reference["pred"].to_numpy(dtype=object),
            reference[["pa", "pb", "pc"]].to_numpy(),
            chunk_size=WINDOW,
            classes=("a", "b", "c"),
        )
        expected = core.estimate(
            window["pred"].to_numpy(dtype=object), window[["pa", "pb", "pc"]].to_numpy()
        )
        for e in expected:
            name = e.metric if e.metric in ("roc_auc", "accuracy") else f"{e.metric}_macro"
            assert names[name] == pytest.approx(e.value, rel=1e-12, abs=1e-15)
            sample = service.registry.get_sample_value(
                "drift_model_performance_estimated",
                {"model": "m", "metric": name, "method": "cbpe"},
            )
            assert sample == pytest.approx(e.value, rel=1e-12, abs=1e-15)
    finally:
        service.stop()
