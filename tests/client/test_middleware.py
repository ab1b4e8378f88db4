"""drift.client.middleware in a small FastAPI model server: what the app receives and returns is
unchanged byte for byte, each prediction becomes a sample with the right features and prediction,
and a failure in the capture never reaches the route. Samples go to ``InMemoryTransport``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from drift.client.client import DriftClient, InMemoryTransport, RetryPolicy
from drift.client.middleware import DriftMiddleware


class Instance(BaseModel):
    age: float
    income: float
    city: str


class PredictRequest(BaseModel):
    instances: list[Instance]


def model_server() -> FastAPI:
    """A model server like the seed's: a pydantic-validated ``/predict`` and a few other routes."""
    app = FastAPI()

    @app.post("/predict")
    def predict(request: PredictRequest) -> dict[str, Any]:
        scores = [round(0.01 * i.age + 1e-5 * i.income, 4) for i in request.instances]
        return {"predictions": scores, "model_version": "7"}

    @app.post("/echo")
    async def echo(request: Request) -> PlainTextResponse:
        body = await request.body()
        return PlainTextResponse(
            hashlib.sha256(body).hexdigest(), headers={"x-len": str(len(body))}
        )

    @app.post("/stream")
    def stream() -> StreamingResponse:
        chunks = [b'{"predictions": ', b"[1.5, ", b"2.5]}"]
        return StreamingResponse(iter(chunks), media_type="application/json")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
def transport() -> InMemoryTransport:
    return InMemoryTransport()


@pytest.fixture
def drift_client(transport: InMemoryTransport) -> Iterator[DriftClient]:
    client = DriftClient(
        "http://unused", "m", transport=transport, retry=RetryPolicy(max_attempts=1)
    )
    yield client
    client.close(2)


def monitored(client: DriftClient, **options: Any) -> TestClient:
    app = model_server()
    app.add_middleware(DriftMiddleware, client=client, **{"path": "/predict", **options})
    return TestClient(app)


BATCH = {
    "instances": [
        {"age": 41, "income": 52000.5, "city": "paris"},
        {"age": 30, "income": 1000.0, "city": "rome"},
    ]
}
REQUESTS: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("POST", "/predict", json.dumps(BATCH).encode(), {"content-type": "application/json"}),
    ("POST", "/predict", b'{"instances": [{"age": 1, "income": 2, "city": "x"}]}', {}),
    ("POST", "/predict", b'{"instances": [{"age": "old"}]}', {}),  # the app's 422
    ("POST", "/predict", b'{"instances": [', {"content-type": "application/json"}),  # bad JSON
    ("POST", "/predict", b"", {}),
    ("GET", "/predict", None, {}),  # 405
    ("POST", "/echo", b"\x00\xff raw bytes", {}),
    ("GET", "/health", None, {}),
    ("POST", "/stream", b"{}", {}),
]


def answers(client: TestClient) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    out = []
    for method, path, body, headers in REQUESTS:
        response = client.request(method, path, content=body, headers=headers)
        out.append((response.status_code, sorted(response.headers.items()), response.content))
    return out


@pytest.mark.parametrize("path", ["/predict", "/echo", "/stream"])
def test_responses_are_unchanged_byte_for_byte(drift_client: DriftClient, path: str) -> None:
    with TestClient(model_server()) as plain, monitored(drift_client, path=path) as watched:
        assert answers(watched) == answers(plain)


def test_the_app_receives_the_body_unchanged(drift_client: DriftClient) -> None:
    body = b'{"instances": [{"age": 1}]}' * 5000  # several receive() chunks are possible
    with monitored(drift_client, path="/echo") as client:
        response = client.post("/echo", content=body)
    assert response.text == hashlib.sha256(body).hexdigest()
    assert response.headers["x-len"] == str(len(body))


def test_batch_request_gives_one_sample_per_instance(
    drift_client: DriftClient, transport: InMemoryTransport
) -> None:
    with monitored(drift_client) as client:
        response = client.post("/predict", json=BATCH)
    assert response.json() == {"predictions": [0.93, 0.31], "model_version": "7"}
    assert drift_client.flush(5)
    assert transport.samples == [
        {"features": BATCH["instances"][0], "prediction": 0.93},
        {"features": BATCH["instances"][1], "prediction": 0.31},
    ]
    assert drift_client.stats().sent == 2
    assert drift_client.stats().capture_errors == 0


