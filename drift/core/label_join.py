"""Delayed ground truth: labels joined by sample id to the predictions they belong to.

Labels usually arrive long after the prediction (minutes to days), sometimes before it (a
batch labelled upstream), sometimes twice, sometimes never. ``LabelJoin`` keeps predictions
waiting for their label and labels waiting for their prediction, each for at most ``ttl_seconds``
and at most ``max_pending`` of them (the oldest evicted first), and the last ``window`` joined
pairs, which ``joined()`` hands to ``drift.core.performance``. It is independent of the drift
window: a prediction that already left the drift window still joins while within the TTL.

Memory is bounded whatever the traffic, in entries and in bytes: ``max_pending`` waiting
predictions, ``max_pending`` waiting labels, ``max_pending`` recently joined ids (to recognise
duplicate labels; forgotten after ``ttl_seconds``) and ``window`` joined pairs, and each of these
four tables holds at most ``max_bytes``, estimated as the ``value_bytes`` of what an entry holds
(id, prediction, label, scores) plus a fixed overhead per entry measured with ``tracemalloc``.
The oldest entries go first; a waiting entry evicted for its bytes is counted like one evicted
for the count. Strings are capped in length before they get here (``drift.ingest``), but a
``scores`` object may have any number of classes: the byte cap is what bounds it. Every
operation is O(1) amortised per item (plus the size of its scores).

Not thread-safe: the service calls it under its lock. ``now`` must not decrease between calls
(``time.monotonic()``); expiry pops from the oldest end of insertion-ordered dicts.

For the service's snapshots, ``entries()`` copies the four tables (shallow: entries are
immutable tuples; lists built in C, about 10 ms per 100,000 entries; meant to run under the
lock), ``JoinEntries.to_state`` turns the copy into plain data (outside the lock) and
``LabelJoin.from_state`` rebuilds a join from it, its clocks moved by a wall-clock offset so
that TTLs keep running while the process is down.
The cumulative counters are not kept: like every Prometheus counter, they restart at zero.
"""

from __future__ import annotations

import math
import sys
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from drift.core.columns import OTHER, FloatArray, canonical_category
from drift.core.performance import Performance, Scores, positive_class

#: one sample's scores: None, the positive class's probability, or class -> probability
SampleScore = float | dict[str, float] | None

#: Bytes of one entry besides the objects it holds: its slot in an ``OrderedDict`` (or the
#: deque), the entry tuple, the time as a float and the entry's size as an int. Measured with
#: ``tracemalloc`` (CPython 3.11, 64-bit) in the steady state of a full table of n entries (the
#: oldest evicted as new ones come), n from 1,000 to 100,000; the worst n is just past a dict
#: resize (n = 2^k / 3 + 1): 296 bytes for a waiting prediction, 288 for a waiting label, 280 for
#: a joined id, 115 for a joined pair (at 100,000 entries: 279, 271, 231, 112); rounded up.
#: ``tests/core/test_label_join.py`` checks that the estimate stays above what ``tracemalloc``
#: sees (with 256-byte ids, at n = 10,923 the estimate is 5% to 16% above it).
PENDING_ENTRY_BYTES = 320
JOINED_ID_BYTES = 320
JOINED_PAIR_BYTES = 128
_FLOAT_BYTES = sys.getsizeof(0.5)


def value_bytes(value: object) -> int:
    """Bytes held by an id, a prediction, a label or a sample's scores (``sys.getsizeof``, which
    is exact for strings, numbers and the dict itself; None and bools are shared singletons)."""
    if value is None or value is True or value is False:
        return 0
    if type(value) is dict:  # scores: class -> float (as _sample_score makes them)
        return sys.getsizeof(value) + sum(sys.getsizeof(k) + _FLOAT_BYTES for k in value)
    return sys.getsizeof(value)


@dataclass(frozen=True)
class LabelOutcome:
    """What one ``add_labels`` call did with its labels."""

    matched: int  # joined to a waiting prediction
    held: int  # waiting for their prediction
    duplicate: int  # the id already had a label (waiting or joined)


@dataclass(frozen=True)
class Expired:
    """Entries that waited longer than the TTL, since the previous ``expire`` call."""

    predictions: int  # never got a label
    labels: int  # never got a prediction (unknown ids)


