"""The Slack message of a notification: Block Kit blocks plus a fallback text.

Only names, methods, scores, shares, counts, times and links go in; never feature values.
https://api.slack.com/reference/block-kit/blocks

Every text that did not come from the sidecar itself (Alertmanager labels and annotations, model
and column names, anything derived from data) is data, never markup:

- ``escape``: ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;``, ``&gt;``, Slack's documented
  escaping (https://api.slack.com/reference/surfaces/formatting#escaping), in every text:
  mrkdwn, plain_text and the fallback. So ``<!channel>``, ``<@U123>`` or ``<https://x|click>``
  show as text and notify nobody.
- ``prose`` (outside text in mrkdwn): escaped, and the mrkdwn formatting characters, for which
  Slack has no escape, are replaced by look-alikes (as jsx-slack's ``<Escape>`` does):
  ``*`` -> U+2217 ASTERISK OPERATOR, ``_`` -> U+02CD MODIFIER LETTER LOW MACRON, ``~`` ->
  U+223C TILDE OPERATOR, a backtick -> U+02CB MODIFIER LETTER GRAVE ACCENT; a ``>`` that starts
  a line gets a soft hyphen (U+00AD) before it (no block quote). Outside text can neither
  format itself nor open or close the sidecar's own ``*bold*`` and ```code```.
- ``code`` (outside text inside the sidecar's ```code``` spans: column names, alert ids):
  escaped, backticks replaced, line breaks made spaces; ``*_~`` are literal inside code.
- mrkdwn text objects are sent with ``verbatim: true``: Slack does not turn URLs, ``#channel``
  names or ``@here`` written as plain words into links or mentions.
- Buttons only for absolute http(s) URLs without blanks or control characters.

Texts are clipped to Slack's limits (header 150, field 2000, section and context 3000
characters) after escaping, never inside an entity, marked "… (truncated)".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from drift.alerting.notification import TRUNCATED, ColumnScore, Notification, Status

_ICON = {Status.FIRING: ":rotating_light:", Status.RESOLVED: ":white_check_mark:"}
HEADER_MAX = 150  # Slack's limit for a header's plain text
FIELD_MAX = 2000  # a section field
SECTION_MAX = 3000  # a section's text, a context element
FALLBACK_MAX = 3000
URL_MAX = 3000  # a button's url
_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})
_QUOTE = re.compile(r"^([ \t]*)&gt;", re.MULTILINE)
_BLANKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def escape(text: str) -> str:
    """Slack's control characters as HTML entities
    (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def prose(text: str) -> str:
    """Outside text for a mrkdwn object: escaped, its formatting characters neutralised."""
    return _QUOTE.sub("\\1\u00ad&gt;", escape(text).translate(_LOOKALIKES))


def code(text: str) -> str:
    """Outside text for inside the sidecar's own inline code span."""
    return _BLANKS.sub(" ", escape(text).replace("`", "\u02cb"))


def plain(text: str) -> str:
    """Outside text for a one-line plain_text object (a header, a button)."""
    return _BLANKS.sub(" ", escape(text))


def _units(text: str) -> int:
    """Length as Slack counts it (UTF-16 code units)."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def clip(text: str, limit: int) -> str:
    """``text`` (already escaped) cut to ``limit`` characters with a marker, never inside an
    ``&...;`` entity."""
    if _units(text) <= limit:
        return text
    room = limit - _units(TRUNCATED)
    out: list[str] = []
    used = 0
    for c in text:
        used += 2 if ord(c) > 0xFFFF else 1
        if used > room:
            break
        out.append(c)
    head = "".join(out)
    amp = head.rfind("&", max(0, len(head) - 5))
    if amp >= 0 and ";" not in head[amp:]:
        head = head[:amp]
    return head + TRUNCATED


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def safe_url(url: str | None) -> str | None:
    """``url`` if a button may point to it: absolute http(s), a host, no blanks or controls."""
    if not url or len(url) > URL_MAX or _URL_UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises on a port out of range
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def _time(value: float | None) -> str:
    if value is None:
        return "?"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _column_line(col: ColumnScore) -> str:
    if col.method is None:
        return f"• `{code(col.column)}`"
    return (
        f"• `{code(col.column)}`: {prose(col.method)} {_number(col.score)} "
        f"(threshold {_number(col.threshold)})"
    )


def _whole_lines(title: str, lines: list[str], limit: int) -> str:
    """``title`` and as many whole ``lines`` as fit in ``limit`` (a cut line could leave a code
    span open); a line too long even alone is clipped."""
    out = title
    for i, line in enumerate(lines):
        more = f"\n{line}"
        rest = "" if i == len(lines) - 1 else f"\n{TRUNCATED}"
        if _units(out + more + rest) > limit:
            return clip(out + more, limit) if i == 0 else f"{out}\n{TRUNCATED}"
        out += more
    return out


def text(n: Notification) -> str:
    """The fallback text (notifications, screen readers): mrkdwn, so outside text is prose."""
    state = "RESOLVED" if n.status is Status.RESOLVED else "FIRING"
    return clip(f"[{state}] {_BLANKS.sub(' ', prose(n.summary))}", FALLBACK_MAX)


def blocks(n: Notification) -> list[dict[str, Any]]:
    state = {Status.RESOLVED: "Resolved", Status.FIRING: "Firing"}[n.status]
    if n.repeat:
        state = "Still firing"
    header = clip(f"{_ICON[n.status]} {state}: {plain(n.summary)}", HEADER_MAX)
    fields = [
        f"*Model*\n{prose(n.model or '(none)')}",
        f"*Severity*\n{prose(n.severity)}",
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
        fields.append(f"*Alert*\n{prose(n.kind)}")
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "fields": [mrkdwn(clip(f, FIELD_MAX)) for f in fields]},
    ]
    if n.description:
        out.append({"type": "section", "text": mrkdwn(clip(prose(n.description), SECTION_MAX))})
    if n.columns:
        title = "*Top drifted columns*" if n.status is Status.FIRING else "*Drifted columns*"
        lines = _whole_lines(title, [_column_line(c) for c in n.columns], SECTION_MAX)
        out.append({"type": "section", "text": mrkdwn(lines)})
    if n.prediction is not None and n.prediction.drifted:
        line = _column_line(n.prediction).removeprefix("• ")
        out.append({"type": "section", "text": mrkdwn(clip(f"*Prediction*\n{line}", SECTION_MAX))})
    buttons = [
        (label, url)
        for label, url in (
            ("Grafana dashboard", safe_url(n.grafana_url)),
            ("Drift report", safe_url(n.report_url)),
            ("Runbook", safe_url(n.runbook_url)),
        )
        if url is not None
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
    context = f"started {_time(n.started_at)} · {n.source.value} · alert `{code(n.alert_id[:12])}`"
    for note in n.notes:
        context += f" · {prose(note)}"
    out.append({"type": "context", "elements": [mrkdwn(clip(context, SECTION_MAX))]})
    return out
