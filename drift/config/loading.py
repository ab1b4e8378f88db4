"""Reading the configuration file: YAML parsing with ``${VAR}`` expansion in values
(``drift.config.env``), validation with every error named by its dotted path, and reference
paths made absolute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from drift.config.env import dotted_path, load_yaml
from drift.config.models import ModelConfig
from drift.config.settings import Settings
from drift.errors import ConfigError


def settings_from_mapping(data: Any, base_dir: Path | None = None) -> Settings:
    """Validate a parsed config; relative reference paths resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError([("(root)", "the configuration must be a mapping with a 'models' key")])
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = [(dotted_path(err["loc"]), err["msg"]) for err in exc.errors()]
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


def read_config(path: str | Path) -> Any:
    """The parsed file with ``${VAR}`` references expanded; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read the configuration: {exc.strerror}")]) from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError([(str(path), f"invalid YAML: {exc}")]) from None


def load_settings(path: str | Path) -> Settings:
    path = Path(path)
    return settings_from_mapping(read_config(path), base_dir=path.parent)
