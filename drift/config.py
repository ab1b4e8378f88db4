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

from drift.config_collectors import (
    CloudEventsConfig,
    KServeConfig,
    PerformanceConfig,
    ReportingConfig,
    SeldonConfig,
)
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


class ClearMLReferenceConfig(_Strict):
    """A ClearML Dataset: by ``dataset_id``, or by ``project`` + ``name`` (latest finalized
    version unless ``version`` is given). Connection settings come from the standard
    ``CLEARML_*`` environment variables or ``clearml.conf``, never from this file."""

    dataset_id: str | None = Field(None, min_length=1, description="a dataset (task) id")
    project: str | None = Field(None, min_length=1, description="dataset project")
    name: str | None = Field(None, min_length=1, description="dataset name")
    version: str | None = Field(None, min_length=1, description="e.g. '1.2.0'; default: latest")
    tags: list[str] = Field(default_factory=list, description="the dataset must have all tags")
    alias: str | None = Field(
        None, description="passed to Dataset.get; ClearML records it on the current Task only"
    )
    only_published: bool = Field(False, description="only published (not just finalized)")
    files: str = Field("*", min_length=1, description="glob of the files to read, e.g. *.parquet")
    timeout_seconds: float = Field(10.0, gt=0, description="connect/read timeout per request")
    retries: int = Field(2, ge=0, le=20, description="HTTP retries per request (SDK default 240)")

    @model_validator(mode="after")
    def _one_selector(self) -> ClearMLReferenceConfig:
        if self.dataset_id is not None:
            extra = [k for k in ("project", "name", "version") if getattr(self, k) is not None]
            if extra or self.tags:
                raise ValueError(
                    f"dataset_id selects one dataset; remove {', '.join(extra or ['tags'])}"
                )
        elif self.project is None or self.name is None:
            raise ValueError("set dataset_id, or project and name")
        return self


class S3ReferenceConfig(_Strict):
    """An object (``s3://bucket/key``) or every object under a prefix (``s3://bucket/dir/``).
    Credentials: the standard AWS env vars, or ``credentials_file`` (a mounted AWS file)."""

    url: str = Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
    endpoint_url: str | None = Field(None, description="S3-compatible store, e.g. MinIO")
    region: str | None = None
    files: str = Field("*", min_length=1, description="glob of keys under a prefix url")
    credentials_file: Path | None = Field(None, description="AWS shared credentials file")
    profile: str | None = Field(None, description="profile in the credentials file")
    timeout_seconds: float = Field(10.0, gt=0)
    retries: int = Field(2, ge=0, le=20)


