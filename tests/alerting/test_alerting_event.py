"""The Kafka event: every event the sidecar can make validates against the committed JSON Schema
(``schemas/drift-alert-event.v1.json``), and holds no raw feature value."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.alerting import alertmanager
from drift.alerting.event import SCHEMA, SCHEMA_FILE, encode, event
from drift.alerting.notification import (
    TRUNCATED,
    ColumnScore,
    Notification,
    Source,
    Status,
    TextLimits,
    Window,
    limited,
)
from tests.alerting_data import SECRET_CITY, SECRET_NUMBER, firing_and_resolved, policy

ROOT = Path(__file__).resolve().parents[2]


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / SCHEMA_FILE).read_text(encoding="utf-8"))
    return loaded


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def assert_valid(doc: dict[str, Any]) -> None:
    errors = sorted(validator().iter_errors(doc), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    for key in ("started_at", "timestamp"):  # date-time, checked here without extra packages
        datetime.fromisoformat(doc[key])
    for key in ("start", "end"):
        if doc["window"][key] is not None:
            datetime.fromisoformat(doc["window"][key])
    uuid.UUID(doc["event_id"])


def test_the_schema_file_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["properties"]["schema"]["const"] == SCHEMA
    assert SCHEMA_FILE.endswith(".v1.json")
    assert SCHEMA.endswith("/v1")


def test_firing_and_resolved_events_of_real_reports_validate() -> None:
    firing, resolved = firing_and_resolved()
    for n in (firing, resolved):
        doc = json.loads(encode(n))
        assert_valid(doc)
    doc = event(firing)
    assert doc["type"] == "drift.firing"
    assert event(resolved)["type"] == "drift.resolved"
    assert doc["alert_id"] == event(resolved)["alert_id"]
    assert doc["model"] == "m1"
    assert doc["source"] == "sidecar"
    assert doc["dataset"]["drift_share"] >= 0.5
    assert {c["column"] for c in doc["columns"]} <= {"age", "income", "city"}
    assert doc["reference"]["version"] == "sha256:" + "0" * 16


def test_no_raw_feature_value_in_the_event() -> None:
    for n in firing_and_resolved():
        text = encode(n).decode()
        assert SECRET_CITY not in text
        assert str(SECRET_NUMBER) not in text
        assert "987654" not in text


def test_forwarded_alertmanager_alerts_validate() -> None:
    payload = alertmanager.AlertmanagerPayload.model_validate(
        {
            "version": "4",
            "status": "firing",
            "receiver": "drift-sidecar",
            "groupKey": '{}:{alertname="DriftColumnDetected"}',
            "alerts": [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "DriftColumnDetected",
                        "model": "m1",
                        "column": "age",
                        "severity": "info",
                    },
                    "annotations": {"summary": "Column age of model m1 drifted"},
                    "startsAt": "2026-01-02T03:04:05.678Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus/graph",
                    "fingerprint": "0123456789abcdef",
                },
                {
                    "status": "resolved",
                    "labels": {"alertname": "DriftSidecarAbsent", "severity": "critical"},
                    "annotations": {},
                    "startsAt": "2026-01-02T03:04:05Z",
                    "endsAt": "2026-01-02T04:04:05Z",
                    "fingerprint": "fedcba9876543210",
                },
            ],
        }
    )
    notes = alertmanager.notifications(payload, 1_800_000_000.0, {"m1": policy()})
    docs = [event(n) for n in notes]
    for doc in docs:
        assert_valid(doc)
    assert docs[0]["kind"] == "DriftColumnDetected"
    assert docs[0]["source"] == "alertmanager"
    assert docs[0]["columns"] == [
        {"column": "age", "method": None, "score": None, "threshold": None, "drifted": True}
    ]
    assert docs[0]["links"]["grafana"] == "https://grafana.example.com/d/drift?var-model=m1"
    assert docs[1]["model"] is None
    assert docs[1]["type"] == "drift.resolved"
    assert docs[1]["labels"]["alertname"] == "DriftSidecarAbsent"


def test_cut_texts_of_a_huge_forwarded_alert_still_validate() -> None:
    payload = alertmanager.AlertmanagerPayload.model_validate(
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "A" * 5000,
                        "model": "m1",
                        "column": "é" * 5000,
                        "severity": "<!channel>" * 500,
                    }
                    | {f"x{i}": "v" * 5000 for i in range(100)},
                    "annotations": {
                        "summary": "s" * 100_000,
                        "description": "d" * 3_000_000,
                        "runbook_url": "docs/runbook.md#a",
                    },
                    "startsAt": "2026-01-02T03:04:05Z",
                    "fingerprint": "0123456789abcdef",
                }
            ],
        }
    )
    limits = TextLimits(max_text_bytes=256, max_labels=8)
    (n,) = alertmanager.notifications(payload, 1_800_000_000.0, {"m1": policy()}, limits=limits)
    doc = json.loads(encode(n))
    assert_valid(doc)
    for text in (doc["summary"], doc["description"], doc["kind"], doc["columns"][0]["column"]):
        assert text.endswith(TRUNCATED)
        assert len(text.encode()) <= 256
    assert len(doc["labels"]) == 8
    assert doc["links"]["runbook"] == "docs/runbook.md#a"


_finite = st.floats(min_value=0, max_value=1e6, allow_nan=False)
_maybe = st.none() | _finite
_text = st.text(min_size=1, max_size=20)
_times = st.floats(min_value=0, max_value=4e9)
_columns = st.builds(ColumnScore, _text, st.none() | _text, _maybe, _maybe, st.booleans())


@st.composite
def notifications(draw: st.DrawFn) -> Notification:
    has_dataset = draw(st.booleans())
    return Notification(
        event_id=str(draw(st.uuids())),
        alert_id=draw(_text),
        status=draw(st.sampled_from(Status)),
        source=draw(st.sampled_from(Source)),
        kind=draw(_text),
        model=draw(st.none() | _text),
        severity=draw(st.sampled_from(["info", "warning", "critical"])),
        summary=draw(st.text(max_size=50)),
        started_at=draw(_times),
        timestamp=draw(_times),
        drift_share=draw(st.floats(0, 1)) if has_dataset else None,
        share_threshold=draw(st.floats(0.01, 1)) if has_dataset else None,
        drifted_columns=draw(st.integers(0, 100)) if has_dataset else None,
        evaluated_columns=draw(st.integers(0, 100)) if has_dataset else None,
        columns=tuple(draw(st.lists(_columns, max_size=5))),
        prediction=draw(st.none() | _columns),
        reference_source=draw(st.none() | _text),
        reference_version=draw(st.none() | st.just("sha256:0123456789abcdef")),
        window=Window(
            draw(st.none() | _times),
            draw(st.none() | _times),
            draw(st.none() | st.integers(0, 10**7)),
            draw(st.none() | st.integers(1, 10**7)),
        ),
        grafana_url=draw(st.none() | st.just("https://grafana/d/x")),
        report_url=draw(st.none() | st.just("https://drift/report")),
        runbook_url=draw(st.none() | _text),
        description=draw(st.none() | _text),
        repeat=draw(st.booleans()),
        labels=tuple(
            sorted(draw(st.dictionaries(_text, st.text(max_size=10), max_size=4)).items())
        ),
    )


@settings(max_examples=200, deadline=None)
@given(notifications())
def test_every_notification_gives_a_valid_event(n: Notification) -> None:
    doc = json.loads(encode(n))
    assert_valid(doc)
    assert doc["type"] == f"drift.{n.status.value}"


@settings(max_examples=200, deadline=None)
@given(notifications(), st.integers(min_value=16, max_value=64), st.integers(0, 3))
def test_every_cut_notification_gives_a_valid_event(
    n: Notification, cap: int, max_labels: int
) -> None:
    cut = limited(n, TextLimits(cap, max_labels, max_label_name_bytes=16, max_label_value_bytes=16))
    doc = json.loads(encode(cut))
    assert_valid(doc)
    assert len(doc["labels"]) <= max_labels
    assert doc["alert_id"] == n.alert_id
    for text in (doc["summary"], doc["kind"], doc["severity"]):
        assert len(text.encode("utf-8", "surrogatepass")) <= cap
