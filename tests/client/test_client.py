"""drift.client.client against a real HTTP server on 127.0.0.1 that records requests and answers
from a script: batching, the flush interval, the bounded queue, retries, 422 partial answers, a dead
sidecar, close(). Also: importing the client and middleware loads nothing heavy."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

import drift.client
import drift.client.retry
from drift.client.client import (
    CLIENT_RETRY,
    DriftClient,
    InMemoryTransport,
    RetryPolicy,
    TransportResponse,
    retry_after_seconds,
)
from tests.conftest import wait_until

FAST = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)
Answer = tuple[int, dict[str, str], dict[str, Any] | None]  # status, headers, JSON body


@dataclass
class Sidecar:
    """A fake sidecar: ``script`` answers first, then 200 with every sample accepted."""

    url: str = ""
    script: list[Answer] = field(default_factory=list)
    delay: float = 0.0
    requests: list[tuple[float, str, list[dict[str, Any]], int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def samples(self) -> list[dict[str, Any]]:
        with self.lock:
            return [s for _, _, samples, status in self.requests if status == 200 for s in samples]

    @property
    def statuses(self) -> list[int]:
        with self.lock:
            return [status for *_, status in self.requests]


@contextmanager
def sidecar(script: list[Answer] | None = None, delay: float = 0.0) -> Iterator[Sidecar]:
    state = Sidecar(script=list(script or []), delay=delay)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like uvicorn

        def do_POST(self) -> None:
            samples = json.loads(self.rfile.read(int(self.headers["content-length"])))["samples"]
            time.sleep(state.delay)
            with state.lock:
                if state.script:
                    status, headers, body = state.script.pop(0)
                else:
                    status, headers, body = 200, {}, None
                if body is None:
                    body = {"accepted": len(samples), "rejected": []}
                state.requests.append((time.monotonic(), self.path, samples, status))
            payload = json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that gave up and hung up (BrokenPipeError) is part of the tests

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def dead_url() -> str:
    """A port nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def server() -> Iterator[Sidecar]:
    with sidecar() as state:
        yield state


def test_batches_of_batch_size_reach_the_samples_route(server: Sidecar) -> None:
    client = DriftClient(server.url, "credit scoring", batch_size=10, flush_interval=30)
    for i in range(25):
        assert client.send({"age": i, "city": "rome"}, prediction=0.5, id=f"r{i}")
    wait_until(lambda: len(server.requests) == 2, what="two full batches")
    assert client.close(5)
    assert [len(samples) for _, _, samples, _ in server.requests] == [10, 10, 5]
    assert {path for _, path, _, _ in server.requests} == {"/v1/models/credit%20scoring/samples"}
    assert server.samples[3] == {
        "features": {"age": 3, "city": "rome"},
        "prediction": 0.5,
        "id": "r3",
    }
    assert client.stats().sent == 25


def test_scores_travel_with_the_sample(server: Sidecar) -> None:
    with DriftClient(server.url, "m", batch_size=2, flush_interval=30) as client:
        client.send({"x": 1.0}, prediction=1, id="a", scores=0.8)
        client.send({"x": 2.0}, prediction="cat", id="b", scores={"cat": 0.7, "dog": 0.3})
        wait_until(lambda: len(server.requests) == 1, what="the batch")
    assert server.samples[0]["scores"] == 0.8
    assert server.samples[1]["scores"] == {"cat": 0.7, "dog": 0.3}


def test_a_partial_batch_goes_out_after_flush_interval(server: Sidecar) -> None:
    with DriftClient(server.url, "m", batch_size=100, flush_interval=0.2) as client:
        sent_at = time.monotonic()
        client.send({"x": 1.0})
        wait_until(lambda: len(server.requests) == 1, what="the interval flush")
        waited = server.requests[0][0] - sent_at
        assert 0.15 <= waited < 2.0
        # counted when the answer is back, a moment after the server saw the request
        wait_until(lambda: client.stats().sent == 1, what="the send to be counted")


def test_flush_sends_now_and_snapshots_the_sample(server: Sidecar) -> None:
    client = DriftClient(server.url, "m", flush_interval=60)
    features = {"x": 1.0, "when": datetime(2026, 1, 2, tzinfo=UTC), "n": np.float64(2.5)}
    client.send(features, timestamp=1767312000.0)
    features["x"] = 99.0  # later changes by the caller are not sent
    assert client.flush(5)
    assert server.samples == [
        {
            "features": {"x": 1.0, "when": "2026-01-02T00:00:00+00:00", "n": 2.5},
            "timestamp": 1767312000.0,
        }
    ]
    client.close()


