"""The effective alerting settings of one model: the top-level ``alerts`` section with the
model's ``alerts`` overrides applied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from drift.config import AlertsConfig, ModelAlertsConfig, Settings

_T = TypeVar("_T")


@dataclass(frozen=True)
class AlertPolicy:
    model: str
    native: bool  # the sidecar's own state machine runs for this model
    kinds: tuple[str, ...]
    fire_after: int
    resolve_after: int
    repeat_interval: float
    severity: str
    top_columns: int
    grafana_url: str | None
    report_url: str | None
    muted: frozenset[str]  # channels switched off for this model

    def wants(self, channel: str) -> bool:
        return channel not in self.muted

    def link(self, template: str | None) -> str | None:
        """``template`` with ``{model}`` replaced by the URL-encoded model name."""
        if template is None:
            return None
        return template.replace("{model}", quote(self.model, safe=""))


def resolve_policy(model: str, alerts: AlertsConfig, override: ModelAlertsConfig) -> AlertPolicy:
    def pick(own: _T | None, inherited: _T) -> _T:
        return inherited if own is None else own

    switches = {"slack": override.slack.enabled, "kafka": override.kafka.enabled}
    return AlertPolicy(
        model=model,
        native=alerts.native and override.enabled,
        kinds=tuple(pick(override.kinds, alerts.kinds)),
        fire_after=pick(override.fire_after, alerts.fire_after),
        resolve_after=pick(override.resolve_after, alerts.resolve_after),
        repeat_interval=pick(override.repeat_interval_seconds, alerts.repeat_interval_seconds),
        severity=pick(override.severity, alerts.severity),
        top_columns=pick(override.top_columns, alerts.top_columns),
        grafana_url=pick(override.grafana_url, alerts.grafana_url),
        report_url=pick(override.report_url, alerts.report_url),
        muted=frozenset(channel for channel, on in switches.items() if not on),
    )


def policies(settings: Settings) -> dict[str, AlertPolicy]:
    return {
        name: resolve_policy(name, settings.alerts, model.alerts)
        for name, model in settings.models.items()
    }
