"""A bounded window: the last ``size`` accepted samples of one model, column by column.

Every slot also keeps the time its sample arrived, so a view can be limited to the samples of
the last N seconds (a time window, capped at ``size`` samples so memory stays bounded).

Memory is fixed at construction (``size`` slots per column, 8 bytes for a number, 4 for a
category code) plus each categorical column's vocabulary, which is capped. The window is owned by
the service and mutated only through ``append``; evaluations work on a ``WindowView`` copied under
the service's lock, summarized outside it.

Summaries are incremental: the sorted values of a numerical column are carried from one
evaluation to the next (evicted values removed and new ones merged in, one pass per column)
instead of re-sorted, so an evaluation costs O(window) memory moves, not O(window log window)
comparisons; large windows are summarized a column per thread.

``to_state`` / ``from_state`` turn a window into plain data (numpy arrays and JSON-able values)
and back, for the service's snapshots (``drift.service.state``); no file is touched here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from drift.core.columns import (
    OTHER,
    PARALLEL_MIN_SAMPLES,
    CategoricalData,
    ColumnData,
    ColumnType,
    FloatArray,
    NumericData,
    canonical_category,
    map_columns,
    sorted_ranks,
)

CodeArray = npt.NDArray[np.int32]
MISSING_CODE = -1


class Vocabulary:
    """Category -> code for one categorical column.

    Seeded with the reference's categories (same order, so counts align by code). Categories first
    seen in the window get new codes, at most ``max_new`` of them; beyond that, and for every
    unseen category when the reference itself was cut to its top categories, they count as
    ``OTHER``.
    """

    def __init__(self, categories: Sequence[str], max_new: int) -> None:
        self.categories: list[str] = list(categories)
        self._codes = {cat: code for code, cat in enumerate(self.categories)}
        self._closed = OTHER in self._codes  # the reference was truncated
        self._limit = len(self.categories) + max_new

    def __len__(self) -> int:
        return len(self.categories)

    def code(self, value: Any) -> int:
        # ingested samples arrive already canonical (drift.ingest.samples); a str is its own
        # spelling
        key = value if type(value) is str else canonical_category(value)
        if key is None:
            return MISSING_CODE
        found = self._codes.get(key)
        if found is not None:
            return found
        if not self._closed and len(self.categories) < self._limit:
            return self._add(key)
        other = self._codes.get(OTHER)
        return other if other is not None else self._add(OTHER)

    def to_state(self) -> dict[str, Any]:
        """The categories in code order and the rules for new ones, JSON-able."""
        return {"categories": list(self.categories), "closed": self._closed, "limit": self._limit}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Vocabulary:
        """The vocabulary ``to_state`` saved (same codes, same rules for new categories).
        Raises ValueError (or KeyError, TypeError) when ``state`` is not one."""
        categories, closed, limit = state["categories"], state["closed"], state["limit"]
        if not isinstance(categories, list) or not all(type(c) is str for c in categories):
            raise ValueError("saved categories are not strings")
        if len(set(categories)) != len(categories):
            raise ValueError("saved categories repeat")
        if type(closed) is not bool or type(limit) is not int or len(categories) > limit + 1:
            raise ValueError("saved vocabulary rules do not fit its categories")
        vocab = cls(categories, 0)
        vocab._closed, vocab._limit = closed, limit
        return vocab

    def _add(self, key: str) -> int:
        code = len(self.categories)
        self.categories.append(key)
        self._codes[key] = code
        return code


@dataclass(frozen=True, eq=False)
class WindowView:
    """Copies of the window's columns in arrival order, taken under the lock."""

    numeric: Mapping[str, FloatArray]
    codes: Mapping[str, CodeArray]
    vocabularies: Mapping[str, tuple[str, ...]]
    samples: int
    total_seen: int


@dataclass(frozen=True, eq=False)
class WindowSnapshot:
    """The window as the statistics see it (``ColumnData`` per column)."""

    columns: Mapping[str, ColumnData]
    samples: int
    total_seen: int


