"""The Kustomize snippets of docs/deployment/index.md do what the page says, applied to the
real overlays: an overlay of your own that drops the sidecar's readiness probe, and the patch
that renames kube-prometheus-stack's release label."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.manifests import KUSTOMIZE, ROOT, SIDECAR, kubectl, sidecar_pod

PAGE = ROOT / "docs" / "deployment" / "index.md"


def _yaml_blocks() -> list[dict[str, Any]]:
    text = PAGE.read_text(encoding="utf-8")
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]


def _relative(directory: Path, overlay: str) -> str:
    """Kustomize takes bases by relative path only."""
    return os.path.relpath(KUSTOMIZE / "overlays" / overlay, directory)


def _build(tmp_path: Path, kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    result = subprocess.run(
        [kubectl(), "kustomize", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_own_overlay_example_drops_the_readiness_probe(tmp_path: Path) -> None:
    [own] = [b for b in _yaml_blocks() if "resources" in b]
    [resource] = own["resources"]
    assert resource.endswith("deploy/kustomize/overlays/fastapi")
    own["resources"] = [_relative(tmp_path, "fastapi")]
    sidecar = sidecar_pod(_build(tmp_path, own)).sidecar
    assert sidecar["name"] == SIDECAR
    assert "readinessProbe" not in sidecar
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_release_label_patch_relabels_podmonitor_and_prometheusrule(tmp_path: Path) -> None:
    [patch] = [b for b in _yaml_blocks() if set(b) == {"patches"}]
    built = _build(tmp_path, {"resources": [_relative(tmp_path, "kserve")], **patch})
    monitoring = [o for o in built if o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {o["kind"] for o in monitoring} == {"PodMonitor", "PrometheusRule"}
    assert {o["metadata"]["labels"]["release"] for o in monitoring} == {"prometheus-stack"}
