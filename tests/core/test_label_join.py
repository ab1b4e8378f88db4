"""drift.core.label_join: joining delayed labels to predictions by id — either order, duplicates,
expiry after the TTL, capacity eviction (entries and bytes), the bounded window of joined pairs,
the scores handed to drift.core.performance, and Hypothesis bookkeeping invariants over random
operation sequences.
"""

from __future__ import annotations

import gc
import math
import tracemalloc
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from drift.core.label_join import (
    JOINED_ID_BYTES,
    JOINED_PAIR_BYTES,
    PENDING_ENTRY_BYTES,
    Expired,
    LabelCounters,
    LabelJoin,
    LabelOutcome,
    value_bytes,
)
from drift.core.performance import classification_performance, regression_performance

TTL = 100.0
MIB = 2**20


def join(max_pending: int = 1000, window: int = 1000, max_bytes: int = 64 * MIB) -> LabelJoin:
    return LabelJoin(ttl_seconds=TTL, max_pending=max_pending, window=window, max_bytes=max_bytes)


def pairs(lj: LabelJoin) -> list[tuple[object, object]]:
    got = lj.joined()
    return list(zip(got.labels, got.predictions, strict=True))


# --------------------------------------------------------------------------------- joining


def test_label_after_its_prediction_joins() -> None:
    lj = join()
    lj.add_predictions(["a", "b"], ["1", "0"], None, now=0.0)
    assert lj.add_labels([("a", "1")], now=5.0) == LabelOutcome(matched=1, held=0, duplicate=0)
    got = lj.joined()
    assert pairs(lj) == [("1", "1")]
    assert got.joined_at.tolist() == [5.0]
    assert len(got) == 1
    assert (lj.pending_predictions, lj.pending_labels) == (1, 0)


def test_label_before_its_prediction_is_held_then_joins() -> None:
    lj = join()
    assert lj.add_labels([("a", "cat"), ("b", "dog")], now=0.0) == LabelOutcome(0, 2, 0)
    assert pairs(lj) == []
    lj.add_predictions(["a"], ["dog"], None, now=3.0)
    assert pairs(lj) == [("cat", "dog")]
    assert lj.joined().joined_at.tolist() == [3.0]
    assert (lj.pending_predictions, lj.pending_labels) == (0, 1)
    c = lj.counters
    assert (c.matched, c.held, c.duplicate) == (1, 2, 0)


def test_predictions_without_id_are_ignored() -> None:
    lj = join()
    lj.add_predictions([None, "a", None], ["x", "y", "z"], None, now=0.0)
    assert lj.pending_predictions == 1
    lj.add_labels([("a", "y")], now=1.0)
    assert pairs(lj) == [("y", "y")]


def test_duplicate_labels_are_counted_and_the_first_wins() -> None:
    lj = join()
    # waiting label, then the same id again (also twice within one call)
    assert lj.add_labels([("a", "first"), ("a", "second")], now=0.0) == LabelOutcome(0, 1, 1)
    lj.add_predictions(["a", "b"], ["p", "q"], None, now=1.0)
    assert lj.add_labels([("b", "1"), ("b", "2")], now=2.0) == LabelOutcome(1, 0, 1)
    # ids already joined
    assert lj.add_labels([("a", "late"), ("b", "late")], now=3.0) == LabelOutcome(0, 0, 2)
    assert pairs(lj) == [("first", "p"), ("1", "q")]
    assert lj.counters.duplicate == 4


def test_duplicate_prediction_ids_are_counted_and_ignored() -> None:
    lj = join()
    lj.add_predictions(["a", "a"], ["p1", "p2"], None, now=0.0)
    lj.add_labels([("a", "y")], now=1.0)
    lj.add_predictions(["a"], ["p3"], None, now=2.0)  # already joined
    assert pairs(lj) == [("y", "p1")]
    assert lj.counters.duplicate_predictions == 2
    assert lj.pending_predictions == 0


