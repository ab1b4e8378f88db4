"""The "Drift overview" dashboard: every model of the chosen sidecars on one page.

Stat panels are coloured exactly where the alerting rules of ``exporters.prometheus.rules`` fire
(``drift_*_detected == 1``, ``drift_reference_loaded == 0``, ``up == 0``, evaluation errors in
10 minutes, ``drift_model_performance_degraded == 1``, ``drift_window_insufficient_data == 1``);
the rejected-share graph draws the rules' ``REJECTED_SHARE`` line.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders.dashboard import DashboardLink

from exporters.grafana.alert_states import (
    drift_stat,
    insufficient_data_stat,
    performance_degraded_stat,
    prediction_drift_stat,
    reference_loaded_stat,
)
from exporters.grafana.common import (
    MODELS,
    OVERVIEW_TITLE,
    OVERVIEW_UID,
    TARGET,
    detail_url,
    drift_dashboard,
    evaluation_quantile,
    model_version,
    report_url,
)
from exporters.grafana.layout import Cell, Section, place
from exporters.grafana.panels import (
    BAD,
    NOTICE,
    OK,
    RATE,
    data_link,
    health_stat,
    info_stat,
    query,
    state_stat,
    thresholds,
    timeseries_panel,
)
from exporters.prometheus.rules import ALERT_RETRIES_PER_15M, REJECTED_SHARE

FIELD_MODEL = "${__field.labels.model}"


def model_links() -> list[DashboardLink]:
    """Data links of per-model series: the detail dashboard and the sidecar's HTML report."""
    return [
        data_link(f"Model drift detail of {FIELD_MODEL}", detail_url(FIELD_MODEL)),
        data_link(f"HTML drift report of {FIELD_MODEL}", report_url(FIELD_MODEL)),
    ]


def _state_row() -> list[Cell]:
    models_in_drift = drift_stat(
        "Models in drift",
        "Dataset drift decision of each model's latest evaluation: DRIFT when the share of "
        "drifted feature columns reached the model's share_threshold (drift_dataset_detected). "
        "Red is the condition of the DriftDatasetDetected alert.",
        [query(f"max by (model) (drift_dataset_detected{{{MODELS}}})", "{{model}}")],
        links=model_links(),
    )
    prediction = prediction_drift_stat(
        "Prediction drift",
        "Whether the prediction column of each model drifted in its latest evaluation "
        "(drift_prediction_detected). Red is the condition of DriftPredictionDetected.",
        [query(f"max by (model) (drift_prediction_detected{{{MODELS}}})", "{{model}}")],
        links=model_links(),
    )
    errors = state_stat(
        "Evaluation errors (10m)",
        "Whether drift evaluations of the model raised in the last 10 minutes "
        "(increase of drift_evaluation_errors_total > 0, as in DriftEvaluationErrors).",
        [
            query(
                "max by (model) "
                f"(increase(drift_evaluation_errors_total{{{MODELS}}}[10m]) > bool 0)",
                "{{model}}",
            )
        ],
        "none",
        "FAILING",
    )
    references = reference_loaded_stat(
        "References loaded",
        "Whether each model's reference data is loaded (drift_reference_loaded). Red: not "
        "loaded, /readyz answers 503 and samples are refused (DriftReferenceNotLoaded).",
        [query(f"min by (model) (drift_reference_loaded{{{MODELS}}})", "{{model}}")],
    )
    targets_up = health_stat(
        "Sidecars up",
        "Whether Prometheus scrapes each sidecar (up). Red: the scrape fails "
        "(DriftSidecarDown); no data at all: no sidecar target (DriftSidecarAbsent).",
        [query(f"up{{{TARGET}}}", "{{instance}}")],
        "up",
        "DOWN",
        no_value="no sidecar target",
    )
    return [
        Cell(models_in_drift, 6, 5),
        Cell(prediction, 6, 5),
        Cell(errors, 4, 5),
        Cell(references, 4, 5),
        Cell(targets_up, 4, 5),
    ]


def _drift_row() -> list[Cell]:
    share = timeseries_panel(
        "Dataset drift share",
        "Share of each model's feature columns that drifted in the latest evaluation "
        "(drift_dataset_share, solid) and the model's share_threshold (dashed): a model is in "
        "dataset drift while its line is at or above its threshold.",
        "percentunit",
        [
            query(f"max by (model) (drift_dataset_share{{{MODELS}}})", "{{model}}"),
            query(
                f"max by (model) (drift_dataset_share_threshold{{{MODELS}}})",
                "{{model}} threshold",
                "B",
            ),
        ],
        max_value=1,
        links=model_links(),
        dashed=["B"],
    )
    columns = timeseries_panel(
        "Drifted columns",
        "Number of feature columns of each model that drifted in the latest evaluation "
        "(sum of drift_column_detected).",
        "none",
        [query(f"sum by (model) (drift_column_detected{{{MODELS}}})", "{{model}}")],
        links=model_links(),
        decimals=0,
    )
    return [Cell(share, 12, 8), Cell(columns, 12, 8)]


