"""The PCA reconstruction error (drift/core/multivariate.py) against scikit-learn's pieces, and
its behaviour on data with a known joint shift. Parity with NannyML: test_parity_nannyml.py."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from drift.core.multivariate import classify_domain, fit_reconstruction, stratified_folds


def correlated(n: int, rng: np.random.Generator, rho: float) -> pd.DataFrame:
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return pd.DataFrame(
        {"x": x, "y": y, "z": rng.normal(size=n), "city": rng.choice(["a", "b", "c"], n)}
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.2, 0.95))
def test_components_and_errors_are_scikit_learns(seed: int, share: float) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5)))
    frame.columns = [f"c{i}" for i in range(5)]
    model = fit_reconstruction(
        frame, numerical=list(frame.columns), categorical=[], chunk_size=100, n_components=share
    )
    scaled = StandardScaler().fit_transform(frame.to_numpy())
    pca = PCA(n_components=share, svd_solver="full").fit(scaled)
    assert model.n_components == pca.n_components_
    expected = np.linalg.norm(scaled - pca.inverse_transform(pca.transform(scaled)), axis=1)
    np.testing.assert_allclose(model.row_errors(frame), expected, rtol=1e-8, atol=1e-10)


def test_a_flipped_correlation_alerts_and_the_same_distribution_does_not() -> None:
    rng = np.random.default_rng(1)
    model = fit_reconstruction(
        correlated(10_000, rng, 0.9),
        numerical=["x", "y", "z"],
        categorical=["city"],
        chunk_size=1000,
    )
    same = model.score(correlated(1000, rng, 0.9))
    flipped = model.score(correlated(1000, rng, -0.9))
    assert not same.alert
    assert flipped.alert
    assert flipped.thresholds.upper is not None
    assert flipped.value > flipped.thresholds.upper
    assert flipped.lower <= flipped.value <= flipped.upper


def test_row_order_does_not_matter_and_inputs_are_not_mutated() -> None:
    rng = np.random.default_rng(2)
    model = fit_reconstruction(
        correlated(2000, rng, 0.5), numerical=["x", "y", "z"], categorical=["city"], chunk_size=500
    )
    window = correlated(300, rng, 0.5)
    before = window.copy()
    shuffled = window.sample(frac=1.0, random_state=3)
    assert model.score(shuffled).value == pytest.approx(model.score(window).value, rel=1e-12)
    pd.testing.assert_frame_equal(window, before)


def test_missing_values_and_unseen_categories_are_scored() -> None:
    rng = np.random.default_rng(4)
    reference = correlated(1000, rng, 0.7)
    reference.loc[:9, "x"] = np.nan
    reference.loc[10:19, "city"] = None
    model = fit_reconstruction(
        reference, numerical=["x", "y", "z"], categorical=["city"], chunk_size=250
    )
    assert model.fill["x"] == pytest.approx(reference["x"].mean())
    window = correlated(50, rng, 0.7)
    window.loc[:4, "x"] = np.nan
    window.loc[5:9, "city"] = "never seen"
    score = model.score(window)
    assert np.isfinite(score.value)
    assert np.isfinite(score.sampling_error)
    assert model.frequencies["city"].get("never seen") is None


def test_keeping_every_component_reconstructs_exactly() -> None:
    rng = np.random.default_rng(5)
    frame = correlated(500, rng, 0.3)
    model = fit_reconstruction(
        frame, numerical=["x", "y", "z"], categorical=["city"], chunk_size=100, n_components=4
    )
    assert model.n_components == 4
    assert model.score(frame).value == pytest.approx(0.0, abs=1e-9)


def test_bad_input_is_refused_with_a_reason() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="at least one column"):
        fit_reconstruction(frame, numerical=[], categorical=[], chunk_size=2)
    with pytest.raises(ValueError, match="at least 2 rows"):
        fit_reconstruction(frame.iloc[:1], numerical=["x"], categorical=[], chunk_size=2)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from([0, 1, 2]), min_size=10, max_size=200), st.integers(2, 6))
def test_stratified_folds_are_scikit_learns(labels: list[int], folds: int) -> None:
    y = np.array(labels)
    if np.all(folds > np.bincount(y)[np.bincount(y) > 0]):
        return  # scikit-learn refuses
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class smaller than the folds: it warns
        theirs = [test.tolist() for _, test in StratifiedKFold(folds).split(y, y)]
    assert [fold.tolist() for fold in stratified_folds(y, folds)] == theirs


def test_the_domain_classifier_separates_a_joint_shift_and_not_the_same_distribution() -> None:
    rng = np.random.default_rng(9)
    reference = correlated(2000, rng, 0.9)
    same = classify_domain(
        reference, correlated(500, rng, 0.9), numerical=["x", "y", "z"], categorical=["city"]
    )
    flipped = classify_domain(
        reference, correlated(500, rng, -0.9), numerical=["x", "y", "z"], categorical=["city"]
    )
    assert 0.4 < same.value < 0.65
    assert not same.alert
    assert flipped.value > 0.9
    assert flipped.alert
