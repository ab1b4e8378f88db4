"""File provisioning of the dashboards: the JSON, a Grafana provider and a Kubernetes ConfigMap.

``export_dashboards(DIR)`` writes (``drift-sidecar dashboards export DIR``)::

    DIR/drift-overview.json, DIR/drift-model-detail.json        the dashboards
    DIR/provisioning/dashboards/drift-sidecar.yaml              Grafana file provider
    DIR/kubernetes/grafana-dashboards-configmap.yaml            ConfigMap for the Grafana sidecar

The provider goes to Grafana's ``provisioning/dashboards/`` and reads the JSON files from
``dashboards_path``. The ConfigMap carries the label ``grafana_dashboard: "1"`` that the Grafana
Helm chart's dashboard sidecar (kiwigrid k8s-sidecar) watches, and the folder in the annotation
``grafana_folder`` (the chart's ``sidecar.dashboards.folderAnnotation``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporters.grafana.dashboards import DASHBOARDS, dashboard_json, render
from exporters.yaml_files import generated_header, to_yaml

FOLDER_TITLE = "Drift monitoring"
FOLDER_UID = "drift-sidecar"
PROVIDER_NAME = "drift-sidecar"
DEFAULT_DASHBOARDS_PATH = "/var/lib/grafana/dashboards/drift-sidecar"
PROVIDER_FILE = Path("provisioning/dashboards/drift-sidecar.yaml")
CONFIGMAP_FILE = Path("kubernetes/grafana-dashboards-configmap.yaml")
CONFIGMAP_NAME = "drift-sidecar-dashboards"
HEADER = generated_header("exporters/grafana/", "drift-sidecar dashboards export")


def provider(dashboards_path: str = DEFAULT_DASHBOARDS_PATH) -> dict[str, Any]:
    """A Grafana dashboard provider (``apiVersion: 1``) for the JSON files in
    ``dashboards_path``, in the folder ``Drift monitoring``."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": PROVIDER_NAME,
                "orgId": 1,
                "folder": FOLDER_TITLE,
                "folderUid": FOLDER_UID,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
            }
        ],
    }


def configmap(files: dict[str, str], folder: str = FOLDER_TITLE) -> dict[str, Any]:
    """A ConfigMap holding ``files`` (name -> JSON text); no namespace: it goes where it is
    applied (``kubectl apply -n NS``), usually Grafana's namespace."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIGMAP_NAME,
            "labels": {
                "grafana_dashboard": "1",
                "app.kubernetes.io/name": "drift-sidecar",
                "app.kubernetes.io/component": "dashboards",
            },
            "annotations": {"grafana_folder": folder},
        },
        "data": dict(files),
    }


def rendered_files(dashboards_path: str = DEFAULT_DASHBOARDS_PATH) -> dict[Path, str]:
    """Every exported file, relative path -> text. Pure: ``export_dashboards`` writes these."""
    dashboards = {spec.file_name: render(dashboard_json(spec)) for spec in DASHBOARDS}
    files = {Path(name): text for name, text in dashboards.items()}
    files[PROVIDER_FILE] = to_yaml(provider(dashboards_path), HEADER)
    files[CONFIGMAP_FILE] = to_yaml(configmap(dashboards), HEADER)
    return files


def export_dashboards(
    directory: Path, dashboards_path: str = DEFAULT_DASHBOARDS_PATH
) -> list[Path]:
    """Write the dashboards, the provider and the ConfigMap under ``directory``."""
    written: list[Path] = []
    for relative, text in rendered_files(dashboards_path).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
