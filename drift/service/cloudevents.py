"""The CloudEvents collector: payload logger events in, samples (and Seldon feedback labels) out.

Glue between the pure parts (``drift.ingest.cloudevents`` parses and decodes,
``drift.ingest.pairing`` holds the halves that wait) and the service (``DriftService.ingest`` /
``ingest_labels``), with its own Prometheus metrics in ``service.registry``.
``CloudEventsMiddleware`` serves ``POST /`` and ``POST /v1/cloudevents`` ahead of FastAPI's
routing: the two paths take one POST per event (two per prediction), so they skip the
routing, dependency injection and request parsing.

Status codes, chosen so that no sender retries an event it cannot do better with (KServe's and
Seldon's loggers only log a non-2xx answer; a Knative broker or channel in between retries 404,
409, 429 and 5xx):

* 200: the event was used: it waits for its other half, completed a pair whose samples are
  queued (ingested in batches, within ``FLUSH_SECONDS``), or (Seldon feedback) became labels.
  Sample rejections are counted (``drift_samples_rejected_total``), not answered.
* 202: accepted and dropped, counted by outcome: no model takes these events (``unroutable``),
  an event type or Seldon graph node that is not monitored (``ignored``), a second copy of a
  waiting half (``duplicate``), a pair whose response reported a non-2xx ``ce-statuscode``
  (``error_response``), the model's reference is still loading (``not_ready``).
* 400: not a usable CloudEvent (a required attribute missing, the body not JSON), naming the
  header or field; 413: over ``server.max_body_bytes`` (or a pair with more instances than
  ``server.max_samples_per_request``); 422: the payload does not match the model's
  ``kserve:``/``seldon:`` mapping, naming the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drift.errors import DriftError, InvalidRequest
from drift.ingest import jsonbody
from drift.ingest.cloudevents import (
    BATCH,
    STRUCTURED,
    CloudEvent,
    Kind,
    PayloadMapping,
    Source,
    Undecodable,
    binary_attributes,
    classify,
    feature_rows,
    feedback_truth,
    labels_payload,
    media_type,
    parse_attributes,
    parse_batch,
    parse_structured,
    predictions,
    samples_payload,
)
from drift.ingest.pairing import Drop, Offered, PendingTable, Side

if TYPE_CHECKING:
    from drift.service.service import DriftService


MAX_BATCH = 256
"""Paired samples are ingested in batches of up to this many (per model) ..."""
FLUSH_SECONDS = 0.02
"""... or this long after the first of them was paired, whichever comes first: one
``DriftService.ingest`` call per sample costs ~10x more than its share of a batch of 64."""


class Outcome(StrEnum):
    """What happened to one event; the ``outcome`` label of ``drift_cloudevents_total``."""

    PAIRED = "paired"  # completed a pair: its samples are queued for ingestion
    WAITING = "waiting"  # stored until its other half arrives
    LABELS = "labels"  # Seldon feedback: its truth ingested as labels
    ERROR_RESPONSE = "error_response"  # completed a pair whose response reported non-2xx
    UNROUTABLE = "unroutable"  # no model takes events of this service / namespace
    IGNORED = "ignored"  # a type or graph node that carries nothing monitored
    DUPLICATE = "duplicate"  # the same half of this pair is waiting already
    NOT_READY = "not_ready"  # the model's reference is not loaded yet
    UNDECODABLE = "undecodable"  # the payload does not match the model's mapping
    INVALID = "invalid"  # not a usable CloudEvent (400)
    TOO_LARGE = "too_large"  # over server.max_body_bytes (413)


STATUS = {
    Outcome.PAIRED: 200,
    Outcome.WAITING: 200,
    Outcome.LABELS: 200,
    Outcome.ERROR_RESPONSE: 202,
    Outcome.UNROUTABLE: 202,
    Outcome.IGNORED: 202,
    Outcome.DUPLICATE: 202,
    Outcome.NOT_READY: 202,
    Outcome.UNDECODABLE: 422,
    Outcome.INVALID: 400,
    Outcome.TOO_LARGE: 413,
}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: dict[str, Any]
    raw: bytes | None = None  # the body encoded in advance (the frequent replies)

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, separators=(",", ":")).encode()

    @classmethod
    def ready(cls, status: int, body: dict[str, Any]) -> Reply:
        return cls(status, body, cls(status, body).encode())


@dataclass(frozen=True, slots=True)
class _Route:
    model: str
    source: Source
    mapping: PayloadMapping
    config_key: str  # kserve | seldon: names the config section in error messages
    model_id: str | None = None  # Seldon: only this graph node


@dataclass(slots=True)
class _Half:
    """A decoded half waiting in the table."""

    source: Source
    rows: list[dict[str, Any]] | None  # request: the instances
    preds: list[Any] | None  # response: one prediction per instance (None: not monitored)
    failed: bool = False  # a response with a non-2xx status


def _routes(service: DriftService) -> dict[tuple[Source, str, str | None], _Route]:
    """(source, service name, namespace or None for any) -> the model that takes the events."""
    table: dict[tuple[Source, str, str | None], _Route] = {}
    for name, cfg in service.settings.models.items():
        if cfg.kserve is not None:
            k = cfg.kserve
            mapping = PayloadMapping(
                tuple(k.features) if k.features else None, k.input_tensor, k.output
            )
            key = (Source.KSERVE, k.inference_service or name, k.namespace)
            table[key] = _Route(name, Source.KSERVE, mapping, "kserve")
        if cfg.seldon is not None:
            s = cfg.seldon
            mapping = PayloadMapping(tuple(s.features) if s.features else None, None, s.output)
            key = (Source.SELDON, s.deployment or name, s.namespace)
            table[key] = _Route(name, Source.SELDON, mapping, "seldon", s.model_id)
    return table


class CloudEventsMetrics:
    """``drift_cloudevents_total{source, outcome}``, ``drift_cloudevents_expired_total{source,
    half}`` (halves dropped without their other half: expired, or evicted from a full table),
    ``drift_cloudevents_evicted_total{source, half}`` (the evicted part of those) and the
    ``drift_cloudevents_pending`` gauge (read at scrape time, after sweeping expired halves)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        table: PendingTable[Any, _Half],
        sources: Sequence[Source],
    ) -> None:
        # registered first: the sweep at scrape time runs before the counters are collected
        registry.register(_PendingCollector(table))
        self.events = Counter(
            "drift_cloudevents",
            "CloudEvents received from payload loggers, by sender and what became of them",
            ["source", "outcome"],
            registry=registry,
        )
        self.expired = Counter(
            "drift_cloudevents_expired",
            "Request or response halves dropped without their other half "
            "(waited cloudevents.pending_seconds, or evicted from a full table)",
            ["source", "half"],
            registry=registry,
        )
        self.evicted = Counter(
            "drift_cloudevents_evicted",
            "Halves evicted (oldest first) because cloudevents.max_pending were waiting",
            ["source", "half"],
            registry=registry,
        )
        self._events: dict[tuple[Source, Outcome], Any] = {}
        for source in sources:  # zeros from the start for the senders a model is set up for
            for outcome in Outcome:
                self._child(source, outcome)
            for side in Side:
                self.expired.labels(source.value, side.value)
                self.evicted.labels(source.value, side.value)

    def _child(self, source: Source, outcome: Outcome) -> Any:
        child = self._events.get((source, outcome))
        if child is None:
            child = self._events[source, outcome] = self.events.labels(source.value, outcome.value)
        return child

    def event(self, source: Source, outcome: Outcome) -> None:
        self._child(source, outcome).inc()

    def dropped(self, reason: Drop, side: Side, half: _Half) -> None:
        self.expired.labels(half.source.value, side.value).inc()
        if reason is Drop.EVICTED:
            self.evicted.labels(half.source.value, side.value).inc()


