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
* 400: not a usable CloudEvent (a required attribute missing, the body not JSON, a pairing id
  over ``server.max_value_bytes``), naming the header or field; 413: over
  ``server.max_body_bytes`` (or a pair with more instances than
  ``server.max_samples_per_request``, or a half that would take more than
  ``cloudevents.max_pending_bytes`` to wait); 415: a Content-Type that is not JSON in structured or
  batch mode, or none, without ``ce-*`` headers (``CONTENT_TYPES``); 422: the payload does not
  match the model's ``kserve:``/``seldon:`` mapping, naming the field. Each of these whole-request
  refusals is also counted in ``drift_requests_rejected_total{reason}``.

Large bodies (over ``jsonbody.SLICE_BYTES``, or more than ``INLINE_ITEMS`` commas) are decoded
and handled in a worker thread (``off_loop``), so that the event loop keeps answering probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
import time
import weakref
from array import array
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drift.core.columns import ColumnType, SampleSchema
from drift.errors import DriftError, InvalidRequest, unsupported_media_type
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
from drift.ingest.pairing import (
    ENTRY_BYTES,
    Drop,
    KeptRows,
    KeptValues,
    Offered,
    PendingTable,
    Restored,
    Side,
    keep_rows,
    keep_values,
    rows_from_plain,
    rows_to_plain,
    table_from_plain,
    table_to_plain,
    values_from_plain,
    values_to_plain,
)

if TYPE_CHECKING:
    from drift.service.service import DriftService

log = logging.getLogger("drift.service")


MAX_BATCH = 256
"""Paired samples are ingested in batches of up to this many (per model) ..."""
FLUSH_SECONDS = 0.02
"""... or this long after the first of them was paired, whichever comes first: one
``DriftService.ingest`` call per sample costs ~10x more than its share of a batch of 64."""
FLUSH_CHUNK = 4096
"""Queued samples are handed to ``DriftService.ingest`` at most this many at a time."""


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
        return jsonbody.dumps(self.body, ensure_ascii=True, allow_nan=True)

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
    """A decoded half waiting in the table, in its compact form (``drift.ingest.pairing``)."""

    source: Source
    rows: KeptRows | None  # request: the instances
    preds: KeptValues | None  # response: one prediction per instance (None: not monitored)
    failed: bool = False  # a response with a non-2xx status


