"""Prometheus exposition: counters for ingestion, and a collector over the latest drift results.

All metrics live in one explicitly passed ``CollectorRegistry``; nothing is registered globally.
Label values are bounded: ``model`` comes from the config, ``column`` from the reference,
``method`` from ``drift.core.stattests.METHODS`` and ``reason`` from fixed enums.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from drift.core.report import ColumnStatus, DriftReport
from drift.ingest.samples import RejectReason

REQUEST_REJECT_REASONS = (
    "unknown_model",
    "invalid_json",
    "invalid_body",
    "body_too_large",
    "too_many_samples",
    "not_ready",
)

ALERT_STATUSES = ("sent", "retried", "dropped")
QUEUE_DROP_REASONS = ("queue_size", "queue_bytes", "shutdown")
ALERTMANAGER_DROP_REASONS = ("duplicate", "rate_limited")
DELIVERY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

EVALUATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _finite(score: float) -> bool:
    return math.isfinite(score)


class ServiceMetrics:
    """Counters and histograms updated by the service as things happen."""

    def __init__(
        self, registry: CollectorRegistry, models: Sequence[str], channels: Sequence[str] = ()
    ) -> None:
        self.samples = Counter(
            "drift_samples", "Samples accepted into the window", ["model"], registry=registry
        )
        self.samples_rejected = Counter(
            "drift_samples_rejected",
            "Samples rejected at ingestion, by reason",
            ["model", "reason"],
            registry=registry,
        )
        self.requests_rejected = Counter(
            "drift_requests_rejected",
            "Requests refused as a whole (4xx, 503), by reason: on the POST routes (samples, "
            "labels, CloudEvents, Alertmanager), and on any route unauthorized (401) or timeout "
            "(408)",
            ["reason"],
            registry=registry,
        )
        self.evaluation_seconds = Histogram(
            "drift_evaluation_seconds",
            "Time to evaluate drift of one window",
            ["model"],
            buckets=EVALUATION_BUCKETS,
            registry=registry,
        )
        self.evaluation_errors = Counter(
            "drift_evaluation_errors",
            "Evaluations that failed with an error",
            ["model"],
            registry=registry,
        )
        self.reference_load_failures = Counter(
            "drift_reference_load_failures",
            "Failed attempts to load a model's reference",
            ["model"],
            registry=registry,
        )
        self.reference_switches = Counter(
            "drift_reference_switches",
            "Times a refresh installed a newer reference version",
            ["model"],
            registry=registry,
        )
        self.alerts = Counter(
            "drift_alerts",
            "Alert notifications per sink: sent, retried (a failed attempt that will be "
            "retried), dropped (queue full, too old or refused for good)",
            ["model", "channel", "status"],
            registry=registry,
        )
        self.alert_queue_depth = Gauge(
            "drift_alert_queue_depth",
            "Notifications waiting in a sink's queue",
            ["channel"],
            registry=registry,
        )
        self.alert_delivery_seconds = Histogram(
            "drift_alert_delivery_seconds",
            "Time from queueing to delivery of a notification, retries included",
            ["channel"],
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.alert_queue_bytes = Gauge(
            "drift_alert_queue_bytes",
            "Approximate bytes of the notifications waiting in a sink's queue",
            ["channel"],
            registry=registry,
        )
        self.alert_queue_dropped = Counter(
            "drift_alert_queue_dropped",
            "Notifications dropped from a sink queue (also counted as dropped in "
            "drift_alerts_total), by reason: the limit reached (queue_size or queue_bytes), or "
            "shutdown (not delivered by the stop deadline)",
            ["channel", "reason"],
            registry=registry,
        )
        self.alertmanager_dropped = Counter(
            "drift_alertmanager_alerts_dropped",
            "Alerts received on POST /v1/alertmanager and not forwarded: duplicate (already "
            "forwarded with that status within the repeat interval) or rate_limited",
            ["reason"],
            registry=registry,
        )
        for am_reason in ALERTMANAGER_DROP_REASONS:
            self.alertmanager_dropped.labels(am_reason)
        for channel in channels:
            self.alert_delivery_seconds.labels(channel)
            for queue_reason in QUEUE_DROP_REASONS:
                self.alert_queue_dropped.labels(channel, queue_reason)
            for model in models:
                for status in ALERT_STATUSES:
                    self.alerts.labels(model, channel, status)
        for model in models:  # export zeros from the start, so rate() and absent() behave
            self.samples.labels(model)
            self.evaluation_errors.labels(model)
            self.reference_load_failures.labels(model)
            self.reference_switches.labels(model)
            for reason in RejectReason:
                self.samples_rejected.labels(model, reason.value)
        for req_reason in REQUEST_REJECT_REASONS:
            self.requests_rejected.labels(req_reason)


#: outcomes of restoring a model's snapshot at start-up (drift_state_restore_total)
RESTORE_OUTCOMES = ("restored", "config_changed", "corrupt", "unsupported_version", "missing")
#: the ``model`` label of the state metrics for the CloudEvents halves waiting for their other
#: half: one part for all models (``cloudevents.zip``), restored and counted once per start
CLOUDEVENTS_PART = "(cloudevents)"
SNAPSHOT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StateMetrics:
    """Snapshots of the models' state (``state`` configured): restores at start-up, the
    time and size of each snapshot, failed writes."""

    def __init__(self, registry: CollectorRegistry, models: Sequence[str]) -> None:
        self.restores = Counter(
            "drift_state_restore",
            "Restores of a model's snapshot at start-up, by outcome: restored, config_changed "
            "(columns, window or reference data changed: discarded), corrupt (unreadable or "
            "truncated: discarded), unsupported_version (written by another format version: "
            "discarded), missing (no snapshot)",
            ["model", "outcome"],
            registry=registry,
        )
        self.snapshot_seconds = Histogram(
            "drift_state_snapshot_seconds",
            "Time to take one model's snapshot: copy, serialize, write and fsync",
            ["model"],
            buckets=SNAPSHOT_BUCKETS,
            registry=registry,
        )
        self.snapshot_bytes = Gauge(
            "drift_state_snapshot_bytes",
            "Size of the model's latest snapshot file in bytes",
            ["model"],
            registry=registry,
        )
        self.snapshot_failures = Counter(
            "drift_state_snapshot_failures",
            "Snapshots that could not be written (disk full, read-only volume, ...)",
            ["model"],
            registry=registry,
        )
        for model in [*models, CLOUDEVENTS_PART]:  # zeros from the start, like the others
            for outcome in RESTORE_OUTCOMES:
                self.restores.labels(model, outcome)
            self.snapshot_seconds.labels(model)
            self.snapshot_failures.labels(model)


@dataclass(frozen=True)
class ModelView:
    """What the collector needs to know about one model at scrape time."""

    model: str
    reference_loaded: bool
    reference_rows: int
    window_samples: int
    window_size: int
    report: DriftReport | None
    reference_source: str | None = None  # file | s3 | clearml
    reference_version: str | None = None
    reference_loaded_at: float | None = None  # unix time it was built from the source
    reference_cached: bool = False  # served from the cache: the source is unreachable
    version: str = ""  # the model version from the config


class DriftCollector(Collector):
    """Yields gauges from the latest result of every model, computed at scrape time."""

    def __init__(self, views: Callable[[], Iterable[ModelView]]) -> None:
        self._views = views

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # dynamic collector: no up-front description

    def collect(self) -> Iterator[GaugeMetricFamily]:
        col_score = GaugeMetricFamily(
            "drift_column_score",
            "Drift score of a feature column (p-value or distance, see method)",
            labels=["model", "column", "method"],
        )
        col_detected = GaugeMetricFamily(
            "drift_column_detected",
            "1 if the column drifted in the latest evaluation",
            labels=["model", "column"],
        )
        col_threshold = GaugeMetricFamily(
            "drift_column_threshold",
            "Threshold of a feature column's score in the latest evaluation (calibrated to the "
            "window with drift.calibration, else the method's configured or default one)",
            labels=["model", "column"],
        )
        col_missing = GaugeMetricFamily(
            "drift_column_missing_share",
            "Share of missing (null, NaN, inf) values of the column in the window",
            labels=["model", "column"],
        )
        ds_share = GaugeMetricFamily(
            "drift_dataset_share", "Share of drifted feature columns", labels=["model"]
        )
        ds_detected = GaugeMetricFamily(
            "drift_dataset_detected",
            "1 if the drifted share reached the threshold",
            labels=["model"],
        )
        ds_threshold = GaugeMetricFamily(
            "drift_dataset_share_threshold",
            "Configured dataset drift share threshold",
            labels=["model"],
        )
        pred_score = GaugeMetricFamily(
            "drift_prediction_score",
            "Drift score of the prediction column",
            labels=["model", "method"],
        )
        pred_detected = GaugeMetricFamily(
            "drift_prediction_detected", "1 if the prediction drifted", labels=["model"]
        )
        window_samples = GaugeMetricFamily(
            "drift_window_samples", "Samples currently in the window", labels=["model"]
        )
        window_size = GaugeMetricFamily(
            "drift_window_size", "Configured window size in samples", labels=["model"]
        )
        ref_rows = GaugeMetricFamily(
            "drift_reference_rows", "Rows of the loaded reference", labels=["model"]
        )
        ref_loaded = GaugeMetricFamily(
            "drift_reference_loaded", "1 once the model's reference is loaded", labels=["model"]
        )
        ref_info = GaugeMetricFamily(
            "drift_reference_info",
            "1 for the installed reference's source and version",
            labels=["model", "source", "version"],
        )
        ref_age = GaugeMetricFamily(
            "drift_reference_age_seconds",
            "Seconds since the installed reference was loaded from its source",
            labels=["model"],
        )
        ref_cached = GaugeMetricFamily(
            "drift_reference_cached",
            "1 while the last cached reference stands in for an unreachable source",
            labels=["model"],
        )
        now = time.time()
        last_eval = GaugeMetricFamily(
            "drift_last_evaluation_timestamp_seconds",
            "Unix time of the latest evaluation",
            labels=["model"],
        )
        insufficient = GaugeMetricFamily(
            "drift_window_insufficient_data",
            "1 when the latest evaluation of a time window had fewer than min_samples samples "
            "(no drift verdict; the drift gauges of the model are absent meanwhile)",
            labels=["model"],
        )
        model_info = GaugeMetricFamily(
            "drift_model_info",
            "1 per monitored model, with its configured version",
            labels=["model", "version"],
        )
        for view in self._views():
            m = view.model
            model_info.add_metric([m, view.version], 1.0)
            ref_loaded.add_metric([m], 1.0 if view.reference_loaded else 0.0)
            window_samples.add_metric([m], view.window_samples)
            window_size.add_metric([m], view.window_size)
            if view.reference_loaded:
                ref_rows.add_metric([m], view.reference_rows)
            if view.reference_source is not None and view.reference_loaded_at is not None:
                ref_info.add_metric([m, view.reference_source, view.reference_version or ""], 1.0)
                ref_age.add_metric([m], max(0.0, now - view.reference_loaded_at))
                ref_cached.add_metric([m], 1.0 if view.reference_cached else 0.0)
            report = view.report
            if report is None:
                continue
            last_eval.add_metric([m], report.evaluated_at)
            insufficient.add_metric([m], 1.0 if report.insufficient_data else 0.0)
            if report.insufficient_data:
                continue
            for col in report.columns:
                if col.status is ColumnStatus.OK and col.score is not None and _finite(col.score):
                    col_score.add_metric([m, col.column, col.method], col.score)
                col_detected.add_metric([m, col.column], 1.0 if col.drifted else 0.0)
                if _finite(col.threshold):
                    col_threshold.add_metric([m, col.column], col.threshold)
                col_missing.add_metric([m, col.column], col.current_missing_share)
            ds_share.add_metric([m], report.drift_share)
            ds_detected.add_metric([m], 1.0 if report.dataset_drift else 0.0)
            ds_threshold.add_metric([m], report.share_threshold)
            pred = report.prediction
            if pred is not None:
                if (
                    pred.status is ColumnStatus.OK
                    and pred.score is not None
                    and _finite(pred.score)
                ):
                    pred_score.add_metric([m, pred.method], pred.score)
                pred_detected.add_metric([m], 1.0 if pred.drifted else 0.0)
        yield from (
            col_score,
            col_detected,
            col_threshold,
            col_missing,
            ds_share,
            ds_detected,
            ds_threshold,
            pred_score,
            pred_detected,
            window_samples,
            window_size,
            ref_rows,
            ref_loaded,
            ref_info,
            ref_age,
            ref_cached,
            last_eval,
            insufficient,
            model_info,
        )
