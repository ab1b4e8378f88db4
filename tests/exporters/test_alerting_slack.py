"""Slack through slack-sdk over real HTTP: a local server on 127.0.0.1 records the requests.

The service evaluates real drift, the worker sends with slack-sdk's ``WebhookClient`` (or
``WebClient.chat_postMessage`` with a bot token); the server answers 429 with Retry-After once
and 500 three times: the alert still arrives exactly once, and not before Retry-After passed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from drift.alerting import slack_blocks
from drift.alerting.notification import Notification
from drift.config import SlackConfig, settings_from_mapping
from drift.service.service import DriftService
from exporters.alerts.slack import SlackSink
from tests.alerting_data import SECRET_CITY, SECRET_NUMBER, firing_and_resolved
from tests.conftest import sample, wait_until
from tests.recording_server import Recorded, recording_server

RETRY_AFTER = 1
SCRIPT_WEBHOOK = [
    (429, {"Retry-After": str(RETRY_AFTER)}, "rate_limited"),
    (500, {}, "internal_error"),
    (500, {}, "internal_error"),
    (500, {}, "internal_error"),
]


def service(reference_csv: Path, slack: dict[str, Any]) -> DriftService:
    settings = settings_from_mapping(
        {
            "alerts": {
                "fire_after": 1,
                "resolve_after": 1,
                "kinds": ["dataset"],
                "grafana_url": "https://grafana.example.com/d/drift?var-model={model}",
                "report_url": "https://drift.example.com/v1/models/{model}/report",
                "slack": slack,
                "delivery": {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.2},
            },
            "models": {
                "credit-scoring": {
                    "reference": {"path": str(reference_csv)},
                    "columns": {
                        "numerical": ["age", "income"],
                        "categorical": ["city"],
                        "prediction": "score",
                    },
                    "window": {"size": 100, "step": 100},
                }
            },
        }
    )
    svc = DriftService(settings)
    svc.start(load_in_background=False)
    return svc


def drift_once(svc: DriftService) -> None:
    batch = [sample(age=90.0, income=SECRET_NUMBER, city=SECRET_CITY, score=0.99)] * 100
    svc.ingest("credit-scoring", {"samples": batch})


def check_retry_after(requests: list[Recorded]) -> None:
    assert [r.status for r in requests] == [429, 500, 500, 500, 200]
    assert requests[1].at - requests[0].at >= RETRY_AFTER * 0.95  # the 429's Retry-After
    bodies = {json.dumps(r.json(), sort_keys=True) for r in requests}
    assert len(bodies) == 1, "every attempt sends the same message"


def check_blocks(message: dict[str, Any]) -> None:
    blocks = message["blocks"]
    assert message["text"].startswith("[FIRING] Dataset drift on model credit-scoring")
    types = [b["type"] for b in blocks]
    assert types[0] == "header"
    assert types[-1] == "context"
    assert "actions" in types
    assert blocks[0]["text"]["type"] == "plain_text"
    assert len(blocks[0]["text"]["text"]) <= 150
    fields = " ".join(f["text"] for f in blocks[1]["fields"])
    for wanted in (
        "*Model*\ncredit-scoring",
        "*Severity*\nwarning",
        "*Dataset drift share*",
        "*Window*",
        "100 samples",
    ):
        assert wanted in fields
    columns = next(b for b in blocks if b["type"] == "section" and "text" in b)["text"]["text"]
    assert columns.startswith("*Top drifted columns*\n• `")
    assert "threshold" in columns
    buttons = {e["text"]["text"]: e["url"] for e in blocks[types.index("actions")]["elements"]}
    assert buttons == {
        "Grafana dashboard": "https://grafana.example.com/d/drift?var-model=credit-scoring",
        "Drift report": "https://drift.example.com/v1/models/credit-scoring/report",
    }
    text = json.dumps(message)
    assert SECRET_CITY not in text
    assert "987654" not in text


def test_webhook_429_and_500s_still_deliver_exactly_once(reference_csv: Path) -> None:
    with recording_server(SCRIPT_WEBHOOK) as server:
        svc = service(reference_csv, {"webhook_url": f"{server.url}/services/T0/B0/secret"})
        try:
            drift_once(svc)
            wait_until(lambda: len(server.delivered) == 1, timeout=15, what="delivery")
            time.sleep(0.5)  # nothing more arrives: delivered exactly once
            assert len(server.delivered) == 1
            assert len(server.requests) == 5
            check_retry_after(server.requests)
            assert server.requests[-1].path == "/services/T0/B0/secret"
            check_blocks(server.delivered[0].json())
            labels = {"model": "credit-scoring", "channel": "slack"}
            get = svc.registry.get_sample_value
            assert get("drift_alerts_total", {**labels, "status": "sent"}) == 1
            assert get("drift_alerts_total", {**labels, "status": "retried"}) == 4
            assert get("drift_alerts_total", {**labels, "status": "dropped"}) == 0
        finally:
            svc.stop()


def test_bot_token_posts_to_the_channel_with_retries(reference_csv: Path) -> None:
    ratelimited = json.dumps({"ok": False, "error": "ratelimited"})
    script = [(429, {"Retry-After": str(RETRY_AFTER)}, ratelimited)] + [
        (500, {}, json.dumps({"ok": False, "error": "fatal_error"}))
    ] * 3
    ok = json.dumps({"ok": True, "channel": "C1", "ts": "1.2"})
    with recording_server(script, ok_body=ok) as server:
        slack = {"token": "xoxb-test-token", "channel": "#ml-oncall", "api_url": f"{server.url}/"}
        svc = service(reference_csv, slack)
        try:
            drift_once(svc)
            wait_until(lambda: len(server.delivered) == 1, timeout=15, what="delivery")
            time.sleep(0.5)
            check_retry_after(server.requests)
            request = server.delivered[0]
            assert request.path == "/chat.postMessage"
            assert request.headers["Authorization"] == "Bearer xoxb-test-token"
            body = request.json()
            assert body["channel"] == "#ml-oncall"
            if isinstance(body["blocks"], str):  # slack-sdk may send blocks JSON-encoded
                body["blocks"] = json.loads(body["blocks"])
            check_blocks(body)
        finally:
            svc.stop()


def test_resolved_message() -> None:
    _, resolved = firing_and_resolved()
    with recording_server() as server:
        sink = SlackSink(SlackConfig(webhook_url=f"{server.url}/hook"))
        sink.send(resolved)
        (request,) = server.requests
    message = request.json()
    assert message["text"].startswith("[RESOLVED] Resolved: Dataset drift on model m1")
    assert message["blocks"][0]["text"]["text"].startswith(":white_check_mark: Resolved")
    assert message["blocks"] == slack_blocks.blocks(resolved)


@pytest.mark.parametrize(("status", "permanent"), [(404, True), (503, False)])
def test_sink_error_carries_status_and_retry_after(status: int, permanent: bool) -> None:
    from drift.alerting.ports import SinkDeliveryError

    firing: Notification = firing_and_resolved()[0]
    with recording_server(always=(status, {"retry-after": "7"}, "no")) as server:
        sink = SlackSink(SlackConfig(webhook_url=f"{server.url}/hook"))
        with pytest.raises(SinkDeliveryError) as info:
            sink.send(firing)
    assert info.value.permanent is permanent
    assert info.value.retry_after == 7.0
    assert f"HTTP {status}" in str(info.value)


def test_slack_mrkdwn_is_escaped() -> None:
    assert slack_blocks.escape("a<b>&c") == "a&lt;b&gt;&amp;c"
