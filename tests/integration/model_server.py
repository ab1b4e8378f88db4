"""A model server as users write them (FastAPI), run as its own process by the end-to-end tests:

    DRIFT_SIDECAR_URL=http://127.0.0.1:8000 DRIFT_MODEL=m1 \\
        python -m uvicorn --factory tests.integration.model_server:app_from_env --port 9000

Monitoring is the two marked lines. ``GET /client-stats`` exposes the drift client's counters so
a test can see what was sent, dropped or given up.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from fastapi import FastAPI

from drift.client.client import DriftClient, RetryPolicy
from drift.client.middleware import DriftMiddleware

COEFFICIENTS = {"x1": 1.5, "x2": -0.7, "x3": 2.0, "x4": 0.3}


def create_app(sidecar_url: str, model: str, timeout: float = 3.0) -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        rows = body["instances"]
        return {"predictions": [sum(c * r[k] for k, c in COEFFICIENTS.items()) for r in rows]}

    # the two lines that add monitoring:
    client = DriftClient(
        sidecar_url,
        model,
        batch_size=int(os.environ.get("DRIFT_BATCH_SIZE", "100")),
        flush_interval=0.2,
        max_queue=int(os.environ.get("DRIFT_MAX_QUEUE", "10000")),
        timeout=timeout,
        retry=RetryPolicy(max_attempts=1),
    )
    app.add_middleware(DriftMiddleware, client=client, path="/predict")

    @app.get("/client-stats")
    def client_stats() -> dict[str, int]:
        return dataclasses.asdict(client.stats())

    return app


def app_from_env() -> FastAPI:
    """uvicorn's ``--factory`` entry point."""
    return create_app(os.environ["DRIFT_SIDECAR_URL"], os.environ.get("DRIFT_MODEL", "m1"))
