"""Alertmanager's webhook payload (version 4) and its conversion to notifications.

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config documents the
payload. Unknown keys are ignored (Alertmanager may add some); a payload of another version
is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drift.alerting.notification import ColumnScore, Notification, Source, Status
from drift.alerting.policy import AlertPolicy


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class AlertmanagerAlert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = Field(min_length=1)


class AlertmanagerPayload(_Lenient):
    version: Literal["4"]
    group_key: str = Field("", alias="groupKey")
    truncated_alerts: int = Field(0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field("", alias="externalURL")
    alerts: list[AlertmanagerAlert]


def _timestamp(value: datetime | None) -> float | None:
    # Alertmanager sends endsAt 0001-01-01T00:00:00Z for alerts still firing
    if value is None or value.year < 1971:
        return None
    return value.timestamp()


def to_notification(
    alert: AlertmanagerAlert,
    now: float,
    policy: AlertPolicy | None,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> Notification:
    """One Alertmanager alert as a notification; ``policy``: the alert's model's, if it is
    one of ours (it gives the dashboard and report links)."""
    labels = alert.labels
    model = labels.get("model")
    column = labels.get("column")
    started = _timestamp(alert.starts_at)
    return Notification(
        event_id=new_id(),
        alert_id=alert.fingerprint,
        status=Status(alert.status),
        source=Source.ALERTMANAGER,
        kind=labels.get("alertname", "unnamed"),
        model=model,
        severity=labels.get("severity", "warning"),
        summary=alert.annotations.get("summary") or labels.get("alertname", "alert"),
        description=alert.annotations.get("description"),
        runbook_url=alert.annotations.get("runbook_url"),
        started_at=started if started is not None else now,
        timestamp=now,
        columns=(ColumnScore(column, None, None, None, True),) if column else (),
        grafana_url=None if policy is None else policy.link(policy.grafana_url),
        report_url=None if policy is None else policy.link(policy.report_url),
        labels=tuple(sorted(labels.items())),
    )


def notifications(
    payload: AlertmanagerPayload,
    now: float,
    policies: Mapping[str, AlertPolicy],
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> list[Notification]:
    return [
        to_notification(alert, now, policies.get(alert.labels.get("model", "")), new_id)
        for alert in payload.alerts
    ]
