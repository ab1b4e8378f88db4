"""Fleet mode on a real Kafka-protocol broker (tansu): shippers in the model pods, aggregators in
one consumer group, one exact verdict per model, failover after ``kill -9``, a broker that stops
answering, messages that are not the contract.

Each test starts its own broker (in-memory storage) with the samples and labels topics of 4
partitions, then real ``drift-sidecar serve`` processes configured as shippers or aggregators.
"""

from __future__ import annotations

import json
import math
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from drift import compare
from tests.integration.alerting_components import TopicReader
from tests.integration.conftest import (
    CATEGORICAL,
    NUMERICAL,
    PREDICTION,
    Running,
    _stop,
    make_rows,
    serve,
    to_samples,
)
from tests.integration.fleet_components import (
    LABELS,
    SAMPLES,
    Broker,
    broker,
    drift_of,
    frame_of,
    metric,
    write_config,
)

COLUMNS = {"numerical": list(NUMERICAL), "categorical": [CATEGORICAL], "prediction": PREDICTION}
ALERTS = "drift-alerts"


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"not within {timeout:.0f} s: {what}")


def post(running: Running, samples: list[dict[str, Any]], route: str = "samples") -> int:
    response = httpx.post(f"{running.url}/v1/models/m1/{route}", json={route: samples}, timeout=10)
    assert response.status_code == 200, response.text
    accepted: int = response.json()["accepted"]
    return accepted


def shifted(rng: np.random.Generator, n: int, prefix: str) -> list[dict[str, Any]]:
    """Samples with a small shift of x1 and the reference distribution elsewhere."""
    rows = make_rows(rng, n)
    rows["x1"] = rows["x1"] + 0.5
    return to_samples(rows, prefix)


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[Broker]:
    with broker(tmp_path / "tansu") as started:
        yield started


def reference_frame(home: Path) -> Any:
    import pandas as pd

    return pd.read_csv(home / "m1.csv")


def assert_scores_equal(report: dict[str, Any], expected: Any) -> None:
    """Every column's score (1e-9) and verdict, the prediction's and the dataset's."""
    got = {**report["columns"], PREDICTION: report["prediction"]}
    wanted = [*expected.columns, expected.prediction]
    assert len(wanted) == len(got) == 6
    for want in wanted:
        column = got[want.column]
        assert math.isclose(column["score"], want.score, rel_tol=1e-9, abs_tol=1e-12), (
            want.column,
            column["score"],
            want.score,
        )
        assert column["drifted"] == want.drifted, want.column
    assert report["dataset"]["drifted"] == expected.dataset_drift


def samples_seen(report: dict[str, Any] | None) -> int:
    return -1 if report is None else int(report["window"]["samples_seen"])


