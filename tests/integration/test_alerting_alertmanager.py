"""Prometheus -> Alertmanager -> sidecar -> Kafka, all real processes.

A real Prometheus scrapes the real sidecar and evaluates a test copy of the shipped
``alert_rules/drift-sidecar.rules.yaml`` with ``for: 1s``; it sends to a real Alertmanager
running the shipped ``deploy/alertmanager.example.yml`` (webhook URL pointed at the sidecar's
``POST /v1/alertmanager``, short group waits). Drifted traffic for m1 must make
``DriftDatasetDetected`` arrive on the Kafka topic as a schema-valid event from the sidecar.
The sidecar's own state machine is off (``native: false``), so the event can only have come
through Alertmanager.

Authentication is on (``server.auth`` with token files, ``/metrics`` protected too): Prometheus
scrapes with the read token (``authorization.credentials_file``), Alertmanager posts with the
alertmanager token as the shipped example's ``http_config.authorization`` does, and the test
client sends the ingest/read token: the documented cluster set-up, end to end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from tests.alerting.test_alerting_event import assert_valid

from .alerting_components import TopicReader, start_alertmanager
from .conftest import Running, SidecarConfig, _stop, binary, free_port, run_prometheus
from .test_alerting_kafka import TOPIC, alerts_yaml, broker, kafka_port, tansu_executable
from .test_prometheus_e2e import post_samples, wait_for_report

pytestmark = pytest.mark.integration
__all__ = ["broker", "kafka_port", "tansu_executable"]  # fixtures used here

ROOT = Path(__file__).resolve().parents[2]


API_TOKEN = "api-token-for-ingest-and-read-0123"  # one file may serve several classes
ALERTMANAGER_TOKEN = "alertmanager-token-0123456789"


@pytest.fixture
def tokens(tmp_path: Path) -> dict[str, Path]:
    files = {"api": tmp_path / "api-token", "alertmanager": tmp_path / "alertmanager-token"}
    files["api"].write_text(API_TOKEN + "\n", encoding="utf-8")
    files["alertmanager"].write_text(ALERTMANAGER_TOKEN + "\n", encoding="utf-8")
    return files


@pytest.fixture
def sidecar_config(
    sidecar_config: SidecarConfig, kafka_port: int, tokens: dict[str, Path]
) -> SidecarConfig:
    text = alerts_yaml(kafka_port).replace("alerts:\n", "alerts:\n  native: false\n", 1)
    auth = (
        "server:\n"
        "  auth:\n"
        f"    ingest: {{token_file: {tokens['api']}}}\n"
        f"    read: {{token_file: {tokens['api']}}}\n"
        f"    alertmanager: {{token_file: {tokens['alertmanager']}}}\n"
        "    metrics: true\n"
    )
    path = sidecar_config.path
    config = path.read_text(encoding="utf-8").replace("server:\n", auth, 1)
    path.write_text(config + text, encoding="utf-8")
    return sidecar_config


@pytest.fixture
def am_executables() -> tuple[str, str]:
    return binary("prometheus-alertmanager"), binary("prometheus")


def alertmanager_config(webhook: str, token_file: Path) -> str:
    """The shipped example with the sidecar's URL, its token file and test-sized waits."""
    config: dict[str, Any] = yaml.safe_load(
        (ROOT / "deploy" / "alertmanager.example.yml").read_text(encoding="utf-8")
    )
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = webhook
            hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    routes = [config["route"], *config["route"]["routes"]]
    for route in routes:
        route.update({"group_wait": "1s", "group_interval": "1s"})
    return yaml.safe_dump(config)


def rules_copy(path: Path) -> Path:
    """The shipped rules with every ``for:`` shortened to 1s."""
    rules: dict[str, Any] = yaml.safe_load(
        (ROOT / "alert_rules" / "drift-sidecar.rules.yaml").read_text(encoding="utf-8")
    )
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    return path


@pytest.fixture
def alerting_stack(
    am_executables: tuple[str, str],
    broker: Running,
    sidecar: Running,
    tokens: dict[str, Path],
    tmp_path: Path,
) -> Iterator[tuple[Running, Running]]:
    am_bin, prom_bin = am_executables
    am = start_alertmanager(
        am_bin,
        free_port(),
        tmp_path / "alertmanager",
        alertmanager_config(f"{sidecar.url}/v1/alertmanager", tokens["alertmanager"]),
    )
    home = tmp_path / "prometheus"
    home.mkdir()
    rules = rules_copy(home / "rules.yaml")
    config = yaml.safe_dump(
        {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [am.url.removeprefix("http://")]}]}
                ]
            },
            "scrape_configs": [
                {
                    "job_name": "drift-sidecar",
                    "authorization": {"credentials_file": str(tokens["api"])},
                    "static_configs": [{"targets": [sidecar.url.removeprefix("http://")]}],
                }
            ],
        }
    )
    try:
        with run_prometheus(prom_bin, home, config) as prom:
            yield prom, am
    finally:
        _stop(am)


def test_prometheus_alert_reaches_kafka_through_alertmanager(
    alerting_stack: tuple[Running, Running],
    sidecar: Running,
    sidecar_config: SidecarConfig,
    kafka_port: int,
) -> None:
    rng = np.random.default_rng(11)
    reader = TopicReader(f"127.0.0.1:{kafka_port}", TOPIC)
    bearer = {"authorization": f"Bearer {API_TOKEN}"}
    with httpx.Client(base_url=sidecar.url, timeout=10, headers=bearer) as api:
        samples = sidecar_config.samples(rng, 500, "d", drifted=True)
        post_samples(api, "m1", samples, sidecar_config.window_step)
        report = wait_for_report(api, "m1", 500)
        assert report["dataset"]["drifted"]
        event = reader.wait_for(
            lambda e: e["kind"] == "DriftDatasetDetected" and e["model"] == "m1",
            60,
            "DriftDatasetDetected for m1",
        )
        metrics = api.get("/metrics").text
    # Prometheus and Alertmanager got in with their tokens: nothing was refused
    assert re.search(r'drift_requests_rejected_total\{reason="unauthorized"\} 0\.0', metrics)
    assert httpx.get(f"{sidecar.url}/metrics").status_code == 401
    # a real Alertmanager's notifications pass the forwarder: within the rate, never repeated
    assert re.search(
        r'drift_alertmanager_alerts_dropped_total\{reason="rate_limited"\} 0\.0', metrics
    )
    firing = [
        e
        for _, e in reader.messages
        if (e["kind"], e["model"], e["type"]) == ("DriftDatasetDetected", "m1", "drift.firing")
    ]
    assert len(firing) == 1
    key = next(k for k, e in reader.messages if e is event)
    assert key == b"m1"
    assert_valid(event)
    assert event["source"] == "alertmanager"
    assert event["type"] == "drift.firing"
    assert event["severity"] == "warning"
    assert event["labels"]["alertname"] == "DriftDatasetDetected"
    assert event["labels"]["job"] == "drift-sidecar"
    assert event["links"]["runbook"] == "docs/runbook.md#driftdatasetdetected"
    assert event["summary"] == "Dataset drift on model m1"
    assert all(e["source"] == "alertmanager" for _, e in reader.messages)
    reader.close()