class CountWindow:
    def __init__(
        self,
        column_types: Mapping[str, ColumnType],
        size: int,
        vocabularies: Mapping[str, Sequence[str]] | None = None,
        max_new_categories: int = 10_000,
    ) -> None:
        if size <= 0:
            raise ValueError("window size must be positive")
        self.size = size
        self._types = dict(column_types)
        seeds = vocabularies or {}
        self._vocab = {
            name: Vocabulary(seeds.get(name, ()), max_new_categories)
            for name, kind in self._types.items()
            if kind is ColumnType.CATEGORICAL
        }
        self._buffers: dict[str, npt.NDArray[Any]] = {
            name: np.full(size, np.nan)
            if kind is ColumnType.NUMERICAL
            else np.full(size, MISSING_CODE, dtype=np.int32)
            for name, kind in self._types.items()
        }
        self._times = np.full(size, -np.inf)
        self._next = 0
        self._count = 0
        self.total_seen = 0

    def __len__(self) -> int:
        return self._count

    @property
    def column_types(self) -> Mapping[str, ColumnType]:
        return self._types

    def append(
        self, columns: Mapping[str, Sequence[Any] | FloatArray], n: int, at: float = 0.0
    ) -> None:
        """Add ``n`` samples that arrived at time ``at`` (any monotonic clock; only time windows
        use it); only the last ``size`` of them are kept. Numerical values are floats (NaN or
        None for missing); categorical values anything ``canonical_category`` takes."""
        if n <= 0:
            return
        for name in self._buffers:
            if len(columns[name]) != n:
                raise ValueError(f"column {name!r} has {len(columns[name])} values, expected {n}")
        start = max(0, n - self.size)
        kept = n - start
        # where the kept samples go: one run of the ring, or two when they wrap around it
        first = min(kept, self.size - self._next)
        spans = [(slice(self._next, self._next + first), slice(0, first))]
        if first < kept:
            spans.append((slice(0, kept - first), slice(first, kept)))
        for name, buf in self._buffers.items():
            vocab = self._vocab.get(name)
            if vocab is None:
                values = np.asarray(columns[name], dtype=np.float64)[start:]
            else:
                codes = (vocab.code(v) for v in columns[name][start:])
                values = np.fromiter(codes, np.int32, count=kept)
            for into, take in spans:
                buf[into] = values[take]
        for into, _ in spans:
            self._times[into] = at
        self._next = (self._next + kept) % self.size
        self._count = min(self.size, self._count + n)
        self.total_seen += n

    def _ordered(self, buf: npt.NDArray[Any], last: int) -> npt.NDArray[Any]:
        """The ``last`` newest values of ``buf`` in arrival order (a copy)."""
        if self._count < self.size:
            return buf[self._count - last : self._count].copy()
        ordered = np.concatenate((buf[self._next :], buf[: self._next]))
        return ordered[self.size - last :]

    def count_since(self, since: float) -> int:
        """How many of the kept samples arrived at or after ``since``."""
        segments: tuple[FloatArray, ...]
        if self._count < self.size:
            segments = (self._times[: self._count],)
        else:  # the ring holds two runs in arrival order: [next:] (older) then [:next]
            segments = (self._times[self._next :], self._times[: self._next])
        return sum(int(t.size - np.searchsorted(t, since, side="left")) for t in segments)

    def view(self, since: float | None = None) -> WindowView:
        """Copies for an evaluation; cheap (memcpy), meant to run under the service's lock.
        With ``since``, only the samples that arrived at or after it (a time window)."""
        last = self._count if since is None else self.count_since(since)
        return WindowView(
            numeric={
                n: self._ordered(b, last) for n, b in self._buffers.items() if n not in self._vocab
            },
            codes={n: self._ordered(b, last) for n, b in self._buffers.items() if n in self._vocab},
            vocabularies={n: tuple(v.categories) for n, v in self._vocab.items()},
            samples=last,
            total_seen=self.total_seen,
        )

    def raw(self) -> dict[str, npt.NDArray[Any]]:
        """The column values in arrival order: floats, or canonical strings with None."""
        view = self.view()
        out: dict[str, npt.NDArray[Any]] = {}
        for name in self._buffers:
            if name in view.numeric:
                out[name] = view.numeric[name]
            else:
                lookup = np.array([*view.vocabularies[name], None], dtype=object)
                out[name] = lookup[view.codes[name]]  # code -1 picks the trailing None
        return out

    def snapshot(self) -> WindowSnapshot:
        return Summarizer().summarize(self.view())

    def to_state(self, wall_offset: float = 0.0) -> dict[str, Any]:
        """The window as plain data (numpy arrays in arrival order and JSON-able values) for a
        snapshot: copies, cheap (memcpy), meant to run under the service's lock. Arrival times
        are saved as ``time + wall_offset`` (``time.time() - time.monotonic()`` saves Unix
        times, so the time spent down counts when a time window is restored)."""
        return {
            "size": self.size,
            "samples": self._count,
            "total_seen": self.total_seen,
            "types": {name: kind.value for name, kind in self._types.items()},
            "vocabularies": {name: v.to_state() for name, v in self._vocab.items()},
            "columns": {n: self._ordered(b, self._count) for n, b in self._buffers.items()},
            "times": self._ordered(self._times, self._count) + wall_offset,
        }

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        column_types: Mapping[str, ColumnType],
        size: int,
        wall_offset: float = 0.0,
    ) -> CountWindow:
        """The window ``to_state`` saved, which must have these columns and this size: the
        same samples, vocabularies (whatever reference seeded them) and samples seen, arrival
        times moved back by ``wall_offset``. Raises ValueError (or KeyError, TypeError) when
        ``state`` is not such a window."""
        window = cls(column_types, size)
        types = {name: kind.value for name, kind in window._types.items()}
        if state["types"] != types:
            raise ValueError(f"saved columns {state['types']} differ from {types}")
        if state["size"] != size:
            raise ValueError(f"saved window size {state['size']} differs from {size}")
        count, total = state["samples"], state["total_seen"]
        if type(count) is not int or type(total) is not int or not 0 <= count <= min(size, total):
            raise ValueError(f"{count} samples of {total} seen do not fit a window of {size}")
        saved = state["vocabularies"]
        window._vocab = {name: Vocabulary.from_state(saved[name]) for name in window._vocab}
        for name, buf in window._buffers.items():
            vocab = window._vocab.get(name)
            values = _saved_array(state["columns"][name], count, name, numeric=vocab is None)
            if (
                vocab is not None
                and values.size
                and not (values.min() >= MISSING_CODE and values.max() < len(vocab))
            ):
                raise ValueError(f"column {name!r} has codes outside its vocabulary")
            buf[:count] = values
        times = _saved_array(state["times"], count, "times", numeric=True)
        if np.isnan(times).any() or (times.size > 1 and bool((np.diff(times) < 0).any())):
            raise ValueError("arrival times are not in order")
        window._times[:count] = times - wall_offset
        window._count = count
        window._next = count % size
        window.total_seen = total
        return window

    def memory_bytes(self) -> int:
        """Bytes held by the buffers and the vocabularies' strings (what grows with data)."""
        buffers = sum(b.nbytes for b in self._buffers.values()) + self._times.nbytes
        vocab = sum(len(c) + 49 for v in self._vocab.values() for c in v.categories)
        return buffers + vocab


