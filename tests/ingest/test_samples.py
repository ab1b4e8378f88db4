"""Sample validation: the optional ``scores`` field, the cap on the bytes of one value, and the
column-wise fast path giving exactly what the per-sample reference path gives, on good, bad and
mixed batches."""

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
LIMIT = 256  # server.max_value_bytes (its default)


def sample(**fields: Any) -> dict[str, Any]:
    return {"features": {"age": 30, "income": 1.5, "city": "rome"}, "prediction": 0.2} | fields


def validate(samples: list[Any], schema: SampleSchema = CREDIT) -> tuple[Batch, list[Rejection]]:
    return validate_samples({"samples": samples}, schema, 1000, max_value_bytes=LIMIT)


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


# ------------------------------------------------------------------- the bytes of one value

LABELLED = SampleSchema(
    numerical=("age",), categorical=("city",), prediction="label",
    prediction_type=ColumnType.CATEGORICAL,
)  # fmt: skip


def labelled(**fields: Any) -> dict[str, Any]:
    return {"features": {"age": 30, "city": "rome"}, "prediction": "yes"} | fields


@pytest.mark.parametrize(
    ("bad", "field", "detail"),
    [
        (labelled(features={"age": 1, "city": "x" * 300}), "features.city", "300 bytes > 256"),
        (labelled(features={"age": 1, "city": "é" * 129}), "features.city", "258 bytes > 256"),
        (labelled(features={"age": 1, "city": 10**299}), "features.city", "300 bytes > 256"),
        (labelled(features={"age": 1, "city": 1e300}), "features.city", "301 bytes > 256"),
        (labelled(prediction="y" * 257), "prediction", "257 bytes > 256"),
        (labelled(id="r" * 1000), "id", "1000 bytes > 256"),
        (labelled(id=10**256), "id", "257 bytes > 256"),
        (labelled(id="\ud800" * 86), "id", "258 bytes > 256"),  # lone surrogates: 3 bytes
        (labelled(scores={"yes": 0.5, "n" * 257: 0.5}), "scores", "a class name of 257 bytes"),
    ],
)
def test_a_value_over_the_cap_rejects_its_sample_naming_field_and_size(
    bad: dict[str, Any], field: str, detail: str
) -> None:
    got_field, reason, got_detail = rejection(bad, LABELLED)
    assert (got_field, reason) == (field, RejectReason.TOO_LONG)
    assert detail in got_detail


@pytest.mark.parametrize("value", ["x" * 256, "é" * 128, "€" * 85 + "x", "😀" * 64, "z" * 64])
def test_values_of_exactly_the_cap_are_accepted_on_both_paths(value: str) -> None:
    samples = [labelled(id=value, prediction=value, features={"age": 1, "city": value})] * 5
    for n in (1, 5):  # sample by sample, and column-wise
        batch, rejected = validate(samples[:n], LABELLED)
        assert rejected == []
        assert batch.ids == [value] * n
        assert list(batch.columns["city"]) == [value] * n
        assert list(batch.columns["label"]) == [value] * n
    assert columnar_batch(samples, LABELLED, LIMIT) is not None


def test_the_cap_is_a_parameter_in_utf8_bytes() -> None:
    samples = [labelled(features={"age": 1, "city": "é" * 20})] * 5  # 40 bytes, 20 characters
    assert validate_samples({"samples": samples}, LABELLED, 10, max_value_bytes=40)[1] == []
    _, rejected = validate_samples({"samples": samples}, LABELLED, 10, max_value_bytes=39)
    assert [(r.index, r.reason, r.detail) for r in rejected] == [
        (i, RejectReason.TOO_LONG, "40 bytes > 39") for i in range(5)
    ]


