"""Reference profiles: evidently's type inference, and schema errors that name the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drift.config import ColumnsConfig
from drift.core.columns import ColumnType
from drift.core.reference import Role, build_profile, infer_column_type
from drift.errors import ReferenceSchemaError


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        (pd.Series([0.0, 1.0, 0.0]), ColumnType.NUMERICAL),  # float is always numerical
        (pd.Series(range(5)), ColumnType.CATEGORICAL),  # int with <= 10 unique values
        (pd.Series(range(11)), ColumnType.NUMERICAL),
        (pd.Series([True, False, True]), ColumnType.CATEGORICAL),
        (pd.Series(["a", "b", "a", "a"]), ColumnType.CATEGORICAL),
        (pd.Series(["a", "b", "c", "d"]), None),  # looks like text or ids
        (pd.Series(pd.Categorical(["x", "y", "x"])), ColumnType.CATEGORICAL),
        (pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"])), None),
        (pd.Series([None, None], dtype=object), None),
    ],
)
def test_infer_column_type(series: pd.Series, expected: ColumnType | None) -> None:
    assert infer_column_type(series) == expected


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, 100),
            "income": rng.normal(size=100),
            "city": rng.choice(["a", "b"], 100),
            "kids": rng.integers(0, 3, 100),
            "request_id": [f"r{i}" for i in range(100)],
            "score": rng.random(100),
        }
    )


def test_roles_are_inferred_when_absent() -> None:
    profile = build_profile(frame(), ColumnsConfig(prediction="score", id="request_id"), "f")
    types = {c.name: c.column_type for c in profile.features}
    assert types == {
        "age": ColumnType.NUMERICAL,
        "income": ColumnType.NUMERICAL,
        "city": ColumnType.CATEGORICAL,
        "kids": ColumnType.CATEGORICAL,
    }
    assert profile.prediction is not None
    assert profile.prediction.role is Role.PREDICTION
    assert profile.prediction.column_type is ColumnType.NUMERICAL
    assert profile.rows == 100


def test_listed_roles_win_over_inference() -> None:
    profile = build_profile(frame(), ColumnsConfig(numerical=["kids"], categorical=[]), "f")
    assert [c.name for c in profile.features] == ["kids"]
    assert profile.columns["kids"].column_type is ColumnType.NUMERICAL


def test_missing_column_is_named() -> None:
    with pytest.raises(
        ReferenceSchemaError, match=r"'salary' \(columns.numerical\) is not in the reference"
    ):
        build_profile(frame(), ColumnsConfig(numerical=["salary"]), "data/ref.csv")


def test_type_contradiction_is_named() -> None:
    with pytest.raises(
        ReferenceSchemaError, match="'city' is configured numerical but has type object"
    ):
        build_profile(frame(), ColumnsConfig(numerical=["city"]), "data/ref.csv")


def test_missing_share_counts_nan_and_inf() -> None:
    data = pd.DataFrame({"x": [1.0, np.nan, np.inf, 2.0]})
    profile = build_profile(data, ColumnsConfig(numerical=["x"]), "f")
    assert profile.columns["x"].missing_share == 0.5
    assert profile.columns["x"].data.n == 2
