"""Client for model servers: ship samples to the sidecar without slowing the model down.

Standard library only (importing it loads no pandas, numpy or web framework)::

    client = DriftClient("http://127.0.0.1:8000", "credit-scoring")
    client.send({"age": 41, "income": 52000.5}, prediction=0.82)   # never blocks, never raises
    client.close()                                                  # at shutdown: flushes

``send`` serialises the sample (a snapshot: later changes to the caller's dicts are not seen)
into a bounded in-memory queue and returns. A background thread posts batches to
``POST /v1/models/{model}/samples``, retrying by a ``RetryPolicy`` (``retry``; by
default ``CLIENT_RETRY``). A full queue drops the new sample and counts it; nothing is ever
raised into the caller. ``stats()`` returns the counters.

``InMemoryTransport`` is the fake for users' tests: pass it as ``transport=`` and read
``transport.samples`` after ``client.flush()``.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from .retry import RETRYABLE_STATUS as RETRYABLE_STATUS
from .retry import RetryPolicy as RetryPolicy
from .retry import retry_after_seconds as retry_after_seconds

log = logging.getLogger("drift.client.client")

#: the client's retries: by attempts per batch (no age limit); retried are connection errors
#: and timeouts, 429 and 5xx, and a ``Retry-After`` is a floor capped at ``max_retry_after``
CLIENT_RETRY = RetryPolicy(
    max_attempts=5,
    max_age=None,
    initial_backoff=0.5,
    max_backoff=30.0,
    multiplier=2.0,
    jitter=0.2,
    max_retry_after=60.0,
)

LOG_INTERVAL = 30.0  # seconds between two warnings of the same kind (the rest go to DEBUG)


@dataclass(frozen=True)
class ClientStats:
    """Counters in samples (``retries`` in requests) since the client was created."""

    sent: int = 0  # accepted by the sidecar
    rejected: int = 0  # refused by the sidecar (422: per rejected sample; not retried)
    failed: int = 0  # given up: retries exhausted, a non-retryable error, or close() timed out
    retries: int = 0  # requests repeated after a retryable failure
    dropped_queue_full: int = 0  # send() while the queue held max_queue samples
    dropped_closed: int = 0  # send() after close()
    invalid: int = 0  # send() with something that is not JSON-serialisable
    capture_errors: int = 0  # middleware requests whose capture or extraction failed
    queued: int = 0  # waiting in the queue now


# transport port, its HTTP adapter and its in-memory fake ---------------------------------------


@dataclass(frozen=True)
class TransportResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case


class Transport(Protocol):
    """Posts one JSON body. Any exception counts as a connection failure (and is retried)."""

    def post(self, path: str, body: bytes, timeout: float) -> TransportResponse: ...

    def close(self) -> None: ...


class BearerToken:
    """The sidecar's ingest token (``server.auth.ingest``): inline, or the first line of a file
    re-read when it changes (looked at once a second at most), as a rotated Kubernetes Secret
    mounted into the model server's pod is."""

    def __init__(self, token: str | None = None, token_file: str | os.PathLike[str] | None = None):
        if (token is None) == (token_file is None):
            raise ValueError("give one of token, token_file")
        self._token = token.strip() if token is not None else ""
        self._file = os.fspath(token_file) if token_file is not None else None
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")

    def header(self) -> str:
        """``Bearer <token>``; a file that cannot be read keeps the last token (the sidecar
        answers 401 if that is wrong: counted as failed, logged)."""
        if self._file is not None and time.monotonic() - self._checked >= 1.0:
            self._checked = time.monotonic()
            try:
                stat = os.stat(self._file)
                stamp = (stat.st_mtime_ns, stat.st_size)
                if stamp != self._stamp:
                    with open(self._file, encoding="utf-8") as handle:
                        lines = [line.strip() for line in handle if line.strip()]
                    self._token, self._stamp = (lines[0] if lines else ""), stamp
            except OSError as exc:
                log.warning("drift client: cannot read token file %s: %s", self._file, exc)
        return f"Bearer {self._token}"


