"""Every panel query of the generated dashboards, proven on real data.

The real sidecar (``sidecar`` fixture) gets clean samples for models m1 and m2, then drifted
samples for m1 only, a batch of invalid samples for m2 and a request for an unknown model. A real
Prometheus scrapes it every second with the committed alert rules loaded (so ``ALERTS`` has the
pending drift alerts). Then each panel's PromQL, with the template variables substituted the way
Grafana does (multi-value "All" is ``.*``), runs through ``/api/v1/query``: it must parse and
return at least one finite value, and "Models in drift" must show m1 drifted and m2 not.

Allowed to be empty, only while the sidecar's /metrics has no sample of the metric:
``PENDING_METRICS`` of ``exporters.grafana_common`` (the reason is written there).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from exporters.grafana_common import DETAIL_UID, OVERVIEW_UID, PENDING_METRICS
from exporters.grafana_dashboards import all_dashboards, panel_queries

from .conftest import Running, SidecarConfig, run_prometheus
from .test_prometheus_e2e import (
    post_samples,
    query,
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


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's interpolation of ``$name`` and ``${name}``; an unknown variable fails."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"no value for ${name} in {expr}"
        return values[name]

    return VARIABLE.sub(replace, expr)


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    return [v for v in (float(s["value"][1]) for s in result) if math.isfinite(v)]


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


def feed(api: httpx.Client, prom: httpx.Client, cfg: SidecarConfig) -> None:
    """Clean windows for both models, a drifted one for m1, rejections, one more m2 step."""
    m1, m2 = cfg.models
    rng = np.random.default_rng(7)
    size, step = cfg.window_size, cfg.window_step
    for model in cfg.models:
        post_samples(api, model, cfg.samples(rng, size, f"{model}-clean"), step)
    for model in cfg.models:
        wait_until_scraped(prom, model, wait_for_report(api, model, samples_seen=size))
    post_samples(api, m1, cfg.samples(rng, size, f"{m1}-drifted", drifted=True), step)
    wait_until_scraped(prom, m1, wait_for_report(api, m1, samples_seen=2 * size))

    bad = cfg.samples(rng, 5, f"{m2}-bad")
    for sample in bad:
        sample["features"].pop(cfg.numerical[0])  # type: ignore[attr-defined]
    response = api.post(f"/v1/models/{m2}/samples", json={"samples": bad})
    assert response.status_code == 422, response.text
    assert api.post("/v1/models/no-such-model/samples", json={"samples": []}).status_code == 404
    post_samples(api, m2, cfg.samples(rng, step, f"{m2}-more"), step)
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
        feed(api, prom, cfg)
        exported = exported_metrics(sidecar)

        empty: list[str] = []
        checked = 0
        for uid, model in runs:
            for title, ref, expr in panel_queries(boards[uid]):
                promql = substitute(expr, {**GRAFANA_VARIABLES, **model})
                result = query(prom, promql)  # asserts HTTP 200 and status "success"
                checked += 1
                pending = [m for m in PENDING_METRICS if m in expr and m not in exported]
                if pending and not result:
                    empty.append(title)
                    continue
                assert finite_values(result), f"{uid} {title} {ref} ({model}): {promql} -> {result}"

        assert checked == sum(len(list(panel_queries(b))) for b in boards.values()) + len(
            list(panel_queries(boards[DETAIL_UID]))
        )
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
