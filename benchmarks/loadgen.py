"""Load generator of the ingestion benchmark: HTTP/1.1 keep-alive over raw asyncio sockets.

Runs in its own process (``benchmarks/ingest.py`` starts it pinned to the second core) so that
the sidecar has a core to itself. Each of ``--connections`` connections sends one request at a
time (closed loop: the next request leaves when the previous response is complete), from
request bytes encoded before the clock starts; per request it records the latency from the
write to the last byte of the response, and whether the status was 2xx.

Scenarios:

- ``batch``: ``POST /v1/models/{model}/samples`` with 100 samples x 25 numerical features and a
  prediction each (what ``drift.client.client`` sends).
- ``cloudevents``: KServe's payload logger in binary mode. One pair is two POSTs with one fresh
  ``ce-id``: the ``org.kubeflow.serving.inference.request`` event (v1 body ``{"instances":
  [[f1, ..., f25]]}``), then the ``...inference.response`` event (``{"predictions": [p]}``).

Output: one JSON object per line on stdout, every ``--interval`` seconds (``"kind":
"interval"``: counts and latency percentiles of that interval) and once at the end (``"kind":
"final"``: totals of the whole run and of the measured part after the warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
import uuid
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import numpy as np

SAMPLES_PER_BATCH = 100
FEATURES = tuple(f"f{i:02d}" for i in range(1, 26))
PREDICTION = "prediction"
DISTINCT_BODIES = 64  # batch bodies; CloudEvents use 16x as many single instances
REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
MAX_KEPT_ERRORS = 5


# --------------------------------------------------------------------------------- the data


def feature_rows(rng: np.random.Generator, n: int) -> list[list[float | int]]:
    """``n`` rows of the 25 features as JSON would carry them from a tabular model: 5 integer
    counts and ages, 10 amounts and ratios rounded to 2-4 decimals, 10 unrounded float64
    values (normalized or embedded features), in that rotation."""
    base = rng.normal(size=(n, len(FEATURES)))
    rows: list[list[float | int]] = []
    for values in base:
        row: list[float | int] = []
        for j, value in enumerate(values.tolist()):
            kind = j % 5
            if kind == 0:
                row.append(round(40 + 12 * value))  # integer
            elif kind in (1, 2):
                row.append(round(1000 * math.exp(0.5 * value), 2 + kind))  # rounded amount
            else:
                row.append(value)  # full float64 repr
        rows.append(row)
    return rows


def predictions(rng: np.random.Generator, n: int) -> list[float]:
    return [float(p) for p in rng.random(n)]


def reference_frame(rows: int, seed: int = 0) -> dict[str, list[Any]]:
    """The reference data as columns (same distribution as the traffic)."""
    rng = np.random.default_rng(seed)
    data = feature_rows(rng, rows)
    columns: dict[str, list[Any]] = {name: [r[j] for r in data] for j, name in enumerate(FEATURES)}
    columns[PREDICTION] = predictions(rng, rows)
    return columns


# -------------------------------------------------------------------------------- requests


def _head(port: int, path: str, length: int, extra: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "User-Agent: drift-ingest-bench",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *(f"{k}: {v}" for k, v in extra),
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def batch_requests(port: int, model: str, seed: int, token: str | None = None) -> list[bytes]:
    """Whole requests (head and body) of ``DISTINCT_BODIES`` different batches."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(DISTINCT_BODIES):
        rows = feature_rows(rng, SAMPLES_PER_BATCH)
        preds = predictions(rng, SAMPLES_PER_BATCH)
        samples = [
            {"features": dict(zip(FEATURES, row, strict=True)), "prediction": p}
            for row, p in zip(rows, preds, strict=True)
        ]
        body = json.dumps({"samples": samples}).encode()
        head = _head(port, f"/v1/models/{model}/samples", len(body), _auth(token))
        out.append(head + b"\r\n" + body)
    return out


@dataclass(frozen=True)
class EventTemplates:
    """CloudEvents halves without their ``ce-id`` / ``ce-time`` lines: ``head + id + mid +
    time + tail``; ``tail`` ends the head and carries the body."""

    request_heads: list[bytes]
    request_tails: list[bytes]
    response_heads: list[bytes]
    response_tails: list[bytes]
    mid: bytes = b"\r\nce-time: "


