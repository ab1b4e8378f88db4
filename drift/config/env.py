"""``${VAR}`` and ``${VAR:-default}`` in the configuration file, expanded after YAML parsing.

A reference is replaced in the string value it stands in, never in the YAML text: the type of a
value comes from the YAML (a reference always yields a string, which the settings model then
validates as a port, a flag, ...), a variable's content is never parsed as YAML (a ``#``, a
newline, ``0123`` or ``yes`` inside it stay what they are), and a reference in a comment is
ignored. References also work in flow style (``{token: ${TOKEN}}``), where ``{`` and ``}``
would otherwise end the mapping. Keys are not expanded.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from typing import Any

import yaml

from drift.errors import ConfigError

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _resolve(ref: re.Match[str], env: Mapping[str, str], where: str) -> str:
    name, default = ref.group(1), ref.group(2)
    if name in env:
        return env[name]
    if default is not None:
        return default
    raise ConfigError([(where, f"environment variable {name} is not set")])


def expand_env(value: str, environ: Mapping[str, str] | None = None, where: str = "") -> str:
    """``value`` with every ``${VAR}`` / ``${VAR:-default}`` replaced; an unset variable without
    a default is a ``ConfigError`` naming ``where`` (the dotted path of the value)."""
    env = os.environ if environ is None else environ
    return ENV_REF.sub(lambda ref: _resolve(ref, env, where or "(value)"), value)


def dotted_path(path: tuple[str | int, ...]) -> str:
    """``models.m.columns[0]``: where a value is, for error messages."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(root)"


def load_yaml(text: str, environ: Mapping[str, str] | None = None) -> Any:
    """Parse ``text`` as YAML, then expand the references in its string values.

    Each reference is swapped for a marker that YAML reads as plain text (a random nonce makes
    it unique to this call) before parsing; after parsing, markers in string values are replaced
    by the variable's value and markers in keys get their reference text back.
    """
    env = os.environ if environ is None else environ
    nonce = secrets.token_hex(8)
    refs: list[re.Match[str]] = []

    def mark(ref: re.Match[str]) -> str:
        refs.append(ref)
        return f"__drift_env_{nonce}_{len(refs) - 1}__"

    marker = re.compile(rf"__drift_env_{nonce}_(\d+)__")
    data = yaml.safe_load(ENV_REF.sub(mark, text))

    def key(value: Any) -> Any:
        if isinstance(value, str):
            return marker.sub(lambda m: refs[int(m.group(1))].group(0), value)
        return value

    def walk(node: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(node, dict):
            return {key(k): walk(v, (*path, str(key(k)))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(item, (*path, i)) for i, item in enumerate(node)]
        if isinstance(node, str):
            where = dotted_path(path)
            return marker.sub(lambda m: _resolve(refs[int(m.group(1))], env, where), node)
        return node

    return walk(data, ())
