"""End to end: a FastAPI model server with ``DriftMiddleware`` runs as its own process
(``tests/integration/model_server.py`` under uvicorn) and takes real HTTP predictions; the
samples arrive in the real sidecar process (fixtures in ``conftest.py``), and labels posted
later for the request ids turn into performance metrics. With the sidecar down or hanging
instead, every prediction is still answered promptly and the client counts what it could not
deliver."""

from __future__ import annotations

import socket
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import _start, _stop, _wait_http_ok, free_port
from .model_server import COEFFICIENTS

if TYPE_CHECKING:
    from .conftest import Running, SidecarConfig

pytestmark = pytest.mark.integration

POLL_TIMEOUT = 30.0
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def model_server(sidecar_url: str, tmp_path: Path, name: str = "model-server") -> Iterator[str]:
    """The example model server as a separate uvicorn process on a free 127.0.0.1 port."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "tests.integration.model_server:app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    env = {"DRIFT_SIDECAR_URL": sidecar_url, "DRIFT_MODEL": "m1"}
    log = tmp_path / f"{name}.log"
    running = _start(name, command, f"http://127.0.0.1:{port}", log, ROOT, env)
    try:
        _wait_http_ok(running, "/client-stats", 30)
        yield running.url
    finally:
        _stop(running)


def metric(sidecar: Running, name: str, **labels: str) -> float | None:
    text = httpx.get(f"{sidecar.url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def samples_total(sidecar: Running, model: str) -> float:
    return metric(sidecar, "drift_samples_total", model=model) or 0.0


def poll(condition: Any, what: str, timeout: float = POLL_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_predictions_reach_the_sidecar_and_labels_give_performance(
    sidecar: Running, sidecar_config: SidecarConfig, tmp_path: Path
) -> None:
    samples = sidecar_config.samples(np.random.default_rng(7), 300, "p")
    rows = [s["features"] for s in samples]
    predictions: dict[str, float] = {}
    with (
        model_server(sidecar.url, tmp_path) as url,
        httpx.Client(base_url=url, timeout=5) as api,
    ):
        for batch in range(30):
            request_id = f"req-{batch}"
            response = api.post(
                "/predict",
                json={"instances": rows[batch * 10 : batch * 10 + 10]},
                headers={"x-request-id": request_id},
            )
            assert response.status_code == 200, response.text
            answer = response.json()["predictions"]
            assert len(answer) == 10
            for i, value in enumerate(answer):  # the middleware's sample id per instance
                predictions[f"{request_id}:{i}"] = value
        poll(lambda: samples_total(sidecar, "m1") >= 300, "300 samples in the sidecar")
        stats = api.get("/client-stats").json()
    assert samples_total(sidecar, "m1") == 300
    assert samples_total(sidecar, "m2") == 0
    assert (stats["sent"], stats["rejected"], stats["failed"], stats["capture_errors"]) == (
        300,
        0,
        0,
        0,
    )

    report: dict[str, Any] = {}

    def window_full() -> bool:
        nonlocal report
        answer = httpx.get(f"{sidecar.url}/v1/models/m1/drift", timeout=5)
        report = answer.json() if answer.status_code == 200 else {}
        return bool(report) and report["window"]["samples"] == 300

    poll(window_full, "an evaluation of the 300 samples")
    # every feature and the prediction arrived, none missing (the drift verdict is not the point)
    assert set(report["columns"]) == set(sidecar_config.features)
    for column in [*report["columns"].values(), report["prediction"]]:
        assert (column["current_count"], column["current_missing_share"]) == (300, 0.0), column

    # ground truth arrives later, for the request ids the model server saw: prediction + 1.0
    labels = [{"id": rid, "label": value + 1.0} for rid, value in predictions.items()]
    answer = httpx.post(f"{sidecar.url}/v1/models/m1/labels", json={"labels": labels}, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["matched"] == 300
    poll(
        lambda: metric(sidecar, "drift_model_performance", model="m1", metric="mae") is not None,
        "drift_model_performance after the labels",
    )
    mae = metric(sidecar, "drift_model_performance", model="m1", metric="mae")
    rmse = metric(sidecar, "drift_model_performance", model="m1", metric="rmse")
    assert mae == pytest.approx(1.0)
    assert rmse == pytest.approx(1.0)
    assert metric(sidecar, "drift_labels_total", model="m1", outcome="matched") == 300


def latencies(url: str, n: int = 60) -> list[float]:
    numbers = {"x1": 0.1, "x2": 5.0, "x3": 1.0, "x4": 3.0}
    expected = sum(c * numbers[k] for k, c in COEFFICIENTS.items())
    row: dict[str, object] = {**numbers, "segment": "a"}
    out = []
    with httpx.Client(base_url=url, timeout=10) as api:
        for _ in range(n):
            start = time.perf_counter()
            response = api.post("/predict", json={"instances": [row, row]})
            out.append(time.perf_counter() - start)
            assert response.status_code == 200
            assert response.json()["predictions"][0] == pytest.approx(expected)
    return out


def test_model_server_stays_fast_when_the_sidecar_is_down(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    with model_server(down, tmp_path) as url:
        times = latencies(url)
        poll(lambda: httpx.get(f"{url}/client-stats").json()["failed"] > 0, "failures counted")
        stats = httpx.get(f"{url}/client-stats").json()
    # a blocking client would add the connect error and its retries to every request
    assert statistics.median(times) < 0.1, statistics.median(times)
    assert stats["sent"] == 0
    assert stats["failed"] + stats["queued"] + stats["dropped_queue_full"] == 120


def test_model_server_stays_fast_when_the_sidecar_hangs(tmp_path: Path) -> None:
    # a listening socket that never answers: connections succeed, requests hang until timeout
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(1)
        with model_server(f"http://127.0.0.1:{hung.getsockname()[1]}", tmp_path) as url:
            times = latencies(url, 40)
            stats = httpx.get(f"{url}/client-stats").json()
    # a blocking client would wait 3 s (the client timeout) on some of these requests
    assert max(times) < 1.0, max(times)
    assert stats["sent"] == 0