class _PendingCollector(Collector):
    def __init__(self, table: PendingTable[Any, _Half]) -> None:
        self._table = table

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self._table.sweep()
        gauge = GaugeMetricFamily(
            "drift_cloudevents_pending", "Request or response halves waiting for their other half"
        )
        gauge.add_metric([], len(self._table))
        yield gauge


class CloudEventsIngest:
    """Handles CloudEvents; thread-safe (the table has its lock, the service its own)."""

    def __init__(self, service: DriftService, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        cfg = service.settings.cloudevents
        self._routes = _routes(service)
        self._table: PendingTable[tuple[str, ...], _Half] = PendingTable(
            cfg.pending_seconds, cfg.max_pending, self._dropped, clock
        )
        self.metrics = CloudEventsMetrics(
            service.registry, self._table, sorted({r.source for r in self._routes.values()})
        )
        models = service.settings.models
        self._waiting = {m: Reply.ready(200, {"outcome": "waiting", "model": m}) for m in models}
        self._paired_one = {
            m: Reply.ready(200, {"outcome": "paired", "model": m, "samples": 1}) for m in models
        }
        self._max_samples = service.settings.server.max_samples_per_request
        self._max_batch = min(MAX_BATCH, self._max_samples)
        self._queued: dict[str, list[dict[str, Any]]] = {}
        self._queue_lock = threading.Lock()
        # held for a whole flush: when flush() returns, what was queued before is in the window
        self._flush_lock = threading.Lock()
        self._waiting_samples = 0

    @classmethod
    def of(cls, service: DriftService) -> CloudEventsIngest:
        """The service's collector, made on first use (its metrics go into ``service.registry``,
        which takes them once: every app built around the service shares it)."""
        ingest = _BY_SERVICE.get(service)
        if ingest is None:
            ingest = _BY_SERVICE[service] = cls(service)
        return ingest

    def _dropped(self, reason: Drop, side: Side, half: _Half) -> None:
        self.metrics.dropped(reason, side, half)

    @property
    def pending(self) -> int:
        return len(self._table)

    @property
    def queued(self) -> int:
        """Samples of completed pairs not yet ingested (see ``flush``)."""
        return self._waiting_samples

    def flush(self) -> int:
        """Ingest every queued sample now; returns how many. The HTTP route calls it
        ``FLUSH_SECONDS`` after a pair was queued; a full batch is ingested right away.
        Sample rejections are counted by the service (``drift_samples_rejected_total``)."""
        with self._flush_lock:
            with self._queue_lock:
                queued, self._queued = self._queued, {}
                self._waiting_samples = 0
            total = 0
            for model, samples in queued.items():
                total += len(samples)
                for start in range(0, len(samples), self._max_samples):
                    chunk = {"samples": samples[start : start + self._max_samples]}
                    with contextlib.suppress(DriftError):  # not ready: the service counts it
                        self.service.ingest(model, chunk)
            return total

    def _queue(self, model: str, samples: list[dict[str, Any]]) -> None:
        with self._queue_lock:
            batch = self._queued.get(model)
            if batch is None:
                batch = self._queued[model] = []
            batch.extend(samples)
            self._waiting_samples += len(samples)
            full = len(batch) >= self._max_batch
        if full:
            self.flush()

    def sweep(self) -> int:
        return self._table.sweep()

    # entry points ----------------------------------------------------------------------------
    def handle(self, headers: Mapping[str, str], body: bytes) -> Reply:
        """One HTTP request: ``headers`` lower-case (``ce-*`` and ``content-type`` suffice)."""
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        attrs, content_type = binary_attributes(raw)
        return self.handle_parts(attrs, content_type, body)

    def handle_parts(self, attrs: dict[str, str], content_type: str | None, body: bytes) -> Reply:
        """One HTTP request, its headers read by ``binary_attributes``."""
        kind = media_type(content_type) if content_type else ""
        if kind == BATCH:
            return self._handle_batch(attrs, body)
        try:
            if kind == STRUCTURED:
                event = parse_structured(_json(body))
            else:
                event = parse_attributes(attrs, content_type, body)
        except InvalidRequest as exc:
            return self.invalid(attrs.get("type"), exc)
        return self.handle_event(event)

    def invalid(self, ce_type: str | None, exc: InvalidRequest) -> Reply:
        """Count a request refused as a whole (bad event, body too large) and say why."""
        outcome = Outcome.TOO_LARGE if exc.status == 413 else Outcome.INVALID
        self.metrics.event(classify(ce_type)[0], outcome)
        return Reply(
            exc.status,
            {
                "outcome": outcome.value,
                "error": exc.reason,
                "field": exc.field,
                "detail": exc.detail,
            },
        )

    def _handle_batch(self, attrs: dict[str, str], body: bytes) -> Reply:
        try:
            events = parse_batch(body)
        except InvalidRequest as exc:
            return self.invalid(attrs.get("type"), exc)
        results = []
        for event in events:
            if isinstance(event, InvalidRequest):
                self.metrics.event(Source.UNKNOWN, Outcome.INVALID)
                body_ = {"outcome": Outcome.INVALID.value, "error": event.reason}
                results.append(body_ | {"field": event.field, "detail": event.detail})
            else:
                results.append(self.handle_event(event).body)
        return Reply(200, {"events": results})

    def handle_event(self, event: CloudEvent) -> Reply:
        source = event.source
        if event.kind is Kind.OTHER:
            return self._reply(source, Outcome.IGNORED, detail=f"type {event.type} is not used")
        route = self._route(event)
        if route is None:
            where = f" in namespace {event.namespace!r}" if event.namespace else ""
            return self._reply(
                source,
                Outcome.UNROUTABLE,
                detail=f"no model takes {source.value} events of {event.service!r}{where}",
            )
        if route.model_id is not None and event.unit != route.model_id:
            return self._reply(
                source,
                Outcome.IGNORED,
                route.model,
                f"modelid {event.unit!r} is not seldon.model_id {route.model_id!r}",
            )
        if event.kind is Kind.FEEDBACK:
            return self._feedback(event, route)
        schema = self.service.monitors[route.model].schema
        if schema is None:
            return self._reply(source, Outcome.NOT_READY, route.model, "reference not loaded")
        try:
            if event.kind is Kind.REQUEST:
                half = _Half(
                    source, feature_rows(event.data, route.mapping, route.config_key), None
                )
                side = Side.REQUEST
            elif event.failed:
                half, side = _Half(source, None, None, failed=True), Side.RESPONSE
            else:
                preds = None
                if schema.prediction is not None:
                    preds = predictions(event.data, route.mapping, route.config_key)
                half, side = _Half(source, None, preds), Side.RESPONSE
        except Undecodable as exc:
            return self._undecodable(source, route.model, exc)
        key = (route.model, event.unit, event.endpoint, event.correlation)
        offer = self._table.offer(key, side, half)
        if offer.status is Offered.WAITING:
            self.metrics.event(source, Outcome.WAITING)
            return self._waiting[route.model]
        if offer.status is Offered.DUPLICATE:
            return self._reply(source, Outcome.DUPLICATE, route.model, f"{side.value} seen")
        partner = offer.partner
        assert partner is not None
        request, response = (half, partner) if side is Side.REQUEST else (partner, half)
        if response.failed:
            return self._reply(source, Outcome.ERROR_RESPONSE, route.model, "no prediction")
        return self._ingest(source, route, event.correlation, request, response)

    # steps -----------------------------------------------------------------------------------
    def _route(self, event: CloudEvent) -> _Route | None:
        if event.service is None:
            return None
        routes_ = self._routes
        found = routes_.get((event.source, event.service, event.namespace))
        if found is None and event.namespace is not None:
            found = routes_.get((event.source, event.service, None))
        return found

    def _ingest(
        self, source: Source, route: _Route, correlation: str, request: _Half, response: _Half
    ) -> Reply:
        assert request.rows is not None
        n = len(request.rows)
        if n > self._max_samples:
            self.metrics.event(source, Outcome.TOO_LARGE)
            detail = f"{n} instances exceed server.max_samples_per_request {self._max_samples}"
            return Reply(413, {"outcome": "too_large", "field": "instances", "detail": detail})
        try:
            payload = samples_payload(correlation, request.rows, response.preds)
        except Undecodable as exc:
            return self._undecodable(source, route.model, exc)
        self._queue(route.model, payload["samples"])
        self.metrics.event(source, Outcome.PAIRED)
        if n == 1:
            return self._paired_one[route.model]
        return Reply(200, {"outcome": "paired", "model": route.model, "samples": n})

    def _feedback(self, event: CloudEvent, route: _Route) -> Reply:
        """Seldon feedback: the truth becomes labels of the prediction's sample ids."""
        source = event.source
        try:
            puid, truths = feedback_truth(event.data, route.mapping)
            payload = labels_payload(puid or event.correlation, truths)
            result = self.service.ingest_labels(route.model, payload)
        except Undecodable as exc:
            return self._undecodable(source, route.model, exc)
        except InvalidRequest as exc:  # more labels than server.max_samples_per_request
            return self._undecodable(source, route.model, Undecodable(exc.field, exc.detail))
        self.metrics.event(source, Outcome.LABELS)
        return Reply(
            200,
            {
                "outcome": "labels",
                "model": route.model,
                "accepted": result.accepted,
                "rejected": len(result.rejections),
            },
        )

    def _undecodable(self, source: Source, model: str, exc: Undecodable) -> Reply:
        self.metrics.event(source, Outcome.UNDECODABLE)
        return Reply(
            422,
            {
                "outcome": "undecodable",
                "model": model,
                "error": "undecodable",
                "field": exc.field,
                "detail": exc.detail,
            },
        )

    def _reply(
        self, source: Source, outcome: Outcome, model: str | None = None, detail: str | None = None
    ) -> Reply:
        self.metrics.event(source, outcome)
        body: dict[str, Any] = {"outcome": outcome.value}
        if model is not None:
            body["model"] = model
        if detail is not None:
            body["detail"] = detail
        return Reply(STATUS[outcome], body)


_BY_SERVICE: weakref.WeakKeyDictionary[DriftService, CloudEventsIngest] = (
    weakref.WeakKeyDictionary()
)


def _json(body: bytes) -> Any:
    try:
        return jsonbody.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(400, "invalid_json", "(body)", f"not valid JSON: {exc}") from None


# the HTTP side -------------------------------------------------------------------------------

_JSON_HEADERS = [(b"content-type", b"application/json")]


PATHS = ("/", "/v1/cloudevents")


class CloudEventsMiddleware:
    """Sends ``POST /`` and ``POST /v1/cloudevents`` to ``endpoint`` before FastAPI's routing;
    everything else passes through. Two POSTs per prediction make these the busiest paths:
    as a route they cost ~30 us more per request (routing, exception and exit-stack
    middlewares, body-limit wrapper), measured in-process with FastAPI 0.165."""

    def __init__(self, app: ASGIApp, endpoint: CloudEventsEndpoint) -> None:
        self.app = app
        self.endpoint = endpoint
        self.paths = endpoint.paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class CloudEventsEndpoint:
    """The ASGI endpoint of ``paths``: headers read once, the body (``read_body`` enforces the
    app's size limit, 413), one JSON answer; other methods get 405. Schedules the flush of
    queued samples ``FLUSH_SECONDS`` after the first one (on the event loop)."""

    def __init__(
        self,
        ingest: CloudEventsIngest,
        read_body: Callable[[Request], Awaitable[bytes]],
        paths: Sequence[str] = PATHS,
    ) -> None:
        self.paths = frozenset(paths)
        self.ingest = ingest
        self.read_body = read_body
        self.limit = ingest.service.settings.server.max_body_bytes
        self._flush_timer: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            reply = Reply(405, {"error": "method_not_allowed", "detail": "POST CloudEvents here"})
            await _send(send, reply, [(b"allow", b"POST")])
            return
        try:
            body: bytes | InvalidRequest = await self._body(scope, receive)
        except InvalidRequest as exc:
            body = exc
        await _send(send, self.answer(scope["headers"], body))

    def answer(self, headers: Iterable[tuple[bytes, bytes]], body: bytes | InvalidRequest) -> Reply:
        """The reply to one POST: raw lower-case headers, the body or why it was refused (413).
        Synchronous, on the event loop: the ASGI route above and ``drift.service.fastpath``
        (the same routes inside uvicorn's HTTP protocol) both answer through it."""
        attrs, content_type = binary_attributes(headers)
        return self.answer_parts(attrs, content_type, body)

    def answer_parts(
        self, attrs: dict[str, str], content_type: str | None, body: bytes | InvalidRequest
    ) -> Reply:
        """``answer`` with the headers already read as ``binary_attributes`` reads them."""
        if isinstance(body, InvalidRequest):
            reply = self.ingest.invalid(attrs.get("type"), body)
        else:
            reply = self.ingest.handle_parts(attrs, content_type, body)
        if self._flush_timer is None and self.ingest.queued:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(FLUSH_SECONDS, self._flush)
        return reply

    def _flush(self) -> None:
        self._flush_timer = None
        self.ingest.flush()

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        """The body; in one piece within the limit (the usual case), as it came, else through
        ``read_body`` (streaming, the limit, 413), the first piece handed back to it."""
        first = await receive()
        body = first.get("body", b"")
        if not first.get("more_body", False) and len(body) <= self.limit:
            return bytes(body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return first

        return await self.read_body(Request(scope, replay))


async def _send(send: Send, reply: Reply, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = reply.encode()
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
