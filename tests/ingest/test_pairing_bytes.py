"""The pending table bounded in bytes, and the compact form in which a half waits.

The table: its byte count follows every offer, pairing, expiry, discard and eviction; past
``max_bytes`` the oldest halves are evicted and reported like the evictions for ``capacity``; a
half over ``max_bytes`` on its own is not stored. ``ENTRY_BYTES`` and the estimates of
``keep_rows`` / ``keep_values`` stay above what ``tracemalloc`` sees. The compact form keeps only
the model's features, numbers as float64 and strings cut to ``max_str + 1`` characters, and
validation of the samples rebuilt from it gives what it gives for the rows as decoded (a
Hypothesis property over hostile rows: every kind of JSON value, missing features, long strings).
"""

from __future__ import annotations

import gc
import math
import sys
import tracemalloc
from array import array
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.core.columns import ColumnType, SampleSchema
from drift.ingest.cloudevents import samples_payload
from drift.ingest.pairing import (
    ENTRY_BYTES,
    MISSING,
    Drop,
    KeptRows,
    Offered,
    PendingTable,
    Side,
    keep_rows,
    keep_values,
)
from drift.ingest.samples import validate_samples

MAX_STR = 16


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


Dropped = list[tuple[Drop, Side, str]]


def table(
    max_bytes: int, capacity: int = 100, ttl: float = 30.0
) -> tuple[PendingTable[str, str], Clock, Dropped]:
    clock, dropped = Clock(), []

    def on_drop(reason: Drop, side: Side, value: str) -> None:
        dropped.append((reason, side, value))

    return PendingTable(ttl, capacity, on_drop, clock, max_bytes=max_bytes), clock, dropped


# ------------------------------------------------------------------------------ the table


def test_the_byte_count_follows_offers_pairs_expiry_and_discards() -> None:
    t, clock, _ = table(max_bytes=10_000)
    assert t.bytes == 0
    t.offer("a", Side.REQUEST, "ra", 100)
    t.offer("b", Side.RESPONSE, "rb", 200)
    assert t.bytes == 300 + 2 * ENTRY_BYTES
    assert t.offer("a", Side.RESPONSE, "x", 5_000).status is Offered.PAIRED  # size not needed
    assert t.bytes == 200 + ENTRY_BYTES
    assert t.discard("b") == "rb"
    assert t.bytes == 0
    t.offer("c", Side.REQUEST, "rc", 50)
    clock.now += 30
    assert t.sweep() == 1
    assert t.bytes == 0


def test_past_max_bytes_the_oldest_are_evicted_and_reported_as_evicted() -> None:
    t, _, dropped = table(max_bytes=3 * (ENTRY_BYTES + 100))
    for i in range(3):
        t.offer(f"id-{i}", Side.REQUEST, f"r{i}", 100)
    assert dropped == []
    assert t.bytes == 3 * (ENTRY_BYTES + 100)  # full to the byte
    # a half twice as large (its entry included) pushes out the two oldest, no more
    assert t.offer("big", Side.RESPONSE, "big", ENTRY_BYTES + 200).status is Offered.WAITING
    assert dropped == [(Drop.EVICTED, Side.REQUEST, "r0"), (Drop.EVICTED, Side.REQUEST, "r1")]
    assert len(t) == 2
    assert t.bytes == t.max_bytes
    assert t.offer("id-2", Side.RESPONSE, "x").partner == "r2"  # the younger one stays


def test_count_and_bytes_both_bound_the_table() -> None:
    t, _, dropped = table(max_bytes=10**9, capacity=2)
    for i in range(3):
        t.offer(f"id-{i}", Side.REQUEST, f"r{i}", 10)
    assert dropped == [(Drop.EVICTED, Side.REQUEST, "r0")]
    assert t.bytes == 2 * (ENTRY_BYTES + 10)


