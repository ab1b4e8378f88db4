"""End to end: the real sidecar process, a real Prometheus scraping it, drift seen in PromQL.

Clean traffic for two models fills a full window and Prometheus reports no drift; drifted traffic
for m1 only then turns ``drift_dataset_detected{model="m1"}`` to 1 while m2 stays 0.
The processes, data and config come from the fixtures in ``conftest.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest

if TYPE_CHECKING:
    from .conftest import Running, SidecarConfig

POLL_TIMEOUT = 30.0
POLL_INTERVAL = 0.25

Vector = list[dict[str, Any]]


def post_samples(
    api: httpx.Client, model: str, samples: list[dict[str, object]], step: int
) -> None:
    """Post in batches of one window step, so that every batch makes an evaluation due."""
    for start in range(0, len(samples), step):
        batch = samples[start : start + step]
        response = api.post(f"/v1/models/{model}/samples", json={"samples": batch})
        assert response.status_code == 200, response.text
        assert response.json() == {"accepted": len(batch), "rejected": []}


def wait_for_report(api: httpx.Client, model: str, samples_seen: int) -> dict[str, Any]:
    """The sidecar's latest report once it covers ``samples_seen`` samples."""
    deadline = time.monotonic() + POLL_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        response = api.get(f"/v1/models/{model}/drift")
        if response.status_code == 200:
            report: dict[str, Any] = response.json()
            if report["window"]["samples_seen"] >= samples_seen:
                return report
            last = report["window"]
        else:
            last = f"{response.status_code} {response.text}"
        time.sleep(POLL_INTERVAL)
    pytest.fail(f"model {model}: no evaluation of {samples_seen} samples; last: {last}")


def query(prom: httpx.Client, promql: str) -> Vector:
    """An instant query through Prometheus' HTTP API; the result vector."""
    response = prom.get("/api/v1/query", params={"query": promql})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    assert body["data"]["resultType"] == "vector", body
    result: Vector = body["data"]["result"]
    return result


def value(prom: httpx.Client, promql: str) -> float | None:
    """The value of a query that selects at most one series; None while it selects none."""
    result = query(prom, promql)
    assert len(result) <= 1, f"{promql} selects {len(result)} series: {result}"
    return float(result[0]["value"][1]) if result else None


def wait_for_value(
    prom: httpx.Client, promql: str, expected: Callable[[float], bool], what: str
) -> float:
    """Poll Prometheus until the single series of ``promql`` is present and ``expected``."""
    deadline = time.monotonic() + POLL_TIMEOUT
    last: float | None = None
    while time.monotonic() < deadline:
        last = value(prom, promql)
        if last is not None and expected(last):
            return last
        time.sleep(POLL_INTERVAL)
    pytest.fail(f"Prometheus: {promql} did not become {what} in {POLL_TIMEOUT:.0f} s; last {last}")


def wait_until_scraped(prom: httpx.Client, model: str, report: dict[str, Any]) -> None:
    """Wait until Prometheus holds the result of ``report`` (its evaluation time, or later)."""
    at = datetime.fromisoformat(report["evaluated_at"]).timestamp()
    wait_for_value(
        prom,
        f'drift_last_evaluation_timestamp_seconds{{model="{model}"}}',
        lambda v: v >= at - 1e-3,
        f"the time of the evaluation of {report['window']['samples_seen']} samples",
    )


@pytest.mark.integration
def test_prometheus_sees_drift_of_one_model_and_not_the_other(
    prometheus: Running, sidecar: Running, sidecar_config: SidecarConfig
) -> None:
    cfg = sidecar_config
    size = cfg.window_size
    m1, m2 = cfg.models
    rng = np.random.default_rng(2024)
    with (
        httpx.Client(base_url=sidecar.url, timeout=10.0) as api,
        httpx.Client(base_url=prometheus.url, timeout=5.0) as prom,
    ):
        wait_for_value(prom, 'up{job="drift-sidecar"}', lambda v: v == 1, "1 (target up)")

        # clean traffic from the reference distribution: a full window for each model. With a
        # window of 500 a single column can cross wasserstein's 0.1 by chance (m2's x1 does with
        # these seeds), so the assertions are on the dataset decision (3 of 5 columns), not columns.
        for model in cfg.models:
            post_samples(api, model, cfg.samples(rng, size, f"{model}-clean"), cfg.window_step)
        for model in cfg.models:
            report = wait_for_report(api, model, samples_seen=size)
            assert report["window"]["samples"] == size
            assert report["dataset"]["drifted"] is False, report
            wait_until_scraped(prom, model, report)
            detected = wait_for_value(
                prom, f'drift_dataset_detected{{model="{model}"}}', lambda v: v == 0, "0"
            )
            assert detected == 0
        clean_total = wait_for_value(
            prom, f'drift_samples_total{{model="{m1}"}}', lambda v: v == size, "one window"
        )

        # drifted traffic for m1 only
        post_samples(
            api, m1, cfg.samples(rng, size, f"{m1}-drifted", drifted=True), cfg.window_step
        )
        wait_for_value(prom, f'drift_dataset_detected{{model="{m1}"}}', lambda v: v == 1, "1")
        wait_until_scraped(prom, m1, wait_for_report(api, m1, samples_seen=2 * size))

        assert value(prom, f'drift_dataset_detected{{model="{m1}"}}') == 1
        assert value(prom, f'drift_dataset_detected{{model="{m2}"}}') == 0
        m1_total = value(prom, f'drift_samples_total{{model="{m1}"}}')
        assert m1_total is not None
        assert m1_total > clean_total
        assert m1_total == 2 * size
        assert value(prom, f'drift_samples_total{{model="{m2}"}}') == size
        share = value(prom, f'drift_dataset_share{{model="{m1}"}}')
        assert share is not None
        assert share >= 0.5

        scores = query(prom, f'drift_column_score{{model="{m1}"}}')
        assert {series["metric"]["column"] for series in scores} == cfg.features
        assert all(series["metric"]["method"] for series in scores), scores
        assert query(prom, f'drift_column_score{{model="{m2}"}}'), f"{m2} has no column scores"
