"""Reading the configuration file: ``${VAR}`` / ``${VAR:-default}`` expansion, YAML parsing,
validation with every error named by its dotted path, and reference paths made absolute."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from drift.config.models import ModelConfig
from drift.config.settings import Settings
from drift.errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, environ: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error."""
    env = os.environ if environ is None else environ

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        line = text.count("\n", 0, match.start()) + 1
        raise ConfigError([(f"line {line}", f"environment variable {name} is not set")])

    return _ENV_REF.sub(repl, text)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def settings_from_mapping(data: Any, base_dir: Path | None = None) -> Settings:
    """Validate a parsed config; relative reference paths resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError([("(root)", "the configuration must be a mapping with a 'models' key")])
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = [(_dotted(err["loc"]), err["msg"]) for err in exc.errors()]
        raise ConfigError(problems) from None
    if base_dir is None:
        return settings
    models = {name: _resolve_paths(model, base_dir) for name, model in settings.models.items()}
    return settings.model_copy(update={"models": models})


def _resolve_paths(model: ModelConfig, base_dir: Path) -> ModelConfig:
    ref = model.reference
    update = {
        key: (base_dir / value).resolve()
        for key, value in (("path", ref.path), ("cache_dir", ref.cache_dir))
        if value is not None and not value.is_absolute()
    }
    return (
        model.model_copy(update={"reference": ref.model_copy(update=update)}) if update else model
    )


def load_settings(path: str | Path) -> Settings:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read the configuration: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(expand_env(text))
    except yaml.YAMLError as exc:
        raise ConfigError([(str(path), f"invalid YAML: {exc}")]) from None
    return settings_from_mapping(data, base_dir=path.parent)
