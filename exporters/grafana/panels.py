"""Building blocks of the Grafana dashboards: queries, panels, grid layout, variables.

Pure functions over ``grafana-foundation-sdk`` builders: nothing here talks to Grafana. Every
panel gets a title, a description, a unit and the ``$datasource`` variable as its datasource;
``layout`` places panels row by row on Grafana's 24-column grid (with optional Grafana rows as
section headers) and numbers them; ``place`` adds them to a dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

GRID_COLUMNS = 24
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
"""Every panel and query reads from the datasource chosen in the ``datasource`` variable."""

OK = "green"
BAD = "red"
NOTICE = "yellow"

RATE = "$__rate_interval"
"""The range of ``rate()`` in panels: Grafana's interval that is safe for the scrape interval."""

PanelBuilder = timeseries.Panel | stat.Panel | statetimeline.Panel | table.Panel


# queries -------------------------------------------------------------------------------------


def query(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False
) -> prometheus.Dataquery:
    """One PromQL target; ``instant`` ones are evaluated at the end of the time range only
    (tables), and are returned in table format."""
    target = (
        prometheus.Dataquery()
        .expr(expr)
        .ref_id(ref)
        .datasource(DATASOURCE)
        .legend_format(legend or "__auto")
    )
    return target.instant().format(PromQueryFormat.TABLE) if instant else target.range()


def thresholds(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    """Absolute thresholds; the first step's value is ``None`` (from minus infinity)."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


NEUTRAL = thresholds((None, "blue"))
"""Thresholds of a value that no alert judges: one neutral colour."""


def state_mapping(ok_text: str, bad_text: str, bad_color: str = BAD) -> list[model.ValueMapping]:
    """Text for a 0/1 state gauge: 0 is fine (green), 1 is the alert condition."""
    return [
        model.ValueMap(
            options={
                "0": model.ValueMappingResult(text=ok_text, color=OK, index=0),
                "1": model.ValueMappingResult(text=bad_text, color=bad_color, index=1),
            }
        )
    ]


def health_mapping(ok_text: str, bad_text: str) -> list[model.ValueMapping]:
    """Text for a 0/1 health gauge (``up``, ``drift_reference_loaded``): 1 is fine, 0 is the
    alert condition; the reverse of ``state_mapping``."""
    return [
        model.ValueMap(
            options={
                "0": model.ValueMappingResult(text=bad_text, color=BAD, index=0),
                "1": model.ValueMappingResult(text=ok_text, color=OK, index=1),
            }
        )
    ]


def info_mapping(text: str = "in use") -> list[model.ValueMapping]:
    """Text for an info gauge (always 1, the interesting part is in its labels)."""
    return [model.ValueMap(options={"1": model.ValueMappingResult(text=text, color=OK, index=0)})]


def dashed_series() -> list[model.DynamicConfigValue]:
    """Field overrides that draw a series as a dashed, unfilled line (a threshold or a
    reference value next to the measured one)."""
    return [
        model.DynamicConfigValue(
            id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
        ),
        model.DynamicConfigValue(id_val="custom.fillOpacity", value=0),
    ]


def fixed_color(color: str) -> model.DynamicConfigValue:
    """A field override that draws a series in one colour (a family of series that belong
    together, such as an estimate and its band)."""
    return model.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})


def data_link(title: str, url: str) -> dashboard_builders.DashboardLink:
    return dashboard_builders.DashboardLink(title).url(url).target_blank(False)


# panels --------------------------------------------------------------------------------------


def timeseries_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    min_value: float | None = 0,
    max_value: float | None = None,
    limits: dashboard_builders.ThresholdsConfig | None = None,
    links: Sequence[dashboard_builders.DashboardLink] = (),
    decimals: int | None = None,
    dashed: Sequence[str] = (),
    overrides: Sequence[tuple[str, Sequence[model.DynamicConfigValue]]] = (),
) -> timeseries.Panel:
    """Lines over time, legend as a table with the last value. ``limits`` are drawn as dashed
    lines (the alert threshold) and colour nothing else; so are the series of the queries
    whose refIds are in ``dashed`` (a threshold or a reference value next to the measured
    one). ``overrides`` set the field config of the series of one query (by refId)."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(targets))
        .unit(unit)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    if limits is not None:
        panel = panel.thresholds(limits).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED
            )
        )
    if links:
        panel = panel.data_links(list(links))
    if decimals is not None:
        panel = panel.decimals(decimals)
    for ref in dashed:
        panel = panel.override_by_query(ref, dashed_series())
    for ref, properties in overrides:
        panel = panel.override_by_query(ref, list(properties))
    return panel


