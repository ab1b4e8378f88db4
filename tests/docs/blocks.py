"""The fenced code blocks of the docs and the markers before them (the convention is in
``tests/docs/README.md``). Pure text in, typed values out: no I/O beyond reading the pages."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

SHELL = frozenset({"bash", "sh", "console", "shell"})
PYTHON = frozenset({"python", "py"})
YAML = frozenset({"yaml", "yml"})
JSON = frozenset({"json"})
#: languages that are shown, never run: output, diagrams, PromQL, JSON with comments
SHOWN = frozenset({"", "text", "mermaid", "promql", "jsonc", "ini", "toml", "dockerfile", "http"})

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")
MARKER = re.compile(
    r"^\s*<!--\s*(?P<kind>example-config|example-uses|no-test):\s*(?P<value>.*?)\s*-->\s*$"
)
#: the markers of tests/docs/test_security_page.py's own examples: transparent here
OTHER_MARKER = re.compile(r"^\s*<!--\s*example:\s*[\w-]+\s*-->\s*$")
NAME = re.compile(r"^[a-z][a-z0-9-]*$")
#: the address the examples are written for; a block that uses a sidecar gets its address
ADDRESS = "127.0.0.1:8000"


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    config: str | None = None  # example-config: NAME
    uses: str | None = None  # example-uses: NAME
    no_test: str | None = None  # no-test: REASON

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    """Every page of the docs, then README.md."""
    return [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` in order, with the marker on the last non-blank line
    before each. A marker not directly followed by a fence is an error."""
    lines = page.read_text(encoding="utf-8").split("\n")
    found: list[Block] = []
    pending: tuple[str, str, int] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if OTHER_MARKER.match(line):
            index += 1
            continue
        marker = MARKER.match(line)
        if marker:
            if pending is not None:
                raise ValueError(f"{page}:{pending[2]}: marker not followed by a code block")
            pending = (marker["kind"], marker["value"], index + 1)
            index += 1
            continue
        opening = FENCE.match(line)
        if opening is None:
            if line.strip() and pending is not None:
                raise ValueError(f"{page}:{pending[2]}: marker not followed by a code block")
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = opening["info"].strip().split(" ")[0].lower() if opening["info"] else ""
        body: list[str] = []
        index += 1
        while index < len(lines) and not (
            lines[index].strip().startswith(fence) and lines[index].strip().strip(fence[0]) == ""
        ):
            body.append(lines[index])
            index += 1
        code = textwrap.dedent("\n".join(line.removeprefix(indent) for line in body)) + "\n"
        kind, value = (pending[0], pending[1]) if pending else ("", "")
        if kind in ("example-config", "example-uses") and not NAME.match(value):
            raise ValueError(f"{page}:{pending[2] if pending else 0}: bad name {value!r}")
        if kind == "no-test" and not value:
            raise ValueError(f"{page}: no-test needs a reason")
        found.append(
            Block(
                page=page,
                line=index - len(body),
                language=language,
                code=code,
                config=value if kind == "example-config" else None,
                uses=value if kind == "example-uses" else None,
                no_test=value if kind == "no-test" else None,
            )
        )
        pending = None
        index += 1
    return found


def console_commands(code: str) -> str:
    """The commands of a console transcript: the lines after ``$ `` (with their ``\\``
    continuations); output lines are dropped."""
    commands: list[str] = []
    continuing = False
    for line in code.split("\n"):
        if line.startswith("$ "):
            commands.append(line[2:])
            continuing = line.endswith("\\")
        elif continuing:
            commands.append(line)
            continuing = line.endswith("\\")
    return "\n".join(commands) + "\n"
