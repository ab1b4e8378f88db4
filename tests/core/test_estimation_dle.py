"""Direct loss estimation (drift/core/loss_estimation.py) on data where the error is known.
Parity with NannyML's DLE: test_parity_nannyml.py."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from drift.core.loss_estimation import fit_dle


def population(n: int, rng: np.random.Generator, centre: float) -> pd.DataFrame:
    """The model predicts 2x; the noise grows with |x| (heteroscedastic), so the error of a
    window depends on where its x lie: covariate shift without concept drift."""
    x = rng.normal(centre, 1.0, n)
    kind = rng.choice(["calm", "wild"], n)
    noise = rng.normal(0, 0.2 + np.abs(x) * np.where(kind == "wild", 1.0, 0.3), n)
    return pd.DataFrame({"x": x, "kind": kind, "y_pred": 2 * x, "y_true": 2 * x + noise})


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    reference = pd.concat([population(4000, rng, 0.0), population(4000, rng, 1.5)])
    return fit_dle(
        reference.reset_index(drop=True),
        features=["x", "kind"],
        categorical=["kind"],
        prediction="y_pred",
        target="y_true",
        chunk_size=1000,
    )


def test_the_estimate_tracks_the_realized_error_when_inputs_shift(model) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    for centre in (0.0, 0.75, 1.5):
        window = population(1000, rng, centre)
        errors = window["y_true"] - window["y_pred"]
        realized = {
            "mae": float(np.mean(np.abs(errors))),
            "mse": float(np.mean(errors**2)),
            "rmse": float(np.sqrt(np.mean(errors**2))),
        }
        for estimate in model.estimate(window.drop(columns="y_true")):
            assert estimate.value == pytest.approx(realized[estimate.metric], rel=0.15)
    calm = model.estimate(population(1000, rng, 0.0))
    shifted = model.estimate(population(1000, rng, 1.5))
    assert shifted[0].value > 1.5 * calm[0].value  # MAE follows the inputs


def test_an_unseen_category_and_a_missing_one_are_scored(model) -> None:  # type: ignore[no-untyped-def]
    window = population(20, np.random.default_rng(2), 0.0)
    window.loc[:4, "kind"] = "never seen"
    window.loc[5:9, "kind"] = None
    values = {e.metric: e.value for e in model.estimate(window)}
    assert all(np.isfinite(v) and v >= 0 for v in values.values())
    assert values["rmse"] == pytest.approx(np.sqrt(values["mse"]))


def test_importing_the_module_does_not_import_lightgbm() -> None:
    code = "import sys, drift.core.loss_estimation; print('lightgbm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
