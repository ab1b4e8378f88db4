"""Validation of ingested samples: one bad sample never costs its neighbours their place.

``validate_samples`` turns the decoded JSON body of ``POST /v1/models/{model}/samples`` into a
columnar batch of the good samples plus one ``Rejection`` per bad sample. A sample is
``{"features": {...}, "prediction": ..., "id": ..., "timestamp": ..., "scores": ...}``; the
last three are optional, ``scores`` being the model's confidence (a number in [0, 1] for the
positive class, or an object class label -> number in [0, 1]) for the performance metrics.

Every string the sidecar keeps (a categorical value or prediction in its canonical spelling, an
id, a class name of ``scores``) is at most ``max_value_bytes`` long in UTF-8: a longer one
rejects its sample (``too_long``), so that the windows' vocabularies and the label join are
bounded in bytes, not only in entries.

Two paths give the same result. ``columnar_batch`` handles a batch in which every sample is
good with a few C-level passes per column (``itemgetter``, ``zip``, a set of the value types,
the longest string); it gives up (``None``) at the first value it is not sure about, and
``per_sample_batch``, the reference implementation, then checks the batch sample by sample and
names every bad one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import partial
from itertools import chain
from operator import itemgetter, methodcaller
from typing import Any, TypeAlias

import numpy as np

from drift.core.columns import ColumnType, FloatArray, SampleSchema, canonical_category
from drift.errors import InvalidRequest


class RejectReason(StrEnum):
    """Why a sample was rejected; the ``reason`` label of ``drift_samples_rejected_total``."""

    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    TOO_LONG = "too_long"  # a string over server.max_value_bytes


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


Column: TypeAlias = Sequence[Any] | FloatArray
"""One column of a batch: a float64 array (numerical features) or a list."""

Scores: TypeAlias = float | dict[str, float]
"""A sample's model confidence: the positive class's probability (binary), or class label ->
probability; every number in [0, 1]."""


@dataclass
class Batch:
    """Accepted samples, column by column: a float64 array (NaN for missing) for each numerical
    feature, floats for a numerical prediction, canonical strings (None for missing) otherwise.

    ``ids``, ``timestamps`` and ``scores`` hold one entry per sample (None when the sample had
    none); a batch built without ``scores`` gets None for every sample.
    """

    columns: dict[str, Column]
    ids: list[str | None] = field(default_factory=list)
    timestamps: list[float | None] = field(default_factory=list)
    scores: list[Scores | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.scores and self.ids:
            self.scores = [None] * len(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


class _Bad(Exception):
    def __init__(self, field_name: str, reason: RejectReason, detail: str) -> None:
        self.field_name = field_name
        self.reason = reason
        self.detail = detail


# ------------------------------------------------------------------------ one value at a time


def oversize(text: str, limit: int) -> int | None:
    """The length of ``text`` in UTF-8 bytes when it exceeds ``limit``, else None. O(1) for the
    usual short or ASCII string (a code point is at most 4 bytes; an ASCII one, 1); a lone
    surrogate, which JSON allows, counts 3 bytes."""
    if len(text) <= limit >> 2:
        return None
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return size if size > limit else None


def _short(text: str, field_name: str, limit: int) -> str:
    size = oversize(text, limit)
    if size is not None:
        raise _Bad(field_name, RejectReason.TOO_LONG, f"{size} bytes > {limit}")
    return text


def _number(value: Any, field_name: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(field_name, RejectReason.WRONG_TYPE, f"expected a number, got {kind_of(value)}")
    try:
        return float(value)
    except OverflowError:  # a JSON integer beyond the float range
        raise _Bad(field_name, RejectReason.INVALID_VALUE, "number out of range") from None


def _category(value: Any, field_name: str, limit: int) -> str | None:
    if value is None or isinstance(value, str | bool | int | float):
        key = canonical_category(value)
        return None if key is None else _short(key, field_name, limit)
    raise _Bad(
        field_name,
        RejectReason.WRONG_TYPE,
        f"expected a string, number or bool, got {kind_of(value)}",
    )


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if not math.isfinite(seconds):
            raise _Bad("timestamp", RejectReason.INVALID_VALUE, "timestamp must be finite")
        return seconds
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError):
            raise _Bad(
                "timestamp", RejectReason.INVALID_VALUE, f"not an ISO 8601 time: {value[:40]!r}"
            ) from None
    raise _Bad(
        "timestamp",
        RejectReason.WRONG_TYPE,
        f"expected an ISO 8601 string or epoch seconds, got {kind_of(value)}",
    )


def _probability(value: Any, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(field_name, RejectReason.WRONG_TYPE, f"expected a number, got {kind_of(value)}")
    if not 0 <= value <= 1:  # False for NaN too
        raise _Bad(field_name, RejectReason.INVALID_VALUE, f"must be in [0, 1], got {value!r:.40}")
    return float(value)


def _scores(value: Any, limit: int) -> Scores | None:
    """``scores``: a number in [0, 1] (binary: the positive class's probability) or an object
    mapping class labels (at most ``limit`` bytes) to numbers in [0, 1]."""
    if value is None:
        return None
    if isinstance(value, dict):
        if not value:
            raise _Bad("scores", RejectReason.INVALID_VALUE, "needs at least one class")
        for label in value:
            size = oversize(str(label), limit)
            if size is not None:
                raise _Bad(
                    "scores", RejectReason.TOO_LONG, f"a class name of {size} bytes > {limit}"
                )
        return {str(label): _probability(p, f"scores.{label}") for label, p in value.items()}
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(
            "scores",
            RejectReason.WRONG_TYPE,
            f"expected a number in [0, 1] or an object of class -> number, got {kind_of(value)}",
        )
    return _probability(value, "scores")


def kind_of(value: Any) -> str:
    """A JSON value's kind as error details name it ("an object", "an array", ...)."""
    return {dict: "an object", list: "an array", str: "a string", bool: "a bool"}.get(
        type(value), type(value).__name__
    )


def body_items(payload: Any, key: str, limit: int, too_many: str) -> list[Any]:
    """The array under ``key`` of a request body (``{"samples": [...]}``, ``{"labels": [...]}``);
    ``InvalidRequest`` when the body is not such an object (422) or holds more than ``limit``
    items (413 ``too_many``)."""
    if not isinstance(payload, dict):
        raise InvalidRequest(422, "invalid_body", "(body)", f"expected an object with '{key}'")
    items = payload.get(key)
    if items is None:
        raise InvalidRequest(422, "invalid_body", key, f"missing '{key}'")
    if not isinstance(items, list):
        raise InvalidRequest(422, "invalid_body", key, f"expected an array, got {kind_of(items)}")
    if len(items) > limit:
        raise InvalidRequest(413, too_many, key, f"{len(items)} {key} exceed the limit {limit}")
    return items


# ------------------------------------------------------------------------- sample by sample


def _parse_one(
    sample: Any, schema: SampleSchema, limit: int
) -> tuple[dict[str, Any], str | None, float | None, Scores | None]:
    if not isinstance(sample, dict):
        raise _Bad(
            "(sample)", RejectReason.WRONG_TYPE, f"expected an object, got {kind_of(sample)}"
        )
    features = sample.get("features")
    if features is None:
        raise _Bad("features", RejectReason.MISSING_FIELD, "every sample needs 'features'")
    if not isinstance(features, dict):
        raise _Bad(
            "features", RejectReason.WRONG_TYPE, f"expected an object, got {kind_of(features)}"
        )
    row: dict[str, Any] = {}
    for name in schema.numerical:
        if name not in features:
            raise _Bad(f"features.{name}", RejectReason.MISSING_FIELD, "required numerical column")
        value = features[name]
        row[name] = value if type(value) is float else _number(value, f"features.{name}")
    for name in schema.categorical:
        if name not in features:
            raise _Bad(
                f"features.{name}", RejectReason.MISSING_FIELD, "required categorical column"
            )
        row[name] = _category(features[name], f"features.{name}", limit)
    if schema.prediction is not None:
        if "prediction" not in sample:
            raise _Bad(
                "prediction", RejectReason.MISSING_FIELD, "this model monitors its prediction"
            )
        pred = sample["prediction"]
        if schema.prediction_type is ColumnType.NUMERICAL:
            row[schema.prediction] = _number(pred, "prediction")
        else:
            row[schema.prediction] = _category(pred, "prediction", limit)
    sample_id = sample.get("id")
    if sample_id is not None and (
        isinstance(sample_id, bool) or not isinstance(sample_id, str | int)
    ):
        raise _Bad(
            "id", RejectReason.WRONG_TYPE, f"expected a string or integer, got {kind_of(sample_id)}"
        )
    if sample_id is not None:
        sample_id = _short(str(sample_id), "id", limit)
    ts = _timestamp(sample.get("timestamp"))
    scores = _scores(sample.get("scores"), limit)
    return row, sample_id, ts, scores


def per_sample_batch(
    samples: Sequence[Any], schema: SampleSchema, max_value_bytes: int
) -> tuple[Batch, list[Rejection]]:
    """The reference implementation: each sample checked on its own, field by field; the first
    problem of a bad sample is its rejection."""
    values: dict[str, list[Any]] = {name: [] for name in schema.columns}
    batch = Batch(columns={})
    rejections: list[Rejection] = []
    for index, sample in enumerate(samples):
        try:
            row, sample_id, ts, scores = _parse_one(sample, schema, max_value_bytes)
        except _Bad as bad:
            rejections.append(Rejection(index, bad.field_name, bad.reason, bad.detail))
            continue
        for name, value in row.items():
            values[name].append(value)
        batch.ids.append(sample_id)
        batch.timestamps.append(ts)
        batch.scores.append(scores)
    batch.columns.update(values)
    for name in schema.numerical:
        batch.columns[name] = np.array(values[name], dtype=np.float64)
    return batch, rejections


# ------------------------------------------------------------------------ column by column

_COLUMNAR_FROM = 4  # samples; for fewer, per_sample_batch is as fast or faster
_NONE = type(None)
_FLOAT_ONLY = frozenset({float})
_DICT_ONLY = frozenset({dict})
_NUMBER_TYPES = frozenset({float, int, _NONE})
_STR_TYPES = frozenset({str, _NONE})
_CATEGORY_TYPES = frozenset({str, _NONE, bool, int, float})
_ID_TYPES = frozenset({str, int, _NONE})
_get_features = methodcaller("get", "features")
_get_id = methodcaller("get", "id")
_get_timestamp = methodcaller("get", "timestamp")
_get_scores = methodcaller("get", "scores")
_get_prediction = itemgetter("prediction")


class _Slow(Exception):
    """A value the column-wise path does not decide; the batch goes sample by sample."""


def _types(values: Iterable[Any]) -> set[type]:
    return set(map(type, values))


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[Sequence[Any]]:
    """The values of ``names`` in every row, column by column (KeyError when one is missing)."""
    if len(names) == 1:
        return [list(map(itemgetter(names[0]), rows))]
    return list(zip(*map(itemgetter(*names), rows), strict=True))


def _number_column(values: Sequence[Any], kinds: set[type]) -> list[Any]:
    """``values`` as floats (None -> NaN), given that their types are ``kinds``."""
    if kinds <= _FLOAT_ONLY:
        return list(values)
    if not kinds <= _NUMBER_TYPES:
        raise _Slow
    try:
        if _NONE in kinds:
            return [math.nan if v is None else float(v) for v in values]
        return list(map(float, values))
    except OverflowError:  # a JSON integer beyond the float range
        raise _Slow from None


def _joined(values: Sequence[Any]) -> str | None:
    """The values joined into one string when every one is a str (one C pass, which is also
    the type check: ``join`` refuses anything else), else None."""
    try:
        return "".join(values)
    except TypeError:
        return None


def _fits(values: Sequence[Any], limit: int, joined: str | None = None) -> bool:
    """Every string of ``values`` (the others None) is at most ``limit`` bytes in UTF-8.
    ``joined``: the values joined (all str). No pass at all when they are ASCII and short
    together; else one C pass, the longest string in code points, and only when that could
    exceed ``limit`` bytes (a code point takes up to 4 in UTF-8), whether they are ASCII."""
    if joined is not None and len(joined) <= limit and joined.isascii():  # both O(1)
        return True

    def strings() -> Iterator[str]:
        return iter(values) if joined is not None else filter(None, values)

    longest = max(map(len, strings()), default=0)
    if longest <= limit >> 2:
        return True
    if longest > limit:
        return False
    return all(map(str.isascii, strings())) or all(oversize(v, limit) is None for v in strings())


def _category_column(values: Sequence[Any], limit: int) -> list[Any]:
    """Canonical categories (str or None), or ``_Slow`` for a value that is not a category or
    is too long."""
    joined = _joined(values)
    if joined is not None:  # strings only: the usual column
        column = list(values)
    else:
        kinds = _types(values)
        if kinds <= _STR_TYPES:  # canonical_category of a str is the str itself
            column = list(values)
        elif kinds <= _CATEGORY_TYPES:
            column = list(map(canonical_category, values))
        else:
            raise _Slow
    if not _fits(column, limit, joined):
        raise _Slow
    return column


def _each(values: list[Any], check: Callable[[Any], Any]) -> list[Any]:
    """``check`` applied to each value (the optional fields: rarely there, so checked one by
    one)."""
    if values.count(None) == len(values):
        return values
    try:
        return [check(v) for v in values]
    except _Bad:
        raise _Slow from None


def columnar_batch(
    samples: Sequence[Any], schema: SampleSchema, max_value_bytes: int
) -> Batch | None:
    """All samples as one ``Batch`` when every one of them is good, else None (some sample needs
    ``per_sample_batch`` to say what is wrong with it). Same values as ``per_sample_batch``."""
    try:
        return _columnar(samples, schema, max_value_bytes)
    except (_Slow, KeyError):
        return None


def _numerical_block(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[Any]:
    """The numerical features of every row as float64 arrays, one per name: one pass to take
    them out of the rows, one to check their types, one for numpy to convert them all."""
    if len(names) == 1:
        tuples: list[Any] = list(map(itemgetter(names[0]), rows))
        kinds = _types(tuples)
    else:
        tuples = list(map(itemgetter(*names), rows))  # KeyError when one is missing
        kinds = _types(chain.from_iterable(tuples))
    if not kinds <= _NUMBER_TYPES:  # bool, str (which numpy would parse), ...
        raise _Slow
    try:
        matrix = np.array(tuples, dtype=np.float64)  # None -> NaN, int -> nearest float
    except OverflowError:  # a JSON integer beyond the float range
        raise _Slow from None
    if matrix.ndim == 1:
        return [matrix]
    return list(matrix.T)  # views: column j is matrix[:, j]


def _columnar(samples: Sequence[Any], schema: SampleSchema, limit: int) -> Batch:
    if not samples:
        return per_sample_batch(samples, schema, limit)[0]
    if not _types(samples) <= _DICT_ONLY:
        raise _Slow
    rows: list[dict[str, Any]] = list(map(_get_features, samples))
    if not _types(rows) <= _DICT_ONLY:
        raise _Slow
    columns: dict[str, Column] = {}
    if schema.numerical:
        block = _numerical_block(rows, schema.numerical)
        columns.update(zip(schema.numerical, block, strict=True))
    if schema.categorical:
        for name, values in zip(
            schema.categorical, _columns(rows, schema.categorical), strict=True
        ):
            columns[name] = _category_column(values, limit)
    if schema.prediction is not None:
        predictions = list(map(_get_prediction, samples))
        if schema.prediction_type is ColumnType.NUMERICAL:
            columns[schema.prediction] = _number_column(predictions, _types(predictions))
        else:
            columns[schema.prediction] = _category_column(predictions, limit)
    n = len(samples)
    ids: list[Any] = list(map(_get_id, samples))
    if ids.count(None) != n:
        joined = _joined(ids)
        if joined is None:  # some None, or integers
            kinds = _types(ids)
            if not kinds <= _STR_TYPES:
                if not kinds <= _ID_TYPES:
                    raise _Slow
                ids = [None if v is None else str(v) for v in ids]
        if not _fits(ids, limit, joined):
            raise _Slow
    timestamps = _each(list(map(_get_timestamp, samples)), _timestamp)
    scores = _each(list(map(_get_scores, samples)), partial(_scores, limit=limit))
    return Batch(columns=columns, ids=ids, timestamps=timestamps, scores=scores)


def validate_samples(
    payload: Any, schema: SampleSchema, max_samples: int, *, max_value_bytes: int
) -> tuple[Batch, list[Rejection]]:
    """Split a request body into accepted samples and rejections; a string longer than
    ``max_value_bytes`` (UTF-8) rejects its sample.

    Raises ``InvalidRequest`` when the body as a whole is unusable.
    """
    samples = body_items(payload, "samples", max_samples, "too_many_samples")
    if len(samples) >= _COLUMNAR_FROM:
        batch = columnar_batch(samples, schema, max_value_bytes)
        if batch is not None:
            return batch, []
    return per_sample_batch(samples, schema, max_value_bytes)
