"""Bad data never crashes an evaluation, whatever the method: all-NaN and empty columns,
constant columns, inf, categories never seen in the reference, very high cardinality."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from drift.config import ColumnsConfig
from drift.core.columns import OTHER, CategoricalData, ColumnType
from drift.core.comparison import compare
from drift.core.reference import build_profile
from drift.core.report import ColumnStatus
from drift.core.stattests import METHODS
from drift.core.window import CountWindow

ROWS = 400


def reference() -> pd.DataFrame:
    rng = np.random.default_rng(9)
    return pd.DataFrame(
        {
            "normal": rng.normal(size=ROWS),
            "constant": np.full(ROWS, 3.0),
            "with_inf": np.where(rng.random(ROWS) < 0.2, np.inf, rng.normal(size=ROWS)),
            "all_nan": np.full(ROWS, np.nan),
            "few_values": rng.integers(0, 3, ROWS).astype(float),
            "city": rng.choice(["a", "b", "c"], ROWS),
            "ids": [f"id{i}" for i in range(ROWS)],
            "single": ["x"] * ROWS,
        }
    )


def current() -> pd.DataFrame:
    rng = np.random.default_rng(10)
    n = 150
    return pd.DataFrame(
        {
            "normal": np.where(rng.random(n) < 0.5, -np.inf, rng.normal(1, 1, n)),
            "constant": np.full(n, 3.0),
            "with_inf": np.full(n, np.inf),  # nothing usable left
            "all_nan": rng.normal(size=n),
            "few_values": np.full(n, 7.0),  # a value the reference never had
            "city": rng.choice(["a", "zzz", None], n),
            "ids": [f"new{i}" for i in range(n)],
            "single": ["x"] * n,
        }
    )


NUMERICAL = ["normal", "constant", "with_inf", "all_nan", "few_values"]
CATEGORICAL = ["city", "ids", "single"]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_survives_bad_data(method: str) -> None:
    types = METHODS[method].column_types
    numerical = NUMERICAL if ColumnType.NUMERICAL in types else []
    categorical = CATEGORICAL if ColumnType.CATEGORICAL in types else []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numeric warning may escape either
        report = compare(
            reference(),
            current(),
            numerical=numerical,
            categorical=categorical,
            method=method,
            max_categories=50,
        )
    body = report.to_dict()
    json.dumps(body, allow_nan=False)  # a valid JSON document, NaN scores become null
    insufficient = {c.column for c in report.columns if c.status is ColumnStatus.INSUFFICIENT_DATA}
    assert insufficient == {"with_inf", "all_nan"} & set(numerical)
    for col in report.columns:
        if col.status is ColumnStatus.INSUFFICIENT_DATA:
            assert col.drifted is False
            assert col.score is None
        elif col.score is not None and not np.isnan(col.score) and METHODS[method].is_p_value:
            assert 0.0 <= col.score <= 1.0
    assert report.evaluated_columns == len(report.columns) - len(insufficient)


def test_default_methods_on_bad_data() -> None:
    report = compare(reference(), current(), numerical=NUMERICAL, categorical=CATEGORICAL)
    by_name = {c.column: c for c in report.columns}
    assert by_name["constant"].drifted is False  # same constant on both sides
    assert by_name["few_values"].drifted is True  # an unseen value takes all the mass
    assert by_name["city"].drifted is True  # an unseen category
    assert by_name["normal"].current_missing_share == pytest.approx(
        np.mean(np.isinf(current()["normal"]))
    )
    json.dumps(report.to_dict(), allow_nan=False)


def test_high_cardinality_is_bounded() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"user": [f"u{i}" for i in rng.integers(0, 50_000, 20_000)]})
    cur = pd.DataFrame({"user": [f"v{i}" for i in range(5_000)]})
    profile = build_profile(ref, ColumnsConfig(categorical=["user"]), "ref", max_categories=100)
    data = profile.columns["user"].data
    assert isinstance(data, CategoricalData)
    assert len(data.categories) == 100
    assert OTHER in data.categories
    assert data.n == 20_000  # nothing is lost: the tail is counted in the other bucket
    window = CountWindow(profile.column_types, 5_000, profile.vocabularies, max_new_categories=100)
    window.append({"user": cur["user"].tolist()}, 5_000)
    snap = window.snapshot().columns["user"]
    assert isinstance(snap, CategoricalData)
    assert len(snap.categories) == 100  # the truncated reference sends new ids to the bucket
    assert snap.counts == {OTHER: 5_000}
    report = compare(ref, cur, categorical=["user"], max_categories=100)
    assert report.column("user").status is ColumnStatus.OK
