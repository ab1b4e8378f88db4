"""Secrets never leave the process: redaction of text bound for responses and logs.

Two kinds of secret are removed from any text:

- **known values**, registered at start-up from the settings (a Slack webhook URL or bot token,
  a Kafka password, API tokens): each occurrence becomes ``***``;
- **secrets by shape**, whoever wrote them: credentials inside URLs (``scheme://user:pass@host``
  becomes ``scheme://***@host``), Slack tokens (``xoxb-...``), Slack webhook paths
  (``/services/T.../B.../...``) and query parameters named like secrets (``token=``,
  ``X-Amz-Signature=``, ...).

``install_log_redaction()`` makes every log record of the process go through ``redact`` (its
message, arguments and traceback text), so a library that logs a URL at debug level (slack-sdk
does) cannot leak one either. Standard library only.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

MASK = "***"

_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@:]*(:[^/\s@]*)?@")
_SLACK_TOKEN = re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+")
_SLACK_WEBHOOK = re.compile(r"(/services/)T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+")
_SECRET_PARAM = re.compile(
    r"(?i)\b(?P<key>[A-Za-z0-9_-]*(?:token|secret|password|passwd|signature|credential|api[_-]?key)"
    r"[A-Za-z0-9_-]*)=(?P<value>[^&\s\"'<>]+)"
)

_lock = threading.Lock()
_known: tuple[str, ...] = ()


def register_secrets(values: Iterable[str | None]) -> None:
    """Add values (tokens, passwords, webhook URLs) to redact wherever they appear."""
    global _known
    new = {v for v in values if v and len(v) >= 4}  # very short values would mask common text
    with _lock:
        # longest first: a secret that contains another is masked whole
        _known = tuple(sorted(set(_known) | new, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` without registered secrets and without secrets by shape."""
    for value in _known:
        if value in text:
            text = text.replace(value, MASK)
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _SLACK_TOKEN.sub(lambda m: m.group(0)[:5] + MASK, text)
    text = _SLACK_WEBHOOK.sub(lambda m: m.group(1) + MASK, text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group('key')}={MASK}", text)


_installed = False


def install_log_redaction() -> None:
    """Redact every log record created from now on in this process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what logging would show
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
