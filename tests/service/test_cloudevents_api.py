"""CloudEvents through the real app: the fixtures' exact headers and bodies posted to ``POST /``
and ``POST /v1/cloudevents``, then the windows, ``GET /v1/models/{model}/drift`` and ``/metrics``.
The collector alone (``CloudEventsIngest``, with a fake clock) for expiry and eviction."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

from drift.config import Settings, settings_from_mapping
from drift.ingest.cloudevents import binary_attributes
from drift.service.app import create_app
from drift.service.cloudevents import CloudEventsIngest
from drift.service.service import DriftService
from tests.components import missing_component
from tests.conftest import wait_until
from tests.ingest.test_cloudevents import IRIS, load_fixture

FEATURES = list(IRIS)


def iris_reference(rows: int = 300, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "sepal_length": rng.normal(5.8, 0.8, rows).round(1),
            "sepal_width": rng.normal(3.0, 0.4, rows).round(1),
            "petal_length": rng.normal(3.8, 1.7, rows).round(1),
            "petal_width": rng.normal(1.2, 0.7, rows).round(1),
            "species": rng.choice([0, 1, 2], rows),
            "proba": rng.random(rows),
        }
    )


def columns(prediction: str | None, kind: str = "numerical") -> dict[str, Any]:
    cols: dict[str, Any] = {"numerical": FEATURES, "categorical": []}
    if prediction is not None:
        cols |= {"prediction": prediction, "prediction_type": kind}
    return cols


def model(path: Path, prediction: str | None, kind: str, **collector: Any) -> dict[str, Any]:
    return {
        "reference": {"path": str(path)},
        "columns": columns(prediction, kind),
        "window": {"size": 100, "step": 2},
        **collector,
    }


def iris_settings(path: Path, **cloudevents: Any) -> Settings:
    return settings_from_mapping(
        {
            "server": {"max_body_bytes": 20_000},
            "cloudevents": cloudevents,
            "models": {
                # the example config, unchanged
                "iris": model(
                    path,
                    "species",
                    "categorical",
                    kserve={"inference_service": "sklearn-iris", "features": FEATURES},
                ),
                "iris-v2": model(
                    path,
                    "species",
                    "categorical",
                    kserve={
                        "inference_service": "sklearn-v2-iris",
                        "namespace": "kserve-test",
                        "features": FEATURES,
                    },
                ),
                "iris-columns": model(path, "species", "categorical", kserve={"output": "predict"}),
                "iris-proba": model(
                    path,
                    "proba",
                    "numerical",
                    seldon={
                        "deployment": "iris",
                        "model_id": "classifier",
                        "features": FEATURES,
                        "output": "t:2",
                    },
                ),
                "iris-features-only": model(
                    path,
                    None,
                    "numerical",
                    kserve={"inference_service": "iris-np", "features": FEATURES},
                ),
            },
        }
    )


@pytest.fixture
def api(iris_service: DriftService) -> Iterator[TestClient]:
    with TestClient(create_app(iris_service, manage_lifecycle=False)) as test_client:
        yield test_client


def post(
    client: TestClient, fixture: str, path: str = "/", settle: bool = True, **override: str
) -> list[Any]:
    """Post every event of a fixture; returns the responses. ``settle``: then ingest the queued
    samples at once instead of waiting for the route's flush timer."""
    replies = []
    for headers, body in load_fixture(fixture):
        headers = {k: v for k, v in headers.items() if k not in ("host", "content-length")}
        replies.append(client.post(path, content=body, headers=headers | override))
    if settle:
        flush(client)
    return replies


def flush(client: TestClient) -> None:
    ingest: CloudEventsIngest = client.app.state.cloudevents  # type: ignore[attr-defined]
    ingest.flush()


def rejected(svc: DriftService, reason: str) -> float:
    value = svc.registry.get_sample_value("drift_requests_rejected_total", {"reason": reason})
    return 0.0 if value is None else value


def raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def events(svc: DriftService, source: str, outcome: str) -> float:
    value = svc.registry.get_sample_value(
        "drift_cloudevents_total", {"source": source, "outcome": outcome}
    )
    return 0.0 if value is None else value


def expired(svc: DriftService, source: str, half: str) -> float:
    value = svc.registry.get_sample_value(
        "drift_cloudevents_expired_total", {"source": source, "half": half}
    )
    return 0.0 if value is None else value


def window(svc: DriftService, name: str) -> pd.DataFrame:
    return svc.monitors[name].window_frame()


# KServe -------------------------------------------------------------------------------------


def test_kserve_v1_pair_becomes_two_samples_and_an_evaluation(
    api: TestClient, iris_service: DriftService
) -> None:
    request, response = post(api, "kserve_v1_two_instances.json", settle=False)
    assert request.status_code == 200
    assert request.json() == {"outcome": "waiting", "model": "iris"}
    assert response.status_code == 200
    assert response.json() == {"outcome": "paired", "model": "iris", "samples": 2}
    # the samples are ingested in batches, at the latest FLUSH_SECONDS after the pair
    wait_until(lambda: iris_service.monitors["iris"].window_samples == 2, what="the flush")
    frame = window(iris_service, "iris")
    assert frame["sepal_length"].tolist() == [6.8, 6.0]
    assert frame["petal_width"].tolist() == [1.4, 1.6]
    assert frame["species"].tolist() == ["1", "1"]
    wait_until(lambda: api.get("/v1/models/iris/drift").status_code == 200, what="an evaluation")
    assert api.get("/v1/models/iris/drift").json()["window"]["samples"] == 2
    assert events(iris_service, "kserve", "waiting") == 1
    assert events(iris_service, "kserve", "paired") == 1
    assert iris_service.registry.get_sample_value("drift_samples_total", {"model": "iris"}) == 2
    assert iris_service.registry.get_sample_value("drift_cloudevents_pending") == 0


def test_the_second_route_takes_the_same_events(
    api: TestClient, iris_service: DriftService
) -> None:
    replies = post(api, "kserve_v1_two_instances.json", path="/v1/cloudevents")
    assert [r.json()["outcome"] for r in replies] == ["waiting", "paired"]
    assert iris_service.monitors["iris"].window_samples == 2


def test_a_response_before_its_request_pairs_and_keeps_the_clients_id(
    api: TestClient, iris_service: DriftService
) -> None:
    response, request = post(api, "kserve_v1_response_first.json")
    assert response.json()["outcome"] == "waiting"
    assert request.json()["outcome"] == "paired"
    frame = window(iris_service, "iris")
    assert frame["species"].tolist() == ["2"]
    assert iris_service.monitors["iris"].window_samples == 1
    # the client's Ce-Id is the sample id: delayed labels join on it
    labels = api.post("/v1/models/iris/labels", json={"labels": [{"id": "order-7731", "label": 2}]})
    assert labels.json()["matched"] == 1


def test_a_request_without_response_expires_and_is_counted(iris_csv: Path) -> None:
    svc = DriftService(iris_settings(iris_csv, pending_seconds=0.05))
    svc.start(load_in_background=False)
    try:
        with TestClient(create_app(svc, manage_lifecycle=False)) as client:
            [reply] = post(client, "kserve_v1_missing_response.json")
            assert reply.json()["outcome"] == "waiting"
            assert svc.registry.get_sample_value("drift_cloudevents_pending") == 1
            time.sleep(0.1)
            metrics = client.get("/metrics").text  # a scrape sweeps the table
            assert 'drift_cloudevents_expired_total{half="request",source="kserve"} 1.0' in metrics
            assert "drift_cloudevents_pending 0.0" in metrics
            assert expired(svc, "kserve", "response") == 0
            assert svc.monitors["iris"].window_samples == 0
    finally:
        svc.stop()


