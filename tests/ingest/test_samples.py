"""Sample validation: the optional ``scores`` field, and the column-wise fast path giving exactly
what the per-sample reference path gives, on good, bad and mixed batches."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.core.columns import ColumnType, SampleSchema
from drift.ingest.samples import (
    Batch,
    Rejection,
    RejectReason,
    columnar_batch,
    per_sample_batch,
    validate_samples,
)

CREDIT = SampleSchema(numerical=("age", "income"), categorical=("city",), prediction="score")
ONE_NUMBER = SampleSchema(
    numerical=("x",), categorical=(), prediction="label", prediction_type=ColumnType.CATEGORICAL
)
CATEGORIES_ONLY = SampleSchema(numerical=(), categorical=("c1", "c2"))
SCHEMAS = [CREDIT, ONE_NUMBER, CATEGORIES_ONLY]


def sample(**fields: Any) -> dict[str, Any]:
    return {"features": {"age": 30, "income": 1.5, "city": "rome"}, "prediction": 0.2} | fields


def validate(samples: list[Any], schema: SampleSchema = CREDIT) -> tuple[Batch, list[Rejection]]:
    return validate_samples({"samples": samples}, schema, 1000)


def rejection(value: Any, schema: SampleSchema = CREDIT) -> tuple[str, RejectReason, str]:
    """The one rejection of ``value`` between good samples: in a batch of 3 (checked sample by
    sample) and of 5 (tried column-wise first), which must agree."""
    found = set()
    for neighbours in (1, 2):
        samples = [*[sample()] * neighbours, value, *[sample()] * neighbours]
        batch, rejected = validate(samples, schema)
        assert len(batch) == 2 * neighbours
        assert [r.index for r in rejected] == [neighbours]
        found.add((rejected[0].field, rejected[0].reason, rejected[0].detail))
    assert len(found) == 1
    return found.pop()


# ------------------------------------------------------------------------------------ scores


@pytest.mark.parametrize(
    ("scores", "carried"),
    [
        (0.25, 0.25),
        (0, 0.0),
        (1, 1.0),
        ({"approve": 0.7, "reject": 0.3}, {"approve": 0.7, "reject": 0.3}),
        ({"1": 1, "0": 0}, {"1": 1.0, "0": 0.0}),
        (None, None),
    ],
)
def test_scores_are_carried_per_sample(scores: Any, carried: Any) -> None:
    for n in (1, 8):  # below and above the size where the column-wise path starts
        batch, rejected = validate([sample(scores=scores, id=f"r{i}") for i in range(n)])
        assert rejected == []
        assert batch.scores == [carried] * n
        assert batch.ids == [f"r{i}" for i in range(n)]
        assert all(type(s) is type(carried) for s in batch.scores)
        for got in batch.scores:
            if isinstance(got, dict):
                assert all(type(p) is float for p in got.values())


def test_scores_stay_aligned_with_ids_when_samples_are_rejected() -> None:
    samples = [
        sample(id="a", scores=0.1),
        sample(id="b"),
        sample(id="bad", scores=2.0),
        {"features": {}, "id": "c", "scores": 0.5},
        sample(id="d", scores={"x": 0.5}),
    ]
    batch, rejected = validate(samples)
    assert [r.index for r in rejected] == [2, 3]
    assert batch.ids == ["a", "b", "d"]
    assert batch.scores == [0.1, None, {"x": 0.5}]


@pytest.mark.parametrize(
    ("scores", "field", "reason", "detail"),
    [
        ("0.5", "scores", RejectReason.WRONG_TYPE, "got a string"),
        (True, "scores", RejectReason.WRONG_TYPE, "got a bool"),
        ([0.2, 0.8], "scores", RejectReason.WRONG_TYPE, "got an array"),
        (1.5, "scores", RejectReason.INVALID_VALUE, "must be in [0, 1], got 1.5"),
        (-0.1, "scores", RejectReason.INVALID_VALUE, "must be in [0, 1], got -0.1"),
        (math.nan, "scores", RejectReason.INVALID_VALUE, "must be in [0, 1], got nan"),
        (math.inf, "scores", RejectReason.INVALID_VALUE, "got inf"),
        ({}, "scores", RejectReason.INVALID_VALUE, "needs at least one class"),
        ({"yes": 0.4, "no": "0.6"}, "scores.no", RejectReason.WRONG_TYPE, "got a string"),
        ({"yes": None}, "scores.yes", RejectReason.WRONG_TYPE, "got NoneType"),
        ({"yes": 1.01}, "scores.yes", RejectReason.INVALID_VALUE, "got 1.01"),
        ({"yes": False}, "scores.yes", RejectReason.WRONG_TYPE, "got a bool"),
    ],
)
def test_bad_scores_are_rejected_naming_the_field(
    scores: Any, field: str, reason: RejectReason, detail: str
) -> None:
    got_field, got_reason, got_detail = rejection(sample(scores=scores))
    assert (got_field, got_reason) == (field, reason)
    assert detail in got_detail


def test_a_batch_built_without_scores_has_none_per_sample() -> None:
    batch = Batch(columns={"x": [1.0, 2.0]}, ids=[None, "b"])
    assert batch.scores == [None, None]


# -------------------------------------------------------------- semantics shared by both paths


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        ("not an object", "(sample)", RejectReason.WRONG_TYPE),
        ({"prediction": 0.1}, "features", RejectReason.MISSING_FIELD),
        ({"features": [1, 2], "prediction": 0.1}, "features", RejectReason.WRONG_TYPE),
        (sample(features={"income": 1.0, "city": "x"}), "features.age", RejectReason.MISSING_FIELD),
        (sample(features={"age": 1, "city": "x"}), "features.income", RejectReason.MISSING_FIELD),
        (sample(features={"age": 1, "income": 1}), "features.city", RejectReason.MISSING_FIELD),
        (sample(features={"age": "1", "income": 1, "city": "x"}), "features.age", "wrong_type"),
        (sample(features={"age": True, "income": 1, "city": "x"}), "features.age", "wrong_type"),
        (sample(features={"age": 1, "income": 1, "city": {}}), "features.city", "wrong_type"),
        ({"features": {"age": 1, "income": 1, "city": "x"}}, "prediction", "missing_field"),
        (sample(prediction="high"), "prediction", RejectReason.WRONG_TYPE),
        (sample(id=1.5), "id", RejectReason.WRONG_TYPE),
        (sample(id=False), "id", RejectReason.WRONG_TYPE),
        (sample(timestamp="yesterday"), "timestamp", RejectReason.INVALID_VALUE),
        (sample(timestamp=math.inf), "timestamp", RejectReason.INVALID_VALUE),
        (sample(timestamp=10**400), "timestamp", RejectReason.INVALID_VALUE),
        (sample(timestamp=[1]), "timestamp", RejectReason.WRONG_TYPE),
    ],
)
def test_each_kind_of_bad_sample(bad: Any, field: str, reason: str) -> None:
    assert rejection(bad)[:2] == (field, RejectReason(reason))


def test_an_integer_beyond_the_float_range_is_rejected_not_a_crash() -> None:
    huge = 10**400  # valid JSON; float() of it raises OverflowError
    features = {"age": huge, "income": 1.0, "city": "x"}
    assert rejection(sample(features=features)) == (
        "features.age",
        RejectReason.INVALID_VALUE,
        "number out of range",
    )
    assert rejection(sample(prediction=huge))[:2] == ("prediction", RejectReason.INVALID_VALUE)


def test_values_are_converted_as_before() -> None:
    samples = [
        sample(features={"age": 30, "income": None, "city": 1.0}, id=7, timestamp=0),
        sample(features={"age": 31.5, "income": 2, "city": True}, prediction=None),
        sample(features={"age": None, "income": 3.0, "city": None}, timestamp="1970-01-01T00:01Z"),
        sample(features={"age": math.inf, "income": 4, "city": 2.5}, id="x"),
    ]
    batch, rejected = validate(samples)
    assert rejected == []
    assert canonical(batch) == canonical(
        Batch(
            columns={
                "age": [30.0, 31.5, math.nan, math.inf],
                "income": [math.nan, 2.0, 3.0, 4.0],
                "city": ["1", "true", None, "2.5"],
                "score": [0.2, math.nan, 0.2, 0.2],
            },
            ids=["7", None, None, "x"],
            timestamps=[0.0, None, 60.0, None],
            scores=[None] * 4,
        )
    )


def test_an_empty_batch() -> None:
    batch, rejected = validate([])
    assert (len(batch), rejected) == (0, [])
    assert {name: list(values) for name, values in batch.columns.items()} == {
        "age": [],
        "income": [],
        "city": [],
        "score": [],
    }


# --------------------------------------------------------------- fast path == reference path


def canonical(batch: Batch) -> dict[str, Any]:
    """The batch with every value spelled by type and repr, so NaN equals NaN and 1 != 1.0."""

    def spell(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: spell(v) for k, v in value.items()}
        return (type(value).__name__, repr(value))

    def column(values: Any) -> list[Any]:
        if isinstance(values, np.ndarray):  # numerical features: float64 arrays
            assert (values.dtype, values.ndim) == (np.float64, 1)
            return [("float", repr(v)) for v in values.tolist()]
        return [spell(v) for v in values]

    return {
        "columns": {name: column(values) for name, values in batch.columns.items()},
        "ids": [spell(v) for v in batch.ids],
        "timestamps": [spell(v) for v in batch.timestamps],
        "scores": [spell(v) for v in batch.scores],
    }


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.none(),
)
categories = st.one_of(
    st.sampled_from(["a", "b", "", "x y"]),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
probabilities = st.one_of(st.floats(0, 1), st.sampled_from([0, 1]))
optional = {
    "id": st.one_of(st.none(), st.text(max_size=5), st.integers(-5, 10**30)),
    "timestamp": st.one_of(
        st.none(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(-(10**9), 10**12),
        st.sampled_from(["2026-11-25T06:00:00Z", "2026-11-25T06:00:00+02:00", "2026-11-25"]),
    ),
    "scores": st.one_of(
        st.none(), probabilities, st.dictionaries(st.text(max_size=3), probabilities, min_size=1)
    ),
}


@st.composite
def good_samples(draw: st.DrawFn, schema: SampleSchema) -> dict[str, Any]:
    features: dict[str, Any] = {name: draw(numbers) for name in schema.numerical}
    features |= {name: draw(categories) for name in schema.categorical}
    if draw(st.booleans()):
        features["unmonitored"] = draw(st.sampled_from([[1], {"a": 1}, "x"]))  # ignored
    out: dict[str, Any] = {"features": features}
    if schema.prediction is not None:
        numerical = schema.prediction_type is ColumnType.NUMERICAL
        out["prediction"] = draw(numbers if numerical else categories)
    for name, values in optional.items():
        if draw(st.booleans()):
            out[name] = draw(values)
    return out


NOT_A_NUMBER = st.sampled_from(["1", True, False, [1.0], {"v": 1}, 10**400])
NOT_A_CATEGORY = st.sampled_from([[1], {"v": "a"}, ["a"]])


@st.composite
def bad_samples(draw: st.DrawFn, schema: SampleSchema) -> Any:
    """A good sample with exactly one thing wrong with it."""
    good = draw(good_samples(schema))
    features = good["features"]
    breakages = ["not an object", "no features", "features not an object", "bad id"]
    breakages += ["bad timestamp", "bad scores"]
    if schema.numerical:
        breakages += ["numerical missing", "not a number"]
    if schema.categorical:
        breakages += ["categorical missing", "not a category"]
    if schema.prediction is not None:
        breakages += ["prediction missing", "bad prediction"]
    match draw(st.sampled_from(breakages)):
        case "not an object":
            return draw(st.sampled_from(["sample", 1, None, [good]]))
        case "no features":
            good.pop("features") if draw(st.booleans()) else good.update(features=None)
        case "features not an object":
            good["features"] = draw(st.sampled_from([[1.0], "f", 3]))
        case "numerical missing":
            del features[draw(st.sampled_from(schema.numerical))]
        case "not a number":
            features[draw(st.sampled_from(schema.numerical))] = draw(NOT_A_NUMBER)
        case "categorical missing":
            del features[draw(st.sampled_from(schema.categorical))]
        case "not a category":
            features[draw(st.sampled_from(schema.categorical))] = draw(NOT_A_CATEGORY)
        case "prediction missing":
            del good["prediction"]
        case "bad prediction":
            numerical = schema.prediction_type is ColumnType.NUMERICAL
            good["prediction"] = draw(NOT_A_NUMBER if numerical else NOT_A_CATEGORY)
        case "bad id":
            good["id"] = draw(st.sampled_from([1.5, True, [1], {"id": 1}]))
        case "bad timestamp":
            good["timestamp"] = draw(st.sampled_from(["noon", math.nan, math.inf, [1], False]))
        case "bad scores":
            good["scores"] = draw(st.sampled_from([1.5, -1, "0.5", True, {}, {"a": 2}, [0.5]]))
    return good


schemas = st.sampled_from(SCHEMAS)


@settings(max_examples=300)
@given(data=st.data(), schema=schemas)
def test_good_batches_take_the_column_wise_path_with_the_same_result(
    data: st.DataObject, schema: SampleSchema
) -> None:
    samples = data.draw(st.lists(good_samples(schema), max_size=12))
    reference, rejected = per_sample_batch(samples, schema)
    assert rejected == []
    fast = columnar_batch(samples, schema)
    assert fast is not None
    assert canonical(fast) == canonical(reference)
    assert canonical(validate(samples, schema)[0]) == canonical(reference)


@settings(max_examples=300)
@given(data=st.data(), schema=schemas)
def test_every_bad_sample_is_rejected_and_its_good_neighbours_kept(
    data: st.DataObject, schema: SampleSchema
) -> None:
    good = data.draw(st.lists(good_samples(schema), max_size=10))
    bad = data.draw(st.lists(bad_samples(schema), min_size=1, max_size=4))
    size = len(good) + len(bad)
    bad_at = sorted(data.draw(st.permutations(range(size)))[: len(bad)])
    goods, bads = iter(good), iter(bad)
    mixed = [next(bads) if i in bad_at else next(goods) for i in range(size)]
    assert columnar_batch(mixed, schema) is None
    batch, rejected = validate(mixed, schema)
    assert [r.index for r in rejected] == bad_at
    # the good samples, in their order, as the column-wise path gives them on their own
    alone = columnar_batch(good, schema)
    assert alone is not None
    assert canonical(batch) == canonical(alone)


@settings(max_examples=300)
@given(data=st.data(), schema=schemas)
def test_any_batch_gives_what_the_per_sample_path_gives(
    data: st.DataObject, schema: SampleSchema
) -> None:
    samples = data.draw(st.lists(st.one_of(good_samples(schema), bad_samples(schema)), max_size=12))
    batch, rejected = validate(samples, schema)
    reference, reference_rejected = per_sample_batch(samples, schema)
    assert canonical(batch) == canonical(reference)
    assert rejected == reference_rejected
