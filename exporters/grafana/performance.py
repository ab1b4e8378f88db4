"""The "Model performance" section of the detail dashboard: the model's performance on delayed
labels next to its estimate (one graph per metric, repeated over the ``perf_metric`` variable),
the label join and the CloudEvents collectors of its sidecar; then the section of the estimation
itself (``exporters.grafana.estimation``)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import dashboard as model

from exporters.grafana.alert_states import insufficient_data_stat, performance_degraded_stat
from exporters.grafana.common import MODEL, TARGET, label_variable, model_version
from exporters.grafana.estimation import estimate_overrides, estimate_queries, estimation_rows
from exporters.grafana.layout import Cell, Section
from exporters.grafana.panels import RATE, count_stat, info_stat, query, timeseries_panel

PERF_METRIC = "perf_metric"
"""The variable the performance graph repeats over: the ``metric`` labels of the model."""
PERFORMANCE_SERIES = "drift_model_performance|drift_model_performance_estimated"
"""The metrics whose ``metric`` labels ``perf_metric`` lists: realized and estimated, so that a
metric only estimated (no labels yet, or one that labels do not give, such as DLE's mse) gets
its graph too."""
SIDECARS_OF_MODEL = f"on (job, instance) drift_model_info{{{MODEL}}}"
"""Right-hand side of ``and``: restricts a per-sidecar metric (no ``model`` label, such as the
CloudEvents counters) to the sidecars that monitor the model."""
REALIZED_REF = "A"
REFERENCE_REF = "B"
PERFORMANCE_SECTION = "Model performance"
ESTIMATION_SECTION = "Performance estimation and multivariate drift"


def performance_metric_variable() -> dashboard_builders.QueryVariable:
    return label_variable(
        PERF_METRIC,
        "Performance metric",
        f'label_values({{__name__=~"{PERFORMANCE_SERIES}", {MODEL}}}, metric)',
        "Performance metrics of the model, realized from labels or estimated (the metric "
        "label); one graph each",
        multi=True,
    )


def _state_row() -> list[Cell]:
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


def _metric_row() -> list[Cell]:
    selector = f'{MODEL}, metric=~"${PERF_METRIC}"'
    performance = (
        timeseries_panel(
            f"Performance: ${PERF_METRIC}",
            "One graph per metric of the perf_metric variable: the model's performance on its "
            "last labelled predictions (realized: drift_model_performance, thick line), the same "
            "metric on the reference (drift_model_performance_reference, dashed; needs "
            "columns.target) and, with estimation.cbpe or estimation.dle, the estimate of each "
            "window before its labels arrive (drift_model_performance_estimated, purple) within "
            "its band of 3 sampling errors (filled) and its thresholds (red, dashed). Error "
            "metrics (mae, mse, rmse, mape, log_loss) are better when low, the others when high.",
            "none",
            [
                query(
                    f"max by (metric) (drift_model_performance{{{selector}}})",
                    "realized",
                    REALIZED_REF,
                ),
                query(
                    f"max by (metric) (drift_model_performance_reference{{{selector}}})",
                    "on the reference",
                    REFERENCE_REF,
                ),
                *estimate_queries(selector),
            ],
            min_value=None,
            dashed=[REFERENCE_REF],
            overrides=[
                (
                    REALIZED_REF,
                    [
                        model.DynamicConfigValue(id_val="custom.lineWidth", value=2),
                        model.DynamicConfigValue(id_val="custom.fillOpacity", value=0),
                    ],
                ),
                *estimate_overrides(),
            ],
        )
        .repeat(PERF_METRIC)
        .repeat_direction("h")
        .max_per_row(3)
    )
    return [Cell(performance, 8, 11)]


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


def performance_sections() -> list[list[Cell] | Section]:
    """The "Model performance" section, then the section of the estimation."""
    return [
        Section(PERFORMANCE_SECTION),
        _state_row(),
        _metric_row(),
        _labels_row(),
        Section(ESTIMATION_SECTION),
        *estimation_rows(),
    ]
