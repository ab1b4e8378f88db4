"""Time windows: only the samples of the last ``window.duration_seconds`` count, and a window
with fewer than ``window.min_samples`` reports insufficient data instead of a verdict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from drift.config import settings_from_mapping
from drift.service.app import create_app
from drift.service.service import DriftService
from tests.conftest import sample, wait_until

URL = "/v1/models/timed/samples"


@pytest.fixture
def timed(reference_csv: Path) -> Iterator[tuple[DriftService, TestClient]]:
    settings = settings_from_mapping(
        {
            "models": {
                "timed": {
                    "reference": {"path": str(reference_csv)},
                    "columns": {"numerical": ["age", "income"], "categorical": ["city"]},
                    "window": {
                        "size": 10_000,
                        "step": 40,
                        "min_samples": 40,
                        "duration_seconds": 1.0,
                        "evaluate_every_seconds": 0.1,
                    },
                }
            },
        }
    )
    service = DriftService(settings)
    service.start(load_in_background=False)
    try:
        with TestClient(create_app(service, manage_lifecycle=False)) as client:
            yield service, client
    finally:
        service.stop()


def gauges(client: TestClient, name: str) -> dict[str, float]:
    text = client.get("/metrics").text
    return {
        s.labels["model"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_a_full_time_window_gets_a_verdict(timed: tuple[DriftService, TestClient]) -> None:
    service, client = timed
    assert client.post(URL, json={"samples": [sample() for _ in range(45)]}).status_code == 200
    wait_until(lambda: service.monitors["timed"].latest is not None, what="evaluation")
    body = client.get("/v1/models/timed/drift").json()
    assert body["status"] == "ok"
    assert body["window"]["samples"] == 45
    assert body["window"]["seconds"] == 1.0
    assert body["dataset"]["drifted"] in (True, False)
    assert gauges(client, "drift_window_insufficient_data") == {"timed": 0.0}
    assert "timed" in gauges(client, "drift_dataset_detected")


def test_samples_age_out_into_insufficient_data(timed: tuple[DriftService, TestClient]) -> None:
    service, client = timed
    assert client.post(URL, json={"samples": [sample() for _ in range(45)]}).status_code == 200
    wait_until(
        lambda: (r := service.monitors["timed"].latest) is not None and r.insufficient_data,
        what="the clock to age the samples out",
    )
    body = client.get("/v1/models/timed/drift").json()
    assert body["status"] == "insufficient_data"
    assert body["window"]["samples"] == 0
    assert body["window"]["min_samples"] == 40
    assert body["window"]["samples_seen"] == 45
    assert body["dataset"]["drifted"] is None
    assert body["columns"] == {}
    assert gauges(client, "drift_window_insufficient_data") == {"timed": 1.0}
    # no verdict means no drift gauges, rather than a reassuring 0
    assert "timed" not in gauges(client, "drift_dataset_detected")
    assert gauges(client, "drift_window_samples") == {"timed": 0.0}


def test_too_few_samples_in_the_window_is_no_verdict(
    timed: tuple[DriftService, TestClient],
) -> None:
    service, client = timed
    assert client.post(URL, json={"samples": [sample() for _ in range(10)]}).status_code == 200
    wait_until(lambda: service.monitors["timed"].latest is not None, what="a clock evaluation")
    report = service.monitors["timed"].latest
    assert report is not None
    assert report.insufficient_data
    assert report.window_samples == 10
