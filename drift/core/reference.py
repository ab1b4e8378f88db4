"""The reference profile: built once from the reference frame, read-only afterwards.

Column roles come from the config; where a feature list is absent, types are inferred from the
reference with evidently's rules (float -> numerical; int -> categorical with <= 10 unique values,
else numerical; bool, category and string -> categorical).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from drift.core.columns import (
    CategoricalData,
    ColumnData,
    ColumnType,
    NumericData,
    SampleSchema,
    canonical_category,
    float_values,
    map_columns,
)
from drift.core.options import ColumnsConfig
from drift.core.performance import (
    Performance,
    Scores,
    Task,
    classification_performance,
    infer_task,
    regression_performance,
)
from drift.errors import ReferenceSchemaError

if TYPE_CHECKING:
    from drift.core.calibration import Calibration

log = logging.getLogger(__name__)

INTEGER_CARDINALITY_LIMIT = 10  # evidently's INTEGER_CARDINALITY_LIMIT


class Role(StrEnum):
    FEATURE = "feature"
    PREDICTION = "prediction"


@dataclass(frozen=True, eq=False)
class ColumnProfile:
    name: str
    column_type: ColumnType
    role: Role
    data: ColumnData

    @property
    def missing_share(self) -> float:
        return self.data.n_missing / self.data.n_total if self.data.n_total else 0.0


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    source: str
    rows: int
    columns: Mapping[str, ColumnProfile]
    #: the model's performance on the reference (its target column against its prediction
    #: column), the yardstick for delayed labels; None without ``columns.target``
    performance: Performance | None = None
    #: thresholds calibrated to the window (``drift.calibration``), None: not calibrated
    calibration: Calibration | None = None

    @property
    def features(self) -> tuple[ColumnProfile, ...]:
        return tuple(c for c in self.columns.values() if c.role is Role.FEATURE)

    @property
    def prediction(self) -> ColumnProfile | None:
        for col in self.columns.values():
            if col.role is Role.PREDICTION:
                return col
        return None

    def sample_schema(self) -> SampleSchema:
        num = tuple(c.name for c in self.features if c.column_type is ColumnType.NUMERICAL)
        cat = tuple(c.name for c in self.features if c.column_type is ColumnType.CATEGORICAL)
        pred = self.prediction
        if pred is None:
            return SampleSchema(numerical=num, categorical=cat)
        return SampleSchema(num, cat, prediction=pred.name, prediction_type=pred.column_type)

    @property
    def numeric_values(self) -> dict[str, np.ndarray]:
        """Each numerical column's sorted reference values (for window ranks)."""
        return {
            name: col.data.values
            for name, col in self.columns.items()
            if isinstance(col.data, NumericData)
        }

    @property
    def vocabularies(self) -> dict[str, tuple[str, ...]]:
        """Each categorical column's reference categories, to seed a window's codes."""
        return {
            name: col.data.categories
            for name, col in self.columns.items()
            if isinstance(col.data, CategoricalData)
        }

    def to_frame(self) -> pd.DataFrame:
        """A frame with the reference's per-column distributions (``rows`` rows): sorted finite
        values or expanded category counts, padded with missing values. Row order and the joint
        distribution are not kept (the profile only holds per-column summaries)."""
        data: dict[str, pd.Series] = {}
        for name, col in self.columns.items():
            if isinstance(col.data, NumericData):
                values = np.full(self.rows, np.nan)
                values[: col.data.n] = col.data.values
                data[name] = pd.Series(values)
            else:
                expanded = np.full(self.rows, None, dtype=object)
                cats = [cat for cat, count in col.data.counts.items() for _ in range(count)]
                expanded[: len(cats)] = cats
                data[name] = pd.Series(expanded, dtype=object)
        return pd.DataFrame(data)

    @property
    def column_types(self) -> dict[str, ColumnType]:
        return {name: col.column_type for name, col in self.columns.items()}


