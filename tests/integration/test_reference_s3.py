"""The ``s3`` reference source against a real S3-compatible server (moto's, on 127.0.0.1)."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from drift.service.service import DriftService
from tests.conftest import reference_frame, wait_until

from .conftest import free_port
from .reference_components import (
    BUCKET,
    S3_KEY,
    S3_SECRET,
    Backend,
    require,
)
from .test_reference_clearml import metric, settings, started

pytestmark = pytest.mark.integration


@pytest.fixture
def running() -> Iterator[list[DriftService]]:
    services: list[DriftService] = []
    yield services
    for service in services:
        service.stop()


def put(endpoint: str, key: str, frame: pd.DataFrame, bucket: str = BUCKET) -> None:
    import boto3

    buffer = io.BytesIO()
    if key.endswith(".parquet"):
        frame.to_parquet(buffer, index=False)
    else:
        frame.to_csv(buffer, index=False)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def s3_source(backend: Backend, path: str, **extra: Any) -> dict[str, Any]:
    return {"s3": {"url": f"s3://{BUCKET}/{path}", "endpoint_url": backend.s3_endpoint, **extra}}


def test_one_object(backend: Backend, tmp_path: Path, running: list[DriftService]) -> None:
    key = f"{uuid.uuid4().hex}/train.parquet"
    put(backend.s3_endpoint, key, reference_frame(250))
    service = started(settings(s3_source(backend, key), tmp_path))
    running.append(service)
    ready, detail = service.readiness()
    assert ready, detail
    assert service.monitors["m"].profile is not None
    assert service.monitors["m"].profile.rows == 250
    version = detail["m"]["reference"]["version"]
    assert detail["m"]["reference"]["source"] == "s3"
    assert metric(service, "drift_reference_info", source="s3", version=version) == 1


def test_a_prefix_concatenates_the_matching_objects(
    backend: Backend, tmp_path: Path, running: list[DriftService]
) -> None:
    prefix = f"{uuid.uuid4().hex}/ref/"
    put(backend.s3_endpoint, prefix + "a.csv", reference_frame(100, seed=1))
    put(backend.s3_endpoint, prefix + "b.csv", reference_frame(150, seed=2))
    put(backend.s3_endpoint, prefix + "c.parquet", reference_frame(999, seed=3))
    service = started(settings(s3_source(backend, prefix, files="*.csv"), tmp_path))
    running.append(service)
    assert service.monitors["m"].profile is not None
    assert service.monitors["m"].profile.rows == 250


def test_a_missing_object_fails_naming_it(
    backend: Backend, tmp_path: Path, running: list[DriftService]
) -> None:
    service = started(settings(s3_source(backend, "nope/train.parquet"), tmp_path))
    running.append(service)
    ready, detail = service.readiness()
    assert not ready
    assert "s3://drift-reference/nope/train.parquet" in detail["m"]["error"]


def test_credentials_from_a_mounted_file(
    backend: Backend, tmp_path: Path, running: list[DriftService], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"{uuid.uuid4().hex}/train.csv"
    put(backend.s3_endpoint, key, reference_frame(120))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup
    without = started(settings(s3_source(backend, key), tmp_path / "a"))
    running.append(without)
    assert "credentials" in without.readiness()[1]["m"]["error"].lower()
    creds = tmp_path / "aws-credentials"
    creds.write_text(
        f"[drift]\naws_access_key_id = {S3_KEY}\naws_secret_access_key = {S3_SECRET}\n"
    )
    source = s3_source(backend, key, credentials_file=str(creds), profile="drift")
    service = started(settings(source, tmp_path / "b"))
    running.append(service)
    assert service.readiness()[0], service.readiness()[1]


def test_refresh_picks_up_a_rewritten_object(
    backend: Backend, tmp_path: Path, running: list[DriftService]
) -> None:
    key = f"{uuid.uuid4().hex}/train.parquet"
    put(backend.s3_endpoint, key, reference_frame(200, seed=1))
    config = settings(s3_source(backend, key), tmp_path, refresh_minutes=0.3 / 60)
    service = started(config)
    running.append(service)
    put(backend.s3_endpoint, key, reference_frame(300, seed=2))
    wait_until(lambda: metric(service, "drift_reference_switches_total") == 1, 20, "switch")
    assert service.monitors["m"].profile is not None
    assert service.monitors["m"].profile.rows == 300


def test_unreachable_store_fails_fast_and_a_restart_serves_the_cache(
    reference_backend: Backend, tmp_path: Path, running: list[DriftService]
) -> None:
    import boto3

    moto_server = require("moto.server", "dev")
    port = free_port()
    store = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    store.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="ref")
    put(endpoint, "train.parquet", reference_frame(222), bucket="ref")
    source = {
        "s3": {
            "url": "s3://ref/train.parquet",
            "endpoint_url": endpoint,
            "timeout_seconds": 1,
            "retries": 1,
        }
    }
    first = started(settings(source, tmp_path / "cache"))
    first.stop()
    assert first.readiness()[0]
    store.stop()
    started_at = time.monotonic()
    cold = started(settings(source, tmp_path / "empty"))
    running.append(cold)
    restarted = started(settings(source, tmp_path / "cache"))
    running.append(restarted)
    assert time.monotonic() - started_at < 20
    assert not cold.readiness()[0]
    ready, detail = restarted.readiness()
    assert ready, detail
    assert detail["m"]["reference"]["cached"] is True
    assert metric(restarted, "drift_reference_cached") == 1
    assert restarted.monitors["m"].profile is not None
    assert restarted.monitors["m"].profile.rows == 222