class ReferenceConfig(_Strict):
    """Where the reference (training) data comes from: exactly one of path, clearml, s3."""

    path: Path | None = Field(
        None, description="CSV or Parquet file; relative paths are relative to the config"
    )
    clearml: ClearMLReferenceConfig | None = None
    s3: S3ReferenceConfig | None = None
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="file format; 'auto' decides by the file extension"
    )
    retry_seconds: float = Field(
        30.0, gt=0, description="retry a failed load after this many seconds"
    )
    refresh_minutes: float | None = Field(
        None, gt=0, description="poll the source for a newer version this often (default: off)"
    )
    sample_rows: int | None = Field(
        None, gt=0, description="profile a deterministic sample of this many rows"
    )
    sample_seed: int = Field(0, ge=0, description="seed of the row sample")
    cache_dir: Path | None = Field(
        None,
        description="profile cache for clearml/s3 sources "
        "(default: /var/lib/drift-sidecar/cache if writable, else a temp dir)",
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ReferenceConfig:
        chosen = [k for k in ("path", "clearml", "s3") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "set exactly one of reference.path, reference.clearml, reference.s3"
                + (f" (got {', '.join(chosen)})" if chosen else "")
            )
        return self

    @property
    def kind(self) -> Literal["file", "clearml", "s3"]:
        return "clearml" if self.clearml else "s3" if self.s3 else "file"


class ColumnsConfig(_Strict):
    """Column roles. Feature types are inferred from the reference when a list is absent."""

    numerical: list[str] | None = None
    categorical: list[str] | None = None
    prediction: str | None = None
    prediction_type: Literal["auto", "numerical", "categorical"] = "auto"
    id: str | None = None
    timestamp: str | None = None
    target: str | None = Field(
        None, description="ground truth column: reference performance for delayed labels"
    )
    scores: dict[str, str] = Field(
        default_factory=dict,
        description="class label -> reference column with that class's probability "
        "(ROC AUC and log loss on the reference)",
    )
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
            ("target", [self.target] if self.target else []),
            ("scores", list(self.scores.values())),
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
    size: int = Field(
        1000,
        gt=0,
        le=10_000_000,
        description="samples kept per model (with duration_seconds: the memory cap)",
    )
    step: int = Field(100, gt=0, description="re-evaluate after this many new samples")
    min_samples: int | None = Field(
        None,
        gt=0,
        description="samples needed before the first evaluation (default: step); with "
        "duration_seconds, fewer samples in the window report insufficient_data",
    )
    duration_seconds: float | None = Field(
        None,
        gt=0,
        description="time window: only samples that arrived in the last this many seconds",
    )
    evaluate_every_seconds: float = Field(
        60.0, gt=0, description="time windows: also re-evaluate this often without new samples"
    )
    min_seconds_between_evaluations: float = Field(
        1.0,
        ge=0,
        description="at most one evaluation per this many seconds (0: after every step); a "
        "step reached sooner is evaluated when the time is up, so heavy traffic cannot spend "
        "the sidecar's CPU on evaluations instead of ingestion",
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


# alerting ------------------------------------------------------------------------------------

Severity = Literal["info", "warning", "critical"]
AlertKind = Literal["dataset", "prediction", "performance"]
_PLACEHOLDER = re.compile(r"^(changeme|change-me|xxx+|todo|placeholder|<.*>|\.\.\.)$", re.I)


def _no_placeholder(value: str | None, what: str) -> str | None:
    if value is not None and (not value.strip() or _PLACEHOLDER.match(value.strip())):
        raise ValueError(f"{what} looks like a placeholder ({value!r}); set the real secret")
    return value


def _all_kinds() -> list[AlertKind]:
    return ["dataset", "prediction", "performance"]


class SlackConfig(_Strict):
    """Slack: an incoming webhook, or a bot token and a channel."""

    enabled: bool = Field(True, description="false switches the channel off")
    webhook_url: str | None = Field(None, description="incoming webhook URL (secret: use ${VAR})")
    token: str | None = Field(None, description="bot token xoxb-... (secret: use ${VAR})")
    channel: str | None = Field(None, description="channel for the bot token, e.g. #ml-oncall")
    api_url: str = Field("https://slack.com/api/", description="Web API base URL (bot token mode)")
    timeout_seconds: float = Field(10.0, gt=0, description="HTTP timeout of one attempt")

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        _no_placeholder(value, "webhook_url")
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("webhook_url must be an http(s) URL")
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        return _no_placeholder(value, "token")

    @model_validator(mode="after")
    def _one_mode(self) -> SlackConfig:
        if self.webhook_url is not None and self.token is not None:
            raise ValueError("set either webhook_url or token + channel, not both")
        if self.webhook_url is None and self.token is None:
            raise ValueError("set webhook_url, or token and channel")
        if self.token is not None and not self.channel:
            raise ValueError("channel is required with token")
        return self


class KafkaConfig(_Strict):
    """Kafka producer settings (confluent-kafka / librdkafka property names in ``extra``)."""

    enabled: bool = Field(True, description="false switches the channel off")
    bootstrap_servers: str = Field(min_length=1, description="host:port[,host:port...]")
    topic: str = Field("drift-alerts", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    acks: Literal["all", "-1", "0", "1"] = Field("all", description="producer acks")
    client_id: str = "drift-sidecar"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: str | None = Field(None, description="secret: use ${VAR}")
    ssl_ca_location: str | None = Field(None, description="CA bundle file (PEM)")
    ssl_certificate_location: str | None = Field(None, description="client certificate (PEM)")
    ssl_key_location: str | None = Field(None, description="client key (PEM)")
    message_timeout_seconds: float = Field(
        10.0, gt=0, description="one delivery attempt gives up after this long"
    )
    extra: dict[str, str] = Field(
        default_factory=dict, description="more librdkafka producer properties"
    )

    @field_validator("acks", mode="before")
    @classmethod
    def _acks_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("sasl_password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        return _no_placeholder(value, "sasl_password")

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaConfig:
        if self.security_protocol.startswith("SASL_"):
            missing = [
                name
                for name in ("sasl_mechanism", "sasl_username", "sasl_password")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"{self.security_protocol} needs {', '.join(missing)}")
        return self


class DeliveryConfig(_Strict):
    """Per-sink queue and retry policy: exponential backoff with jitter, then a maximum age."""

    queue_size: int = Field(1000, gt=0, description="notifications waiting per sink")
    initial_backoff_seconds: float = Field(1.0, gt=0)
    max_backoff_seconds: float = Field(60.0, gt=0)
    multiplier: float = Field(2.0, ge=1)
    jitter: float = Field(0.2, ge=0, le=1, description="+- this fraction of each delay")
    max_age_seconds: float = Field(
        3600.0, gt=0, description="a notification not delivered by then is dropped and counted"
    )


class ChannelSwitch(_Strict):
    enabled: bool = True


class AlertsConfig(_Strict):
    """Native alerting: a state machine per (model, kind) and the sinks it notifies."""

    native: bool = Field(
        True, description="evaluate alerts in the sidecar (false: only forward Alertmanager's)"
    )
    kinds: list[AlertKind] = Field(default_factory=_all_kinds, description="what alerts fire on")
    fire_after: int = Field(3, ge=1, description="consecutive drifted evaluations to fire")
    resolve_after: int = Field(3, ge=1, description="consecutive clean evaluations to resolve")
    repeat_interval_seconds: float = Field(
        4 * 3600.0, ge=0, description="re-send a still-firing alert after this long (0: never)"
    )
    severity: Severity = "warning"
    top_columns: int = Field(5, ge=1, le=50, description="drifted columns named per message")
    grafana_url: str | None = Field(None, description="dashboard link; {model} is replaced")
    report_url: str | None = Field(
        None, description="report link, e.g. https://host/v1/models/{model}/report"
    )
    slack: SlackConfig | None = None
    kafka: KafkaConfig | None = None
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)


class ModelAlertsConfig(_Strict):
    """Per-model overrides; unset keys inherit the top-level ``alerts`` section."""

    enabled: bool = Field(True, description="false: no native alerts for this model")
    kinds: list[AlertKind] | None = None
    fire_after: int | None = Field(None, ge=1)
    resolve_after: int | None = Field(None, ge=1)
    repeat_interval_seconds: float | None = Field(None, ge=0)
    severity: Severity | None = None
    top_columns: int | None = Field(None, ge=1, le=50)
    grafana_url: str | None = None
    report_url: str | None = None
    slack: ChannelSwitch = Field(default_factory=ChannelSwitch)
    kafka: ChannelSwitch = Field(default_factory=ChannelSwitch)


class ModelConfig(_Strict):
    reference: ReferenceConfig
    version: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="model version, exported as the version label of drift_model_info",
    )
    kserve: KServeConfig | None = Field(None, description="accept KServe payload logger events")
    seldon: SeldonConfig | None = Field(None, description="accept Seldon request logger events")
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    alerts: ModelAlertsConfig = Field(
        default_factory=ModelAlertsConfig,
        description="per-model overrides of the top-level alerts section",
    )


class ServerConfig(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(8000, gt=0, lt=65536)
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0, description="larger bodies get 413")
    max_samples_per_request: int = Field(100_000, gt=0)
    evaluation_cpu_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="the evaluator thread's share of one core at most: after an evaluation "
        "that took t seconds, the next one (of any model) starts t / share after it began; "
        "evaluations postponed so are merged, never dropped",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(BaseSettings):
    """The whole configuration. Env vars ``DRIFT_<SECTION>__<KEY>`` override the YAML file."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    server: ServerConfig = Field(default_factory=ServerConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    cloudevents: CloudEventsConfig = Field(default_factory=CloudEventsConfig)
    reporting: ReportingConfig = Field(default_factory=ReportingConfig)
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

    @model_validator(mode="after")
    def _collectors_unique(self) -> Settings:
        """Each KServe / Seldon service name (and namespace) feeds exactly one model."""
        claimed: dict[tuple[str, str, str | None], str] = {}
        for name, model in self.models.items():
            keys: list[tuple[str, str, str | None]] = []
            if model.kserve is not None:
                service = model.kserve.inference_service or name
                keys.append(("kserve", service, model.kserve.namespace))
            if model.seldon is not None:
                service = model.seldon.deployment or name
                keys.append(("seldon", service, model.seldon.namespace))
            for key in keys:
                if key in claimed:
                    raise ValueError(
                        f"models {claimed[key]!r} and {name!r} both take {key[0]} events of "
                        f"{key[1]!r}" + (f" in namespace {key[2]!r}" if key[2] else "")
                    )
                claimed[key] = name
        return self

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
