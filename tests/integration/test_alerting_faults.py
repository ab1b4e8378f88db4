"""A sink that never recovers must not hurt ingestion: the real sidecar process sends to a Kafka
address where nothing ever listens (queue_size 3, max age 3 s). A flood of 60 alerts on
``POST /v1/alertmanager`` fills the queue; samples keep being ingested at the speed measured
before the flood, the queue depth never exceeds 3, and every one of the 60 alerts is counted as
dropped (the queue overflow at once, the rest when they reach the maximum age)."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from .conftest import Running, SidecarConfig, free_port
from .test_alerting_kafka import metric

pytestmark = pytest.mark.integration

QUEUE = 3
FLOOD = 60
BATCHES = 30


@pytest.fixture
def sidecar_config(sidecar_config: SidecarConfig) -> SidecarConfig:
    dead = free_port()  # nothing ever listens here
    sidecar_config.path.write_text(
        sidecar_config.path.read_text(encoding="utf-8")
        + f"""
alerts:
  native: false   # only the flood below; clean traffic can flag a column by chance
  kafka: {{bootstrap_servers: "127.0.0.1:{dead}", message_timeout_seconds: 0.5}}
  delivery: {{queue_size: {QUEUE}, initial_backoff_seconds: 0.1, max_backoff_seconds: 0.5,
              max_age_seconds: 3}}
""",
        encoding="utf-8",
    )
    return sidecar_config


def alert(i: int) -> dict[str, object]:
    return {
        "status": "firing",
        "labels": {
            "alertname": "DriftColumnDetected",
            "model": "m1",
            "column": f"x{i}",
            "severity": "info",
        },
        "annotations": {"summary": f"column {i}"},
        "startsAt": "2026-01-02T03:04:05Z",
        "fingerprint": f"{i:016x}",
    }


def ingest_seconds(api: httpx.Client, batches: list[list[dict[str, object]]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        response = api.post("/v1/models/m2/samples", json={"samples": batch})
        assert response.status_code == 200, response.text
    return time.perf_counter() - started


def test_a_dead_sink_keeps_ingestion_fast_the_queue_bounded_and_drops_counted(
    sidecar: Running, sidecar_config: SidecarConfig
) -> None:
    rng = np.random.default_rng(3)
    batches = [sidecar_config.samples(rng, 100, f"b{i}") for i in range(2 * BATCHES)]
    with httpx.Client(base_url=sidecar.url, timeout=10) as api:
        before = ingest_seconds(api, batches[:BATCHES])
        for start in range(0, FLOOD, 10):
            body = {
                "version": "4",
                "status": "firing",
                "receiver": "drift-sidecar",
                "alerts": [alert(i) for i in range(start, start + 10)],
            }
            response = api.post("/v1/alertmanager", json=body)
            assert response.json() == {"received": 10, "queued": 10}
        depths: list[float] = []
        during = ingest_seconds(api, batches[BATCHES:])
        deadline = time.monotonic() + 20
        while True:
            depths.append(metric(api, "drift_alert_queue_depth", channel="kafka") or 0.0)
            dropped = metric(
                api, "drift_alerts_total", model="m1", channel="kafka", status="dropped"
            )
            if dropped == FLOOD or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert dropped == FLOOD
        assert max(depths) <= QUEUE
        assert metric(api, "drift_alert_queue_depth", channel="kafka") == 0
        assert metric(api, "drift_alerts_total", model="m1", channel="kafka", status="sent") == 0
        assert (
            metric(api, "drift_alerts_total", model="m1", channel="kafka", status="retried") or 0
        ) > 0
        assert metric(api, "drift_samples_total", model="m2") == 100 * 2 * BATCHES
    # same speed within generous noise (2 shared cores): never blocked on the sink
    assert during < 3 * before + 0.5, (before, during)
