"""The CloudEvents collector: payload logger events in, samples (and Seldon feedback labels) out.

Glue between the pure parts (``drift.cloudevents`` parses and decodes, ``drift.pairing`` holds
the halves that wait) and the service (``DriftService.ingest`` / ``ingest_labels``), with its own
Prometheus metrics in ``service.registry``. ``CloudEventsRoute`` serves ``POST /`` and
``POST /v1/cloudevents`` as a bare ASGI route: the two paths take one POST per event (two per
prediction), so they skip FastAPI's request parsing and dependency injection.

Status codes, chosen so that no sender retries an event it cannot do better with (KServe's and
Seldon's loggers only log a non-2xx answer; a Knative broker or channel in between retries 404,
409, 429 and 5xx):

* 200: the event was used: it waits for its other half, completed a pair that became samples,
  or (Seldon feedback) became labels. Sample rejections are counted, not refused.
* 202: accepted and dropped, counted by outcome: no model takes these events (``unroutable``),
  an event type or Seldon graph node that is not monitored (``ignored``), a second copy of a
  waiting half (``duplicate``), a pair whose response reported a non-2xx ``ce-statuscode``
  (``error_response``), the model's reference is still loading (``not_ready``).
* 400: not a usable CloudEvent (a required attribute missing, the body not JSON), naming the
  header or field; 413: over ``server.max_body_bytes``; 422: the payload does not match the
  model's ``kserve:``/``seldon:`` mapping, naming the field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from drift.cloudevents import (
    BATCH,
    STRUCTURED,
    CloudEvent,
    Kind,
    PayloadMapping,
    Source,
    Undecodable,
    classify,
    feature_rows,
    feedback_truth,
    labels_payload,
    media_type,
    parse_batch,
    parse_binary,
    parse_structured,
    predictions,
    samples_payload,
)
from drift.errors import InvalidRequest, NotReady
from drift.pairing import Drop, Offered, PendingTable, Side

if TYPE_CHECKING:
    from drift.service.service import DriftService


class Outcome(StrEnum):
    """What happened to one event; the ``outcome`` label of ``drift_cloudevents_total``."""

    PAIRED = "paired"  # completed a pair: samples ingested
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

    def encode(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


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


def routes(service: DriftService) -> dict[tuple[Source, str, str | None], _Route]:
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

    def __init__(self, registry: Any, table: PendingTable[Any, _Half], sources: Sequence[Source]):
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
        self._routes = routes(service)
        self._table: PendingTable[tuple[str, ...], _Half] = PendingTable(
            cfg.pending_seconds, cfg.max_pending, self._dropped, clock
        )
        self.metrics = CloudEventsMetrics(
            service.registry, self._table, sorted({r.source for r in self._routes.values()})
        )

    def _dropped(self, reason: Drop, side: Side, half: _Half) -> None:
        self.metrics.dropped(reason, side, half)

    @property
    def pending(self) -> int:
        return len(self._table)

    def sweep(self) -> int:
        return self._table.sweep()

    # entry points ----------------------------------------------------------------------------
    def handle(self, headers: Mapping[str, str], body: bytes) -> Reply:
        """One HTTP request: ``headers`` lower-case (``ce-*`` and ``content-type`` suffice)."""
        kind = media_type(headers.get("content-type"))
        if kind == BATCH:
            return self._handle_batch(headers, body)
        try:
            if kind == STRUCTURED:
                event = parse_structured(_json(body))
            else:
                event = parse_binary(headers, body)
        except InvalidRequest as exc:
            return self.invalid(headers, exc)
        return self.handle_event(event)

    def invalid(self, headers: Mapping[str, str], exc: InvalidRequest) -> Reply:
        """Count a request refused as a whole (bad event, body too large) and say why."""
        outcome = Outcome.TOO_LARGE if exc.status == 413 else Outcome.INVALID
        self.metrics.event(classify(headers.get("ce-type"))[0], outcome)
        return Reply(
            exc.status,
            {
                "outcome": outcome.value,
                "error": exc.reason,
                "field": exc.field,
                "detail": exc.detail,
            },
        )

    def _handle_batch(self, headers: Mapping[str, str], body: bytes) -> Reply:
        try:
            events = parse_batch(body)
        except InvalidRequest as exc:
            return self.invalid(headers, exc)
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
            return self._reply(source, Outcome.WAITING, route.model)
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
        try:
            payload = samples_payload(correlation, request.rows, response.preds)
        except Undecodable as exc:
            return self._undecodable(source, route.model, exc)
        try:
            result = self.service.ingest(route.model, payload)
        except NotReady:
            return self._reply(source, Outcome.NOT_READY, route.model, "reference not loaded")
        except InvalidRequest as exc:  # more instances than server.max_samples_per_request
            self.metrics.event(source, Outcome.TOO_LARGE)
            return Reply(
                exc.status, {"outcome": "too_large", "field": exc.field, "detail": exc.detail}
            )
        self.metrics.event(source, Outcome.PAIRED)
        body: dict[str, Any] = {
            "outcome": "paired",
            "model": route.model,
            "accepted": result.accepted,
            "rejected": len(result.rejections),
        }
        if result.rejections:
            body["rejections"] = [r.to_dict() for r in result.rejections]
        return Reply(200, body)

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


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(400, "invalid_json", "(body)", f"not valid JSON: {exc}") from None


# the HTTP side -------------------------------------------------------------------------------

_JSON_HEADERS = [(b"content-type", b"application/json")]


class CloudEventsRoute(BaseRoute):
    """``POST`` on ``paths`` handled as bare ASGI: headers read once, the body through
    ``read_body`` (the app's size limit, 413), one JSON answer. Other methods get 405."""

    def __init__(
        self,
        paths: Sequence[str],
        ingest: CloudEventsIngest,
        read_body: Callable[[Request], Awaitable[bytes]],
    ) -> None:
        self.paths = frozenset(paths)
        self.ingest = ingest
        self.read_body = read_body

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"] in self.paths:
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            reply = Reply(405, {"error": "method_not_allowed", "detail": "POST CloudEvents here"})
            await _send(send, reply, [(b"allow", b"POST")])
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name[:3] == b"ce-" or name == b"content-type":
                headers[name.decode("latin-1")] = value.decode("latin-1")
        try:
            body = await self.read_body(Request(scope, receive))
        except InvalidRequest as exc:
            reply = self.ingest.invalid(headers, exc)
        else:
            reply = self.ingest.handle(headers, body)
        await _send(send, reply)


async def _send(send: Send, reply: Reply, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = reply.encode()
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
