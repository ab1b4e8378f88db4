"""The pending table, where one half of a request/response pair waits for the other, and the
compact form in which a half waits.

``PendingTable`` is pure and small: a map from a correlation key to the half that arrived first,
bounded in entries (``capacity``), in bytes (``max_bytes``) and in time (``ttl``). Every operation
is O(1) amortised (an ``OrderedDict`` in arrival order; every entry lives for the same ``ttl``, so
arrival order is also expiry order), and one lock makes it safe for concurrent handlers. Halves
that leave without a partner (expired, or evicted when the table is full in entries or in bytes)
are reported to ``on_drop``, which the caller uses for its counters; it runs under the lock, so
it must be quick and must not call back into the table.

The bytes of an entry are the caller's estimate of what its key and value hold (``offer``'s
``size``) plus ``ENTRY_BYTES`` for the table's own share. ``keep_rows`` and ``keep_values`` make
the compact form of a request's instances and of a response's predictions and estimate it: only
the model's feature values are kept (not the body, not the decoded event, not keys a row carries
besides the features), numbers as float64 in an ``array`` (8 bytes each), other values in a list
with strings cut to what validation needs and repeated strings shared; a half with more instances
than can ever be ingested keeps its count only.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain, repeat
from operator import add, itemgetter
from typing import Any, Final, Generic, NamedTuple, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Bytes of one entry of the table besides its key and value: its slot in the ``OrderedDict``
#: (hash table entry and index, linked-list node), the entry tuple, the deadline as a float and
#: the size as an int. Measured with ``tracemalloc`` (CPython 3.11, 64-bit) on a full table of n
#: entries with tuple keys, the oldest evicted as new ones come, n from 1,000 to 100,000: at most
#: 328 bytes, just past a resize of the hash table (n = 2^k / 3 + 1; ~240 bytes before one; str
#: keys take 32 bytes less); rounded up. ``tests/ingest/test_pairing_bytes.py`` checks it.
ENTRY_BYTES: Final = 352


class Side(StrEnum):
    """Which half of a pair; the ``half`` label of the expiry counters."""

    REQUEST = "request"
    RESPONSE = "response"


class Drop(StrEnum):
    EXPIRED = "expired"  # waited ``ttl`` seconds for its partner
    EVICTED = "evicted"  # the oldest entry, pushed out by a new one: capacity or max_bytes reached


class Offered(StrEnum):
    WAITING = "waiting"  # stored until its partner arrives
    PAIRED = "paired"  # the partner was waiting: it is returned and removed
    DUPLICATE = "duplicate"  # the same side of this key is waiting already: the first one stays
    TOO_LARGE = "too_large"  # over max_bytes on its own: not stored, nothing evicted


@dataclass(frozen=True, slots=True)
class Offer(Generic[V]):
    """What ``PendingTable.offer`` did; ``partner`` is the waiting other half when PAIRED."""

    status: Offered
    partner: V | None = None


class PendingTable(Generic[K, V]):
    """Halves waiting for their partner: at most ``capacity`` of them and ``max_bytes`` (None:
    no limit) of them together, each for ``ttl`` seconds."""

    def __init__(
        self,
        ttl: float,
        capacity: int,
        on_drop: Callable[[Drop, Side, V], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_bytes: int | None = None,
    ) -> None:
        if ttl <= 0 or capacity <= 0 or (max_bytes is not None and max_bytes <= 0):
            raise ValueError("ttl, capacity and max_bytes must be positive")
        self.ttl = ttl
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._max_bytes = sys.maxsize if max_bytes is None else max_bytes
        self._on_drop = on_drop
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (deadline, side, value, bytes); arrival order == deadline order
        self._entries: OrderedDict[K, tuple[float, Side, V, int]] = OrderedDict()
        self._bytes = 0  # of all entries, ENTRY_BYTES each included

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        """Whether something (maybe expired) waits under ``key``: read without the lock (one
        dict lookup, atomic in CPython), a hint that ``take`` confirms."""
        return key in self._entries

    @property
    def bytes(self) -> int:
        """The estimated bytes of the entries waiting (at most ``max_bytes``)."""
        return self._bytes

    def take(self, key: K, side: Side) -> Offer[V] | None:
        """The waiting other half of ``key`` (PAIRED: removed), DUPLICATE when the same side
        of ``key`` is waiting already, None when nothing waits: then ``offer`` the half (in the
        form it waits in, which the caller need not make when its partner is there)."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            return self._take(key, side)

    def offer(self, key: K, side: Side, value: V, size: int = 0) -> Offer[V]:
        """Pair ``value`` with the waiting other half of ``key``, or store it to wait, evicting
        the oldest entries while the table would exceed ``capacity`` or ``max_bytes``. ``size``:
        the estimated bytes of ``key`` and ``value`` (``ENTRY_BYTES`` is added)."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            found = self._take(key, side)
            if found is not None:
                return found
            entries = self._entries
            size += ENTRY_BYTES
            if size > self._max_bytes:
                return _TOO_LARGE
            # the table is not empty while over either limit: the new entry fits both alone
            while len(entries) >= self.capacity or self._bytes + size > self._max_bytes:
                _, (_, old_side, old_value, old_size) = entries.popitem(last=False)
                self._bytes -= old_size
                if self._on_drop is not None:
                    self._on_drop(Drop.EVICTED, old_side, old_value)
            entries[key] = (now + self.ttl, side, value, size)
            self._bytes += size
            return _WAITING

    def _take(self, key: K, side: Side) -> Offer[V] | None:
        waiting = self._entries.get(key)
        if waiting is None:
            return None
        if waiting[1] is side:
            return _DUPLICATE
        del self._entries[key]
        self._bytes -= waiting[3]
        return Offer(Offered.PAIRED, waiting[2])

    def discard(self, key: K) -> V | None:
        """Remove and return whatever waits under ``key`` (not reported as dropped)."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is None:
                return None
            self._bytes -= entry[3]
        return entry[2]

    def sweep(self) -> int:
        """Drop the expired entries now (also done by every ``offer``); returns how many."""
        with self._lock:
            return self._expire(self._clock())

    # snapshots (not on the hot path) ---------------------------------------------------------
    def copy_entries(self) -> tuple[list[tuple[K, tuple[float, Side, V, int]]], float]:
        """The entries, oldest first (key, (deadline, side, value, bytes)), and the clock now:
        a shallow copy under the lock (the values are not changed while they wait)."""
        with self._lock:
            return list(self._entries.items()), self._clock()

    def marker(self) -> tuple[Any, ...]:
        """Changes whenever what waits changes (an entry added, taken, expired or evicted):
        the count, the bytes and the newest and oldest entries' keys, sides and deadlines."""
        with self._lock:
            entries = self._entries
            if not entries:
                return (0,)
            first, last = next(iter(entries)), next(reversed(entries))
            a, b = entries[first], entries[last]
            return (len(entries), self._bytes, first, a[0], a[1], last, b[0], b[1])

    def restore(self, entries: Iterable[tuple[K, float, Side, V, int]], wall: float) -> Restored:
        """Put saved entries back: (key, deadline as wall time, side, value, bytes as
        estimated when it was offered), ``wall`` the wall clock now. A deadline is kept, but
        never beyond ``ttl`` from now; one that has passed is dropped as EXPIRED; a key that
        waits already is skipped; then the oldest entries are EVICTED while the table is over
        ``capacity`` or ``max_bytes`` (both may be smaller than when it was saved)."""
        expired = evicted = duplicate = kept = 0
        with self._lock:
            now = self._clock()
            offset, latest = wall - now, now + self.ttl
            entries_ = self._entries
            for key, deadline, side, value, size in entries:
                at = min(deadline - offset, latest)
                if at <= now:
                    expired += 1
                    if self._on_drop is not None:
                        self._on_drop(Drop.EXPIRED, side, value)
                    continue
                if key in entries_:
                    duplicate += 1
                    continue
                entries_[key] = (at, side, value, size)
                self._bytes += size
                kept += 1
            if kept:  # arrival order must stay deadline order
                ordered = sorted(entries_.items(), key=lambda item: item[1][0])
                entries_.clear()
                entries_.update(ordered)
            while entries_ and (len(entries_) > self.capacity or self._bytes > self._max_bytes):
                _, (_, old_side, old_value, old_size) = entries_.popitem(last=False)
                self._bytes -= old_size
                evicted += 1
                if self._on_drop is not None:
                    self._on_drop(Drop.EVICTED, old_side, old_value)
        return Restored(kept - evicted, expired, evicted, duplicate)

    def _expire(self, now: float) -> int:
        entries, dropped = self._entries, 0
        while entries:
            key = next(iter(entries))
            deadline, side, value, size = entries[key]
            if deadline > now:
                break
            del entries[key]
            self._bytes -= size
            dropped += 1
            if self._on_drop is not None:
                self._on_drop(Drop.EXPIRED, side, value)
        return dropped