def test_input_lengths_and_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="same length"):
        join().add_predictions(["a", "b"], ["x"], None, now=0.0)
    with pytest.raises(ValueError, match="same length"):
        join().add_predictions(["a"], ["x"], [0.1, 0.2], now=0.0)
    with pytest.raises(ValueError, match="positive"):
        LabelJoin(ttl_seconds=0.0, max_pending=10, window=10, max_bytes=MIB)
    with pytest.raises(ValueError, match="positive"):
        LabelJoin(ttl_seconds=1.0, max_pending=0, window=10, max_bytes=MIB)
    with pytest.raises(ValueError, match="positive"):
        LabelJoin(ttl_seconds=1.0, max_pending=10, window=10, max_bytes=0)


# ---------------------------------------------------------------------------------- expiry


def test_unknown_label_ids_expire_and_are_counted() -> None:
    lj = join()
    lj.add_labels([("ghost1", "1"), ("ghost2", "0")], now=0.0)
    lj.add_labels([("ghost3", "1")], now=50.0)
    assert lj.expire(now=TTL) == Expired(predictions=0, labels=0)  # waited exactly the TTL
    assert lj.expire(now=TTL + 1.0) == Expired(predictions=0, labels=2)
    assert lj.pending_labels == 1
    # the prediction arrives too late: it waits for a new label instead of joining
    lj.add_predictions(["ghost1"], ["1"], None, now=TTL + 2.0)
    assert pairs(lj) == []
    assert lj.counters.expired_labels == 2


def test_predictions_expire_without_label() -> None:
    lj = join()
    lj.add_predictions(["a", "b"], ["x", "y"], None, now=0.0)
    lj.add_predictions(["c"], ["z"], None, now=60.0)
    assert lj.expire(now=150.0) == Expired(predictions=2, labels=0)
    assert lj.pending_predictions == 1
    assert lj.add_labels([("c", "z")], now=150.0).matched == 1
    assert lj.counters.expired_predictions == 2


def test_a_label_after_the_ttl_does_not_join_even_before_expire_is_called() -> None:
    lj = join()
    lj.add_predictions(["a"], ["x"], None, now=0.0)
    assert lj.add_labels([("a", "x")], now=TTL + 0.5) == LabelOutcome(0, 1, 0)
    # expired while adding the label; reported by the next expire()
    assert lj.expire(now=TTL + 0.5) == Expired(predictions=1, labels=0)
    assert lj.expire(now=TTL + 0.6) == Expired(predictions=0, labels=0)


def test_a_label_within_the_ttl_joins_a_long_gone_prediction() -> None:
    """The store is independent of the drift window: thousands of later predictions do not push
    a waiting one out while there is room."""
    lj = join(max_pending=10_000, window=5)
    lj.add_predictions(["old"], ["x"], None, now=0.0)
    for i in range(5000):
        lj.add_predictions([f"id{i}"], ["y"], None, now=i / 100)
    assert lj.add_labels([("old", "x")], now=TTL).matched == 1


def test_joined_ids_are_forgotten_after_the_ttl() -> None:
    lj = join()
    lj.add_predictions(["a"], ["x"], None, now=0.0)
    lj.add_labels([("a", "x")], now=1.0)
    assert lj.add_labels([("a", "again")], now=TTL).duplicate == 1
    assert lj.add_labels([("a", "much later")], now=TTL + 2.0) == LabelOutcome(0, 1, 0)


# --------------------------------------------------------------------------- bounded memory


def test_capacity_evicts_the_oldest_waiting_predictions() -> None:
    lj = join(max_pending=3)
    lj.add_predictions(["a", "b", "c", "d", "e"], list("ABCDE"), None, now=0.0)
    assert lj.pending_predictions == 3
    assert lj.counters.evicted_predictions == 2
    assert lj.add_labels([("a", "A"), ("e", "E")], now=1.0) == LabelOutcome(1, 1, 0)
    assert pairs(lj) == [("E", "E")]


def test_capacity_evicts_the_oldest_waiting_labels() -> None:
    lj = join(max_pending=2)
    lj.add_labels([("a", "A"), ("b", "B"), ("c", "C")], now=0.0)
    assert lj.pending_labels == 2
    assert lj.counters.evicted_labels == 1
    lj.add_predictions(["a", "c"], ["pa", "pc"], None, now=1.0)
    assert pairs(lj) == [("C", "pc")]