def test_one_exact_verdict_over_three_shippers(kafka: Broker, tmp_path: Path) -> None:
    """3 shippers fed disjoint thirds + 2 aggregators: exactly one aggregator reports m1, its
    scores equal ``drift.compare`` on the union, its drift_samples_total equals what the
    shippers accepted."""
    home = tmp_path
    samples = shifted(np.random.default_rng(7), 900, "s")
    with ExitStack() as stack:
        aggregators = []
        for i in range(2):
            config = write_config(home, f"agg{i}", "aggregator", kafka.bootstrap, window=900)
            running = serve(config, home, f"agg{i}", timeout=40)
            stack.callback(_stop, running)
            aggregators.append(running)
        shippers = []
        for i in range(3):
            config = write_config(home, f"ship{i}", "shipper", kafka.bootstrap, window=900)
            running = serve(config, home, f"ship{i}")
            stack.callback(_stop, running)
            shippers.append(running)
        accepted = 0
        for i in range(0, 900, 50):  # round-robin over the replicas, as a load balancer would
            accepted += post(shippers[(i // 50) % 3], samples[i : i + 50])
        assert accepted == 900

        def owner() -> Running | None:
            for running in aggregators:
                report = drift_of(running)
                if samples_seen(report) == 900:
                    return running
            return None

        found = wait_until(owner, 60, "an aggregator reports all 900 samples")
        other = aggregators[1 - aggregators.index(found)]
        assert drift_of(other) is None
        assert metric(other, "drift_window_samples", model="m1") is None
        assert metric(other, "drift_fleet_owned_models") == 0
        assert metric(found, "drift_fleet_owned_models") == 1
        assert metric(found, "drift_samples_total", model="m1") == accepted
        for running in shippers:  # a shipper judges nothing
            assert drift_of(running) is None
        produced = sum(
            metric(r, "drift_fleet_produced_items_total", topic=SAMPLES) or 0 for r in shippers
        )
        assert produced == accepted
        report = drift_of(found)
        assert report is not None
        expected = compare(
            reference_frame(home),
            frame_of(samples),
            columns=COLUMNS,
            drift={"share_threshold": 0.5},
        )
        assert_scores_equal(report, expected)


def alerts_section(bootstrap: str) -> str:
    return (
        "alerts:\n"
        "  fire_after: 2\n"
        "  resolve_after: 2\n"
        "  kinds: [dataset]\n"
        "  kafka:\n"
        f"    bootstrap_servers: '{bootstrap}'\n"
        f"    topic: {ALERTS}\n"
        "    message_timeout_seconds: 5\n"
    )


def m1_in_order(bootstrap: str) -> list[dict[str, Any]]:
    """Every sample of m1 in the samples topic, in partition order (what a window holds). Read
    until the topic is quiet: tansu 0.6 reports high watermarks that count record batches."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "fleet-test-reader"})
    try:
        parts = reader.list_topics(SAMPLES, timeout=10).topics[SAMPLES].partitions
        reader.assign([TopicPartition(SAMPLES, p, OFFSET_BEGINNING) for p in parts])
        found: dict[int, list[tuple[int, list[dict[str, Any]]]]] = {p: [] for p in parts}
        quiet = 0
        while quiet < 3:
            message = reader.poll(1)
            if message is None:
                quiet += 1
                continue
            if message.error() is not None:
                continue
            quiet = 0
            value = json.loads(message.value() or b"{}") if message.key() == b"m1" else {}
            found[message.partition() or 0].append(
                (message.offset() or 0, value.get("samples", []))
            )
        held = [p for p, got in found.items() if any(samples for _, samples in got)]
        assert len(held) == 1, f"m1 in partitions {held}: one partition holds a model"
        return [s for _, samples in sorted(found[held[0]], key=lambda m: m[0]) for s in samples]
    finally:
        reader.close()


def firings(reader: TopicReader) -> list[dict[str, Any]]:
    reader.poll(1.0)
    return [e for _, e in reader.messages if e["type"] == "drift.firing" and not e["repeat"]]


def test_failover_after_kill_9(kafka: Broker, tmp_path: Path) -> None:
    """kill -9 of the owner: the other aggregator takes m1 over, rebuilds the full window from
    the topic, reports the same scores as drift.compare on the window's samples, sends no
    second FIRING, and labels posted after the handover join predictions sent before it."""
    home = tmp_path
    alerts = alerts_section(kafka.bootstrap)
    reader = TopicReader(kafka.bootstrap, ALERTS)
    with ExitStack() as stack:
        stack.callback(reader.close)
        aggregators = []
        for i in range(2):
            config = write_config(
                home, f"agg{i}", "aggregator", kafka.bootstrap, window=600, alerts=alerts
            )
            running = serve(config, home, f"agg{i}", timeout=40)
            stack.callback(_stop, running)
            aggregators.append(running)
        config = write_config(home, "ship", "shipper", kafka.bootstrap, window=600)
        shipper = serve(config, home, "ship")
        stack.callback(_stop, shipper)
        rng = np.random.default_rng(11)
        samples = to_samples(make_rows(rng, 1200, drifted=True), "f")
        for i in range(0, 1200, 100):
            post(shipper, samples[i : i + 100])

        def owner() -> Running | None:
            for running in aggregators:
                if samples_seen(drift_of(running)) == 1200:
                    return running
            return None

        old = wait_until(owner, 60, "an aggregator reports all 1200 samples")
        wait_until(lambda: firings(reader), 30, "a FIRING on the alerts topic")
        time.sleep(2.0)  # the owner's record and commit (fleet.commit_seconds: 0.5)
        new = aggregators[1 - aggregators.index(old)]
        assert drift_of(new) is None

        old.process.kill()  # SIGKILL: no commit, no goodbye to the group
        old.process.wait(10)
        killed_at = time.monotonic()
        report = wait_until(lambda: drift_of(new), 60, "the other aggregator reports m1")
        handover = time.monotonic() - killed_at
        assert report["window"]["samples"] == 600
        window = m1_in_order(kafka.bootstrap)[-600:]
        assert {s["id"] for s in window} == {s["id"] for s in samples[600:]}
        expected = compare(
            reference_frame(home), frame_of(window), columns=COLUMNS, drift={"share_threshold": 0.5}
        )
        assert_scores_equal(report, expected)
        assert metric(new, "drift_fleet_owned_models") == 1
        assert (metric(new, "drift_fleet_replayed_messages_total", topic=SAMPLES) or 0) >= 6
        # replayed samples are not new ones: counted once, by the owner that took them first
        assert (metric(new, "drift_samples_total", model="m1") or 0) == 0

        more = to_samples(make_rows(rng, 300, drifted=True), "g")
        for i in range(0, 300, 100):
            post(shipper, more[i : i + 100])
        wait_until(
            lambda: samples_seen(drift_of(new)) >= (report["window"]["samples_seen"] + 300),
            30,
            "the new owner evaluates the traffic after the handover",
        )
        time.sleep(1.0)
        assert len(firings(reader)) == 1, firings(reader)

        labels = [{"id": s["id"], "label": s["prediction"]} for s in samples[700:800]]
        response = httpx.post(f"{shipper.url}/v1/models/m1/labels", json={"labels": labels})
        assert response.status_code == 200, response.text
        wait_until(
            lambda: metric(new, "drift_labels_total", model="m1", outcome="matched") == 100,
            30,
            "labels sent after the handover join the predictions sent before it",
        )
        print(f"handover after kill -9: {handover:.1f} s")


def test_broker_stopped_under_load(kafka: Broker, tmp_path: Path) -> None:
    """The broker stops answering for 30 s (SIGSTOP) under shipper load: ingestion latency
    unchanged, the buffer bounded, drops past the bound counted, delivery resumes."""
    home = tmp_path
    bound = 300_000
    config = write_config(
        home,
        "ship",
        "shipper",
        kafka.bootstrap,
        window=600,
        extra_fleet=f"  max_buffer_bytes: {bound}\n",
    )
    rng = np.random.default_rng(5)
    batch = to_samples(make_rows(rng, 20), "b")
    with ExitStack() as stack:
        shipper = serve(config, home, "ship")
        stack.callback(_stop, shipper)
        client = stack.enter_context(httpx.Client(base_url=shipper.url, timeout=10))

        def load(seconds: float) -> list[float]:
            took = []
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = client.post("/v1/models/m1/samples", json={"samples": batch})
                took.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                time.sleep(0.01)
            return took

        before = load(5.0)
        wait_until(
            lambda: metric(shipper, "drift_fleet_produced_items_total", topic=SAMPLES),
            20,
            "delivery",
        )
        kafka.running.process.send_signal(signal.SIGSTOP)
        try:
            during = load(30.0)
            buffered = metric(shipper, "drift_fleet_buffer_bytes") or 0
            dropped = metric(
                shipper, "drift_fleet_dropped_items_total", topic=SAMPLES, reason="buffer_full"
            )
            delivered_before = (
                metric(shipper, "drift_fleet_produced_items_total", topic=SAMPLES) or 0
            )
        finally:
            kafka.running.process.send_signal(signal.SIGCONT)
        p99 = [statistics.quantiles(t, n=100)[98] for t in (before, during)]
        print(f"ingestion p99: {p99[0] * 1000:.1f} ms before, {p99[1] * 1000:.1f} ms stopped")
        assert p99[1] < max(3 * p99[0], 0.05), p99
        assert 0 < buffered <= bound
        assert dropped is not None
        assert dropped > 0
        wait_until(
            lambda: (
                (metric(shipper, "drift_fleet_produced_items_total", topic=SAMPLES) or 0)
                > delivered_before
            ),
            60,
            "delivery resumes when the broker answers again",
        )
        wait_until(
            lambda: metric(shipper, "drift_fleet_buffer_bytes") == 0, 60, "the buffer drains"
        )


def test_poison_messages_are_skipped(kafka: Broker, tmp_path: Path) -> None:
    """Messages that are not JSON, not the contract, without a key or of an unknown model are
    counted and skipped; the valid ones after them are applied."""
    from confluent_kafka import Producer

    home = tmp_path
    config = write_config(home, "agg", "aggregator", kafka.bootstrap, window=100, step=50)
    with ExitStack() as stack:
        aggregator = serve(config, home, "agg", timeout=40)
        stack.callback(_stop, aggregator)
        producer = Producer({"bootstrap.servers": kafka.bootstrap, "partitioner": "murmur2_random"})
        good = to_samples(make_rows(np.random.default_rng(2), 100), "p")
        bad: list[tuple[bytes | None, bytes]] = [
            (b"m1", b"{not json"),
            (b"m1", b'{"rows": []}'),
            (b"m1", b'{"samples": 3}'),
            (None, json.dumps({"samples": good[:1]}).encode()),
            (b"other", json.dumps({"samples": good[:1]}).encode()),
            (b"m1", b"\xff\xfe"),
        ]
        for key, value in bad:
            producer.produce(SAMPLES, key=key, value=value)
        producer.produce(LABELS, key=b"m1", value=b"[]")
        producer.produce(SAMPLES, key=b"m1", value=json.dumps({"samples": good}).encode())
        assert producer.flush(10) == 0
        wait_until(
            lambda: metric(aggregator, "drift_samples_total", model="m1") == 100,
            30,
            "the valid message after the bad ones is applied",
        )

        def skipped(reason: str, topic: str = SAMPLES) -> float:
            return (
                metric(aggregator, "drift_fleet_skipped_messages_total", topic=topic, reason=reason)
                or 0
            )

        assert skipped("invalid_json") == 2
        assert skipped("invalid_body") == 2
        assert skipped("invalid_body", LABELS) == 1
        assert skipped("no_key") == 1
        assert skipped("unknown_model") == 1
        report = wait_until(lambda: drift_of(aggregator), 30, "a report of the valid samples")
        assert report["window"]["samples"] == 100
