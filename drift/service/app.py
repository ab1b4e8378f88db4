"""FastAPI routes. Thin: parse, call the service, map errors to HTTP in one handler."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from drift.alerting.alertmanager import AlertmanagerPayload
from drift.config import Settings
from drift.errors import DriftError, InvalidRequest, NotReady, UnknownModel, body_too_large
from drift.ingest import jsonbody
from drift.redact import redact
from drift.service.cloudevents import (
    CloudEventsEndpoint,
    CloudEventsIngest,
    CloudEventsMiddleware,
)
from drift.service.monitor import ModelMonitor
from drift.service.performance import performance_json
from drift.service.service import DriftService
from exporters.prometheus.exposition import expose
from exporters.report.evidently_html import EvidentlyMissing, ReportPages, drift_report_html
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
                service.stop()

    app = FastAPI(title="drift-sidecar", lifespan=lifespan)
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

    @app.exception_handler(DriftError)
    async def drift_error(request: Request, exc: DriftError) -> JSONResponse:
        if isinstance(exc, UnknownModel):
            return _error(404, "unknown_model", detail=str(exc), model=exc.model)
        if isinstance(exc, InvalidRequest):
            return _error(exc.status, exc.reason, field=exc.field, detail=exc.detail)
        if isinstance(exc, EvidentlyMissing):
            return _error(501, "report_unavailable", detail=str(exc), install=exc.install)
        if isinstance(exc, NotReady):
            return JSONResponse(
                {"error": "not_ready", "model": exc.model, "detail": exc.detail},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return _error(500, "internal", detail=redact(str(exc)))

    @app.post("/v1/models/{model}/samples")
    async def post_samples(model: str, request: Request, svc: ServiceDep) -> JSONResponse:
        svc.monitor(model)  # 404 before reading a body for a model that does not exist
        try:
            body = await read_body(request, svc.settings.server.max_body_bytes)
            try:
                payload = jsonbody.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidRequest(
                    400, "invalid_json", "(body)", f"not valid JSON: {exc}"
                ) from None
            result = svc.ingest(model, payload)
        except InvalidRequest as exc:
            svc.metrics.requests_rejected.labels(exc.reason).inc()
            raise
        if result.rejections:
            return JSONResponse(
                {
                    "accepted": result.accepted,
                    "rejected": [r.to_dict() for r in result.rejections],
                },
                status_code=422,
            )
        return JSONResponse({"accepted": result.accepted, "rejected": []})

    @app.post("/v1/models/{model}/labels")
    async def post_labels(model: str, request: Request, svc: ServiceDep) -> JSONResponse:
        """Delayed ground truth, joined by id to the predictions of samples (before or after)."""
        svc.monitor(model)
        body = await read_body(request, svc.settings.server.max_body_bytes)
        try:
            payload = jsonbody.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRequest(400, "invalid_json", "(body)", f"not valid JSON: {exc}") from None
        result = svc.ingest_labels(model, payload)
        outcome = result.outcome
        return JSONResponse(
            {
                "accepted": result.accepted,
                "matched": outcome.matched,
                "held": outcome.held,
                "duplicate": outcome.duplicate,
                "rejected": [r.to_dict() for r in result.rejections],
            },
            status_code=422 if result.rejections else 200,
        )

    @app.get("/v1/models/{model}/performance")
    async def get_performance(model: str, svc: ServiceDep) -> dict[str, Any]:
        svc.monitor(model)
        return performance_json(svc.performance[model].view(), svc.monitors[model].config)

    @app.post("/v1/alertmanager")
    async def post_alertmanager(request: Request, svc: ServiceDep) -> JSONResponse:
        """Alertmanager's webhook (payload version 4): each new or changed alert is queued for
        the Slack and Kafka sinks; delivery happens on the sinks' threads."""
        body = await read_body(request, svc.settings.server.max_body_bytes)
        try:
            payload = AlertmanagerPayload.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(body)"
            raise InvalidRequest(422, "invalid_body", field, first["msg"]) from None
        queued = svc.alerts.receive_alertmanager(payload)
        return JSONResponse({"received": len(payload.alerts), "queued": queued})

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
