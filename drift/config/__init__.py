"""The settings model: one YAML document (``${VAR}`` expanded), overridable by ``DRIFT_*``
environment variables, validated at start-up with every error named by its dotted path.

One module per concern: ``models`` (reference, window, the per-model section), ``alerts``
(native alerting, Slack, Kafka, delivery), ``auth`` (bearer tokens per route class),
``collectors`` (KServe/Seldon, CloudEvents, performance, reporting), ``settings`` (server,
``Settings``), ``env`` (``${VAR}`` expansion after parsing), ``loading`` (reading the file),
``secrets`` (the values to redact), ``state`` (snapshots that survive a restart), ``fleet``
(the Kafka roles). The column roles and drift options are ``drift.core.options``, re-exported
here.

May import: ``drift.core`` (option models, method and metric names) and ``drift.errors``.
"""

from drift.config.alerts import (
    AlertKind,
    AlertsConfig,
    ChannelSwitch,
    DeliveryConfig,
    KafkaConfig,
    ModelAlertsConfig,
    Severity,
    SlackConfig,
)
from drift.config.auth import AuthConfig, TokenConfig
from drift.config.collectors import (
    ClearMLReportingConfig,
    CloudEventsConfig,
    KServeConfig,
    PerformanceAlertConfig,
    PerformanceConfig,
    ReportingConfig,
    SeldonConfig,
)
from drift.config.env import expand_env, load_yaml
from drift.config.fleet import FleetConfig
from drift.config.loading import load_settings, read_config, settings_from_mapping
from drift.config.models import (
    ClearMLReferenceConfig,
    ModelConfig,
    ReferenceConfig,
    S3ReferenceConfig,
    WindowConfig,
)
from drift.config.settings import MODEL_NAME, ServerConfig, Settings
from drift.config.state import StateConfig
from drift.core.options import ColumnsConfig, DriftConfig, MethodChoice

__all__ = [
    "MODEL_NAME",
    "AlertKind",
    "AlertsConfig",
    "AuthConfig",
    "ChannelSwitch",
    "ClearMLReferenceConfig",
    "ClearMLReportingConfig",
    "CloudEventsConfig",
    "ColumnsConfig",
    "DeliveryConfig",
    "DriftConfig",
    "FleetConfig",
    "KServeConfig",
    "KafkaConfig",
    "MethodChoice",
    "ModelAlertsConfig",
    "ModelConfig",
    "PerformanceAlertConfig",
    "PerformanceConfig",
    "ReferenceConfig",
    "ReportingConfig",
    "S3ReferenceConfig",
    "SeldonConfig",
    "ServerConfig",
    "Settings",
    "Severity",
    "SlackConfig",
    "StateConfig",
    "TokenConfig",
    "WindowConfig",
    "expand_env",
    "load_settings",
    "load_yaml",
    "read_config",
    "settings_from_mapping",
]
