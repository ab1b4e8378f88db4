"""The whole configuration: the server section and ``Settings``, which groups the server,
alerting, collectors, reporting and the models. Env vars ``DRIFT_<SECTION>__<KEY>`` override the
YAML file."""

from __future__ import annotations

import re
import ssl
from typing import Literal

from pydantic import Field, FilePath, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from drift.config.alerts import AlertsConfig
from drift.config.auth import AuthConfig
from drift.config.collectors import CloudEventsConfig, ReportingConfig
from drift.config.fleet import FleetConfig
from drift.config.models import ModelConfig
from drift.config.state import StateConfig
from drift.core.options import StrictModel

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class TLSConfig(StrictModel):
    """``server.tls``: PEM files, e.g. the ``tls.crt`` and ``tls.key`` of a mounted
    ``kubernetes.io/tls`` Secret; loaded once here so that a bad pair fails at start-up."""

    cert_file: FilePath = Field(description="certificate chain, the server's certificate first")
    key_file: FilePath = Field(description="its private key (not encrypted)")

    @model_validator(mode="after")
    def _pair_loads(self) -> TLSConfig:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:  # an empty password: an encrypted key fails here instead of prompting for one
            context.load_cert_chain(self.cert_file, self.key_file, password=b"")
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(
                f"cannot use cert_file {self.cert_file} with key_file {self.key_file}: {exc}"
            ) from None
        return self


class ServerConfig(StrictModel):
    host: str = Field(
        "0.0.0.0",
        description="listen address (`serve --host` wins); `127.0.0.1` in a pod, see Security",
    )
    port: int = Field(8000, gt=0, lt=65536, description="listen port (`serve --port` wins)")
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0, description="larger bodies get 413")
    max_samples_per_request: int = Field(
        100_000,
        gt=0,
        description="more samples (or labels) in one request get 413 (too_many_samples)",
    )
    max_inflight_bytes: int = Field(
        64 * 1024 * 1024,
        gt=0,
        description="request bodies being read at once, in bytes, for the whole process (at "
        "least max_body_bytes); a request whose body does not fit what is left gets 503 with "
        "Retry-After (overloaded)",
    )
    max_value_bytes: int = Field(
        256,
        ge=16,
        le=65_536,
        description="longest categorical value, categorical prediction, sample id and label "
        "(and class name of scores) in UTF-8 bytes; a sample or label with a longer one is "
        "rejected (too_long) and its neighbours kept. Bounds the bytes of the windows' "
        "vocabularies and of the label join",
    )
    evaluation_cpu_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="the evaluator thread's share of one core at most: after an evaluation "
        "that took t seconds, the next one (of any model) starts t / share after it began; "
        "evaluations postponed so are merged, never dropped",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="log level of the sidecar's own log"
    )
    shutdown_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="budget of a stop (SIGTERM): evaluator and threads end, then the alert "
        "queues are delivered until empty or the budget is spent; notifications not delivered "
        "by then are kept for the next start with state configured, else dropped and counted "
        "(drift_alert_queue_dropped_total{reason=shutdown})",
    )
    auth: AuthConfig | None = Field(
        None, description="bearer tokens per route class (absent: no authentication)"
    )
    request_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="a request's headers and body must all arrive within this many seconds of "
        "its first byte; a slower client gets 408 and its connection is closed, counted in "
        "drift_requests_rejected_total{reason=timeout}. Idle connections (a new one that sends "
        "nothing, a keep-alive one between requests) close after 5 s",
    )
    tls: TLSConfig | None = Field(None, description="HTTPS on every port (absent: plain HTTP)")
    metrics_port: int | None = Field(
        None,
        gt=0,
        lt=65536,
        description="a second port for GET /metrics, /healthz and /readyz only (everything "
        "else 404), on metrics_host: for Prometheus and the kubelet's probes while host is "
        "127.0.0.1 (absent: no second port)",
    )
    metrics_host: str = Field("0.0.0.0", description="listen address of metrics_port")
    fast_path: bool = Field(
        True,
        description="answer the CloudEvents routes inside uvicorn's HTTP protocol "
        "(drift/service/fastpath.py, ~1.5x the throughput); false: through ASGI",
    )

    @model_validator(mode="after")
    def _inflight_holds_a_body(self) -> ServerConfig:
        if self.max_inflight_bytes < self.max_body_bytes:
            raise ValueError(
                f"max_inflight_bytes ({self.max_inflight_bytes}) must be at least "
                f"max_body_bytes ({self.max_body_bytes}), or no large body could be read"
            )
        return self

    @model_validator(mode="after")
    def _ports_differ(self) -> ServerConfig:
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError(f"metrics_port must differ from port ({self.port})")
        return self


class Settings(BaseSettings):
    """The whole configuration. Env vars ``DRIFT_<SECTION>__<KEY>`` override the YAML file."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    server: ServerConfig = Field(
        default_factory=ServerConfig,
        description="the HTTP server: listen addresses, request limits, TLS, authentication",
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig,
        description="native alerts (Slack, Kafka) and the Alertmanager webhook; see Alerts",
    )
    cloudevents: CloudEventsConfig = Field(
        default_factory=CloudEventsConfig,
        description="pairing of the KServe / Seldon CloudEvents halves (all models)",
    )
    reporting: ReportingConfig = Field(
        default_factory=ReportingConfig, description="reporting evaluations to other systems"
    )
    state: StateConfig | None = Field(
        None,
        description="snapshots that survive a restart (absent: a restart starts every model empty)",
    )
    fleet: FleetConfig | None = Field(
        None, description="shipper or aggregator in a fleet on Kafka (absent: stand-alone)"
    )
    models: dict[str, ModelConfig] = Field(
        description="the monitored models by name (`[A-Za-z0-9][A-Za-z0-9_.-]*`: used in URLs "
        "and in the `model` label); at least one"
    )

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
    def _fleet_without_local_windows(self) -> Settings:
        if self.fleet is not None and self.fleet.role == "aggregator" and self.state is not None:
            raise ValueError(
                "state: an aggregator rebuilds its windows from Kafka (fleet.state_topic and the "
                "committed offsets); remove the state section from its configuration"
            )
        return self

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
