"""A bounded count window: the last ``size`` accepted samples of one model, column by column.

Memory is fixed at construction (``size`` slots per column) whatever the traffic. The window is
owned by the service and mutated only through ``append``; evaluations work on a ``snapshot``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from drift.columns import CategoricalData, ColumnData, ColumnType, NumericData


@dataclass(frozen=True, eq=False)
class WindowSnapshot:
    """The window's columns in arrival order, detached from the live buffers."""

    columns: Mapping[str, ColumnData]
    samples: int
    total_seen: int


class CountWindow:
    def __init__(self, column_types: Mapping[str, ColumnType], size: int) -> None:
        if size <= 0:
            raise ValueError("window size must be positive")
        self.size = size
        self._types = dict(column_types)
        self._buffers: dict[str, npt.NDArray[Any]] = {
            name: np.full(size, np.nan)
            if kind is ColumnType.NUMERICAL
            else np.full(size, None, object)
            for name, kind in self._types.items()
        }
        self._next = 0
        self._count = 0
        self.total_seen = 0

    def __len__(self) -> int:
        return self._count

    def append(self, columns: Mapping[str, list[Any]], n: int) -> None:
        """Add ``n`` samples; only the last ``size`` of them are kept."""
        if n <= 0:
            return
        start_in_batch = max(0, n - self.size)
        kept = n - start_in_batch
        idx = (self._next + np.arange(kept)) % self.size
        for name, buf in self._buffers.items():
            values = columns[name]
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} values, expected {n}")
            if buf.dtype == object:
                arr: npt.NDArray[Any] = np.empty(kept, dtype=object)
                arr[:] = values[start_in_batch:]
            else:
                arr = np.asarray(values[start_in_batch:], dtype=np.float64)
            buf[idx] = arr
        self._next = (self._next + kept) % self.size
        self._count = min(self.size, self._count + n)
        self.total_seen += n

    def _ordered(self, buf: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if self._count < self.size:
            return buf[: self._count].copy()
        return np.concatenate((buf[self._next :], buf[: self._next]))

    def raw(self) -> dict[str, npt.NDArray[Any]]:
        """Copies of the raw column values in arrival order (for reports and tests)."""
        return {name: self._ordered(buf) for name, buf in self._buffers.items()}

    @property
    def column_types(self) -> Mapping[str, ColumnType]:
        return self._types

    def snapshot(self) -> WindowSnapshot:
        return summarize(self.raw(), self._types, self._count, self.total_seen)


def summarize(
    raw: Mapping[str, npt.NDArray[Any]],
    types: Mapping[str, ColumnType],
    samples: int,
    total_seen: int,
) -> WindowSnapshot:
    """Turn raw copies into column data; callers do this outside the window's lock."""
    columns: dict[str, ColumnData] = {}
    for name, values in raw.items():
        if types[name] is ColumnType.NUMERICAL:
            columns[name] = NumericData.from_raw(values)
        else:
            columns[name] = CategoricalData.from_raw(values)
    return WindowSnapshot(columns=columns, samples=samples, total_seen=total_seen)