def _saved_array(value: Any, count: int, name: str, numeric: bool) -> npt.NDArray[Any]:
    """A saved column (float64 values, or int32 category codes) of ``count`` entries."""
    if not isinstance(value, np.ndarray) or value.shape != (count,):
        raise ValueError(f"saved {name!r} is not an array of {count} entries")
    if value.dtype != (np.float64 if numeric else np.int32):
        raise ValueError(f"saved {name!r} has dtype {value.dtype}")
    return value


def _positions_of(values: FloatArray, remove: FloatArray) -> npt.NDArray[np.intp]:
    """Distinct positions in ``values`` (sorted) of the multiset ``remove`` (sorted, each
    present in ``values``): the k-th of a run of equal values in ``remove`` is the k-th equal
    one in ``values``."""
    positions: npt.NDArray[np.intp] = np.searchsorted(values, remove, side="left")
    if remove.size > 1:
        # plus each value's rank in its run of equals: its index minus its run's first index
        index = np.arange(remove.size)
        run_start = np.empty(remove.size, dtype=bool)
        run_start[0] = True
        np.not_equal(remove[1:], remove[:-1], out=run_start[1:])
        first = np.where(run_start, index, 0)
        np.maximum.accumulate(first, out=first)
        index -= first
        positions += index
    return positions