_WAITING: Offer[Any] = Offer(Offered.WAITING)
_DUPLICATE: Offer[Any] = Offer(Offered.DUPLICATE)
_TOO_LARGE: Offer[Any] = Offer(Offered.TOO_LARGE)


# the compact form of a half ------------------------------------------------------------------


class _Missing:
    """The value of a feature that a row lacks (``MISSING``); shared, so it costs no bytes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

_NONE = type(None)
_NUMBERS = frozenset({float, int})
_NUMBERS_OR_NONE = frozenset({float, int, _NONE})
_LIST_BYTES: Final = sys.getsizeof([])
_DICT_BYTES: Final = sys.getsizeof({})


class KeptRows(NamedTuple):
    """A request's instances as they wait for the response: the values of the model's
    ``numerical`` and ``categorical`` features, row after row. ``numbers`` is float64 (None as
    NaN) when every numerical value is a number, else a list like ``others``; both are None
    when only their number ``n`` is kept (more instances than may be ingested). ``holes``: some
    row lacked a feature (``MISSING`` in its place). A tuple: one is made per prediction."""

    n: int  # rows
    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    numbers: array[float] | list[Any] | None
    others: list[Any] | None
    holes: bool = False

    def rows(self) -> list[dict[str, Any]]:
        """The rows again, ``{feature: value}`` (a lacking feature left out), as validation of
        samples takes them: the same values, numbers as floats."""
        numbers, others = self.numbers, self.others
        if numbers is None or others is None:
            raise ValueError(f"only the number of rows ({self.n}) was kept")
        names = self.numerical + self.categorical
        if not names:
            return [{} for _ in range(self.n)]
        nums = numbers.tolist() if isinstance(numbers, array) else numbers
        if self.n == 1 and not self.holes:  # the usual case: one instance
            return [dict(zip(names, nums + others, strict=False))]
        # each row's values (the lists hold whole rows: not strict, which costs ~15%)
        kn, kc = len(self.numerical), len(self.categorical)
        per_row: Iterable[Sequence[Any]]
        if not kc:
            per_row = zip(*[iter(nums)] * kn, strict=False)
        elif not kn:
            per_row = zip(*[iter(others)] * kc, strict=False)
        else:
            per_row = map(
                add,
                zip(*[iter(nums)] * kn, strict=False),
                zip(*[iter(others)] * kc, strict=False),
            )
        if self.holes:
            return [
                {k: v for k, v in zip(names, row, strict=False) if v is not MISSING}
                for row in per_row
            ]
        return list(map(dict, map(zip, repeat(names), per_row)))


class KeptValues(NamedTuple):
    """A response's predictions as they wait for the request: float64 when numeric and every
    one a number, else a list; None when only their number ``n`` is kept."""

    n: int  # values
    values: array[float] | list[Any] | None

    def tolist(self) -> list[Any]:
        values = self.values
        if values is None:
            raise ValueError(f"only the number of values ({self.n}) was kept")
        return values.tolist() if isinstance(values, array) else values


_KEPT_ROWS_BYTES: Final = sys.getsizeof(KeptRows(0, (), (), None, None))
_KEPT_VALUES_BYTES: Final = sys.getsizeof(KeptValues(0, None))


def keep_rows(
    rows: Sequence[Mapping[str, Any]],
    numerical: tuple[str, ...],
    categorical: tuple[str, ...],
    *,
    max_rows: int,
    max_str: int,
) -> tuple[KeptRows, int]:
    """The compact form of feature ``rows`` and its estimated bytes (``sys.getsizeof`` of
    everything it holds but the shared names). Only the count when there are more than
    ``max_rows``. Strings are cut to ``max_str + 1`` characters: longer than ``max_str`` bytes
    in UTF-8 exactly when they were, so validation rejects the same samples (``too_long``)."""
    n = len(rows)
    if n > max_rows:
        return KeptRows(n, numerical, categorical, None, None), _KEPT_ROWS_BYTES
    values, holes = _gather(rows, numerical)
    numbers: array[float] | list[Any] | None = None if holes else _floats(values)
    if numbers is not None:
        size = sys.getsizeof(numbers)
    else:
        numbers, size = _compact(values, max_str)
    if categorical:
        values, missing = _gather(rows, categorical)
        others, more = _compact(values, max_str)
    else:
        others, more, missing = [], _LIST_BYTES, False
    kept = KeptRows(n, numerical, categorical, numbers, others, holes or missing)
    return kept, size + more + _KEPT_ROWS_BYTES


def keep_values(
    values: list[Any], numeric: bool, *, max_rows: int, max_str: int
) -> tuple[KeptValues, int]:
    """The compact form of predictions (``numeric``: of a numerical prediction column) and its
    estimated bytes; as ``keep_rows``."""
    n = len(values)
    compact: array[float] | list[Any] | None = None
    size = 0
    if n <= max_rows:
        compact = _floats(values) if numeric else None
        if compact is not None:
            size = sys.getsizeof(compact)
        else:
            compact, size = _compact(values, max_str)
    return KeptValues(n, compact), size + _KEPT_VALUES_BYTES


def _gather(rows: Sequence[Mapping[str, Any]], names: tuple[str, ...]) -> tuple[list[Any], bool]:
    """The values of ``names`` in every row, row after row, and whether ``MISSING`` stands for
    one a row lacks."""
    if not names:
        return [], False
    get = itemgetter(*names)
    try:
        if len(names) == 1:
            return list(map(get, rows)), False
        if len(rows) == 1:  # the usual case: one instance
            return list(get(rows[0])), False
        return list(chain.from_iterable(map(get, rows))), False
    except KeyError:
        return [row.get(name, MISSING) for row in rows for name in names], True


def _floats(values: list[Any]) -> array[float] | None:
    """``values`` as float64 (None as NaN, as validation reads a missing number) when every one
    is a float or an int (not a bool) within the float range, else None."""
    kinds = set(map(type, values))
    if not kinds <= _NUMBERS:
        if not kinds <= _NUMBERS_OR_NONE:
            return None
        values = [math.nan if v is None else v for v in values]
    try:
        return array("d", values)
    except OverflowError:  # an integer beyond the float range: validation rejects it
        return None


def _compact(values: Iterable[Any], max_str: int) -> tuple[list[Any], int]:
    """``values`` as a list whose strings are cut to ``max_str + 1`` characters and shared when
    equal, and whose arrays and objects (which validation rejects by their kind alone) are
    empty; and the estimated bytes of it all."""
    cap = max_str + 1
    out: list[Any] = []
    seen: dict[str, str] = {}
    size = 0
    getsizeof = sys.getsizeof
    for value in values:
        kind = type(value)
        if kind is str:
            if len(value) > cap:
                value = value[:cap]
            first = seen.setdefault(value, value)
            if first is value:
                size += getsizeof(value)
            else:
                value = first
        elif kind is list:
            value = []
            size += _LIST_BYTES
        elif kind is dict:
            value = {}
            size += _DICT_BYTES
        elif not (value is None or value is True or value is False or value is MISSING):
            size += getsizeof(value)  # numbers: None, bools and MISSING are shared
        out.append(value)
    return out, size + getsizeof(out)


# plain data (snapshots) ----------------------------------------------------------------------
#
# What a snapshot keeps of the table: JSON-able values, float64 arrays appended to one shared
# ``array("d")`` and referred to by ``{"floats": [start, length]}`` (one buffer for all halves,
# not one array each). Reading checks every kind: a damaged file raises ValueError, never makes
# a value that validation would not have made from a body.

_PLAIN_KINDS = frozenset({str, int, float, bool, _NONE, list, dict})


def _seq_to_plain(values: array[float] | list[Any] | None, floats: array[float]) -> Any:
    if values is None:
        return None
    if isinstance(values, array):
        start = len(floats)
        floats.extend(values)
        return {"floats": [start, len(values)]}
    missing = [i for i, v in enumerate(values) if v is MISSING]
    plain = [None if v is MISSING else v for v in values] if missing else list(values)
    return {"values": plain, "missing": missing}


def _seq_from_plain(plain: Any, floats: array[float]) -> array[float] | list[Any] | None:
    if plain is None:
        return None
    if not isinstance(plain, dict):
        raise ValueError("a kept sequence is not an object")
    if "floats" in plain:
        start, n = plain["floats"]
        if type(start) is not int or type(n) is not int or start < 0 or n < 0:
            raise ValueError("bad float range")
        if start + n > len(floats):
            raise ValueError("float range beyond the saved numbers")
        return floats[start : start + n]
    values, missing = plain["values"], plain["missing"]
    if not isinstance(values, list) or not isinstance(missing, list):
        raise ValueError("bad kept values")
    for v in values:
        if type(v) not in _PLAIN_KINDS or (type(v) in (list, dict) and v):
            raise ValueError(f"a kept value of kind {type(v).__name__}")
    out = list(values)
    for i in missing:
        if type(i) is not int or not 0 <= i < len(out):
            raise ValueError("bad missing index")
        out[i] = MISSING
    return out


def _names(plain: Any) -> tuple[str, ...]:
    if not isinstance(plain, list) or not all(type(n) is str for n in plain):
        raise ValueError("bad feature names")
    return tuple(plain)


def _count(plain: Any) -> int:
    if type(plain) is not int or plain < 0:
        raise ValueError("bad count")
    return plain


def rows_to_plain(kept: KeptRows, floats: array[float]) -> dict[str, Any]:
    """``kept`` as plain data, its float64 numbers appended to ``floats``."""
    return {
        "n": kept.n,
        "numerical": list(kept.numerical),
        "categorical": list(kept.categorical),
        "numbers": _seq_to_plain(kept.numbers, floats),
        "others": _seq_to_plain(kept.others, floats),
        "holes": kept.holes,
    }


def rows_from_plain(plain: Any, floats: array[float]) -> KeptRows:
    """The ``KeptRows`` that ``rows_to_plain`` made ``plain`` of; ValueError when damaged."""
    if not isinstance(plain, dict):
        raise ValueError("kept rows are not an object")
    others = _seq_from_plain(plain["others"], floats)
    if isinstance(others, array):
        raise ValueError("categorical values as floats")
    holes = plain["holes"]
    if type(holes) is not bool:
        raise ValueError("bad holes flag")
    return KeptRows(
        _count(plain["n"]),
        _names(plain["numerical"]),
        _names(plain["categorical"]),
        _seq_from_plain(plain["numbers"], floats),
        others,
        holes,
    )


def values_to_plain(kept: KeptValues, floats: array[float]) -> dict[str, Any]:
    """``kept`` as plain data, its float64 values appended to ``floats``."""
    return {"n": kept.n, "values": _seq_to_plain(kept.values, floats)}


def values_from_plain(plain: Any, floats: array[float]) -> KeptValues:
    """The ``KeptValues`` that ``values_to_plain`` made ``plain`` of; ValueError when damaged."""
    if not isinstance(plain, dict):
        raise ValueError("kept values are not an object")
    return KeptValues(_count(plain["n"]), _seq_from_plain(plain["values"], floats))


class Restored(NamedTuple):
    """What ``PendingTable.restore`` did with the saved entries."""

    kept: int
    expired: int  # their deadline passed while the process was down (reported as EXPIRED)
    evicted: int  # over capacity or max_bytes (reported as EVICTED, oldest first)
    duplicate: int  # the key waits already (not restored)


def table_to_plain(
    table: PendingTable[K, V], wall: float, dump: Callable[[K, V], Any]
) -> list[list[Any]]:
    """The entries waiting in ``table``, oldest first, each ``[side, deadline, size,
    dump(key, value)]`` with its deadline as wall time (``wall``: the wall clock now); copied
    under the table's lock, converted outside it."""
    entries, now = table.copy_entries()
    offset = wall - now
    return [
        [side.value, deadline + offset, size, dump(key, value)]
        for key, (deadline, side, value, size) in entries
    ]


def table_from_plain(
    table: PendingTable[K, V],
    entries: Iterable[Any],
    wall: float,
    load: Callable[[Any], tuple[K, V]],
) -> Restored:
    """Put the entries ``table_to_plain`` made back into ``table`` (``wall``: the wall clock
    now). Every entry is checked first (ValueError: nothing restored); then see
    ``PendingTable.restore``."""
    parsed: list[tuple[K, float, Side, V, int]] = []
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 4:
            raise ValueError("a saved half is not [side, deadline, size, half]")
        side_, deadline, size, value = entry
        if type(deadline) not in (int, float) or not math.isfinite(deadline):
            raise ValueError("bad deadline")
        key, half = load(value)
        parsed.append((key, float(deadline), Side(side_), half, _count(size)))
    return table.restore(parsed, wall)
