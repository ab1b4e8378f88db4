"""Column data as the statistics see it: finite numbers, or category counts.

Both the reference and the current window are turned into these value objects, so every stat test
is a pure function of two of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class ColumnType(StrEnum):
    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"


def canonical_category(value: Any) -> str | None:
    """One spelling per category, so CSV ``1.0``, Parquet ``1`` and JSON ``1`` are one category.

    ``None`` and NaN are missing values.
    """
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if math.isfinite(value) and float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    return str(value)


@dataclass(frozen=True, eq=False)
class NumericData:
    """Finite values of a numerical column, sorted, plus how many were missing (NaN or inf)."""

    values: FloatArray
    n_missing: int
    n_unique: int = field(init=False)
    std: float = field(init=False)

    def __post_init__(self) -> None:
        v = self.values
        n_unique = int(np.count_nonzero(np.diff(v)) + 1) if v.size else 0
        object.__setattr__(self, "n_unique", n_unique)
        object.__setattr__(self, "std", float(np.std(v)) if v.size else math.nan)

    @classmethod
    def from_raw(cls, raw: npt.ArrayLike) -> NumericData:
        arr = np.asarray(raw, dtype=np.float64)
        finite = np.isfinite(arr)
        values = np.sort(arr[finite])
        values.setflags(write=False)
        return cls(values=values, n_missing=int(arr.size - values.size))

    @property
    def n(self) -> int:
        return int(self.values.size)

    @property
    def n_total(self) -> int:
        return self.n + self.n_missing

    def value_counts(self) -> dict[Any, int]:
        keys, counts = np.unique(self.values, return_counts=True)
        return {float(k): int(c) for k, c in zip(keys, counts, strict=True)}


@dataclass(frozen=True, eq=False)
class CategoricalData:
    """Counts per category (canonical strings) and the number of missing values."""

    counts: dict[str, int]
    n_missing: int
    #: every non-missing raw value was a number (not a string or bool): categories sort
    #: numerically, as the raw values would in evidently
    numeric: bool = False

    @classmethod
    def from_raw(cls, raw: npt.ArrayLike) -> CategoricalData:
        counts: dict[str, int] = {}
        missing = 0
        numeric = True
        for value in np.asarray(raw, dtype=object).ravel():
            key = canonical_category(value)
            if key is None:
                missing += 1
                continue
            counts[key] = counts.get(key, 0) + 1
            if numeric and (
                isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number)
            ):
                numeric = False
        return cls(counts=counts, n_missing=missing, numeric=numeric and bool(counts))

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    @property
    def n_total(self) -> int:
        return self.n + self.n_missing

    @property
    def n_unique(self) -> int:
        return len(self.counts)

    def value_counts(self) -> dict[Any, int]:
        return dict(self.counts)


ColumnData = NumericData | CategoricalData