def infer_column_type(series: pd.Series) -> ColumnType | None:
    """evidently's ``infer_column_type`` restricted to what drift can use (None: not monitored)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return ColumnType.CATEGORICAL
    if pd.api.types.is_float_dtype(dtype):
        return ColumnType.NUMERICAL
    if pd.api.types.is_integer_dtype(dtype):
        if series.nunique() <= INTEGER_CARDINALITY_LIMIT:
            return ColumnType.CATEGORICAL
        return ColumnType.NUMERICAL
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        non_null = series.dropna()
        if non_null.empty or not isinstance(non_null.iloc[0], str):
            return None
        if series.nunique() > series.count() * 0.5:
            return None  # free text or identifiers (evidently: Text); list it to monitor it
        return ColumnType.CATEGORICAL
    return None


def _column_data(series: pd.Series, column_type: ColumnType, max_categories: int) -> ColumnData:
    if column_type is ColumnType.NUMERICAL:
        return NumericData.from_values(float_values(series))
    return CategoricalData.from_series(series).top(max_categories)


def _summarize(
    frame: pd.DataFrame, specs: list[tuple[str, ColumnType, Role]], max_categories: int
) -> dict[str, ColumnProfile]:
    """The columns' summaries, computed in parallel (``map_columns``), in the order of
    ``specs``. The series are taken from the frame here, in the calling thread."""
    work = [(name, kind, role, frame[name]) for name, kind, role in specs]

    def summarize(item: tuple[str, ColumnType, Role, pd.Series]) -> ColumnProfile:
        name, kind, role, series = item
        return ColumnProfile(name, kind, role, _column_data(series, kind, max_categories))

    return {profile.name: profile for profile in map_columns(summarize, work)}


def build_profile(
    frame: pd.DataFrame,
    roles: ColumnsConfig,
    source: str,
    max_categories: int = 10_000,
    task: str = "auto",
    positive_label: str | None = None,
) -> ReferenceProfile:
    """Resolve column roles against the reference frame and summarize each monitored column;
    with ``columns.target``, also measure the model's performance on the reference."""
    present = set(frame.columns)
    reserved = {
        roles.id,
        roles.timestamp,
        roles.prediction,
        roles.target,
        *roles.scores.values(),
        *roles.exclude,
    } - {None}

    def need(column: str, role: str) -> None:
        if column not in present:
            raise ReferenceSchemaError(source, column, f"({role}) is not in the reference")

    for name in roles.numerical or []:
        need(name, "columns.numerical")
        if not pd.api.types.is_numeric_dtype(frame[name].dtype) or pd.api.types.is_bool_dtype(
            frame[name].dtype
        ):
            raise ReferenceSchemaError(
                source, name, f"is configured numerical but has type {frame[name].dtype}"
            )
    for name in roles.categorical or []:
        need(name, "columns.categorical")
    if roles.prediction:
        need(roles.prediction, "columns.prediction")
    if roles.target:
        need(roles.target, "columns.target")
        if not roles.prediction:
            raise ReferenceSchemaError(
                source, roles.target, "(columns.target) needs columns.prediction to compare with"
            )
    for column in roles.scores.values():
        need(column, "columns.scores")

    inferred: dict[str, ColumnType] = {}
    if roles.numerical is None or roles.categorical is None:
        listed = set(roles.numerical or []) | set(roles.categorical or []) | reserved
        for name in frame.columns:
            if name in listed:
                continue
            kind = infer_column_type(frame[name])
            if kind is None:
                log.warning(
                    "reference %s: column %r is not monitored (type %s)",
                    source,
                    name,
                    frame[name].dtype,
                )
                continue
            inferred[str(name)] = kind

    numerical = (
        list(roles.numerical)
        if roles.numerical is not None
        else [n for n, k in inferred.items() if k is ColumnType.NUMERICAL]
    )
    categorical = (
        list(roles.categorical)
        if roles.categorical is not None
        else [n for n, k in inferred.items() if k is ColumnType.CATEGORICAL]
    )
    specs = [(name, ColumnType.NUMERICAL, Role.FEATURE) for name in numerical]
    specs += [(name, ColumnType.CATEGORICAL, Role.FEATURE) for name in categorical]
    if not specs:
        raise ReferenceSchemaError(
            source, "(features)", "none of the reference's columns can be monitored"
        )
    if roles.prediction:
        if roles.prediction_type == "auto":
            pred_type = infer_column_type(frame[roles.prediction]) or ColumnType.CATEGORICAL
        else:
            pred_type = ColumnType(roles.prediction_type)
        if pred_type is ColumnType.NUMERICAL and not pd.api.types.is_numeric_dtype(
            frame[roles.prediction].dtype
        ):
            raise ReferenceSchemaError(
                source,
                roles.prediction,
                f"is a numerical prediction but has type {frame[roles.prediction].dtype}",
            )
        specs.append((roles.prediction, pred_type, Role.PREDICTION))
    columns = _summarize(frame, specs, max_categories)
    reference_performance = (
        _performance(frame, roles, source, task, positive_label)
        if roles.target and roles.prediction
        else None
    )
    return ReferenceProfile(
        source=source, rows=len(frame), columns=columns, performance=reference_performance
    )


def _performance(
    frame: pd.DataFrame,
    roles: ColumnsConfig,
    source: str,
    task_name: str,
    positive_label: str | None,
) -> Performance:
    target_name, prediction_name = roles.target or "", roles.prediction or ""
    target, prediction = frame[target_name], frame[prediction_name]
    task = Task(task_name) if task_name != "auto" else infer_task(target.tolist())
    if task is Task.REGRESSION:
        for name in (target_name, prediction_name):
            if not pd.api.types.is_numeric_dtype(frame[name].dtype):
                raise ReferenceSchemaError(
                    source,
                    name,
                    f"is a regression target/prediction but has type {frame[name].dtype}",
                )
        return regression_performance(
            target.to_numpy(dtype=float, na_value=np.nan),
            prediction.to_numpy(dtype=float, na_value=np.nan),
        )
    scores = None
    if roles.scores:
        classes = tuple(canonical_category(c) or "" for c in roles.scores)
        matrix = frame[list(roles.scores.values())].to_numpy(dtype=float, na_value=np.nan)
        try:
            if len(classes) == 1:  # binary: the positive class's probability
                seen = {canonical_category(v) for v in (*target.tolist(), *prediction.tolist())}
                others = sorted(c for c in seen - {classes[0], None} if c is not None)
                negative = others[0] if len(others) == 1 else f"not {classes[0]}"
                scores = Scores.binary(matrix[:, 0], negative, classes[0])
            else:
                scores = Scores(classes, matrix)
        except ValueError as exc:
            raise ReferenceSchemaError(source, "(columns.scores)", str(exc)) from None
    return classification_performance(target.tolist(), prediction.tolist(), scores, positive_label)
