"""Alerting settings: the native state machine's defaults, Slack, Kafka, delivery retries,
and the per-model overrides. Secrets are expected as ``${VAR}`` references; placeholders are
refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from drift.core.options import StrictModel

Severity = Literal["info", "warning", "critical"]
AlertKind = Literal["dataset", "prediction", "performance", "estimated_performance", "multivariate"]
_PLACEHOLDER = re.compile(r"^(changeme|change-me|xxx+|todo|placeholder|<.*>|\.\.\.)$", re.I)


def secrets_from_files(data: Any, fields: tuple[str, ...]) -> Any:
    """``<field>_file: /path`` for each secret ``field``: the file's content (a mounted
    Kubernetes Secret), trailing whitespace stripped. Setting both forms is an error."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for field in fields:
        path = data.pop(f"{field}_file", None)
        if path is None:
            continue
        if data.get(field) is not None:
            raise ValueError(f"set {field} or {field}_file, not both")
        try:
            data[field] = Path(path).read_text(encoding="utf-8").rstrip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{field}_file {path}: cannot read it ({exc})") from None
    return data


def _no_placeholder(value: str | None, what: str) -> str | None:
    if value is not None and (not value.strip() or _PLACEHOLDER.match(value.strip())):
        raise ValueError(f"{what} looks like a placeholder ({value!r}); set the real secret")
    return value


def _all_kinds() -> list[AlertKind]:
    return ["dataset", "prediction", "performance", "estimated_performance", "multivariate"]


class SlackConfig(StrictModel):
    """Slack: an incoming webhook, or a bot token and a channel. ``webhook_url_file`` and
    ``token_file`` read the secret from a file instead (a mounted Secret)."""

    enabled: bool = Field(True, description="false switches the channel off")
    webhook_url: str | None = Field(None, description="incoming webhook URL (secret: use ${VAR})")
    token: str | None = Field(None, description="bot token xoxb-... (secret: use ${VAR})")
    channel: str | None = Field(None, description="channel for the bot token, e.g. #ml-oncall")
    api_url: str = Field("https://slack.com/api/", description="Web API base URL (bot token mode)")
    timeout_seconds: float = Field(10.0, gt=0, description="HTTP timeout of one attempt")

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        return secrets_from_files(data, ("webhook_url", "token"))

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


class KafkaConfig(StrictModel):
    """Kafka producer settings (confluent-kafka / librdkafka property names in ``extra``);
    ``sasl_password_file`` reads the password from a file instead."""

    enabled: bool = Field(True, description="false switches the channel off")
    bootstrap_servers: str = Field(min_length=1, description="host:port[,host:port...]")
    topic: str = Field(
        "drift-alerts",
        pattern=r"^[A-Za-z0-9._-]{1,249}$",
        description="topic of the alert events",
    )
    acks: Literal["all", "-1", "0", "1"] = Field("all", description="producer acks")
    client_id: str = Field("drift-sidecar", description="librdkafka `client.id`")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="librdkafka `security.protocol`"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="librdkafka `sasl.mechanism` (required with SASL_*)"
    )
    sasl_username: str | None = Field(None, description="SASL user name")
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

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        return secrets_from_files(data, ("sasl_password",))

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


class DeliveryConfig(StrictModel):
    """Per-sink queue and retry policy: exponential backoff with jitter, then a maximum age."""

    queue_size: int = Field(1000, gt=0, description="notifications waiting per sink")
    queue_bytes: int = Field(
        16 * 1024 * 1024,
        ge=64 * 1024,
        description="approximate bytes of the notifications waiting per sink; past it the "
        "oldest are dropped and counted",
    )
    initial_backoff_seconds: float = Field(1.0, gt=0, description="first retry delay")
    max_backoff_seconds: float = Field(60.0, gt=0, description="longest retry delay")
    multiplier: float = Field(
        2.0, ge=1, description="each retry delay is the previous one times this"
    )
    jitter: float = Field(0.2, ge=0, le=1, description="+- this fraction of each delay")
    max_age_seconds: float = Field(
        3600.0, gt=0, description="a notification not delivered by then is dropped and counted"
    )


class AlertmanagerConfig(StrictModel):
    """What ``POST /v1/alertmanager`` lets through: a token bucket per Alertmanager receiver
    (the payload's ``receiver`` field)."""

    max_per_minute: float = Field(
        60.0,
        gt=0,
        description="forwarded alerts per receiver per minute (the bucket's refill; 60: Slack's "
        "one message per second)",
    )
    burst: int | None = Field(
        None,
        ge=1,
        description="alerts a receiver may send at once (the bucket's size; default: "
        "max_per_minute rounded up)",
    )
    max_receivers: int = Field(
        4,
        ge=1,
        le=1000,
        description="receiver names with a bucket of their own; further names share one bucket "
        "(the receiver field is whatever the sender writes)",
    )


