"""drift.redact: secrets by shape and registered values are masked in text and in every log
record of the process (message, arguments, traceback)."""

from __future__ import annotations

import logging

import pytest

from drift.redact import MASK, install_log_redaction, redact, register_secrets


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("GET http://AKIAKEY:s3cr3tvalue@minio:9000/b/k failed", "s3cr3tvalue", "minio:9000/b/k"),
        ("url https://user@host/x", "user@", "host/x"),
        ("token xoxb-1234-5678-abcdEFGH in use", "1234-5678-abcdEFGH", "token xoxb-"),
        ("POST https://hooks.slack.com/services/T000/B111/XXXXsecret", "XXXXsecret", "hooks.slack"),
        ("https://s3/obj?X-Amz-Signature=abcdef123&X-Amz-Date=1", "abcdef123", "X-Amz-Date=1"),
        ("connect ?access_token=zzz9&x=1", "zzz9", "x=1"),
        ("password=hunter2 and more", "hunter2", "and more"),
    ],
)
def test_secrets_by_shape(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out
    assert kept in out
    assert MASK in out


def test_text_without_secrets_is_unchanged() -> None:
    text = "model m: reference file 18c2-1f3 loaded, 1200 rows, see https://grafana/d/x?var=1"
    assert redact(text) == text


def test_registered_values_are_masked_wherever_they_appear() -> None:
    register_secrets(["my-kafka-pass-1", None, "", "ab"])  # empty and very short are ignored
    assert redact("sasl failed for my-kafka-pass-1!") == f"sasl failed for {MASK}!"
    assert redact("ab cd") == "ab cd"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    register_secrets(["registered-secret-42"])
    log = logging.getLogger("tests.redact")
    with caplog.at_level(logging.DEBUG, logger="tests.redact"):
        log.debug("sending to %s", "https://hooks.slack.com/services/T1/B2/abcdef")
        log.info("token %s", "registered-secret-42")
        try:
            raise RuntimeError("cannot reach http://key:topsecret@127.0.0.1:1/bucket")
        except RuntimeError:
            log.exception("load failed")
    assert "abcdef" not in caplog.text
    assert "registered-secret-42" not in caplog.text
    assert "topsecret" not in caplog.text
    assert "load failed" in caplog.text
    assert "RuntimeError" in caplog.text  # the traceback is kept, redacted
