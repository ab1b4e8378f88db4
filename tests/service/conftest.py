"""Fixtures of the service tests that start a service more than once (restarts with ``state``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from drift.alerting.ports import AlertSink
from drift.config import Settings
from drift.service.service import DriftService
from tests.conftest import started_service


@pytest.fixture
def services() -> Iterator[list[DriftService]]:
    """Services the test starts; stopped at the end (a 'killed' one too: threads end)."""
    started: list[DriftService] = []
    yield started
    for svc in started:
        svc.stop(2.0)


def start(
    services: list[DriftService],
    settings: Settings,
    alert_sinks: Mapping[str, AlertSink] | None = None,
) -> DriftService:
    """``started_service(settings, alert_sinks)``, stopped by the ``services`` fixture."""
    svc = started_service(settings, alert_sinks)
    services.append(svc)
    return svc