#: columns of at least this many values are bucketed before their final sort
BUCKET_SORT_MIN = 4_096
_BUCKETS = 1 << 16


def _sorted(values: FloatArray, min_size: int = BUCKET_SORT_MIN) -> FloatArray:
    """``np.sort(values)`` of finite values (a new array), about twice as fast for large
    columns of spread-out values: a stable counting pass (numpy's radix sort of 16-bit keys)
    puts them in 65,536 equal-width buckets of their range, and a stable sort (timsort, which
    merges runs) finishes the nearly sorted result. Where one bucket would hold more than a
    sixteenth of the values (a few distinct values, or a long tail squeezing the rest into
    few buckets) it is ``np.sort``, so it is never much slower. Only the speed depends on the
    buckets: the final sort orders every value."""
    n = values.size
    if n < max(min_size, 2):
        return np.sort(values)
    lo, hi = values.min(), values.max()
    with np.errstate(over="ignore"):  # a range beyond the largest float: np.sort
        scale = (_BUCKETS - 1) / (hi - lo) if hi > lo else 0.0
    if not 0.0 < scale < np.inf:
        return np.sort(values)
    position = values - lo
    position *= scale
    bucket = position.astype(np.uint16)
    if np.bincount(bucket, minlength=_BUCKETS).max() > n // 16:
        return np.sort(values)
    ordered = values[np.argsort(bucket, kind="stable")]
    ordered.sort(kind="stable")
    return ordered


def _finite_sorted(values: FloatArray) -> FloatArray:
    """The finite values, sorted (a new array)."""
    return _sorted(values[np.isfinite(values)])


@dataclass(frozen=True, eq=False)
class _NumericStep:
    """One numerical column's work in a ``Summarizer.summarize``: its raw values and, when the
    previous evaluation's summary is carried over, that summary and the values that left and
    joined the window since."""

    raw: FloatArray
    reference: FloatArray | None
    previous: FloatArray | None = None
    previous_ranks: npt.NDArray[np.intp] | None = None
    evicted: FloatArray | None = None
    added: FloatArray | None = None


def _summarize_numeric(step: _NumericStep) -> tuple[FloatArray, npt.NDArray[np.intp] | None]:
    """The column's finite values, sorted, and (with a reference) their ranks in it. Pure (runs
    in the column threads); the carried arrays are read, never written."""
    reference, previous = step.reference, step.previous
    if previous is None or step.evicted is None or step.added is None:
        values = _finite_sorted(step.raw)
        return values, None if reference is None else sorted_ranks(reference, values)
    carried = step.previous_ranks if reference is not None else None
    return _replaced(previous, carried, step.evicted, step.added, reference)


