"""End to end: a FastAPI model server with ``DriftMiddleware`` (served by uvicorn on 127.0.0.1
in a thread) takes real HTTP predictions; the samples arrive in the real sidecar process (from
the fixtures in ``conftest.py``). With the sidecar hanging instead, every prediction is still
answered promptly and the client counts what it could not deliver."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from drift.client import DriftClient, RetryPolicy
from drift.middleware import DriftMiddleware

from .conftest import free_port

if TYPE_CHECKING:
    from .conftest import Running, SidecarConfig

pytestmark = pytest.mark.integration

POLL_TIMEOUT = 30.0
COEFFICIENTS = {"x1": 1.5, "x2": -0.7, "x3": 2.0, "x4": 0.3}


def model_server(client: DriftClient) -> FastAPI:
    """A model server as users write them; monitoring is the ``add_middleware`` line."""
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        rows = body["instances"]
        return {"predictions": [sum(c * r[k] for k, c in COEFFICIENTS.items()) for r in rows]}

    app.add_middleware(DriftMiddleware, client=client, path="/predict")
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """uvicorn on a free 127.0.0.1 port in a thread, until the block ends."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn exited"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def samples_total(sidecar: Running, model: str) -> float:
    text = httpx.get(f"{sidecar.url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "drift_samples_total" and sample.labels == {"model": model}:
                return sample.value
    return 0.0


def test_predictions_reach_the_sidecar(sidecar: Running, sidecar_config: SidecarConfig) -> None:
    client = DriftClient(sidecar.url, "m1", batch_size=100, flush_interval=0.2)
    samples = sidecar_config.samples(np.random.default_rng(7), 300, "p")
    rows = [s["features"] for s in samples]
    with serve(model_server(client)) as url, httpx.Client(base_url=url, timeout=5) as api:
        for start in range(0, len(rows), 10):
            response = api.post("/predict", json={"instances": rows[start : start + 10]})
            assert response.status_code == 200, response.text
            assert len(response.json()["predictions"]) == 10

        deadline = time.monotonic() + POLL_TIMEOUT
        while samples_total(sidecar, "m1") < 300 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert samples_total(sidecar, "m1") == 300
    assert samples_total(sidecar, "m2") == 0
    assert client.close(5)
    stats = client.stats()
    assert (stats.sent, stats.rejected, stats.failed, stats.capture_errors) == (300, 0, 0, 0)

    deadline = time.monotonic() + POLL_TIMEOUT
    report: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{sidecar.url}/v1/models/m1/drift", timeout=5)
        if answer.status_code == 200 and (report := answer.json())["window"]["samples"] == 300:
            break
        time.sleep(0.1)
    assert report["window"]["samples"] == 300, report
    # every feature and the prediction arrived, none missing (the drift verdict is not the point)
    assert set(report["columns"]) == set(sidecar_config.features)
    for column in [*report["columns"].values(), report["prediction"]]:
        assert (column["current_count"], column["current_missing_share"]) == (300, 0.0), column


def test_model_server_stays_fast_when_the_sidecar_hangs() -> None:
    # a listening socket that never answers: connections succeed, requests hang until timeout
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(1)
        client = DriftClient(
            f"http://127.0.0.1:{hung.getsockname()[1]}",
            "m1",
            batch_size=5,
            max_queue=20,
            timeout=3.0,
            retry=RetryPolicy(max_attempts=1),
        )
        row = {"x1": 0.1, "x2": 5.0, "x3": 1.0, "x4": 3.0, "segment": "a"}
        latencies = []
        with serve(model_server(client)) as url, httpx.Client(base_url=url, timeout=5) as api:
            for _ in range(40):
                start = time.perf_counter()
                response = api.post("/predict", json={"instances": [row, row]})
                latencies.append(time.perf_counter() - start)
                assert response.status_code == 200
        # a blocking client would wait 3 s (the timeout) on some of these requests
        assert max(latencies) < 1.0, max(latencies)
        stats = client.stats()
        assert stats.dropped_queue_full > 0
        assert stats.sent == 0
        client.close(0.2)
