"""The "Model drift detail" dashboard: one model (the ``model`` variable), column by column,
then the sections of ``exporters.grafana.performance``: the model's performance on delayed
labels next to its estimate (one graph per metric, repeated over the ``perf_metric`` variable),
the label join and the CloudEvents collectors of its sidecar, and the estimation with the
multivariate drift score."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import dashboard as model

from exporters.grafana.alert_states import drift_stat, prediction_drift_stat, reference_loaded_stat
from exporters.grafana.common import (
    DETAIL_TITLE,
    DETAIL_UID,
    MODEL,
    drift_dashboard,
    evaluation_quantile,
    report_link,
)
from exporters.grafana.layout import Cell, place
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
from exporters.grafana.performance import performance_metric_variable, performance_sections
from exporters.prometheus.rules import REFERENCE_MAX_AGE_DAYS

TOP_DRIFTED = "Drifted (share of time range)"
TOP_NOW = "Drifted now"
TOP_SCORE = "Score"
TOP_THRESHOLD = "Threshold"
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
        "Drift score of each feature column over time (drift_column_score) and the threshold "
        "it is judged against (drift_column_threshold, dashed; calibrated with "
        "drift.calibration, else the method's). The method in the legend tells its direction: "
        "p-values (ks, chisquare, z, ...) drift below their threshold, distances "
        "(wasserstein, jensenshannon, psi, ...) above it.",
        "none",
        [
            query(
                f"max by (column, method) (drift_column_score{{{MODEL}}})",
                "{{column}} ({{method}})",
            ),
            query(
                f"max by (column) (drift_column_threshold{{{MODEL}}})",
                "{{column}} threshold",
                "B",
            ),
        ],
        min_value=None,
        dashed=["B"],
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
        "and method, the threshold the score is judged against (drift_column_threshold) and "
        "the missing-value share.",
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
            query(f"max by (column) (drift_column_threshold{{{MODEL}}})", ref="E", instant=True),
        ],
        [
            model.DataTransformerConfig(id_val="merge", options={}),
            model.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "indexByName": {
                        "column": 0,
                        "Value #A": 1,
                        "Value #B": 2,
                        "method": 3,
                        "Value #C": 4,
                        "Value #E": 5,
                        "Value #D": 6,
                    },
                    "renameByName": {
                        "column": "Column",
                        "method": "Method",
                        "Value #A": TOP_DRIFTED,
                        "Value #B": TOP_NOW,
                        "Value #C": TOP_SCORE,
                        "Value #E": TOP_THRESHOLD,
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
    return place(board, [*rows, *performance_sections()])
