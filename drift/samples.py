"""Validation of ingested samples: one bad sample never costs its neighbours their place.

``validate_samples`` turns the decoded JSON body of ``POST /v1/models/{model}/samples`` into a
columnar batch of the good samples plus one ``Rejection`` per bad sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from drift.columns import ColumnType, canonical_category
from drift.errors import InvalidRequest


class RejectReason(StrEnum):
    """Why a sample was rejected; the ``reason`` label of ``drift_samples_rejected_total``."""

    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"


@dataclass(frozen=True)
class Rejection:
    index: int
    field: str
    reason: RejectReason
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "field": self.field,
            "reason": self.reason.value,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SampleSchema:
    """What a sample of one model must carry."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    prediction: str | None = None
    prediction_type: ColumnType = ColumnType.NUMERICAL

    @property
    def columns(self) -> tuple[str, ...]:
        pred = (self.prediction,) if self.prediction else ()
        return self.numerical + self.categorical + pred

    def type_of(self, column: str) -> ColumnType:
        if column in self.numerical:
            return ColumnType.NUMERICAL
        if column in self.categorical:
            return ColumnType.CATEGORICAL
        return self.prediction_type


@dataclass
class Batch:
    """Accepted samples, column by column: floats for numerical, canonical strings otherwise."""

    columns: dict[str, list[Any]]
    ids: list[str | None] = field(default_factory=list)
    timestamps: list[float | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


class _Bad(Exception):
    def __init__(self, field_name: str, reason: RejectReason, detail: str) -> None:
        self.field_name = field_name
        self.reason = reason
        self.detail = detail


def _number(value: Any, field_name: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(field_name, RejectReason.WRONG_TYPE, f"expected a number, got {_kind(value)}")
    return float(value)


def _category(value: Any, field_name: str) -> str | None:
    if value is None or isinstance(value, str | bool | int | float):
        return canonical_category(value)
    raise _Bad(
        field_name,
        RejectReason.WRONG_TYPE,
        f"expected a string, number or bool, got {_kind(value)}",
    )


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise _Bad("timestamp", RejectReason.INVALID_VALUE, "timestamp must be finite")
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise _Bad(
                "timestamp", RejectReason.INVALID_VALUE, f"not an ISO 8601 time: {value[:40]!r}"
            ) from None
    raise _Bad(
        "timestamp",
        RejectReason.WRONG_TYPE,
        f"expected an ISO 8601 string or epoch seconds, got {_kind(value)}",
    )


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a bool"}.get(
        type(value), type(value).__name__
    )


def _parse_one(
    sample: Any, schema: SampleSchema
) -> tuple[dict[str, Any], str | None, float | None]:
    if not isinstance(sample, dict):
        raise _Bad("(sample)", RejectReason.WRONG_TYPE, f"expected an object, got {_kind(sample)}")
    features = sample.get("features")
    if features is None:
        raise _Bad("features", RejectReason.MISSING_FIELD, "every sample needs 'features'")
    if not isinstance(features, dict):
        raise _Bad(
            "features", RejectReason.WRONG_TYPE, f"expected an object, got {_kind(features)}"
        )
    row: dict[str, Any] = {}
    for name in schema.numerical:
        if name not in features:
            raise _Bad(f"features.{name}", RejectReason.MISSING_FIELD, "required numerical column")
        row[name] = _number(features[name], f"features.{name}")
    for name in schema.categorical:
        if name not in features:
            raise _Bad(
                f"features.{name}", RejectReason.MISSING_FIELD, "required categorical column"
            )
        row[name] = _category(features[name], f"features.{name}")
    if schema.prediction is not None:
        if "prediction" not in sample:
            raise _Bad(
                "prediction", RejectReason.MISSING_FIELD, "this model monitors its prediction"
            )
        pred = sample["prediction"]
        if schema.prediction_type is ColumnType.NUMERICAL:
            row[schema.prediction] = _number(pred, "prediction")
        else:
            row[schema.prediction] = _category(pred, "prediction")
    sample_id = sample.get("id")
    if sample_id is not None and (
        isinstance(sample_id, bool) or not isinstance(sample_id, str | int)
    ):
        raise _Bad(
            "id", RejectReason.WRONG_TYPE, f"expected a string or integer, got {_kind(sample_id)}"
        )
    return row, (None if sample_id is None else str(sample_id)), _timestamp(sample.get("timestamp"))


def validate_samples(
    payload: Any, schema: SampleSchema, max_samples: int
) -> tuple[Batch, list[Rejection]]:
    """Split a request body into accepted samples and rejections.

    Raises ``InvalidRequest`` when the body as a whole is unusable.
    """
    if not isinstance(payload, dict):
        raise InvalidRequest(422, "invalid_body", "(body)", "expected an object with 'samples'")
    samples = payload.get("samples")
    if samples is None:
        raise InvalidRequest(422, "invalid_body", "samples", "missing 'samples'")
    if not isinstance(samples, list):
        raise InvalidRequest(
            422, "invalid_body", "samples", f"expected an array, got {_kind(samples)}"
        )
    if len(samples) > max_samples:
        raise InvalidRequest(
            413,
            "too_many_samples",
            "samples",
            f"{len(samples)} samples exceed the limit {max_samples}",
        )
    batch = Batch(columns={name: [] for name in schema.columns})
    rejections: list[Rejection] = []
    for index, sample in enumerate(samples):
        try:
            row, sample_id, ts = _parse_one(sample, schema)
        except _Bad as bad:
            rejections.append(Rejection(index, bad.field_name, bad.reason, bad.detail))
            continue
        for name, value in row.items():
            batch.columns[name].append(value)
        batch.ids.append(sample_id)
        batch.timestamps.append(ts)
    return batch, rejections
