"""Prometheus exposition of delayed labels and model performance (and of the reporting of
evaluations to ClearML), computed at scrape time.

Label values are bounded: ``model`` comes from the config, ``metric`` from
``drift.core.performance.METRICS`` and ``outcome`` from the fixed list below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drift.core.label_join import PerformanceView
from exporters.clearml.reporting import ReportingStats

#: ``drift_labels_total{outcome}``: what happened to each label (and to predictions waiting)
LABEL_OUTCOMES = (
    "matched",  # joined to its prediction (whichever came first)
    "held",  # arrived before its prediction and waits for it
    "duplicate",  # the id already had a label
    "expired_label",  # waited label_ttl_seconds without a prediction (unknown id)
    "expired_prediction",  # a prediction waited label_ttl_seconds without a label
    "evicted_label",  # dropped to keep max_pending labels waiting
    "evicted_prediction",  # dropped to keep max_pending predictions waiting
    "invalid",  # rejected by validation (missing id or label, wrong type)
)


class PerformanceCollector(Collector):
    def __init__(self, views: Callable[[], Iterable[tuple[str, PerformanceView]]]) -> None:
        self._views = views

    def describe(self) -> Iterator[Metric]:
        return iter(())  # dynamic collector

    def collect(self) -> Iterator[Metric]:
        current = GaugeMetricFamily(
            "drift_model_performance",
            "Model performance over the last performance.window labelled predictions",
            labels=["model", "metric"],
        )
        reference = GaugeMetricFamily(
            "drift_model_performance_reference",
            "The same metric on the reference dataset (its target against its prediction)",
            labels=["model", "metric"],
        )
        degraded = GaugeMetricFamily(
            "drift_model_performance_degraded",
            "1 while the configured performance.alert condition holds",
            labels=["model"],
        )
        samples = GaugeMetricFamily(
            "drift_model_performance_samples",
            "Labelled predictions the latest performance was computed on",
            labels=["model"],
        )
        pending = GaugeMetricFamily(
            "drift_labels_pending",
            "Predictions waiting for their label, and labels waiting for their prediction",
            labels=["model", "kind"],
        )
        outcomes = CounterMetricFamily(
            "drift_labels",
            "Labels (and predictions waiting for one) by what happened to them",
            labels=["model", "outcome"],
        )
        for model, view in self._views():
            if view.current is not None:
                samples.add_metric([model], view.current.samples)
                for metric, value in view.current.metrics.items():
                    if math.isfinite(value):
                        current.add_metric([model, metric], value)
            if view.reference is not None:
                for metric, value in view.reference.metrics.items():
                    if math.isfinite(value):
                        reference.add_metric([model, metric], value)
            if view.degraded is not None:
                degraded.add_metric([model], 1.0 if view.degraded else 0.0)
            pending.add_metric([model, "prediction"], view.pending_predictions)
            pending.add_metric([model, "label"], view.pending_labels)
            c = view.counters
            counts = (
                c.matched,
                c.held,
                c.duplicate,
                c.expired_labels,
                c.expired_predictions,
                c.evicted_labels,
                c.evicted_predictions,
                view.invalid,
            )
            for outcome, count in zip(LABEL_OUTCOMES, counts, strict=True):
                outcomes.add_metric([model, outcome], count)
        yield from (current, reference, degraded, samples, pending, outcomes)


class ReportingCollector(Collector):
    """``drift_clearml_reports_total{outcome}`` and the reporter's queue."""

    def __init__(self, stats: Callable[[], ReportingStats]) -> None:
        self._stats = stats

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        reports = CounterMetricFamily(
            "drift_clearml_reports",
            "Evaluations reported to ClearML as task scalars: reported, failed (after retries), "
            "dropped (queue full)",
            labels=["outcome"],
        )
        reports.add_metric(["reported"], stats.reported)
        reports.add_metric(["failed"], stats.failed)
        reports.add_metric(["dropped"], stats.dropped)
        pending = GaugeMetricFamily(
            "drift_clearml_reports_pending", "Evaluations waiting to be reported to ClearML"
        )
        pending.add_metric([], stats.pending)
        yield from (reports, pending)
