"""The configuration file: one YAML document, overridable by ``DRIFT_*`` environment variables.

Every model is validated at start-up; errors name the dotted path of the offending field.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from drift.errors import ConfigError
from drift.stattests import METHODS

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _check_method(value: str | None) -> str | None:
    if value is not None and value not in METHODS:
        raise ValueError(f"unknown method {value!r}; known: {', '.join(sorted(METHODS))}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferenceConfig(_Strict):
    """Where the reference (training) data comes from. Only local files for now."""

    path: Path = Field(description="CSV or Parquet file; relative paths are relative to the config")
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="file format; 'auto' decides by the file extension"
    )
    retry_seconds: float = Field(
        30.0, gt=0, description="retry a failed load after this many seconds"
    )


class ColumnsConfig(_Strict):
    """Column roles. Feature types are inferred from the reference when a list is absent."""

    numerical: list[str] | None = None
    categorical: list[str] | None = None
    prediction: str | None = None
    prediction_type: Literal["auto", "numerical", "categorical"] = "auto"
    id: str | None = None
    timestamp: str | None = None
    exclude: list[str] = Field(default_factory=list, description="columns never monitored")

    @model_validator(mode="after")
    def _roles_disjoint(self) -> ColumnsConfig:
        seen: dict[str, str] = {}
        roles: list[tuple[str, list[str]]] = [
            ("numerical", self.numerical or []),
            ("categorical", self.categorical or []),
            ("prediction", [self.prediction] if self.prediction else []),
            ("id", [self.id] if self.id else []),
            ("timestamp", [self.timestamp] if self.timestamp else []),
        ]
        for role, names in roles:
            for name in names:
                if name in seen:
                    raise ValueError(
                        f"column {name!r} is listed both as {seen[name]} and as {role}"
                    )
                seen[name] = role
        return self


class WindowConfig(_Strict):
    size: int = Field(1000, gt=0, le=10_000_000, description="samples kept per model")
    step: int = Field(100, gt=0, description="re-evaluate after this many new samples")
    min_samples: int | None = Field(
        None, gt=0, description="samples needed before the first evaluation (default: step)"
    )

    @model_validator(mode="after")
    def _step_le_size(self) -> WindowConfig:
        if self.step > self.size:
            raise ValueError(f"step ({self.step}) must not exceed size ({self.size})")
        if self.min_samples is not None and self.min_samples > self.size:
            raise ValueError(f"min_samples ({self.min_samples}) must not exceed size ({self.size})")
        return self

    @property
    def first_evaluation_after(self) -> int:
        return self.min_samples if self.min_samples is not None else self.step


class MethodChoice(_Strict):
    """A stat test (evidently identifier) and/or its threshold; unset parts use the defaults."""

    method: str | None = None
    threshold: float | None = Field(None, gt=0)

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        return _check_method(value)


class DriftConfig(_Strict):
    share_threshold: float = Field(
        0.5, gt=0, le=1, description="dataset drift when this share of columns drifted"
    )
    method: str | None = Field(None, description="method for every column (evidently `method`)")
    threshold: float | None = Field(None, gt=0)
    numerical: MethodChoice = Field(default_factory=MethodChoice)
    categorical: MethodChoice = Field(default_factory=MethodChoice)
    columns: dict[str, MethodChoice] = Field(default_factory=dict)
    max_categories: int = Field(
        10_000,
        ge=2,
        description="categories kept per column (reference: the most frequent; window: this "
        "many unseen ones more); the rest count as one '__other__' category",
    )
    correction: Literal["none", "bonferroni", "benjamini_hochberg"] = Field(
        "none", description="multiple-testing correction of p-value tests across feature columns"
    )

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        return _check_method(value)


class ModelConfig(_Strict):
    reference: ReferenceConfig
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)


class ServerConfig(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(8000, gt=0, lt=65536)
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0, description="larger bodies get 413")
    max_samples_per_request: int = Field(100_000, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(BaseSettings):
    """The whole configuration. Env vars ``DRIFT_<SECTION>__<KEY>`` override the YAML file."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    server: ServerConfig = Field(default_factory=ServerConfig)
    models: dict[str, ModelConfig]

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        if not value:
            raise ValueError("at least one model is required")
        for name in value:
            if not MODEL_NAME.match(name):
                raise ValueError(
                    f"model name {name!r} must match {MODEL_NAME.pattern} (used in URLs and labels)"
                )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # environment first: it overrides what the YAML file (passed as init kwargs) says
        return env_settings, init_settings, file_secret_settings


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
    models = {
        name: model.model_copy(
            update={
                "reference": model.reference.model_copy(
                    update={"path": (base_dir / model.reference.path).resolve()}
                )
            }
        )
        if not model.reference.path.is_absolute()
        else model
        for name, model in settings.models.items()
    }
    return settings.model_copy(update={"models": models})


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