def test_full_queue_drops_and_counts(server: Sidecar) -> None:
    server.delay = 0.3  # the worker is busy with the first batch while the queue fills
    client = DriftClient(server.url, "m", batch_size=5, max_queue=10, flush_interval=60)
    accepted = [client.send({"x": i}) for i in range(5)]
    wait_until(lambda: client.stats().queued == 0, what="the worker took the first batch")
    accepted += [client.send({"x": i}) for i in range(5, 30)]
    assert accepted == [True] * 15 + [False] * 15
    stats = client.stats()
    assert stats.dropped_queue_full == 15
    assert stats.queued == 10
    assert client.close(5)
    assert client.stats().sent == 15
    assert [s["features"]["x"] for s in server.samples] == list(range(15))


def test_retries_503_honouring_retry_after() -> None:
    not_ready = {"error": "not_ready", "model": "m", "detail": "loading"}
    with sidecar([(503, {"Retry-After": "1"}, not_ready)]) as server:
        client = DriftClient(server.url, "m", retry=FAST)
        client.send({"x": 1})
        assert client.flush(10)
        (first, *_), (second, *_) = server.requests
        assert second - first >= 0.95  # Retry-After, not the 10 ms backoff
        assert server.statuses == [503, 200]
        stats = client.stats()
        assert (stats.sent, stats.retries, stats.failed) == (1, 1, 0)
        client.close()


def test_a_retry_after_shorter_than_the_backoff_waits_the_backoff() -> None:
    slow = RetryPolicy(max_attempts=3, max_age=None, initial_backoff=0.5, max_backoff=1, jitter=0)
    with sidecar([(429, {"Retry-After": "0"}, {"error": "busy"})]) as server:
        client = DriftClient(server.url, "m", retry=slow)
        client.send({"x": 1})
        assert client.flush(10)
        (first, *_), (second, *_) = server.requests
        assert second - first >= 0.45  # Retry-After is a floor, not a replacement
        assert server.statuses == [429, 200]
        client.close()


def test_the_default_policy_is_the_clients_own() -> None:
    client = DriftClient("http://unused", "m", transport=InMemoryTransport())
    assert client.retry is CLIENT_RETRY
    assert (CLIENT_RETRY.max_attempts, CLIENT_RETRY.max_age) == (5, None)
    assert drift.client.RetryPolicy is drift.client.retry.RetryPolicy is RetryPolicy
    client.close()


def test_retries_500_with_backoff_then_gives_up() -> None:
    error = {"error": "internal"}
    with sidecar([(500, {}, error)] * 2) as server:
        client = DriftClient(server.url, "m", retry=FAST)
        client.send({"x": 1})
        assert client.flush(5)
        assert server.statuses == [500, 500, 200]
        assert client.stats().retries == 2
        assert client.stats().sent == 1
        client.close()
    with sidecar([(500, {}, error)] * 10) as server:
        client = DriftClient(server.url, "m", retry=FAST)
        client.send({"x": 1})
        assert client.flush(5)
        assert server.statuses == [500] * 4  # max_attempts
        stats = client.stats()
        assert (stats.sent, stats.failed, stats.retries) == (0, 1, 3)
        client.close()


@pytest.mark.parametrize("status", [400, 404, 413])
def test_no_retry_on_other_4xx(status: int) -> None:
    with sidecar([(status, {}, {"error": "nope"})]) as server:
        client = DriftClient(server.url, "m", retry=FAST)
        client.send({"x": 1})
        assert client.flush(5)
        assert server.statuses == [status]
        assert client.stats().failed == 1
        assert client.stats().retries == 0
        client.close()


def test_413_splits_the_batch() -> None:
    with sidecar([(413, {}, {"error": "too_many_samples"})]) as server:
        client = DriftClient(server.url, "m", flush_interval=60)
        for i in range(6):
            client.send({"x": i})
        assert client.flush(5)
        assert [len(s) for _, _, s, _ in server.requests] == [6, 3, 3]
        assert client.stats().sent == 6
        client.close()


