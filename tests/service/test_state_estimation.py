"""Estimation across a restart (``state:``): the predictions and scores CBPE keeps beside the
window, the latest estimate and the estimation alert trackers come back with the window; the
estimates after the restart equal those of a service that never stopped; a changed
``estimation`` section or a damaged part discards the estimation state alone."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from drift.alerting.testing import RecordingSink
from drift.config import Settings, settings_from_mapping
from drift.service.service import DriftService
from drift.service.state import read_snapshot, write_snapshot
from tests.conftest import started_service, wait_until
from tests.service.test_estimation import CLASSIFIER, classifier_frame, samples
from tests.service.test_estimation_alerts import multiclass_frame, multiclass_samples, unsure

WINDOW = 400
STEP = 100


def make_settings(tmp_path: Path, **estimation: Any) -> Settings:
    path = tmp_path / "ref.csv"
    if not path.exists():
        classifier_frame(4000, 1).to_csv(path, index=False)
    return settings_from_mapping(
        {
            "state": {"dir": str(tmp_path / "state"), "snapshot_seconds": 3600},
            "alerts": {"fire_after": 2, "resolve_after": 2, "kinds": ["estimated_performance"]},
            "models": {
                "m": {
                    **CLASSIFIER,
                    "reference": {"path": str(path), "cache_dir": str(tmp_path / "cache")},
                    "window": {"size": WINDOW, "step": STEP},
                    "estimation": {**CLASSIFIER["estimation"], **estimation},
                }
            },
        }
    )


def start(
    services: list[DriftService], settings: Settings, sink: RecordingSink | None = None
) -> DriftService:
    """A service stopped by the ``services`` fixture, its alerts sent to ``sink`` (or to a
    memory sink nobody reads)."""
    service = started_service(settings, {"memory": sink or RecordingSink()})
    services.append(service)
    return service


def feed(service: DriftService, frame: pd.DataFrame) -> None:
    """Samples in batches of one step, each waited for until its window is estimated."""
    estimation = service.estimation["m"]
    for begin in range(0, len(frame), STEP):
        before = estimation.latest
        service.ingest("m", samples(frame.iloc[begin : begin + STEP]))
        wait_until(lambda: estimation.latest is not before, what="the step's estimate")  # noqa: B023


def snapshotted(
    services: list[DriftService], settings: Settings, frame: pd.DataFrame
) -> DriftService:
    """A service fed ``frame`` whose snapshot is written (then 'killed': never stopped)."""
    service = start(services, settings)
    feed(service, frame)
    assert service.state is not None
    assert service.state.snapshot("m")
    return service


def test_a_restart_restores_the_scores_and_the_latest_estimate(
    tmp_path: Path, services: list[DriftService]
) -> None:
    settings = make_settings(tmp_path)
    old = snapshotted(services, settings, classifier_frame(300, 2))
    saved = old.estimation["m"].to_state()
    assert saved is not None
    assert len(saved["predictions"]) == 300
    # kill -9: no stop, the periodic snapshot is what is left
    new = start(services, settings)
    assert new.readiness()[0]
    assert new.estimation["m"].latest == old.estimation["m"].latest  # /estimation at once
    again = new.estimation["m"].to_state()
    assert again is not None
    assert again["predictions"] == saved["predictions"]
    np.testing.assert_array_equal(again["scores"], saved["scores"])
    assert again["latest"] == saved["latest"]
    # the same samples afterwards: the estimates of a service that never stopped (the window
    # slides past the restart: 300 saved + 200 new of a window of 400)
    later = classifier_frame(200, 3)
    feed(old, later)
    feed(new, later)
    kept, restored = old.estimation["m"].latest, new.estimation["m"].latest
    assert kept is not None
    assert restored is not None
    assert restored.samples == kept.samples == WINDOW
    assert restored.performance == kept.performance
    assert restored.multivariate == kept.multivariate


def test_a_firing_estimate_alert_is_not_sent_again_after_a_restart(
    tmp_path: Path, services: list[DriftService]
) -> None:
    settings = make_settings(tmp_path)
    before = RecordingSink()
    old = start(services, settings, before)
    feed(old, unsure(2 * STEP, 4))  # two degraded windows: fire_after 2
    wait_until(lambda: len(before.delivered) == 1, what="the firing notification")
    (firing,) = before.delivered
    assert (firing.kind, firing.status.value) == ("estimated_performance", "firing")
    assert old.state is not None
    assert old.state.snapshot("m")

    after = RecordingSink()
    new = start(services, settings, after)
    feed(new, unsure(STEP, 5))  # still degraded: no second FIRING
    assert after.delivered == []
    feed(new, classifier_frame(4 * STEP, 6))  # the window recovers: resolved, same episode
    wait_until(lambda: len(after.delivered) == 1, what="the resolved notification")
    (resolved,) = after.delivered
    assert resolved.status.value == "resolved"
    assert resolved.alert_id == firing.alert_id


def test_a_changed_estimation_section_discards_only_the_estimation_state(
    tmp_path: Path, services: list[DriftService], caplog: pytest.LogCaptureFixture
) -> None:
    snapshotted(services, make_settings(tmp_path), classifier_frame(200, 7))
    with caplog.at_level(logging.WARNING, logger="drift.service.state"):
        new = start(services, make_settings(tmp_path, threshold_std=2.0))
    assert "saved estimation state discarded: estimation changed" in caplog.text
    assert new.monitors["m"].window_samples == 200  # the window is restored
    assert new.estimation["m"].latest is None
    assert new.estimation["m"].to_state() is None


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda s: s.update(scores=np.zeros((3, 2))), "scores"),
        (lambda s: s.update(predictions=[1, 2]), "predictions must be"),
        (lambda s: s["latest"].update(method="magic"), "unknown estimation method"),
        (lambda s: s.pop("latest"), "latest"),
    ],
)
def test_a_damaged_estimation_part_is_logged_and_the_window_restored(
    tmp_path: Path,
    services: list[DriftService],
    caplog: pytest.LogCaptureFixture,
    damage: Any,
    expected: str,
) -> None:
    settings = make_settings(tmp_path)
    old = snapshotted(services, settings, classifier_frame(200, 8))
    assert old.state is not None
    path = old.state.path("m")
    document = read_snapshot(path)
    damage(document["drift"]["state"]["estimation"]["state"])
    write_snapshot(path, document)
    with caplog.at_level(logging.WARNING, logger="drift.service.state"):
        new = start(services, settings)
    assert "saved estimation state not usable" in caplog.text
    assert expected in caplog.text
    assert new.monitors["m"].window_samples == 200
    assert new.estimation["m"].to_state() is None
    assert (
        new.registry.get_sample_value(
            "drift_state_restore_total", {"model": "m", "outcome": "restored"}
        )
        == 1
    )


def test_a_multiclass_models_scores_come_back_one_row_per_sample(
    tmp_path: Path, services: list[DriftService]
) -> None:
    """Multiclass CBPE keeps a score per class: saved as one (samples, classes) array and
    restored row by row; the estimate after the restart is the one before it."""
    multiclass_frame(3000, 1).to_csv(tmp_path / "ref.csv", index=False)
    settings = settings_from_mapping(
        {
            "state": {"dir": str(tmp_path / "state"), "snapshot_seconds": 3600},
            "models": {
                "m": {
                    "reference": {"path": str(tmp_path / "ref.csv")},
                    "columns": {
                        "numerical": ["x"],
                        "prediction": "pred",
                        "prediction_type": "categorical",
                        "target": "truth",
                        "scores": {"a": "pa", "b": "pb", "c": "pc"},
                    },
                    "window": {"size": WINDOW, "step": STEP},
                    "estimation": {"cbpe": True},
                }
            },
        }
    )
    old = start(services, settings)
    window = multiclass_frame(STEP, 2)
    old.ingest("m", {"samples": multiclass_samples(window)})
    wait_until(lambda: old.estimation["m"].latest is not None, what="an estimate")
    assert old.state is not None
    assert old.state.snapshot("m")
    saved = old.estimation["m"].to_state()
    assert saved is not None
    assert saved["scores"].shape == (STEP, 3)

    new = start(services, settings)
    again = new.estimation["m"].to_state()
    assert again is not None
    np.testing.assert_array_equal(again["scores"], saved["scores"])
    assert new.estimation["m"].latest == old.estimation["m"].latest