@dataclass(frozen=True)
class LabelCounters:
    """Cumulative counts since construction, for Prometheus counters."""

    matched: int
    held: int
    duplicate: int
    duplicate_predictions: int
    expired_predictions: int
    expired_labels: int
    evicted_predictions: int
    evicted_labels: int


@dataclass(frozen=True, eq=False)
class Joined:
    """The last joined pairs in join order: raw labels and predictions, the scores as
    ``drift.core.performance.Scores`` when every pair has scores of one form (else None), and when
    each pair was joined."""

    labels: tuple[object, ...]
    predictions: tuple[object, ...]
    scores: Scores | None
    joined_at: FloatArray

    def __len__(self) -> int:
        return len(self.labels)

    def numeric(self) -> tuple[FloatArray, FloatArray]:
        """Labels and predictions as floats for ``regression_performance`` (NaN where a value is
        not a number, so the pair is skipped)."""
        return _floats(self.labels), _floats(self.predictions)


def _floats(values: Sequence[object]) -> FloatArray:
    return np.fromiter((_number(v) for v in values), dtype=np.float64, count=len(values))


def _number(value: object) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        return math.nan
    return float(value)


def _sample_score(score: object) -> SampleScore:
    """A number, or a mapping of class -> number, all in [0, 1]; anything else is no score."""
    if isinstance(score, Mapping):
        probs = {canonical_category(k): _number(v) for k, v in score.items()}
        if None in probs or not all(0.0 <= p <= 1.0 for p in probs.values()):
            return None
        return {str(k): p for k, p in probs.items()}
    p = _number(score)
    return p if 0.0 <= p <= 1.0 else None


PredictionEntry = tuple[object, SampleScore, float, int]  # prediction, score, at, bytes
LabelEntry = tuple[object, float, int]  # label, at, bytes
JoinedIdEntry = tuple[float, int]  # at, bytes
JoinedEntry = tuple[object, object, SampleScore, float, int]  # label, prediction, score, at, bytes


def _plain(value: object) -> object:
    """A JSON-able scalar: numpy scalars as Python numbers."""
    return value.item() if isinstance(value, np.generic) else value


def _scalar(value: object, what: str) -> object:
    if value is not None and not isinstance(value, str | int | float):
        raise ValueError(f"saved {what} {value!r} is not a scalar")
    return value


def _times(value: object, count: int, what: str, wall_offset: float) -> list[float]:
    if not isinstance(value, np.ndarray) or value.dtype != np.float64 or value.shape != (count,):
        raise ValueError(f"saved {what} times are not {count} float64 values")
    if np.isnan(value).any() or (count > 1 and bool((np.diff(value) < 0).any())):
        raise ValueError(f"saved {what} times are not in order")
    times: list[float] = (value - wall_offset).tolist()
    return times


