"""Calibrated thresholds follow the window's fill through the service: a count window still
filling up and a time window holding few samples are held to the threshold calibrated for
their sample count (``drift.core.calibration``'s ladder of sizes), which ``GET /drift`` and
``drift_column_threshold`` show with the size it was calibrated for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from drift.config import settings_from_mapping
from drift.core.calibration import SizeCalibration
from drift.service.app import create_app
from drift.service.service import DriftService
from tests.conftest import CREDIT_COLUMNS, reference_frame, running_service, sample, wait_until

MODEL = "credit-scoring"
COLUMNS = ("age", "income", "city")


def _service(reference_csv: Path, window: dict[str, Any]) -> Iterator[DriftService]:
    settings = settings_from_mapping(
        {
            "models": {
                MODEL: {
                    "reference": {"path": str(reference_csv)},
                    "columns": CREDIT_COLUMNS,
                    "window": {"min_seconds_between_evaluations": 0, **window},
                    "drift": {"calibration": {"false_alarm_rate": 0.01}},
                }
            },
        }
    )
    with running_service(settings) as svc:
        yield svc


@pytest.fixture
def count_window(reference_csv: Path) -> Iterator[DriftService]:
    yield from _service(reference_csv, {"size": 200, "step": 25})


@pytest.fixture
def time_window(reference_csv: Path) -> Iterator[DriftService]:
    yield from _service(
        reference_csv,
        {
            "size": 1000,
            "step": 20,
            "min_samples": 20,
            "duration_seconds": 600,
            "evaluate_every_seconds": 0.05,
        },
    )


def _post(client: TestClient, rows: int, seed: int) -> None:
    frame = reference_frame(rows, seed=seed)
    samples = [sample(r.age, r.income, r.city, r.score) for r in frame.itertuples(index=False)]
    assert client.post(f"/v1/models/{MODEL}/samples", json={"samples": samples}).is_success


def _report_of(client: TestClient, samples: int) -> dict[str, Any]:
    def judged() -> bool:
        response = client.get(f"/v1/models/{MODEL}/drift")
        return response.status_code == 200 and response.json()["window"]["samples"] == samples

    wait_until(judged, what=f"an evaluation of {samples} samples")
    body: dict[str, Any] = client.get(f"/v1/models/{MODEL}/drift").json()
    return body


def _held(service: DriftService, column: str, samples: int) -> SizeCalibration | None:
    profile = service.monitors[MODEL].profile
    assert profile is not None
    assert profile.calibration is not None
    return profile.calibration.columns[column].for_samples(samples)


def _threshold_metric(service: DriftService, column: str) -> float | None:
    return service.registry.get_sample_value(
        "drift_column_threshold", {"model": MODEL, "column": column}
    )


def _assert_held_to(
    service: DriftService, body: dict[str, Any], samples: int, sizes: tuple[int, ...]
) -> None:
    for name in COLUMNS:
        held = _held(service, name, samples)
        assert held is not None
        assert held.size in sizes
        column = body["columns"][name]
        assert column["calibrated"] is True
        assert column["threshold"] == held.threshold
        assert column["calibration_size"] == held.size
        assert column["false_alarm_rate"] == held.rate
        assert _threshold_metric(service, name) == held.threshold


def test_a_count_window_filling_up_is_held_to_a_smaller_sizes_threshold(
    count_window: DriftService,
) -> None:
    """Window 200 (ladder 13, 25, 50, 100, 200): 75 samples lie between 50 and 100 and
    get the more conservative of those two thresholds; the full window its own."""
    profile = count_window.monitors[MODEL].profile
    assert profile is not None
    assert profile.calibration is not None
    assert profile.calibration.sizes == (13, 25, 50, 100, 200)
    with TestClient(create_app(count_window, manage_lifecycle=False)) as client:
        _post(client, 75, seed=9)
        half = _report_of(client, 75)
        _assert_held_to(count_window, half, 75, (50, 100))
        _post(client, 125, seed=10)
        full = _report_of(client, 200)
    _assert_held_to(count_window, full, 200, (200,))
    for name in COLUMNS:
        assert full["columns"][name]["threshold"] == profile.calibration.columns[name].threshold
        assert half["columns"][name]["threshold"] != full["columns"][name]["threshold"]


def test_a_time_window_with_few_samples_is_held_to_its_sizes_threshold(
    time_window: DriftService,
) -> None:
    """Window 1000 (ladder 32 ... 1000), 600 s: 25 samples, below the smallest size, keep the
    method's own threshold (and say so); 45 samples lie between 32 and 63."""
    with TestClient(create_app(time_window, manage_lifecycle=False)) as client:
        _post(client, 25, seed=9)
        few = _report_of(client, 25)
        for name in COLUMNS:
            column = few["columns"][name]
            assert column["calibrated"] is False
            assert column["calibration_size"] is None
            assert column["threshold"] == 0.05  # ks and chisquare (reference of 800 rows)
        _post(client, 20, seed=10)
        more = _report_of(client, 45)
    assert more["window"]["seconds"] == 600
    _assert_held_to(time_window, more, 45, (32, 63))
    assert more["dataset"]["expected_false_alarm_rate"] is not None
