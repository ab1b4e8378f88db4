"""The estimation alerts against what the real sidecar exports: the committed rule file loaded in
a real Prometheus that scrapes a real sidecar with ``estimation:``.

promtool's unit tests (alert_rules/tests/) show the rules firing on series written by hand; this
shows that the names, labels and label values they select (``method="cbpe"``, ``bound``) are the
sidecar's, and that the descriptions' lookups find the thresholds. The ``for:`` is 15-30
minutes, so the alerts are checked while pending: Prometheus renders the annotations of pending
alerts too. The window has borderline scores (covariate shift: a lower estimated accuracy) and
a flipped correlation between its two features (multivariate drift, no column drift).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from exporters.prometheus import rules as pr
from tests.integration.conftest import binary, run_prometheus, serving
from tests.service.test_estimation_prometheus import WINDOW, frame, scrape_config, sidecar_config

pytestmark = pytest.mark.integration

RULE_FILE = Path(__file__).resolve().parents[2] / "alert_rules" / pr.RULE_FILE_NAME
ESTIMATED = "DriftModelPerformanceEstimatedDegraded"
MULTIVARIATE = "DriftMultivariateDetected"


def pending(prom: httpx.Client, names: set[str], timeout: float = 30.0) -> list[dict[str, Any]]:
    """The active alerts once every alert of ``names`` is among them."""
    deadline = time.monotonic() + timeout
    alerts: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = prom.get("/api/v1/alerts")
        assert response.status_code == 200, response.text
        alerts = response.json()["data"]["alerts"]
        if names <= {a["labels"]["alertname"] for a in alerts}:
            return alerts
        time.sleep(0.25)
    pytest.fail(f"not all of {sorted(names)} became active: {alerts}")


def value(prom: httpx.Client, promql: str) -> float | None:
    """The value of a query of at most one series (None: no series)."""
    response = prom.get("/api/v1/query", params={"query": promql})
    assert response.status_code == 200, response.text
    result = response.json()["data"]["result"]
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def bounds(prom: httpx.Client, metric: str, selector: str) -> tuple[float | None, float | None]:
    """The lower and upper threshold of a ``bound``-labelled threshold metric."""
    lower = value(prom, f'{metric}{{{selector}, bound="lower"}}')
    return lower, value(prom, f'{metric}{{{selector}, bound="upper"}}')


def shown(number: float | None) -> str:
    """A number as the descriptions print it (Go's ``%.4g``, which Python's matches here), or
    ``none`` for a bound without a series."""
    return "none" if number is None else f"{number:.4g}"


def test_estimation_alerts_select_the_sidecars_series_and_show_its_thresholds(
    tmp_path: Path,
) -> None:
    executable = binary("prometheus")
    rng = np.random.default_rng(3)
    frame(8000, rng, 0.6, 0.9).to_csv(tmp_path / "ref.csv", index=False)
    config = sidecar_config(tmp_path, "loans")
    window = frame(WINDOW, rng, 6.0, -0.9)
    with serving(config, tmp_path) as sidecar:
        home = tmp_path / "prometheus"
        home.mkdir()
        with (
            run_prometheus(executable, home, scrape_config(sidecar.url, RULE_FILE)) as prometheus,
            httpx.Client(base_url=sidecar.url, timeout=10) as api,
            httpx.Client(base_url=prometheus.url, timeout=10) as prom,
        ):
            samples = [
                {
                    "id": f"r{i}",
                    "features": {"age": r["age"], "income": r["income"]},
                    "prediction": int(r["pred"]),
                    "scores": float(r["proba"]),
                }
                for i, r in enumerate(window.to_dict("records"))
            ]
            response = api.post("/v1/models/loans/samples", json={"samples": samples})
            assert response.status_code == 200, response.text
            alerts = pending(prom, {ESTIMATED, MULTIVARIATE})
            estimation = api.get("/v1/models/loans/estimation").json()

            by_name: dict[str, list[dict[str, Any]]] = {}
            for alert in alerts:
                by_name.setdefault(alert["labels"]["alertname"], []).append(alert)
            assert all(a["state"] == "pending" for a in alerts)  # the for: has not passed

            # every estimated metric on the worse side, and only those, is pending
            metrics = estimation["performance"]["metrics"]
            worse = {
                m
                for m, e in metrics.items()
                if e["lower_threshold"] is not None and e["value"] < e["lower_threshold"]
            }
            assert "accuracy" in worse  # borderline scores: a lower accuracy
            assert {a["labels"]["metric"] for a in by_name[ESTIMATED]} == worse
            for alert in by_name[ESTIMATED]:
                labels = alert["labels"]
                assert labels["model"] == "loans"
                assert labels["method"] == pr.ESTIMATED_HIGHER_IS_BETTER == "cbpe"
                assert labels["severity"] == "warning"
                estimate = metrics[labels["metric"]]
                selector = f'model="loans", metric="{labels["metric"]}", method="cbpe"'
                assert float(alert["value"]) == value(
                    prom, f"drift_model_performance_estimated{{{selector}}}"
                )
                lower, upper = bounds(prom, "drift_model_performance_estimated_threshold", selector)
                assert lower == pytest.approx(estimate["lower_threshold"])
                assert upper == pytest.approx(estimate["upper_threshold"])
                description = alert["annotations"]["description"]
                assert description.startswith(
                    f"cbpe estimates the {labels['metric']} of model loans "
                    f"({labels['instance']}) at {shown(float(alert['value']))}, on the worse "
                    f"side of its thresholds from the reference (lower {shown(lower)}, upper "
                    f"{shown(upper)}), "
                ), description
                assert "no concept drift" in description
                assert alert["annotations"]["runbook_url"].endswith(f"#{ESTIMATED.lower()}")

            [multivariate] = by_name[MULTIVARIATE]
            labels = multivariate["labels"]
            assert (labels["model"], labels["method"]) == ("loans", "pca_reconstruction")
            assert estimation["multivariate"]["pca_reconstruction"]["drift"] is True
            description = multivariate["annotations"]["description"]
            reconstruction = 'model="loans", method="pca_reconstruction"'
            score = value(prom, f"drift_multivariate_score{{{reconstruction}}}")
            lower, upper = bounds(prom, "drift_multivariate_threshold", reconstruction)
            assert score is not None
            assert upper is not None
            assert score > upper
            assert description.startswith(
                f"The pca_reconstruction score of model loans ({labels['instance']}) is "
                f"{shown(score)}, outside its thresholds from the reference (lower "
                f"{shown(lower)}, upper {shown(upper)}), "
            ), description
