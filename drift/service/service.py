"""The composition root: monitors, the evaluator thread, reference loading and metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from drift.alerting.ports import AlertSink
from drift.config import ModelConfig, Settings
from drift.config.secrets import secret_values
from drift.core.label_join import LabelOutcome, PerformanceView
from drift.core.reference import ReferenceProfile
from drift.core.report import DriftReport
from drift.errors import DriftError, NotReady, UnknownModel
from drift.ingest.labels import validate_labels
from drift.ingest.samples import Batch, Rejection, validate_samples
from drift.redact import install_log_redaction, redact, register_secrets
from drift.service.estimation import ModelEstimation
from drift.service.evaluator import Evaluator
from drift.service.fleet import Aggregator, Shipper
from drift.service.monitor import ModelMonitor, ReferenceState
from drift.service.performance import ModelPerformance
from drift.service.references import (
    ReferenceLoader,
    profile_frame,
    reference_source,
)
from drift.service.state import StateKeeper
from exporters.alerts.delivery import AlertDelivery, build_sinks
from exporters.clearml.reporting import ClearMLReporter
from exporters.prometheus.collector import DriftCollector, ModelView, ServiceMetrics, StateMetrics
from exporters.prometheus.estimation import EstimationCollector, EstimationExport
from exporters.prometheus.performance import PerformanceCollector, ReportingCollector

log = logging.getLogger(__name__)


def load_profile(model: str, config: ModelConfig) -> ReferenceProfile:
    """Load and profile one model's reference from its source (no cache; used by
    ``check-config``); raises a DriftError naming what is wrong."""
    source = reference_source(config)
    version = source.current()
    return profile_frame(model, config, source.load(version), version.description)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    rejections: list[Rejection]


@dataclass(frozen=True)
class LabelResult:
    outcome: LabelOutcome
    rejections: list[Rejection]

    @property
    def accepted(self) -> int:
        return self.outcome.matched + self.outcome.held + self.outcome.duplicate


class DriftService:
    def __init__(
        self,
        settings: Settings,
        registry: CollectorRegistry | None = None,
        alert_sinks: Mapping[str, AlertSink] | None = None,
    ) -> None:
        self.settings = settings
        register_secrets(secret_values(settings))
        install_log_redaction()
        self.registry = (
            registry
            if registry is not None
            else CollectorRegistry(support_collectors_without_names=True)  # name[] selects them
        )
        self.monitors = {name: ModelMonitor(name, cfg) for name, cfg in settings.models.items()}
        self.performance = {name: ModelPerformance(cfg) for name, cfg in settings.models.items()}
        self.estimation = {n: ModelEstimation(n, cfg) for n, cfg in settings.models.items()}
        sinks = build_sinks(settings.alerts) if alert_sinks is None else alert_sinks
        fleet = settings.fleet
        # an aggregator exports a model's series only while it owns it: none made up front
        per_model = [] if fleet is not None else list(self.monitors)
        self.metrics = ServiceMetrics(self.registry, per_model, list(sinks))
        self.alerts = AlertDelivery(settings, self.metrics, sinks)
        self.registry.register(DriftCollector(self.views))
        self.registry.register(PerformanceCollector(self.performance_views))
        self.registry.register(EstimationCollector(self.estimation_exports))
        self.evaluator = Evaluator(
            self._evaluate,
            lambda model: self.monitors[model].config.window.min_seconds_between_evaluations,
            settings.server.evaluation_cpu_share,
        )
        clearml = settings.reporting.clearml
        self.reporter: ClearMLReporter | None = None
        if clearml is not None and clearml.enabled:
            self.reporter = ClearMLReporter(
                clearml.project,
                clearml.task_name,
                queue_size=clearml.queue_size,
                timeout_seconds=clearml.timeout_seconds,
                retries=clearml.retries,
            )
            self.registry.register(ReportingCollector(self.reporter.stats))
        self.state: StateKeeper | None = None
        if settings.state is not None:
            self.state = StateKeeper(
                settings.state,
                settings.models,
                self.monitors,
                self.performance,
                self.alerts,
                StateMetrics(self.registry, list(self.monitors)),
                server=settings.server,  # the limits that shape the CloudEvents halves
                estimation=self.estimation,
            )
        # fleet mode: HTTP ingestion on either role produces to Kafka; the aggregator's
        # consumer feeds the windows (``ingest_consumed``)
        self.shipper: Shipper | None = None
        self.aggregator: Aggregator | None = None
        if fleet is not None:
            client_id = f"drift-sidecar-{fleet.role}"
            self.shipper = Shipper(fleet, self.registry, client_id)
            if fleet.role == "aggregator":
                self.aggregator = Aggregator(self, fleet, self.registry, client_id)
        self._loader: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._references: dict[str, ReferenceLoader] = {}
        self.started_at = time.time()

    # lifecycle -------------------------------------------------------------------------------
    def start(self, load_in_background: bool = True) -> None:
        """Restore what ``state`` saved (labels now, each window with its first reference),
        start the threads and load the references."""
        if self.state is not None:
            self.state.load()
        if self.shipper is not None:
            self.shipper.start()
        if self.aggregator is not None:
            self.aggregator.start()  # joins the group once every reference is loaded
        self.alerts.start()
        if self.reporter is not None:
            self.reporter.start()
        self.evaluator.start()
        schedule = dict.fromkeys(self.monitors, 0.0)
        if not load_in_background:  # load now; retries and refreshes still run in background
            now = time.monotonic()
            schedule = {}
            for name in self.monitors:
                due = self._next_due(name, self._load_reference(name), now)
                if due is not None:
                    schedule[name] = due
        if schedule:
            self._loader = threading.Thread(
                target=self._load_until_done, args=(schedule,), name="drift-loader", daemon=True
            )
            self._loader.start()
        self._ticker = threading.Thread(target=self._tick, name="drift-ticker", daemon=True)
        self._ticker.start()
        if self.state is not None:
            self.state.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop within ``timeout`` seconds from now (default ``server.shutdown_timeout_seconds``),
        one budget passed down in order, each part getting what is left: the evaluator finishes
        the evaluation it is running, the ticker ends, the final state snapshot is written
        (``state``: before the alert drain, which a hanging sink can stretch to the deadline,
        and after the evaluator, so it holds the last verdict and alert state), the alert
        queues are delivered until empty (what is not delivered by the deadline is counted and
        logged), then the ClearML reporter and the reference loader. A thread still busy at
        the deadline (a send or a download in flight) is a daemon and does not hold the
        stop."""
        budget = self.settings.server.shutdown_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + budget

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        self._stopping.set()
        if self.aggregator is not None:  # commits what it applied and leaves the group
            self.aggregator.stop(left() / 2)
        if self.shipper is not None:  # delivers what is buffered while the budget lasts
            self.shipper.stop(left() / 2)
        self.evaluator.stop(left())
        if self._ticker is not None:  # it may queue performance alerts: ends before the drain
            self._ticker.join(left())
        if self.state is not None:  # the final snapshot, then the drain keeps what is left
            self.state.stop(left())
            reserve = min(0.5, budget / 10)  # to write what the drain leaves
            self.alerts.stop(max(0.0, left() - reserve), keep=True)
            self.state.save_alerts()
        else:
            self.alerts.stop(left())
        if self.reporter is not None:
            self.reporter.stop(left())
        if self._loader is not None:
            self._loader.join(left())

    def _tick(self) -> None:
        """Housekeeping by the clock: time windows are re-evaluated every
        ``window.evaluate_every_seconds`` even when no sample arrives (samples age out); label
        joins expire old entries and recompute performance when new labels joined."""
        due = {
            name: time.monotonic() + m.config.window.evaluate_every_seconds
            for name, m in self.monitors.items()
            if m.timed
        }
        periods = [self.monitors[n].config.window.evaluate_every_seconds for n in due]
        resolution = min([1.0, *periods])
        while not self._stopping.wait(resolution):
            now = time.monotonic()
            for name, at in due.items():
                if at <= now and self._judges(name):
                    self.evaluator.request(name)
                    due[name] = now + self.monitors[name].config.window.evaluate_every_seconds
            self.evaluate_performance(now)

    def _judges(self, name: str) -> bool:
        """Whether this process evaluates ``name`` now: stand-alone, once its reference is
        loaded; a shipper, never; an aggregator, while it owns the model's rebuilt window."""
        if self.monitors[name].state is not ReferenceState.READY:
            return False
        if self.aggregator is not None:
            return self.aggregator.reports(name)
        return self.shipper is None

    def evaluate_performance(self, now: float | None = None) -> None:
        """Expire label-join entries and recompute performance where new labels joined."""
        for name, perf in self.performance.items():
            if self.settings.fleet is not None and not self._judges(name):
                continue
            try:
                if perf.evaluate(now) is None:
                    continue
                condition = perf.alert_detail()
                if condition is not None:
                    self.alerts.observe_performance(name, *condition)
            except Exception:  # never kill the ticker
                self.metrics.evaluation_errors.labels(name).inc()
                log.exception("model %s: performance evaluation failed", name)

    def _load_until_done(self, schedule: dict[str, float]) -> None:
        """Load every reference, retry failed ones every ``reference.retry_seconds`` (also while
        a cached profile stands in for an unreachable source), and poll the sources with
        ``reference.refresh_minutes`` for newer versions."""
        next_try = dict(schedule)
        while next_try and not self._stopping.is_set():
            now = time.monotonic()
            for name in sorted(n for n, due in next_try.items() if due <= now):
                due = self._next_due(name, self._load_reference(name), now)
                if due is None:
                    del next_try[name]
                else:
                    next_try[name] = due
            if next_try:
                self._stopping.wait(max(0.0, min(next_try.values()) - time.monotonic()))

    def _next_due(self, name: str, ok: bool, now: float) -> float | None:
        """When to ask the source again: retry after a failure or while serving the cache,
        poll with ``refresh_minutes``, else never."""
        info, ref = self.monitors[name].reference_info, self.monitors[name].config.reference
        if not ok or (info is not None and info.cached):
            return now + ref.retry_seconds
        if ref.refresh_minutes is not None:
            return now + ref.refresh_minutes * 60
        return None

    def load_references(self, names: list[str] | None = None) -> set[str]:
        """Load the named references (default: all); returns the names that loaded."""
        return {
            n
            for n in (names if names is not None else list(self.monitors))
            if self._load_reference(n)
        }

    def _load_reference(self, name: str) -> bool:
        """Install the source's current reference unless it is installed already (a refresh
        that finds a newer version swaps it atomically); False when loading failed."""
        monitor = self.monitors[name]
        started = time.perf_counter()
        try:
            loader = self._references.get(name) or ReferenceLoader(name, monitor.config)
            self._references[name] = loader
            loaded = loader.load(monitor.reference_info)
        except DriftError as exc:
            self.metrics.reference_load_failures.labels(name).inc()
            monitor.mark_failed(public_error(str(exc), self._references.get(name)))
            log.error(
                "model %s: cannot load reference (retry in %ss): %s",
                name,
                monitor.config.reference.retry_seconds,
                exc,
            )
            return False
        if loaded is None:
            return True  # the installed version is still current
        previous = monitor.reference_info
        # fitted before the install: the first window after it has its estimates (never raises)
        if self.shipper is None:  # a shipper never estimates: its aggregator does
            self.estimation[name].set_reference(loaded, loader)
        if self.state is not None and previous is None:  # the first: with the saved window
            self.state.install(name, loaded.profile, loaded.info)
        else:
            monitor.install_reference(loaded.profile, loaded.info)
        self.performance[name].set_reference(loaded.profile.performance)
        info = loaded.info
        if info.cached:
            self.metrics.reference_load_failures.labels(name).inc()
            log.warning("model %s: %s (version %s)", name, info.note, info.version)
        elif previous is not None and previous.version_id != info.version_id:
            self.metrics.reference_switches.labels(name).inc()
            log.info(
                "model %s: reference switched from version %s to %s (%s)",
                name,
                previous.version,
                info.version,
                info.description,
            )
        log.info(
            "model %s: reference %s loaded (%d rows, %d columns) in %.2fs",
            name,
            info.description,
            loaded.profile.rows,
            len(loaded.profile.columns),
            time.perf_counter() - started,
        )
        return True

    # requests --------------------------------------------------------------------------------
    def monitor(self, model: str) -> ModelMonitor:
        try:
            return self.monitors[model]
        except KeyError:
            self.metrics.requests_rejected.labels("unknown_model").inc()
            raise UnknownModel(model) from None

    def ingest(self, model: str, payload: Any) -> IngestResult:
        monitor = self.monitor(model)
        schema = monitor.schema
        if schema is None:
            self.metrics.requests_rejected.labels("not_ready").inc()
            raise NotReady(model, monitor.error or "reference is still loading")
        server = self.settings.server
        batch, rejections = validate_samples(
            payload, schema, server.max_samples_per_request, max_value_bytes=server.max_value_bytes
        )
        for rejection in rejections:
            self.metrics.samples_rejected.labels(model, rejection.reason.value).inc()
        if len(batch):
            if self.shipper is not None:  # to the model's aggregator, through Kafka
                self.shipper.ship_samples(model, batch, schema)
            else:
                self._apply(model, monitor, batch, time.monotonic(), replay=False)
        return IngestResult(accepted=len(batch), rejections=rejections)

    def _apply(
        self, model: str, monitor: ModelMonitor, batch: Batch, at: float, replay: bool
    ) -> None:
        """Accepted samples into the window and the label join (``at``: monotonic arrival)."""
        schema = monitor.schema
        due = monitor.ingest(batch, at)
        self.performance[model].record(batch, None if schema is None else schema.prediction, at)
        self.estimation[model].record(batch, None if schema is None else schema.prediction)
        self.alerts.record_ingest(model, len(batch))
        if not replay:  # a replay rebuilds what an earlier owner counted and judged
            self.metrics.samples.labels(model).inc(len(batch))
            if due:
                self.evaluator.request(model)

    # fleet aggregator: what its consumer calls -----------------------------------------------
    def ingest_consumed(self, model: str, payload: Any, at: float, replay: bool) -> int:
        """A samples message from Kafka (the body of the samples route), applied to the window;
        raises ``DriftError`` when the message is not such a body; how many were accepted."""
        monitor = self.monitor(model)
        schema = monitor.schema
        if schema is None:
            raise NotReady(model, monitor.error or "reference is still loading")
        server = self.settings.server
        batch, rejections = validate_samples(
            payload, schema, 2**62, max_value_bytes=server.max_value_bytes
        )
        for rejection in rejections:
            self.metrics.samples_rejected.labels(model, rejection.reason.value).inc()
        if len(batch):
            self._apply(model, monitor, batch, at, replay)
        return len(batch)

    def ingest_labels_consumed(self, model: str, payload: Any, at: float) -> None:
        """A labels message from Kafka, joined to the model's predictions."""
        labels, rejections = validate_labels(
            payload, 2**62, max_value_bytes=self.settings.server.max_value_bytes
        )
        self.performance[self.monitor(model).name].add_labels(labels, len(rejections), at)

    def take_over(self, model: str, trackers: Mapping[str, Any] | None) -> None:
        """Start owning ``model``: nothing in its window or label join yet, the alert trackers
        of the previous owner (its record) when they are valid, else fresh ones."""
        self.release(model)
        if trackers:
            try:
                self.alerts.restore_model(model, trackers, None)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning(
                    "model %s: the previous owner's alert state is not valid: %s", model, exc
                )

    def release(self, model: str) -> None:
        """Stop owning ``model``: forget its window, label join and alert state."""
        self.monitors[model].reset_window()
        self.performance[model].reset()
        self.estimation[model].reset()
        self.alerts.reset_model(model)

    def alert_trackers(self, model: str) -> dict[str, Any]:
        return dict(self.alerts.model_state(model)["trackers"])

    def request_evaluation(self, model: str) -> None:
        """Evaluate ``model`` when its window allows (an aggregator's rebuilt window)."""
        if self.monitors[model].evaluable():
            self.evaluator.request(model)

    def references_ready(self) -> bool:
        return all(m.state is ReferenceState.READY for m in self.monitors.values())

    def ingest_labels(self, model: str, payload: Any) -> LabelResult:
        """Delayed ground truth ``{"labels": [{"id": ..., "label": ...}]}``, joined by id to
        the predictions of samples sent with that id (before or after the label)."""
        perf = self.performance[self.monitor(model).name]
        server = self.settings.server
        labels, rejections = validate_labels(
            payload, server.max_samples_per_request, max_value_bytes=server.max_value_bytes
        )
        if self.shipper is not None:  # joined by the model's aggregator: held until then
            self.shipper.ship_labels(model, labels)
            return LabelResult(LabelOutcome(matched=0, held=len(labels), duplicate=0), rejections)
        outcome = perf.add_labels(labels, len(rejections), time.monotonic())
        return LabelResult(outcome, rejections)

    def performance_views(self) -> Iterator[tuple[str, PerformanceView]]:
        for name, perf in self.performance.items():
            if self.settings.fleet is not None and not self._judges(name):
                continue
            yield name, perf.view()

    def latest(self, model: str) -> DriftReport | None:
        return self.monitor(model).latest

    def readiness(self) -> tuple[bool, dict[str, dict[str, Any]]]:
        detail = {
            name: {
                "state": m.state.value,
                **({"error": m.error} if m.error else {}),
                **_reference_detail(m),
            }
            for name, m in self.monitors.items()
        }
        ready = self.references_ready()
        fleet = self.settings.fleet
        if fleet is not None:
            agg = self.aggregator
            part: dict[str, Any] = {"role": fleet.role}
            if agg is not None:
                part["joined"] = agg.joined.is_set()
                part["owned_models"] = agg.owned_models()
                if agg.error:
                    part["error"] = agg.error
                ready = ready and agg.joined.is_set() and agg.error is None
            detail["(fleet)"] = part
        return ready, detail

    # evaluation ------------------------------------------------------------------------------
    def _evaluate(self, model: str) -> None:
        monitor = self.monitors[model]
        try:
            report = monitor.evaluate()
        except Exception:  # an evaluation must never kill the evaluator thread
            self.metrics.evaluation_errors.labels(model).inc()
            log.exception("model %s: evaluation failed", model)
            return
        if report is None:
            return
        estimate = self.estimation[model].after_evaluation(monitor.window_frame)
        if report.insufficient_data:  # no verdict: alerts hold their state
            return
        self.metrics.evaluation_seconds.labels(model).observe(report.evaluation_seconds)
        before = self.alert_trackers(model) if self.aggregator is not None else None
        try:  # alert state machines and queueing only; delivery runs on the sinks' threads
            self.alerts.observe(report, monitor.profile)
            for kind, bad, detail in () if estimate is None else estimate.conditions():
                self.alerts.observe_condition(model, kind, bad, detail)
        except Exception:
            log.exception("model %s: alert evaluation failed", model)
        if self.aggregator is not None and self.alert_trackers(model) != before:
            self.aggregator.alerts_changed()  # the record is published before the next commit
        if self.reporter is not None:
            self.reporter.submit(report)  # queued; sent to ClearML by the reporter's thread

    def estimation_failure(self, model: str) -> str | None:
        """Why ``model``'s estimation is not ready (None: it is), as /estimation shows it
        (redacted like reference errors; the log keeps the full text)."""
        error = self.estimation[model].error
        return None if error is None else public_error(error, self._references.get(model))

    def estimation_exports(self) -> Iterator[EstimationExport]:
        if self.shipper is not None:
            return  # its aggregator estimates
        for name, estimation in self.estimation.items():
            if not estimation.enabled:
                continue
            if self.aggregator is not None and not self.aggregator.reports(name):
                continue  # as in ``views``: another aggregator owns it
            yield estimation.export()

    def views(self) -> Iterator[ModelView]:
        for name, m in self.monitors.items():
            if self.aggregator is not None and not self.aggregator.reports(name):
                continue  # another aggregator owns it (or its window is being rebuilt)
            profile = m.profile
            yield ModelView(
                model=name,
                reference_loaded=profile is not None,
                reference_rows=0 if profile is None else profile.rows,
                window_samples=m.window_samples,
                window_size=m.config.window.size,
                report=m.latest,
                version=m.config.version or "",
                **_reference_view(m),
            )


def _reference_detail(monitor: ModelMonitor) -> dict[str, Any]:
    info = monitor.reference_info
    if info is None:
        return {}
    ref: dict[str, Any] = {  # no description: it holds paths and URLs (logs only)
        "source": info.source,
        "version": info.version,
        "version_id": info.version_id,
        "loaded_at": info.loaded_at,
        "cached": info.cached,
    }
    return {"reference": ref, **({"warning": info.note} if info.note else {})}


def _reference_view(monitor: ModelMonitor) -> dict[str, Any]:
    info = monitor.reference_info
    if info is None:
        return {}
    return {
        "reference_source": info.source,
        "reference_version": info.version,
        "reference_loaded_at": info.loaded_at,
        "reference_cached": info.cached,
    }


def public_error(text: str, loader: ReferenceLoader | None) -> str:
    """A reference error as /readyz and 503 bodies show it (see ``ReferenceLoader.public``);
    the log keeps the full text."""
    return loader.public(text) if loader is not None else redact(text)
