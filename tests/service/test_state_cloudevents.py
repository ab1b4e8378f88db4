"""drift.service.state with CloudEvents: the request / response halves waiting in the pending
table are kept in ``cloudevents.zip`` and restored at the next start, so a response that
arrives after a restart pairs with a request sent before it; the halves of a model whose
mapping changed are discarded with the reason logged; a damaged file starts the table empty.
Counted once per start under ``drift_state_restore_total{model="(cloudevents)"}``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from drift.config import Settings, settings_from_mapping
from drift.service.cloudevents import CloudEventsIngest
from drift.service.service import DriftService
from drift.service.state import read_snapshot
from exporters.prometheus.collector import CLOUDEVENTS_PART
from tests.ingest.test_cloudevents import load_fixture
from tests.service.test_cloudevents_api import FEATURES, model

TWO = "kserve_v1_two_instances.json"  # sklearn-iris: a request of 2 instances, its response


def make_settings(csv: Path, tmp_path: Path, **iris: Any) -> Settings:
    return settings_from_mapping(
        {
            "state": {"dir": str(tmp_path / "state"), "snapshot_seconds": 3600},
            "models": {
                "iris": model(
                    csv,
                    "species",
                    "categorical",
                    kserve={"inference_service": "sklearn-iris", "features": FEATURES, **iris},
                ),
                "other": model(
                    csv,
                    "species",
                    "categorical",
                    kserve={"inference_service": "other-iris", "features": FEATURES},
                ),
            },
        }
    )


def start(
    services: list[DriftService], settings: Settings, ingest_first: bool = False
) -> tuple[DriftService, CloudEventsIngest]:
    """A started service and its collector; ``ingest_first``: the collector made before the
    start (as the app does), else after it (restored when attached); stopped by ``services``."""
    svc = DriftService(settings)
    ingest = CloudEventsIngest(svc) if ingest_first else None
    svc.start(load_in_background=False)
    services.append(svc)
    return svc, ingest if ingest is not None else CloudEventsIngest(svc)


def restores(svc: DriftService, outcome: str) -> float | None:
    return svc.registry.get_sample_value(
        "drift_state_restore_total", {"model": CLOUDEVENTS_PART, "outcome": outcome}
    )


def events(service: str = "sklearn-iris") -> tuple[Any, Any]:
    (h_req, b_req), (h_resp, b_resp) = load_fixture(TWO)
    h_req, h_resp = (h | {"ce-inferenceservicename": service} for h in (h_req, h_resp))
    return (h_req, b_req), (h_resp, b_resp)


def waiting_requests(
    services: list[DriftService], settings: Settings
) -> tuple[DriftService, CloudEventsIngest]:
    """A service where a request of each model waits for its response, then snapshotted."""
    svc, ingest = start(services, settings)
    for name in ("sklearn-iris", "other-iris"):
        (h_req, b_req), _ = events(name)
        assert ingest.handle(h_req, b_req).body["outcome"] == "waiting"
    assert svc.state is not None
    svc.state.snapshot_all()
    return svc, ingest


@pytest.mark.parametrize("ingest_first", [False, True])
def test_a_response_after_the_restart_pairs_with_the_request_before_it(
    iris_csv: Path, tmp_path: Path, services: list[DriftService], ingest_first: bool
) -> None:
    settings = make_settings(iris_csv, tmp_path)
    _, before = waiting_requests(services, settings)
    saved = read_snapshot(tmp_path / "state" / "cloudevents.zip")
    assert saved["part"] == "cloudevents"
    assert len(saved["halves"]) == 2
    assert set(saved["shapes"]) == {"iris", "other"}
    assert saved["floats"].tolist() == [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6] * 2

    svc, after = start(services, settings, ingest_first)
    assert after.pending == 2
    assert after.pending_bytes == before.pending_bytes  # the same byte accounting
    assert restores(svc, "restored") == 1
    _, (h_resp, b_resp) = events()
    reply = after.handle(h_resp, b_resp)
    assert reply.body == {"outcome": "paired", "model": "iris", "samples": 2}
    after.flush()
    assert svc.registry.get_sample_value("drift_window_samples", {"model": "iris"}) == 2
    assert after.pending == 1


def test_a_snapshot_is_written_only_when_the_halves_changed(
    iris_csv: Path, tmp_path: Path, services: list[DriftService]
) -> None:
    svc, ingest = waiting_requests(services, make_settings(iris_csv, tmp_path))
    assert svc.state is not None
    assert svc.state.snapshot_cloudevents() is False
    _, (h_resp, b_resp) = events()
    ingest.handle(h_resp, b_resp)
    assert svc.state.snapshot_cloudevents() is True
    assert len(read_snapshot(svc.state.cloudevents_path)["halves"]) == 1


def test_a_changed_mapping_discards_that_models_halves_with_the_reason(
    iris_csv: Path,
    tmp_path: Path,
    services: list[DriftService],
    caplog: pytest.LogCaptureFixture,
) -> None:
    waiting_requests(services, make_settings(iris_csv, tmp_path))
    with caplog.at_level(logging.WARNING, logger="drift.service.state"):
        svc, ingest = start(services, make_settings(iris_csv, tmp_path, namespace="prod"))
    assert ingest.pending == 1  # the other model's request is kept
    assert restores(svc, "config_changed") == 1
    assert "model iris: saved CloudEvents halves discarded: kserve changed" in caplog.text


@pytest.mark.parametrize(
    ("damage", "outcome"),
    [
        (lambda data: data[: len(data) // 2], "corrupt"),
        (lambda data: b"garbage", "corrupt"),
    ],
)
def test_a_damaged_file_starts_the_table_empty(
    iris_csv: Path, tmp_path: Path, services: list[DriftService], damage: Any, outcome: str
) -> None:
    settings = make_settings(iris_csv, tmp_path)
    waiting_requests(services, settings)
    path = tmp_path / "state" / "cloudevents.zip"
    path.write_bytes(damage(path.read_bytes()))
    svc, ingest = start(services, settings)
    assert ingest.pending == 0
    assert restores(svc, outcome) == 1
    (h_req, b_req), _ = events()
    assert ingest.handle(h_req, b_req).body["outcome"] == "waiting"  # works as usual


def test_without_a_file_the_start_counts_missing(
    iris_csv: Path, tmp_path: Path, services: list[DriftService]
) -> None:
    svc, ingest = start(services, make_settings(iris_csv, tmp_path))
    assert ingest.pending == 0
    assert restores(svc, "missing") == 1
    assert restores(svc, "restored") == 0