def _auth(token: str | None) -> list[tuple[str, str]]:
    """The ``Authorization`` header for ``server.auth`` (none without a token)."""
    return [] if token is None else [("Authorization", f"Bearer {token}")]


def event_templates(
    port: int, service: str, path: str, seed: int, token: str | None = None
) -> EventTemplates:
    rng = np.random.default_rng(seed)
    n = DISTINCT_BODIES * 16
    rows = feature_rows(rng, n)
    preds = predictions(rng, n)
    common = [
        ("ce-specversion", "1.0"),
        ("ce-source", "http://localhost:9081/"),
        ("ce-inferenceservicename", service),
        ("ce-namespace", "default"),
        ("ce-component", "predictor"),
        ("ce-endpoint", service),
        *_auth(token),
    ]
    req_heads: list[bytes] = []
    req_tails: list[bytes] = []
    resp_heads: list[bytes] = []
    resp_tails: list[bytes] = []
    for row, p in zip(rows, preds, strict=True):
        for kind, body, heads, tails in (
            (REQUEST_TYPE, json.dumps({"instances": [row]}).encode(), req_heads, req_tails),
            (RESPONSE_TYPE, json.dumps({"predictions": [p]}).encode(), resp_heads, resp_tails),
        ):
            heads.append(_head(port, path, len(body), [*common, ("ce-type", kind)]) + b"ce-id: ")
            tails.append(b"\r\n\r\n" + body)
    return EventTemplates(req_heads, req_tails, resp_heads, resp_tails)


# ------------------------------------------------------------------------------ the client


@dataclass
class Tally:
    """Counts since the last report, and for the whole run."""

    requests: int = 0
    samples: int = 0
    non2xx: int = 0
    latencies: array[float] = field(default_factory=lambda: array("d"))


class Connection(asyncio.Protocol):
    """One keep-alive connection, one request in flight; a small state machine driven by the
    event loop's callbacks (no task switch per request)."""

    def __init__(self, gen: LoadGen, number: int) -> None:
        self.gen = gen
        self.number = number
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.samples = 0  # samples completed by the request in flight
        self.pair_half = 0
        self.pair_id = b""
        self.pair_body = 0
        self.serial = 0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.gen.stopping:
            self.gen.note_error(f"connection {self.number} lost: {exc!r}")
        if not self.closed.done():
            self.closed.set_result(None)

    def send_next(self) -> None:
        assert self.transport is not None
        if self.gen.stopping:
            self.transport.close()
            return
        data, self.samples = self.gen.next_request(self)
        self.sent_at = time.perf_counter()
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                self.gen.note_error(f"response without content-length: {head[:200]!r}")
                assert self.transport is not None
                self.transport.close()
                return
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            status = int(head[9:12])
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self.gen.record(time.perf_counter() - self.sent_at, status, self.samples, body)
            self.send_next()


