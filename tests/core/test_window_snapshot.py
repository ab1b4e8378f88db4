"""drift.core.window ``to_state`` / ``from_state``: a window restored from its plain form is the
same window: the same samples, codes, vocabulary rules, arrival times (moved by the wall-clock
offset) and samples seen, so it evaluates identically, now and after more samples arrive."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.core.columns import OTHER, CategoricalData, ColumnType, NumericData
from drift.core.engine import evaluate
from drift.core.options import ColumnsConfig, DriftConfig
from drift.core.reference import ReferenceProfile, build_profile
from drift.core.report import DriftReport
from drift.core.window import CountWindow, Summarizer, WindowSnapshot
from tests import strategies as hs

TYPES = {"x": ColumnType.NUMERICAL, "c": ColumnType.CATEGORICAL}


def _profile(truncated: bool) -> ReferenceProfile:
    rng = np.random.default_rng(3)
    cities = ["a", "b", "c", "d", "e"] if truncated else ["a", "b", "c"]
    frame = pd.DataFrame({"x": rng.normal(0, 1, 300), "c": rng.choice(cities, 300)})
    roles = ColumnsConfig(numerical=["x"], categorical=["c"])
    return build_profile(frame, roles, "test", max_categories=3 if truncated else 100)


PROFILES = {False: _profile(False), True: _profile(True)}


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[dict[str, list[Any]], int]]:
    """Batches of samples (numbers with NaN/inf/None, categories seen and unseen by the
    reference, missing ones) with whole-second arrival times that never decrease."""
    out = []
    at = 0
    for _ in range(draw(st.integers(0, 8))):
        n = draw(st.integers(0, 12))
        at += draw(st.integers(0, 3))
        x = draw(st.lists(hs.raw_numbers, min_size=n, max_size=n))
        c = draw(st.lists(hs.raw_categories, min_size=n, max_size=n))
        out.append(({"x": x, "c": c}, at))
    return out


def _json_round_trip(state: dict[str, Any]) -> dict[str, Any]:
    """What a snapshot file gives back: JSON for everything but the arrays."""
    arrays = {"columns": state["columns"], "times": state["times"]}
    rest = json.loads(json.dumps({k: v for k, v in state.items() if k not in arrays}))
    return {**rest, **arrays}


def _fill(window: CountWindow, data: list[tuple[dict[str, list[Any]], int]]) -> None:
    for columns, at in data:
        window.append(columns, len(columns["x"]), at=float(at))


def _same_snapshots(a: WindowSnapshot, b: WindowSnapshot) -> None:
    assert (a.samples, a.total_seen) == (b.samples, b.total_seen)
    assert a.columns.keys() == b.columns.keys()
    for name, col in a.columns.items():
        other = b.columns[name]
        if isinstance(col, NumericData):
            assert isinstance(other, NumericData)
            np.testing.assert_array_equal(col.values, other.values)
            assert col.n_missing == other.n_missing
        else:
            assert isinstance(col, CategoricalData)
            assert isinstance(other, CategoricalData)
            assert col.categories == other.categories
            np.testing.assert_array_equal(col.frequencies, other.frequencies)
            assert col.n_missing == other.n_missing


def _verdict(report: DriftReport) -> DriftReport:
    return dataclasses.replace(report, evaluation_seconds=0.0)


def _same_evaluation(a: CountWindow, b: CountWindow, profile: ReferenceProfile) -> None:
    if len(a) == 0:
        assert len(b) == 0
        return
    options = DriftConfig()
    for ranked in ({}, profile.numeric_values):  # as compare() and as the service summarize
        snap_a = Summarizer(ranked).summarize(a.view())
        snap_b = Summarizer(ranked).summarize(b.view())
        _same_snapshots(snap_a, snap_b)
        left = evaluate("m", profile, snap_a, options, a.size, now=1.0)
        right = evaluate("m", profile, snap_b, options, b.size, now=1.0)
        assert _verdict(left) == _verdict(right)


@settings(max_examples=150, deadline=None)
@given(
    data=batches(),
    more=batches(),
    size=st.integers(1, 20),
    max_new=st.integers(0, 4),
    truncated=st.booleans(),
    offset=st.integers(-(10**6), 10**6),
    restart_offset=st.integers(-(10**6), 10**6),
)
def test_a_restored_window_evaluates_like_the_original(
    data: list[tuple[dict[str, list[Any]], int]],
    more: list[tuple[dict[str, list[Any]], int]],
    size: int,
    max_new: int,
    truncated: bool,
    offset: int,
    restart_offset: int,
) -> None:
    profile = PROFILES[truncated]
    original = CountWindow(TYPES, size, profile.vocabularies, max_new_categories=max_new)
    _fill(original, data)
    state = _json_round_trip(original.to_state(wall_offset=float(offset)))
    # the new process's clock differs: times come back shifted by the difference
    shift = float(restart_offset - offset)
    restored = CountWindow.from_state(state, TYPES, size, wall_offset=float(restart_offset))

    assert len(restored) == len(original)
    assert restored.total_seen == original.total_seen
    for name, values in original.raw().items():
        again = restored.raw()[name]
        if values.dtype == object:
            assert again.tolist() == values.tolist()
        else:
            np.testing.assert_array_equal(again, values)
    _same_evaluation(original, restored, profile)
    # time windows: the same samples within any duration, counted on each process's clock
    last = data[-1][1] if data else 0
    for since in range(-1, last + 2):
        assert restored.count_since(since - shift) == original.count_since(float(since))
        _same_snapshots(
            Summarizer().summarize(original.view(since=float(since))),
            Summarizer().summarize(restored.view(since=since - shift)),
        )
    # and they stay alike: new samples (new categories too) get the same codes
    for columns, at in more:
        n = len(columns["x"])
        original.append(columns, n, at=float(last + at))
        restored.append(columns, n, at=last + at - shift)
    assert restored.view().vocabularies == original.view().vocabularies
    _same_evaluation(original, restored, profile)


def test_the_state_is_plain_data_and_a_copy() -> None:
    window = CountWindow(TYPES, 4, {"c": ("a", "b")}, max_new_categories=1)
    window.append({"x": [1.0, None, 3.0], "c": ["a", "zz", "yy"]}, 3, at=5.0)
    state = window.to_state(wall_offset=100.0)
    assert state["samples"] == 3
    assert state["total_seen"] == 3
    assert state["size"] == 4
    # "yy" came after the one new category allowed: counted as OTHER, added once
    assert state["vocabularies"]["c"]["categories"] == ["a", "b", "zz", OTHER]
    assert state["columns"]["c"].tolist() == [0, 2, 3]
    assert state["times"].tolist() == [105.0, 105.0, 105.0]
    json.dumps({k: v for k, v in state.items() if k not in ("columns", "times")})
    state["columns"]["x"][0] = 99.0  # a copy: the window is untouched
    assert window.raw()["x"][0] == 1.0


def _valid_state() -> dict[str, Any]:
    window = CountWindow(TYPES, 4, {"c": ("a",)})
    window.append({"x": [1.0, 2.0], "c": ["a", "b"]}, 2, at=1.0)
    window.append({"x": [3.0], "c": [None]}, 1, at=2.0)
    return window.to_state()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda s: s.update(size=5), "window size"),
        (lambda s: s.update(types={"x": "numerical"}), "columns"),
        (lambda s: s.update(samples=5), "do not fit"),
        (lambda s: s.update(total_seen=1), "do not fit"),
        (lambda s: s["columns"].update(x=np.zeros(2)), "not an array of 3"),
        (lambda s: s["columns"].update(x=np.zeros(3, dtype=np.float32)), "dtype"),
        (lambda s: s["columns"].update(c=np.array([0, 1, 7], dtype=np.int32)), "outside"),
        (lambda s: s.update(times=np.array([2.0, 1.0, 3.0])), "not in order"),
        (lambda s: s.update(times=np.array([1.0, math.nan, 3.0])), "not in order"),
        (lambda s: s["vocabularies"]["c"].update(categories=["a", "a"]), "repeat"),
        (lambda s: s["vocabularies"]["c"].update(categories=["a", 1]), "not strings"),
        (lambda s: s["vocabularies"]["c"].update(limit=-1), "rules"),
    ],
)
def test_a_state_that_does_not_fit_is_refused(damage: Any, message: str) -> None:
    state = _valid_state()
    CountWindow.from_state(state, TYPES, 4)  # valid as made
    damage(state)
    with pytest.raises(ValueError, match=message):
        CountWindow.from_state(state, TYPES, 4)


def test_a_state_missing_a_column_is_refused() -> None:
    state = _valid_state()
    del state["columns"]["x"]
    with pytest.raises(KeyError):
        CountWindow.from_state(state, TYPES, 4)
