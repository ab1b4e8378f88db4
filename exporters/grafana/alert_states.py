"""Stat panels of the 0/1 gauges that alert rules of ``exporters.prometheus.rules`` fire on.

Each builder fixes how one alert's condition reads and is coloured (``DRIFT`` in red while
``drift_*_detected == 1``, ...), so that the overview (a series per model) and the detail
dashboard (one model) show the same condition alike; the caller gives the title, the
description and the query, which differ by dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat

from exporters.grafana.panels import NOTICE, health_stat, state_stat

Links = Sequence[dashboard_builders.DashboardLink]


def drift_stat(
    title: str, description: str, targets: Sequence[prometheus.Dataquery], *, links: Links = ()
) -> stat.Panel:
    """``drift_dataset_detected``: red ``DRIFT`` is the condition of DriftDatasetDetected."""
    return state_stat(title, description, targets, "no drift", "DRIFT", links=links)


def prediction_drift_stat(
    title: str, description: str, targets: Sequence[prometheus.Dataquery], *, links: Links = ()
) -> stat.Panel:
    """``drift_prediction_detected``: red ``DRIFT`` is the condition of DriftPredictionDetected;
    a model without a prediction column has no series."""
    return state_stat(
        title,
        description,
        targets,
        "no drift",
        "DRIFT",
        no_value="no prediction column",
        links=links,
    )


def reference_loaded_stat(
    title: str, description: str, targets: Sequence[prometheus.Dataquery]
) -> stat.Panel:
    """``drift_reference_loaded``: red ``NOT LOADED`` is the condition of
    DriftReferenceNotLoaded."""
    return health_stat(title, description, targets, "loaded", "NOT LOADED")


def performance_degraded_stat(
    title: str, description: str, targets: Sequence[prometheus.Dataquery], *, links: Links = ()
) -> stat.Panel:
    """``drift_model_performance_degraded``: red ``DEGRADED`` is the condition of
    DriftModelPerformanceDegraded; a model without ``performance.alert`` has no series."""
    return state_stat(
        title,
        description,
        targets,
        "ok",
        "DEGRADED",
        no_value="no performance.alert",
        links=links,
    )


def insufficient_data_stat(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    no_value: str = "no data",
    links: Links = (),
) -> stat.Panel:
    """``drift_window_insufficient_data``: yellow ``TOO FEW SAMPLES`` (no drift verdict) is the
    condition of the info alert DriftWindowInsufficientData."""
    return state_stat(
        title,
        description,
        targets,
        "verdict",
        "TOO FEW SAMPLES",
        bad_color=NOTICE,
        no_value=no_value,
        links=links,
    )
