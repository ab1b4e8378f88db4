"""Every example of the docs runs: the fenced code blocks of every page under ``docs/`` and of
``README.md``, as ``tests/docs/README.md`` describes.

The convention, in short (the markers go on the line before the block's fence):

- ```` ```bash ````, ```` ```sh ````, ```` ```console ```` (the ``$ `` lines): run by
  ``bash -euo pipefail`` with ``.venv/bin`` first on PATH, in the page's scratch directory;
  must exit 0.
- ```` ```python ````: run by this repository's Python in the same directory; must exit 0.
- ```` ```yaml ````: a sidecar configuration (every top-level key is a section of
  ``drift.config.Settings``) is validated by the settings model; any other YAML must parse.
- ```` ```json ````: must parse.
- ``<!-- example-config: NAME -->`` before a ```` ```yaml ```` block: a complete sidecar config,
  written to ``NAME.yaml`` in the scratch directory and loaded with ``load_settings``.
- ``<!-- example-uses: NAME -->`` before a shell or Python block: the block runs against a real
  ``drift-sidecar serve --config NAME.yaml`` (``demo``: ``drift-sidecar demo``), started once per
  page on a free port; ``127.0.0.1:8000`` in the block becomes that sidecar's address.
- ``<!-- no-test: REASON -->``: not run (a Kubernetes cluster, a ClearML server, a server that
  runs until stopped); reported as skipped with the reason (``pytest -ra`` lists them). Nothing
  else skips, under ``CI=true`` or not.

The scratch directory of a page holds symlinks to the repository's top-level entries (so
``.venv/bin/drift-sidecar``, ``deploy/``, ``alert_rules/`` resolve) and copies of
``docs/examples/*.csv`` (``reference.csv``, ``current.csv``); the blocks of a page run in order
and share it, so a page's steps build on each other like a reader's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from drift.config import Settings, load_settings, settings_from_mapping
from drift.config.env import load_yaml
from tests.docs.blocks import (
    ADDRESS,
    JSON,
    PYTHON,
    ROOT,
    SHELL,
    SHOWN,
    YAML,
    Block,
    blocks,
    console_commands,
    pages,
)
from tests.integration.conftest import _start, _stop, _wait_http_ok, free_port, serving

TIMEOUT = 90.0
BIN = Path(sys.executable).parent
SECTIONS = frozenset(Settings.model_fields)
EXAMPLE_DATA = ROOT / "docs" / "examples"
#: value of the ``${VAR}`` references of config fragments: not a placeholder the config refuses
ENV_VALUE = "https://example.com/docs-example-value"

ALL = [block for page in pages() for block in blocks(page)]
RUN = [block for block in ALL if block.language not in SHOWN]


@dataclass
class Page:
    """A page's scratch directory and the sidecars its blocks use (started on first use)."""

    path: Path
    scratch: Path
    stack: ExitStack = field(default_factory=ExitStack)
    addresses: dict[str, str] = field(default_factory=dict)

    def address(self, name: str) -> str:
        if name not in self.addresses:
            if name == "demo":
                self.addresses[name] = self._demo()
            else:
                config = self.scratch / f"{name}.yaml"
                assert config.is_file(), f"example-uses: {name} before its example-config block"
                running = self.stack.enter_context(serving(config, self.scratch, name))
                self.addresses[name] = running.url.removeprefix("http://")
        return self.addresses[name]

    def _demo(self) -> str:
        port = free_port()
        command = [str(BIN / "drift-sidecar"), "demo", "--host", "127.0.0.1", "--port", str(port)]
        address = f"127.0.0.1:{port}"
        log = self.scratch / "demo.log"
        running = _start("drift-sidecar demo", command, f"http://{address}", log, self.scratch)
        self.stack.callback(_stop, running)
        _wait_http_ok(running, "/readyz", 60.0)
        return address

    def close(self) -> None:
        self.stack.close()


def _scratch(path: Path) -> Path:
    path.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name not in (".git",):
            (path / entry.name).symlink_to(entry)
    for data in EXAMPLE_DATA.glob("*.csv"):
        shutil.copy(data, path / data.name)
    return path


@pytest.fixture(scope="module")
def page_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Path, Page]]:
    """One ``Page`` at a time: moving to the next page stops the previous page's sidecars."""
    state: dict[Path, Page] = {}
    yield state
    for page in state.values():
        page.close()


def page_for(block: Block, state: dict[Path, Page], factory: pytest.TempPathFactory) -> Page:
    if block.page not in state:
        for other in state.values():
            other.close()
        state.clear()
        name = re.sub(r"[^A-Za-z0-9]+", "-", str(block.page.relative_to(ROOT)))
        state[block.page] = Page(block.page, _scratch(factory.mktemp(name) / "work"))
    return state[block.page]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(command: list[str], block: Block, cwd: Path) -> None:
    result = subprocess.run(
        command,
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"{block.id} exited with {result.returncode}\n--- code\n{block.code}"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def _validate_yaml(block: Block, page: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    if block.config is not None:
        path = page.scratch / f"{block.config}.yaml"
        path.write_text(block.code, encoding="utf-8")
        settings = load_settings(path)
        assert settings.models, block.id
        return
    for name in set(re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", block.code)):
        monkeypatch.setenv(name, ENV_VALUE)
    if "\n---" in f"\n{block.code}":  # several documents: Kubernetes objects
        documents = [d for d in yaml.safe_load_all(block.code) if d is not None]
        assert documents, f"{block.id}: empty YAML"
        return
    data = load_yaml(block.code)  # as the sidecar reads its file: ${VAR} in flow style too
    assert data, f"{block.id}: empty YAML"
    if not (isinstance(data, dict) and set(data) <= SECTIONS):
        return  # Kubernetes, Prometheus, Alertmanager...: it parsed
    data = dict(data)
    data.setdefault("models", {"example": {"reference": {"path": "reference.csv"}}})
    settings_from_mapping(data)


def test_every_block_has_a_known_language() -> None:
    known = SHELL | PYTHON | YAML | JSON | SHOWN
    unknown = [f"{b.id}: {b.language!r}" for b in ALL if b.language not in known]
    assert not unknown, f"add the language to tests/docs/blocks.py (run or shown): {unknown}"
    assert len(RUN) > 50  # the pages were found


def test_markers_sit_on_blocks_they_apply_to() -> None:
    for block in ALL:
        if block.config is not None:
            assert block.language in YAML, f"{block.id}: example-config on {block.language}"
        if block.uses is not None:
            assert block.language in SHELL | PYTHON, f"{block.id}: example-uses on {block.language}"
        if block.language in SHELL | PYTHON and ADDRESS in block.code:
            # else it would run against whatever listens on 8000 here (a `make run` demo)
            assert block.uses or block.no_test, f"{block.id}: {ADDRESS} without example-uses"


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_example(
    block: Block,
    page_state: dict[Path, Page],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = page_for(block, page_state, tmp_path_factory)
    if block.no_test is not None:
        pytest.skip(f"{block.id}: no-test: {block.no_test}")
    code = block.code
    if block.uses is not None:
        code = code.replace(ADDRESS, page.address(block.uses))
    if block.language in SHELL:
        script = console_commands(code) if block.language == "console" else code
        _run(["bash", "-euo", "pipefail", "-c", script], block, page.scratch)
    elif block.language in PYTHON:
        script_path = page.scratch / f"example-{block.line}.py"
        script_path.write_text(code, encoding="utf-8")
        _run([sys.executable, str(script_path)], block, page.scratch)
    elif block.language in YAML:
        _validate_yaml(block, page, monkeypatch)
    else:
        assert block.language in JSON, block.id
        json.loads(code)
