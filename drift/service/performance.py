"""Per-model delayed labels and performance: the label join, the latest metrics, the
configured performance-drop condition. Owned by the service; thread-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from drift.config import ModelConfig
from drift.core.label_join import LabelJoin, LabelOutcome, PerformanceView
from drift.core.performance import (
    HIGHER_IS_BETTER,
    Performance,
    Task,
    classification_performance,
    infer_task,
    regression_performance,
)
from drift.ingest.samples import Batch


class ModelPerformance:
    """Records predictions (with ids) as samples arrive, joins labels, computes metrics."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config.performance
        self._lock = threading.Lock()
        self._reference: Performance | None = None
        self._current: Performance | None = None
        self._evaluated_at: float | None = None
        self._reset()

    def reset(self) -> None:
        """Forget every prediction, label and metric; the reference stays (a fleet aggregator
        losing or taking over the model)."""
        with self._lock:
            reference = self._reference
            self._reset()
            self._reference = reference

    def _reset(self) -> None:
        self._join = LabelJoin(
            self.config.label_ttl_seconds,
            self.config.max_pending,
            self.config.window,
            max_bytes=self.config.max_pending_bytes,
        )
        self._dirty = False
        self._invalid = 0
        self._current = None
        self._reference = None
        self._evaluated_at = None

    @property
    def generation(self) -> tuple[object, ...]:
        """Changes when the join or the metrics change (snapshots skip an unchanged model)."""
        with self._lock:
            join = self._join
            return (
                join.counters,
                join.pending_predictions,
                join.pending_labels,
                self._evaluated_at,
                self._dirty,
            )

    def to_state(self, wall_offset: float) -> dict[str, Any]:
        """The label join (pending predictions and labels, joined pairs) and the latest
        metrics as plain data for a snapshot; times saved as ``time + wall_offset`` (Unix
        time), so TTLs keep running while the process is down. The lock is held only to copy
        the tables (shallow copies of immutable entries)."""
        with self._lock:
            entries = self._join.entries()
            current, evaluated_at, dirty = self._current, self._evaluated_at, self._dirty
        return {
            "join": entries.to_state(wall_offset),
            "current": None if current is None else performance_state(current),
            "evaluated_at": evaluated_at,
            "dirty": dirty,
        }

    def restore(self, state: Mapping[str, Any], wall_offset: float) -> None:
        """Take back what ``to_state`` saved, within this config's bounds (TTL, max_pending,
        window: what no longer fits is evicted). All or nothing: raises ValueError (or
        KeyError, TypeError) when ``state`` is not valid."""
        join = LabelJoin.from_state(
            state["join"],
            self.config.label_ttl_seconds,
            self.config.max_pending,
            self.config.window,
            max_bytes=self.config.max_pending_bytes,
            wall_offset=wall_offset,
        )
        saved, evaluated_at = state["current"], state["evaluated_at"]
        current = None if saved is None else performance_from_state(saved)
        with self._lock:
            self._join = join
            self._current = current
            self._evaluated_at = None if evaluated_at is None else float(evaluated_at)
            self._dirty = bool(state["dirty"])

    def set_reference(self, reference: Performance | None) -> None:
        with self._lock:
            self._reference = reference

    def record(self, batch: Batch, prediction_column: str | None, now: float) -> None:
        """Keep the batch's predictions that carry an id, waiting for their label."""
        if prediction_column is None or batch.ids.count(None) == len(batch.ids):
            return
        predictions = list(batch.columns[prediction_column])
        scores: list[Any] | None = list(batch.scores) if batch.scores else None
        with self._lock:
            before = self._join.counters.matched
            self._join.add_predictions(batch.ids, predictions, scores, now)
            # new pairs only when labels were waiting for these predictions
            self._dirty = self._dirty or self._join.counters.matched > before

    def add_labels(
        self, labels: list[tuple[str, object]], invalid: int, now: float
    ) -> LabelOutcome:
        with self._lock:
            outcome = self._join.add_labels(labels, now)
            self._invalid += invalid
            self._dirty = self._dirty or outcome.matched > 0
            return outcome

    def evaluate(self, now: float | None = None) -> Performance | None:
        """Expire old entries and, when new pairs joined, recompute the metrics (the service's
        ticker calls this off the request path); the new result, None when nothing was
        computed (no new pairs, or fewer than ``min_samples``)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._join.expire(now)
            if not self._dirty:
                return None
            self._dirty = False
            joined = self._join.joined(self.config.positive_label)
            reference = self._reference
        if len(joined) < self.config.min_samples:
            return None
        task = self._task(joined.labels, reference)
        if task is Task.REGRESSION:
            y_true, y_pred = joined.numeric()
            result = regression_performance(y_true, y_pred)
        else:
            result = classification_performance(
                joined.labels, joined.predictions, joined.scores, self.config.positive_label
            )
        with self._lock:
            self._current = result
            self._evaluated_at = time.time()
        return result

    def _task(self, labels: tuple[object, ...], reference: Performance | None) -> Task:
        if self.config.task != "auto":
            return Task(self.config.task)
        if reference is not None:
            return reference.task
        return infer_task(labels)

    def view(self) -> PerformanceView:
        with self._lock:
            current, reference = self._current, self._reference
            return PerformanceView(
                current=current,
                reference=reference,
                degraded=self._degraded(current, reference),
                counters=self._join.counters,
                invalid=self._invalid,
                pending_predictions=self._join.pending_predictions,
                pending_labels=self._join.pending_labels,
                evaluated_at=self._evaluated_at,
            )

    def alert_detail(self) -> tuple[bool, str] | None:
        """The ``performance.alert`` condition now and a one-line account of it, for the
        native alert; None without a condition or before its metric is available."""
        view = self.view()
        alert = self.config.alert
        if alert is None or view.degraded is None or view.current is None:
            return None
        value = view.current.metrics[alert.metric]
        parts = [f"{alert.metric} {value:.4g} over {view.current.samples} labelled predictions"]
        if alert.max_drop is not None and view.reference is not None:
            base = view.reference.metrics.get(alert.metric)
            if base is not None:
                parts.append(f"reference {base:.4g}, allowed drop {alert.max_drop:g}")
        if alert.min_value is not None:
            parts.append(f"minimum {alert.min_value:g}")
        if alert.max_value is not None:
            parts.append(f"maximum {alert.max_value:g}")
        return view.degraded, "; ".join(parts)

    def _degraded(self, current: Performance | None, reference: Performance | None) -> bool | None:
        alert = self.config.alert
        if alert is None or current is None or alert.metric not in current.metrics:
            return None
        value = current.metrics[alert.metric]
        higher = HIGHER_IS_BETTER.get(alert.metric, True)
        checks: list[bool] = []
        if alert.max_drop is not None and reference is not None:
            base = reference.metrics.get(alert.metric)
            if base is not None:
                drop = base - value if higher else value - base
                checks.append(drop > alert.max_drop)
        if alert.min_value is not None:
            checks.append(value < alert.min_value)
        if alert.max_value is not None:
            checks.append(value > alert.max_value)
        return any(checks) if checks else None


def performance_state(perf: Performance) -> dict[str, Any]:
    """``perf`` as JSON-able data, for a snapshot."""
    return {
        "task": perf.task.value,
        "metrics": dict(perf.metrics),
        "samples": perf.samples,
        "skipped": perf.skipped,
    }


def performance_from_state(state: Mapping[str, Any]) -> Performance:
    """What ``performance_state`` saved; ValueError (or KeyError, TypeError) when it is not."""
    metrics = {str(name): float(value) for name, value in state["metrics"].items()}
    return Performance(Task(state["task"]), metrics, int(state["samples"]), int(state["skipped"]))


def performance_json(view: PerformanceView, config: ModelConfig) -> dict[str, Any]:
    """The body of ``GET /v1/models/{model}/performance``."""

    def metrics(perf: Performance | None) -> dict[str, Any] | None:
        if perf is None:
            return None
        return {
            "task": perf.task.value,
            "samples": perf.samples,
            "skipped": perf.skipped,
            "metrics": dict(perf.metrics),
        }

    c = view.counters
    alert = config.performance.alert
    return {
        "current": metrics(view.current),
        "reference": metrics(view.reference),
        "evaluated_at": view.evaluated_at,
        "min_samples": config.performance.min_samples,
        "alert": None
        if alert is None
        else {**alert.model_dump(exclude_none=True), "degraded": view.degraded},
        "labels": {
            "matched": c.matched,
            "held": c.held,
            "duplicate": c.duplicate,
            "expired_label": c.expired_labels,
            "expired_prediction": c.expired_predictions,
            "evicted_label": c.evicted_labels,
            "evicted_prediction": c.evicted_predictions,
            "invalid": view.invalid,
            "pending_predictions": view.pending_predictions,
            "pending_labels": view.pending_labels,
        },
    }
