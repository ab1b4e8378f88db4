"""drift.retry: the one RetryPolicy of the client, alert delivery and ClearML reporting (backoff
growth, cap, jitter bounds, the Retry-After rule, both stop rules, validation) and the
``Retry-After`` header parser shared by the client and the Slack sink."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import drift.client
import drift.client.client
from drift.retry import RetryPolicy, retry_after_seconds

NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


def test_backoff_grows_by_the_multiplier_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=5, multiplier=3, jitter=0)
    rng = random.Random(0)
    assert [policy.delay(n, rng) for n in range(1, 6)] == [0.5, 1.5, 4.5, 5, 5]
    assert [policy.backoff(n) for n in (1, 2, 3)] == [0.5, 1.5, 4.5]


def test_backoff_of_a_huge_attempt_number_is_the_cap_not_an_overflow() -> None:
    policy = RetryPolicy(initial_backoff=0.001, max_backoff=0.01, multiplier=10, max_age=1)
    assert policy.backoff(100_000) == 0.01
    assert RetryPolicy(multiplier=2).backoff(10**6) == 60.0  # an int multiplier too


def test_jitter_stays_within_its_bounds_and_varies() -> None:
    policy = RetryPolicy(initial_backoff=1, max_backoff=10, multiplier=2, jitter=0.5)
    rng = random.Random(42)
    for attempt, base in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert base * 0.5 <= min(delays)
        assert max(delays) <= base * 1.5
        assert max(delays) - min(delays) > 0


def test_a_seeded_rng_gives_the_same_delays() -> None:
    policy = RetryPolicy()
    first = [policy.delay(n, random.Random(7)) for n in range(1, 8)]
    assert first == [policy.delay(n, random.Random(7)) for n in range(1, 8)]


@given(
    attempt=st.integers(1, 200),
    initial=st.floats(0.001, 10),
    spread=st.floats(1, 100),
    multiplier=st.floats(1, 10),
    jitter=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_delay_is_within_jitter_of_the_capped_backoff(
    attempt: int, initial: float, spread: float, multiplier: float, jitter: float, seed: int
) -> None:
    policy = RetryPolicy(
        initial_backoff=initial, max_backoff=initial * spread, multiplier=multiplier, jitter=jitter
    )
    base = policy.backoff(attempt)
    assert initial <= base <= policy.max_backoff
    delay = policy.delay(attempt, random.Random(seed))
    assert base * (1 - jitter) * (1 - 1e-9) <= delay <= base * (1 + jitter) * (1 + 1e-9)


def test_retry_after_is_a_floor_capped_at_max_retry_after() -> None:
    policy = RetryPolicy(initial_backoff=2, max_backoff=8, jitter=0, max_retry_after=30)
    rng = random.Random(0)
    assert policy.delay(1, rng, retry_after=10) == 10  # longer than the backoff: honoured
    assert policy.delay(3, rng, retry_after=1) == 8  # shorter: never sooner than the backoff
    assert policy.delay(1, rng, retry_after=0) == 2
    assert policy.delay(1, rng, retry_after=7200) == 30  # a server cannot park us for hours
    assert policy.delay(1, rng, retry_after=float("inf")) == 30
    assert policy.delay(1, rng, retry_after=float("nan")) == 2
    assert policy.delay(1, rng, retry_after=None) == 2
    jittered = RetryPolicy(initial_backoff=10, max_backoff=10, jitter=0.5, max_retry_after=3)
    assert all(5 <= jittered.delay(1, rng, retry_after=3) <= 15 for _ in range(50))


def test_max_attempts_stops_by_count() -> None:
    policy = RetryPolicy(max_attempts=3, max_age=None)
    assert not policy.exhausted(1)
    assert not policy.exhausted(2, age=1e9, next_delay=1e9)  # no age limit
    assert policy.exhausted(3)
    assert RetryPolicy(max_attempts=1, max_age=None).exhausted(1)


def test_max_age_stops_by_age_including_the_next_wait() -> None:
    policy = RetryPolicy(max_age=60)
    assert policy.max_attempts is None
    assert not policy.exhausted(10_000, age=55, next_delay=4)  # no attempt limit
    assert policy.exhausted(2, age=55, next_delay=6)
    assert policy.expired(55, 6)
    assert not policy.expired(55, 4)
    assert not RetryPolicy(max_attempts=2, max_age=None).expired(1e9, 1e9)


def test_both_stop_rules_together_whichever_comes_first() -> None:
    policy = RetryPolicy(max_attempts=5, max_age=10)
    assert policy.exhausted(5, age=0)
    assert policy.exhausted(2, age=9, next_delay=2)
    assert not policy.exhausted(4, age=9, next_delay=1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_age": 0}, "max_age"),
        ({"max_age": float("inf")}, "max_age"),
        ({"max_age": None}, "stop rule"),
        ({"initial_backoff": -1}, "initial_backoff"),
        ({"initial_backoff": 5, "max_backoff": 1}, "initial_backoff <= max_backoff"),
        ({"max_backoff": float("inf")}, "max_backoff"),
        ({"initial_backoff": float("nan")}, "initial_backoff"),
        ({"initial_backoff": 0}, "only max_age"),  # would retry in a hot loop for an hour
        ({"multiplier": 0.5}, "multiplier"),
        ({"jitter": 1.5}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
        ({"max_retry_after": -1}, "max_retry_after"),
    ],
)
def test_invalid_policies_are_refused_naming_the_field(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**options)


def test_zero_backoff_is_allowed_when_attempts_bound_the_retries() -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff=0, jitter=0)
    assert policy.delay(2, random.Random(0)) == 0


def test_attempts_are_one_based_and_arguments_keyword_only() -> None:
    with pytest.raises(ValueError, match="1-based"):
        RetryPolicy().delay(0, random.Random(0))
    with pytest.raises(TypeError):
        RetryPolicy(5)  # type: ignore[misc]


def test_retryable_statuses_are_429_and_5xx() -> None:
    assert all(RetryPolicy.retryable(s) for s in (429, 500, 502, 503, 504, 507, 599))
    assert not any(RetryPolicy.retryable(s) for s in (200, 400, 401, 404, 413, 422, 600))


def test_the_client_and_delivery_share_the_class_with_their_own_defaults() -> None:
    assert drift.client.RetryPolicy is RetryPolicy
    assert drift.client.client.RetryPolicy is RetryPolicy
    client = drift.client.CLIENT_RETRY
    assert (client.max_attempts, client.max_age) == (5, None)
    assert (client.initial_backoff, client.max_backoff, client.max_retry_after) == (0.5, 30, 60)
    assert (client.multiplier, client.jitter) == (2.0, 0.2)
    delivery = RetryPolicy()
    assert (delivery.max_attempts, delivery.max_age) == (None, 3600)
    assert (delivery.initial_backoff, delivery.max_backoff) == (1.0, 60.0)


def test_importing_it_loads_only_the_standard_library() -> None:
    code = (
        "import sys; before = set(sys.modules); import drift.retry; "
        "print(sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] not in sys.stdlib_module_names))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == (
        "['drift', 'drift.client', 'drift.client.client', 'drift.client.middleware', "
        "'drift.client.retry', 'drift.retry']"
    )


# the Retry-After header -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "5"}, 5.0),  # the client's transport: lower-case names
        ({"Retry-After": "7"}, 7.0),  # Slack's webhook response: as sent
        ({"RETRY-AFTER": " 1.5 "}, 1.5),
        ({"retry-after": ["3", "9"]}, 3.0),  # slack-sdk WebClient: list values
        ({"retry-after": ("4",)}, 4.0),
        ({"retry-after": b"6"}, 6.0),
        ({"retry-after": 8}, 8.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),  # an HTTP date, from NOW
        ({"Retry-After": ["Wed, 21 Oct 2015 07:29:00 GMT"]}, 60.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 -0000"}, 30.0),  # no zone: UTC
        ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),  # past: at once
        ({"content-type": "text/plain", "x-retry-after": "5"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": []}, None),
        ({"retry-after": None}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": True}, None),
        ({"retry-after": {"s": 1}}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, Any] | None, seconds: float | None) -> None:
    assert retry_after_seconds(headers, now=NOW) == seconds


def test_retry_after_dates_count_from_the_current_time_by_default() -> None:
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    far = retry_after_seconds({"retry-after": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert far is not None
    assert far > 365 * 86400


def test_the_client_and_the_slack_sink_parse_with_the_same_function() -> None:
    from exporters.alerts import slack

    assert drift.client.client.retry_after_seconds is retry_after_seconds
    assert slack.retry_after_seconds is retry_after_seconds