def _ids(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(type(i) is str for i in value):
        raise ValueError(f"saved {what} ids are not strings")
    if len(set(value)) != len(value):
        raise ValueError(f"saved {what} ids repeat")
    return value


@dataclass(frozen=True)
class JoinEntries:
    """Copies of a join's four tables, oldest first (see ``LabelJoin.entries``): the ids and
    the entries of each dict in two lists (cheaper to copy than its items)."""

    prediction_ids: list[str]
    predictions: list[PredictionEntry]
    label_ids: list[str]
    labels: list[LabelEntry]
    joined_ids: list[str]
    joined_id_entries: list[JoinedIdEntry]
    joined: list[JoinedEntry]

    def to_state(self, wall_offset: float = 0.0) -> dict[str, Any]:
        """Plain data (lists of JSON-able values, float64 arrays of times) for a snapshot;
        times are saved as ``time + wall_offset``."""

        def times(values: list[float]) -> FloatArray:
            return np.array(values, dtype=np.float64) + wall_offset

        preds, labels, pairs = self.predictions, self.labels, self.joined
        return {
            "predictions": {
                "ids": self.prediction_ids,
                "values": [_plain(e[0]) for e in preds],
                "scores": [e[1] for e in preds],
                "times": times([e[2] for e in preds]),
            },
            "labels": {
                "ids": self.label_ids,
                "values": [_plain(e[0]) for e in labels],
                "times": times([e[1] for e in labels]),
            },
            "joined_ids": {
                "ids": self.joined_ids,
                "times": times([e[0] for e in self.joined_id_entries]),
            },
            "joined": {
                "labels": [_plain(p[0]) for p in pairs],
                "predictions": [_plain(p[1]) for p in pairs],
                "scores": [p[2] for p in pairs],
                "times": times([p[3] for p in pairs]),
            },
        }


class LabelJoin:
    """Joins labels to predictions by id (see the module docstring). Not thread-safe."""

    def __init__(
        self, ttl_seconds: float, max_pending: int, window: int, *, max_bytes: int
    ) -> None:
        if ttl_seconds <= 0 or max_pending < 1 or window < 1 or max_bytes < 1:
            raise ValueError("ttl_seconds, max_pending, window and max_bytes must be positive")
        self.ttl_seconds = ttl_seconds
        self.max_pending = max_pending
        self.window = window
        self.max_bytes = max_bytes
        # id -> (prediction, score, arrived_at, bytes); id -> (label, arrived_at, bytes);
        # id -> (joined_at, bytes); (label, prediction, score, joined_at, bytes)
        self._predictions: OrderedDict[str, tuple[object, SampleScore, float, int]] = OrderedDict()
        self._labels: OrderedDict[str, tuple[object, float, int]] = OrderedDict()
        self._joined_ids: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._joined: deque[tuple[object, object, SampleScore, float, int]] = deque()
        # estimated bytes of each table (see value_bytes)
        self._prediction_bytes = self._label_bytes = 0
        self._joined_id_bytes = self._joined_bytes = 0
        self._matched = self._held = self._duplicate = self._duplicate_predictions = 0
        self._expired_predictions = self._expired_labels = 0
        self._evicted_predictions = self._evicted_labels = 0
        self._reported_predictions = self._reported_labels = 0  # expired, as of last expire()

    @property
    def pending_predictions(self) -> int:
        return len(self._predictions)

    @property
    def pending_labels(self) -> int:
        return len(self._labels)

    def memory_bytes(self) -> dict[str, int]:
        """Estimated bytes held by each table (each at most ``max_bytes``)."""
        return {
            "predictions": self._prediction_bytes,
            "labels": self._label_bytes,
            "joined_ids": self._joined_id_bytes,
            "joined": self._joined_bytes,
        }

    @property
    def counters(self) -> LabelCounters:
        return LabelCounters(
            self._matched,
            self._held,
            self._duplicate,
            self._duplicate_predictions,
            self._expired_predictions,
            self._expired_labels,
            self._evicted_predictions,
            self._evicted_labels,
        )

    def entries(self) -> JoinEntries:
        """Copies of the four tables for a snapshot (cheap: run it under the lock)."""
        return JoinEntries(
            list(self._predictions),
            list(self._predictions.values()),
            list(self._labels),
            list(self._labels.values()),
            list(self._joined_ids),
            list(self._joined_ids.values()),
            list(self._joined),
        )

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        ttl_seconds: float,
        max_pending: int,
        window: int,
        *,
        max_bytes: int,
        wall_offset: float = 0.0,
    ) -> LabelJoin:
        """A join holding what ``JoinEntries.to_state`` saved, times moved back by
        ``wall_offset``, within this join's bounds (the oldest entries beyond them evicted, as
        they would be now; entries past their TTL expire at the next call). Raises ValueError
        (or KeyError, TypeError) when ``state`` is not such a join."""
        join = cls(ttl_seconds, max_pending, window, max_bytes=max_bytes)
        preds = state["predictions"]
        ids = _ids(preds["ids"], "prediction")
        times = _times(preds["times"], len(ids), "prediction", wall_offset)
        for sample_id, value, score, at in zip(
            ids, preds["values"], preds["scores"], times, strict=True
        ):
            value, kept = _scalar(value, "prediction"), _sample_score(score)
            size = PENDING_ENTRY_BYTES + value_bytes(sample_id) + value_bytes(value)
            join._predictions[sample_id] = (value, kept, at, size + value_bytes(kept))
            join._prediction_bytes += size + value_bytes(kept)
        labels = state["labels"]
        ids = _ids(labels["ids"], "label")
        times = _times(labels["times"], len(ids), "label", wall_offset)
        for sample_id, value, at in zip(ids, labels["values"], times, strict=True):
            label = _scalar(value, "label")
            if label is None:
                raise ValueError("a saved label is null")
            size = PENDING_ENTRY_BYTES + value_bytes(sample_id) + value_bytes(label)
            join._labels[sample_id] = (label, at, size)
            join._label_bytes += size
        joined_ids = state["joined_ids"]
        ids = _ids(joined_ids["ids"], "joined")
        times = _times(joined_ids["times"], len(ids), "joined", wall_offset)
        for sample_id, at in zip(ids, times, strict=True):
            size = JOINED_ID_BYTES + value_bytes(sample_id)
            join._joined_ids[sample_id] = (at, size)
            join._joined_id_bytes += size
        pairs = state["joined"]
        times = _times(pairs["times"], len(pairs["labels"]), "pair", wall_offset)
        for label, prediction, score, at in zip(
            pairs["labels"], pairs["predictions"], pairs["scores"], times, strict=True
        ):
            label, prediction, kept = (
                _scalar(label, "label"),
                _scalar(prediction, "prediction"),
                _sample_score(score),
            )
            size = JOINED_PAIR_BYTES + value_bytes(label) + value_bytes(prediction)
            size += value_bytes(kept)
            join._joined.append((label, prediction, kept, at, size))
            join._joined_bytes += size
        join._trim()
        return join

    def _trim(self) -> None:
        """Evict the oldest entries of every table beyond its bounds."""
        while len(self._predictions) > self.max_pending or self._prediction_bytes > self.max_bytes:
            self._prediction_bytes -= self._predictions.popitem(last=False)[1][3]
            self._evicted_predictions += 1
        while len(self._labels) > self.max_pending or self._label_bytes > self.max_bytes:
            self._label_bytes -= self._labels.popitem(last=False)[1][2]
            self._evicted_labels += 1
        while len(self._joined) > self.window or self._joined_bytes > self.max_bytes:
            self._joined_bytes -= self._joined.popleft()[4]
        while len(self._joined_ids) > self.max_pending or self._joined_id_bytes > self.max_bytes:
            self._joined_id_bytes -= self._joined_ids.popitem(last=False)[1][1]

    def add_predictions(
        self,
        ids: Sequence[str | None],
        predictions: Sequence[object],
        scores: Sequence[object | None] | None,
        now: float,
    ) -> None:
        """Predictions waiting for their label; one without an id cannot be joined and is
        ignored, one whose id is already waiting or joined is counted as a duplicate and
        ignored. A label already waiting for the id joins immediately."""
        if len(predictions) != len(ids) or (scores is not None and len(scores) != len(ids)):
            raise ValueError("ids, predictions and scores must have the same length")
        self._sweep(now)
        for i, (sample_id, prediction) in enumerate(zip(ids, predictions, strict=True)):
            if sample_id is None:
                continue
            score = _sample_score(scores[i]) if scores is not None else None
            if sample_id in self._predictions or sample_id in self._joined_ids:
                self._duplicate_predictions += 1
            elif sample_id in self._labels:
                label, _, size = self._labels.pop(sample_id)
                self._label_bytes -= size
                self._join(sample_id, label, prediction, score, now)
            else:
                size = (
                    PENDING_ENTRY_BYTES
                    + value_bytes(sample_id)
                    + value_bytes(prediction)
                    + value_bytes(score)
                )
                self._predictions[sample_id] = (prediction, score, now, size)
                self._prediction_bytes += size
                while (
                    len(self._predictions) > self.max_pending
                    or self._prediction_bytes > self.max_bytes
                ):  # the oldest first (the new entry last, when it alone is too large)
                    self._prediction_bytes -= self._predictions.popitem(last=False)[1][3]
                    self._evicted_predictions += 1

    def add_labels(self, labels: Sequence[tuple[str, object]], now: float) -> LabelOutcome:
        """Ground truth as (id, label) pairs: joined to a waiting prediction, or held until its
        prediction arrives. The first label of an id wins; later ones count as duplicates."""
        self._sweep(now)
        matched = held = duplicate = 0
        for sample_id, label in labels:
            if sample_id in self._labels or sample_id in self._joined_ids:
                duplicate += 1
            elif sample_id in self._predictions:
                prediction, score, _, size = self._predictions.pop(sample_id)
                self._prediction_bytes -= size
                self._join(sample_id, label, prediction, score, now)
                matched += 1
            else:
                size = PENDING_ENTRY_BYTES + value_bytes(sample_id) + value_bytes(label)
                self._labels[sample_id] = (label, now, size)
                self._label_bytes += size
                held += 1
                while len(self._labels) > self.max_pending or self._label_bytes > self.max_bytes:
                    self._label_bytes -= self._labels.popitem(last=False)[1][2]
                    self._evicted_labels += 1
        self._held += held
        self._duplicate += duplicate
        return LabelOutcome(matched, held, duplicate)

    def expire(self, now: float) -> Expired:
        """Drop entries that waited more than ``ttl_seconds``; return how many expired since the
        previous call (the ``add_*`` methods expire too, before they join anything)."""
        self._sweep(now)
        out = Expired(
            self._expired_predictions - self._reported_predictions,
            self._expired_labels - self._reported_labels,
        )
        self._reported_predictions = self._expired_predictions
        self._reported_labels = self._expired_labels
        return out

    def joined(self, positive_label: str | None = None) -> Joined:
        """The last ``window`` joined pairs. Numeric scores are the probability of
        ``positive_label`` (default: "1" or "true" for 0/1 or boolean labels; without a positive
        label they give no ``Scores``)."""
        pairs = list(self._joined)
        labels = tuple(p[0] for p in pairs)
        predictions = tuple(p[1] for p in pairs)
        joined_at = np.fromiter((p[3] for p in pairs), dtype=np.float64, count=len(pairs))
        scores = _scores([p[2] for p in pairs], labels, predictions, positive_label)
        return Joined(labels, predictions, scores, joined_at)

    def _join(
        self, sample_id: str, label: object, prediction: object, score: SampleScore, now: float
    ) -> None:
        size = JOINED_PAIR_BYTES + value_bytes(label) + value_bytes(prediction)
        size += value_bytes(score)
        self._joined.append((label, prediction, score, now, size))
        self._joined_bytes += size
        while len(self._joined) > self.window or self._joined_bytes > self.max_bytes:
            self._joined_bytes -= self._joined.popleft()[4]
        size = JOINED_ID_BYTES + value_bytes(sample_id)
        self._joined_ids[sample_id] = (now, size)
        self._joined_id_bytes += size
        while len(self._joined_ids) > self.max_pending or self._joined_id_bytes > self.max_bytes:
            self._joined_id_bytes -= self._joined_ids.popitem(last=False)[1][1]
        self._matched += 1

    def _sweep(self, now: float) -> None:
        cutoff = now - self.ttl_seconds
        while self._predictions and next(iter(self._predictions.values()))[2] < cutoff:
            self._prediction_bytes -= self._predictions.popitem(last=False)[1][3]
            self._expired_predictions += 1
        while self._labels and next(iter(self._labels.values()))[1] < cutoff:
            self._label_bytes -= self._labels.popitem(last=False)[1][2]
            self._expired_labels += 1
        while self._joined_ids and next(iter(self._joined_ids.values()))[0] < cutoff:
            self._joined_id_bytes -= self._joined_ids.popitem(last=False)[1][1]


