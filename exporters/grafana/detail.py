"""The "Model drift detail" dashboard: one model (the ``model`` variable), column by column,
and in its "Model performance" row the model's performance on delayed labels (one graph per
metric, repeated over the ``perf_metric`` variable), the label join and the CloudEvents
collectors of its sidecar."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import dashboard as model

from exporters.grafana.alert_states import (
    drift_stat,
    insufficient_data_stat,
    performance_degraded_stat,
    prediction_drift_stat,
    reference_loaded_stat,
)
from exporters.grafana.common import (
    DETAIL_TITLE,
    DETAIL_UID,
    MODEL,
    TARGET,
    drift_dashboard,
    evaluation_quantile,
    label_variable,
    model_version,
    report_link,
)
from exporters.grafana.layout import Cell, Section, place
from exporters.grafana.panels import (
    BAD,
    NEUTRAL,
    NOTICE,
    OK,
    RATE,
    count_stat,
    info_stat,
    query,
    stat_panel,
    state_mapping,
    state_timeline_panel,
    table_panel,
    thresholds,
    timeseries_panel,
)
from exporters.prometheus.rules import REFERENCE_MAX_AGE_DAYS

PERF_METRIC = "perf_metric"
"""The variable the performance graph repeats over: the ``metric`` labels of the model."""
SIDECARS_OF_MODEL = f"on (job, instance) drift_model_info{{{MODEL}}}"
"""Right-hand side of ``and``: restricts a per-sidecar metric (no ``model`` label, such as the
CloudEvents counters) to the sidecars that monitor the model."""

TOP_DRIFTED = "Drifted (share of time range)"
TOP_NOW = "Drifted now"
TOP_SCORE = "Score"
TOP_MISSING = "Missing share"


def _summary_row() -> list[Cell]:
    dataset = drift_stat(
        "Dataset drift",
        "Dataset drift decision of the latest evaluation (drift_dataset_detected); red is "
        "the condition of DriftDatasetDetected.",
        [query(f"max(drift_dataset_detected{{{MODEL}}})", "$model")],
    )
    share = stat_panel(
        "Drifted share",
        "Share of feature columns that drifted in the latest evaluation (drift_dataset_share); "
        "dataset drift at or above the model's share_threshold.",
        "percentunit",
        [query(f"max(drift_dataset_share{{{MODEL}}})", "share")],
        NEUTRAL,
    )
    prediction = prediction_drift_stat(
        "Prediction drift",
        "Prediction drift decision of the latest evaluation (drift_prediction_detected); red "
        "is the condition of DriftPredictionDetected.",
        [query(f"max(drift_prediction_detected{{{MODEL}}})", "prediction")],
    )
    columns = stat_panel(
        "Drifted columns",
        "Feature columns that drifted in the latest evaluation (sum of drift_column_detected); "
        "yellow from one column on, like the info alert DriftColumnDetected.",
        "none",
        [query(f"sum(drift_column_detected{{{MODEL}}})", "columns")],
        thresholds((None, OK), (1, NOTICE)),
        decimals=0,
    )
    window = count_stat(
        "Window size",
        "Configured size of the sliding window in samples (drift_window_size).",
        [query(f"max(drift_window_size{{{MODEL}}})", "size")],
    )
    last = stat_panel(
        "Last evaluation",
        "Time since the latest drift evaluation (drift_last_evaluation_timestamp_seconds).",
        "s",
        [query(f"time() - max(drift_last_evaluation_timestamp_seconds{{{MODEL}}})", "age")],
        NEUTRAL,
    )
    return [Cell(p, 4, 4) for p in (dataset, share, prediction, columns, window, last)]


def _reference_row() -> list[Cell]:
    loaded = reference_loaded_stat(
        "Reference loaded",
        "Whether the reference is loaded (drift_reference_loaded); red is the condition of "
        "DriftReferenceNotLoaded.",
        [query(f"min(drift_reference_loaded{{{MODEL}}})", "reference")],
    )
    rows = count_stat(
        "Reference rows",
        "Rows of the loaded reference data (drift_reference_rows).",
        [query(f"max(drift_reference_rows{{{MODEL}}})", "rows")],
    )
    age = stat_panel(
        "Reference age",
        "Age of the loaded reference (drift_reference_age_seconds); red beyond "
        f"{REFERENCE_MAX_AGE_DAYS} days, the condition of DriftReferenceStale.",
        "s",
        [query(f"max(drift_reference_age_seconds{{{MODEL}}})", "age")],
        thresholds((None, OK), (REFERENCE_MAX_AGE_DAYS * 86400, BAD)),
        no_value="not exported",
    )
    version = info_stat(
        "Reference version",
        "Which reference the drift is measured against: its source kind and version "
        "(drift_reference_info; the ClearML dataset version, an S3 ETag hash or a file's "
        "mtime and size). A change here is a reference refresh.",
        [
            query(
                f"max by (source, version) (drift_reference_info{{{MODEL}}})",
                "{{source}} {{version}}",
            )
        ],
        no_value="not loaded",
    )
    fill = stat_panel(
        "Window fill",
        "Samples in the window over the window size: below 100 % the window is still "
        "filling and the latest evaluation covers fewer samples.",
        "percentunit",
        [
            query(
                f"max(drift_window_samples{{{MODEL}}}) / max(drift_window_size{{{MODEL}}})",
                "fill",
            )
        ],
        NEUTRAL,
    )
    return [Cell(loaded, 4, 4), Cell(version, 8, 4), *(Cell(p, 4, 4) for p in (rows, age, fill))]


def _columns_row() -> list[Cell]:
    scores = timeseries_panel(
        "Column drift scores",
        "Drift score of each feature column over time (drift_column_score). The method in "
        "the legend tells its direction: p-values (ks, chisquare, z, ...) drift when low, "
        "distances (wasserstein, jensenshannon, psi, ...) when high.",
        "none",
        [
            query(
                f"max by (column, method) (drift_column_score{{{MODEL}}})",
                "{{column}} ({{method}})",
            )
        ],
        min_value=None,
    )
    states = state_timeline_panel(
        "Column drift state",
        "Drift decision of each feature column over time (drift_column_detected): red while "
        "the column drifted.",
        [query(f"max by (column) (drift_column_detected{{{MODEL}}})", "{{column}}")],
        state_mapping("ok", "drift"),
        thresholds((None, OK), (1, BAD)),
    )
    return [Cell(scores, 12, 9), Cell(states, 12, 9)]


def _top_row() -> list[Cell]:
    top = table_panel(
        "Top drifted columns",
        "Feature columns by the share of the time range they were drifted "
        "(avg_over_time of drift_column_detected), with the current decision, latest score "
        "and method, and missing-value share.",
        "none",
        [
            query(
                f"max by (column) (avg_over_time(drift_column_detected{{{MODEL}}}[$__range]))",
                ref="A",
                instant=True,
            ),
            query(f"max by (column) (drift_column_detected{{{MODEL}}})", ref="B", instant=True),
            query(
                f"max by (column, method) (drift_column_score{{{MODEL}}})", ref="C", instant=True
            ),
            query(
                f"max by (column) (drift_column_missing_share{{{MODEL}}})", ref="D", instant=True
            ),
        ],
        [
            model.DataTransformerConfig(id_val="merge", options={}),
            model.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "renameByName": {
                        "column": "Column",
                        "method": "Method",
                        "Value #A": TOP_DRIFTED,
                        "Value #B": TOP_NOW,
                        "Value #C": TOP_SCORE,
                        "Value #D": TOP_MISSING,
                    },
                },
            ),
            model.DataTransformerConfig(
                id_val="sortBy", options={"sort": [{"field": TOP_DRIFTED, "desc": True}]}
            ),
        ],
        overrides=[
            (TOP_DRIFTED, [model.DynamicConfigValue(id_val="unit", value="percentunit")]),
            (TOP_MISSING, [model.DynamicConfigValue(id_val="unit", value="percentunit")]),
            (
                TOP_NOW,
                [
                    model.DynamicConfigValue(
                        id_val="mappings",
                        value=[m.to_json() for m in state_mapping("ok", "DRIFT")],
                    ),
                    model.DynamicConfigValue(
                        id_val="custom.cellOptions", value={"type": "color-background"}
                    ),
                    model.DynamicConfigValue(
                        id_val="thresholds",
                        value=thresholds((None, OK), (1, BAD)).build().to_json(),
                    ),
                ],
            ),
        ],
    )
    prediction = timeseries_panel(
        "Prediction drift score",
        "Drift score of the prediction column over time (drift_prediction_score); the method "
        "in the legend tells whether low (p-value) or high (distance) means drift.",
        "none",
        [query(f"max by (method) (drift_prediction_score{{{MODEL}}})", "prediction ({{method}})")],
        min_value=None,
    )
    return [Cell(top, 12, 9), Cell(prediction, 12, 9)]


def _window_row() -> list[Cell]:
    missing = timeseries_panel(
        "Missing-value share",
        "Share of missing values (null, NaN, inf) of each feature column in the window "
        "(drift_column_missing_share).",
        "percentunit",
        [query(f"max by (column) (drift_column_missing_share{{{MODEL}}})", "{{column}}")],
        max_value=1,
    )
    window = timeseries_panel(
        "Window samples",
        "Samples in the sliding window (drift_window_samples) and its configured size "
        "(drift_window_size).",
        "none",
        [
            query(f"max(drift_window_samples{{{MODEL}}})", "samples"),
            query(f"max(drift_window_size{{{MODEL}}})", "size", "B"),
        ],
        decimals=0,
    )
    return [Cell(missing, 12, 8), Cell(window, 12, 8)]


def _traffic_row() -> list[Cell]:
    traffic = timeseries_panel(
        "Samples accepted and rejected",
        "Samples per second accepted into the window (drift_samples_total) and rejected, by "
        "reason (drift_samples_rejected_total).",
        "cps",
        [
            query(f"sum(rate(drift_samples_total{{{MODEL}}}[{RATE}]))", "accepted"),
            query(
                f"sum by (reason) (rate(drift_samples_rejected_total{{{MODEL}}}[{RATE}]))",
                "rejected: {{reason}}",
                "B",
            ),
        ],
    )
    latency = timeseries_panel(
        "Evaluation latency",
        "Median and 95th percentile of the time one drift evaluation takes "
        "(drift_evaluation_seconds histogram).",
        "s",
        [
            query(evaluation_quantile(0.5, MODEL), "p50"),
            query(evaluation_quantile(0.95, MODEL), "p95", "B"),
        ],
    )
    return [Cell(traffic, 12, 8), Cell(latency, 12, 8)]


def performance_metric_variable() -> dashboard_builders.QueryVariable:
    return label_variable(
        PERF_METRIC,
        "Performance metric",
        f"label_values(drift_model_performance{{{MODEL}}}, metric)",
        "Performance metrics of the model (the metric label); one graph each",
        multi=True,
    )


def _performance_state_row() -> list[Cell]:
    degraded = performance_degraded_stat(
        "Performance degraded",
        "Whether the model's performance on its labelled window meets its performance.alert "
        "condition (drift_model_performance_degraded); red is the condition of "
        "DriftModelPerformanceDegraded.",
        [query(f"max(drift_model_performance_degraded{{{MODEL}}})", "performance")],
    )
    samples = count_stat(
        "Labelled samples",
        "Predictions joined to their label that the latest performance was computed on "
        "(drift_model_performance_samples, at most performance.window); absent below "
        "performance.min_samples.",
        [query(f"max(drift_model_performance_samples{{{MODEL}}})", "labelled")],
        no_value="too few labels",
    )
    version = info_stat(
        "Model version",
        "The model version configured for this model (drift_model_info); compare it with the "
        "reference version: a new model needs its own reference.",
        [query(model_version(f"max by (version) (drift_model_info{{{MODEL}}})"), "{{version}}")],
    )
    insufficient = insufficient_data_stat(
        "Insufficient data",
        "Whether the latest evaluation of the time window had fewer than min_samples samples "
        "(drift_window_insufficient_data): no drift verdict, the drift panels show no data. "
        "Yellow is the condition of the info alert DriftWindowInsufficientData.",
        [query(f"max(drift_window_insufficient_data{{{MODEL}}})", "window")],
        no_value="not evaluated yet",
    )
    pending = count_stat(
        "CloudEvents pending",
        "Request and response halves of KServe or Seldon CloudEvents waiting for their other "
        "half on the sidecars of this model (drift_cloudevents_pending; all models of those "
        "sidecars).",
        [query(f"sum(drift_cloudevents_pending{{{TARGET}}} and {SIDECARS_OF_MODEL})", "pending")],
        no_value="no collector",
    )
    return [
        Cell(degraded, 4, 4),
        Cell(samples, 4, 4),
        Cell(version, 6, 4),
        Cell(insufficient, 4, 4),
        Cell(pending, 6, 4),
    ]


def _performance_metric_row() -> list[Cell]:
    selector = f'{MODEL}, metric=~"${PERF_METRIC}"'
    performance = (
        timeseries_panel(
            f"Performance: ${PERF_METRIC}",
            "The model's performance on its last labelled predictions "
            "(drift_model_performance, solid) and the same metric on the reference "
            "(drift_model_performance_reference, dashed; needs columns.target). One graph per "
            "metric of the perf_metric variable. Error metrics (mae, rmse, mape, log_loss) are "
            "better when low, the others when high.",
            "none",
            [
                query(f"max by (metric) (drift_model_performance{{{selector}}})", "{{metric}}"),
                query(
                    f"max by (metric) (drift_model_performance_reference{{{selector}}})",
                    "{{metric}} on the reference",
                    "B",
                ),
            ],
            min_value=None,
            dashed=["B"],
        )
        .repeat(PERF_METRIC)
        .repeat_direction("h")
        .max_per_row(4)
    )
    return [Cell(performance, 6, 8)]


def _labels_row() -> list[Cell]:
    outcomes = timeseries_panel(
        "Label join outcomes",
        "Labels per second by what happened to them (drift_labels_total): matched to their "
        "prediction, held until it arrives, duplicate, invalid, or expired / evicted unmatched "
        "(labels, and predictions that never got one). Expired labels and no match: "
        "DriftLabelsNotJoining.",
        "cps",
        [query(f"sum by (outcome) (rate(drift_labels_total{{{MODEL}}}[{RATE}]))", "{{outcome}}")],
    )
    waiting = timeseries_panel(
        "Waiting for a match",
        "Predictions waiting for their label and labels waiting for their prediction "
        "(drift_labels_pending), each for at most performance.label_ttl_seconds.",
        "none",
        [query(f"max by (kind) (drift_labels_pending{{{MODEL}}})", "{{kind}}s")],
        decimals=0,
    )
    events = timeseries_panel(
        "CloudEvents by outcome",
        "KServe / Seldon CloudEvents per second received by the sidecars of this model, by "
        "source and outcome (drift_cloudevents_total; all models of those sidecars), and "
        "halves that expired unpaired (drift_cloudevents_expired_total): "
        "DriftCloudEventsUnpaired.",
        "cps",
        [
            query(
                "sum by (source, outcome) "
                f"(rate(drift_cloudevents_total{{{TARGET}}}[{RATE}]) and {SIDECARS_OF_MODEL})",
                "{{source}} {{outcome}}",
            ),
            query(
                "sum by (source, half) "
                f"(rate(drift_cloudevents_expired_total{{{TARGET}}}[{RATE}]) "
                f"and {SIDECARS_OF_MODEL})",
                "{{source}} expired {{half}}",
                "B",
            ),
        ],
    )
    return [Cell(outcomes, 8, 8), Cell(waiting, 8, 8), Cell(events, 8, 8)]


def detail_dashboard() -> dashboard_builders.Dashboard:
    """The "Model drift detail" dashboard (uid ``drift-model-detail``)."""
    board = drift_dashboard(
        DETAIL_TITLE,
        DETAIL_UID,
        "Drift of one model's columns and prediction, its window and reference",
        multi_model=False,
        links=[report_link()],
    ).with_variable(performance_metric_variable())
    rows = [_summary_row(), _reference_row(), _columns_row(), _top_row(), _window_row()]
    rows.append(_traffic_row())
    performance = [_performance_state_row(), _performance_metric_row(), _labels_row()]
    return place(board, [*rows, Section("Model performance"), *performance])