_HALF_BYTES = sys.getsizeof(_Half(Source.KSERVE, None, None))
_KEY_BYTES = sys.getsizeof(("model", "unit", "endpoint", "id"))  # the key tuple (the strings apart)


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
    half}`` (halves dropped without their other half: expired, or evicted from a table full in
    count or in bytes), ``drift_cloudevents_evicted_total{source, half}`` (the evicted part of
    those) and the ``drift_cloudevents_pending`` gauge (read at scrape time, after sweeping
    expired halves)."""

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
            "Halves evicted (oldest first) because cloudevents.max_pending halves, or "
            "cloudevents.max_pending_bytes of them, were waiting",
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
            cfg.pending_seconds,
            cfg.max_pending,
            self._dropped,
            clock,
            max_bytes=cfg.max_pending_bytes,
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
        # strings kept for pairing are cut to one character more; also the longest pairing id
        self._max_value_bytes = service.settings.server.max_value_bytes
        self._max_batch = min(MAX_BATCH, self._max_samples)
        # samples per service call when flushing: a large pair's 100,000 samples would hold
        # the window's lock and the GIL (numpy conversions) for tens of ms in one call
        self._flush_chunk = min(FLUSH_CHUNK, self._max_samples)
        self._queued: dict[str, list[dict[str, Any]]] = {}
        self._queue_lock = threading.Lock()
        # held for a whole flush: when flush() returns, what was queued before is in the window
        self._flush_lock = threading.Lock()
        self._waiting_samples = 0
        if service.state is not None:  # its halves are kept in the snapshots
            service.state.attach_cloudevents(self)

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

    def flush(self, wait: bool = True) -> int:
        """Ingest every queued sample now; returns how many. The HTTP route calls it
        ``FLUSH_SECONDS`` after a pair was queued; a full batch is ingested right away.
        Sample rejections are counted by the service (``drift_samples_rejected_total``).
        ``wait=False``: return 0 at once when another flush is running (the event loop must
        not wait for a worker thread's flush of 100,000 samples); what is queued stays."""
        if not self._flush_lock.acquire(blocking=wait):
            return 0
        try:
            with self._queue_lock:
                queued, self._queued = self._queued, {}
                self._waiting_samples = 0
            total = 0
            for model in list(queued):
                samples = queued.pop(model)  # held here only: freed a slice at a time below
                total += len(samples)
                for start in range(0, len(samples), self._flush_chunk):
                    chunk = {"samples": samples[start : start + self._flush_chunk]}
                    with contextlib.suppress(DriftError):  # not ready: the service counts it
                        self.service.ingest(model, chunk)
                    del chunk
                if len(samples) > INLINE_ITEMS:
                    jsonbody.release(samples)
            return total
        finally:
            self._flush_lock.release()

    def _queue(self, model: str, samples: list[dict[str, Any]]) -> None:
        with self._queue_lock:
            batch = self._queued.get(model)
            if batch is None:
                batch = self._queued[model] = []
            batch.extend(samples)
            self._waiting_samples += len(samples)
            full = len(batch) >= self._max_batch
            del batch  # the flush frees the queue a slice at a time: held there only
        if full:  # unless a flush is running: the route's timer flushes what it leaves
            self.flush(wait=False)

    def sweep(self) -> int:
        return self._table.sweep()

    # snapshots (``drift.service.state``) -------------------------------------------------------
    @property
    def pending_bytes(self) -> int:
        """The estimated bytes of the waiting halves (``cloudevents.max_pending_bytes``)."""
        return self._table.bytes

    def pending_marker(self) -> tuple[Any, ...]:
        """Changes whenever the waiting halves change (see ``PendingTable.marker``)."""
        return self._table.marker()

    def pending_state(self, wall: float) -> tuple[list[list[Any]], array[float]]:
        """The waiting halves as plain data, oldest first, each ``[side, deadline (wall time),
        bytes, {key, source, rows, preds, failed}]``, and the float64 numbers they refer to."""
        floats: array[float] = array("d")

        def dump(key: tuple[str, ...], half: _Half) -> dict[str, Any]:
            return {
                "key": list(key),
                "source": half.source.value,
                "rows": None if half.rows is None else rows_to_plain(half.rows, floats),
                "preds": None if half.preds is None else values_to_plain(half.preds, floats),
                "failed": half.failed,
            }

        return table_to_plain(self._table, wall, dump), floats

    def restore_pending(self, halves: list[Any], floats: array[float], wall: float) -> Restored:
        """Put halves that ``pending_state`` saved back to wait (the caller chose which:
        those of models whose shaping config is unchanged). ValueError when damaged."""

        def load(plain: Any) -> tuple[tuple[str, ...], _Half]:
            if not isinstance(plain, dict):
                raise ValueError("a saved half is not an object")
            key = plain["key"]
            if not isinstance(key, list) or len(key) != 4 or not all(type(k) is str for k in key):
                raise ValueError("bad pairing key")
            rows, preds, failed = plain["rows"], plain["preds"], plain["failed"]
            if type(failed) is not bool:
                raise ValueError("bad failed flag")
            half = _Half(
                Source(plain["source"]),
                None if rows is None else rows_from_plain(rows, floats),
                None if preds is None else values_from_plain(preds, floats),
                failed,
            )
            return tuple(key), half

        return table_from_plain(self._table, halves, wall, load)

    # entry points ----------------------------------------------------------------------------
    def handle(self, headers: Mapping[str, str], body: bytes) -> Reply:
        """One HTTP request: ``headers`` lower-case (``ce-*`` and ``content-type`` suffice)."""
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        attrs, content_type = binary_attributes(raw)
        return self.handle_parts(attrs, content_type, body)

    def handle_request(
        self, attrs: dict[str, str], content_type: str | None, body: bytes | InvalidRequest
    ) -> Reply:
        """One HTTP request as the routes get it: the headers read by ``binary_attributes``,
        the body or why it was refused (413). Refuses a Content-Type the mode does not take
        (415), and counts every refusal of the request as a whole (4xx) in
        ``drift_requests_rejected_total``. Thread-safe: large bodies are handled off the event
        loop."""
        if isinstance(body, InvalidRequest):
            reply = self.invalid(attrs.get("type"), body)
        elif "specversion" not in attrs and media_type(content_type) not in CONTENT_TYPES:
            refused = unsupported_media_type(content_type, CONTENT_TYPES)
            reply = self.invalid(attrs.get("type"), refused)
        else:
            reply = self.handle_parts(attrs, content_type, body)
        if reply.status >= 400:
            self.service.metrics.requests_rejected.labels(reply.body["error"]).inc()
        return reply

    def handle_parts(self, attrs: dict[str, str], content_type: str | None, body: bytes) -> Reply:
        """One HTTP request, its headers read by ``binary_attributes``."""
        kind = media_type(content_type) if content_type else ""
        if kind == BATCH:
            return self._handle_batch(attrs, body)
        try:
            limit = self._max_value_bytes
            if kind == STRUCTURED:
                event = parse_structured(jsonbody.loads_request(body), max_id_bytes=limit)
            else:
                event = parse_attributes(attrs, content_type, body, max_id_bytes=limit)
        except InvalidRequest as exc:
            return self.invalid(attrs.get("type"), exc)
        reply = self.handle_event(event)
        if len(body) > jsonbody.SLICE_BYTES:  # what is not kept is freed a slice at a time
            jsonbody.release(event.data)
        return reply

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
            events = parse_batch(body, max_id_bytes=self._max_value_bytes)
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
        if len(body) > jsonbody.SLICE_BYTES:
            jsonbody.release(events)
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
        rows: list[dict[str, Any]] | None = None
        preds: list[Any] | None = None
        try:
            if event.kind is Kind.REQUEST:
                rows = feature_rows(event.data, route.mapping, route.config_key)
            elif schema.prediction is not None and not event.failed:
                preds = predictions(event.data, route.mapping, route.config_key)
        except Undecodable as exc:
            return self._undecodable(source, route.model, exc)
        side = Side.REQUEST if event.kind is Kind.REQUEST else Side.RESPONSE
        key = (route.model, event.unit, event.endpoint, event.correlation)
        table = self._table
        found = table.take(key, side) if key in table else None
        if found is None:  # the first half: it waits in its compact form
            half, size = self._half(source, schema, rows, preds, event.failed)
            size += (
                _HALF_BYTES
                + _KEY_BYTES
                + sys.getsizeof(event.unit)
                + sys.getsizeof(event.endpoint)
                + sys.getsizeof(event.correlation)
            )
            found = table.offer(key, side, half, size)
            if found.status is Offered.WAITING:
                self.metrics.event(source, Outcome.WAITING)
                return self._waiting[route.model]
            if found.status is Offered.TOO_LARGE:
                return self._too_large_to_wait(source, route.model, side, size)
        if found.status is Offered.DUPLICATE:
            return self._reply(source, Outcome.DUPLICATE, route.model, f"{side.value} seen")
        partner = found.partner
        assert partner is not None
        if side is Side.REQUEST:
            assert rows is not None
            if partner.failed:
                return self._reply(source, Outcome.ERROR_RESPONSE, route.model, "no prediction")
            return self._ingest(source, route, event.correlation, rows, partner.preds)
        if event.failed:
            return self._reply(source, Outcome.ERROR_RESPONSE, route.model, "no prediction")
        assert partner.rows is not None
        return self._ingest(source, route, event.correlation, partner.rows, preds)

    def _half(
        self,
        source: Source,
        schema: SampleSchema,
        rows: list[dict[str, Any]] | None,
        preds: list[Any] | None,
        failed: bool,
    ) -> tuple[_Half, int]:
        """A half as it waits (``drift.ingest.pairing``: the model's features only, numbers as
        float64, long strings cut) and its estimated bytes, the key's apart."""
        max_rows, max_str = self._max_samples, self._max_value_bytes
        if rows is not None:
            kept_rows, size = keep_rows(
                rows, schema.numerical, schema.categorical, max_rows=max_rows, max_str=max_str
            )
            return _Half(source, kept_rows, None), size
        if preds is not None:
            numeric = schema.prediction_type is ColumnType.NUMERICAL
            kept_preds, size = keep_values(preds, numeric, max_rows=max_rows, max_str=max_str)
            return _Half(source, None, kept_preds), size
        return _Half(source, None, None, failed=failed), 0

    # steps -----------------------------------------------------------------------------------
    def _route(self, event: CloudEvent) -> _Route | None:
        if event.service is None:
            return None
        routes_ = self._routes
        found = routes_.get((event.source, event.service, event.namespace))
        if found is None and event.namespace is not None:
            found = routes_.get((event.source, event.service, None))
        return found

    def _too_large_to_wait(self, source: Source, model: str, side: Side, size: int) -> Reply:
        """413 for a half that would take more than the whole table's bytes to wait."""
        self.metrics.event(source, Outcome.TOO_LARGE)
        limit = self._table.max_bytes
        detail = (
            f"the {side.value} would hold ~{size + ENTRY_BYTES} bytes while it waits for its "
            f"other half: over cloudevents.max_pending_bytes {limit}"
        )
        body = {"outcome": "too_large", "model": model, "error": "body_too_large"}
        return Reply(413, body | {"field": "(body)", "detail": detail})

    def _ingest(
        self,
        source: Source,
        route: _Route,
        correlation: str,
        rows: list[dict[str, Any]] | KeptRows,
        preds: list[Any] | KeptValues | None,
    ) -> Reply:
        """The samples of a pair, queued: ``rows`` and ``preds`` as decoded (the half that came
        second) or as they waited (``drift.ingest.pairing``)."""
        n = rows.n if isinstance(rows, KeptRows) else len(rows)
        if n > self._max_samples:
            self.metrics.event(source, Outcome.TOO_LARGE)
            detail = f"{n} instances exceed server.max_samples_per_request {self._max_samples}"
            body = {"outcome": "too_large", "error": "too_many_samples", "field": "instances"}
            return Reply(413, body | {"detail": detail})
        try:
            if isinstance(preds, KeptValues):
                if preds.n != n:  # also when only its count was kept
                    raise Undecodable("predictions", f"{n} instances but {preds.n} predictions")
                preds = preds.tolist()
            if isinstance(rows, KeptRows):
                rows = rows.rows()
            payload = samples_payload(correlation, rows, preds)
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


# the HTTP side -------------------------------------------------------------------------------

_JSON_HEADERS = [(b"content-type", b"application/json")]


PATHS = ("/", "/v1/cloudevents")
CONTENT_TYPES = ("application/json", STRUCTURED, BATCH)
"""What ``POST /`` and ``POST /v1/cloudevents`` take without ``ce-*`` headers (415 otherwise).
In binary mode (a ``ce-specversion`` header) the Content-Type is the event's
``datacontenttype``, which KServe's agent copies from the inference request as it came (none,
or ``application/x-www-form-urlencoded`` from ``curl -d``): not checked, the data must be JSON
(400 naming the content type otherwise). A browser cannot send ``ce-*`` headers to another
origin without a preflight, which the sidecar never allows (no CORS headers)."""


# off the event loop ------------------------------------------------------------------------

INLINE_ITEMS = 1024
"""A request is handled on the event loop when its body is at most ``jsonbody.SLICE_BYTES``
and holds at most this many items (samples or labels; commas of a CloudEvent, an upper bound
of its values): a few milliseconds at most. Larger ones go to a worker thread (``off_loop``),
so that ``/healthz`` keeps answering while they are decoded and validated."""

OFF_LOOP_WORKERS = 1
"""Large requests handled at once (``off_loop``)."""

_T = TypeVar("_T")
_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)
_gc_lock = threading.Lock()
_gc_paused = 0  # calls of off_loop running with the cyclic GC paused
_gc_resume = False  # whether the GC was enabled when the first of them paused it


