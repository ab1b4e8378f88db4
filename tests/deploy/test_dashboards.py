"""The Grafana dashboards that the Kustomize base ships are the generated ones.

Kustomize reads files only from inside its tree, so ``deploy/kustomize/base/dashboards/`` holds
copies of what ``drift-sidecar dashboards export`` writes (``dashboards/`` at the top is the same
output). Refresh them with::

    drift-sidecar dashboards export /tmp/d && cp /tmp/d/*.json deploy/kustomize/base/dashboards/
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from drift.cli import main as cli_main
from tests.components import missing_component
from tests.deploy.manifests import BASE, OVERLAYS, one, render

COPIES = BASE / "dashboards"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("grafana_foundation_sdk") is None:
        missing_component("grafana-foundation-sdk is not installed (pip install -e '.[dev]')")
    directory = tmp_path_factory.mktemp("dashboards")
    assert cli_main(["dashboards", "export", str(directory)]) == 0
    return directory


def test_copies_in_the_kustomize_base_equal_the_export(exported: Path) -> None:
    copies = sorted(p.name for p in COPIES.glob("*.json"))
    assert copies == sorted(p.name for p in exported.glob("*.json"))
    assert copies  # the export wrote dashboards
    for name in copies:
        assert (COPIES / name).read_bytes() == (exported / name).read_bytes(), (
            f"{name} is stale; see this module's docstring"
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_ships_the_dashboards_for_grafanas_sidecar(
    overlay: str, exported: Path
) -> None:
    config_map = one(render(overlay), "ConfigMap", "drift-sidecar-dashboards")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    expected = {p.name: p.read_text(encoding="utf-8") for p in exported.glob("*.json")}
    assert config_map["data"] == expected
    for text in config_map["data"].values():
        assert json.loads(text)["uid"]