def _traffic_row() -> list[Cell]:
    rejected = f"sum by (model) (rate(drift_samples_rejected_total{{{MODELS}}}[{RATE}]))"
    accepted = f"sum by (model) (rate(drift_samples_total{{{MODELS}}}[{RATE}]))"
    samples = timeseries_panel(
        "Accepted samples",
        "Samples per second each model's sidecar accepted into its window "
        "(rate of drift_samples_total). Zero for long: DriftNoSamples.",
        "cps",
        [query(accepted, "{{model}}")],
    )
    share = timeseries_panel(
        "Rejected sample share",
        "Share of the samples posted for each model that were rejected (bad fields), over "
        f"accepted plus rejected. The dashed line is DriftSamplesRejected's {REJECTED_SHARE:.0%}.",
        "percentunit",
        [query(f"{rejected}\n/\n({rejected} + {accepted})", "{{model}}")],
        max_value=1,
        limits=thresholds((None, OK), (REJECTED_SHARE, BAD)),
    )
    requests = timeseries_panel(
        "Rejected requests",
        "Whole ingestion requests rejected per second, by reason "
        "(drift_requests_rejected_total: unknown model, bad JSON, too large, not ready).",
        "reqps",
        [
            query(
                f"sum by (reason) (rate(drift_requests_rejected_total{{{TARGET}}}[{RATE}]))",
                "{{reason}}",
            )
        ],
    )
    return [Cell(samples, 8, 8), Cell(share, 8, 8), Cell(requests, 8, 8)]


def _evaluation_row() -> list[Cell]:
    latency = timeseries_panel(
        "Evaluation latency (p95)",
        "95th percentile of the time one drift evaluation of the window takes "
        "(drift_evaluation_seconds histogram).",
        "s",
        [query(evaluation_quantile(0.95, MODELS, by="model"), "{{model}}")],
    )
    staleness = timeseries_panel(
        "Time since last evaluation",
        "Seconds since each model's latest drift evaluation "
        "(drift_last_evaluation_timestamp_seconds). It grows when no samples arrive.",
        "s",
        [
            query(
                f"time() - max by (model) (drift_last_evaluation_timestamp_seconds{{{MODELS}}})",
                "{{model}}",
            )
        ],
    )
    return [Cell(latency, 12, 8), Cell(staleness, 12, 8)]


def _alerts_row() -> list[Cell]:
    alerts = timeseries_panel(
        "Drift alerts in Prometheus",
        "Alerts of the drift-sidecar rules that are pending or firing in Prometheus (ALERTS), "
        "by alert, model and state; needs the rules of alert_rules/ loaded.",
        "none",
        [
            query(
                f'sum by (alertname, model, alertstate) (ALERTS{{alertname=~"Drift.*", {MODELS}}})',
                "{{alertname}} {{model}} ({{alertstate}})",
            )
        ],
        decimals=0,
    )
    delivery = timeseries_panel(
        "Alert delivery by channel",
        "Drift alerts the sidecar delivered, retried or dropped per channel in 15 minutes "
        "(drift_alerts_total). Dropped > 0: DriftAlertDeliveryFailing; the dashed line is "
        f"DriftAlertDeliveryRetrying's {ALERT_RETRIES_PER_15M} retries.",
        "none",
        [
            query(
                f"sum by (model, channel, status) (increase(drift_alerts_total{{{MODELS}}}[15m]))",
                "{{model}} {{channel}} {{status}}",
            )
        ],
        limits=thresholds((None, OK), (ALERT_RETRIES_PER_15M, NOTICE)),
    )
    return [Cell(alerts, 12, 8), Cell(delivery, 12, 8)]


def _performance_row() -> list[Cell]:
    degraded = performance_degraded_stat(
        "Degraded performance",
        "Whether each model's performance on its delayed labels meets the model's "
        "performance.alert condition (drift_model_performance_degraded). Red is the condition "
        "of DriftModelPerformanceDegraded; models without performance.alert are not listed.",
        [query(f"max by (model) (drift_model_performance_degraded{{{MODELS}}})", "{{model}}")],
        links=model_links(),
    )
    versions = info_stat(
        "Model versions",
        "The version of each model as configured in its sidecar (drift_model_info); a change "
        "is a new model deployed. Compare it with the reference version on the detail "
        "dashboard: a new model needs its own reference.",
        [
            query(
                model_version(f"max by (model, version) (drift_model_info{{{MODELS}}})"),
                "{{model}} {{version}}",
            )
        ],
        links=model_links(),
    )
    insufficient = insufficient_data_stat(
        "Time windows without verdict",
        "Models whose time window held fewer than min_samples samples in the latest "
        "evaluation (drift_window_insufficient_data): no drift verdict, so they are missing "
        "from Models in drift. Yellow is the condition of the info alert "
        "DriftWindowInsufficientData.",
        [query(f"max by (model) (drift_window_insufficient_data{{{MODELS}}})", "{{model}}")],
        links=model_links(),
    )
    return [Cell(degraded, 8, 5), Cell(versions, 8, 5), Cell(insufficient, 8, 5)]


def overview_dashboard() -> dashboard_builders.Dashboard:
    """The "Drift overview" dashboard (uid ``drift-overview``)."""
    board = drift_dashboard(
        OVERVIEW_TITLE,
        OVERVIEW_UID,
        "Data and prediction drift of every model monitored by drift-sidecar",
        multi_model=True,
    )
    rows = [_state_row(), _drift_row(), _traffic_row(), _evaluation_row(), _alerts_row()]
    return place(board, [*rows, Section("Model performance"), _performance_row()])
