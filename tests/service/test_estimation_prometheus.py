"""End to end: the real sidecar process with ``estimation:``, a real Prometheus scraping it.

A window of borderline scores (covariate shift, no concept drift) with a flipped correlation
between two features goes in through the samples route; Prometheus then shows the estimated
accuracy below its threshold (alert) and the multivariate drift that no column shows. The labels
of the same predictions come later through the labels route: the realized accuracy, in the same
Prometheus, lies within the estimate's band.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import binary, run_prometheus, serving

pytestmark = pytest.mark.integration

WINDOW = 500


def frame(rows: int, rng: np.random.Generator, a: float, rho: float) -> pd.DataFrame:
    """Scores ~ Beta(a, a) that are true probabilities; ``income`` correlated ``rho`` with age."""
    age = rng.normal(40, 10, rows)
    income = rho * (age - 40) / 10 + np.sqrt(1 - rho**2) * rng.normal(size=rows)
    proba = rng.beta(a, a, rows)
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "pred": (proba >= 0.5).astype(int),
            "proba": proba,
            "truth": (rng.random(rows) < proba).astype(int),
        }
    )


def sidecar_config(tmp_path: Path, model: str, extra: str = "") -> Path:
    """A config of one classifier ``model`` with CBPE and the reconstruction over ``ref.csv``
    (``extra``: more YAML lines of the model)."""
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "models:\n"
        f"  {model}:\n"
        "    reference: {path: ref.csv}\n"
        "    columns: {numerical: [age, income], prediction: pred, prediction_type: categorical,"
        ' target: truth, scores: {"1": proba}}\n'
        f"    window: {{size: {WINDOW}, step: {WINDOW}}}\n"
        "    estimation: {cbpe: true, reconstruction: true}\n" + extra,
        encoding="utf-8",
    )
    return config


def scrape_config(url: str, rule_file: Path | None = None) -> str:
    """A Prometheus config scraping the sidecar at ``url`` every second (with ``rule_file``)."""
    rules = "" if rule_file is None else f"rule_files: ['{rule_file}']\n"
    return (
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        + rules
        + "scrape_configs:\n"
        "  - job_name: drift-sidecar\n"
        f"    static_configs: [{{targets: ['{url.removeprefix('http://')}']}}]\n"
    )


def scalar(prom: httpx.Client, promql: str, timeout: float = 30.0) -> float:
    """The value of a one-series instant query once Prometheus has it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = prom.get("/api/v1/query", params={"query": promql})
        assert response.status_code == 200, response.text
        result = response.json()["data"]["result"]
        if result:
            assert len(result) == 1, result
            return float(result[0]["value"][1])
        time.sleep(0.25)
    pytest.fail(f"no series for {promql}")


def test_estimates_and_multivariate_drift_reach_prometheus_and_labels_confirm_them(
    tmp_path: Path,
) -> None:
    executable = binary("prometheus")
    rng = np.random.default_rng(3)
    frame(8000, rng, 0.6, 0.9).to_csv(tmp_path / "ref.csv", index=False)
    config = sidecar_config(
        tmp_path, "m", f"    performance: {{window: {WINDOW}, min_samples: 100}}\n"
    )
    window = frame(WINDOW, rng, 6.0, -0.9)  # borderline scores; the correlation flipped
    with serving(config, tmp_path) as sidecar:
        home = tmp_path / "prometheus"
        home.mkdir()
        with (
            run_prometheus(executable, home, scrape_config(sidecar.url)) as prometheus,
            httpx.Client(base_url=sidecar.url, timeout=10) as api,
            httpx.Client(base_url=prometheus.url, timeout=10) as prom,
        ):
            samples = [
                {
                    "id": f"r{i}",
                    "features": {"age": r.age, "income": r.income},
                    "prediction": int(r.pred),
                    "scores": float(r.proba),
                }
                for i, r in enumerate(window.itertuples())
            ]
            response = api.post("/v1/models/m/samples", json={"samples": samples})
            assert response.status_code == 200, response.text

            accuracy = 'model="m", metric="accuracy", method="cbpe"'
            estimate = scalar(prom, f"drift_model_performance_estimated{{{accuracy}}}")
            lower = scalar(prom, f"drift_model_performance_estimated_lower{{{accuracy}}}")
            upper = scalar(prom, f"drift_model_performance_estimated_upper{{{accuracy}}}")
            threshold = scalar(
                prom, f'drift_model_performance_estimated_threshold{{{accuracy}, bound="lower"}}'
            )
            assert estimate < threshold  # borderline scores: a lower accuracy is expected
            assert scalar(prom, f"drift_model_performance_estimated_alert{{{accuracy}}}") == 1
            reconstruction = 'model="m", method="pca_reconstruction"'
            assert scalar(prom, f"drift_multivariate_drift{{{reconstruction}}}") == 1
            assert scalar(prom, f"drift_multivariate_score{{{reconstruction}}}") > scalar(
                prom, f'drift_multivariate_threshold{{{reconstruction}, bound="upper"}}'
            )
            assert scalar(prom, 'drift_dataset_detected{model="m"}') == 0  # no column moved

            labels = [{"id": f"r{i}", "label": int(t)} for i, t in enumerate(window["truth"])]
            response = api.post("/v1/models/m/labels", json={"labels": labels})
            assert response.status_code == 200, response.text
            realized = scalar(prom, 'drift_model_performance{model="m", metric="accuracy"}')
            assert realized == pytest.approx(float(np.mean(window["truth"] == window["pred"])))
            assert lower <= realized <= upper
