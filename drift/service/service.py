"""The composition root: monitors, the evaluator thread, reference loading and metrics."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from drift.config import ModelConfig, Settings
from drift.engine import check_options
from drift.errors import ConfigError, DriftError, NotReady, UnknownModel
from drift.ports import ReferenceSource
from drift.reference import ReferenceProfile, build_profile
from drift.report import DriftReport
from drift.samples import Rejection, validate_samples
from drift.service.monitor import ModelMonitor, ReferenceState
from exporters.prometheus import DriftCollector, ModelView, ServiceMetrics
from exporters.reference_file import FileReference

log = logging.getLogger(__name__)


def reference_source(config: ModelConfig) -> ReferenceSource:
    return FileReference(config.reference.path, config.reference.format)


def load_profile(model: str, config: ModelConfig) -> ReferenceProfile:
    """Load and profile one model's reference; raises a DriftError naming what is wrong."""
    source = reference_source(config)
    frame = source.load()
    profile = build_profile(frame, config.columns, source.description, config.drift.max_categories)
    problems = check_options(model, profile, config.drift, window_size=config.window.size)
    if problems:
        raise ConfigError(problems)
    return profile


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    rejections: list[Rejection]


class Evaluator:
    """One background thread that evaluates models whose window is due, off the request path."""

    def __init__(self, run: Callable[[str], None]) -> None:
        self._run = run
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="drift-evaluator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def request(self, model: str) -> None:
        """Ask for an evaluation; requests for a model already waiting are merged."""
        with self._lock:
            if model in self._pending:
                return
            self._pending.add(model)
        self._queue.put(model)

    def _loop(self) -> None:
        while True:
            model = self._queue.get()
            if model is None:
                return
            with self._lock:
                self._pending.discard(model)
            self._run(model)


class DriftService:
    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()
        self.monitors = {name: ModelMonitor(name, cfg) for name, cfg in settings.models.items()}
        self.metrics = ServiceMetrics(self.registry, list(self.monitors))
        self.registry.register(DriftCollector(self.views))
        self.evaluator = Evaluator(self._evaluate)
        self._loader: threading.Thread | None = None
        self._stopping = threading.Event()
        self.started_at = time.time()

    # lifecycle -------------------------------------------------------------------------------
    def start(self, load_in_background: bool = True) -> None:
        self.evaluator.start()
        if load_in_background:
            self._loader = threading.Thread(
                target=self._load_until_done, name="drift-loader", daemon=True
            )
            self._loader.start()
        else:
            self.load_references()

    def stop(self) -> None:
        self._stopping.set()
        self.evaluator.stop()
        if self._loader is not None:
            self._loader.join(timeout=5)

    def _load_until_done(self) -> None:
        """Load every reference; retry failed ones every ``reference.retry_seconds``."""
        pending = set(self.monitors)
        next_try = dict.fromkeys(pending, 0.0)
        while pending and not self._stopping.is_set():
            now = time.monotonic()
            due = {name for name in pending if next_try[name] <= now}
            loaded = self.load_references(sorted(due))
            pending -= loaded
            for name in due - loaded:
                next_try[name] = now + self.monitors[name].config.reference.retry_seconds
            if pending:
                wake = min(next_try[name] for name in pending)
                self._stopping.wait(max(0.0, wake - time.monotonic()))

    def load_references(self, names: list[str] | None = None) -> set[str]:
        """Load the named references (default: all); returns the names that loaded."""
        loaded: set[str] = set()
        for name in names if names is not None else list(self.monitors):
            monitor = self.monitors[name]
            started = time.perf_counter()
            try:
                profile = load_profile(name, monitor.config)
            except DriftError as exc:
                self.metrics.reference_load_failures.labels(name).inc()
                monitor.mark_failed(str(exc))
                log.error(
                    "model %s: cannot load reference (retry in %ss): %s",
                    name,
                    monitor.config.reference.retry_seconds,
                    exc,
                )
                continue
            monitor.install_reference(profile)
            loaded.add(name)
            log.info(
                "model %s: reference %s loaded (%d rows, %d columns) in %.2fs",
                name,
                profile.source,
                profile.rows,
                len(profile.columns),
                time.perf_counter() - started,
            )
        return loaded

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
        batch, rejections = validate_samples(
            payload, schema, self.settings.server.max_samples_per_request
        )
        for rejection in rejections:
            self.metrics.samples_rejected.labels(model, rejection.reason.value).inc()
        if len(batch):
            due = monitor.ingest(batch)
            self.metrics.samples.labels(model).inc(len(batch))
            if due:
                self.evaluator.request(model)
        return IngestResult(accepted=len(batch), rejections=rejections)

    def latest(self, model: str) -> DriftReport | None:
        return self.monitor(model).latest

    def readiness(self) -> tuple[bool, dict[str, dict[str, Any]]]:
        detail = {
            name: {"state": m.state.value, **({"error": m.error} if m.error else {})}
            for name, m in self.monitors.items()
        }
        ready = all(m.state is ReferenceState.READY for m in self.monitors.values())
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
        if report is not None:
            self.metrics.evaluation_seconds.labels(model).observe(report.evaluation_seconds)

    def views(self) -> Iterator[ModelView]:
        for name, m in self.monitors.items():
            profile = m.profile
            yield ModelView(
                model=name,
                reference_loaded=profile is not None,
                reference_rows=0 if profile is None else profile.rows,
                window_samples=m.window_samples,
                window_size=m.config.window.size,
                report=m.latest,
            )