def inline(body: bytes) -> bool:
    """Whether a CloudEvents body is small enough to handle on the event loop."""
    return len(body) <= jsonbody.SLICE_BYTES and body.count(b",") <= INLINE_ITEMS


async def off_loop(fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)`` in a worker thread, one at a time (``OFF_LOOP_WORKERS``; the others wait
    for their turn without a thread), the cyclic GC paused meanwhile.

    One at a time: the work is Python, so a second thread would not make it faster (one GIL),
    but the event loop would then lose the GIL to the other worker at every switch and wait
    twice as long. The GC paused: while a large body's million objects are alive, one full
    collection holds the GIL for tens of milliseconds (JSON values make no cycles; the GC runs
    again as soon as no large request is being handled)."""
    return await anyio.to_thread.run_sync(_without_gc, fn, *args, limiter=_limiter())


def _limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(OFF_LOOP_WORKERS)
    return limiter


def _without_gc(fn: Callable[..., _T], *args: Any) -> _T:
    global _gc_paused, _gc_resume
    with _gc_lock:
        if _gc_paused == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_paused += 1
    try:
        return fn(*args)
    finally:
        with _gc_lock:
            _gc_paused -= 1
            if _gc_paused == 0 and _gc_resume:
                gc.enable()


# the ASGI side -----------------------------------------------------------------------------


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
    app's size limit, 413), one JSON answer; other methods get 405. A large body (``inline``)
    is handled in a worker thread. Schedules the flush of queued samples ``FLUSH_SECONDS``
    after the first one (on the event loop; in a worker thread when many are queued)."""

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
        self._flushing = False  # a flush runs in a worker thread

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            reply = Reply(405, {"error": "method_not_allowed", "detail": "POST CloudEvents here"})
            await _send(send, reply, [(b"allow", b"POST")])
            return
        try:
            body: bytes | InvalidRequest = await self._body(scope, receive)
        except InvalidRequest as exc:
            body = exc
        attrs, content_type = binary_attributes(scope["headers"])
        if isinstance(body, bytes) and not inline(body):
            reply = await off_loop(self._encoded, attrs, content_type, body)
            self._schedule_flush()
        else:
            reply = self.answer_parts(attrs, content_type, body)
        await _send(send, reply)

    def answer(self, headers: Iterable[tuple[bytes, bytes]], body: bytes | InvalidRequest) -> Reply:
        """The reply to one POST: raw lower-case headers, the body or why it was refused (413).
        Synchronous, on the event loop: for bodies that ``inline`` lets through (the ASGI route
        above and ``drift.service.fastpath``, the same routes inside uvicorn's HTTP protocol,
        hand larger ones to a worker thread)."""
        attrs, content_type = binary_attributes(headers)
        return self.answer_parts(attrs, content_type, body)

    def answer_parts(
        self, attrs: dict[str, str], content_type: str | None, body: bytes | InvalidRequest
    ) -> Reply:
        """``answer`` with the headers already read as ``binary_attributes`` reads them."""
        reply = self.ingest.handle_request(attrs, content_type, body)
        if self._flush_timer is None and self.ingest.queued:  # _schedule_flush, inlined
            self._schedule_flush()
        return reply

    def _encoded(self, attrs: dict[str, str], content_type: str | None, body: bytes) -> Reply:
        """``handle_request`` and the encoding of its answer, for a worker thread."""
        reply = self.ingest.handle_request(attrs, content_type, body)
        raw = reply.encode()
        if len(raw) > jsonbody.SLICE_BYTES:  # a batch's results: freed a slice at a time
            jsonbody.release(reply.body)
        return Reply(reply.status, reply.body, raw)

    def _schedule_flush(self) -> None:
        """On the event loop: flush the queued samples in ``FLUSH_SECONDS``, unless that is
        scheduled or running already."""
        if self._flush_timer is None and not self._flushing and self.ingest.queued:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        if self.ingest.queued > INLINE_ITEMS:  # pairs of a large request: not on the loop
            self._flushing = True
            task = asyncio.ensure_future(off_loop(self.ingest.flush))
            task.add_done_callback(self._flushed)
            return
        self.ingest.flush(wait=False)  # a worker thread's flush running: try again later
        self._schedule_flush()

    def _flushed(self, task: asyncio.Future[int]) -> None:
        self._flushing = False
        if not task.cancelled() and task.exception() is not None:
            log.error("flushing CloudEvents samples failed", exc_info=task.exception())
        self._schedule_flush()

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        """The body; in one piece within the limit (the usual case), as it came, else through
        ``read_body`` (streaming, the limit, 413), the first piece handed back to it."""
        first = await receive()
        if first["type"] == "http.disconnect":  # gone (or timed out) before a byte of body:
            raise ClientDisconnect  # nothing to answer or count (drift.service.server logs it)
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