class LoadGen:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stopping = False
        self.interval = Tally()
        self.measured = Tally()
        self.total_requests = 0
        self.total_samples = 0
        self.total_non2xx = 0
        self.measuring = False
        self.errors: list[str] = []
        self.error_count = 0
        self.non2xx_bodies: list[str] = []
        self._batches: list[bytes] = []
        self._events: EventTemplates | None = None
        self._next_body = 0
        self._time_line = b""
        self._time_second = -1
        self._run_id = uuid.uuid4().hex[:8] + "-" + uuid.uuid4().hex[:4] + "-4000"
        if args.scenario == "batch":
            self._batches = batch_requests(args.port, args.model, args.seed, args.token)
        else:
            self._events = event_templates(args.port, args.model, args.path, args.seed, args.token)

    # requests ------------------------------------------------------------------------------
    def _ce_time(self) -> bytes:
        now = time.time()
        if int(now) != self._time_second:  # RFC 3339, refreshed once a second
            self._time_second = int(now)
            self._time_line = datetime.fromtimestamp(now, UTC).isoformat().encode()
        return self._time_line

    def next_request(self, conn: Connection) -> tuple[bytes, int]:
        """The next request of ``conn`` and the samples it completes when it succeeds."""
        i = self._next_body
        self._next_body += 1
        if self._events is None:
            return self._batches[i % len(self._batches)], SAMPLES_PER_BATCH
        ev = self._events
        if conn.pair_half == 0:  # a new pair: a fresh ce-id (36 characters, like KServe's UUIDs)
            conn.serial += 1
            conn.pair_id = f"{self._run_id}-{conn.number:04x}-{conn.serial:012x}".encode()
            conn.pair_body = j = i % len(ev.request_heads)
            conn.pair_half = 1
            head, tail, completes = ev.request_heads[j], ev.request_tails[j], 0
        else:  # the response half of the same pair
            conn.pair_half = 0
            j = conn.pair_body
            head, tail, completes = ev.response_heads[j], ev.response_tails[j], 1
        return b"".join((head, conn.pair_id, ev.mid, self._ce_time(), tail)), completes

    # results -------------------------------------------------------------------------------
    def record(self, latency: float, status: int, samples: int, body: bytes) -> None:
        ok = 200 <= status < 300
        for tally in (self.interval, self.measured) if self.measuring else (self.interval,):
            tally.requests += 1
            tally.latencies.append(latency)
            if ok:
                tally.samples += samples
            else:
                tally.non2xx += 1
        self.total_requests += 1
        if ok:
            self.total_samples += samples
        else:
            self.total_non2xx += 1
            if len(self.non2xx_bodies) < MAX_KEPT_ERRORS:
                self.non2xx_bodies.append(f"{status} {body[:300].decode(errors='replace')}")

    def note_error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(text)

    def report(self, kind: str, elapsed: float, tally: Tally, seconds: float) -> None:
        lat = np.frombuffer(tally.latencies, dtype=np.float64) if tally.requests else None
        line = {
            "kind": kind,
            "elapsed": round(elapsed, 3),
            "seconds": round(seconds, 3),
            "requests": tally.requests,
            "samples": tally.samples,
            "non2xx": tally.non2xx,
            "p50": None if lat is None else float(np.percentile(lat, 50)),
            "p99": None if lat is None else float(np.percentile(lat, 99)),
            "cpu": sum(os.times()[:2]),
            "warmup": not self.measuring and kind == "interval",
        }
        if kind == "final":
            line |= {
                "total_requests": self.total_requests,
                "total_samples": self.total_samples,
                "total_non2xx": self.total_non2xx,
                "errors": self.error_count,
                "error_examples": self.errors,
                "non2xx_examples": self.non2xx_bodies,
            }
        print(json.dumps(line), flush=True)

    # the run -------------------------------------------------------------------------------
    async def run(self) -> None:
        args = self.args
        loop = asyncio.get_running_loop()
        conns: list[Connection] = []
        for n in range(args.connections):
            _, conn = await loop.create_connection(
                partial(Connection, self, n), "127.0.0.1", args.port
            )
            conns.append(conn)
        start = time.perf_counter()
        last = measure_start = start
        self.measuring = args.warmup <= 0
        # the warm-up ends on a report boundary, then a report every interval
        marks = [args.warmup] if args.warmup > 0 else []
        marks += [
            args.warmup + k * args.interval
            for k in range(1, 1 + int(args.duration // args.interval))
        ]
        if not marks or marks[-1] < args.warmup + args.duration - 1e-9:
            marks.append(args.warmup + args.duration)
        for mark in marks:
            await asyncio.sleep(max(0.0, start + mark - time.perf_counter()))
            now = time.perf_counter()
            self.report("interval", now - start, self.interval, now - last)
            self.interval = Tally()
            last = now
            if not self.measuring:
                self.measuring = True
                measure_start = now
        measure_end = time.perf_counter()
        measured = self.measured
        self.stopping = True
        await asyncio.wait([c.closed for c in conns], timeout=10.0)
        self.report("final", measure_end - start, measured, measure_end - measure_start)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--scenario", choices=["batch", "cloudevents"], required=True)
    p.add_argument("--model", default="bench", help="model (and KServe InferenceService) name")
    p.add_argument("--path", default="/v1/cloudevents", help="CloudEvents route")
    p.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between reports")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--token", help="send Authorization: Bearer <token> (server.auth)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    runner(LoadGen(args).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
