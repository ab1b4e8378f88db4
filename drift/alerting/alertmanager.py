"""Alertmanager's webhook payload (version 4), its conversion to notifications, and what of it
is let through (``Forwarder``).

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config documents the
payload. Unknown keys are ignored (Alertmanager may add some); a payload of another version
is refused.

Everything in a payload is the sender's word, and anyone who can reach the port can send one:
texts are cut to ``TextLimits`` when the notification is built, a runbook link is kept only
when it points under the configured base URL (or is a plain relative path, as the shipped rules
write it), an alert already forwarded with the same status is not forwarded again within the
repeat interval, and each receiver has a token bucket.
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import unquote, urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from drift.alerting.notification import (
    ColumnScore,
    Notification,
    Source,
    Status,
    TextLimits,
    limited,
)
from drift.alerting.policy import AlertPolicy
from drift.alerting.state import Deduplicator

FINGERPRINT_MAX = 128  # Alertmanager's are 16 hex digits
RUNBOOK_WITHHELD = "runbook link withheld (not under the configured runbook base URL)"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class AlertmanagerAlert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=FINGERPRINT_MAX)


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


# a path relative to the repository, as the shipped rules write it: docs/runbook.md#anchor
_RELATIVE = re.compile(r"[A-Za-z0-9._~-][A-Za-z0-9._~/-]*(#[A-Za-z0-9._~-]*)?")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def _segments_ok(path: str) -> bool:
    return all(unquote(part) not in (".", "..") for part in path.split("/"))


def _under(base: str, url: str) -> bool:
    """``url`` is an http(s) URL on ``base``'s scheme and host, inside its path."""
    if _UNSAFE.search(url):
        return False
    try:
        b, u = urlsplit(base), urlsplit(url)
        u.port  # noqa: B018  # raises on a port out of range
    except ValueError:  # e.g. "https://[bad"
        return False
    if u.scheme != b.scheme or u.netloc.lower() != b.netloc.lower() or u.username is not None:
        return False
    if not _segments_ok(u.path):
        return False
    if b.path.endswith("/"):
        return u.path.startswith(b.path)
    return u.path == b.path or u.path.startswith(b.path + "/")


def runbook_link(annotation: str, base: str | None) -> str | None:
    """The runbook link to show for a ``runbook_url`` annotation, or None when it may not be
    shown. Relative paths (``docs/runbook.md#...``) are resolved against ``base`` (kept as they
    are without one); absolute URLs must point under ``base``."""
    value = annotation.strip()
    if _RELATIVE.fullmatch(value) and _segments_ok(value.partition("#")[0]):
        if base is None:
            return value
        root = base if base.endswith("/") else base + "/"
        value = urljoin(root, value)
    if base is None or not _under(base, value):
        return None
    return value


def to_notification(
    alert: AlertmanagerAlert,
    now: float,
    policy: AlertPolicy | None,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    *,
    limits: TextLimits | None = None,
    runbook_base: str | None = None,
) -> Notification:
    """One Alertmanager alert as a notification, its texts cut to ``limits``; ``policy``: the
    alert's model's, if it is one of ours (it gives the dashboard and report links)."""
    labels = alert.labels
    model = labels.get("model") or None
    column = labels.get("column")
    started = _timestamp(alert.starts_at)
    annotation = alert.annotations.get("runbook_url", "")
    runbook = runbook_link(annotation, runbook_base) if annotation.strip() else None
    withheld = bool(annotation.strip()) and runbook is None
    notification = Notification(
        event_id=new_id(),
        alert_id=alert.fingerprint,
        status=Status(alert.status),
        source=Source.ALERTMANAGER,
        kind=labels.get("alertname") or "unnamed",
        model=model,
        severity=labels.get("severity") or "warning",
        summary=alert.annotations.get("summary") or labels.get("alertname") or "alert",
        description=alert.annotations.get("description") or None,
        runbook_url=runbook,
        started_at=started if started is not None else now,
        timestamp=now,
        columns=(ColumnScore(column, None, None, None, True),) if column else (),
        grafana_url=None if policy is None else policy.link(policy.grafana_url),
        report_url=None if policy is None else policy.link(policy.report_url),
        labels=tuple(labels.items()),
        notes=(RUNBOOK_WITHHELD,) if withheld else (),
    )
    return limited(notification, limits or TextLimits())


