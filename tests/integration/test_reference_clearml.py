"""ClearML Dataset references through the real SDK: seeded with the SDK's write path, loaded by
the sidecar's real loading code, against the schema-checked local server (or a live server when
``CLEARML_API_HOST`` is set). See ``reference_components.py`` for how the backends start."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from drift.config import Settings, settings_from_mapping
from drift.service.service import DriftService
from tests.conftest import reference_frame, sample, wait_until

from .reference_components import BUCKET, Backend, seed_dataset

pytestmark = [
    pytest.mark.integration,
    # the SDK's bundled HOCON parser uses pyparsing's pre-3.0 camelCase names, deprecated
    # since pyparsing 3.3 (warned while reading clearml.conf); not ours to fix
    pytest.mark.filterwarnings("ignore::pyparsing.PyparsingDeprecationWarning"),
]

COLUMNS = {"numerical": ["age", "income"], "categorical": ["city"], "prediction": "score"}


def settings(reference: dict[str, Any], cache_dir: Path, **extra: Any) -> Settings:
    ref = {"cache_dir": str(cache_dir), "retry_seconds": 0.2, **extra, **reference}
    model = {"reference": ref, "columns": COLUMNS, "window": {"size": 200, "step": 50}}
    return settings_from_mapping({"models": {"m": model}})


def started(config: Settings) -> DriftService:
    service = DriftService(config)
    service.start(load_in_background=False)
    return service


def metric(service: DriftService, name: str, **labels: str) -> float | None:
    return service.registry.get_sample_value(name, {"model": "m", **labels})


@pytest.fixture
def running() -> Iterator[list[DriftService]]:
    services: list[DriftService] = []
    yield services
    for service in services:
        service.stop()


@pytest.fixture(scope="module")
def credit(reference_backend: Backend) -> dict[str, str]:
    """Project ``credit``: training-data 1.0.0 (two CSV files + a README) and 1.1.0 (Parquet,
    tagged ``approved``)."""
    v1 = seed_dataset(
        reference_backend,
        "credit",
        "training-data",
        {
            "part-1.csv": reference_frame(300, seed=1),
            "part-2.csv": reference_frame(200, seed=2),
            "README.csv.txt": reference_frame(5),
        },
        version="1.0.0",
    )
    v2 = seed_dataset(
        reference_backend,
        "credit",
        "training-data",
        {"train.parquet": reference_frame(700, seed=3)},
        version="1.1.0",
        tags=["approved"],
    )
    return {"1.0.0": v1, "1.1.0": v2}


def test_by_id_reads_and_concatenates_the_matching_files(
    backend: Backend, credit: dict[str, str], tmp_path: Path, running: list[DriftService]
) -> None:
    service = started(
        settings({"clearml": {"dataset_id": credit["1.0.0"], "files": "*.csv"}}, tmp_path)
    )
    running.append(service)
    ready, detail = service.readiness()
    assert ready, detail
    assert service.monitors["m"].profile is not None
    assert service.monitors["m"].profile.rows == 500  # part-1 + part-2, not the README
    reference = detail["m"]["reference"]
    assert (reference["source"], reference["version"], reference["cached"]) == (
        "clearml",
        "1.0.0",
        False,
    )
    assert reference["version_id"] == credit["1.0.0"]  # the dataset id; no location
    assert metric(service, "drift_reference_info", source="clearml", version="1.0.0") == 1
    age = metric(service, "drift_reference_age_seconds")
    assert age is not None
    assert 0 <= age < 60
    assert metric(service, "drift_reference_cached") == 0


@pytest.mark.parametrize(
    ("selector", "version", "rows"),
    [
        ({}, "1.1.0", 700),  # no version: the latest finalized
        ({"version": "1.0.0"}, "1.0.0", 500),
        ({"tags": ["approved"]}, "1.1.0", 700),
        ({"version": "1.0.0", "alias": "reference"}, "1.0.0", 500),
    ],
)
def test_by_project_and_name(
    backend: Backend,
    credit: dict[str, str],
    tmp_path: Path,
    running: list[DriftService],
    selector: dict[str, Any],
    version: str,
    rows: int,
) -> None:
    files = "*.csv" if version == "1.0.0" else "*.parquet"
    source = {"project": backend.project("credit"), "name": "training-data", "files": files}
    service = started(settings({"clearml": {**source, **selector}}, tmp_path))
    running.append(service)
    assert service.readiness()[0], service.readiness()[1]
    assert service.monitors["m"].profile is not None
    assert service.monitors["m"].profile.rows == rows
    assert metric(service, "drift_reference_info", source="clearml", version=version) == 1


def test_a_bad_id_fails_naming_the_id(
    backend: Backend, tmp_path: Path, running: list[DriftService]
) -> None:
    bad = uuid.uuid4().hex
    started_at = time.monotonic()
    service = started(settings({"clearml": {"dataset_id": bad}}, tmp_path))
    running.append(service)
    assert time.monotonic() - started_at < 30
    ready, detail = service.readiness()
    assert not ready
    assert detail["m"]["state"] == "failed"
    assert bad in detail["m"]["error"]
    assert metric(service, "drift_reference_load_failures_total") == 1


def test_a_missing_column_names_the_column_and_the_version(
    backend: Backend, credit: dict[str, str], tmp_path: Path, running: list[DriftService]
) -> None:
    config = settings_from_mapping(
        {
            "models": {
                "m": {
                    "reference": {
                        "clearml": {"dataset_id": credit["1.1.0"], "files": "*.parquet"},
                        "cache_dir": str(tmp_path),
                    },
                    "columns": {"numerical": ["age", "debt"]},
                }
            }
        }
    )
    service = started(config)
    running.append(service)
    error = service.readiness()[1]["m"]["error"]
    assert "'debt'" in error
    assert "version 1.1.0" in error


def test_deterministic_row_sample(
    backend: Backend, credit: dict[str, str], tmp_path: Path, running: list[DriftService]
) -> None:
    source = {"clearml": {"dataset_id": credit["1.1.0"], "files": "*.parquet"}}
    frames = []
    for run, seed in enumerate((7, 7, 8)):
        config = settings(source, tmp_path / str(run), sample_rows=100, sample_seed=seed)
        service = started(config)
        running.append(service)
        profile = service.monitors["m"].profile
        assert profile is not None
        assert profile.rows == 100
        frames.append(profile.to_frame())
    pd.testing.assert_frame_equal(frames[0], frames[1])  # same seed: the same rows
    assert not frames[0].equals(frames[2])  # another seed: another sample


def test_refresh_swaps_to_a_new_version_while_samples_flow(
    backend: Backend, tmp_path: Path, running: list[DriftService]
) -> None:
    seed_dataset(backend, "refresh", "data", {"d.csv": reference_frame(400, seed=4)}, "2.0.0")
    source = {"project": backend.project("refresh"), "name": "data"}
    service = started(settings({"clearml": source}, tmp_path, refresh_minutes=0.5 / 60))
    running.append(service)
    seen: set[tuple[str, int]] = set()
    errors: list[Exception] = []
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            try:
                service.ingest("m", {"samples": [sample(age=30.0 + i % 20) for i in range(25)]})
                report = service.latest("m")
                if report is not None:
                    seen.add((report.reference_source, report.reference_rows))
            except Exception as exc:  # collected and asserted below
                errors.append(exc)
            time.sleep(0.01)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        wait_until(lambda: any("2.0.0" in s for s, _ in seen), 20, "an evaluation on 2.0.0")
        seed_dataset(backend, "refresh", "data", {"d.csv": reference_frame(600, seed=5)}, "2.1.0")
        wait_until(lambda: any("2.1.0" in s for s, _ in seen), 30, "an evaluation on 2.1.0")
    finally:
        stop.set()
        feeder.join()
    assert errors == []
    # every evaluation saw one whole reference: 2.0.0 with 400 rows or 2.1.0 with 600
    assert {("2.0.0" in s, rows) for s, rows in seen} == {(True, 400), (False, 600)}
    assert metric(service, "drift_reference_switches_total") == 1
    assert metric(service, "drift_reference_info", source="clearml", version="2.1.0") == 1
    assert metric(service, "drift_reference_info", source="clearml", version="2.0.0") is None
    assert metric(service, "drift_evaluation_errors_total") == 0


def test_files_stored_on_s3_via_output_uri(
    backend: Backend, tmp_path: Path, running: list[DriftService]
) -> None:
    import boto3

    uri = f"s3://{backend.s3_host}/{BUCKET}/clearml"
    dataset_id = seed_dataset(
        backend, "s3-stored", "data", {"d.parquet": reference_frame(321)}, "1.0.0", output_uri=uri
    )
    client = boto3.client("s3", endpoint_url=backend.s3_endpoint, region_name="us-east-1")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert any(dataset_id in key and key.endswith(".zip") for key in keys), keys
    if backend.server is not None:
        assert not any(
            dataset_id in path and path.endswith(".zip") for path in backend.server.files
        )
    service = started(settings({"clearml": {"dataset_id": dataset_id}}, tmp_path))
    running.append(service)
    assert service.readiness()[0], service.readiness()[1]
    assert service.monitors["m"].profile is not None
    assert service.monitors["m"].profile.rows == 321


def test_unreachable_server_fails_fast_and_a_restart_serves_the_cache(
    backend: Backend, credit: dict[str, str], tmp_path: Path, running: list[DriftService]
) -> None:
    server = backend.server
    if server is None:
        pytest.skip("the live tier cannot take the real server down")
    source = {
        "clearml": {
            "project": backend.project("credit"),
            "name": "training-data",
            "files": "*.parquet",
            "timeout_seconds": 2,
            "retries": 1,
        }
    }
    first = started(settings(source, tmp_path / "cache"))
    first.stop()
    assert first.readiness()[0]
    server.stop()
    try:
        started_at = time.monotonic()
        cold = started(settings(source, tmp_path / "empty-cache"))
        running.append(cold)
        restarted = started(settings(source, tmp_path / "cache"))
        running.append(restarted)
        assert time.monotonic() - started_at < 30  # the SDK default would retry for minutes
        cold_ready, cold_detail = cold.readiness()
        assert not cold_ready
        assert "clearml" in cold_detail["m"]["error"]
        ready, detail = restarted.readiness()
        assert ready, detail
        assert detail["m"]["reference"]["cached"] is True
        assert detail["m"]["reference"]["version"] == "1.1.0"
        assert "source unavailable" in detail["m"]["warning"]
        assert metric(restarted, "drift_reference_cached") == 1
        assert metric(restarted, "drift_reference_info", source="clearml", version="1.1.0") == 1
        failures = metric(restarted, "drift_reference_load_failures_total")
        assert failures is not None
        assert failures >= 1
        assert restarted.ingest("m", {"samples": [sample()]}).accepted == 1
    finally:
        server.start()
    wait_until(lambda: metric(restarted, "drift_reference_cached") == 0, 20, "source back")
    assert restarted.readiness()[1]["m"]["reference"]["cached"] is False
