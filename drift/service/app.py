"""FastAPI routes. Thin: parse, call the service, map errors to HTTP in one handler.

Bad input is a counted 4xx: every ``InvalidRequest`` (not JSON 400, wrong shape 422, over the
limits 413, not a JSON Content-Type 415) is counted in ``drift_requests_rejected_total`` by the
handler that answers it (unknown model and not ready by the service). A body over
``jsonbody.SLICE_BYTES``, or with more than ``INLINE_ITEMS`` samples or labels, is decoded,
validated and answered in a worker thread (``off_loop``), so the event loop keeps answering
``/healthz`` under abuse; smaller ones, the usual case, stay on the loop (no thread hand-off).
No CORS: no route sends ``Access-Control-Allow-*``, so a browser on another origin cannot
read an answer or send a request that needs a preflight; a form or text POST, which needs
none, is refused (415).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from drift.alerting.alertmanager import AlertmanagerAlert, AlertmanagerPayload
from drift.config import Settings
from drift.errors import (
    DriftError,
    InvalidRequest,
    NotReady,
    UnknownModel,
    body_too_large,
    unsupported_media_type,
)
from drift.ingest import jsonbody
from drift.ingest.cloudevents import media_type
from drift.ingest.samples import Rejection
from drift.redact import redact
from drift.service.auth import Authenticator, AuthMiddleware
from drift.service.cloudevents import (
    INLINE_ITEMS,
    CloudEventsEndpoint,
    CloudEventsIngest,
    CloudEventsMiddleware,
    off_loop,
)
from drift.service.limits import RETRY_AFTER_SECONDS, BodyBudget, BodyBudgetMiddleware
from drift.service.monitor import ModelMonitor
from drift.service.openapi import install_openapi
from drift.service.performance import performance_json
from drift.service.service import DriftService
from exporters.prometheus.exposition import expose
from exporters.report.evidently_html import (
    EvidentlyMissing,
    ReportFailed,
    ReportPages,
    drift_report_html,
)
from exporters.report.safe_html import REPORT_HEADERS


# async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hand-off per request
async def get_service(request: Request) -> DriftService:
    service: DriftService = request.app.state.service
    return service


ServiceDep = Annotated[DriftService, Depends(get_service)]


async def get_report_pages(request: Request) -> ReportPages:
    pages: ReportPages = request.app.state.report_pages
    return pages


ReportPagesDep = Annotated[ReportPages, Depends(get_report_pages)]


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) anything over ``limit`` bytes without buffering it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise body_too_large(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise body_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


JSON_TYPES = ("application/json",)
"""The Content-Type of the samples, labels and Alertmanager routes (parameters allowed)."""
MORE_REJECT_REASONS = (
    "unsupported_media_type",
    "invalid_event",
    "undecodable",
    "unauthorized",
    "overloaded",
)
"""Reasons of ``drift_requests_rejected_total`` besides ``REQUEST_REJECT_REASONS`` of
``exporters.prometheus.collector``: 415, and the CloudEvents routes' 400 and 422."""
_ALERTS_PER_CALL = 256  # alerts of a large Alertmanager payload validated per pydantic call
_INGEST_CHUNK = 4096  # samples or labels of a large batch handed to the service per call
_R = TypeVar("_R")


def require_json(request: Request) -> None:
    """415 unless the request says its body is JSON; a missing Content-Type too (a browser
    sends a POST without one, or with a form's, to any origin without asking first)."""
    content_type = request.headers.get("content-type")
    if media_type(content_type) not in JSON_TYPES:
        raise unsupported_media_type(content_type, JSON_TYPES)


def _items(payload: Any, key: str) -> int:
    items = payload.get(key) if isinstance(payload, dict) else None
    return len(items) if isinstance(items, list) else 0


def _json(content: dict[str, Any], status: int = 200) -> Response:
    """``JSONResponse``'s bytes, a large list encoded in slices (``jsonbody.dumps``)."""
    return Response(jsonbody.dumps(content), status_code=status, media_type="application/json")