def notifications(
    payload: AlertmanagerPayload,
    now: float,
    policies: Mapping[str, AlertPolicy],
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    *,
    limits: TextLimits | None = None,
    runbook_base: str | None = None,
) -> list[Notification]:
    return [
        to_notification(
            alert,
            now,
            policies.get(alert.labels.get("model", "")),
            new_id,
            limits=limits,
            runbook_base=runbook_base,
        )
        for alert in payload.alerts
    ]


class TokenBucket:
    """``burst`` tokens, refilled at ``per_minute``; one forwarded alert takes one."""

    def __init__(self, per_minute: float, burst: int, now: float) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("need per_minute > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = burst
        self.tokens = float(burst)
        self._at = now

    def ready(self, now: float) -> bool:
        """A token is there (after refilling up to ``now``)."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self._at) * self.rate)
        self._at = max(self._at, now)
        return self.tokens >= 1.0

    def take(self) -> None:
        self.tokens -= 1.0


def default_burst(per_minute: float) -> int:
    """The burst when none is configured: one minute's worth."""
    return max(1, math.ceil(per_minute))


RECEIVER_KEY_MAX = 128


@dataclass
class ReceiverBuckets:
    """One token bucket per receiver name; the first ``max_receivers`` names get their own,
    any further name shares one more (names are the sender's word: this bounds the total)."""

    per_minute: float
    burst: int
    max_receivers: int
    _buckets: dict[str, TokenBucket] = field(default_factory=dict, init=False, repr=False)
    _shared: TokenBucket | None = field(default=None, init=False, repr=False)

    def get(self, receiver: str, now: float) -> TokenBucket:
        key = receiver[:RECEIVER_KEY_MAX]
        bucket = self._buckets.get(key)
        if bucket is not None:
            return bucket
        if len(self._buckets) < self.max_receivers:
            bucket = self._buckets[key] = TokenBucket(self.per_minute, self.burst, now)
            return bucket
        if self._shared is None:
            self._shared = TokenBucket(self.per_minute, self.burst, now)
        return self._shared


@dataclass(frozen=True)
class Admission:
    """What ``Forwarder.admit`` let through, and how many it held back for which reason."""

    notifications: list[Notification]
    duplicate: int = 0
    rate_limited: int = 0


class Forwarder:
    """Decides which alerts of a payload are forwarded: an alert already forwarded with the
    same status within the repeat interval is a ``duplicate``; of the others, those beyond the
    receiver's rate are ``rate_limited`` (not remembered as sent, so Alertmanager's next re-send
    gets another chance); the rest are converted (texts cut to ``limits``) and each takes a
    token."""

    def __init__(
        self,
        policies: Mapping[str, AlertPolicy],
        dedup: Deduplicator,
        buckets: ReceiverBuckets,
        limits: TextLimits | None = None,
        runbook_base: str | None = None,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.policies = policies
        self.dedup = dedup
        self.buckets = buckets
        self.limits = limits or TextLimits()
        self.runbook_base = runbook_base
        self._new_id = new_id
        self._lock = threading.Lock()

    def admit(self, payload: AlertmanagerPayload, now: float) -> Admission:
        admitted: list[AlertmanagerAlert] = []
        duplicate = rate_limited = 0
        with self._lock:
            bucket = self.buckets.get(payload.receiver, now)
            for alert in payload.alerts:
                status = Status(alert.status)
                if self.dedup.is_repeat(alert.fingerprint, status, now):
                    duplicate += 1
                elif not bucket.ready(now):
                    rate_limited += 1
                else:
                    self.dedup.admit(alert.fingerprint, status, now)
                    bucket.take()
                    admitted.append(alert)
        out = [
            to_notification(
                alert,
                now,
                self.policies.get(alert.labels.get("model", "")),
                self._new_id,
                limits=self.limits,
                runbook_base=self.runbook_base,
            )
            for alert in admitted
        ]
        return Admission(out, duplicate, rate_limited)