def _replaced(
    previous: FloatArray,
    previous_ranks: npt.NDArray[np.intp] | None,
    evicted: FloatArray,
    added_raw: FloatArray,
    reference: FloatArray | None,
) -> tuple[FloatArray, npt.NDArray[np.intp] | None]:
    """``previous`` (sorted) without the finite ``evicted`` values and with the finite
    ``added_raw`` ones, still sorted, in one pass over memory: what ``np.insert(np.delete(...))``
    gives, with the masks built once for the values and their ranks. Ranks of kept values are
    carried, those of added values found by binary search in ``reference``."""
    gone = _positions_of(previous, _finite_sorted(evicted))
    added = _finite_sorted(added_raw)
    if gone.size == 0 and added.size == 0:
        if reference is not None and previous_ranks is None:
            return previous, sorted_ranks(reference, previous)
        return previous, previous_ranks
    keep = np.ones(previous.size, dtype=bool)
    keep[gone] = False
    kept = previous[keep]
    # each added value goes before the kept values >= it, after the added ones before it
    at = np.searchsorted(kept, added, side="left")
    at += np.arange(added.size)
    old = np.ones(kept.size + added.size, dtype=bool)
    old[at] = False
    values = np.empty(old.size)
    values[at] = added
    values[old] = kept
    if reference is None:
        return values, None
    if previous_ranks is None:
        return values, sorted_ranks(reference, values)
    ranks = np.empty(old.size, dtype=np.intp)
    ranks[at] = sorted_ranks(reference, added)
    ranks[old] = previous_ranks[keep]
    return values, ranks


@dataclass
class Summarizer:
    """Turns views into snapshots, carrying sorted numerical values between evaluations.

    With ``rank_against`` (the reference's sorted values per numerical column) it also carries,
    for every window value, how many reference values are <= it, which the Wasserstein distance
    would otherwise recompute with a binary search per value at every evaluation.
    From ``PARALLEL_MIN_SAMPLES`` samples on, numerical columns are summarized in the column
    threads (``map_columns``; numpy's sorts, binary searches and memory moves release the GIL;
    on one core it is a plain loop). Owned by whoever evaluates one window (the service's
    evaluator); not thread-safe.
    """

    rank_against: Mapping[str, FloatArray] = field(default_factory=dict)
    _previous: WindowView | None = None
    _sorted: dict[str, FloatArray] = field(default_factory=dict)
    _ranks: dict[str, npt.NDArray[np.intp]] = field(default_factory=dict)

    def summarize(self, view: WindowView) -> WindowSnapshot:
        prev = self._previous
        new = view.total_seen - prev.total_seen if prev is not None else -1
        incremental = prev is not None and 0 <= new < view.samples
        steps: list[_NumericStep] = []
        for name, raw in view.numeric.items():
            reference = self.rank_against.get(name)
            previous = self._sorted.get(name)
            if incremental and prev is not None and previous is not None:
                evicted = prev.samples + new - view.samples
                steps.append(
                    _NumericStep(
                        raw,
                        reference,
                        previous,
                        self._ranks.get(name),
                        prev.numeric[name][:evicted],
                        raw[view.samples - new :],
                    )
                )
            else:
                steps.append(_NumericStep(raw, reference))
        summaries = map_columns(
            _summarize_numeric, steps, parallel=view.samples >= PARALLEL_MIN_SAMPLES
        )
        columns: dict[str, ColumnData] = {}
        self._sorted.clear()
        self._ranks.clear()
        for name, step, (values, ranks) in zip(view.numeric, steps, summaries, strict=True):
            self._sorted[name] = values
            if ranks is not None:
                self._ranks[name] = ranks
            columns[name] = NumericData.from_sorted(
                values,
                step.raw.size - int(values.size),
                reference_ranks=ranks,
                ranked_against=step.reference if ranks is not None else None,
            )
        for name, codes in view.codes.items():
            categories = view.vocabularies[name]
            # code -1 (missing) counts in the first bin
            counts = np.bincount(codes + 1, minlength=len(categories) + 1)
            freq = counts[1:].astype(np.int64)
            freq.setflags(write=False)
            columns[name] = CategoricalData(categories, freq, int(counts[0]))
        self._previous = view
        return WindowSnapshot(columns=columns, samples=view.samples, total_seen=view.total_seen)
