"""HTTP API: good batches, each kind of bad input (with its error body), unknown model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from drift.config import Settings, settings_from_mapping
from drift.service.app import create_app
from drift.service.service import DriftService
from tests.conftest import reference_frame, sample, wait_until

URL = "/v1/models/credit-scoring/samples"


def rejected(service: DriftService, reason: str) -> float:
    value = service.registry.get_sample_value(
        "drift_samples_rejected_total", {"model": "credit-scoring", "reason": reason}
    )
    assert value is not None
    return value


def request_rejected(service: DriftService, reason: str) -> float:
    value = service.registry.get_sample_value("drift_requests_rejected_total", {"reason": reason})
    assert value is not None
    return value


def test_good_batch_is_accepted_and_counted(client: TestClient, service: DriftService) -> None:
    response = client.post(URL, json={"samples": [sample(), sample(age=50, city="rome")]})
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "rejected": []}
    assert (
        service.registry.get_sample_value("drift_samples_total", {"model": "credit-scoring"}) == 2
    )
    assert service.monitors["credit-scoring"].window_samples == 2


def test_null_values_are_missing_values_not_errors(
    client: TestClient, service: DriftService
) -> None:
    body = {
        "samples": [{"features": {"age": None, "income": 1.0, "city": None}, "prediction": None}]
    }
    response = client.post(URL, json=body)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


def test_bad_samples_are_listed_and_good_neighbours_kept(
    client: TestClient, service: DriftService
) -> None:
    samples = [
        sample(age=30),
        {"features": {"income": 1.0, "city": "rome"}, "prediction": 0.1},  # age missing
        {"features": {"age": "old", "income": 1.0, "city": "rome"}, "prediction": 0.1},
        {"features": {"age": 1, "income": 1.0, "city": "rome"}},  # prediction missing
        {"features": {"age": 1, "income": 1.0, "city": ["rome"]}, "prediction": 0.1},
        "not an object",
        sample(age=31),
        {
            "features": {"age": 1, "income": 1.0, "city": "x"},
            "prediction": 0.1,
            "timestamp": "yesterday",
        },
        {"features": {"age": True, "income": 1.0, "city": "x"}, "prediction": 0.1},
    ]
    response = client.post(URL, json={"samples": samples})
    assert response.status_code == 422
    body = response.json()
    assert body["accepted"] == 2
    by_index = {r["index"]: r for r in body["rejected"]}
    assert sorted(by_index) == [1, 2, 3, 4, 5, 7, 8]
    assert by_index[1]["field"] == "features.age"
    assert by_index[1]["reason"] == "missing_field"
    assert by_index[2]["field"] == "features.age"
    assert by_index[2]["reason"] == "wrong_type"
    assert "number" in by_index[2]["detail"]
    assert by_index[3] | {"detail": ""} == {
        "index": 3,
        "field": "prediction",
        "reason": "missing_field",
        "detail": "",
    }
    assert by_index[4]["field"] == "features.city"
    assert by_index[4]["reason"] == "wrong_type"
    assert by_index[5]["reason"] == "wrong_type"
    assert by_index[7]["field"] == "timestamp"
    assert by_index[7]["reason"] == "invalid_value"
    assert by_index[8]["field"] == "features.age"  # a bool is not a number
    assert service.monitors["credit-scoring"].window_samples == 2
    assert rejected(service, "missing_field") == 2
    assert rejected(service, "wrong_type") == 4
    assert rejected(service, "invalid_value") == 1


def test_unknown_model_is_404(client: TestClient, service: DriftService) -> None:
    response = client.post("/v1/models/nope/samples", json={"samples": [sample()]})
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_model"
    assert response.json()["model"] == "nope"
    assert client.get("/v1/models/nope/drift").status_code == 404
    assert request_rejected(service, "unknown_model") == 2


def test_invalid_json_is_400(client: TestClient, service: DriftService) -> None:
    response = client.post(URL, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    assert request_rejected(service, "invalid_json") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([1, 2], "(body)"),
        ({"rows": []}, "samples"),
        ({"samples": {"a": 1}}, "samples"),
    ],
)
def test_wrong_body_shape_is_422_naming_the_field(
    client: TestClient, body: object, field: str
) -> None:
    response = client.post(URL, json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_body"
    assert response.json()["field"] == field


def test_body_over_the_limit_is_413(client: TestClient, service: DriftService) -> None:
    big = {"samples": [sample() for _ in range(900)], "padding": "x" * 200_000}
    response = client.post(URL, json=big)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert service.monitors["credit-scoring"].window_samples == 0


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no content-length: the limit applies while reading
        yield b'{"samples": ['
        for _ in range(3000):
            yield json.dumps(sample()).encode() + b","
        yield b"{}]}"

    response = client.post(URL, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_too_many_samples_is_413(client: TestClient) -> None:
    response = client.post(URL, json={"samples": [{}] * 1001})
    assert response.status_code == 413
    assert response.json()["error"] == "too_many_samples"


def test_drift_result_appears_after_the_first_step(
    client: TestClient, service: DriftService
) -> None:
    missing = client.get("/v1/models/credit-scoring/drift")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no_result"
    rng = np.random.default_rng(3)
    samples = [
        sample(age=float(a), income=float(i), city=str(c), score=float(s))
        for a, i, c, s in zip(
            rng.normal(40, 10, 60).round(),
            rng.lognormal(10, 0.5, 60),
            rng.choice(["berlin", "paris", "rome"], 60),
            rng.random(60),
            strict=True,
        )
    ]
    assert client.post(URL, json={"samples": samples}).status_code == 200
    wait_until(
        lambda: service.monitors["credit-scoring"].latest is not None, what="first evaluation"
    )
    body = client.get("/v1/models/credit-scoring/drift").json()
    assert body["model"] == "credit-scoring"
    assert body["status"] == "ok"
    assert body["window"] == {
        "samples": 60,
        "size": 200,
        "samples_seen": 60,
        "seconds": None,
        "min_samples": 50,
    }
    assert set(body["columns"]) == {"age", "income", "city"}
    assert body["columns"]["age"]["method"] == "ks"
    assert body["columns"]["city"]["method"] == "chisquare"
    assert body["prediction"]["column"] == "score"
    assert body["dataset"]["share_threshold"] == 0.5
    assert body["dataset"]["drifted"] is False
    for column in body["columns"].values():
        assert 0.0 <= column["score"] <= 1.0
        assert column["drifted"] == (
            column["score"] <= column["threshold"]
            if column["method"] == "ks"
            else column["score"] < column["threshold"]
        )


def test_drifted_traffic_sets_dataset_drift(client: TestClient, service: DriftService) -> None:
    samples = [
        sample(age=80.0 + i % 7, income=900_000.0 + i, city="oslo", score=0.99) for i in range(200)
    ]
    assert client.post(URL, json={"samples": samples}).status_code == 200
    wait_until(
        lambda: (
            (r := service.monitors["credit-scoring"].latest) is not None and r.window_samples == 200
        ),
        what="evaluation of the full window",
    )
    body = client.get("/v1/models/credit-scoring/drift").json()
    assert body["dataset"]["drifted"] is True
    assert body["dataset"]["drift_share"] == 1.0
    assert body["prediction"]["drifted"] is True


def test_metrics_endpoint_exposes_the_contract(client: TestClient, service: DriftService) -> None:
    client.post(URL, json={"samples": [sample(age=float(i)) for i in range(60)]})
    wait_until(lambda: service.monitors["credit-scoring"].latest is not None, what="evaluation")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in (
        "drift_column_score",
        "drift_column_detected",
        "drift_dataset_share",
        "drift_dataset_detected",
        "drift_prediction_score",
        "drift_prediction_detected",
        "drift_samples",
        "drift_samples_rejected",
        "drift_window_samples",
        "drift_reference_rows",
        "drift_evaluation_seconds",
    ):
        assert name in families, name
    score_labels = {tuple(sorted(s.labels)) for s in families["drift_column_score"].samples}
    assert score_labels == {("column", "method", "model")}
    rows = [s.value for s in families["drift_reference_rows"].samples]
    assert rows == [800.0]
    evals = service.registry.get_sample_value(
        "drift_evaluation_seconds_count", {"model": "credit-scoring"}
    )
    assert evals is not None
    assert evals >= 1


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["models"]["credit-scoring"]["state"] == "ready"


def test_missing_reference_is_not_ready_and_ingestion_503(tmp_path: Path) -> None:
    settings: Settings = settings_from_mapping(
        {"models": {"m": {"reference": {"path": str(tmp_path / "missing.csv")}}}}
    )
    service = DriftService(settings)
    service.start(load_in_background=False)
    try:
        with TestClient(create_app(service, manage_lifecycle=False)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert "file not found" in ready.json()["models"]["m"]["error"]
            response = client.post("/v1/models/m/samples", json={"samples": []})
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            failures = service.registry.get_sample_value(
                "drift_reference_load_failures_total", {"model": "m"}
            )
            assert failures == 1
    finally:
        service.stop()


def test_a_failed_reference_load_is_retried(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    settings = settings_from_mapping(
        {"models": {"m": {"reference": {"path": str(path), "retry_seconds": 0.05}}}}
    )
    service = DriftService(settings)
    service.start()
    try:
        wait_until(lambda: service.monitors["m"].error is not None, what="first failed load")
        assert service.readiness()[0] is False
        reference_frame().to_csv(path, index=False)  # the file appears after start
        wait_until(lambda: service.readiness()[0], what="reference loaded on retry")
        failures = service.registry.get_sample_value(
            "drift_reference_load_failures_total", {"model": "m"}
        )
        assert failures is not None
        assert failures >= 1
    finally:
        service.stop()


def test_labels_that_are_not_json_are_a_counted_400(
    client: TestClient, service: DriftService
) -> None:
    labels = "/v1/models/credit-scoring/labels"
    response = client.post(labels, content=b"{", headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_json")
    response = client.post(labels, json={"labels": 3})
    assert (response.status_code, response.json()["error"]) == (422, "invalid_body")
    assert request_rejected(service, "invalid_json") == 1
    assert request_rejected(service, "invalid_body") == 1


def test_a_body_that_is_not_said_to_be_json_is_415(
    client: TestClient, service: DriftService
) -> None:
    response = client.post(URL, content=json.dumps({"samples": [sample()]}).encode())
    assert response.status_code == 415
    assert response.json()["field"] == "content-type"
    assert request_rejected(service, "unsupported_media_type") == 1
    assert service.monitors["credit-scoring"].window_samples == 0


def test_a_large_batch_is_handled_off_the_loop_in_chunks_with_the_same_answer(
    settings: Settings,
) -> None:
    """10,000 samples (over ``jsonbody.SLICE_BYTES`` and ``INLINE_ITEMS``): decoded in slices
    and ingested 4,096 at a time in a worker thread; rejections keep their batch index."""
    server = settings.server.model_copy(
        update={"max_body_bytes": 10 * 1024 * 1024, "max_samples_per_request": 20_000}
    )
    svc = DriftService(settings.model_copy(update={"server": server}))
    svc.start(load_in_background=False)
    try:
        with TestClient(create_app(svc, manage_lifecycle=False)) as api:
            samples: list[object] = [sample(age=float(i % 90)) for i in range(10_000)]
            samples[5000] = {"features": {"income": 1.0, "city": "rome"}, "prediction": 0.1}
            samples[9999] = "not an object"
            response = api.post(URL, json={"samples": samples})
            assert response.status_code == 422
            body = response.json()
            assert body["accepted"] == 9998
            assert [(r["index"], r["field"]) for r in body["rejected"]] == [
                (5000, "features.age"),
                (9999, "(sample)"),
            ]
            total = svc.registry.get_sample_value(
                "drift_samples_total", {"model": "credit-scoring"}
            )
            assert total == 9998
            assert api.get("/healthz").status_code == 200
    finally:
        svc.stop()
