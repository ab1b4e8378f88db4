"""Slack through slack-sdk over real HTTP: a local server on 127.0.0.1 records the requests.

The service evaluates real drift, the worker sends with slack-sdk's ``WebhookClient`` (or
``WebClient.chat_postMessage`` with a bot token); the server answers 429 with Retry-After once
and 500 three times: the alert still arrives exactly once, and not before Retry-After passed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.alerting import slack_blocks
from drift.alerting.notification import TRUNCATED, Notification
from drift.config import SlackConfig, settings_from_mapping
from drift.service.service import DriftService
from exporters.alerts.slack import SlackSink
from tests.alerting_data import SECRET_CITY, SECRET_NUMBER, firing_and_resolved
from tests.conftest import CREDIT_COLUMNS, sample, wait_until
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
                    "columns": CREDIT_COLUMNS,
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


# outside text is data, never markup ------------------------------------------------------------

HOSTILE = (
    "<!channel> <!here> <@U123> <#C1> <!subteam^S1> <https://evil.example/phish|click here> "
    "*bold* _italic_ ~strike~ `code` ```block``` &amp; & #general @here https://evil.example/x"
)
MARKERS = ("*bold*", "_italic_", "~strike~", "`code`", "```block```")
BASE = "https://git.example.com/drift-sidecar/blob/main/"


def hostile_alert(runbook: str = "https://evil.example/runbook") -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {
            "alertname": f"Drift{HOSTILE}",
            "model": f"model {HOSTILE}",
            "severity": HOSTILE,
            "column": f"col {HOSTILE}",
        },
        "annotations": {
            "summary": f"summary {HOSTILE}",
            "description": f"first line {HOSTILE}\n> quoted line\n  > indented quote\n{HOSTILE}",
            "runbook_url": runbook,
        },
        "startsAt": "2026-01-02T03:04:05Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "<!here>`x`",
    }


def text_objects(node: Any) -> list[dict[str, Any]]:
    """Every Block Kit text object of a message."""
    if isinstance(node, list):
        return [t for item in node for t in text_objects(item)]
    if not isinstance(node, dict):
        return []
    found = [node] if node.get("type") in ("plain_text", "mrkdwn") else []
    return found + [t for value in node.values() for t in text_objects(value)]


def assert_inert(message: dict[str, Any]) -> None:
    """No outside text can mention, link or format in the message as Slack would render it."""
    objects = text_objects(message["blocks"])
    texts = [message["text"], *(o["text"] for o in objects)]
    for text in texts:
        assert "<" not in text
        assert ">" not in text
        assert "&" not in re.sub(r"&(amp|lt|gt);", "", text), text
        outside_code = re.sub(r"`[^`\n]*`", "", text)  # inside our code spans, *_~ are literal
        for marker in MARKERS:
            assert marker not in outside_code
        assert not re.search(r"^\s*&gt;", text, re.MULTILINE), "a block quote"
    mrkdwn = [o for o in objects if o["type"] == "mrkdwn"]
    assert mrkdwn
    assert all(o["verbatim"] is True for o in mrkdwn)
    everything = "\n".join(texts)
    assert "&lt;!channel&gt;" in everything  # shown, as text
    assert "&lt;https://evil.example/phish|click here&gt;" in everything
    assert "\u2217bold\u2217" in everything  # the look-alike asterisk: not bold
    header = message["blocks"][0]["text"]
    assert header["type"] == "plain_text"
    assert len(header["text"]) <= slack_blocks.HEADER_MAX
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert element["url"].startswith(("https://", "http://"))
                assert "evil" not in element["url"]


def test_hostile_alertmanager_texts_render_as_text_in_every_block() -> None:
    from drift.alerting.alertmanager import RUNBOOK_WITHHELD, AlertmanagerPayload, to_notification

    payload = AlertmanagerPayload.model_validate(
        {"version": "4", "status": "firing", "alerts": [hostile_alert()]}
    )
    n = to_notification(payload.alerts[0], 1_800_000_000.0, None, runbook_base=BASE)
    with recording_server() as server:
        SlackSink(SlackConfig(webhook_url=f"{server.url}/hook")).send(n)
        (request,) = server.requests
    message = request.json()
    assert_inert(message)
    assert message["unfurl_links"] is False
    assert message["unfurl_media"] is False
    assert "actions" not in [b["type"] for b in message["blocks"]]  # the runbook was elsewhere
    context = message["blocks"][-1]["elements"][0]["text"]
    assert RUNBOOK_WITHHELD in context
    assert "`&lt;!here&gt;\u02cbx\u02cb`" in context  # the fingerprint, in our code span
    description = next(
        b["text"]["text"]
        for b in message["blocks"]
        if b.get("text", {}).get("text", "").startswith("first")
    )
    assert "\n\u00ad&gt; quoted line\n  \u00ad&gt; indented quote\n" in description


def test_hostile_column_and_model_names_of_sidecar_alerts_stay_in_their_code_spans() -> None:
    firing, _ = firing_and_resolved()
    col = firing.columns[0]
    hostile = dataclasses.replace(
        firing,
        model=f"m {HOSTILE}",
        summary=f"Dataset drift on model m {HOSTILE}",
        columns=(dataclasses.replace(col, column=f"a`b {HOSTILE}\nnext"),),
        prediction=dataclasses.replace(col, column=f"p {HOSTILE}", method=f"x {HOSTILE}"),
    )
    with recording_server() as server:
        SlackSink(SlackConfig(webhook_url=f"{server.url}/hook")).send(hostile)
        (request,) = server.requests
    message = request.json()
    assert_inert(message)
    columns = next(
        b["text"]["text"]
        for b in message["blocks"]
        if b.get("text", {}).get("text", "").startswith("*Top drifted columns*")
    )
    _title, line = columns.split("\n")  # the column's line break did not start a new line
    assert line.count("`") == 2  # our span: opened and closed, nothing of the name breaks out
    assert line.startswith("• `a\u02cbb &lt;!channel&gt;")


def test_long_outside_texts_are_clipped_to_slacks_limits_without_breaking_entities() -> None:
    firing, _ = firing_and_resolved()
    long = dataclasses.replace(
        firing,
        summary="<" * 5000,
        description="&" * 5000,
        model="m" + "<" * 3000,
        columns=tuple(
            dataclasses.replace(firing.columns[0], column=f"{i}" + "c" * 400) for i in range(50)
        ),
    )
    blocks = slack_blocks.blocks(long)
    assert len(blocks[0]["text"]["text"]) <= slack_blocks.HEADER_MAX
    assert all(len(f["text"]) <= slack_blocks.FIELD_MAX for f in blocks[1]["fields"])
    for block in blocks[2:]:
        if block["type"] == "section":
            text = block["text"]["text"]
            assert len(text) <= slack_blocks.SECTION_MAX
            assert "&" not in re.sub(r"&(amp|lt|gt);", "", text.removesuffix(TRUNCATED))
    columns = blocks[3]["text"]["text"].split("\n")
    assert columns[-1] == TRUNCATED
    assert all(line.count("`") == 2 for line in columns[1:-1])
    assert len(slack_blocks.text(long)) <= slack_blocks.FALLBACK_MAX


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://grafana.example.com/d/x?var-model=m1", True),
        ("http://grafana.internal:3000/d/x", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("ftp://files.example.com/x", False),
        ("https://", False),
        ("https:///path-only", False),
        ("https://a.example/x y", False),
        ("https://a.example/\nx", False),
        ("https://a.example\\@evil.example/", False),
        ("docs/runbook.md#x", False),
        ("https://a.example/" + "x" * 3000, False),
    ],
)
def test_buttons_only_for_http_urls(url: str, shown: bool) -> None:
    firing, _ = firing_and_resolved()
    n = dataclasses.replace(firing, grafana_url=url, report_url=None, runbook_url=url)
    actions = [b for b in slack_blocks.blocks(n) if b["type"] == "actions"]
    urls = [e["url"] for b in actions for e in b["elements"]]
    assert urls == ([url, url] if shown else [])


OUR_TITLES = r"\*(Model|Severity|Alert|Dataset drift share|Top drifted columns|Prediction)\*"
_hostile_text = st.lists(
    st.sampled_from(["<", ">", "&", "*", "_", "~", "`", "\n", "> ", "!channel", "&amp;", "😀", "a"])
    | st.text(max_size=4),
    max_size=40,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(_hostile_text, _hostile_text, _hostile_text, _hostile_text)
def test_any_outside_text_stays_text(
    summary: str, description: str, model: str, column: str
) -> None:
    firing, _ = firing_and_resolved()
    col = dataclasses.replace(firing.columns[0], column=column or "c", method=model or None)
    n = dataclasses.replace(
        firing,
        summary=summary,
        description=description or None,
        model=model or None,
        kind=summary or "k",
        columns=(col,),
        prediction=col,
        alert_id=column or "id",
        window=dataclasses.replace(firing.window, end=None),
    )
    message = {"text": slack_blocks.text(n), "blocks": slack_blocks.blocks(n)}
    json.dumps(message)
    for obj in [{"text": message["text"]}, *text_objects(message["blocks"])]:
        text = obj["text"]
        assert "<" not in text
        assert ">" not in text
        assert "&" not in re.sub(r"&(amp|lt|gt);", "", text)
        assert not re.search(r"^\s*&gt;", text, re.MULTILINE)
        if obj.get("type") == "mrkdwn":
            assert obj["verbatim"] is True
            # outside our own code spans, only our own bold titles use *, and nothing uses _ ~
            outside_code = re.sub(r"`[^`\n]*`", "", text)
            assert not re.search(r"[_~]", outside_code)
            assert "*" not in re.sub(OUR_TITLES, "", outside_code)