def test_a_half_over_max_bytes_alone_is_refused_and_evicts_nothing() -> None:
    limit = 2 * ENTRY_BYTES
    t, _, dropped = table(max_bytes=limit)
    t.offer("small", Side.REQUEST, "s", 0)
    offer = t.offer("huge", Side.REQUEST, "h", limit - ENTRY_BYTES + 1)
    assert offer.status is Offered.TOO_LARGE
    assert "huge" not in t
    assert dropped == []
    assert len(t) == 1
    assert t.bytes == ENTRY_BYTES
    # exactly the limit fits, after evicting the rest
    assert t.offer("fits", Side.REQUEST, "f", limit - ENTRY_BYTES).status is Offered.WAITING
    assert dropped == [(Drop.EVICTED, Side.REQUEST, "s")]
    assert t.bytes == limit


def test_a_partner_pairs_even_when_the_table_is_full_of_bytes() -> None:
    t, _, dropped = table(max_bytes=ENTRY_BYTES + 10)
    t.offer("a", Side.REQUEST, "ra", 10)
    assert t.offer("a", Side.RESPONSE, "huge", 10**9).partner == "ra"
    assert dropped == []


def test_take_pairs_or_says_duplicate_without_storing() -> None:
    t, _, _ = table(max_bytes=10_000)
    assert t.take("a", Side.REQUEST) is None
    assert "a" not in t
    t.offer("a", Side.REQUEST, "ra", 10)
    assert "a" in t
    duplicate = t.take("a", Side.REQUEST)
    assert duplicate is not None
    assert duplicate.status is Offered.DUPLICATE
    paired = t.take("a", Side.RESPONSE)
    assert paired is not None
    assert (paired.status, paired.partner) == (Offered.PAIRED, "ra")
    assert len(t) == 0
    assert t.bytes == 0


def test_max_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PendingTable(1, 10, max_bytes=0)


def test_entry_bytes_is_not_below_what_tracemalloc_sees() -> None:
    """A full table in its steady state (the oldest evicted as new halves come), at n just past
    a resize of the hash table, where an entry costs most, with tuple keys like the service's
    (a dict of str keys takes 32 bytes less per entry); the keys and values exist already, so
    what grows is the table's own share."""
    n = 2**15 // 3 + 2
    keys = [("model", "predictor", "default", f"{i:036d}") for i in range(4 * n)]
    clock = Clock()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        t: PendingTable[tuple[str, ...], str] = PendingTable(1e9, n, None, clock, max_bytes=2**40)
        for key in keys:
            clock.now += 0.001
            t.offer(key, Side.REQUEST, "v", 1_000)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(t) == n
    assert t.bytes == n * (1_000 + ENTRY_BYTES)
    assert traced <= n * ENTRY_BYTES
    assert traced > n * ENTRY_BYTES * 0.9  # and not far below it: 328 bytes here


# ------------------------------------------------------------------------ the compact form

NUMERICAL = ("age", "income")
CATEGORICAL = ("city",)


def test_only_the_features_are_kept_numbers_as_float64() -> None:
    rows: list[dict[str, Any]] = [
        {"age": 41, "income": 1.5, "city": "paris", "junk": "x" * 10_000},
        {"age": None, "income": 2**70, "city": "rome", "more": [1, 2, 3]},
    ]
    kept, _ = keep_rows(rows, NUMERICAL, CATEGORICAL, max_rows=10, max_str=MAX_STR)
    assert kept.n == 2
    assert isinstance(kept.numbers, array)
    assert kept.numbers.typecode == "d"
    assert kept.others == ["paris", "rome"]
    rebuilt = kept.rows()
    assert rebuilt[0] == {"age": 41.0, "income": 1.5, "city": "paris"}
    assert math.isnan(rebuilt[1]["age"])
    assert rebuilt[1]["income"] == float(2**70)
    assert list(rebuilt[1]) == ["age", "income", "city"]


@pytest.mark.parametrize(
    "odd", [True, "41", [41], {"v": 41}, 10**400], ids=["bool", "str", "list", "dict", "huge"]
)
def test_numbers_that_are_not_numbers_stay_as_they_were(odd: Any) -> None:
    rows = [{"age": odd, "income": 1.0, "city": "paris"}]
    kept, _ = keep_rows(rows, NUMERICAL, CATEGORICAL, max_rows=10, max_str=MAX_STR)
    assert isinstance(kept.numbers, list)
    value = kept.rows()[0]["age"]
    assert type(value) is type(odd)
    if not isinstance(odd, list | dict):
        assert value == odd
    else:
        assert value == type(odd)()  # emptied: validation rejects it by its kind alone


