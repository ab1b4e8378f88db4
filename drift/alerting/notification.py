"""What a sink delivers: one typed, immutable notification per firing or resolved alert.

A notification never holds raw feature values: only column names, methods, scores, shares,
counts, times and links.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Source(StrEnum):
    SIDECAR = "sidecar"  # the sidecar's own state machine
    ALERTMANAGER = "alertmanager"  # forwarded from POST /v1/alertmanager


@dataclass(frozen=True)
class ColumnScore:
    """A drifted (or watched) column: name, stat test, score and threshold; never its values."""

    column: str
    method: str | None
    score: float | None
    threshold: float | None
    drifted: bool


@dataclass(frozen=True)
class Window:
    """The evaluated window: start and end (Unix seconds) and how many samples it held."""

    start: float | None
    end: float | None
    samples: int | None
    size: int | None


@dataclass(frozen=True)
class Notification:
    event_id: str  # unique per notification (uuid4)
    alert_id: str  # stable for one alert episode: firing, repeats and resolved share it
    status: Status
    source: Source
    kind: str  # "dataset" / "prediction" (sidecar) or the Alertmanager alertname
    model: str | None
    severity: str
    summary: str
    started_at: float  # when the episode started firing
    timestamp: float  # when this notification was made
    drift_share: float | None = None
    share_threshold: float | None = None
    drifted_columns: int | None = None
    evaluated_columns: int | None = None
    columns: tuple[ColumnScore, ...] = ()
    prediction: ColumnScore | None = None
    reference_source: str | None = None
    reference_version: str | None = None
    window: Window = field(default_factory=lambda: Window(None, None, None, None))
    grafana_url: str | None = None
    report_url: str | None = None
    runbook_url: str | None = None
    description: str | None = None
    repeat: bool = False  # a still-firing alert sent again after the repeat interval
    labels: tuple[tuple[str, str], ...] = ()  # Alertmanager labels (sorted)

    @property
    def event_type(self) -> str:
        return f"drift.{self.status.value}"