def test_window_keeps_only_the_last_joined_pairs_in_join_order() -> None:
    lj = join(window=3)
    for i in range(10):
        lj.add_predictions([str(i)], [f"p{i}"], None, now=float(i))
    lj.add_labels([(str(i), f"l{i}") for i in (9, 0, 5, 3, 7)], now=20.0)
    assert pairs(lj) == [("l5", "p5"), ("l3", "p3"), ("l7", "p7")]


def test_sizes_stay_bounded_after_1e5_operations() -> None:
    rng = np.random.default_rng(7)
    lj = LabelJoin(ttl_seconds=1e9, max_pending=500, window=200, max_bytes=64 * MIB)
    ids = rng.integers(0, 50_000, 100_000).astype(str)
    is_label = rng.random(ids.size) < 0.5
    for k, (sample_id, label) in enumerate(zip(ids.tolist(), is_label.tolist(), strict=True)):
        if label:
            lj.add_labels([(sample_id, "1")], now=float(k))
        else:
            lj.add_predictions([sample_id], ["1"], [0.5], now=float(k))
    assert lj.pending_predictions <= 500
    assert lj.pending_labels <= 500
    assert len(lj.joined()) == 200
    c = lj.counters
    assert c.evicted_predictions > 0
    assert c.evicted_labels > 0
    assert c.matched > 200


def long_id(i: int) -> str:
    return f"{i:06d}" + "x" * 250  # 256 bytes, the largest id ingestion lets through


def test_the_byte_cap_evicts_the_oldest_waiting_predictions_and_counts_them() -> None:
    entry = PENDING_ENTRY_BYTES + value_bytes(long_id(0)) + value_bytes("p" * 256)
    lj = join(max_pending=1000, max_bytes=10 * entry)
    lj.add_predictions([long_id(i) for i in range(25)], ["p" * 256] * 25, None, now=0.0)
    assert lj.pending_predictions == 10
    assert lj.memory_bytes()["predictions"] == 10 * entry
    assert lj.counters.evicted_predictions == 15
    # the newest ten are the ones kept
    assert lj.add_labels([(long_id(14), "l"), (long_id(15), "l")], now=1.0).matched == 1
    assert lj.memory_bytes()["predictions"] == 9 * entry