def test_a_response_reporting_an_error_status_drops_the_pair(
    api: TestClient, iris_service: DriftService
) -> None:
    request, response = post(api, "kserve_v1_error_status.json")
    assert request.json()["outcome"] == "waiting"
    assert response.status_code == 202
    assert response.json()["outcome"] == "error_response"
    assert iris_service.monitors["iris"].window_samples == 0
    assert events(iris_service, "kserve", "error_response") == 1
    # the other order: the error response waits, the request then drops the pair
    (h_req, b_req), (h_resp, b_resp) = load_fixture("kserve_v1_error_status.json")
    h_req, h_resp = h_req | {"ce-id": "other"}, h_resp | {"ce-id": "other"}
    assert api.post("/", content=b_resp, headers=h_resp).json()["outcome"] == "waiting"
    assert api.post("/", content=b_req, headers=h_req).status_code == 202
    assert events(iris_service, "kserve", "error_response") == 2
    assert iris_service.registry.get_sample_value("drift_cloudevents_pending") == 0


@pytest.mark.parametrize(
    ("fixture", "name", "first"),
    [
        ("kserve_v2_nested.json", "iris-v2", [6.8, 2.8, 4.8, 1.4]),
        ("kserve_v2_flat.json", "iris-v2", [5.1, 3.5, 1.4, 0.2]),
        ("kserve_v2_tensor_per_feature.json", "iris-columns", [6.8, 2.8, 4.8, 1.4]),
    ],
)
def test_kserve_v2_tensors(
    api: TestClient, iris_service: DriftService, fixture: str, name: str, first: list[float]
) -> None:
    replies = post(api, fixture)
    assert [r.status_code for r in replies] == [200, 200]
    assert replies[1].json()["model"] == name
    frame = window(iris_service, name)
    assert frame[FEATURES].iloc[0].tolist() == first
    assert set(frame["species"]) <= {"0", "1", "2"}


def test_a_model_without_prediction_column_gets_only_features(
    api: TestClient, iris_service: DriftService
) -> None:
    replies = post(api, "kserve_v1_two_instances.json", **{"ce-inferenceservicename": "iris-np"})
    assert replies[1].json() == {"outcome": "paired", "model": "iris-features-only", "samples": 2}
    assert window(iris_service, "iris-features-only").shape[0] == 2


def test_structured_and_batch_modes(api: TestClient, iris_service: DriftService) -> None:
    replies = post(api, "structured_mode.json")
    assert [r.json()["outcome"] for r in replies] == ["waiting", "paired"]
    [batch] = post(api, "batch_mode.json", path="/v1/cloudevents")
    assert batch.status_code == 200
    outcomes = [e["outcome"] for e in batch.json()["events"]]
    assert outcomes == ["waiting", "invalid", "paired"]
    assert batch.json()["events"][1]["field"] == "[1].id"
    assert iris_service.monitors["iris"].window_samples == 3
    assert events(iris_service, "unknown", "invalid") == 1


# Seldon -------------------------------------------------------------------------------------


def test_seldon_pair_and_feedback_labels(api: TestClient, iris_service: DriftService) -> None:
    replies = post(api, "seldon_ndarray.json")
    assert [r.json()["outcome"] for r in replies] == ["waiting", "paired"]
    frame = window(iris_service, "iris-proba")
    assert frame["sepal_length"].tolist() == [6.8, 6.1]
    assert frame["proba"].tolist() == [0.9956334415074478, 0.9927921558290118]
    [feedback] = post(api, "seldon_feedback.json")
    assert feedback.status_code == 200
    assert feedback.json() == {
        "outcome": "labels",
        "model": "iris-proba",
        "accepted": 2,
        "rejected": 0,
    }
    assert events(iris_service, "seldon", "labels") == 1


def test_seldon_events_of_other_graph_nodes_are_ignored(
    api: TestClient, iris_service: DriftService
) -> None:
    replies = post(api, "seldon_tensor.json")
    assert [r.json()["outcome"] for r in replies] == ["ignored", "waiting", "paired"]
    assert [r.status_code for r in replies] == [202, 200, 200]
    assert window(iris_service, "iris-proba")["proba"].tolist() == [0.79]


