"""Every panel query of the generated dashboards, proven on real data.

The real sidecar (``sidecar`` fixture, with the config of ``sidecar_config`` below: references
with a target column, a performance alert on rmse, a version and ``estimation: {dle: true,
reconstruction: true}`` for m1) gets clean samples for models m1 and m2, then drifted samples
for m1 only, a batch of invalid samples for m2 and a request for an unknown model; m1's windows
are estimated (DLE's mae, mse and rmse, and the PCA reconstruction error), and before any label
the ``perf_metric`` variable lists m1's estimated metrics; then the ground-truth labels of the
samples in the windows (``POST /v1/models/{model}/labels``): far off the predictions for m1,
close for m2, plus a duplicate and an unknown id; then KServe payload logger CloudEvents for m2
(``kserve:``): two request/response pairs and a request whose response never comes, which
expires after ``cloudevents.pending_seconds``. A real Prometheus scrapes it every second with
the committed alert rules loaded (so ``ALERTS`` has the pending drift alerts). Then each panel's
PromQL, with the template variables substituted the way Grafana does (multi-value "All" is
``.*``; the repeated performance graph once per value of ``perf_metric``, as Grafana repeats
it), runs through ``/api/v1/query``: it must parse and return at least one finite value, except
where Grafana shows nothing by design: the estimation's queries for m2 (no ``estimation:``), and
on the repeated graph the estimate of a metric DLE does not estimate (mape, r2) or the realized
value of one labels do not give (mse); those must be empty. "Models in drift" must show m1
drifted and m2 not, "Degraded performance" m1 degraded and m2 not, and m1's graph of mae and
rmse the estimate (with its band and thresholds) and the realized value of that metric.

Allowed to be empty, only while the sidecar's /metrics has no sample of the metric:
``PENDING_METRICS`` of ``exporters.grafana.common`` (the reason is written there).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from drift.core.loss_estimation import DLE_METRICS
from exporters.grafana.common import DETAIL_UID, OVERVIEW_UID, PENDING_METRICS
from exporters.grafana.dashboards import all_dashboards, panel_queries

from .conftest import PREDICTION, Running, SidecarConfig, run_prometheus
from .test_prometheus_e2e import (
    post_samples,
    query,
    value,
    wait_for_report,
    wait_for_value,
    wait_until_scraped,
)

RULES = Path(__file__).resolve().parents[2] / "alert_rules" / "drift-sidecar.rules.yaml"
JOB = "drift-sidecar"
GRAFANA_VARIABLES = {
    "namespace": ".*",  # "All" (allValue); the test Prometheus has no namespace label
    "job": JOB,
    "__rate_interval": "1m",
    "__range": "5m",
}
VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
ALL = ".*"

TARGET = "target"
REFERENCE_NOISE = 0.5
"""The reference's target is its prediction plus this much noise: reference rmse ~ 0.5."""
LABEL_NOISE = {"m1": 3.0, "m2": REFERENCE_NOISE}
"""Labels of m1 are far off its predictions (rmse ~ 3: degraded), those of m2 are not."""
MAX_RMSE_DROP = 1.0
M1_VERSION = "1.2.0"
REGRESSION_METRICS = {"mae", "rmse", "mape", "r2"}
"""Realized metrics of the regressors (``drift.core.performance.METRICS``)."""
ESTIMATED = "m1"
"""The model with ``estimation:``; m2 has none."""
ESTIMATION = {"dle": True, "reconstruction": True}
ESTIMATED_METRICS = set(DLE_METRICS)
ESTIMATION_METRICS = (
    "drift_model_performance_estimated",
    "drift_multivariate_",
    "drift_estimation_fit_seconds",
)
"""Metrics (and prefixes) that only a model with ``estimation:`` has."""
PERFORMANCE_GRAPH = "Performance: $perf_metric"
PENDING_SECONDS = 1.0
"""``cloudevents.pending_seconds``: the unanswered request expires quickly."""
KSERVE_REQUEST = "org.kubeflow.serving.inference.request"
KSERVE_RESPONSE = "org.kubeflow.serving.inference.response"