def test_the_byte_cap_evicts_the_oldest_waiting_labels_and_counts_them() -> None:
    entry = PENDING_ENTRY_BYTES + value_bytes(long_id(0)) + value_bytes("l" * 256)
    lj = join(max_pending=1000, max_bytes=4 * entry + entry // 2)
    assert lj.add_labels([(long_id(i), "l" * 256) for i in range(9)], now=0.0).held == 9
    assert (lj.pending_labels, lj.counters.evicted_labels) == (4, 5)
    assert lj.memory_bytes()["labels"] == 4 * entry
    lj.expire(now=TTL + 1)
    assert lj.memory_bytes() == {"predictions": 0, "labels": 0, "joined_ids": 0, "joined": 0}


def test_an_entry_larger_than_the_cap_on_its_own_is_evicted_itself() -> None:
    """Scores may have any number of classes: the cap bounds them, whatever the count cap."""
    many = {f"class-{k}": 1 / 5000 for k in range(5000)}  # a ~600 KB scores object
    lj = join(max_bytes=100_000)
    lj.add_predictions(["small"], ["a"], [0.5], now=0.0)
    lj.add_predictions(["huge"], ["a"], [many], now=0.0)
    assert lj.pending_predictions == 0
    assert lj.counters.evicted_predictions == 2
    assert lj.memory_bytes()["predictions"] == 0


def test_the_joined_window_and_the_joined_ids_are_bounded_in_bytes_too() -> None:
    scores = {f"c{k:03d}": 0.001 for k in range(200)}  # ~25 KB per pair
    one = join()
    one.add_predictions(["a"], ["a"], [scores], now=0.0)
    one.add_labels([("a", "a")], now=0.0)
    pair = one.memory_bytes()["joined"]
    assert pair > JOINED_PAIR_BYTES + 200 * (value_bytes("c000") + value_bytes(0.001))
    lj = join(max_pending=10_000, window=1000, max_bytes=5 * pair)
    ids = [long_id(i) for i in range(40)]
    for sample_id in ids:  # one at a time: the waiting predictions are capped alike
        lj.add_predictions([sample_id], ["a"], [scores], now=0.0)
        lj.add_labels([(sample_id, "a")], now=1.0)
    assert lj.counters.matched == 40
    assert len(lj.joined()) == 5  # the window of 1000 holds five of these pairs
    assert lj.memory_bytes()["joined"] == 5 * pair
    assert lj.memory_bytes()["joined_ids"] <= 5 * pair
    assert lj.memory_bytes()["joined_ids"] == 40 * (JOINED_ID_BYTES + value_bytes(ids[0]))


@pytest.mark.parametrize("table", ["predictions", "labels", "joined_ids", "joined"])
def test_the_estimate_is_not_below_what_tracemalloc_sees(table: str) -> None:
    """Full tables in their steady state (the oldest evicted as new entries come), at n just past
    a dict resize, where the slot per entry costs most; 256-byte ids, short values, two-class
    scores."""
    n = 2**12 // 3 + 1
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        window = n if table == "joined" else 1
        lj = LabelJoin(ttl_seconds=1e12, max_pending=n, window=window, max_bytes=2**40)
        for i in range(3 * n):
            sample_id = long_id(i)
            scores = [{"no": 0.25 + i % 2 / 4, "yes": 0.75 - i % 2 / 4}]
            if table in ("predictions", "joined_ids", "joined"):
                lj.add_predictions([sample_id], [f"class-{i % 3}"], scores, now=float(i))
            if table in ("labels", "joined_ids", "joined"):
                lj.add_labels([(long_id(i), f"class-{i % 5}")], now=float(i))
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    estimated = lj.memory_bytes()
    assert estimated[table] > 0
    assert traced <= sum(estimated.values())


# ------------------------------------------------------------------------ scores, performance


def test_joined_binary_scores_feed_classification_performance() -> None:
    rng = np.random.default_rng(3)
    n = 300
    truth = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.8, truth, 1 - truth)
    prob = rng.random(n)
    ids = [f"s{i}" for i in range(n)]
    lj = join()
    lj.add_predictions(ids, pred.tolist(), prob.tolist(), now=0.0)
    lj.add_labels(list(zip(ids, truth.tolist(), strict=True)), now=1.0)
    got = lj.joined()
    assert got.scores is not None
    assert got.scores.classes == ("0", "1")
    perf = classification_performance(got.labels, got.predictions, got.scores)
    assert perf.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, prob), rel=1e-12)
    assert perf.metrics["log_loss"] == pytest.approx(
        skm.log_loss(truth, prob, labels=[0, 1]), rel=1e-12
    )
    assert perf.metrics["f1"] == pytest.approx(skm.f1_score(truth, pred), rel=1e-12)


def test_joined_class_probabilities_become_a_score_matrix() -> None:
    lj = join()
    lj.add_predictions(
        ["a", "b"],
        ["x", "y"],
        [{"y": 0.25, "x": 0.75}, {"x": 0.1, "y": 0.9}],
        now=0.0,
    )
    lj.add_labels([("a", "x"), ("b", "x")], now=1.0)
    scores = lj.joined().scores
    assert scores is not None
    assert scores.classes == ("x", "y")
    assert scores.matrix.tolist() == [[0.75, 0.25], [0.1, 0.9]]


def test_numeric_scores_for_string_labels_need_a_positive_label() -> None:
    lj = join()
    lj.add_predictions(["a", "b"], ["spam", "ham"], [0.8, 0.3], now=0.0)
    lj.add_labels([("a", "spam"), ("b", "spam")], now=1.0)
    assert lj.joined().scores is None
    scores = lj.joined(positive_label="spam").scores
    assert scores is not None
    assert scores.classes == ("ham", "spam")
    assert scores.matrix[:, 1].tolist() == [0.8, 0.3]