def _in_chunks(
    ingest: Callable[[Any], _R], payload: Any, key: str, limit: int
) -> list[tuple[int, _R]]:
    """``ingest(payload)``, or, for a large valid batch, ``ingest`` of each ``_INGEST_CHUNK``
    items of ``payload[key]`` with where they start: the service's locks and its numpy
    conversions then take a few milliseconds per call, never a 100,000-item one (the event loop
    may be waiting for the same lock, or for the GIL). The same result, sample by sample."""
    items = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(items, list) or len(items) <= _INGEST_CHUNK or len(items) > limit:
        return [(0, ingest(payload))]  # small, or refused as a whole
    return [
        (start, ingest({key: items[start : start + _INGEST_CHUNK]}))
        for start in range(0, len(items), _INGEST_CHUNK)
    ]


def _shifted(parts: list[tuple[int, Any]]) -> list[Rejection]:
    """The rejections of chunked calls, indexed in the whole batch."""
    return [
        replace(r, index=r.index + start) if start else r
        for start, result in parts
        for r in result.rejections
    ]


def _samples_answer(svc: DriftService, model: str, body: bytes, payload: Any) -> Response:
    """Ingest ``payload`` (decoded from ``body`` when None); on the loop or in a worker."""
    if payload is None:
        payload = jsonbody.loads_request(body)
    limit = svc.settings.server.max_samples_per_request
    parts = _in_chunks(lambda chunk: svc.ingest(model, chunk), payload, "samples", limit)
    accepted = sum(result.accepted for _, result in parts)
    rejections = _shifted(parts)
    del parts
    rejected = [r.to_dict() for r in rejections]
    response = _json({"accepted": accepted, "rejected": rejected}, 422 if rejected else 200)
    if len(body) > jsonbody.SLICE_BYTES or len(rejected) > INLINE_ITEMS:
        _release(payload, rejected, rejections)
    return response


def _labels_answer(svc: DriftService, model: str, body: bytes, payload: Any) -> Response:
    if payload is None:
        payload = jsonbody.loads_request(body)
    limit = svc.settings.server.max_samples_per_request
    parts = _in_chunks(lambda chunk: svc.ingest_labels(model, chunk), payload, "labels", limit)
    matched = sum(result.outcome.matched for _, result in parts)
    held = sum(result.outcome.held for _, result in parts)
    duplicate = sum(result.outcome.duplicate for _, result in parts)
    rejections = _shifted(parts)
    del parts
    rejected = [r.to_dict() for r in rejections]
    response = _json(
        {
            "accepted": matched + held + duplicate,
            "matched": matched,
            "held": held,
            "duplicate": duplicate,
            "rejected": rejected,
        },
        422 if rejected else 200,
    )
    if len(body) > jsonbody.SLICE_BYTES or len(rejected) > INLINE_ITEMS:
        _release(payload, rejected, rejections)
    return response


async def _ingest(
    svc: DriftService,
    model: str,
    request: Request,
    key: str,
    answer: Callable[[DriftService, str, bytes, Any], Response],
) -> Response:
    """A samples or labels POST: 404 before reading a body for a model that does not exist,
    415, the body within the limit; ``answer`` on the event loop for a small body of at most
    ``INLINE_ITEMS`` items under ``key``, else in a worker thread (``off_loop``)."""
    svc.monitor(model)
    require_json(request)
    body = await read_body(request, svc.settings.server.max_body_bytes)
    if len(body) > jsonbody.SLICE_BYTES:
        return await off_loop(answer, svc, model, body, None)
    payload = jsonbody.loads_request(body)
    if _items(payload, key) > INLINE_ITEMS:
        return await off_loop(answer, svc, model, body, payload)
    return answer(svc, model, body, payload)


def _release(payload: Any, rejected: list[Any], rejections: list[Any]) -> None:
    """Free what a large request decoded and answered a slice at a time (``jsonbody.release``):
    each argument is held once here, once by the caller."""
    jsonbody.release(payload, owners=2)
    jsonbody.release(rejected, owners=2)
    jsonbody.release(rejections, owners=2)


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(body)"


def _alertmanager_payload(payload: Any) -> AlertmanagerPayload:
    """The validated payload; a large one alert by alert, so that no pydantic call holds the
    GIL for long. 422 ``invalid_body`` naming the first bad field."""
    alerts = payload.get("alerts") if isinstance(payload, dict) else None
    try:
        if not isinstance(alerts, list) or len(alerts) <= _ALERTS_PER_CALL:
            return AlertmanagerPayload.model_validate(payload)
        head = AlertmanagerPayload.model_validate({**payload, "alerts": []})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRequest(422, "invalid_body", _field(first["loc"]), first["msg"]) from None
    parsed = []
    for index, alert in enumerate(alerts):
        try:
            parsed.append(AlertmanagerAlert.model_validate(alert))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = _field(("alerts", index, *first["loc"]))
            raise InvalidRequest(422, "invalid_body", field, first["msg"]) from None
    return head.model_copy(update={"alerts": parsed})