def test_422_counts_rejected_samples_and_resends_nothing(caplog: pytest.LogCaptureFixture) -> None:
    partial = {
        "accepted": 2,
        "rejected": [
            {"index": 1, "field": "features.age", "reason": "missing_field", "detail": "required"}
        ],
    }
    with sidecar([(422, {}, partial)]) as server:
        client = DriftClient(server.url, "m", flush_interval=60, retry=FAST)
        for i in range(3):
            client.send({"age": i})
        assert client.flush(5)
        time.sleep(0.1)
        assert server.statuses == [422]
        stats = client.stats()
        assert (stats.sent, stats.rejected, stats.failed, stats.retries) == (2, 1, 0, 0)
        assert "#1 features.age: missing_field" in caplog.text
        client.close()


def test_dead_sidecar_never_raises_and_send_returns_fast() -> None:
    client = DriftClient(dead_url(), "m", batch_size=20, retry=FAST, timeout=0.5)
    durations = []
    for i in range(200):
        start = time.perf_counter()
        assert client.send({"x": i}) in (True, False)
        durations.append(time.perf_counter() - start)
    assert max(durations) < 0.1  # no network I/O on the caller's thread
    assert client.flush(10)
    stats = client.stats()
    assert stats.failed + stats.dropped_queue_full == 200
    assert stats.sent == 0
    assert stats.retries > 0
    client.close(1)


def test_send_never_blocks_while_the_sidecar_hangs() -> None:
    with sidecar(delay=2.0) as server:
        client = DriftClient(server.url, "m", batch_size=1, max_queue=5, timeout=10)
        start = time.perf_counter()
        results = [client.send({"x": i}) for i in range(50)]
        assert time.perf_counter() - start < 0.5
        assert results.count(False) == client.stats().dropped_queue_full > 0
        assert not client.close(0.2)  # gives up on what it could not deliver in time
        wait_until(lambda: client.stats().queued == 0, what="queue drained as failed")


def test_close_flushes_and_later_sends_are_dropped(server: Sidecar) -> None:
    client = DriftClient(server.url, "m", batch_size=100, flush_interval=60)
    for i in range(7):
        client.send({"x": i})
    assert client.close(5)
    assert len(server.samples) == 7
    assert client.send({"x": 8}) is False
    assert client.stats().dropped_closed == 1


def test_close_gives_up_after_its_timeout() -> None:
    with sidecar([(503, {"Retry-After": "30"}, {"error": "not_ready"})]) as server:
        client = DriftClient(server.url, "m", retry=FAST)
        client.send({"x": 1})
        wait_until(lambda: len(server.requests) == 1, what="the first attempt")
        start = time.monotonic()
        assert not client.close(0.3)
        assert time.monotonic() - start < 2.0
        assert client.stats().failed == 1


def test_unserialisable_sample_is_counted_not_raised(server: Sidecar) -> None:
    client = DriftClient(server.url, "m")
    assert client.send({"x": object()}) is False
    assert client.stats().invalid == 1
    client.close()


def test_in_memory_transport_for_users_tests() -> None:
    transport = InMemoryTransport([TransportResponse(503, b"{}", {"retry-after": "0"})])
    client = DriftClient("http://unused", "m", transport=transport, retry=FAST)
    client.send({"x": 1}, prediction="yes", id=7)
    assert client.flush(5)
    assert transport.samples == [{"features": {"x": 1}, "prediction": "yes", "id": 7}]
    assert transport.requests[0][0] == "/v1/models/m/samples"
    assert client.stats().retries == 1
    client.close()


def test_retry_after_parsing_and_policy_validation() -> None:
    assert retry_after_seconds({"retry-after": "5"}) == 5.0
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"Retry-After": ["2"]}) == 2.0  # what Slack's responses carry
    policy = RetryPolicy(initial_backoff=1, max_backoff=4, jitter=0, max_retry_after=10)
    import random

    rng = random.Random(0)
    assert [policy.delay(n, rng) for n in (1, 2, 3, 4)] == [1, 2, 4, 4]
    assert policy.delay(1, rng, retry_after=60) == 10
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="batch_size"):
        DriftClient("http://x", "m", batch_size=0)
    with pytest.raises(ValueError, match="base_url"):
        DriftClient("ftp://x", "m")


def test_importing_client_and_middleware_is_cheap() -> None:
    heavy = ["pandas", "numpy", "scipy", "fastapi", "starlette", "pydantic", "httpx", "uvicorn"]
    code = (
        "import sys, drift.client.client, drift.client.middleware; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == "[]"
