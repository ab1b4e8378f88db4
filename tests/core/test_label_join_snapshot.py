"""drift.core.label_join snapshots: ``entries().to_state`` then ``LabelJoin.from_state`` gives a
join that joins, expires and evicts as the original would, with its TTL clocks carried as wall
time (time spent down counts), within the bounds of the join it is restored into."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from drift.core.label_join import LabelJoin, LabelOutcome

TTL = 100.0


def join(max_pending: int = 1000, window: int = 1000, max_bytes: int = 2**26) -> LabelJoin:
    return LabelJoin(ttl_seconds=TTL, max_pending=max_pending, window=window, max_bytes=max_bytes)


def saved(lj: LabelJoin, wall_offset: float) -> dict[str, Any]:
    """What a snapshot file gives back: JSON for everything but the arrays of times."""
    state = lj.entries().to_state(wall_offset)

    def through_json(table: dict[str, Any]) -> dict[str, Any]:
        rest = json.loads(json.dumps({k: v for k, v in table.items() if k != "times"}))
        return {**rest, "times": table["times"]}

    return {name: through_json(table) for name, table in state.items()}


def restore(state: dict[str, Any], wall_offset: float, **bounds: Any) -> LabelJoin:
    params: dict[str, Any] = {"max_pending": 1000, "window": 1000, "max_bytes": 2**26} | bounds
    return LabelJoin.from_state(state, TTL, wall_offset=wall_offset, **params)


def filled() -> LabelJoin:
    lj = join()
    lj.add_predictions(["p1", "p2", "p3"], ["1", "0", "1"], [0.9, {"0": 0.7, "1": 0.3}, None], 10.0)
    lj.add_predictions(["n1"], [2.5], None, 20.0)  # a numeric prediction
    lj.add_labels([("early", True), ("big", 12345678901234567890)], 30.0)
    lj.add_labels([("p3", "1")], 40.0)  # joins
    return lj


def test_restored_pending_entries_join_as_before() -> None:
    original = filled()
    # the old process's monotonic clock + 1000 = Unix time; the new one's + 5000
    restored = restore(saved(original, 1000.0), 5000.0)
    assert (restored.pending_predictions, restored.pending_labels) == (3, 2)
    assert restored.memory_bytes() == original.memory_bytes()
    # 40 s after the snapshot on the new clock (40 - 4000 + ...): same Unix time
    later = 40.0 - 4000.0 + 10.0
    assert restored.add_labels([("p1", "1"), ("p2", "0"), ("p3", "0")], later) == LabelOutcome(
        matched=2, held=0, duplicate=1
    )  # p3 joined before the snapshot: a duplicate now too
    restored.add_predictions(["early"], ["1"], None, later)
    got = restored.joined()
    assert list(zip(got.labels, got.predictions, strict=True)) == [
        ("1", "1"),
        ("1", "1"),
        ("0", "0"),
        (True, "1"),
    ]
    assert got.joined_at.tolist()[0] == 40.0 - 4000.0  # when p3 joined, on the new clock
    assert restored.pending_labels == 1  # "big" still waits
    assert restored.joined().scores is None  # scores of mixed forms, as in the original


def test_time_down_counts_towards_the_ttl() -> None:
    original = filled()
    state = saved(original, 0.0)
    restored = restore(state, 0.0)
    expired = restored.expire(10.0 + TTL + 1)  # p1, p2 (10 s) gone; n1 (20 s) and labels stay
    assert (expired.predictions, expired.labels) == (2, 0)
    assert restored.pending_predictions == 1
    # the same snapshot (taken at 40 s) restored 200 s later, when the new process's clock
    # reads 0: Unix time 240, so the new clock's offset is 240; everything waited too long
    late = restore(state, 240.0)
    assert late.expire(0.0).predictions == 3
    assert late.pending_labels == 0


def test_smaller_bounds_evict_the_oldest() -> None:
    restored = restore(saved(filled(), 0.0), 0.0, max_pending=1, window=1)
    assert (restored.pending_predictions, restored.pending_labels) == (1, 1)
    assert restored.add_labels([("n1", 2.0)], 41.0).matched == 1  # the newest prediction kept
    assert restored.counters.evicted_predictions == 2
    assert restored.counters.evicted_labels == 1
    assert len(restored.joined()) == 1


def test_numpy_scalars_are_saved_as_python_numbers() -> None:
    lj = join()
    lj.add_predictions(["a"], [np.float64(2.5)], None, 0.0)
    lj.add_labels([("b", np.int64(3))], 0.0)
    state = lj.entries().to_state()
    assert type(state["predictions"]["values"][0]) is float
    assert type(state["labels"]["values"][0]) is int


def test_an_empty_join_round_trips() -> None:
    restored = restore(saved(join(), 0.0), 0.0)
    assert (restored.pending_predictions, restored.pending_labels) == (0, 0)
    assert len(restored.joined()) == 0


def test_scores_are_checked_again() -> None:
    state = saved(filled(), 0.0)
    state["predictions"]["scores"][0] = 7.0  # not a probability: no score, as at ingestion
    restored = restore(state, 0.0)
    restored.add_labels([("p1", "1")], 41.0)
    assert restored.joined().scores is None


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda s: s["predictions"]["ids"].__setitem__(1, "p1"), "repeat"),
        (lambda s: s["labels"]["ids"].__setitem__(0, 7), "not strings"),
        (lambda s: s["predictions"].update(times=np.array([3.0, 2.0, 1.0])), "in order"),
        (lambda s: s["predictions"].update(times=np.array([1.0, 2.0])), "float64"),
        (lambda s: s["labels"]["values"].__setitem__(0, None), "null"),
        (lambda s: s["labels"]["values"].__setitem__(0, [1]), "scalar"),
    ],
)
def test_a_damaged_state_is_refused(damage: Any, error: str) -> None:
    state = saved(filled(), 0.0)
    damage(state)
    with pytest.raises(ValueError, match=error):
        restore(state, 0.0)