def _alertmanager_answer(svc: DriftService, body: bytes) -> Response:
    payload = _alertmanager_payload(jsonbody.loads_request(body))
    queued = svc.alerts.receive_alertmanager(payload)
    return _json({"received": len(payload.alerts), "queued": queued})


def _error(status: int, error: str, **fields: Any) -> JSONResponse:
    return JSONResponse({"error": error, **fields}, status_code=status)


def _no_result(model: str, monitor: ModelMonitor) -> JSONResponse:
    needed = monitor.config.window.first_evaluation_after
    return _error(
        404,
        "no_result",
        model=model,
        detail=f"no evaluation yet: the window has {monitor.window_samples} samples, "
        f"the first evaluation runs at {needed}",
    )


def create_app(service: DriftService, manage_lifecycle: bool = True) -> FastAPI:
    """Build the app around a service; the lifespan starts and stops it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            service.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                # after a SIGTERM: what is left of server.shutdown_timeout_seconds (set by
                # drift.service.server); otherwise stop's own default, the whole budget
                budget = getattr(app.state, "shutdown_budget", None)
                service.stop(None if budget is None else budget.stop_timeout())

    app = FastAPI(title="drift-sidecar", lifespan=lifespan)
    install_openapi(app)
    app.state.service = service
    app.state.report_pages = ReportPages()
    app.state.cloudevents = cloudevents = CloudEventsIngest.of(service)

    async def read_event_body(request: Request) -> bytes:
        return await read_body(request, service.settings.server.max_body_bytes)

    # POST / and POST /v1/cloudevents: payload logger events (KServe, Seldon), one POST per
    # request or response; served ahead of the routing (bare ASGI), as they take most traffic
    # (``drift.service.fastpath`` answers them inside uvicorn's HTTP protocol, faster still)
    endpoint = CloudEventsEndpoint(cloudevents, read_event_body)
    app.state.cloudevents_endpoint = endpoint
    app.add_middleware(CloudEventsMiddleware, endpoint=endpoint)
    # server.max_inflight_bytes: bodies being read, for the whole process (503 past it)
    server = service.settings.server
    overloaded = service.metrics.requests_rejected.labels("overloaded")
    app.state.body_budget = BodyBudget(server.max_inflight_bytes)
    app.add_middleware(
        BodyBudgetMiddleware,
        budget=app.state.body_budget,
        max_body_bytes=server.max_body_bytes,
        on_refused=overloaded.inc,
    )
    # server.auth: added last, so outermost: nothing but the open probes (and /metrics unless
    # protected) reaches a route, the CloudEvents ones included, without the class's token.
    # drift.service.fastpath takes the same Authenticator from app.state.
    auth = service.settings.server.auth
    app.state.authenticator = authenticator = None if auth is None else Authenticator(auth)
    if authenticator is not None:
        unauthorized = service.metrics.requests_rejected.labels("unauthorized")
        app.add_middleware(AuthMiddleware, authenticator=authenticator, on_refused=unauthorized.inc)
    for reason in MORE_REJECT_REASONS:  # zeros from the start, like the others
        service.metrics.requests_rejected.labels(reason)

    @app.exception_handler(DriftError)
    async def drift_error(request: Request, exc: DriftError) -> JSONResponse:
        if isinstance(exc, UnknownModel):
            return _error(404, "unknown_model", detail=str(exc), model=exc.model)
        if isinstance(exc, InvalidRequest):  # the one place these are counted
            service.metrics.requests_rejected.labels(exc.reason).inc()
            answer = _error(exc.status, exc.reason, field=exc.field, detail=exc.detail)
            if exc.status == 503:  # overloaded: bodies in flight are read within seconds
                answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return answer
        if isinstance(exc, EvidentlyMissing):
            return _error(501, "report_unavailable", detail=str(exc), install=exc.install)
        if isinstance(exc, ReportFailed):  # the window's data, not a bug: /drift still answers
            return _error(409, "report_failed", detail=redact(str(exc)))
        if isinstance(exc, NotReady):
            return JSONResponse(
                {"error": "not_ready", "model": exc.model, "detail": exc.detail},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return _error(500, "internal", detail=redact(str(exc)))

    @app.post("/v1/models/{model}/samples")
    async def post_samples(model: str, request: Request, svc: ServiceDep) -> Response:
        return await _ingest(svc, model, request, "samples", _samples_answer)

    @app.post("/v1/models/{model}/labels")
    async def post_labels(model: str, request: Request, svc: ServiceDep) -> Response:
        """Delayed ground truth, joined by id to the predictions of samples (before or after)."""
        return await _ingest(svc, model, request, "labels", _labels_answer)

    @app.get("/v1/models/{model}/performance")
    async def get_performance(model: str, svc: ServiceDep) -> dict[str, Any]:
        svc.monitor(model)
        return performance_json(svc.performance[model].view(), svc.monitors[model].config)

    @app.post("/v1/alertmanager")
    async def post_alertmanager(request: Request, svc: ServiceDep) -> Response:
        """Alertmanager's webhook (payload version 4): each new or changed alert is queued for
        the Slack and Kafka sinks; delivery happens on the sinks' threads."""
        require_json(request)
        body = await read_body(request, svc.settings.server.max_body_bytes)
        if len(body) > jsonbody.SLICE_BYTES:
            return await off_loop(_alertmanager_answer, svc, body)
        return _alertmanager_answer(svc, body)

    @app.get("/v1/models")
    async def list_models(svc: ServiceDep) -> dict[str, Any]:
        return {
            "models": {
                v.model: {
                    "reference_loaded": v.reference_loaded,
                    "reference_rows": v.reference_rows,
                    "window_samples": v.window_samples,
                    "window_size": v.window_size,
                    "dataset_drift": None if v.report is None else v.report.dataset_drift,
                }
                for v in svc.views()
            }
        }

    @app.get("/v1/models/{model}/drift")
    async def get_drift(model: str, svc: ServiceDep) -> JSONResponse:
        monitor = svc.monitor(model)
        report = monitor.latest
        if report is None:
            return _no_result(model, monitor)
        return JSONResponse(report.to_dict())

    @app.get("/v1/models/{model}/estimation")
    async def get_estimation(model: str, svc: ServiceDep) -> JSONResponse:
        """The latest window's estimated performance and multivariate drift (``estimation``)."""
        monitor = svc.monitor(model)
        estimation = svc.estimation[monitor.name]
        if not estimation.enabled:
            return _error(
                404, "estimation_off", model=model, detail="this model has no estimation section"
            )
        latest, failure = estimation.latest, svc.estimation_failure(monitor.name)
        if latest is None:
            if failure is not None:
                return _error(503, "estimation_failed", model=model, detail=failure)
            return _no_result(model, monitor)
        return JSONResponse({**latest.to_dict(), "failure": failure})

    @app.get("/v1/models/{model}/report", response_class=HTMLResponse)
    async def get_report(model: str, svc: ServiceDep, pages: ReportPagesDep) -> Response:
        """The latest evaluation as an HTML page rendered by evidently (the ``report`` extra).
        Rendering takes about a second: it runs in a worker thread, once per evaluation."""
        monitor = svc.monitor(model)
        report, profile = monitor.latest, monitor.profile
        if report is None or profile is None:
            return _no_result(model, monitor)
        page = pages.cached(model, report.evaluated_at)
        if page is None:

            def render() -> str:
                return drift_report_html(profile, report, monitor.window_frame())

            page = await run_in_threadpool(pages.get, model, report.evaluated_at, render)
        return HTMLResponse(page, headers=dict(REPORT_HEADERS))

    @app.get("/metrics")
    async def metrics(request: Request, svc: ServiceDep) -> Response:
        """Negotiated like prometheus_client's own handler: OpenMetrics or text 0.0.4, gzip."""
        out = expose(
            svc.registry,
            accept=request.headers.get("accept"),
            accept_encoding=request.headers.get("accept-encoding"),
            query=request.url.query,
        )
        return Response(out.body, media_type=out.content_type, headers=out.headers)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(svc: ServiceDep) -> JSONResponse:
        ready, detail = svc.readiness()
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "models": detail},
            status_code=200 if ready else 503,
        )

    return app


def app_from_settings(settings: Settings) -> FastAPI:
    return create_app(DriftService(settings))
