"""The generated Grafana dashboards: committed copies, SDK round trip, required fields, grid,
thresholds that match the alert rules, variables, links, file provisioning and docs/dashboards.md.

What Grafana needs from a dashboard is checked with a JSON schema (``DASHBOARD_SCHEMA``); that
every query returns data on real metrics is ``tests/integration/test_dashboards_prometheus.py``.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus as prometheus_model
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel

from drift.cli import main
from exporters.grafana import files as gf
from exporters.grafana.common import (
    DETAIL_UID,
    OVERVIEW_UID,
    PENDING_METRICS,
    TAG,
    evaluation_quantile,
)
from exporters.grafana.dashboards import DASHBOARDS, all_dashboards, dashboard_json, panel_queries
from exporters.grafana.layout import Cell, Section, layout
from exporters.grafana.panels import (
    NEUTRAL,
    query,
    stat_panel,
    timeseries_panel,
)
from exporters.prometheus.rules import REFERENCE_MAX_AGE_DAYS, REJECTED_SHARE

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "dashboards"
DOCS_PAGE = ROOT / "docs" / "dashboards.md"

DASHBOARD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["uid", "title", "panels", "templating", "schemaVersion"],
    "not": {"required": ["id"]},  # Grafana assigns ids; a fixed one breaks import elsewhere
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "if": {"properties": {"type": {"const": "row"}}, "required": ["type"]},
                "then": {"$ref": "#/$defs/row"},
                "else": {"$ref": "#/$defs/panel"},
            },
        },
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name", "type"]},
                }
            },
        },
    },
    "$defs": {
        "gridPos": {
            "type": "object",
            "required": ["x", "y", "w", "h"],
            "properties": {
                "x": {"type": "integer", "minimum": 0, "maximum": 23},
                "y": {"type": "integer", "minimum": 0},
                "w": {"type": "integer", "minimum": 1, "maximum": 24},
                "h": {"type": "integer", "minimum": 1},
            },
        },
        "row": {
            # an expanded row: its panels follow it in the top-level list; a row's own
            # "panels" only holds them while it is collapsed
            "type": "object",
            "required": ["id", "type", "title", "gridPos", "collapsed", "panels"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "title": {"type": "string", "minLength": 1},
                "gridPos": {
                    "$ref": "#/$defs/gridPos",
                    "properties": {"x": {"const": 0}, "w": {"const": 24}, "h": {"const": 1}},
                },
                "collapsed": {"const": False},
                "panels": {"maxItems": 0},
            },
        },
        "datasource": {
            "type": "object",
            "required": ["type", "uid"],
            "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
        },
        "panel": {
            "type": "object",
            "required": ["id", "type", "title", "description", "gridPos", "datasource", "targets"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "type": {"enum": ["timeseries", "stat", "state-timeline", "table"]},
                "title": {"type": "string", "minLength": 1},
                "description": {"type": "string", "minLength": 20},
                "gridPos": {"$ref": "#/$defs/gridPos"},
                "datasource": {"$ref": "#/$defs/datasource"},
                "targets": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["refId", "expr", "datasource"],
                        "properties": {
                            "refId": {"type": "string", "pattern": "^[A-Z]$"},
                            "expr": {"type": "string", "minLength": 1},
                            "datasource": {"$ref": "#/$defs/datasource"},
                        },
                    },
                },
                "fieldConfig": {
                    "type": "object",
                    "required": ["defaults"],
                    "properties": {
                        "defaults": {
                            "type": "object",
                            "required": ["unit"],
                            "properties": {"unit": {"type": "string", "minLength": 1}},
                        }
                    },
                },
            },
        },
    },
}

IDS = [spec.uid for spec in DASHBOARDS]


@pytest.fixture(params=DASHBOARDS, ids=IDS)
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dashboard_json(request.param)


def panels_by_title(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {panel["title"]: panel for panel in data["panels"]}


def query_panels(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels with queries: every panel but the Grafana rows (section titles)."""
    return [panel for panel in data["panels"] if panel["type"] != "row"]


def section_of(data: dict[str, Any], title: str) -> str | None:
    """The title of the Grafana row above panel ``title`` (None above the first row)."""
    section = None
    for panel in data["panels"]:
        if panel["type"] == "row":
            section = panel["title"]
        elif panel["title"] == title:
            return section
    raise KeyError(title)


