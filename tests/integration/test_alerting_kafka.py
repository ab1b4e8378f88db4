"""Native alerting end to end: the real sidecar process, a real Kafka-protocol broker (tansu)
and a real consumer (confluent-kafka).

1. Drifted traffic fires ``drift.firing`` after ``fire_after`` drifted evaluations; clean traffic
   resolves it (``drift.resolved``, same ``alert_id``) after ``resolve_after`` clean ones. Every
   event validates against ``schemas/drift-alert-event.v1.json``; the key is the model name.
2. The broker is down when drift starts: attempts fail and are retried (counted); once the
   broker comes up the event arrives, exactly once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.alerting.test_alerting_event import validator

from .alerting_components import TopicReader, start_tansu, stop, tansu_binary
from .conftest import Running, SidecarConfig, free_port
from .test_prometheus_e2e import post_samples, wait_for_report

pytestmark = pytest.mark.integration

TOPIC = "drift-alerts"
STEP = 100


def alerts_yaml(kafka_port: int) -> str:
    return f"""
alerts:
  fire_after: 2
  resolve_after: 2
  kinds: [dataset]
  grafana_url: "https://grafana.example.com/d/drift-sidecar-model?var-model={{model}}"
  report_url: "https://drift.example.com/v1/models/{{model}}/report"
  kafka:
    bootstrap_servers: "127.0.0.1:{kafka_port}"
    topic: {TOPIC}
    acks: all
    message_timeout_seconds: 2
    extra: {{"reconnect.backoff.max.ms": "500"}}
  delivery: {{initial_backoff_seconds: 0.2, max_backoff_seconds: 1, max_age_seconds: 120}}
"""


@pytest.fixture
def kafka_port() -> int:
    return free_port()


@pytest.fixture
def sidecar_config(sidecar_config: SidecarConfig, kafka_port: int) -> SidecarConfig:
    """The shared config with an ``alerts`` section sending to Kafka on ``kafka_port``."""
    path = sidecar_config.path
    path.write_text(path.read_text(encoding="utf-8") + alerts_yaml(kafka_port), encoding="utf-8")
    return sidecar_config


@pytest.fixture
def tansu_executable() -> str:
    return tansu_binary()


@pytest.fixture
def broker(tansu_executable: str, kafka_port: int, tmp_path: Path) -> Iterator[Running]:
    running = start_tansu(tansu_executable, kafka_port, tmp_path / "tansu", TOPIC)
    try:
        yield running
    finally:
        stop(running)


def metric(api: httpx.Client, name: str, **labels: str) -> float | None:
    """A sample's value from the sidecar's /metrics (None when the series is absent)."""
    text = api.get("/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if match and match.group(1) == name:
            have = ",".join(sorted(match.group(2).split(",")))
            if have == wanted:
                return float(match.group(3))
    return None


def drive(
    api: httpx.Client,
    config: SidecarConfig,
    rng: np.random.Generator,
    batches: int,
    drifted: bool,
    seen: int,
    tag: str,
) -> int:
    """Post ``batches`` window steps to m1, waiting for each evaluation; the new samples seen."""
    for i in range(batches):
        post_samples(api, "m1", config.samples(rng, STEP, f"{tag}{i}", drifted=drifted), STEP)
        seen += STEP
        wait_for_report(api, "m1", seen)
    return seen


def check_event(event: dict[str, Any], key: bytes | None) -> None:
    errors = sorted(validator().iter_errors(event), key=str)
    assert not errors, [e.message for e in errors]
    assert key == b"m1"
    assert event["model"] == "m1"
    assert event["source"] == "sidecar"
    assert event["kind"] == "dataset"


def test_firing_then_resolved_events_on_the_topic(
    broker: Running, sidecar: Running, sidecar_config: SidecarConfig, kafka_port: int
) -> None:
    rng = np.random.default_rng(7)
    reader = TopicReader(f"127.0.0.1:{kafka_port}", TOPIC)
    with httpx.Client(base_url=sidecar.url, timeout=10) as api:
        # zeros for every configured model x channel from start-up
        for model in ("m1", "m2"):
            for status in ("sent", "retried", "dropped"):
                assert (
                    metric(api, "drift_alerts_total", model=model, channel="kafka", status=status)
                    == 0.0
                )
        seen = drive(api, sidecar_config, rng, 1, True, 0, "d")
        reader.poll(1.0)
        assert reader.messages == [], "one drifted evaluation must not fire (fire_after: 2)"
        seen = drive(api, sidecar_config, rng, 2, True, seen, "e")
        firing = reader.wait_for(lambda e: e["type"] == "drift.firing", 20, "drift.firing")
        assert firing["dataset"]["drift_share"] >= 0.5
        assert firing["columns"]
        assert all(c["drifted"] and c["method"] for c in firing["columns"])
        assert firing["links"]["report"] == "https://drift.example.com/v1/models/m1/report"
        assert firing["reference"]["version"].startswith("sha256:")
        assert firing["window"]["start"] <= firing["window"]["end"]
        # clean traffic until the window has turned clean for resolve_after evaluations
        for i in range(12):
            seen = drive(api, sidecar_config, rng, 1, False, seen, f"c{i}")
            reader.poll(0.3)
            if any(e["type"] == "drift.resolved" for _, e in reader.messages):
                break
        resolved = reader.wait_for(lambda e: e["type"] == "drift.resolved", 20, "resolved")
        reader.poll(1.0)
        for key, event in reader.messages:
            check_event(event, key)
        assert [e["type"] for _, e in reader.messages] == ["drift.firing", "drift.resolved"]
        assert resolved["alert_id"] == firing["alert_id"]
        assert resolved["event_id"] != firing["event_id"]
        assert metric(api, "drift_alerts_total", model="m1", channel="kafka", status="sent") == 2
        assert metric(api, "drift_alerts_total", model="m2", channel="kafka", status="sent") == 0
        assert metric(api, "drift_alert_queue_depth", channel="kafka") == 0
    reader.close()


def test_broker_down_when_drift_starts_event_arrives_after_recovery(
    tansu_executable: str,
    sidecar: Running,
    sidecar_config: SidecarConfig,
    kafka_port: int,
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(8)
    with httpx.Client(base_url=sidecar.url, timeout=10) as api:
        drive(api, sidecar_config, rng, 3, True, 0, "d")  # fires while no broker listens
        deadline = time.monotonic() + 20
        while (
            metric(api, "drift_alerts_total", model="m1", channel="kafka", status="retried") or 0
        ) < 2:
            assert time.monotonic() < deadline, "no failed attempt was counted as retried"
            time.sleep(0.2)
        assert metric(api, "drift_alerts_total", model="m1", channel="kafka", status="sent") == 0
        running = start_tansu(tansu_executable, kafka_port, tmp_path / "tansu", TOPIC)
        try:
            reader = TopicReader(f"127.0.0.1:{kafka_port}", TOPIC)
            firing = reader.wait_for(lambda e: e["type"] == "drift.firing", 30, "drift.firing")
            key = next(k for k, e in reader.messages if e is firing)
            check_event(firing, key)
            reader.poll(2.0)
            assert len(reader.messages) == 1, reader.messages
            assert (
                metric(api, "drift_alerts_total", model="m1", channel="kafka", status="sent") == 1
            )
            assert (
                metric(api, "drift_alerts_total", model="m1", channel="kafka", status="dropped")
                == 0
            )
            reader.close()
        finally:
            stop(running)