def test_long_strings_are_cut_to_one_more_character_and_shared_when_equal() -> None:
    long, emoji = "p" * 1000, "😀" * 5  # 20 bytes in UTF-8, 5 characters: kept whole
    rows = [{"age": 1, "income": 1, "city": c} for c in (long, emoji, "paris", "paris")]
    kept, _ = keep_rows(rows, NUMERICAL, CATEGORICAL, max_rows=10, max_str=MAX_STR)
    assert kept.others == ["p" * (MAX_STR + 1), emoji, "paris", "paris"]
    assert kept.others[2] is kept.others[3]


def test_a_lacking_feature_stays_lacking() -> None:
    rows: list[dict[str, Any]] = [{"age": 1.0, "city": "paris"}, {"age": 2.0, "income": 3.0}]
    kept, _ = keep_rows(rows, NUMERICAL, CATEGORICAL, max_rows=10, max_str=MAX_STR)
    assert kept.holes
    assert kept.numbers == [1.0, MISSING, 2.0, 3.0]
    assert kept.rows() == [{"age": 1.0, "city": "paris"}, {"age": 2.0, "income": 3.0}]


def test_more_rows_than_may_be_ingested_keep_their_number_only() -> None:
    rows = [{"age": 1.0, "income": 1.0, "city": "x"}] * 11
    kept, size = keep_rows(rows, NUMERICAL, CATEGORICAL, max_rows=10, max_str=MAX_STR)
    assert (kept.n, kept.numbers, kept.others) == (11, None, None)
    assert size == sys.getsizeof(kept)
    with pytest.raises(ValueError, match="11"):
        kept.rows()
    values, _ = keep_values([1.0] * 11, True, max_rows=10, max_str=MAX_STR)
    assert (values.n, values.values) == (11, None)
    with pytest.raises(ValueError, match="11"):
        values.tolist()


def test_predictions_numeric_as_float64_categorical_as_they_came() -> None:
    numeric, _ = keep_values([1, 0.5, None], True, max_rows=10, max_str=MAX_STR)
    assert isinstance(numeric.values, array)
    assert numeric.tolist()[:2] == [1.0, 0.5]
    assert math.isnan(numeric.tolist()[2])
    classes, _ = keep_values([1, "yes", True, "n" * 100], False, max_rows=10, max_str=MAX_STR)
    assert classes.tolist() == [1, "yes", True, "n" * (MAX_STR + 1)]
    assert [type(v) for v in classes.tolist()] == [int, str, bool, str]


def test_one_instance_and_no_features_rebuild() -> None:
    one, _ = keep_rows([{"age": 1.0, "x": 2}], ("age",), (), max_rows=10, max_str=MAX_STR)
    assert one.rows() == [{"age": 1.0}]
    only_city, _ = keep_rows([{"city": "a"}] * 2, (), ("city",), max_rows=10, max_str=MAX_STR)
    assert only_city.rows() == [{"city": "a"}, {"city": "a"}]
    nothing, _ = keep_rows([{"x": 1}] * 3, (), (), max_rows=10, max_str=MAX_STR)
    assert nothing.rows() == [{}, {}, {}]


def _kept_rows(i: int, numbers: str) -> list[dict[str, Any]]:
    """Rows of 3 instances: distinct 16-character strings (two ASCII, one of 4-byte characters),
    a 300-character one cut to 17, numbers all floats or (``numbers="mixed"``) with ints, None
    and bools, which keep them in a list."""
    if numbers == "floats":
        nums: list[Any] = [i + 0.5, i + 0.25, i / 3]
    else:
        nums = [i, None, i % 2 == 0]
    return [
        {"age": nums[k], "income": float(k), "city": city, "junk": "x" * 100}
        for k, city in enumerate((f"{i:016d}", "😀" * 4 + f"{i:012d}", "y" * 300))
    ]


@pytest.mark.parametrize("numbers", ["floats", "mixed"])
def test_the_estimate_of_a_kept_half_is_not_below_what_tracemalloc_sees(numbers: str) -> None:
    n = 2**12 // 3 + 1
    clock = Clock()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        t: PendingTable[str, KeptRows] = PendingTable(1e9, n, None, clock, max_bytes=2**40)
        for i in range(3 * n):
            clock.now += 0.001
            key = f"{i:036d}"
            kept, size = keep_rows(
                _kept_rows(i, numbers), NUMERICAL, CATEGORICAL, max_rows=10, max_str=MAX_STR
            )
            t.offer(key, Side.REQUEST, kept, size + sys.getsizeof(key))
        del kept
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert traced <= t.bytes
    assert traced > t.bytes * 0.8, f"{traced:,} traced, {t.bytes:,} estimated"


# ------------------------------------------------- validation sees what it saw (Hypothesis)

SCHEMA = SampleSchema(NUMERICAL, CATEGORICAL, "label", ColumnType.CATEGORICAL)
NUMERIC_SCHEMA = SampleSchema(NUMERICAL, CATEGORICAL, "score", ColumnType.NUMERICAL)

ABSENT = object()  # the row lacks the feature

# hostile values: every kind of JSON value, numbers beyond float64, strings around MAX_STR bytes
json_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -0.0, 0, 1, 2, -5, 2**63, 2**70, 10**400]),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from([None, True, False]),
    st.text(max_size=4),
    st.sampled_from(["paris", "p" * MAX_STR, "p" * (MAX_STR + 1), "😀" * 4, "😀" * 5, "ü" * 9]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
# mostly good values, so that validation reaches every feature of most rows
good_numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-9, 9))
good_categories = st.sampled_from(["paris", "rome", "p" * MAX_STR, "p" * (MAX_STR + 1), 3])


def _feature(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(good, good, good, json_values, st.just(ABSENT))


rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "age": _feature(good_numbers),
            "income": _feature(good_numbers),
            "city": _feature(good_categories),
            "extra": st.one_of(st.just(ABSENT), json_values),
        }
    ).map(lambda row: {k: v for k, v in row.items() if v is not ABSENT}),
    min_size=0,
    max_size=6,
)


def _same_validation(
    original: dict[str, Any], rebuilt: dict[str, Any], schema: SampleSchema
) -> None:
    """Validation of both payloads: the same batch, the same rejections (index, field, reason:
    the detail of a ``too_long`` may name a shorter length)."""
    before, rejected_before = validate_samples(original, schema, 1000, max_value_bytes=MAX_STR)
    after, rejected_after = validate_samples(rebuilt, schema, 1000, max_value_bytes=MAX_STR)
    assert [(r.index, r.field, r.reason) for r in rejected_after] == [
        (r.index, r.field, r.reason) for r in rejected_before
    ]
    assert after.ids == before.ids
    assert after.columns.keys() == before.columns.keys()
    for name, column in before.columns.items():
        np.testing.assert_array_equal(np.asarray(after.columns[name]), np.asarray(column))


@settings(max_examples=300, deadline=None)
@given(
    rows=rows_strategy,
    preds=st.lists(st.one_of(good_categories, good_numbers, json_values), max_size=6),
)
def test_validation_of_the_kept_rows_equals_validation_of_the_rows(
    rows: list[dict[str, Any]], preds: list[Any]
) -> None:
    preds = (preds or ["yes"]) * len(rows)
    preds = preds[: len(rows)]  # one per instance
    kept, _ = keep_rows(rows, NUMERICAL, CATEGORICAL, max_rows=100, max_str=MAX_STR)
    for schema in (SCHEMA, NUMERIC_SCHEMA):
        numeric = schema.prediction_type is ColumnType.NUMERICAL
        kept_preds, _ = keep_values(preds, numeric, max_rows=100, max_str=MAX_STR)
        original = samples_payload("r", rows, preds)
        rebuilt = samples_payload("r", kept.rows(), kept_preds.tolist())
        _same_validation(original, rebuilt, schema)