class ChannelSwitch(StrictModel):
    enabled: bool = Field(True, description="false: this model's notifications skip this channel")


class AlertsConfig(StrictModel):
    """Native alerting: a state machine per (model, kind) and the sinks it notifies."""

    native: bool = Field(
        True, description="evaluate alerts in the sidecar (false: only forward Alertmanager's)"
    )
    kinds: list[AlertKind] = Field(
        default_factory=_all_kinds,
        description="what alerts fire on: dataset drift, prediction drift, performance from "
        "delayed labels (performance.alert), estimated performance and multivariate drift "
        "(a model's estimation section)",
    )
    fire_after: int = Field(3, ge=1, description="consecutive drifted evaluations to fire")
    resolve_after: int = Field(3, ge=1, description="consecutive clean evaluations to resolve")
    repeat_interval_seconds: float = Field(
        4 * 3600.0, ge=0, description="re-send a still-firing alert after this long (0: never)"
    )
    severity: Severity = Field("warning", description="severity of the native alerts")
    top_columns: int = Field(5, ge=1, le=50, description="drifted columns named per message")
    grafana_url: str | None = Field(None, description="dashboard link; {model} is replaced")
    report_url: str | None = Field(
        None, description="report link, e.g. https://host/v1/models/{model}/report"
    )
    runbook_base_url: str | None = Field(
        None,
        description="where runbook links may point: an absolute runbook_url annotation must be "
        "under it, a relative one (the shipped rules' docs/runbook.md#...) is resolved against "
        "it; other links are dropped",
    )
    max_text_bytes: int = Field(
        4096,
        ge=256,
        le=1024 * 1024,
        description="summary, description, names and other texts of a notification are cut to "
        "this many UTF-8 bytes, marked '… (truncated)' (label values to 1 KiB at most)",
    )
    max_labels: int = Field(
        32, ge=0, le=1000, description="Alertmanager labels kept per notification (by name)"
    )
    slack: SlackConfig | None = Field(
        None,
        description="Slack channel: an incoming webhook, or a bot token and a channel "
        "(`webhook_url_file`, `token_file`: read the secret from a file)",
    )
    kafka: KafkaConfig | None = Field(
        None,
        description="Kafka channel: one JSON event per notification "
        "(`sasl_password_file`: read the password from a file)",
    )
    delivery: DeliveryConfig = Field(
        default_factory=DeliveryConfig,
        description="per sink: the bounded queue and the retry policy",
    )
    alertmanager: AlertmanagerConfig = Field(
        default_factory=AlertmanagerConfig,
        description="what `POST /v1/alertmanager` forwards: rate limits per receiver",
    )

    @field_validator("runbook_base_url")
    @classmethod
    def _runbook_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("runbook_base_url must be an absolute http(s) URL")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("runbook_base_url takes no query, fragment or credentials")
        return value

    @model_validator(mode="after")
    def _queue_holds_a_notification(self) -> AlertsConfig:
        # a notification holds a few texts of max_text_bytes (2 bytes a character once cut)
        if self.delivery.queue_bytes < 8 * self.max_text_bytes:
            raise ValueError(
                f"delivery.queue_bytes ({self.delivery.queue_bytes}) must be at least 8 x "
                f"max_text_bytes ({self.max_text_bytes}), or large notifications are dropped "
                "as soon as they are queued"
            )
        return self


class ModelAlertsConfig(StrictModel):
    """Per-model overrides; unset keys inherit the top-level ``alerts`` section."""

    enabled: bool = Field(True, description="false: no native alerts for this model")
    kinds: list[AlertKind] | None = Field(
        None, description="overrides `alerts.kinds` for this model"
    )
    fire_after: int | None = Field(None, ge=1, description="overrides `alerts.fire_after`")
    resolve_after: int | None = Field(None, ge=1, description="overrides `alerts.resolve_after`")
    repeat_interval_seconds: float | None = Field(
        None, ge=0, description="overrides `alerts.repeat_interval_seconds`"
    )
    severity: Severity | None = Field(None, description="overrides `alerts.severity`")
    top_columns: int | None = Field(None, ge=1, le=50, description="overrides `alerts.top_columns`")
    grafana_url: str | None = Field(None, description="overrides `alerts.grafana_url`")
    report_url: str | None = Field(None, description="overrides `alerts.report_url`")
    slack: ChannelSwitch = Field(
        default_factory=ChannelSwitch, description="this model's notifications to Slack"
    )
    kafka: ChannelSwitch = Field(
        default_factory=ChannelSwitch, description="this model's notifications to Kafka"
    )
