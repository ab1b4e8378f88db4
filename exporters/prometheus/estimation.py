"""Prometheus exposition of estimated performance (CBPE / DLE) and of multivariate drift,
computed at scrape time from each model's latest estimation.

Label values are bounded: ``model`` comes from the config, ``metric`` from
``drift.core.estimation.CBPE_METRICS`` / ``drift.core.loss_estimation.DLE_METRICS``,
``method`` from the fixed methods (``pca_reconstruction``, ``domain_classifier``), ``bound``
is lower or upper.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drift.core.estimation import Estimate, Thresholds


@dataclass(frozen=True)
class MultivariateScore:
    """One multivariate method's score of the latest window."""

    method: str  # pca_reconstruction | domain_classifier
    value: float
    thresholds: Thresholds
    drift: bool


@dataclass(frozen=True)
class EstimationExport:
    """What one model's estimation shows (the service builds it; exporters never import the
    service)."""

    model: str
    performance: tuple[Estimate, ...] = ()
    method: str | None = None  # cbpe | dle
    multivariate: tuple[MultivariateScore, ...] = ()
    fit_seconds: float | None = None
    ready: bool = False  # fitted on the installed reference, the latest estimation worked
    errors: Mapping[str, int] = field(default_factory=dict)  # failures by stage: fit, evaluate


class EstimationCollector(Collector):
    def __init__(self, exports: Callable[[], Iterable[EstimationExport]]) -> None:
        self._exports = exports

    def describe(self) -> Iterator[Metric]:
        return iter(())  # dynamic collector

    def collect(self) -> Iterator[Metric]:
        perf_labels = ["model", "metric", "method"]
        estimated = GaugeMetricFamily(
            "drift_model_performance_estimated",
            "Performance estimated over the window before labels arrive (CBPE for classifiers, "
            "DLE for regressors)",
            labels=perf_labels,
        )
        lower = GaugeMetricFamily(
            "drift_model_performance_estimated_lower",
            "Lower end of the estimate's band (estimate - 3 sampling errors)",
            labels=perf_labels,
        )
        upper = GaugeMetricFamily(
            "drift_model_performance_estimated_upper",
            "Upper end of the estimate's band (estimate + 3 sampling errors)",
            labels=perf_labels,
        )
        threshold = GaugeMetricFamily(
            "drift_model_performance_estimated_threshold",
            "Alert thresholds of the estimate, from the realized metric on reference chunks",
            labels=[*perf_labels, "bound"],
        )
        alert = GaugeMetricFamily(
            "drift_model_performance_estimated_alert",
            "1 while the estimate is outside its thresholds",
            labels=perf_labels,
        )
        score = GaugeMetricFamily(
            "drift_multivariate_score",
            "Multivariate drift score of the window (PCA reconstruction error, domain "
            "classifier ROC AUC)",
            labels=["model", "method"],
        )
        score_threshold = GaugeMetricFamily(
            "drift_multivariate_threshold",
            "Thresholds of the multivariate score, from reference chunks",
            labels=["model", "method", "bound"],
        )
        verdict = GaugeMetricFamily(
            "drift_multivariate_drift",
            "1 while the multivariate score is outside its thresholds",
            labels=["model", "method"],
        )
        fit = GaugeMetricFamily(
            "drift_estimation_fit_seconds",
            "Seconds the estimators of the reference installed last took to be ready (fitted, or "
            "read from the reference cache)",
            labels=["model"],
        )
        ready = GaugeMetricFamily(
            "drift_estimation_ready",
            "1 when the estimators are fitted on the installed reference and the latest "
            "window's estimation worked; 0 otherwise (the reason: GET "
            "/v1/models/{model}/estimation)",
            labels=["model"],
        )
        errors = CounterMetricFamily(
            "drift_estimation_errors",
            "Estimation failures by stage: fit (on a reference) or evaluate (a window)",
            labels=["model", "stage"],
        )
        for export in self._exports():
            model = export.model
            ready.add_metric([model], 1.0 if export.ready else 0.0)
            for stage, count in export.errors.items():
                errors.add_metric([model, stage], count)
            if export.fit_seconds is not None:
                fit.add_metric([model], export.fit_seconds)
            method = export.method or ""
            for e in export.performance:
                key = [model, e.metric, method]
                for family, value in ((estimated, e.value), (lower, e.lower), (upper, e.upper)):
                    if math.isfinite(value):
                        family.add_metric(key, value)
                for bound, limit in (("lower", e.thresholds.lower), ("upper", e.thresholds.upper)):
                    if limit is not None and math.isfinite(limit):
                        threshold.add_metric([*key, bound], limit)
                alert.add_metric(key, 1.0 if e.alert else 0.0)
            for m in export.multivariate:
                key = [model, m.method]
                if math.isfinite(m.value):
                    score.add_metric(key, m.value)
                for bound, limit in (("lower", m.thresholds.lower), ("upper", m.thresholds.upper)):
                    if limit is not None and math.isfinite(limit):
                        score_threshold.add_metric([*key, bound], limit)
                verdict.add_metric(key, 1.0 if m.drift else 0.0)
        yield from (estimated, lower, upper, threshold, alert, score, score_threshold, verdict)
        yield from (fit, ready, errors)
