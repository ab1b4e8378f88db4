"""What both dashboards share: uids, label selectors, template variables and links.

The dashboards find the sidecars by the ``namespace`` and ``job`` labels (``namespace`` exists
when Prometheus scrapes Kubernetes pods; "All" also matches series without it) and the models by
the ``model`` label every drift metric carries (README "Metrics").
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models import dashboard as model

from exporters.grafana.panels import DATASOURCE, RATE

TAG = "drift-sidecar"
OVERVIEW_UID = "drift-overview"
OVERVIEW_TITLE = "Drift overview"
DETAIL_UID = "drift-model-detail"
DETAIL_TITLE = "Model drift detail"

DEFAULT_SIDECAR_URL = "http://127.0.0.1:8000"
"""Default of the ``sidecar_url`` variable: where a browser reaches the sidecar's HTTP API
(``kubectl port-forward pod/<model pod> 8000``); the HTML report links start with it."""

TARGET = 'namespace=~"$namespace", job=~"$job"'
"""Selects the sidecars (scrape targets) chosen in the variables."""
MODELS = TARGET + ', model=~"$model"'
"""Selects the models chosen in the overview's multi-value ``model`` variable."""
MODEL = TARGET + ', model="$model"'
"""Selects the one model of the detail dashboard."""

PENDING_METRICS: dict[str, str] = {
    "drift_alerts_total": (
        "alert delivery counters {model, channel, status} have series only for the alert "
        "channels a sidecar is configured with (and come with the sidecar's alert delivery); "
        "the integration test's sidecar configures none"
    ),
}
"""Metrics that panels use but that have no series in the integration test, and why. Panels on
them show "no data" until then; the integration test allows exactly these panels to be empty,
and only while the sidecar's /metrics has no sample of the metric."""


def datasource_variable() -> dashboard_builders.DatasourceVariable:
    return (
        dashboard_builders.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .description("The Prometheus that scrapes the drift sidecars")
    )


def label_variable(
    name: str, label: str, query: str, description: str, *, multi: bool
) -> dashboard_builders.QueryVariable:
    """A variable over label values. Multi-value ones offer "All" as the regex ``.*``, which
    also matches series without the label."""
    variable = (
        dashboard_builders.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
    )
    if multi:
        variable = variable.all_value(".*").current(
            model.VariableOption(selected=True, text="All", value="$__all")
        )
    return variable


def target_variables() -> list[dashboard_builders.QueryVariable]:
    """``namespace`` and ``job``: which sidecars (multi-value, default All)."""
    return [
        label_variable(
            "namespace",
            "Namespace",
            "label_values(drift_window_size, namespace)",
            "Kubernetes namespace of the sidecars (empty outside Kubernetes: keep All)",
            multi=True,
        ),
        label_variable(
            "job",
            "Job",
            'label_values(drift_window_size{namespace=~"$namespace"}, job)',
            "Prometheus scrape job of the sidecars",
            multi=True,
        ),
    ]


def model_variable(*, multi: bool) -> dashboard_builders.QueryVariable:
    return label_variable(
        "model",
        "Model",
        f"label_values(drift_window_size{{{TARGET}}}, model)",
        "Model name, as configured in the sidecar (the model label)",
        multi=multi,
    )


def sidecar_url_variable() -> dashboard_builders.TextBoxVariable:
    return (
        dashboard_builders.TextBoxVariable("sidecar_url")
        .label("Sidecar URL")
        .description(
            "Base URL under which your browser reaches the sidecar's HTTP API, for the HTML "
            "drift report links (e.g. after kubectl port-forward)"
        )
        .default_value(DEFAULT_SIDECAR_URL)
    )


def dashboards_link() -> dashboard_builders.DashboardLink:
    """A link to every drift-sidecar dashboard, keeping the time range and the variables."""
    return (
        dashboard_builders.DashboardLink("Drift dashboards")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags([TAG])
        .as_dropdown(False)
        .include_vars(True)
        .keep_time(True)
        .target_blank(False)
    )


def report_link() -> dashboard_builders.DashboardLink:
    """A link to the sidecar's HTML report of the ``model`` variable's model."""
    return (
        dashboard_builders.DashboardLink("HTML drift report of ${model}")
        .type(model.DashboardLinkType.LINK)
        .url(report_url("${model}"))
        .icon("doc")
        .tooltip("evidently report of the current window, served by the sidecar")
        .target_blank(True)
    )


def drift_dashboard(
    title: str,
    uid: str,
    description: str,
    *,
    multi_model: bool,
    links: Sequence[dashboard_builders.DashboardLink] = (),
) -> dashboard_builders.Dashboard:
    """An empty drift-sidecar dashboard: tagged, last 6 hours refreshed every minute, linked to
    the other drift dashboards (then ``links``), with the variables ``datasource``,
    ``namespace``, ``job``, ``model`` (one or several: ``multi_model``) and ``sidecar_url``."""
    board = (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .link(dashboards_link())
    )
    for link in links:
        board = board.link(link)
    board = board.with_variable(datasource_variable())
    for variable in target_variables():
        board = board.with_variable(variable)
    return board.with_variable(model_variable(multi=multi_model)).with_variable(
        sidecar_url_variable()
    )


def model_version(expr: str) -> str:
    """``expr`` (series of ``drift_model_info``) with an unset version (``""``) shown as
    ``no version`` rather than as an empty legend."""
    return f'label_replace({expr}, "version", "no version", "version", "")'


def evaluation_quantile(quantile: float, selector: str, by: str = "") -> str:
    """The ``quantile`` of the time one drift evaluation takes (``drift_evaluation_seconds``
    histogram) of the series ``selector`` picks, one per value of the ``by`` labels."""
    labels = f"{by}, le" if by else "le"
    return (
        f"histogram_quantile({quantile}, sum by ({labels}) "
        f"(rate(drift_evaluation_seconds_bucket{{{selector}}}[{RATE}])))"
    )


def report_url(model_ref: str) -> str:
    """The sidecar's HTML report (``GET /v1/models/{model}/report``) of ``model_ref``, a
    variable or field reference such as ``${model}``."""
    return "${sidecar_url}/v1/models/" + model_ref + "/report"


def detail_url(model_ref: str) -> str:
    """The detail dashboard for ``model_ref``, keeping data source, targets and time range."""
    return (
        f"/d/{DETAIL_UID}/model-drift-detail?var-model={model_ref}"
        "&${datasource:queryparam}&${namespace:queryparam}&${job:queryparam}"
        "&${sidecar_url:queryparam}&${__url_time_range}"
    )