@pytest.fixture
def sidecar_config(sidecar_config: SidecarConfig) -> SidecarConfig:
    """The shared config (conftest) plus what the performance panels need: a target column in
    each reference, ``columns.target``, a ``performance.alert`` on rmse, m1's version and
    estimation (DLE, which the target column of the reference trains, and the multivariate
    reconstruction error); and the KServe collector for m2 (its InferenceService is named like
    the model)."""
    config = yaml.safe_load(sidecar_config.path.read_text(encoding="utf-8"))
    config["cloudevents"] = {"pending_seconds": PENDING_SECONDS}
    rng = np.random.default_rng(11)
    for name, model in config["models"].items():
        path = sidecar_config.path.parent / model["reference"]["path"]
        reference = pd.read_csv(path)
        noise = rng.normal(0.0, REFERENCE_NOISE, len(reference))
        reference[TARGET] = reference[PREDICTION] + noise
        reference.to_csv(path, index=False)
        model["columns"]["target"] = TARGET
        model["performance"] = {
            "min_samples": 50,
            "window": 500,
            "alert": {"metric": "rmse", "max_drop": MAX_RMSE_DROP},
        }
        if name == ESTIMATED:
            model["version"] = M1_VERSION
            model["estimation"] = ESTIMATION
        else:
            model["kserve"] = {}
    sidecar_config.path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return sidecar_config


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's interpolation of ``$name`` and ``${name}``; an unknown variable fails."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"no value for ${name} in {expr}"
        return values[name]

    return VARIABLE.sub(replace, expr)


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    return [v for v in (float(s["value"][1]) for s in result) if math.isfinite(v)]


def shows_data(expr: str, model: str, perf_metric: str) -> bool:
    """Whether Grafana shows data for ``expr`` on the detail of ``model`` (or the overview),
    the repeated graph for ``perf_metric``: not for the estimation of a model without it, nor
    for a side of the graph (realized or estimated) that does not have the metric."""
    estimation = any(m in expr for m in ESTIMATION_METRICS)
    if estimation and model not in (ESTIMATED, ALL):
        return False
    if perf_metric == ALL or "$perf_metric" not in expr:
        return True
    return perf_metric in (ESTIMATED_METRICS if estimation else REGRESSION_METRICS)


def exported_metrics(sidecar: Running) -> set[str]:
    """Names of the metrics with at least one sample on the sidecar's /metrics."""
    text = httpx.get(f"{sidecar.url}/metrics", timeout=5).text
    return {
        re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line[:1].isalpha()
    }


@pytest.fixture
def prometheus_with_rules(
    prometheus_executable: str, sidecar: Running, tmp_path: Path
) -> Iterator[Running]:
    """Like ``conftest.prometheus``, plus the committed alerting rules (for ``ALERTS``)."""
    home = tmp_path / "prometheus-rules"
    home.mkdir()
    config = (
        "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        f"  - job_name: {JOB}\n"
        f"    static_configs: [{{targets: ['{sidecar.url.removeprefix('http://')}']}}]\n"
    )
    with run_prometheus(prometheus_executable, home, config) as running:
        yield running


def feed(
    api: httpx.Client, prom: httpx.Client, cfg: SidecarConfig
) -> dict[str, list[dict[str, object]]]:
    """Clean windows for both models, a drifted one for m1, rejections, one more m2 step;
    returns the accepted samples in each model's window (to label them)."""
    m1, m2 = cfg.models
    rng = np.random.default_rng(7)
    size, step = cfg.window_size, cfg.window_step
    clean = {model: cfg.samples(rng, size, f"{model}-clean") for model in cfg.models}
    for model in cfg.models:
        post_samples(api, model, clean[model], step)
    for model in cfg.models:
        wait_until_scraped(prom, model, wait_for_report(api, model, samples_seen=size))
    drifted = cfg.samples(rng, size, f"{m1}-drifted", drifted=True)
    post_samples(api, m1, drifted, step)
    wait_until_scraped(prom, m1, wait_for_report(api, m1, samples_seen=2 * size))

    bad = cfg.samples(rng, 5, f"{m2}-bad")
    for sample in bad:
        sample["features"].pop(cfg.numerical[0])  # type: ignore[attr-defined]
    response = api.post(f"/v1/models/{m2}/samples", json={"samples": bad})
    assert response.status_code == 422, response.text
    assert api.post("/v1/models/no-such-model/samples", json={"samples": []}).status_code == 404
    more = cfg.samples(rng, step, f"{m2}-more")
    post_samples(api, m2, more, step)
    wait_until_scraped(prom, m2, wait_for_report(api, m2, samples_seen=size + step))

    wait_for_value(prom, f'drift_dataset_detected{{model="{m1}"}}', lambda v: v == 1, "1")
    wait_for_value(
        prom, f'sum(drift_samples_rejected_total{{model="{m2}"}})', lambda v: v == 5, "5"
    )
    wait_for_value(
        prom,
        f'count(ALERTS{{alertname="DriftDatasetDetected", model="{m1}"}})',
        lambda v: v == 1,
        "a pending DriftDatasetDetected alert",
    )
    return {m1: drifted, m2: clean[m2][step:] + more}