class HttpTransport:
    """``http.client`` with one keep-alive connection, used by the client's single thread.
    ``token``: sent as ``Authorization: Bearer`` when the sidecar has ``server.auth``."""

    def __init__(self, base_url: str, token: BearerToken | None = None) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port][/prefix], got {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._conn: http.client.HTTPConnection | None = None
        self._token = token

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def post(self, path: str, body: bytes, timeout: float) -> TransportResponse:
        headers = {"content-type": "application/json", "user-agent": "drift-sidecar-client"}
        if self._token is not None:
            headers["authorization"] = self._token.header()
        for fresh in (False, True):
            reused = self._conn is not None and not fresh
            if not reused:
                self.close()
                self._conn = self._connect(timeout)
            conn = self._conn
            assert conn is not None
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request("POST", self._prefix + path, body, headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if reused:
                    continue  # the server closed an idle keep-alive connection: reconnect once
                raise
            except BaseException:
                self.close()
                raise
            if response.will_close:
                self.close()
            return TransportResponse(
                response.status, data, {k.lower(): v for k, v in response.getheaders()}
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class InMemoryTransport:
    """A fake sidecar for tests: records every posted body and answers from ``responses``
    (a ``TransportResponse``, or an exception to raise), then 200 with all samples accepted."""

    def __init__(self, responses: list[TransportResponse | Exception] | None = None) -> None:
        self.responses = list(responses or [])
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (path, parsed body)
        self._lock = threading.Lock()

    @property
    def samples(self) -> list[dict[str, Any]]:
        """Samples of the requests that were answered 2xx/422 (all of them, as posted)."""
        with self._lock:
            return [s for _, body in self.requests for s in body["samples"]]

    def post(self, path: str, body: bytes, timeout: float) -> TransportResponse:
        with self._lock:
            answer = self.responses.pop(0) if self.responses else None
            if isinstance(answer, Exception):
                raise answer
            payload = json.loads(body)
            if answer is None:
                answer = TransportResponse(
                    200, json.dumps({"accepted": len(payload["samples"]), "rejected": []}).encode()
                )
            if 200 <= answer.status < 300 or answer.status == 422:
                self.requests.append((path, payload))
            return answer

    def close(self) -> None:
        pass


# the client ----------------------------------------------------------------------------------


def _json_default(value: object) -> object:
    """numpy scalars and arrays (``.item()`` / ``.tolist()``), datetimes; nothing else."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    for method in ("tolist", "item"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class _Throttled:
    """A warning at most every LOG_INTERVAL seconds per kind; the others at DEBUG."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def warning(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -LOG_INTERVAL) >= LOG_INTERVAL:
            self._last[kind] = now
            log.warning(message, *args)
        else:
            log.debug(message, *args)


class DriftClient:
    """Batches samples for one model in a background thread. See the module docstring."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
    ) -> None:
        if batch_size < 1 or max_queue < 1 or flush_interval <= 0 or timeout <= 0:
            raise ValueError(
                "need batch_size >= 1, max_queue >= 1, flush_interval > 0, timeout > 0"
            )
        self.model = model
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.timeout = timeout
        self.retry = retry or CLIENT_RETRY
        bearer = None if token is None and token_file is None else BearerToken(token, token_file)
        if transport is not None and bearer is not None:
            raise ValueError("token and token_file are for the built-in transport")
        self._transport = transport or HttpTransport(base_url, bearer)
        self._path = f"/v1/models/{urllib.parse.quote(model, safe='')}/samples"
        self._rng = random.Random()
        self._warn = _Throttled()
        self._cond = threading.Condition()
        self._queue: deque[tuple[float, bytes]] = deque()  # (time.monotonic() queued, JSON)
        self._counts: dict[str, int] = dict.fromkeys(
            ("sent", "rejected", "failed", "retries", "dropped_queue_full", "dropped_closed"), 0
        )
        self._counts.update(invalid=0, capture_errors=0)
        self._queued_total = 0  # samples ever put in the queue
        self._taken = 0  # samples the worker took from the queue
        self._done = 0  # samples the worker finished with (sent, rejected or failed)
        self._flush_upto = 0  # send everything up to this sample number without waiting
        self._closing = False
        self._abandoned = False  # close() gave up on samples
        self._deadline: float | None = None  # close(): give up on deliveries after this
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    # caller side: never raises, never waits for I/O

    def send(
        self,
        features: Mapping[str, Any],
        prediction: Any = None,
        id: str | int | None = None,
        timestamp: str | float | datetime | None = None,
        scores: float | Mapping[str, float] | None = None,
    ) -> bool:
        """Queue one sample; True when queued, False when dropped (counted in ``stats()``).
        ``id`` is what delayed labels join on; ``scores`` (the positive class's probability, or
        class -> probability) gives ROC AUC and log loss once labels arrive."""
        try:
            sample: dict[str, Any] = {"features": features}
            if prediction is not None:
                sample["prediction"] = prediction
            if scores is not None:
                sample["scores"] = scores
            if id is not None:
                sample["id"] = id
            if timestamp is not None:
                sample["timestamp"] = timestamp
            try:
                data = json.dumps(sample, default=_json_default, allow_nan=True).encode()
            except (TypeError, ValueError) as exc:
                self._count("invalid")
                self._warn.warning("invalid", "drift client: sample not sent: %s", exc)
                return False
            with self._cond:
                if self._closing:
                    self._counts["dropped_closed"] += 1
                    return False
                if len(self._queue) >= self.max_queue:
                    self._counts["dropped_queue_full"] += 1
                    return False
                self._ensure_worker()
                self._queue.append((time.monotonic(), data))
                self._queued_total += 1
                if len(self._queue) >= self.batch_size:
                    self._cond.notify_all()
            return True
        except Exception:  # never into the caller's request
            log.exception("drift client: send failed")
            return False

    def count_capture_error(self) -> None:
        """Counted by the middleware when it could not capture or extract a request."""
        self._count("capture_errors")

    def stats(self) -> ClientStats:
        with self._cond:
            return ClientStats(**self._counts, queued=len(self._queue))

    def flush(self, timeout: float = 10.0) -> bool:
        """Send everything queued so far now; True when all of it was handled (sent, rejected
        or given up) within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._queued_total
            self._flush_upto = max(self._flush_upto, target)
            self._cond.notify_all()
            while self._done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Stop taking samples, send what is queued and stop the thread. After ``timeout``
        seconds the rest is given up (counted as failed); a request in flight then ends in the
        background. True when everything queued was handled in time and none given up so."""
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            thread = self._thread
            self._cond.notify_all()
        if thread is None:
            self._transport.close()
            return True
        thread.join(timeout + 0.1)
        with self._cond:
            return not thread.is_alive() and not self._abandoned

    def __enter__(self) -> DriftClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # worker side

    def _count(self, name: str, n: int = 1) -> None:
        with self._cond:
            self._counts[name] += n

    def _ensure_worker(self) -> None:
        """Start the thread on first use, and again in a forked child (the thread is gone)."""
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="drift-client", daemon=True)
        self._thread.start()

    def _next_batch(self) -> list[bytes] | None:
        """Wait until a batch is due (full, old enough, flushed or closing); None to stop."""
        with self._cond:
            while True:
                if self._queue:
                    due = self._queue[0][0] + self.flush_interval
                    if (
                        self._closing
                        or len(self._queue) >= self.batch_size
                        or self._flush_upto > self._taken
                        or time.monotonic() >= due
                    ):
                        n = min(self.batch_size, len(self._queue))
                        self._taken += n
                        return [self._queue.popleft()[1] for _ in range(n)]
                    self._cond.wait(due - time.monotonic())
                elif self._closing:
                    return None
                else:
                    self._cond.wait()

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._deliver(batch)
            except Exception:
                log.exception("drift client: delivery failed")
                self._count("failed", len(batch))
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()
        self._transport.close()

    def _remaining(self) -> float | None:
        """Seconds left before close() gives up, None while not closing."""
        with self._cond:
            return None if self._deadline is None else self._deadline - time.monotonic()

    def _sleep(self, seconds: float) -> bool:
        """Back off; False when close()'s deadline comes first."""
        end = time.monotonic() + seconds
        with self._cond:
            while (now := time.monotonic()) < end:
                if self._deadline is not None and end > self._deadline:
                    return False
                self._cond.wait(end - now)
        return True

    def _deliver(self, batch: list[bytes]) -> None:
        body = b'{"samples":[' + b",".join(batch) + b"]}"
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                self._give_up(batch, "close() timed out", closing=True)
                return
            timeout = self.timeout if remaining is None else min(self.timeout, remaining)
            retry_after: float | None = None
            try:
                response = self._transport.post(self._path, body, timeout)
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status
                if 200 <= status < 300:
                    self._count("sent", _accepted(response.body, len(batch)))
                    return
                if status == 422:
                    self._partial(batch, response.body)
                    return
                if status == 413 and len(batch) > 1:  # too large for the sidecar: halve it
                    half = len(batch) // 2
                    self._deliver(batch[:half])
                    self._deliver(batch[half:])
                    return
                problem = f"HTTP {status} {response.body[:200]!r}"
                if not self.retry.retryable(status):
                    self._give_up(batch, problem)
                    return
                if status in (429, 503):
                    retry_after = retry_after_seconds(response.headers)
            delay = self.retry.delay(attempt, self._rng, retry_after)
            if self.retry.exhausted(attempt, time.monotonic() - started, delay):
                self._give_up(batch, f"{problem} after {attempt} attempts")
                return
            self._count("retries")
            log.debug("drift client: %s; retry %d in %.2fs", problem, attempt, delay)
            if not self._sleep(delay):
                self._give_up(batch, f"{problem}; close() timed out", closing=True)
                return

    def _give_up(self, batch: list[bytes], problem: str, closing: bool = False) -> None:
        with self._cond:
            self._counts["failed"] += len(batch)
            self._abandoned = self._abandoned or closing
        self._warn.warning(
            "failed", "drift client: gave up on %d samples for %s: %s", len(batch), self.model,
            problem,
        )  # fmt: skip

    def _partial(self, batch: list[bytes], body: bytes) -> None:
        """422: the sidecar kept the good samples; count the rejected ones, resend nothing."""
        try:
            answer = json.loads(body)
            accepted, rejected = int(answer["accepted"]), list(answer["rejected"])
        except (ValueError, TypeError, KeyError):  # the whole request was refused
            self._count("rejected", len(batch))
            self._warn.warning(
                "rejected", "drift client: %d samples refused: %r", len(batch), body[:300]
            )
            return
        self._count("sent", accepted)
        self._count("rejected", len(rejected))
        reasons = ", ".join(
            f"#{r.get('index')} {r.get('field')}: {r.get('reason')}"
            for r in rejected[:3]
            if isinstance(r, dict)
        )
        self._warn.warning(
            "rejected", "drift client: sidecar rejected %d of %d samples for %s (%s%s)",
            len(rejected), len(batch), self.model, reasons, ", ..." if len(rejected) > 3 else "",
        )  # fmt: skip


def _accepted(body: bytes, default: int) -> int:
    try:
        value = json.loads(body)["accepted"]
    except (ValueError, TypeError, KeyError):
        return default
    return value if isinstance(value, int) else default