def steps(panel: dict[str, Any]) -> list[tuple[float | None, str]]:
    config = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(step["value"], step["color"]) for step in config]


# committed copies ----------------------------------------------------------------------------


def test_committed_files_are_what_the_generator_writes() -> None:
    expected = gf.rendered_files()
    committed = {
        path.relative_to(COMMITTED): path.read_text(encoding="utf-8")
        for path in COMMITTED.rglob("*")
        if path.is_file() and path.name != "README.md"
    }
    assert set(committed) == set(expected), "run: drift-sidecar dashboards export dashboards"
    for relative, text in expected.items():
        assert committed[relative] == text, f"{relative} is stale: drift-sidecar dashboards export"


def test_generator_is_pure() -> None:
    first = [data for _, data in all_dashboards()]
    second = [data for _, data in all_dashboards()]
    assert first == second


def test_export_cli_writes_the_committed_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dashboards", "export", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(tmp_path / p) for p in gf.rendered_files())
    for relative in gf.rendered_files():
        assert (tmp_path / relative).read_text() == (COMMITTED / relative).read_text()


# the SDK and the schema ----------------------------------------------------------------------


def test_round_trips_through_the_sdk(board: dict[str, Any]) -> None:
    register_default_plugins()  # decode targets as Prometheus queries, panel options by type
    parsed = Dashboard.from_json(board)
    assert parsed.panels is not None
    for panel in parsed.panels:
        if isinstance(panel, RowPanel):
            continue
        assert isinstance(panel, Panel)
        assert panel.targets
        assert all(isinstance(t, prometheus_model.Dataquery) for t in panel.targets)
    assert json.loads(json.dumps(parsed, cls=JSONEncoder)) == board


