"""The drift-sidecar Grafana dashboards as JSON: one table, pure functions.

``DASHBOARDS`` names every dashboard and its generator; ``dashboard_json`` returns the JSON
model Grafana stores (no ``id``: Grafana assigns it), ``render`` the text committed under
``dashboards/`` and served by file provisioning. Regenerate the committed copies with::

    drift-sidecar dashboards export dashboards
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from exporters.grafana.common import DETAIL_UID, OVERVIEW_UID
from exporters.grafana.detail import detail_dashboard
from exporters.grafana.overview import overview_dashboard

GRAFANA_VERSION = "11.6.0"
"""The Grafana build the pinned grafana-foundation-sdk targets (``1769699379!11.6.0``)."""


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    file_name: str
    build: Callable[[], dashboard_builders.Dashboard]


DASHBOARDS: tuple[DashboardSpec, ...] = (
    DashboardSpec(OVERVIEW_UID, f"{OVERVIEW_UID}.json", overview_dashboard),
    DashboardSpec(DETAIL_UID, f"{DETAIL_UID}.json", detail_dashboard),
)


def dashboard_json(spec: DashboardSpec) -> dict[str, Any]:
    """The dashboard's JSON model as plain dicts and lists."""
    data: dict[str, Any] = json.loads(json.dumps(spec.build().build(), cls=JSONEncoder))
    return data


def render(data: dict[str, Any]) -> str:
    """Stable text: two-space indent, keys in the SDK's order, trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def all_dashboards() -> Iterator[tuple[DashboardSpec, dict[str, Any]]]:
    for spec in DASHBOARDS:
        yield spec, dashboard_json(spec)


def panel_queries(data: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """``(panel title, refId, expr)`` of every query of every panel (rows included)."""
    for panel in data.get("panels", []):
        nested = panel.get("panels", [])
        for item in [panel, *nested]:
            for target in item.get("targets", []):
                yield item["title"], target["refId"], target["expr"]
