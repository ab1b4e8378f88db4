"""What a sink delivers: one typed, immutable notification per firing or resolved alert.

A notification never holds raw feature values: only column names, methods, scores, shares,
counts, times and links. Its texts are bounded (``limited``: each text cut to a number of UTF-8
bytes with a visible marker, labels capped in number), and ``approx_bytes`` says about how much
memory one holds, so a queue of them can be bounded in bytes.
"""

from __future__ import annotations

import dataclasses
import heapq
import sys
from dataclasses import dataclass, field
from enum import StrEnum

TRUNCATED = "… (truncated)"
_TRUNCATED_BYTES = len(TRUNCATED.encode())


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
    notes: tuple[str, ...] = ()  # the sidecar's own remarks, e.g. a runbook link it withheld

    @property
    def event_type(self) -> str:
        return f"drift.{self.status.value}"


@dataclass(frozen=True)
class TextLimits:
    """Bounds of a notification's texts: ``max_text_bytes`` per text (UTF-8), ``max_labels``
    labels kept (the first by name), label names cut to ``max_label_name_bytes`` and values to
    ``max_label_value_bytes`` (or ``max_text_bytes`` if smaller)."""

    max_text_bytes: int = 4096
    max_labels: int = 32
    max_label_name_bytes: int = 128
    max_label_value_bytes: int = 1024

    def __post_init__(self) -> None:
        sizes = (self.max_text_bytes, self.max_label_name_bytes, self.max_label_value_bytes)
        if min(sizes) <= _TRUNCATED_BYTES:
            raise ValueError(f"text limits must exceed {_TRUNCATED_BYTES} bytes (the marker)")
        if self.max_labels < 0:
            raise ValueError("max_labels must be >= 0")


def truncate(text: str, max_bytes: int) -> str:
    """``text`` if it fits in ``max_bytes`` UTF-8 bytes, else its longest prefix that fits with
    ``TRUNCATED`` appended (never a broken character). Work is bounded by ``max_bytes``, not by
    the length of ``text``."""
    if len(text) * 4 <= max_bytes:  # a character is at most 4 bytes
        return text
    head = text[: max_bytes + 1].encode("utf-8", "surrogatepass")
    if len(head) <= max_bytes:  # then head is all of text: a character is at least 1 byte
        return text
    keep = max(0, max_bytes - _TRUNCATED_BYTES)
    return head[:keep].decode("utf-8", "ignore") + TRUNCATED


def _opt(text: str | None, max_bytes: int) -> str | None:
    return None if text is None else truncate(text, max_bytes)


def _url(url: str | None, max_bytes: int) -> str | None:
    """A link that does not fit is dropped: a cut URL points somewhere else."""
    if url is None or len(url) > max_bytes:  # a character is at least 1 byte
        return None
    return url if len(url.encode("utf-8", "surrogatepass")) <= max_bytes else None


def _column(col: ColumnScore, max_bytes: int) -> ColumnScore:
    method = _opt(col.method, max_bytes)
    name = truncate(col.column, max_bytes)
    if name is col.column and method is col.method:
        return col
    return dataclasses.replace(col, column=name, method=method)


def limited(n: Notification, limits: TextLimits) -> Notification:
    """``n`` with every text cut to ``limits``; a link too long for them is dropped. The ids
    (``alert_id``: the sidecar's hash or a fingerprint of at most 128 characters, the reference
    version hash) are the sidecar's or already bounded, and are never cut."""
    cap = limits.max_text_bytes
    name_cap = limits.max_label_name_bytes
    value_cap = min(cap, limits.max_label_value_bytes)
    labels: dict[str, str] = {}
    for name, value in heapq.nsmallest(limits.max_labels, n.labels):
        labels.setdefault(truncate(name, name_cap), truncate(value, value_cap))
    return dataclasses.replace(
        n,
        kind=truncate(n.kind, cap),
        model=_opt(n.model, cap),
        severity=truncate(n.severity, cap),
        summary=truncate(n.summary, cap),
        description=_opt(n.description, cap),
        columns=tuple(_column(c, cap) for c in n.columns),
        prediction=None if n.prediction is None else _column(n.prediction, cap),
        reference_source=_opt(n.reference_source, cap),
        grafana_url=_url(n.grafana_url, cap),
        report_url=_url(n.report_url, cap),
        runbook_url=_url(n.runbook_url, cap),
        labels=tuple(sorted(labels.items())),
        notes=tuple(truncate(note, cap) for note in n.notes),
    )


_OBJECT_BYTES = 600  # the dataclass, its numbers, the Window, the tuples
_COLUMN_BYTES = 200


def approx_bytes(n: Notification) -> int:
    """About how much memory ``n`` holds (its strings as Python stores them, plus a fixed
    overhead per object). Cheap: no string is encoded or copied."""
    size = _OBJECT_BYTES
    for text in (
        n.event_id,
        n.alert_id,
        n.kind,
        n.model,
        n.severity,
        n.summary,
        n.description,
        n.reference_source,
        n.reference_version,
        n.grafana_url,
        n.report_url,
        n.runbook_url,
    ):
        if text is not None:
            size += sys.getsizeof(text)
    for col in (*n.columns, *(() if n.prediction is None else (n.prediction,))):
        size += _COLUMN_BYTES + sys.getsizeof(col.column)
        if col.method is not None:
            size += sys.getsizeof(col.method)
    for name, value in n.labels:
        size += 120 + sys.getsizeof(name) + sys.getsizeof(value)
    for note in n.notes:
        size += 8 + sys.getsizeof(note)
    return size
