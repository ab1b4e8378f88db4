"""The Slack message of a notification: Block Kit blocks plus a plain fallback text.

Only names, methods, scores, shares, counts, times and links go in; never feature values.
https://api.slack.com/reference/block-kit/blocks
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drift.alerting.notification import ColumnScore, Notification, Status

_ICON = {Status.FIRING: ":rotating_light:", Status.RESOLVED: ":white_check_mark:"}
HEADER_MAX = 150  # Slack's limit for a header's plain text


def escape(text: str) -> str:
    """mrkdwn control characters, as Slack asks (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _time(value: float | None) -> str:
    if value is None:
        return "?"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _column_line(col: ColumnScore) -> str:
    if col.method is None:
        return f"• `{escape(col.column)}`"
    return (
        f"• `{escape(col.column)}`: {escape(col.method)} {_number(col.score)} "
        f"(threshold {_number(col.threshold)})"
    )


def text(n: Notification) -> str:
    """The fallback text (notifications, screen readers)."""
    state = "RESOLVED" if n.status is Status.RESOLVED else "FIRING"
    return f"[{state}] {n.summary}"


def blocks(n: Notification) -> list[dict[str, Any]]:
    state = {Status.RESOLVED: "Resolved", Status.FIRING: "Firing"}[n.status]
    if n.repeat:
        state = "Still firing"
    header = f"{_ICON[n.status]} {state}: {n.summary}"
    if len(header) > HEADER_MAX:
        header = header[: HEADER_MAX - 1] + "…"
    fields = [
        f"*Model*\n{escape(n.model or '(none)')}",
        f"*Severity*\n{escape(n.severity)}",
    ]
    if n.drift_share is not None:
        share = f"*Dataset drift share*\n{n.drift_share:.0%}"
        if n.share_threshold is not None:
            share += f" (threshold {n.share_threshold:.0%})"
        if n.drifted_columns is not None and n.evaluated_columns is not None:
            share += f", {n.drifted_columns}/{n.evaluated_columns} columns"
        fields.append(share)
    if n.window.end is not None:
        window = f"*Window*\n{_time(n.window.start)} to {_time(n.window.end)}"
        if n.window.samples is not None:
            window += f"\n{n.window.samples} samples"
        fields.append(window)
    else:
        fields.append(f"*Alert*\n{escape(n.kind)}")
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if n.description:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": escape(n.description)}})
    if n.columns:
        lines = "\n".join(_column_line(c) for c in n.columns)
        title = "*Top drifted columns*" if n.status is Status.FIRING else "*Drifted columns*"
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{title}\n{lines}"}})
    if n.prediction is not None and n.prediction.drifted:
        line = _column_line(n.prediction).removeprefix("• ")
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Prediction*\n{line}"}})
    buttons = [
        (label, url)
        for label, url in (
            ("Grafana dashboard", n.grafana_url),
            ("Drift report", n.report_url),
            ("Runbook", n.runbook_url),
        )
        if url and url.startswith(("https://", "http://"))
    ]
    if buttons:
        out.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
                    for label, url in buttons
                ],
            }
        )
    context = f"started {_time(n.started_at)} · {n.source.value} · alert `{n.alert_id[:12]}`"
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return out