def stat_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    limits: dashboard_builders.ThresholdsConfig,
    *,
    mappings: Sequence[model.ValueMapping] = (),
    no_value: str = "no data",
    links: Sequence[dashboard_builders.DashboardLink] = (),
    decimals: int | None = None,
) -> stat.Panel:
    """The latest value per series, coloured by ``limits`` (which match the alert rules)."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(targets))
        .unit(unit)
        .thresholds(limits)
        .no_value(no_value)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if mappings:
        panel = panel.mappings(list(mappings))
    if links:
        panel = panel.data_links(list(links))
    if decimals is not None:
        panel = panel.decimals(decimals)
    return panel


def count_stat(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    no_value: str = "no data",
) -> stat.Panel:
    """A whole number that no alert judges (a size, rows, pending items), in one neutral
    colour."""
    return stat_panel(title, description, "none", targets, NEUTRAL, no_value=no_value, decimals=0)


def info_stat(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    no_value: str = "no data",
    links: Sequence[dashboard_builders.DashboardLink] = (),
) -> stat.Panel:
    """An info gauge (``drift_model_info``, ``drift_reference_info``): the series names, from
    its labels by the legend, are what it shows; each value reads ``in use``."""
    return stat_panel(
        title,
        description,
        "none",
        targets,
        NEUTRAL,
        mappings=info_mapping(),
        no_value=no_value,
        links=links,
    )


def state_stat(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    ok_text: str,
    bad_text: str,
    *,
    bad_color: str = BAD,
    no_value: str = "no data",
    links: Sequence[dashboard_builders.DashboardLink] = (),
) -> stat.Panel:
    """A 0/1 state gauge whose 1 is an alert's condition: ``ok_text`` in green, ``bad_text`` in
    ``bad_color`` (red for warnings and worse, yellow for info alerts)."""
    return stat_panel(
        title,
        description,
        "none",
        targets,
        thresholds((None, OK), (1, bad_color)),
        mappings=state_mapping(ok_text, bad_text, bad_color),
        no_value=no_value,
        links=links,
    )


def health_stat(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    ok_text: str,
    bad_text: str,
    *,
    no_value: str = "no data",
) -> stat.Panel:
    """A 0/1 health gauge (``up``, ``drift_reference_loaded``) whose 0 is an alert's condition."""
    return stat_panel(
        title,
        description,
        "none",
        targets,
        thresholds((None, BAD), (1, OK)),
        mappings=health_mapping(ok_text, bad_text),
        no_value=no_value,
    )


def state_timeline_panel(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    mappings: Sequence[model.ValueMapping],
    limits: dashboard_builders.ThresholdsConfig,
) -> statetimeline.Panel:
    """One band per series, coloured by its 0/1 state over time."""
    return (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(targets))
        .unit("none")
        .mappings(list(mappings))
        .thresholds(limits)
        .color_scheme(dashboard_builders.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .show_value(common.VisibilityMode.NEVER)
        .line_width(0)
        .fill_opacity(70)
        .merge_values(True)
        .row_height(0.8)
    )


def table_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    transformations: Sequence[model.DataTransformerConfig],
    overrides: Sequence[tuple[str, Sequence[model.DynamicConfigValue]]] = (),
) -> table.Panel:
    """Instant queries joined into one table (``transformations``); ``overrides`` set the unit
    or display of single columns by field name."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(targets))
        .unit(unit)
        .transformations(list(transformations))
        .show_header(True)
        .align(common.FieldTextAlignment.AUTO)
        .inspect(False)
    )
    for name, properties in overrides:
        panel = panel.override_by_name(name, list(properties))
    return panel
