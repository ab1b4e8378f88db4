"""Shared fixtures for the unit and API tests.

Integration tests (real Prometheus, real service process) live in ``tests/integration`` with
their own conftest; see ``tests/integration/README.md`` for how each component starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from drift.alerting.ports import AlertSink
from drift.config import Settings, settings_from_mapping
from drift.service.app import create_app
from drift.service.service import DriftService

# the ClearML/S3 backend of the reference tests (tests/integration, tests/deploy): defined once
# here, so the session has one backend (a fixture imported into two modules would be two)
from tests.integration.reference_components import backend, reference_backend

__all__ = ["backend", "reference_backend"]  # fixtures


def wait_until(
    condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def started_service(
    settings: Settings, alert_sinks: Mapping[str, AlertSink] | None = None
) -> DriftService:
    """A service started with its references loaded (not in the background); the caller stops
    it. ``alert_sinks`` as for ``DriftService`` (None: the sinks the settings configure)."""
    svc = DriftService(settings, alert_sinks=alert_sinks)
    svc.start(load_in_background=False)
    return svc


@contextmanager
def running_service(
    settings: Settings, alert_sinks: Mapping[str, AlertSink] | None = None
) -> Iterator[DriftService]:
    """``started_service(settings, alert_sinks)``, stopped when the ``with`` ends."""
    svc = started_service(settings, alert_sinks)
    try:
        yield svc
    finally:
        svc.stop()


#: the column roles of ``reference_frame``'s model (credit-scoring in the ``settings`` fixture)
CREDIT_COLUMNS: dict[str, Any] = {
    "numerical": ["age", "income"],
    "categorical": ["city"],
    "prediction": "score",
}


def reference_frame(rows: int = 800, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows).round(),
            "income": rng.lognormal(10, 0.5, rows),
            "city": rng.choice(["berlin", "paris", "rome"], rows),
            "score": rng.random(rows),
        }
    )


@pytest.fixture(autouse=True, scope="session")
def _profile_cache_in_a_temp_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The default profile cache of in-process services (``/var/lib/drift-sidecar/cache`` when
    writable) is a temp dir of the test session: tests neither read profiles another run left
    there nor fill it."""
    from drift.sources import cache

    original = cache.DEFAULT_DIR
    cache.DEFAULT_DIR = tmp_path_factory.mktemp("profile-cache")
    try:
        yield
    finally:
        cache.DEFAULT_DIR = original


@pytest.fixture
def reference_csv(tmp_path: Path) -> Path:
    path = tmp_path / "reference.csv"
    reference_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def settings(reference_csv: Path) -> Settings:
    return settings_from_mapping(
        {
            "server": {"max_body_bytes": 200_000, "max_samples_per_request": 1000},
            "models": {
                "credit-scoring": {
                    "reference": {"path": str(reference_csv)},
                    "columns": {**CREDIT_COLUMNS, "id": "request_id"},
                    "window": {"size": 200, "step": 50},
                    "drift": {"share_threshold": 0.5},
                }
            },
        }
    )


@pytest.fixture
def service(settings: Settings) -> Iterator[DriftService]:
    with running_service(settings) as svc:
        yield svc


@pytest.fixture
def client(service: DriftService) -> Iterator[TestClient]:
    with TestClient(create_app(service, manage_lifecycle=False)) as test_client:
        yield test_client


def sample(
    age: float = 40.0, income: float = 20000.0, city: str = "paris", score: float = 0.5
) -> dict[str, object]:
    return {"features": {"age": age, "income": income, "city": city}, "prediction": score}


# the iris models of the CloudEvents tests (tests/service/test_cloudevents_api.py, test_fastpath.py)
@pytest.fixture
def iris_csv(tmp_path: Path) -> Path:
    from tests.service.test_cloudevents_api import iris_reference

    path = tmp_path / "iris.csv"
    iris_reference().to_csv(path, index=False)
    return path


@pytest.fixture
def iris_service(iris_csv: Path) -> Iterator[DriftService]:
    from tests.service.test_cloudevents_api import iris_settings

    with running_service(iris_settings(iris_csv)) as svc:
        yield svc
