"""The Kafka event: one JSON object per notification, described by
``schemas/drift-alert-event.v1.json`` (``SCHEMA``). A change that breaks consumers gets a new
file and a new ``schema`` value; adding optional fields keeps v1."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from drift.alerting.notification import ColumnScore, Notification

SCHEMA = "drift-alert-event/v1"
SCHEMA_FILE = "schemas/drift-alert-event.v1.json"


def _time(value: float | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat()


def _column(col: ColumnScore) -> dict[str, Any]:
    return {
        "column": col.column,
        "method": col.method,
        "score": col.score,
        "threshold": col.threshold,
        "drifted": col.drifted,
    }


def event(n: Notification) -> dict[str, Any]:
    dataset = (
        None
        if n.drift_share is None
        else {
            "drift_share": n.drift_share,
            "share_threshold": n.share_threshold,
            "drifted_columns": n.drifted_columns,
            "evaluated_columns": n.evaluated_columns,
        }
    )
    return {
        "schema": SCHEMA,
        "event_id": n.event_id,
        "type": n.event_type,
        "alert_id": n.alert_id,
        "source": n.source.value,
        "kind": n.kind,
        "model": n.model,
        "severity": n.severity,
        "summary": n.summary,
        "description": n.description,
        "repeat": n.repeat,
        "started_at": _time(n.started_at),
        "timestamp": _time(n.timestamp),
        "dataset": dataset,
        "columns": [_column(c) for c in n.columns],
        "prediction": None if n.prediction is None else _column(n.prediction),
        "reference": {"source": n.reference_source, "version": n.reference_version},
        "window": {
            "start": _time(n.window.start),
            "end": _time(n.window.end),
            "samples": n.window.samples,
            "size": n.window.size,
        },
        "links": {"grafana": n.grafana_url, "report": n.report_url, "runbook": n.runbook_url},
        "labels": dict(n.labels),
    }


def encode(n: Notification) -> bytes:
    """The Kafka message value: compact UTF-8 JSON."""
    return json.dumps(event(n), separators=(",", ":"), allow_nan=False).encode()
