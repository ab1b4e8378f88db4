"""yamllint (strict) over the Kustomize tree, the Alertmanager example and the CRD schemas:
yamllint's default rules, lines up to 100 characters except in generated files and schemas
(PromQL annotations and published regex patterns stay on one line)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.components import missing_component
from tests.deploy.manifests import BASE, KUSTOMIZE, ROOT

CRDS = Path(__file__).resolve().parent / "crds"
GENERATED = BASE / "prometheusrule.yaml"
WRITTEN = sorted(p for p in KUSTOMIZE.rglob("*.yaml") if p != GENERATED)
WRITTEN.append(ROOT / "deploy" / "alertmanager.example.yml")


@pytest.mark.parametrize(
    ("files", "line_length"),
    [(WRITTEN, "{max: 100}"), ([GENERATED, *sorted(CRDS.glob("*.yaml"))], "disable")],
    ids=["written", "generated-and-schemas"],
)
def test_yamllint_strict(files: list[Path], line_length: str) -> None:
    if importlib.util.find_spec("yamllint") is None:
        missing_component("yamllint is not installed (pip install -e '.[dev]')")
    assert len(files) > 1
    config = f"{{extends: default, rules: {{line-length: {line_length}}}}}"
    command = [sys.executable, "-m", "yamllint", "-s", "-d", config, *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
