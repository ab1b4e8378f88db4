"""The generated pages are current: ``docs/reference/configuration.md`` (the settings model) and
``docs/reference/http-api.md`` (the OpenAPI document) equal what ``docs/gen_reference.py``
writes today, and the example data equals what ``docs/examples/generate.py`` writes; and the
generated pages cover what they claim to (every settings field, every route)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from drift.config import Settings
from tests.docs.blocks import DOCS


def _script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _script(DOCS / "gen_reference.py")


def test_the_committed_reference_pages_are_current(gen: ModuleType) -> None:
    for path, text in gen.pages().items():
        committed = path.read_text(encoding="utf-8") if path.is_file() else ""
        assert committed == text, f"{path} is stale: run make docs (or docs/gen_reference.py)"


def test_the_committed_example_data_is_current() -> None:
    generate = _script(DOCS / "examples" / "generate.py")
    for name, text in generate.files().items():
        assert (DOCS / "examples" / name).read_text(encoding="utf-8") == text, name


def test_every_settings_field_is_on_the_configuration_page(gen: ModuleType) -> None:
    """Each section has its heading; each key is a row of its section's table."""
    page = (DOCS / "reference" / "configuration.md").read_text(encoding="utf-8")
    parts = re.split(r"^#{2,3} (.+)$", page, flags=re.MULTILINE)
    tables = {}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        found = re.search(r"`([^`]+)`\)?$", title)
        assert found is not None, title
        tables[found.group(1)] = set(re.findall(r"^\| `([^`]+)` \|", body, re.MULTILINE))
    rows = list(gen.settings_rows(Settings))
    assert {r.path for r in rows if r.section} == set(tables)
    for row in rows:
        assert row.description, row.path
        if row.section:
            continue
        assert row.example, row.path
        section = gen.parent(row.path)
        assert row.path.removeprefix(f"{section}.") in tables[section], row.path
    for name in Settings.model_fields:  # the top level: a section each
        assert name in tables, name
    assert "size" in tables["models.<model>.window"]  # nested keys are walked
    assert "<column>.method" in tables["models.<model>.drift.columns"]


def test_every_route_is_on_the_http_api_page(gen: ModuleType) -> None:
    page = (DOCS / "reference" / "http-api.md").read_text(encoding="utf-8")
    document = gen.openapi()
    for path, operations in document["paths"].items():
        for method in operations:
            assert f"### `{method.upper()} {path}`" in page, (method, path)
    for schema in document["components"]["schemas"]:
        assert f"### {schema} {{#{schema.lower()}}}" in page, schema
    # the routes the OpenAPI document did not have before issue 18 are there
    for route in ("POST /v1/cloudevents", "POST /v1/models/{model}/labels", "GET /metrics"):
        assert f"`{route}`" in page