def _scores(
    samples: list[SampleScore],
    labels: tuple[object, ...],
    predictions: tuple[object, ...],
    positive_label: str | None,
) -> Scores | None:
    """``Scores`` when every sample has scores of one form: all numbers (with a known positive
    class) or all mappings over the same classes."""
    if not samples:
        return None
    if all(isinstance(s, float) for s in samples):
        classes = {c for c in map(canonical_category, labels + predictions) if c is not None}
        positive = positive_class(classes, positive_label)
        if positive is None:
            return None
        others = sorted(classes - {positive})
        default = {"1": "0", "true": "false"}.get(positive, OTHER)
        negative = others[0] if len(others) == 1 else default
        return Scores.binary(
            [float(s) for s in samples if isinstance(s, float)], negative, positive
        )
    first = samples[0]
    if not isinstance(first, dict) or not all(
        isinstance(s, dict) and s.keys() == first.keys() for s in samples
    ):
        return None
    classes_ = tuple(sorted(first))
    if len(classes_) < 2:
        return None
    matrix = np.array([[s[c] for c in classes_] for s in samples if isinstance(s, dict)])
    return Scores(classes_, matrix)


@dataclass(frozen=True)
class PerformanceView:
    """What the Prometheus collector and the API show for one model."""

    current: Performance | None
    reference: Performance | None
    degraded: bool | None  # None: no condition configured, or its metric is not available
    counters: LabelCounters
    invalid: int
    pending_predictions: int
    pending_labels: int
    evaluated_at: float | None
