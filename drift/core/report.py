"""Typed drift results. ``to_dict`` gives the JSON of ``GET /v1/models/{model}/drift``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from drift.core.columns import ColumnType


def _finite(value: float | None) -> float | None:
    """JSON has no NaN: an undefined score (e.g. chi-square with one category) becomes null."""
    return value if value is not None and math.isfinite(value) else None


class ColumnStatus(StrEnum):
    OK = "ok"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    column_type: ColumnType
    method: str
    score: float | None
    threshold: float
    drifted: bool
    status: ColumnStatus
    current_count: int
    current_missing_share: float
    reference_missing_share: float
    #: the p-value after the configured multiple-testing correction (None: no correction,
    #: or not a p-value test); the drift decision uses it
    adjusted_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "type": self.column_type.value,
            "method": self.method,
            "score": _finite(self.score),
            "threshold": _finite(self.threshold),
            "drifted": self.drifted,
            "status": self.status.value,
            "current_count": self.current_count,
            "current_missing_share": self.current_missing_share,
            "reference_missing_share": self.reference_missing_share,
            "adjusted_score": _finite(self.adjusted_score),
        }


@dataclass(frozen=True)
class DriftReport:
    model: str
    evaluated_at: float
    evaluation_seconds: float
    window_samples: int
    window_size: int
    samples_seen: int
    reference_rows: int
    reference_source: str
    columns: tuple[ColumnDrift, ...]
    prediction: ColumnDrift | None
    share_threshold: float
    drifted_columns: int
    evaluated_columns: int
    #: a time window with fewer than ``window.min_samples`` samples: no verdict at all
    insufficient_data: bool = False
    #: the time window's length, None for a count window
    window_seconds: float | None = None
    min_samples: int = 0

    @classmethod
    def without_verdict(
        cls,
        model: str,
        evaluated_at: float,
        samples: int,
        samples_seen: int,
        window_size: int,
        window_seconds: float | None,
        min_samples: int,
        reference_rows: int,
        reference_source: str,
        share_threshold: float,
    ) -> DriftReport:
        """The report of a time window holding fewer than ``min_samples`` samples."""
        return cls(
            model=model,
            evaluated_at=evaluated_at,
            evaluation_seconds=0.0,
            window_samples=samples,
            window_size=window_size,
            samples_seen=samples_seen,
            reference_rows=reference_rows,
            reference_source=reference_source,
            columns=(),
            prediction=None,
            share_threshold=share_threshold,
            drifted_columns=0,
            evaluated_columns=0,
            insufficient_data=True,
            window_seconds=window_seconds,
            min_samples=min_samples,
        )

    @property
    def drift_share(self) -> float:
        """Share of drifted feature columns among those that had enough data."""
        return self.drifted_columns / self.evaluated_columns if self.evaluated_columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        return self.evaluated_columns > 0 and self.drift_share >= self.share_threshold

    def column(self, name: str) -> ColumnDrift:
        for col in self.columns:
            if col.column == name:
                return col
        if self.prediction is not None and self.prediction.column == name:
            return self.prediction
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "status": "insufficient_data" if self.insufficient_data else "ok",
            "evaluated_at": datetime.fromtimestamp(self.evaluated_at, UTC).isoformat(),
            "evaluation_seconds": self.evaluation_seconds,
            "window": {
                "samples": self.window_samples,
                "size": self.window_size,
                "samples_seen": self.samples_seen,
                "seconds": self.window_seconds,
                "min_samples": self.min_samples,
            },
            "reference": {"rows": self.reference_rows, "source": self.reference_source},
            "dataset": {
                "drift_share": self.drift_share,
                "drifted_columns": self.drifted_columns,
                "evaluated_columns": self.evaluated_columns,
                "columns": len(self.columns),
                "share_threshold": self.share_threshold,
                "drifted": None if self.insufficient_data else self.dataset_drift,
            },
            "columns": {col.column: col.to_dict() for col in self.columns},
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
        }