def test_schema_of_what_grafana_requires(board: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(DASHBOARD_SCHEMA)
    jsonschema.validate(board, DASHBOARD_SCHEMA)


def test_schema_rejects_a_target_without_ref_id(board: dict[str, Any]) -> None:
    del board["panels"][0]["targets"][0]["refId"]
    with pytest.raises(jsonschema.ValidationError, match="refId"):
        jsonschema.validate(board, DASHBOARD_SCHEMA)


def test_panel_ids_and_ref_ids_are_unique(board: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    titles = [panel["title"] for panel in board["panels"]]
    assert len(titles) == len(set(titles))
    for panel in query_panels(board):
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_panels_do_not_overlap_and_fit_the_grid(board: dict[str, Any]) -> None:
    boxes = [(p["title"], p["gridPos"]) for p in board["panels"]]
    for title, pos in boxes:
        assert pos["x"] + pos["w"] <= 24, title
    for (a, pa), (b, pb) in itertools.combinations(boxes, 2):
        apart = (
            pa["x"] + pa["w"] <= pb["x"]
            or pb["x"] + pb["w"] <= pa["x"]
            or pa["y"] + pa["h"] <= pb["y"]
            or pb["y"] + pb["h"] <= pa["y"]
        )
        assert apart, f"{a} {pa} overlaps {b} {pb}"


def test_layout_puts_a_section_row_between_panel_rows() -> None:
    def cell(title: str, width: int, height: int) -> Cell:
        panel = stat_panel(title, "a panel of the layout test", "none", [], NEUTRAL)
        return Cell(panel, width, height)

    placed = layout([[cell("a", 12, 4), cell("b", 12, 3)], Section("S"), [cell("c", 24, 2)]])
    built = [item.build() for item in placed]
    boxes = [(b.id_val, b.title, b.grid_pos.to_json() if b.grid_pos else None) for b in built]
    assert boxes == [
        (1, "a", {"h": 4, "w": 12, "x": 0, "y": 0}),
        (2, "b", {"h": 3, "w": 12, "x": 12, "y": 0}),
        (3, "S", {"h": 1, "w": 24, "x": 0, "y": 4}),
        (4, "c", {"h": 2, "w": 24, "x": 0, "y": 5}),
    ]
    assert isinstance(built[2], RowPanel)
    assert built[2].collapsed is False
    with pytest.raises(ValueError, match="wider than 24"):
        layout([[cell("d", 16, 2), cell("e", 9, 2)]])


def test_every_query_is_scoped_by_the_variables(board: dict[str, Any]) -> None:
    model_selector = 'model=~"$model"' if board["uid"] == OVERVIEW_UID else 'model="$model"'
    for title, ref, expr in panel_queries(board):
        assert 'job=~"$job"' in expr, (title, ref)
        assert 'namespace=~"$namespace"' in expr, (title, ref)
        per_target = "up{" in expr or "drift_requests_rejected_total" in expr
        assert per_target or model_selector in expr, (title, ref, expr)


# thresholds, variables, links ----------------------------------------------------------------


def test_state_panels_turn_red_where_the_alerts_fire() -> None:
    overview = panels_by_title(dashboard_json(DASHBOARDS[0]))
    detail = panels_by_title(dashboard_json(DASHBOARDS[1]))
    fires_at_one = [
        (overview["Models in drift"], "drift_dataset_detected"),
        (overview["Prediction drift"], "drift_prediction_detected"),
        (overview["Evaluation errors (10m)"], "drift_evaluation_errors_total"),
        (overview["Degraded performance"], "drift_model_performance_degraded"),
        (detail["Dataset drift"], "drift_dataset_detected"),
        (detail["Prediction drift"], "drift_prediction_detected"),
        (detail["Performance degraded"], "drift_model_performance_degraded"),
        (detail["Multivariate drift"], "drift_multivariate_drift"),
    ]
    for panel, metric in fires_at_one:
        assert metric in panel["targets"][0]["expr"]
        assert steps(panel) == [(None, "green"), (1, "red")], panel["title"]
    info_at_one = [
        (overview["Time windows without verdict"], "drift_window_insufficient_data"),
        (detail["Insufficient data"], "drift_window_insufficient_data"),
        # two-sided, while DriftModelPerformanceEstimatedDegraded fires on the worse side only
        (detail["Estimate outside thresholds"], "drift_model_performance_estimated_alert"),
    ]
    for panel, metric in info_at_one:  # DriftWindowInsufficientData is an info alert: yellow
        assert metric in panel["targets"][0]["expr"]
        assert steps(panel) == [(None, "green"), (1, "yellow")], panel["title"]
    for panel in (
        overview["References loaded"],
        overview["Sidecars up"],
        detail["Reference loaded"],
    ):
        assert steps(panel) == [(None, "red"), (1, "green")], panel["title"]
    assert steps(overview["Rejected sample share"]) == [(None, "green"), (REJECTED_SHARE, "red")]
    assert steps(detail["Reference age"])[1] == (REFERENCE_MAX_AGE_DAYS * 86400, "red")
    assert "> bool 0" in overview["Evaluation errors (10m)"]["targets"][0]["expr"]


def test_an_alert_condition_reads_alike_on_both_dashboards() -> None:
    """The overview and the detail dashboard build the stat of one alert's condition with the
    same builder (``exporters.grafana.alert_states``): same texts and colours."""
    overview = panels_by_title(dashboard_json(DASHBOARDS[0]))
    detail = panels_by_title(dashboard_json(DASHBOARDS[1]))
    for fleet, one in (
        ("Models in drift", "Dataset drift"),
        ("Prediction drift", "Prediction drift"),
        ("References loaded", "Reference loaded"),
        ("Degraded performance", "Performance degraded"),
        ("Time windows without verdict", "Insufficient data"),
    ):
        a, b = overview[fleet]["fieldConfig"]["defaults"], detail[one]["fieldConfig"]["defaults"]
        assert (a["mappings"], a["thresholds"]) == (b["mappings"], b["thresholds"]), one
        if one != "Insufficient data":  # the detail says why it has no series yet
            assert a["noValue"] == b["noValue"], one


def test_timeseries_panel_draws_the_dashed_queries() -> None:
    targets = [query("drift_dataset_share"), query("drift_dataset_share_threshold", ref="B")]
    panel = timeseries_panel("t", "d", "none", targets, decimals=0, dashed=["B"]).build()
    assert panel.field_config is not None
    assert panel.field_config.defaults is not None
    assert panel.field_config.defaults.decimals == 0
    (override,) = panel.field_config.overrides or []
    assert override.matcher.to_json() == {"id": "byFrameRefID", "options": "B"}


def test_evaluation_quantile_per_label() -> None:
    expr = evaluation_quantile(0.95, 'model="m"', by="model")
    assert expr == (
        "histogram_quantile(0.95, sum by (model, le) "
        '(rate(drift_evaluation_seconds_bucket{model="m"}[$__rate_interval])))'
    )
    assert "sum by (le) (" in evaluation_quantile(0.5, 'model="m"')


def test_every_panel_has_a_unit_and_a_description(board: dict[str, Any]) -> None:
    for panel in query_panels(board):
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert len(panel["description"]) >= 40, panel["title"]


def test_template_variables(board: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in board["templating"]["list"]}
    common = ["datasource", "namespace", "job", "model", "sidecar_url"]
    extra = [] if board["uid"] == OVERVIEW_UID else ["perf_metric"]
    assert list(variables) == [*common, *extra]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "job"):
        assert variables[name]["multi"] is True
        assert variables[name]["allValue"] == ".*"
    assert variables["model"]["multi"] is (board["uid"] == OVERVIEW_UID)
    assert variables["model"]["query"].startswith("label_values(drift_window_size{")
    assert variables["sidecar_url"]["type"] == "textbox"


def test_links_between_dashboards_and_to_the_report() -> None:
    overview = dashboard_json(DASHBOARDS[0])
    detail = dashboard_json(DASHBOARDS[1])
    for board in (overview, detail):
        link = board["links"][0]
        assert (link["type"], link["tags"], link["includeVars"], link["keepTime"]) == (
            "dashboards", [TAG], True, True)  # fmt: skip
        assert TAG in board["tags"]
    report = detail["links"][1]
    assert report["url"] == "${sidecar_url}/v1/models/${model}/report"
    data_links = panels_by_title(overview)["Models in drift"]["fieldConfig"]["defaults"]["links"]
    urls = [link["url"] for link in data_links]
    assert urls[0].startswith(f"/d/{DETAIL_UID}/")
    assert "var-model=${__field.labels.model}" in urls[0]
    assert urls[1] == "${sidecar_url}/v1/models/${__field.labels.model}/report"


def test_performance_metric_variable_lists_realized_and_estimated_metrics() -> None:
    """A metric only estimated (no labels yet, or DLE's mse) gets its graph too."""
    detail = dashboard_json(DASHBOARDS[1])
    metric = {v["name"]: v for v in detail["templating"]["list"]}["perf_metric"]
    assert metric["query"] == (
        'label_values({__name__=~"drift_model_performance|drift_model_performance_estimated", '
        'namespace=~"$namespace", job=~"$job", model="$model"}, metric)'
    )
    assert (metric["multi"], metric["includeAll"], metric["allValue"]) == (True, True, ".*")


def overrides_by_ref(panel: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{refId: {property id: value}}`` of a panel's field overrides by query."""
    found: dict[str, dict[str, Any]] = {}
    for override in panel["fieldConfig"]["overrides"]:
        assert override["matcher"]["id"] == "byFrameRefID"
        ref = override["matcher"]["options"]
        assert ref not in found, ref  # one override per query
        found[ref] = {p["id"]: p["value"] for p in override["properties"]}
    return found


def test_performance_graph_shows_realized_and_estimated_on_one_panel() -> None:
    """Per metric: realized (labels), the reference's value dashed, the estimate with its band
    filled between its lower and upper end, and its thresholds dashed red."""
    detail = dashboard_json(DASHBOARDS[1])
    (panel,) = [p for p in detail["panels"] if p.get("repeat") == "perf_metric"]
    assert (panel["repeatDirection"], panel["maxPerRow"]) == ("h", 3)
    assert "$perf_metric" in panel["title"]
    targets = {t["refId"]: (t["expr"], t["legendFormat"]) for t in panel["targets"]}
    metrics = {
        ref: re.match(r"max by \(([\w, ]+)\) \((\w+)\{", e) for ref, (e, _) in targets.items()
    }
    assert {ref: (m.group(2), m.group(1)) for ref, m in metrics.items() if m} == {
        "A": ("drift_model_performance", "metric"),
        "B": ("drift_model_performance_reference", "metric"),
        "C": ("drift_model_performance_estimated", "metric, method"),
        "D": ("drift_model_performance_estimated_lower", "metric"),
        "E": ("drift_model_performance_estimated_upper", "metric"),
        "F": ("drift_model_performance_estimated_threshold", "metric, bound"),
    }
    for expr, _ in targets.values():  # the same metric on every series of the graph
        assert 'model="$model", metric=~"$perf_metric"}' in expr
    legends = {ref: legend for ref, (_, legend) in targets.items()}
    assert legends == {
        "A": "realized",
        "B": "on the reference",
        "C": "estimated ({{method}})",
        "D": "estimate lower",
        "E": "estimate upper",
        "F": "estimate threshold ({{bound}})",
    }
    styles = overrides_by_ref(panel)
    assert set(styles) == {"A", "B", "C", "D", "E", "F"}
    for ref in ("B", "F"):
        assert styles[ref]["custom.lineStyle"]["fill"] == "dash", ref
        assert styles[ref]["custom.fillOpacity"] == 0, ref
    assert styles["F"]["color"] == {"mode": "fixed", "fixedColor": "red"}
    purple = {"mode": "fixed", "fixedColor": "purple"}
    assert styles["C"] == {"color": purple, "custom.lineWidth": 2, "custom.fillOpacity": 0}
    assert styles["D"] == {"color": purple, "custom.lineWidth": 0, "custom.fillOpacity": 0}
    assert styles["E"] == {  # the band: fill from the upper end down to the lower one
        "color": purple,
        "custom.lineWidth": 0,
        "custom.fillOpacity": 20,
        "custom.fillBelowTo": legends["D"],
    }
    assert styles["A"] == {"custom.lineWidth": 2, "custom.fillOpacity": 0}
    assert "min" not in panel["fieldConfig"]["defaults"]  # r2 can be negative


def test_estimation_section() -> None:
    detail = panels_by_title(dashboard_json(DASHBOARDS[1]))
    score = detail["Multivariate drift score"]
    assert [(t["refId"], t["expr"], t["legendFormat"]) for t in score["targets"]] == [
        (
            "A",
            'max by (method) (drift_multivariate_score{namespace=~"$namespace", job=~"$job", '
            'model="$model"})',
            "{{method}}",
        ),
        (
            "B",
            'max by (method, bound) (drift_multivariate_threshold{namespace=~"$namespace", '
            'job=~"$job", model="$model"})',
            "{{method}} threshold ({{bound}})",
        ),
    ]
    assert overrides_by_ref(score)["B"]["custom.lineStyle"]["fill"] == "dash"
    assert "min" not in score["fieldConfig"]["defaults"]
    fit = detail["Estimation fit"]
    assert fit["targets"][0]["expr"].startswith("max(drift_estimation_fit_seconds{")
    assert fit["fieldConfig"]["defaults"]["unit"] == "s"
    for title in ("Estimate outside thresholds", "Multivariate drift", "Estimation fit"):
        assert detail[title]["fieldConfig"]["defaults"]["noValue"] == "no estimation", title
    (outside,) = detail["Estimate outside thresholds"]["targets"]
    assert outside["expr"].startswith("max by (metric) (drift_model_performance_estimated_alert{")
    assert outside["legendFormat"] == "{{metric}}"
    (verdict,) = detail["Multivariate drift"]["targets"]
    assert verdict["expr"].startswith("max by (method) (drift_multivariate_drift{")


def test_column_threshold_next_to_the_column_score() -> None:
    detail = panels_by_title(dashboard_json(DASHBOARDS[1]))
    threshold = (
        'max by (column) (drift_column_threshold{namespace=~"$namespace", job=~"$job", '
        'model="$model"})'
    )
    scores = detail["Column drift scores"]
    assert [(t["refId"], t["legendFormat"]) for t in scores["targets"]] == [
        ("A", "{{column}} ({{method}})"),
        ("B", "{{column}} threshold"),
    ]
    assert scores["targets"][1]["expr"] == threshold
    assert overrides_by_ref(scores)["B"]["custom.lineStyle"]["fill"] == "dash"
    top = detail["Top drifted columns"]
    (added,) = [t for t in top["targets"] if t["refId"] == "E"]
    assert (added["expr"], added["instant"], added["format"]) == (threshold, True, "table")
    organize = next(t for t in top["transformations"] if t["id"] == "organize")["options"]
    assert organize["renameByName"]["Value #E"] == "Threshold"
    order = sorted(organize["indexByName"], key=organize["indexByName"].get)
    assert order.index("Value #E") == order.index("Value #C") + 1  # right after the score
    assert len(order) == len(top["targets"]) + 2  # every value, column and method


def test_performance_panels_are_in_their_own_section() -> None:
    """Grafana rows group the new panels under "Model performance", after the drift panels,
    which keep their positions."""
    for spec, expected in (
        (DASHBOARDS[0], ["Degraded performance", "Model versions", "Time windows without verdict"]),
        (
            DASHBOARDS[1],
            [
                "Performance degraded",
                "Labelled samples",
                "Model version",
                "Insufficient data",
                "CloudEvents pending",
                "Performance: $perf_metric",
                "Label join outcomes",
                "Waiting for a match",
                "CloudEvents by outcome",
            ],
        ),
    ):
        data = dashboard_json(spec)
        rows = [p for p in data["panels"] if p["type"] == "row"]
        assert rows[0]["title"] == "Model performance"
        after = [p["title"] for p in data["panels"][data["panels"].index(rows[0]) + 1 :]]
        assert after[: len(expected)] == expected
        assert all(section_of(data, title) == "Model performance" for title in expected)
        assert section_of(data, query_panels(data)[0]["title"]) is None
    detail = dashboard_json(DASHBOARDS[1])
    estimation = "Performance estimation and multivariate drift"
    rows = [p["title"] for p in detail["panels"] if p["type"] == "row"]
    assert rows == ["Model performance", estimation]
    titles = [p["title"] for p in detail["panels"]]
    assert titles[titles.index(estimation) + 1 :] == [
        "Estimate outside thresholds",
        "Multivariate drift",
        "Estimation fit",
        "Multivariate drift score",
    ]
    assert [p["type"] for p in dashboard_json(DASHBOARDS[0])["panels"]].count("row") == 1


def test_model_version_shows_an_unset_version() -> None:
    for spec, title in ((DASHBOARDS[0], "Model versions"), (DASHBOARDS[1], "Model version")):
        expr = panels_by_title(dashboard_json(spec))[title]["targets"][0]["expr"]
        assert expr.startswith("label_replace(")
        assert "drift_model_info{" in expr
        assert expr.endswith(', "version", "no version", "version", "")')


def test_sidecar_metrics_on_the_detail_are_limited_to_the_models_sidecars() -> None:
    """The CloudEvents metrics have no model label; the detail dashboard shows those of the
    sidecars that monitor ``$model`` (``and on (job, instance) drift_model_info{...}``)."""
    detail = dashboard_json(DASHBOARDS[1])
    exprs = [e for _, _, e in panel_queries(detail) if "drift_cloudevents" in e]
    assert len(exprs) == 3
    for expr in exprs:
        assert re.search(r'and on \(job, instance\) drift_model_info\{[^}]*model="\$model"', expr)


def test_pending_metrics_are_used_by_panels_and_explained() -> None:
    exprs = [e for _, data in all_dashboards() for _, _, e in panel_queries(data)]
    for metric, reason in PENDING_METRICS.items():
        assert any(metric in expr for expr in exprs), f"{metric} is used by no panel: drop it"
        assert len(reason) > 40, metric


# file provisioning ---------------------------------------------------------------------------


def test_provider_reads_the_json_from_the_given_path() -> None:
    files = gf.rendered_files("/srv/dashboards")
    provider = yaml.safe_load(files[gf.PROVIDER_FILE])
    assert provider["apiVersion"] == 1
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    assert entry["options"]["path"] == "/srv/dashboards"
    assert (entry["folder"], entry["folderUid"]) == (gf.FOLDER_TITLE, gf.FOLDER_UID)


def test_configmap_for_the_grafana_sidecar() -> None:
    files = gf.rendered_files()
    configmap = yaml.safe_load(files[gf.CONFIGMAP_FILE])
    assert (configmap["apiVersion"], configmap["kind"]) == ("v1", "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"  # a string, not 1
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", configmap["metadata"]["name"])
    assert set(configmap["data"]) == {spec.file_name for spec in DASHBOARDS}
    for spec in DASHBOARDS:
        assert json.loads(configmap["data"][spec.file_name]) == dashboard_json(spec)


def test_yamllint_on_the_provider_and_configmap() -> None:
    config = "{extends: default, rules: {line-length: disable}}"  # the JSON lines are long
    paths = [str(COMMITTED / gf.PROVIDER_FILE), str(COMMITTED / gf.CONFIGMAP_FILE)]
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "-s", "-d", config, *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# docs/dashboards.md ---------------------------------------------------------------------------


def test_docs_describe_every_panel() -> None:
    section = DOCS_PAGE.read_text(encoding="utf-8")
    for _, data in all_dashboards():
        for panel in data["panels"]:
            assert f"**{panel['title']}**" in section, panel["title"]
    for command in ("drift-sidecar dashboards export", "drift-sidecar dashboards provision"):
        assert command in section
    assert "contract test" in section