def test_app_errors_reach_the_caller_and_ship_nothing(
    drift_client: DriftClient, transport: InMemoryTransport
) -> None:
    with monitored(drift_client) as client:
        bad_json = client.post(
            "/predict", content=b'{"instances": [', headers={"content-type": "application/json"}
        )
        invalid = client.post("/predict", json={"instances": [{"age": "old"}]})
    assert bad_json.status_code == 422
    assert bad_json.json()["detail"][0]["type"] == "json_invalid"
    assert invalid.status_code == 422
    assert drift_client.flush(5)
    assert transport.samples == []
    assert drift_client.stats().capture_errors == 0  # a refused request is not a prediction


def test_streamed_response_is_captured(
    drift_client: DriftClient, transport: InMemoryTransport
) -> None:
    with monitored(drift_client, path="/stream") as client:
        response = client.post("/stream", json={"instances": [[1, 2], [3, 4]]})
    assert response.json() == {"predictions": [1.5, 2.5]}
    assert drift_client.stats().capture_errors == 1  # positional rows without feature_names
    with monitored(drift_client, path="/stream", feature_names=["a", "b"]) as client:
        client.post("/stream", json={"instances": [[1, 2], [3, 4]]})
    assert drift_client.flush(5)
    assert transport.samples == [
        {"features": {"a": 1, "b": 2}, "prediction": 1.5},
        {"features": {"a": 3, "b": 4}, "prediction": 2.5},
    ]


def test_custom_extractors(drift_client: DriftClient, transport: InMemoryTransport) -> None:
    app = FastAPI()

    @app.post("/score")
    def score(body: dict[str, Any]) -> dict[str, Any]:
        return {"result": {"label": "yes" if body["payload"]["x"] > 0 else "no"}}

    app.add_middleware(
        DriftMiddleware,
        client=drift_client,
        path="/score",
        features="payload",
        prediction=lambda response: response["result"]["label"],
    )
    with TestClient(app) as client:
        assert client.post("/score", json={"payload": {"x": 2}}).status_code == 200
    assert drift_client.flush(5)
    assert transport.samples == [{"features": {"x": 2}, "prediction": "yes"}]


def test_a_failing_capture_never_breaks_the_route(
    drift_client: DriftClient, transport: InMemoryTransport, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: Any) -> Any:
        raise RuntimeError("extractor bug")

    with (
        TestClient(model_server()) as plain,
        monitored(drift_client, features=broken) as watched,
        monitored(drift_client, prediction="no_such_key") as missing,
        monitored(drift_client, max_body_bytes=10) as tiny,
    ):
        expected = plain.post("/predict", json=BATCH)
        for client in (watched, missing, tiny):
            response = client.post("/predict", json=BATCH)
            assert (response.status_code, response.content) == (200, expected.content)
    assert drift_client.stats().capture_errors == 3
    assert "extractor bug" in caplog.text
    assert drift_client.flush(5)
    assert transport.samples == []


def test_prediction_count_mismatch_is_counted(drift_client: DriftClient) -> None:
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        return {"predictions": [1]}

    app.add_middleware(DriftMiddleware, client=drift_client)
    with TestClient(app) as client:
        assert client.post("/predict", json=BATCH).json() == {"predictions": [1]}
    assert drift_client.stats().capture_errors == 1


def test_request_id_header_becomes_the_sample_id(
    drift_client: DriftClient, transport: InMemoryTransport
) -> None:
    one = {"instances": [BATCH["instances"][0]]}
    with monitored(drift_client) as client:
        client.post("/predict", json=one, headers={"X-Request-ID": "req-7"})
        client.post("/predict", json=BATCH, headers={"x-request-id": "req-8"})
        client.post("/predict", json=one)  # no header: no id
    assert drift_client.flush(5)
    assert [sample.get("id") for sample in transport.samples] == [
        "req-7",
        "req-8:0",
        "req-8:1",
        None,
    ]
