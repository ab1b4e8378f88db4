"""A tansu broker with the fleet's topics, and sidecar configs for shippers and aggregators."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from tests.integration.alerting_components import _wait_port, tansu_binary
from tests.integration.conftest import (
    CATEGORICAL,
    NUMERICAL,
    PREDICTION,
    REFERENCE_ROWS,
    Running,
    _start,
    _stop,
    free_port,
    make_rows,
)

SAMPLES, LABELS, STATE = "drift.samples", "drift.labels", "drift.fleet-state"
PARTITIONS = 4


@dataclass
class Broker:
    running: Running
    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_broker(home: Path, port: int | None = None) -> Broker:
    """tansu (in-memory) with the samples and labels topics of PARTITIONS partitions."""
    binary = tansu_binary()
    port = free_port() if port is None else port
    url = f"tcp://127.0.0.1:{port}"
    home.mkdir(parents=True, exist_ok=True)
    command = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
    running = _start(
        "tansu", [*command, "--storage-engine", "memory://tansu/"], url, home / "tansu.log", home
    )
    try:
        _wait_port(running, port, 10.0)
        for topic, partitions in ((SAMPLES, PARTITIONS), (LABELS, PARTITIONS), (STATE, 1)):
            subprocess.run(
                [
                    binary,
                    "topic",
                    "create",
                    topic,
                    "--broker",
                    url,
                    "--partitions",
                    str(partitions),
                ],
                check=True,
                capture_output=True,
                timeout=10,
            )
    except BaseException:
        _stop(running)
        raise
    return Broker(running, port)


@contextmanager
def broker(home: Path) -> Iterator[Broker]:
    started = start_broker(home)
    try:
        yield started
    finally:
        _stop(started.running)


def write_config(
    home: Path,
    name: str,
    role: str,
    bootstrap: str,
    *,
    window: int,
    step: int = 100,
    extra_fleet: str = "",
    alerts: str = "",
) -> Path:
    """``<name>.yaml`` in ``home``: model m1 (``make_rows`` columns, reference ``m1.csv``,
    written when missing) with the ``fleet`` section of ``role``."""
    reference = home / "m1.csv"
    if not reference.exists():
        make_rows(np.random.default_rng(1), REFERENCE_ROWS).to_csv(reference, index=False)
    path = home / f"{name}.yaml"
    path.write_text(
        "fleet:\n"
        f"  role: {role}\n"
        f"  bootstrap_servers: {bootstrap}\n"
        "  session_timeout_ms: 3000\n"
        "  commit_seconds: 0.5\n"
        "  linger_ms: 5\n"
        "  client: {topic.metadata.refresh.interval.ms: '1000'}\n"
        f"{extra_fleet}"
        f"{alerts}"
        "models:\n"
        "  m1:\n"
        f"    reference: {{path: {reference}, format: csv}}\n"
        f"    columns: {{numerical: [{', '.join(NUMERICAL)}], categorical: [{CATEGORICAL}], "
        f"prediction: {PREDICTION}, prediction_type: numerical, id: id}}\n"
        f"    window: {{size: {window}, step: {step}}}\n"
        "    drift: {share_threshold: 0.5}\n"
        "    performance: {task: regression, window: 100000}\n",
        encoding="utf-8",
    )
    return path


def drift_of(running: Running, model: str = "m1") -> dict[str, Any] | None:
    """The model's latest report from ``/v1/models/{model}/drift`` (None: no report)."""
    response = httpx.get(f"{running.url}/v1/models/{model}/drift", timeout=5)
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()
    return body


def metric(running: Running, name: str, **labels: str) -> float | None:
    """One sample's value from ``/metrics`` (None when the series is not exported)."""
    text = httpx.get(f"{running.url}/metrics", timeout=5).text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # exposition order
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series == (f"{name}{{{want}}}" if want else name):
            return float(value)
    return None


def frame_of(samples: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{**s["features"], PREDICTION: s["prediction"]} for s in samples]
    return pd.DataFrame(rows)
