"""Forwarded Alertmanager alerts, pure: text caps when the notification is built, the runbook
link policy, the per-receiver token buckets and the forwarder's duplicate / rate decisions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.alerting.alertmanager import (
    RUNBOOK_WITHHELD,
    AlertmanagerPayload,
    Forwarder,
    ReceiverBuckets,
    TokenBucket,
    runbook_link,
    to_notification,
)
from drift.alerting.notification import (
    TRUNCATED,
    Notification,
    Source,
    Status,
    TextLimits,
    approx_bytes,
    limited,
    truncate,
)
from drift.alerting.state import Deduplicator
from tests.alerting_data import firing_and_resolved, policy

BASE = "https://git.example.com/drift-sidecar/blob/main/"


def alert(i: int = 0, status: str = "firing", **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": status,
        "labels": {"alertname": "DriftDatasetDetected", "model": "m1", "severity": "warning"},
        "annotations": {"summary": "Dataset drift on model m1"},
        "startsAt": "2026-01-02T03:04:05Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": f"{i:016x}",
    }
    out.update(changes)
    return out


def payload(*alerts: dict[str, Any], receiver: str = "drift-sidecar") -> AlertmanagerPayload:
    return AlertmanagerPayload.model_validate(
        {"version": "4", "status": "firing", "receiver": receiver, "alerts": list(alerts)}
    )


# text caps -------------------------------------------------------------------------------------


@given(st.text(max_size=300), st.integers(min_value=16, max_value=200))
@settings(max_examples=300, deadline=None)
def test_truncate_fits_in_bytes_and_keeps_a_prefix(text: str, cap: int) -> None:
    out = truncate(text, cap)
    assert len(out.encode("utf-8", "surrogatepass")) <= cap
    if out != text:
        assert out.endswith(TRUNCATED)
        assert text.startswith(out.removesuffix(TRUNCATED))
    else:
        assert len(text.encode("utf-8", "surrogatepass")) <= cap


def test_a_3_mb_description_is_cut_when_the_notification_is_built() -> None:
    huge = "d" * 3_000_000
    labels = {f"l{i:03}": "v" * 10_000 for i in range(200)} | {"alertname": "A" * 10_000}
    annotations = {"summary": "s" * 100_000, "description": huge}
    limits = TextLimits(max_text_bytes=4096, max_labels=32)
    n = to_notification(
        payload(alert(labels=labels, annotations=annotations)).alerts[0],
        0.0,
        None,
        limits=limits,
    )
    assert n.description is not None
    assert n.description.endswith(TRUNCATED)
    for text in (n.description, n.summary, n.kind):
        assert len(text.encode()) <= 4096
    assert len(n.labels) == 32
    assert [name for name, _ in n.labels] == sorted(name for name, _ in n.labels)
    assert all(len(value.encode()) <= 1024 for _, value in n.labels)
    # a str holding "…" takes 2 bytes a character: 32 labels + summary, kind and description
    assert approx_bytes(n) < 2 * (32 * (1024 + 128) + 3 * 4096) + 32 * 300


def test_limited_caps_sidecar_notifications_too() -> None:
    firing, _ = firing_and_resolved()
    assert limited(firing, TextLimits()) == firing  # nothing to cut
    long_name = "c" * 10_000
    col = firing.columns[0]
    huge = Notification(
        **{
            **firing.__dict__,
            "columns": (type(col)(long_name, col.method, col.score, col.threshold, True),),
            "runbook_url": "https://x.example/" + "p" * 10_000,
        }
    )
    out = limited(huge, TextLimits(max_text_bytes=256))
    assert out.columns[0].column.endswith(TRUNCATED)
    assert len(out.columns[0].column.encode()) <= 256
    assert out.runbook_url is None  # a cut URL would point elsewhere: dropped


def test_empty_labels_fall_back_to_schema_valid_defaults() -> None:
    n = to_notification(
        payload(alert(labels={"alertname": "", "severity": "", "model": ""})).alerts[0], 0.0, None
    )
    assert (n.kind, n.severity, n.model, n.summary) == (
        "unnamed",
        "warning",
        None,
        "Dataset drift on model m1",
    )


def test_fingerprints_longer_than_alertmanagers_are_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="fingerprint"):
        payload(alert(fingerprint="f" * 1000))


# runbook links ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "base", "expected"),
    [
        # the shipped rules' relative link: resolved against the base, kept as it is without one
        ("docs/runbook.md#driftdatasetdetected", None, "docs/runbook.md#driftdatasetdetected"),
        (
            "docs/runbook.md#driftdatasetdetected",
            BASE,
            BASE + "docs/runbook.md#driftdatasetdetected",
        ),
        ("docs/runbook.md#x", BASE.rstrip("/"), BASE + "docs/runbook.md#x"),
        # absolute links under the base
        (BASE + "docs/runbook.md#x", BASE, BASE + "docs/runbook.md#x"),
        (
            BASE.replace("git.example.com", "GIT.example.com") + "r",
            BASE,
            BASE.replace("git.example.com", "GIT.example.com") + "r",
        ),
        # everything else is withheld
        ("https://evil.example/phish", BASE, None),
        ("https://evil.example/phish", None, None),
        ("https://git.example.com.evil.example/drift-sidecar/blob/main/x", BASE, None),
        ("https://git.example.com@evil.example/drift-sidecar/blob/main/x", BASE, None),
        ("https://git.example.com/drift-sidecar/blob/main-evil/x", BASE.rstrip("/"), None),
        (BASE + "../../../evil", BASE, None),
        (BASE + "%2e%2e/%2e%2e/evil", BASE, None),
        ("http://git.example.com/drift-sidecar/blob/main/x", BASE, None),  # other scheme
        ("javascript:alert(1)", BASE, None),
        ("javascript:alert(1)", None, None),
        ("//evil.example/x", BASE, None),
        ("/etc/passwd", None, None),
        ("../x.md", None, None),
        ("docs/<!channel>.md", None, None),
        (BASE + "x y", BASE, None),
    ],
)
def test_runbook_links_only_from_the_base_url_or_the_rule_file(
    annotation: str, base: str | None, expected: str | None
) -> None:
    assert runbook_link(annotation, base) == expected


def test_a_withheld_runbook_link_is_noted_not_shown() -> None:
    annotations = {"summary": "s", "runbook_url": "https://evil.example/phish"}
    n = to_notification(payload(alert(annotations=annotations)).alerts[0], 0.0, None)
    assert n.runbook_url is None
    assert n.notes == (RUNBOOK_WITHHELD,)
    assert "evil" not in RUNBOOK_WITHHELD
    kept = to_notification(payload(alert()).alerts[0], 0.0, None)
    assert (kept.runbook_url, kept.notes) == (None, ())


def test_link_templates_get_the_url_encoded_model_name() -> None:
    p = policy("a b/c?d&e#f")
    assert p.link("https://g.example/d?var-model={model}") == (
        "https://g.example/d?var-model=a%20b%2Fc%3Fd%26e%23f"
    )


# token buckets and the forwarder ---------------------------------------------------------------


def test_token_bucket_refills_at_the_rate_up_to_the_burst() -> None:
    bucket = TokenBucket(per_minute=60, burst=3, now=0.0)
    taken = 0
    while bucket.ready(0.0):
        bucket.take()
        taken += 1
    assert taken == 3
    assert not bucket.ready(0.5)
    assert bucket.ready(1.0)  # 60 per minute: one per second
    bucket.take()
    assert not bucket.ready(1.0)
    assert bucket.ready(1000.0)
    assert bucket.tokens == 3  # never more than the burst
    for _ in range(3):
        bucket.take()
    assert not bucket.ready(999.0)  # a clock going back adds nothing


def test_receivers_beyond_the_limit_share_one_bucket() -> None:
    buckets = ReceiverBuckets(per_minute=30, burst=5, max_receivers=2)
    a, b = buckets.get("a", 0.0), buckets.get("b", 0.0)
    assert a is not b
    assert buckets.get("a", 1.0) is a
    c, d = buckets.get("c", 0.0), buckets.get("d" * 10_000, 0.0)
    assert c is d  # the shared one
    assert c is not a
    assert c is not b
    assert buckets.get("e", 5.0) is c


def forwarder(burst: int = 30, repeat_interval: float = 3600.0) -> Forwarder:
    return Forwarder(
        {"m1": policy()},
        Deduplicator(repeat_interval),
        ReceiverBuckets(per_minute=30, burst=burst, max_receivers=4),
    )


def test_one_payload_of_300_alerts_lets_through_the_burst() -> None:
    fwd = forwarder()
    admission = fwd.admit(payload(*(alert(i) for i in range(300))), 0.0)
    assert len(admission.notifications) == 30
    assert (admission.duplicate, admission.rate_limited) == (0, 270)
    assert all(n.source is Source.ALERTMANAGER for n in admission.notifications)
    # another receiver has its own bucket
    other = fwd.admit(payload(alert(1000), receiver="critical"), 0.0)
    assert len(other.notifications) == 1
    # a minute later the first receiver may send 30 more; those held back were not remembered
    later = fwd.admit(payload(*(alert(i) for i in range(300))), 60.0)
    assert (len(later.notifications), later.duplicate) == (30, 30)
    assert {n.alert_id for n in later.notifications} == {f"{i:016x}" for i in range(30, 60)}


def test_a_repeat_is_a_duplicate_even_when_the_receiver_is_over_its_rate() -> None:
    fwd = forwarder()
    first = fwd.admit(payload(*(alert(i) for i in range(40))), 0.0)
    assert (len(first.notifications), first.rate_limited) == (30, 10)
    again = fwd.admit(payload(*(alert(i) for i in range(40))), 1.0)  # the bucket is empty
    assert (again.notifications, again.duplicate, again.rate_limited) == ([], 30, 10)


def test_the_same_payload_twice_is_a_duplicate_until_the_status_changes() -> None:
    fwd = forwarder(repeat_interval=100)
    assert len(fwd.admit(payload(alert()), 0.0).notifications) == 1
    again = fwd.admit(payload(alert()), 10.0)
    assert (again.notifications, again.duplicate, again.rate_limited) == ([], 1, 0)
    resolved = fwd.admit(payload(alert(status="resolved")), 20.0)
    assert [n.status for n in resolved.notifications] == [Status.RESOLVED]
    assert fwd.admit(payload(alert(status="resolved")), 30.0).duplicate == 1
    refired = fwd.admit(payload(alert()), 40.0)
    assert len(refired.notifications) == 1
    assert len(fwd.admit(payload(alert()), 141.0).notifications) == 1  # repeat interval passed


_url_parts = st.sampled_from(
    [
        "https://",
        "http://",
        "//",
        "git.example.com",
        "evil.example",
        "/",
        "..",
        "%2e",
        "[",
        "]",
        ":",
        "@",
        "#",
        "?",
        "\\",
        " ",
        "docs/runbook.md",
        "drift-sidecar/blob/main/",
        "javascript:",
    ]
)


@given(st.lists(_url_parts | st.text(max_size=5), max_size=8).map("".join))
@settings(max_examples=500, deadline=None)
def test_runbook_link_never_raises_and_never_leaves_the_base(annotation: str) -> None:
    with_base = runbook_link(annotation, BASE)
    assert with_base is None or with_base.startswith(BASE)
    without = runbook_link(annotation, None)
    assert without is None or "://" not in without