# what is refused or dropped -----------------------------------------------------------------


def test_an_event_no_model_takes_is_accepted_and_counted(
    api: TestClient, iris_service: DriftService
) -> None:
    replies = post(api, "kserve_v1_two_instances.json", **{"ce-inferenceservicename": "other"})
    assert [r.status_code for r in replies] == [202, 202]
    assert replies[0].json()["outcome"] == "unroutable"
    assert "'other'" in replies[0].json()["detail"]
    assert events(iris_service, "kserve", "unroutable") == 2
    # iris-v2 takes events of namespace kserve-test only
    wrong_ns = post(api, "kserve_v2_nested.json", **{"ce-namespace": "prod"})
    assert wrong_ns[0].json()["outcome"] == "unroutable"


def test_malformed_events_are_400_naming_the_header(
    api: TestClient, iris_service: DriftService
) -> None:
    (headers, body), _ = load_fixture("kserve_v1_two_instances.json")
    no_id = {k: v for k, v in headers.items() if k != "ce-id"}
    reply = api.post("/", content=body, headers=no_id)
    assert reply.status_code == 400
    assert reply.json()["field"] == "ce-id"
    reply = api.post("/", content=b"{not json", headers=headers)
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_json"
    reply = api.post("/", content=b"{}", headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["field"] == "ce-specversion"
    assert events(iris_service, "kserve", "invalid") == 2
    assert events(iris_service, "unknown", "invalid") == 1
    # refused as a whole: counted with the other routes' refusals too
    assert rejected(iris_service, "invalid_event") == 2
    assert rejected(iris_service, "invalid_json") == 1


def test_a_payload_that_does_not_match_the_mapping_is_422(
    api: TestClient, iris_service: DriftService
) -> None:
    (headers, _), _ = load_fixture("kserve_v1_two_instances.json")
    reply = api.post("/", content=b'{"instances": [[1.0, 2.0, 3.0]]}', headers=headers)
    assert reply.status_code == 422
    assert reply.json()["field"] == "instances[0]"
    assert events(iris_service, "kserve", "undecodable") == 1


def test_bad_sample_values_are_counted_as_sample_rejections(
    api: TestClient, iris_service: DriftService
) -> None:
    (h_req, _), (h_resp, b_resp) = load_fixture("kserve_v1_two_instances.json")
    api.post(
        "/", content=b'{"instances": [[6.8, "x", 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}', headers=h_req
    )
    reply = api.post("/", content=b_resp, headers=h_resp)
    assert reply.status_code == 200
    assert reply.json()["outcome"] == "paired"
    flush(api)
    assert iris_service.monitors["iris"].window_samples == 1
    rejected = iris_service.registry.get_sample_value(
        "drift_samples_rejected_total", {"model": "iris", "reason": "wrong_type"}
    )
    assert rejected == 1


def test_duplicates_and_other_types(api: TestClient, iris_service: DriftService) -> None:
    (headers, body), _ = load_fixture("kserve_v1_two_instances.json")
    assert api.post("/", content=body, headers=headers).json()["outcome"] == "waiting"
    again = api.post("/", content=body, headers=headers)
    assert (again.status_code, again.json()["outcome"]) == (202, "duplicate")
    outlier = headers | {"ce-type": "org.kubeflow.serving.inference.outlier"}
    assert api.post("/", content=b"{}", headers=outlier).json()["outcome"] == "ignored"


def test_a_body_over_the_limit_is_413(api: TestClient, iris_service: DriftService) -> None:
    (headers, _), _ = load_fixture("kserve_v1_two_instances.json")
    big = b'{"instances": [' + b"[1.0, 2.0, 3.0, 4.0]," * 2000 + b"[1, 2, 3, 4]]}"
    reply = api.post("/", content=big, headers=headers)
    assert reply.status_code == 413
    assert reply.json()["error"] == "body_too_large"
    assert events(iris_service, "kserve", "too_large") == 1
    assert rejected(iris_service, "body_too_large") == 1


def test_other_methods_are_405_and_other_routes_still_work(api: TestClient) -> None:
    reply = api.get("/v1/cloudevents")
    assert reply.status_code == 405
    assert reply.headers["allow"] == "POST"
    assert api.get("/healthz").json() == {"status": "ok"}


def test_a_model_that_is_not_ready_drops_the_event(iris_csv: Path) -> None:
    svc = DriftService(iris_settings(iris_csv))  # not started: no reference loaded
    ingest = CloudEventsIngest(svc)
    headers, body = load_fixture("kserve_v1_two_instances.json")[0]
    reply = ingest.handle(headers, body)
    assert (reply.status, reply.body["outcome"]) == (202, "not_ready")


# the collector alone ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_expired_halves_are_counted_per_half(iris_service: DriftService) -> None:
    clock = Clock()
    ingest = CloudEventsIngest(iris_service, clock)
    (h_req, b_req), (h_resp, b_resp) = load_fixture("kserve_v1_two_instances.json")
    ingest.handle(h_req, b_req)
    ingest.handle(h_resp | {"ce-id": "lonely-response"}, b_resp)
    assert ingest.pending == 2
    clock.now += 29.9
    assert ingest.sweep() == 0
    clock.now += 0.2
    assert ingest.sweep() == 2
    assert expired(iris_service, "kserve", "request") == 1
    assert expired(iris_service, "kserve", "response") == 1
    assert ingest.handle(h_resp, b_resp).body["outcome"] == "waiting"  # its request is gone


def test_a_full_table_evicts_the_oldest_and_counts_it(iris_csv: Path) -> None:
    svc = DriftService(iris_settings(iris_csv, max_pending=2))
    svc.start(load_in_background=False)
    try:
        ingest = CloudEventsIngest(svc)
        headers, body = load_fixture("kserve_v1_two_instances.json")[0]
        for i in range(3):
            ingest.handle(headers | {"ce-id": f"r{i}"}, body)
        assert ingest.pending == 2
        labels = {"source": "kserve", "half": "request"}
        assert svc.registry.get_sample_value("drift_cloudevents_evicted_total", labels) == 1
        assert svc.registry.get_sample_value("drift_cloudevents_expired_total", labels) == 1
    finally:
        svc.stop()


def test_counters_start_at_zero_for_the_configured_senders(iris_service: DriftService) -> None:
    CloudEventsIngest(iris_service)
    assert events(iris_service, "kserve", "paired") == 0
    assert (
        iris_service.registry.get_sample_value(
            "drift_cloudevents_total", {"source": "seldon", "outcome": "expired"}
        )
        is None
    )  # not an outcome: expiry has its own counter
    assert (
        iris_service.registry.get_sample_value(
            "drift_cloudevents_expired_total", {"source": "seldon", "half": "response"}
        )
        == 0
    )


def test_a_full_batch_is_ingested_at_once_and_a_pair_over_the_limit_is_413(
    iris_csv: Path,
) -> None:
    settings = iris_settings(iris_csv)
    server = settings.server.model_copy(update={"max_samples_per_request": 2})
    svc = DriftService(settings.model_copy(update={"server": server}))
    svc.start(load_in_background=False)
    try:
        ingest = CloudEventsIngest(svc)
        (h_req, b_req), (h_resp, b_resp) = load_fixture("kserve_v1_two_instances.json")
        ingest.handle(h_req, b_req)
        assert ingest.handle(h_resp, b_resp).body["outcome"] == "paired"
        assert ingest.queued == 0  # two samples: a full batch, ingested without a flush
        assert svc.monitors["iris"].window_samples == 2
        (h_req, b_req), (h_resp, b_resp) = load_fixture("kserve_v2_flat.json")  # 3 instances
        ingest.handle(h_req, b_req)
        reply = ingest.handle_request(*binary_attributes(raw(h_resp)), b_resp)
        assert (reply.status, reply.body["outcome"]) == (413, "too_large")
        assert reply.body["error"] == "too_many_samples"
        assert rejected(svc, "too_many_samples") == 1
        assert ingest.flush() == 0
    finally:
        svc.stop()


def test_two_apps_around_one_service_share_the_collector(iris_service: DriftService) -> None:
    first, second = create_app(iris_service), create_app(iris_service)
    assert first.state.cloudevents is second.state.cloudevents


def test_a_streamed_body_is_read_in_pieces_and_still_limited(
    api: TestClient, iris_service: DriftService
) -> None:
    (headers, body), _ = load_fixture("kserve_v1_two_instances.json")
    headers = {k: v for k, v in headers.items() if k != "content-length"}

    def pieces(data: bytes, size: int) -> Iterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    reply = api.post("/", content=pieces(body, 7), headers=headers)
    assert reply.json()["outcome"] == "waiting"
    big = b'{"instances": [' + b"[1.0, 2.0, 3.0, 4.0]," * 2000 + b"[1, 2, 3, 4]]}"
    reply = api.post("/", content=pieces(big, 1000), headers=headers | {"ce-id": "big"})
    assert reply.status_code == 413
    assert reply.json()["error"] == "body_too_large"


# the example manifests --------------------------------------------------------------------

OVERLAYS = Path(__file__).resolve().parents[2] / "deploy" / "kustomize" / "overlays"


def manifest(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sidecar config and the model server resource of a Kustomize overlay
    (``<overlay>/<resource file>``; the overlay's config.yaml is its sidecar config)."""
    overlay, resource = name.split("/")
    config = yaml.safe_load((OVERLAYS / overlay / "config.yaml").read_text(encoding="utf-8"))
    server = yaml.safe_load((OVERLAYS / overlay / resource).read_text(encoding="utf-8"))
    return config, server


@pytest.mark.parametrize(
    ("name", "fixtures", "model", "samples"),
    [
        ("kserve/inferenceservice.yaml", ["kserve_v1_two_instances.json"], "iris", 2),
        (
            "seldon/seldondeployment.yaml",
            ["seldon_ndarray.json", "seldon_feedback.json"],
            "iris",
            2,
        ),
    ],
)
def test_the_example_manifests_monitor_what_their_logger_sends(
    iris_csv: Path, name: str, fixtures: list[str], model: str, samples: int
) -> None:
    config, server = manifest(name)
    config.pop("state", None)  # the overlays keep state on a volume; not needed here
    for cfg in config["models"].values():
        cfg["reference"] = {"path": str(iris_csv)}  # the mounted reference, here
    svc = DriftService(settings_from_mapping(config))
    svc.start(load_in_background=False)
    try:
        with TestClient(create_app(svc, manage_lifecycle=False)) as client:
            for fixture in fixtures:
                replies = post(client, fixture)
                assert all(r.status_code == 200 for r in replies), [r.json() for r in replies]
            assert svc.monitors[model].window_samples == samples
    finally:
        svc.stop()
    spec = server["spec"]
    logger = (
        spec["predictor"]["logger"]
        if server["kind"] == "InferenceService"
        else spec["predictors"][0]["graph"]["logger"]
    )
    assert logger["mode"] == "all"
    assert logger["url"] == f"http://localhost:{config['server']['port']}/v1/cloudevents"


def test_the_example_manifests_pass_yamllint() -> None:
    if importlib.util.find_spec("yamllint") is None:
        missing_component("yamllint is not installed (pip install -e '.[dev]')")
    files = [str(p) for o in ("kserve", "seldon") for p in sorted((OVERLAYS / o).glob("*.yaml"))]
    config = "{extends: default, rules: {line-length: {max: 100}}}"
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "-s", "-d", config, *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