def test_long_values_in_a_large_batch_cost_only_their_samples() -> None:
    samples = [labelled(id=f"r{i}", features={"age": i, "city": f"c{i % 7}"}) for i in range(100)]
    samples[17] = labelled(id="r17", features={"age": 17, "city": "x" * 100_000})
    samples[60] = labelled(id="é" * 200)
    batch, rejected = validate(samples, LABELLED)
    assert [(r.index, r.field) for r in rejected] == [(17, "features.city"), (60, "id")]
    assert rejected[0].to_dict() == {
        "index": 17,
        "field": "features.city",
        "reason": "too_long",
        "detail": "100000 bytes > 256",
    }
    assert len(batch) == 98
    assert max(len(c) for c in batch.columns["city"]) == 2


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
#: strings of exactly LIMIT bytes in UTF-8 (1, 2, 3 and 4 bytes per code point)
AT_THE_LIMIT = ["x" * LIMIT, "é" * (LIMIT // 2), "€" * 85 + "x", "😀" * (LIMIT // 4)]
#: one byte (or one code point) more
TOO_LONG = ["x" * (LIMIT + 1), "é" * (LIMIT // 2) + "x", "€" * 86, "😀" * 64 + "x", "\ud800" * 86]
categories = st.one_of(
    st.sampled_from(["a", "b", "", "x y"]),
    st.sampled_from(AT_THE_LIMIT),
    st.integers(-3, 3),
    # an integral float is spelled with all its digits: 1e300 is a category of 301 bytes
    st.floats(-1e200, 1e200),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.booleans(),
    st.none(),
)
probabilities = st.one_of(st.floats(0, 1), st.sampled_from([0, 1]))
optional = {
    "id": st.one_of(
        st.none(), st.text(max_size=5), st.integers(-5, 10**30), st.sampled_from(AT_THE_LIMIT)
    ),
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
    breakages += ["bad timestamp", "bad scores", "id too long", "class name too long"]
    if schema.numerical:
        breakages += ["numerical missing", "not a number"]
    if schema.categorical:
        breakages += ["categorical missing", "not a category", "category too long"]
    if schema.prediction is not None:
        breakages += ["prediction missing", "bad prediction"]
        if schema.prediction_type is ColumnType.CATEGORICAL:
            breakages += ["prediction too long"]
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
        case "id too long":
            good["id"] = draw(st.sampled_from([*TOO_LONG, 10 ** (LIMIT + 5)]))
        case "class name too long":
            good["scores"] = {"a": 0.5, draw(st.sampled_from(TOO_LONG)): 0.5}
        case "category too long":
            too_long = draw(st.sampled_from([*TOO_LONG, 10 ** (LIMIT + 5)]))
            features[draw(st.sampled_from(schema.categorical))] = too_long
        case "prediction too long":
            good["prediction"] = draw(st.sampled_from(TOO_LONG))
    return good


schemas = st.sampled_from(SCHEMAS)


@settings(max_examples=300)
@given(data=st.data(), schema=schemas)
def test_good_batches_take_the_column_wise_path_with_the_same_result(
    data: st.DataObject, schema: SampleSchema
) -> None:
    samples = data.draw(st.lists(good_samples(schema), max_size=12))
    reference, rejected = per_sample_batch(samples, schema, LIMIT)
    assert rejected == []
    fast = columnar_batch(samples, schema, LIMIT)
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
    assert columnar_batch(mixed, schema, LIMIT) is None
    batch, rejected = validate(mixed, schema)
    assert [r.index for r in rejected] == bad_at
    # the good samples, in their order, as the column-wise path gives them on their own
    alone = columnar_batch(good, schema, LIMIT)
    assert alone is not None
    assert canonical(batch) == canonical(alone)


@settings(max_examples=300)
@given(data=st.data(), schema=schemas)
def test_any_batch_gives_what_the_per_sample_path_gives(
    data: st.DataObject, schema: SampleSchema
) -> None:
    samples = data.draw(st.lists(st.one_of(good_samples(schema), bad_samples(schema)), max_size=12))
    batch, rejected = validate(samples, schema)
    reference, reference_rejected = per_sample_batch(samples, schema, LIMIT)
    assert canonical(batch) == canonical(reference)
    assert rejected == reference_rejected