def post_labels(
    api: httpx.Client, model: str, samples: list[dict[str, object]], rng: np.random.Generator
) -> None:
    """Ground truth for ``samples`` (their prediction plus ``LABEL_NOISE``), one duplicate and
    one label of an id that was never predicted."""
    noise = rng.normal(0.0, LABEL_NOISE[model], len(samples))
    labels: list[dict[str, object]] = [
        {"id": sample["id"], "label": cast(float, sample["prediction"]) + float(n)}
        for sample, n in zip(samples, noise, strict=True)
    ]
    labels += [labels[0], {"id": f"{model}-never-predicted", "label": 1.0}]
    response = api.post(f"/v1/models/{model}/labels", json={"labels": labels})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["matched"], body["held"], body["duplicate"]) == (len(samples), 1, 1), body


def label(
    api: httpx.Client, prom: httpx.Client, windows: dict[str, list[dict[str, object]]]
) -> None:
    """Label the samples of the windows; wait until Prometheus has m1 degraded, m2 not."""
    rng = np.random.default_rng(13)
    for model, samples in windows.items():
        post_labels(api, model, samples, rng)
    m1, m2 = windows
    degraded = "drift_model_performance_degraded"
    wait_for_value(prom, f'{degraded}{{model="{m1}"}}', lambda v: v == 1, "1 (rmse too high)")
    wait_for_value(prom, f'{degraded}{{model="{m2}"}}', lambda v: v == 0, "0 (rmse as reference)")
    matched = f'drift_labels_total{{model="{m1}", outcome="matched"}}'
    wait_for_value(prom, matched, lambda v: v == len(windows[m1]), "every m1 label matched")


