"""Panels of performance estimation (CBPE / DLE) and multivariate drift, for the detail dashboard.

The estimate of a metric joins the realized one (from delayed labels) on the repeated
performance graph: ``estimate_queries`` are its series (estimate, band, thresholds) and
``estimate_overrides`` draw them: the estimate in one colour, the band between its lower and
upper end filled (``custom.fillBelowTo``), the thresholds dashed. ``estimation_rows`` are the
section of their own: the alert states, the fit's cost and the multivariate drift score.

Red on a state panel is an alert's condition: ``drift_multivariate_drift == 1`` is that of
DriftMultivariateDetected. ``drift_model_performance_estimated_alert`` is two-sided (NannyML's
thresholds) while DriftModelPerformanceEstimatedDegraded fires only on the worse side of them,
so the estimate's state is yellow.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.models import dashboard as model

from exporters.grafana.common import MODEL
from exporters.grafana.layout import Cell
from exporters.grafana.panels import (
    BAD,
    NEUTRAL,
    NOTICE,
    dashed_series,
    fixed_color,
    query,
    stat_panel,
    state_stat,
    timeseries_panel,
)

ESTIMATE_REF = "C"
LOWER_REF = "D"
UPPER_REF = "E"
THRESHOLD_REF = "F"
"""RefIds of the estimate's queries on the performance graph (A and B are the realized metric
and its value on the reference)."""
ESTIMATE_COLOR = "purple"
LOWER_LEGEND = "estimate lower"
"""Display name of the band's lower end, which the upper end fills down to."""
BAND_OPACITY = 20
NO_ESTIMATION = "no estimation"


def _config(id_val: str, value: object) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val=id_val, value=value)


def estimate_queries(selector: str) -> list[prometheus.Dataquery]:
    """The estimate of the metrics ``selector`` picks (it carries the ``metric`` matcher), the
    ends of its band (estimate ± 3 sampling errors) and its alert thresholds per bound."""
    return [
        query(
            f"max by (metric, method) (drift_model_performance_estimated{{{selector}}})",
            "estimated ({{method}})",
            ESTIMATE_REF,
        ),
        query(
            f"max by (metric) (drift_model_performance_estimated_lower{{{selector}}})",
            LOWER_LEGEND,
            LOWER_REF,
        ),
        query(
            f"max by (metric) (drift_model_performance_estimated_upper{{{selector}}})",
            "estimate upper",
            UPPER_REF,
        ),
        query(
            f"max by (metric, bound) (drift_model_performance_estimated_threshold{{{selector}}})",
            "estimate threshold ({{bound}})",
            THRESHOLD_REF,
        ),
    ]


def estimate_overrides() -> list[tuple[str, list[model.DynamicConfigValue]]]:
    """Field overrides by refId for ``estimate_queries``: the estimate a thick line, the band's
    ends invisible with the area between them filled in the estimate's colour, the thresholds
    dashed red."""
    edge = [fixed_color(ESTIMATE_COLOR), _config("custom.lineWidth", 0)]
    return [
        (
            ESTIMATE_REF,
            [
                fixed_color(ESTIMATE_COLOR),
                _config("custom.lineWidth", 2),
                _config("custom.fillOpacity", 0),
            ],
        ),
        (LOWER_REF, [*edge, _config("custom.fillOpacity", 0)]),
        (
            UPPER_REF,
            [
                *edge,
                _config("custom.fillOpacity", BAND_OPACITY),
                _config("custom.fillBelowTo", LOWER_LEGEND),
            ],
        ),
        (THRESHOLD_REF, [*dashed_series(), fixed_color(BAD)]),
    ]


def estimation_rows() -> list[list[Cell]]:
    """The estimate's and the multivariate score's states, the fit's cost, the score graph."""
    outside = state_stat(
        "Estimate outside thresholds",
        "Whether the latest window's estimate of each metric is outside its thresholds "
        "(drift_model_performance_estimated_alert; CBPE for classifiers, DLE for regressors, "
        "with estimation.cbpe or estimation.dle), on either side. Yellow: "
        "DriftModelPerformanceEstimatedDegraded fires only on the worse side (below for "
        "CBPE's metrics, above for DLE's errors).",
        [
            query(
                f"max by (metric) (drift_model_performance_estimated_alert{{{MODEL}}})",
                "{{metric}}",
            )
        ],
        "within",
        "OUTSIDE",
        bad_color=NOTICE,
        no_value=NO_ESTIMATION,
    )
    multivariate = state_stat(
        "Multivariate drift",
        "Whether the latest window's multivariate drift score is outside its thresholds, per "
        "method (drift_multivariate_drift; estimation.reconstruction, "
        "estimation.domain_classifier); red is the condition of DriftMultivariateDetected.",
        [query(f"max by (method) (drift_multivariate_drift{{{MODEL}}})", "{{method}}")],
        "no drift",
        "DRIFT",
        no_value=NO_ESTIMATION,
    )
    fit = stat_panel(
        "Estimation fit",
        "Seconds the estimators took to fit on the reference installed last "
        "(drift_estimation_fit_seconds); readiness waits for the fit at each reference load.",
        "s",
        [query(f"max(drift_estimation_fit_seconds{{{MODEL}}})", "fit")],
        NEUTRAL,
        no_value=NO_ESTIMATION,
    )
    score = timeseries_panel(
        "Multivariate drift score",
        "Multivariate drift score of each window per method (drift_multivariate_score: the "
        "PCA reconstruction error, pca_reconstruction; the domain classifier's ROC AUC, "
        "domain_classifier) and its thresholds (drift_multivariate_threshold, dashed) from "
        "reference chunks. It sees a change in how columns relate that no column's own drift "
        "score shows.",
        "none",
        [
            query(f"max by (method) (drift_multivariate_score{{{MODEL}}})", "{{method}}"),
            query(
                f"max by (method, bound) (drift_multivariate_threshold{{{MODEL}}})",
                "{{method}} threshold ({{bound}})",
                "B",
            ),
        ],
        min_value=None,
        dashed=["B"],
    )
    return [[Cell(outside, 10, 4), Cell(multivariate, 8, 4), Cell(fit, 6, 4)], [Cell(score, 24, 8)]]
