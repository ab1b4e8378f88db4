"""The benchmark's data: 20 numerical features (some NaN), 5 categorical ones with 3 / 10 / 50 /
500 / 5000 values, a prediction score and a predicted class. In the current data half of the
features drift (10 numerical, 3 categorical), and the score and the class with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from drift.config import ColumnsConfig

NUMERICAL = [f"num_{i:02d}" for i in range(20)]
CARDINALITIES = {"cat_3": 3, "cat_10": 10, "cat_50": 50, "cat_500": 500, "cat_5000": 5000}
CATEGORICAL = list(CARDINALITIES)
SCORE = "score"  # the model's score: the sidecar's (numerical) prediction column
PREDICTED_CLASS = "predicted_class"  # the model's class: monitored as a categorical column
DRIFTED = {*NUMERICAL[:10], "cat_3", "cat_50", "cat_5000"}
ALL_COLUMNS = [*NUMERICAL, *CATEGORICAL, PREDICTED_CLASS, SCORE]

#: the column roles, as a sidecar config would list them
ROLES = ColumnsConfig(
    numerical=NUMERICAL,
    categorical=[*CATEGORICAL, PREDICTED_CLASS],
    prediction=SCORE,
    prediction_type="numerical",
)


def _numerical(rng: np.random.Generator, kind: int, n: int, drifted: bool) -> np.ndarray:
    """Ten shapes of numerical column; ``drifted`` moves each one a little."""
    d = 1.0 if drifted else 0.0
    if kind == 0:
        return rng.normal(0.5 * d, 1.0, n)
    if kind == 1:
        return rng.lognormal(0.3 * d, 0.75, n)
    if kind == 2:
        return rng.uniform(1.0 * d, 10.0 + 1.0 * d, n)
    if kind == 3:
        return rng.exponential(2.0 + 0.6 * d, n)
    if kind == 4:  # four values: Jensen-Shannon on the values rather than Wasserstein
        p = [0.25, 0.25, 0.25, 0.25] if drifted else [0.4, 0.3, 0.2, 0.1]
        return rng.choice([1.0, 2.0, 3.0, 4.0], n, p=p)
    if kind == 5:  # an age-like rounded column (~70 values)
        return rng.normal(40.0 + 4.0 * d, 10.0, n).round()
    if kind == 6:
        return rng.gamma(2.0, 2.0 * (1.0 + 0.25 * d), n)
    if kind == 7:
        return rng.beta(2.0 + d, 5.0, n)
    if kind == 8:
        return rng.normal(100.0, 15.0 * (1.0 + 0.4 * d), n)
    return rng.poisson(4.0 + 1.0 * d, n).astype(np.float64)  # ~15 integer values


def _categorical(rng: np.random.Generator, name: str, n: int, drifted: bool) -> np.ndarray:
    """Zipf-like category frequencies; ``drifted`` mixes in 40% uniform."""
    k = CARDINALITIES[name]
    weights = 1.0 / np.arange(1, k + 1) ** 1.1
    p = weights / weights.sum()
    if drifted:
        p = 0.6 * p + 0.4 / k
    labels = np.array([f"{name}_v{i}" for i in range(k)], dtype=object)
    return labels[rng.choice(k, n, p=p)]


def workload(rows: int, drifted: bool, seed: int) -> pd.DataFrame:
    """``rows`` rows of the 25 features, the predicted class and the score.

    Missing values: NaN in 2% of every even numerical column and 10% of num_08 and num_18,
    None in 1% of cat_50. ``drifted`` moves the columns in ``DRIFTED``.
    """
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERICAL):
        values = _numerical(rng, i % 10, rows, drifted and name in DRIFTED)
        share = 0.10 if i % 10 == 8 else 0.02 if i % 2 == 0 else 0.0
        values[rng.random(rows) < share] = np.nan
        data[name] = values
    for name in CATEGORICAL:
        data[name] = _categorical(rng, name, rows, drifted and name in DRIFTED)
    data["cat_50"][rng.random(rows) < 0.01] = None
    # the model: a logistic score of three features (two of them drift) and its class
    x0 = np.nan_to_num(data["num_00"], nan=0.0)
    x2 = (data["num_02"] - 5.0) / 2.9
    x5 = np.nan_to_num((data["num_05"] - 40.0) / 10.0, nan=0.0)
    logit = 1.2 * x0 + 0.6 * x2 - 0.4 * x5 + rng.normal(0.0, 0.5, rows)
    score = 1.0 / (1.0 + np.exp(-logit))
    data[SCORE] = score
    data[PREDICTED_CLASS] = np.where(
        score > 0.6, "approve", np.where(score > 0.4, "review", "reject")
    ).astype(object)
    return pd.DataFrame(data)[ALL_COLUMNS]


def column_lists(frame: pd.DataFrame, start: int, stop: int) -> dict[str, list[Any]]:
    """Rows ``start:stop`` as the service's ``Batch.columns``: floats (NaN for missing) for
    numerical columns, strings (None for missing) for categorical ones."""
    return {name: frame[name].iloc[start:stop].tolist() for name in ALL_COLUMNS}