def post_event(api: httpx.Client, model: str, ce_id: str, ce_type: str, body: object) -> None:
    """One event as KServe's agent sends it (binary mode: attributes as ce- headers)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": ce_id,
        "ce-type": ce_type,
        "ce-source": "http://localhost:9081/",
        "ce-inferenceservicename": model,
        "ce-namespace": "models",
        "ce-component": "predictor",
        "ce-endpoint": "default",
    }
    response = api.post("/v1/cloudevents", json=body, headers=headers)
    assert response.status_code == 200, response.text


def send_cloudevents(
    api: httpx.Client, prom: httpx.Client, model: str, samples: list[dict[str, object]]
) -> None:
    """Two request/response pairs (one sample each) and a request without response; waits
    until Prometheus has the pairs and the expired half."""
    for i, sample in enumerate(samples[:3]):
        ce_id = f"{model}-ce-{i}"
        post_event(api, model, ce_id, KSERVE_REQUEST, {"instances": [sample["features"]]})
        if i < 2:
            post_event(api, model, ce_id, KSERVE_RESPONSE, {"predictions": [sample["prediction"]]})
    kserve = 'source="kserve"'
    paired = f'drift_cloudevents_total{{{kserve}, outcome="paired"}}'
    wait_for_value(prom, paired, lambda v: v == 2, "2 pairs")
    expired = f'sum(drift_cloudevents_expired_total{{{kserve}, half="request"}})'
    wait_for_value(prom, expired, lambda v: v == 1, "1 request expired unanswered")


def label_values(prom: httpx.Client, variable_query: str, values: dict[str, str]) -> set[str]:
    """``label_values(metric{selector}, label)`` the way Grafana resolves it: Prometheus'
    label values API with the selector as ``match[]``."""
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable_query)
    assert match, variable_query
    selector = substitute(match.group(1), values)
    response = prom.get(f"/api/v1/label/{match.group(2)}/values", params={"match[]": selector})
    assert response.status_code == 200, response.text
    return set(response.json()["data"])


def performance_metrics(prom: httpx.Client, board: dict[str, Any], model: str) -> set[str]:
    """The values of the ``perf_metric`` variable for ``model``, as Grafana resolves them."""
    variables = {v["name"]: v for v in board["templating"]["list"]}
    return label_values(
        prom, variables["perf_metric"]["query"], {**GRAFANA_VARIABLES, "model": model}
    )


def estimate(prom: httpx.Client, board: dict[str, Any], cfg: SidecarConfig) -> None:
    """Wait until Prometheus has m1's estimates; before any label, ``perf_metric`` lists them
    (the estimate's graphs show), and nothing for m2."""
    m1, m2 = cfg.models
    assert m1 == ESTIMATED
    count = f'count(drift_model_performance_estimated{{model="{m1}", method="dle"}})'
    wait_for_value(prom, count, lambda v: v == len(ESTIMATED_METRICS), "DLE's metrics")
    score = f'drift_multivariate_score{{model="{m1}", method="pca_reconstruction"}}'
    wait_for_value(prom, score, math.isfinite, "the reconstruction error")
    labels = f'sum(drift_labels_total{{model="{m1}"}})'
    assert value(prom, labels) == 0  # no label yet
    assert performance_metrics(prom, board, m1) == ESTIMATED_METRICS
    assert performance_metrics(prom, board, m2) == set()


def grafana_runs(board: dict[str, Any], model: str, prom: httpx.Client) -> list[dict[str, str]]:
    """The variable values under which Grafana runs the board's queries for ``model``: the
    performance graph repeats once per value of ``perf_metric`` (and the other panels use "All",
    ``.*``)."""
    base = {**GRAFANA_VARIABLES, "model": model}
    variables = {v["name"]: v for v in board["templating"]["list"]}
    if "perf_metric" not in variables:
        return [base]
    metrics = label_values(prom, variables["perf_metric"]["query"], base)
    return [{**base, "perf_metric": ALL}] + [{**base, "perf_metric": m} for m in sorted(metrics)]


@pytest.mark.integration
def test_every_panel_query_returns_data_on_real_metrics(
    prometheus_with_rules: Running, sidecar: Running, sidecar_config: SidecarConfig
) -> None:
    cfg = sidecar_config
    m1, m2 = cfg.models
    boards = {data["uid"]: data for _, data in all_dashboards()}
    runs = [(OVERVIEW_UID, {"model": ".*"}), (DETAIL_UID, {"model": m1})]
    runs.append((DETAIL_UID, {"model": m2}))
    with (
        httpx.Client(base_url=sidecar.url, timeout=30.0) as api,
        httpx.Client(base_url=prometheus_with_rules.url, timeout=10.0) as prom,
    ):
        wait_for_value(prom, f'up{{job="{JOB}"}}', lambda v: v == 1, "1 (target up)")
        windows = feed(api, prom, cfg)
        estimate(prom, boards[DETAIL_UID], cfg)
        label(api, prom, windows)
        send_cloudevents(api, prom, m2, cfg.samples(np.random.default_rng(17), 3, "ce"))
        exported = exported_metrics(sidecar)

        empty: list[str] = []
        checked = 0
        for uid, model in runs:
            for values in grafana_runs(boards[uid], model["model"], prom):
                for title, ref, expr in panel_queries(boards[uid]):
                    if values.get("perf_metric", ALL) != ALL and "$perf_metric" not in expr:
                        continue  # only the repeated graph runs once per metric
                    promql = substitute(expr, values)
                    result = query(prom, promql)  # asserts HTTP 200 and status "success"
                    checked += 1
                    pending = [m for m in PENDING_METRICS if m in expr and m not in exported]
                    if pending and not result:
                        empty.append(title)
                        continue
                    where = f"{uid} {title} {ref} {values}: {promql}"
                    if shows_data(expr, values["model"], values.get("perf_metric", ALL)):
                        assert finite_values(result), where
                    else:
                        assert result == [], where

        metrics = {m: performance_metrics(prom, boards[DETAIL_UID], m) for m in cfg.models}
        assert metrics == {m1: REGRESSION_METRICS | ESTIMATED_METRICS, m2: REGRESSION_METRICS}
        per_metric = sum("$perf_metric" in e for _, _, e in panel_queries(boards[DETAIL_UID]))
        assert (
            per_metric == 6
        )  # the repeated graph: realized, reference, estimate, band, thresholds
        assert checked == sum(len(list(panel_queries(b))) for b in boards.values()) + len(
            list(panel_queries(boards[DETAIL_UID]))
        ) + per_metric * sum(len(m) for m in metrics.values())
        allowed = {
            title
            for uid, _ in runs
            for title, _, expr in panel_queries(boards[uid])
            if any(m in expr and m not in exported for m in PENDING_METRICS)
        }
        assert set(empty) == allowed, (empty, allowed)

        in_drift = next(
            e for t, _, e in panel_queries(boards[OVERVIEW_UID]) if t == "Models in drift"
        )
        shown = query(prom, substitute(in_drift, {**GRAFANA_VARIABLES, "model": ".*"}))
        states = {s["metric"]["model"]: float(s["value"][1]) for s in shown}
        assert states == {m1: 1.0, m2: 0.0}

        rejected = next(
            e for t, r, e in panel_queries(boards[DETAIL_UID])
            if t == "Samples accepted and rejected" and r == "B"
        )  # fmt: skip
        by_reason = query(prom, substitute(rejected, {**GRAFANA_VARIABLES, "model": m2}))
        assert any(
            s["metric"]["reason"] == "missing_field" and float(s["value"][1]) > 0 for s in by_reason
        ), by_reason

        def panel_result(
            uid: str, title: str, name: str, ref: str = "A", metric: str = ALL
        ) -> list[dict[str, Any]]:
            expr = next(e for t, r, e in panel_queries(boards[uid]) if (t, r) == (title, ref))
            values = {**GRAFANA_VARIABLES, "model": name, "perf_metric": metric}
            return query(prom, substitute(expr, values))

        degraded = panel_result(OVERVIEW_UID, "Degraded performance", ALL)
        assert {s["metric"]["model"]: float(s["value"][1]) for s in degraded} == {m1: 1, m2: 0}
        versions = panel_result(OVERVIEW_UID, "Model versions", ALL)
        assert {s["metric"]["model"]: s["metric"]["version"] for s in versions} == {
            m1: M1_VERSION,
            m2: "no version",
        }
        for name in (m1, m2):
            reference = panel_result(DETAIL_UID, PERFORMANCE_GRAPH, name, "B")
            assert {s["metric"]["metric"] for s in reference} == REGRESSION_METRICS
            current = {
                s["metric"]["metric"]: float(s["value"][1])
                for s in panel_result(DETAIL_UID, PERFORMANCE_GRAPH, name)
            }
            assert set(current) == REGRESSION_METRICS
            assert (current["rmse"] > REFERENCE_NOISE + MAX_RMSE_DROP) is (name == m1), current

        for metric in sorted(REGRESSION_METRICS & ESTIMATED_METRICS):  # mae, rmse: one graph
            series = {
                ref: panel_result(DETAIL_UID, PERFORMANCE_GRAPH, m1, ref, metric) for ref in "ACDEF"
            }
            assert [s["metric"] for s in series["A"]] == [{"metric": metric}], series
            assert [s["metric"] for s in series["C"]] == [{"metric": metric, "method": "dle"}]
            for ref in "DE":
                assert [s["metric"] for s in series[ref]] == [{"metric": metric}], series
            assert {s["metric"]["metric"] for s in series["F"]} == {metric}
            assert {s["metric"]["bound"] for s in series["F"]} <= {"lower", "upper"}
            realized, estimated, lower, upper = (
                float(series[ref][0]["value"][1]) for ref in "ACDE"
            )
            assert 0 <= lower <= estimated <= upper, series
            if metric == "rmse":  # m1's labels are far off: outside the estimate's band
                assert realized > upper, series
        for metric in sorted(ESTIMATED_METRICS - REGRESSION_METRICS):  # mse: the estimate only
            assert panel_result(DETAIL_UID, PERFORMANCE_GRAPH, m1, "C", metric)
            assert not panel_result(DETAIL_UID, PERFORMANCE_GRAPH, m1, "A", metric)

        scores = panel_result(DETAIL_UID, "Multivariate drift score", m1)
        assert [s["metric"] for s in scores] == [{"method": "pca_reconstruction"}]
        limits = panel_result(DETAIL_UID, "Multivariate drift score", m1, "B")
        assert {s["metric"]["method"] for s in limits} == {"pca_reconstruction"}
        assert {s["metric"]["bound"] for s in limits} <= {"lower", "upper"}
        assert not panel_result(DETAIL_UID, "Multivariate drift score", m2)
        verdict = panel_result(DETAIL_UID, "Multivariate drift", m1)  # m1's features shifted
        assert [(s["metric"]["method"], float(s["value"][1])) for s in verdict] == [
            ("pca_reconstruction", 1.0)
        ]
        outside = panel_result(DETAIL_UID, "Estimate outside thresholds", m1)
        assert {s["metric"]["metric"] for s in outside} == ESTIMATED_METRICS
        for name in (m1, m2):
            thresholds = panel_result(DETAIL_UID, "Column drift scores", name, "B")
            assert {s["metric"]["column"] for s in thresholds} == cfg.features
        outcomes = panel_result(DETAIL_UID, "Label join outcomes", m1)
        assert {s["metric"]["outcome"] for s in outcomes} >= {"matched", "held", "duplicate"}
        events = panel_result(DETAIL_UID, "CloudEvents by outcome", m2)
        assert {(s["metric"]["source"], s["metric"]["outcome"]) for s in events} >= {
            ("kserve", "paired"),
            ("kserve", "waiting"),
        }
        halves = panel_result(DETAIL_UID, "CloudEvents by outcome", m2, "B")
        assert {s["metric"]["half"] for s in halves} == {"request", "response"}


@pytest.mark.integration
def test_variable_queries_list_the_models_and_job(
    prometheus: Running, sidecar: Running, sidecar_config: SidecarConfig
) -> None:
    """``label_values(metric{selector}, label)`` as Prometheus' series API answers it, which is
    how Grafana resolves it."""
    variables = {
        v["name"]: v["query"]
        for v in next(iter(all_dashboards()))[1]["templating"]["list"]
        if v["type"] == "query"
    }
    call = re.compile(r"^label_values\((.+), (\w+)\)$")
    expected = {"namespace": set(), "job": {JOB}, "model": set(sidecar_config.models)}
    with httpx.Client(base_url=prometheus.url, timeout=10.0) as prom:
        wait_for_value(prom, f'up{{job="{JOB}"}}', lambda v: v == 1, "1 (target up)")
        for name, text in variables.items():
            match = call.match(text)
            assert match, text
            selector = substitute(match.group(1), GRAFANA_VARIABLES)
            response = prom.get(
                f"/api/v1/label/{match.group(2)}/values", params={"match[]": selector}
            )
            assert response.status_code == 200, response.text
            assert set(response.json()["data"]) == expected[name], (name, selector)


@pytest.mark.integration
def test_report_link_opens_the_sidecars_html_report(
    sidecar: Running, sidecar_config: SidecarConfig
) -> None:
    """The detail dashboard's report link, with ``sidecar_url`` set to the sidecar."""
    detail = next(data for _, data in all_dashboards() if data["uid"] == DETAIL_UID)
    link = next(link for link in detail["links"] if "report" in link.get("url", ""))
    model = sidecar_config.models[0]
    url = substitute(link["url"], {"sidecar_url": sidecar.url, "model": model})
    assert url == f"{sidecar.url}/v1/models/{model}/report"
    with httpx.Client(base_url=sidecar.url, timeout=60.0) as api:
        rng = np.random.default_rng(3)
        post_samples(api, model, sidecar_config.samples(rng, 100, "r"), sidecar_config.window_step)
        wait_for_report(api, model, samples_seen=100)
        response = httpx.get(url, timeout=60.0)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