@pytest.mark.parametrize(
    "scores",
    [
        [0.4, None],  # one sample without scores
        [0.4, {"0": 0.5, "1": 0.5}],  # two forms
        [{"0": 0.5, "1": 0.5}, {"0": 0.5, "2": 0.5}],  # different classes
        [0.4, 1.5],  # not a probability
        [0.4, math.nan],
        [0.4, "high"],
        [{"1": 1.0}, {"1": 1.0}],  # a single class
    ],
)
def test_scores_of_mixed_or_invalid_form_give_none(scores: list[Any]) -> None:
    lj = join()
    lj.add_predictions(["a", "b"], ["1", "0"], scores, now=0.0)
    lj.add_labels([("a", "1"), ("b", "0")], now=1.0)
    got = lj.joined()
    assert got.scores is None
    assert len(got) == 2


def test_nothing_joined_yet() -> None:
    got = join().joined()
    assert (len(got), got.scores, got.joined_at.size) == (0, None, 0)


def test_joined_regression_values() -> None:
    lj = join()
    lj.add_predictions(["a", "b", "c"], [1.5, 2.0, "n/a"], None, now=0.0)
    lj.add_labels([("a", 1.0), ("b", 3), ("c", 4.0)], now=1.0)
    t, p = lj.joined().numeric()
    perf = regression_performance(t, p)
    assert (perf.samples, perf.skipped) == (2, 1)
    assert perf.metrics["mae"] == pytest.approx(0.75)


# ------------------------------------------------------------------------------- properties

operations = st.lists(
    st.tuples(
        st.sampled_from(["predict", "label", "expire"]),
        st.lists(st.sampled_from([None, *"abcdefgh"]), max_size=5),
        st.floats(min_value=0.0, max_value=30.0),  # time step
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    ops=operations,
    max_pending=st.integers(1, 4),
    window=st.integers(1, 4),
    # from "every entry alone too large" to "never binding"; an entry is ~400 bytes
    max_bytes=st.sampled_from([100, 500, 900, 1300, 10**9]),
)
def test_every_item_is_accounted_for(
    ops: list[tuple[str, list[str | None], float]], max_pending: int, window: int, max_bytes: int
) -> None:
    """Each label is matched, held or duplicate; each held label is later joined, expired,
    evicted or still waiting; likewise for predictions. Joined pairs belong to one id. Every
    table stays within its entries and its bytes."""
    lj = LabelJoin(ttl_seconds=40.0, max_pending=max_pending, window=window, max_bytes=max_bytes)
    now = 0.0
    labels = matched_by_labels = predictions = 0
    expired = Expired(0, 0)
    for kind, ids, step in ops:
        now += step
        if kind == "predict":
            lj.add_predictions(ids, [f"p{i}" for i in ids], None, now)
            predictions += sum(i is not None for i in ids)
        elif kind == "label":
            given_ids = [i for i in ids if i is not None]
            out = lj.add_labels([(i, f"l{i}") for i in given_ids], now)
            labels += len(given_ids)
            matched_by_labels += out.matched
            assert out.matched + out.held + out.duplicate == len(given_ids)
        else:
            e = lj.expire(now)
            expired = Expired(expired.predictions + e.predictions, expired.labels + e.labels)
        assert lj.pending_predictions <= max_pending
        assert lj.pending_labels <= max_pending
        assert len(lj.joined()) <= window
        assert all(0 <= size <= max_bytes for size in lj.memory_bytes().values())
    e = lj.expire(now)
    expired = Expired(expired.predictions + e.predictions, expired.labels + e.labels)
    c: LabelCounters = lj.counters
    assert (c.expired_predictions, c.expired_labels) == (expired.predictions, expired.labels)
    assert labels == matched_by_labels + c.held + c.duplicate
    matched_by_predictions = c.matched - matched_by_labels
    assert (
        c.held == matched_by_predictions + c.expired_labels + c.evicted_labels + lj.pending_labels
    )
    stored = predictions - c.duplicate_predictions - matched_by_predictions
    assert stored == (
        matched_by_labels + c.expired_predictions + c.evicted_predictions + lj.pending_predictions
    )
    for label, prediction in pairs(lj):
        assert str(label)[1:] == str(prediction)[1:]
