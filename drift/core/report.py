"""Typed drift results. ``to_dict`` gives the JSON of ``GET /v1/models/{model}/drift``;
``to_state`` / ``from_state`` a lossless plain form for the service's snapshots;
``to_dataframe`` one row per column for notebooks; ``save_html`` / ``to_html`` the page of a
report that carries a ``ReportPage`` (``drift.compare`` attaches one that holds the compared
frames and has evidently draw them: the drawing and the writing happen in that adapter, above
the core, which does no I/O and imports no exporter)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from drift.core.columns import ColumnType
from drift.errors import DriftError

if TYPE_CHECKING:
    import pandas as pd

#: the columns of ``DriftReport.to_dataframe``, in order
FRAME_COLUMNS = (
    "column",
    "role",
    "type",
    "method",
    "score",
    "adjusted_score",
    "threshold",
    "drift_detected",
    "status",
    "current_count",
    "current_missing_share",
    "reference_missing_share",
)


def _finite(value: float | None) -> float | None:
    """JSON has no NaN: an undefined score (e.g. chi-square with one category) becomes null."""
    return value if value is not None and math.isfinite(value) else None


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


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
    #: the threshold is calibrated to the window (``drift.calibration``), and the column's
    #: expected false-alarm rate per evaluation on clean traffic at it (None: not known)
    calibrated: bool = False
    false_alarm_rate: float | None = None
    #: the window size (samples) the calibrated threshold was calibrated for: the window's
    #: size when full, a smaller size of the ladder while it fills (None: not calibrated)
    calibration_size: int | None = None

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
            "calibrated": self.calibrated,
            "false_alarm_rate": self.false_alarm_rate,
            "calibration_size": self.calibration_size,
        }

    def to_state(self) -> dict[str, Any]:
        """Every field, JSON-able (scores may be NaN or infinite: Python's json keeps them)."""
        return {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "column_type": self.column_type.value,
            "status": self.status.value,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ColumnDrift:
        """The column ``to_state`` saved; ValueError, KeyError or TypeError when it is not."""
        return cls(
            column=str(state["column"]),
            column_type=ColumnType(state["column_type"]),
            method=str(state["method"]),
            score=_float_or_none(state["score"]),
            threshold=float(state["threshold"]),
            drifted=bool(state["drifted"]),
            status=ColumnStatus(state["status"]),
            current_count=int(state["current_count"]),
            current_missing_share=float(state["current_missing_share"]),
            reference_missing_share=float(state["reference_missing_share"]),
            adjusted_score=_float_or_none(state["adjusted_score"]),
            calibrated=bool(state.get("calibrated", False)),  # absent in older snapshots
            false_alarm_rate=_float_or_none(state.get("false_alarm_rate")),
            calibration_size=_int_or_none(state.get("calibration_size")),  # absent before
        )


class ReportPage(Protocol):
    """Draws a report as a standalone HTML page (a port: ``drift.compare``'s adapter holds the
    compared frames and renders them with evidently, the ``report`` extra)."""

    def html(self, report: DriftReport) -> str: ...

    def save(self, report: DriftReport, path: Path) -> None: ...


class PageUnavailable(DriftError):
    """``save_html`` of a report without data to draw (e.g. one read back from a snapshot)."""

    def __init__(self, model: str) -> None:
        super().__init__(
            f"the report of {model!r} holds no data to draw: reports of drift.compare(...) "
            "can be saved as HTML; the sidecar serves its own at GET /v1/models/{model}/report"
        )
        self.model = model


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
    #: with calibrated thresholds: the chance that clean traffic gives a dataset verdict of
    #: drift, were the columns independent (``drift.core.calibration``); None: not known
    expected_false_alarm_rate: float | None = None
    #: how ``save_html`` draws this report; not part of the value (equality, ``to_state``)
    page: ReportPage | None = field(default=None, compare=False, repr=False)

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

    def to_state(self) -> dict[str, Any]:
        """Every field as JSON-able data, for a snapshot; ``from_state`` reverses it."""
        return {
            **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "page"},
            "columns": [col.to_state() for col in self.columns],
            "prediction": None if self.prediction is None else self.prediction.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DriftReport:
        """The report ``to_state`` saved; ValueError, KeyError or TypeError when it is not."""
        prediction = state["prediction"]
        seconds = state["window_seconds"]
        return cls(
            model=str(state["model"]),
            evaluated_at=float(state["evaluated_at"]),
            evaluation_seconds=float(state["evaluation_seconds"]),
            window_samples=int(state["window_samples"]),
            window_size=int(state["window_size"]),
            samples_seen=int(state["samples_seen"]),
            reference_rows=int(state["reference_rows"]),
            reference_source=str(state["reference_source"]),
            columns=tuple(ColumnDrift.from_state(col) for col in state["columns"]),
            prediction=None if prediction is None else ColumnDrift.from_state(prediction),
            share_threshold=float(state["share_threshold"]),
            drifted_columns=int(state["drifted_columns"]),
            evaluated_columns=int(state["evaluated_columns"]),
            insufficient_data=bool(state["insufficient_data"]),
            window_seconds=None if seconds is None else float(seconds),
            min_samples=int(state["min_samples"]),
            expected_false_alarm_rate=_float_or_none(state.get("expected_false_alarm_rate")),
        )

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
                "expected_false_alarm_rate": self.expected_false_alarm_rate,
            },
            "columns": {col.column: col.to_dict() for col in self.columns},
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
        }

    def to_dataframe(self) -> pd.DataFrame:
        """One row per evaluated column (the features, then the prediction), the columns of
        ``FRAME_COLUMNS``; ``score`` is NaN where it is undefined, ``drift_detected`` False for a
        column without enough data (its ``status`` says so)."""
        import pandas as pd

        rows = [(col, "feature") for col in self.columns]
        rows += [(self.prediction, "prediction")] if self.prediction is not None else []
        frame = pd.DataFrame(
            [
                (
                    col.column,
                    role,
                    col.column_type.value,
                    col.method,
                    math.nan if col.score is None else col.score,
                    math.nan if col.adjusted_score is None else col.adjusted_score,
                    col.threshold,
                    col.drifted,
                    col.status.value,
                    col.current_count,
                    col.current_missing_share,
                    col.reference_missing_share,
                )
                for col, role in rows
            ],
            columns=list(FRAME_COLUMNS),
        )
        return frame.astype(
            {
                "score": "float64",
                "adjusted_score": "float64",
                "threshold": "float64",
                "drift_detected": "bool",
                "current_count": "int64",
            }
        )

    def to_html(self) -> str:
        """The report as a standalone HTML page (evidently's, with our methods and
        thresholds); ``PageUnavailable`` for a report without data, ``EvidentlyMissing``
        (a ``DriftError``) without the ``report`` extra."""
        if self.page is None:
            raise PageUnavailable(self.model)
        return self.page.html(self)

    def save_html(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_html()`` to ``path`` (UTF-8) and return the path."""
        if self.page is None:
            raise PageUnavailable(self.model)
        target = Path(path)
        self.page.save(self, target)
        return target
