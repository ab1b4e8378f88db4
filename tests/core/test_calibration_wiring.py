"""Calibrated thresholds through the service: computed at reference load, cached with the
profile under a key that holds the calibration settings and the window size, shown in
``GET /v1/models/{model}/drift`` and in ``drift_column_threshold``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from drift.config import Settings, settings_from_mapping
from drift.core.options import CalibrationConfig
from drift.service.app import create_app
from drift.service.references import ReferenceLoader, calibrated
from drift.service.service import DriftService
from drift.sources.cache import cache_key
from tests.conftest import CREDIT_COLUMNS, reference_frame, sample, wait_until

MODEL = "credit-scoring"


def _settings(reference_csv: Path, cache: Path, **drift: Any) -> Settings:
    return settings_from_mapping(
        {
            "models": {
                MODEL: {
                    "reference": {"path": str(reference_csv), "cache_dir": str(cache)},
                    "columns": CREDIT_COLUMNS,
                    "window": {"size": 200, "step": 50},
                    "drift": drift,
                }
            },
        }
    )


@pytest.fixture
def calibrated_service(reference_csv: Path, tmp_path: Path) -> Iterator[DriftService]:
    settings = _settings(reference_csv, tmp_path / "cache", calibration={"false_alarm_rate": 0.01})
    svc = DriftService(settings)
    svc.start(load_in_background=False)
    try:
        yield svc
    finally:
        svc.stop()


def test_drift_and_metrics_show_each_columns_calibrated_threshold(
    calibrated_service: DriftService,
) -> None:
    profile = calibrated_service.monitors[MODEL].profile
    assert profile is not None
    assert profile.calibration is not None
    thresholds = {name: c.threshold for name, c in profile.calibration.columns.items()}
    assert set(thresholds) == {"age", "income", "city", "score"}
    frame = reference_frame(200, seed=9)
    samples = [sample(r.age, r.income, r.city, r.score) for r in frame.itertuples(index=False)]
    with TestClient(create_app(calibrated_service, manage_lifecycle=False)) as client:
        assert client.post(f"/v1/models/{MODEL}/samples", json={"samples": samples}).is_success
        wait_until(lambda: client.get(f"/v1/models/{MODEL}/drift").status_code == 200)
        body = client.get(f"/v1/models/{MODEL}/drift").json()
    for name in ("age", "income", "city"):
        column = body["columns"][name]
        assert column["calibrated"] is True
        assert column["threshold"] == thresholds[name]
        assert column["false_alarm_rate"] == pytest.approx(2 / 201)
        metric = calibrated_service.registry.get_sample_value(
            "drift_column_threshold", {"model": MODEL, "column": name}
        )
        assert metric == thresholds[name]
    assert body["prediction"]["calibrated"] is True
    assert 0 < body["dataset"]["expected_false_alarm_rate"] < 0.01  # 2 of 3 columns at 1%


def test_without_calibration_the_metric_shows_evidentlys_thresholds(
    client: TestClient, service: DriftService
) -> None:
    frame = reference_frame(200, seed=9)
    samples = [sample(r.age, r.income, r.city, r.score) for r in frame.itertuples(index=False)]
    assert client.post(f"/v1/models/{MODEL}/samples", json={"samples": samples}).is_success
    wait_until(lambda: client.get(f"/v1/models/{MODEL}/drift").status_code == 200)
    body = client.get(f"/v1/models/{MODEL}/drift").json()
    assert body["columns"]["age"]["calibrated"] is False
    assert body["dataset"]["expected_false_alarm_rate"] is None
    assert (
        service.registry.get_sample_value(
            "drift_column_threshold", {"model": MODEL, "column": "age"}
        )
        == 0.05
    )  # ks (reference of 800 rows): evidently's p-value threshold


def test_the_cache_is_keyed_by_calibration_and_window_and_reused(
    reference_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    plain = _settings(reference_csv, cache).models[MODEL]
    on = _settings(reference_csv, cache, calibration={}).models[MODEL]
    other_rate = _settings(reference_csv, cache, calibration={"false_alarm_rate": 0.02})
    other_window = on.model_copy(update={"window": on.window.model_copy(update={"size": 300})})
    keys = {
        cache_key(plain),
        cache_key(on),
        cache_key(other_rate.models[MODEL]),
        cache_key(other_window),
    }
    assert len(keys) == 4
    assert cache_key(on) == cache_key(_settings(reference_csv, cache, calibration={}).models[MODEL])

    loader = ReferenceLoader(MODEL, on)
    first = loader.load()
    assert first is not None
    assert first.profile.calibration is not None
    loader.wait_cached()
    with caplog.at_level(logging.INFO, logger="drift.service.references"):
        again = ReferenceLoader(MODEL, on).load()
    assert again is not None
    assert again.profile.calibration == first.profile.calibration  # read from the cache
    assert "calibrated" not in caplog.text  # not computed again
    assert calibrated(MODEL, plain, first.profile).calibration is None


def test_a_stale_calibration_is_recomputed_for_the_window(
    reference_csv: Path, tmp_path: Path
) -> None:
    on = _settings(reference_csv, tmp_path, calibration={}).models[MODEL]
    loaded = ReferenceLoader(MODEL, on).load()
    assert loaded is not None
    bigger = on.model_copy(update={"window": on.window.model_copy(update={"size": 400})})
    again = calibrated(MODEL, bigger, loaded.profile)
    assert again.calibration is not None
    assert again.calibration.window_size == 400
    assert again.calibration.matches(CalibrationConfig(), 400)
    assert calibrated(MODEL, on, loaded.profile) is loaded.profile
