"""Secrets and paths never leave the process: an S3 endpoint with credentials in its URL and
a local reference path stay out of /readyz, 503 bodies, /drift, and (for secrets) logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from drift.config import settings_from_mapping
from drift.service.app import create_app
from drift.service.service import DriftService
from tests.conftest import reference_frame, wait_until

SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYzz"


def test_s3_endpoint_credentials_stay_out_of_responses_and_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAOTHER")  # so that boto3 tries to connect
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "other-secret-from-env")
    endpoint = f"http://AKIAEXAMPLE:{SECRET}@127.0.0.1:1"  # nothing listens on port 1
    s3 = {"url": "s3://bucket/ref.csv", "endpoint_url": endpoint, "retries": 0}
    settings = settings_from_mapping(
        {"models": {"m": {"reference": {"s3": s3, "cache_dir": "/nonexistent/cache"}}}}
    )
    service = DriftService(settings)
    with TestClient(create_app(service)) as client:
        wait_until(lambda: service.readiness()[1]["m"].get("error") is not None, 20, "a failure")
        ready = client.get("/readyz")
        posted = client.post("/v1/models/m/samples", json={"samples": [{"features": {}}]})
    assert ready.status_code == 503
    assert posted.status_code == 503  # not ready, with the reason
    for body in (ready.text, posted.text):
        assert SECRET not in body
        assert "AKIAEXAMPLE" not in body
        assert "other-secret-from-env" not in body
    assert ready.json()["models"]["m"]["error"].startswith("reference s3://bucket/ref.csv: ")
    assert "127.0.0.1:1" in caplog.text  # the log names the endpoint ...
    assert SECRET not in caplog.text  # ... without its credentials


def test_a_file_reference_is_named_by_kind_and_version(tmp_path: Path) -> None:
    path = tmp_path / "secret-project" / "ref.csv"
    path.parent.mkdir()
    reference_frame(300).to_csv(path, index=False)
    cfg = {
        "reference": {"path": str(path)},
        "columns": {"prediction": "score"},
        "window": {"size": 100, "step": 50},
    }
    service = DriftService(settings_from_mapping({"models": {"m": cfg}}))
    with TestClient(create_app(service)) as client:
        wait_until(lambda: service.readiness()[0], 20, "the reference to load")
        frame = reference_frame(100, seed=3)
        samples = [
            {"features": {k: v for k, v in row.items() if k != "score"}, "prediction": row["score"]}
            for row in frame.to_dict("records")
        ]
        assert client.post("/v1/models/m/samples", json={"samples": samples}).status_code == 200
        wait_until(lambda: client.get("/v1/models/m/drift").status_code == 200, 20, "a verdict")
        ready = client.get("/readyz").json()
        drift = client.get("/v1/models/m/drift").json()
    reference = ready["models"]["m"]["reference"]
    assert reference["source"] == "file"
    assert "secret-project" not in str(ready)
    assert drift["reference"]["source"] == f"file {reference['version']}"
    assert "secret-project" not in str(drift)
