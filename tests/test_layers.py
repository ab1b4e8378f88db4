"""The layering of docs/architecture.md, as import-linter contracts in pyproject.toml: the
contracts hold for the tree as it is, and each one breaks when a violation is planted in a copy
of the tree (so a contract that silently checks nothing would fail here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for package in ("drift", "exporters"):
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (module to plant the import in, the import, the contract that must break); imports inside a
# function count too: lazy imports are how heavy modules are loaded here
VIOLATIONS = [
    ("drift/core/engine.py", "import fastapi", "The core is pure"),
    ("drift/core/report.py", "def _lazy() -> None:\n    import starlette", "The core is pure"),
    ("drift/core/window.py", "import uvicorn", "The core is pure"),
    ("drift/core/columns.py", "import httpx", "The core is pure"),
    ("drift/core/reference.py", "import requests", "The core is pure"),
    ("drift/core/performance.py", "import boto3", "The core is pure"),
    ("drift/core/comparison.py", "import clearml", "The core is pure"),
    ("drift/core/label_join.py", "import confluent_kafka", "The core is pure"),
    ("drift/core/profile_codec.py", "import slack_sdk", "The core is pure"),
    ("drift/core/engine.py", "import drift.ingest.samples", "The core is pure"),
    ("drift/core/engine.py", "import drift.service.app", "The core is pure"),
    ("drift/core/engine.py", "import drift.sources.file", "The core is pure"),
    ("drift/core/engine.py", "import exporters.prometheus.collector", "The core is pure"),
    ("drift/core/stattests/base.py", "import drift.config", "The core is pure"),
    ("exporters/prometheus/collector.py", "import drift.service.service", "never import"),
    ("exporters/alerts/slack.py", "def _lazy() -> None:\n    import drift.service", "never import"),
    ("drift/ingest/samples.py", "import drift.service.monitor", "Each layer imports only"),
    ("drift/config/models.py", "import drift.ingest.samples", "Each layer imports only"),
    ("drift/sources/file.py", "import drift.service.references", "Each layer imports only"),
    ("drift/client/client.py", "import numpy", "The client stays light"),
    ("drift/client/middleware.py", "import drift.core.engine", "The client stays light"),
    ("drift/client/client.py", "import drift.retry", "The client stays light"),
    ("drift/client/retry.py", "import drift.errors", "The client stays light"),
    # drift.commands: the entry-point layer under drift.cli, which alone imports it
    ("drift/commands/compare.py", "import drift.cli", "Each layer imports only"),
    ("drift/service/app.py", "def _lazy() -> None:\n    import drift.commands", "Each layer"),
    ("drift/core/engine.py", "import drift.commands.console", "The core is pure"),
    ("exporters/grafana/files.py", "import drift.commands.dashboards", "never import"),
    ("drift/client/client.py", "import drift.commands.console", "The client stays light"),
]


@pytest.mark.parametrize(("module", "statement", "contract"), VIOLATIONS)
def test_a_planted_violation_breaks_its_contract(
    tmp_path: Path, module: str, statement: str, contract: str
) -> None:
    tree = copy_tree(tmp_path)
    target = tree / module
    target.write_text(target.read_text(encoding="utf-8") + "\n\n" + statement + "\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout
