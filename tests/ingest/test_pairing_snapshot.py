"""The pending table and the compact halves as plain data (what a state snapshot keeps): a
round trip through JSON gives the same halves, the same deadlines (as wall time) and the same
byte count; halves whose deadline passed while down are dropped as expired, a smaller table
evicts the oldest, and a damaged entry raises ValueError."""

from __future__ import annotations

import json
import math
from array import array
from typing import Any

import pytest

from drift.ingest.pairing import (
    MISSING,
    Drop,
    KeptRows,
    KeptValues,
    PendingTable,
    Side,
    keep_rows,
    keep_values,
    rows_from_plain,
    rows_to_plain,
    table_from_plain,
    table_to_plain,
    values_from_plain,
    values_to_plain,
)

NUMERICAL = ("a", "b")
CATEGORICAL = ("c",)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Half = KeptRows | KeptValues


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _round_trip_rows(kept: KeptRows) -> KeptRows:
    floats: array[float] = array("d")
    plain = _json(rows_to_plain(kept, floats))
    return rows_from_plain(plain, floats)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, arrays compared by their values."""
    if isinstance(a, array) or isinstance(b, array):
        return isinstance(a, array) and isinstance(b, array) and _same(a.tolist(), b.tolist())
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b) and type(a) is type(b)


@pytest.mark.parametrize(
    "rows",
    [
        [{"a": 1.5, "b": 2, "c": "x"}],
        [{"a": None, "b": float("inf"), "c": "y"}, {"a": 3.0, "b": -1, "c": "y"}],
        [{"a": "text", "b": True, "c": None}, {"a": [1], "b": {"k": 1}, "c": 4}],
        [{"a": 1.0, "c": "x" * 100}, {"b": 2.0}],  # holes, a long string cut
        [{"a": 10**400, "b": 1.0, "c": False}],  # an int beyond the float range
    ],
)
def test_kept_rows_round_trip_through_json(rows: list[dict[str, Any]]) -> None:
    kept, _ = keep_rows(rows, NUMERICAL, CATEGORICAL, max_rows=100, max_str=16)
    again = _round_trip_rows(kept)
    assert _same(tuple(again), tuple(kept))
    assert _same(again.rows(), kept.rows())


def test_count_only_rows_and_values_round_trip() -> None:
    rows, _ = keep_rows([{"a": 1.0}] * 5, NUMERICAL, CATEGORICAL, max_rows=2, max_str=16)
    assert _round_trip_rows(rows) == rows
    values, _ = keep_values([1.0, 2.0, 3.0], True, max_rows=2, max_str=16)
    floats: array[float] = array("d")
    assert values_from_plain(_json(values_to_plain(values, floats)), floats) == values


@pytest.mark.parametrize(
    ("values", "numeric"),
    [([0.5, None, 2], True), (["cat", "dog", "cat"], False), ([1, "x", None, True], True)],
)
def test_kept_values_round_trip_through_json(values: list[Any], numeric: bool) -> None:
    kept, _ = keep_values(values, numeric, max_rows=100, max_str=16)
    floats: array[float] = array("d")
    plain = _json(values_to_plain(kept, floats))
    again = values_from_plain(plain, floats)
    assert _same(tuple(again), tuple(kept))
    assert _same(again.tolist(), kept.tolist())


def _dump(key: str, value: Half, floats: array[float]) -> dict[str, Any]:
    if isinstance(value, KeptRows):
        return {"key": key, "rows": rows_to_plain(value, floats)}
    return {"key": key, "values": values_to_plain(value, floats)}


def _load(plain: Any, floats: array[float]) -> tuple[str, Half]:
    if "rows" in plain:
        return plain["key"], rows_from_plain(plain["rows"], floats)
    return plain["key"], values_from_plain(plain["values"], floats)


def _filled(clock: Clock, **limits: Any) -> PendingTable[str, Half]:
    table: PendingTable[str, Half] = PendingTable(30.0, limits.get("capacity", 100), clock=clock)
    for i in range(6):
        clock.now += 1.0
        if i % 2:
            rows = [{"a": float(i), "b": None, "c": f"v{i}"}, {"a": 1.0, "b": 2.0, "c": "w"}]
            kept, size = keep_rows(rows, NUMERICAL, CATEGORICAL, max_rows=100, max_str=16)
            table.offer(f"k{i}", Side.REQUEST, kept, size)
        else:
            values, size = keep_values([float(i), 0.5], True, max_rows=100, max_str=16)
            table.offer(f"k{i}", Side.RESPONSE, values, size)
    return table


def _saved(table: PendingTable[str, Half], wall: float) -> tuple[Any, array[float]]:
    floats: array[float] = array("d")
    plain = table_to_plain(table, wall, lambda k, v: _dump(k, v, floats))
    return _json(plain), floats


def test_a_table_round_trips_with_its_bytes_and_wall_clock_deadlines() -> None:
    clock = Clock(1_000.0)
    table = _filled(clock)
    saved, floats = _saved(table, wall=1_700_000_000.0)
    # another process: another monotonic clock, 5 s of wall time later
    later = Clock(50.0)
    restored: PendingTable[str, Half] = PendingTable(30.0, 100, clock=later)
    done = table_from_plain(restored, saved, 1_700_000_005.0, lambda p: _load(p, floats))
    assert (done.kept, done.expired, done.evicted, done.duplicate) == (6, 0, 0, 0)
    assert restored.bytes == table.bytes
    assert len(restored) == len(table)
    original, _ = table.copy_entries()
    again, _ = restored.copy_entries()
    assert [k for k, _ in again] == [k for k, _ in original]
    for (_, (d1, s1, v1, b1)), (_, (d2, s2, v2, b2)) in zip(original, again, strict=True):
        assert (s1, b1) == (s2, b2)
        assert _same(tuple(v1), tuple(v2))
        # the time left is what was left at the snapshot, less the 5 s spent down
        assert d2 - later.now == pytest.approx(d1 - clock.now - 5.0)
    # and they pair as before
    partner = restored.offer("k1", Side.RESPONSE, KeptValues(0, None))
    assert partner.partner is not None
    assert restored.bytes == table.bytes - original[1][1][3]


def test_halves_that_expired_while_down_are_dropped_as_expired() -> None:
    clock = Clock(1_000.0)
    saved, floats = _saved(_filled(clock), wall=0.0)
    dropped: list[tuple[Drop, Side]] = []
    restored: PendingTable[str, Half] = PendingTable(
        30.0, 100, lambda reason, side, _: dropped.append((reason, side)), clock=Clock(0.0)
    )
    # the oldest deadline was 30 - 5 s after the snapshot: 27 s later three of six are left
    done = table_from_plain(restored, saved, 27.0, lambda p: _load(p, floats))
    assert (done.kept, done.expired) == (3, 3)
    expired = Drop.EXPIRED
    assert dropped == [(expired, Side.RESPONSE), (expired, Side.REQUEST), (expired, Side.RESPONSE)]
    assert len(restored) == 3


def test_a_smaller_table_keeps_the_newest_and_no_deadline_beyond_its_ttl() -> None:
    clock = Clock(1_000.0)
    saved, floats = _saved(_filled(clock), wall=0.0)
    dropped: list[Drop] = []
    later = Clock(0.0)
    restored: PendingTable[str, Half] = PendingTable(
        2.0, 4, lambda reason, side, _: dropped.append(reason), clock=later
    )
    done = table_from_plain(restored, saved, 0.0, lambda p: _load(p, floats))
    assert (done.kept, done.evicted) == (4, 2)
    assert dropped == [Drop.EVICTED, Drop.EVICTED]
    entries, _ = restored.copy_entries()
    assert [k for k, _ in entries] == ["k2", "k3", "k4", "k5"]
    assert all(deadline <= later.now + 2.0 for _, (deadline, *_) in entries)


def test_a_key_that_waits_already_is_not_restored_twice() -> None:
    clock = Clock(1_000.0)
    table = _filled(clock)
    saved, floats = _saved(table, wall=1_000.0)
    done = table_from_plain(table, saved, 1_000.0, lambda p: _load(p, floats))
    assert (done.kept, done.duplicate) == (0, 6)


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: e[:3],
        lambda e: ["sideways", *e[1:]],
        lambda e: [e[0], "soon", *e[2:]],
        lambda e: [e[0], e[1], -1, e[3]],
        lambda e: [*e[:3], {"key": "k", "rows": {**e[3]["rows"], "n": "2"}}],
        lambda e: [*e[:3], {"key": "k", "rows": {**e[3]["rows"], "numerical": [1]}}],
        lambda e: [*e[:3], {"key": "k", "rows": {**e[3]["rows"], "numbers": {"floats": [0, 99]}}}],
        lambda e: [
            *e[:3],
            {"key": "k", "rows": {**e[3]["rows"], "others": {"values": [[1]], "missing": []}}},
        ],
        lambda e: [
            *e[:3],
            {"key": "k", "rows": {**e[3]["rows"], "others": {"values": ["x"], "missing": [5]}}},
        ],
    ],
)
def test_a_damaged_entry_raises_value_error_and_restores_nothing(damage: Any) -> None:
    clock = Clock(1_000.0)
    saved, floats = _saved(_filled(clock), wall=1_000.0)
    saved[1] = damage(saved[1])  # k1: a request
    restored: PendingTable[str, Half] = PendingTable(30.0, 100, clock=Clock(0.0))
    with pytest.raises((ValueError, KeyError, TypeError)):
        table_from_plain(restored, saved, 1_000.0, lambda p: _load(p, floats))
    assert len(restored) == 0


def test_missing_values_come_back_as_missing() -> None:
    kept = KeptRows(2, (), ("c", "d"), array("d"), ["x", MISSING, MISSING, None], True)
    again = _round_trip_rows(kept)
    assert again.others is not None
    assert again.others[1] is MISSING
    assert again.others[3] is None
    assert again.rows() == [{"c": "x"}, {"d": None}]
