"""The estimators' codec (drift/core/estimation_codec.py): what is read back estimates bit for bit
what was fitted, on the same windows (CBPE binary and multiclass, DLE, the reconstruction, the
domain classifier's sample); anything that is not this format's bytes is rejected with the
codec's error, never misread."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drift.core.estimation import fit_cbpe
from drift.core.estimation_codec import (
    FORMAT,
    EstimatorFormatError,
    FittedEstimators,
    dump_estimators,
    load_estimators,
)
from drift.core.loss_estimation import LoadedRegressor, fit_dle
from drift.core.multivariate import classify_domain, fit_reconstruction
from drift.core.options import ColumnsConfig
from drift.core.profile_codec import dump_profile
from drift.core.reference import build_profile

seeds = st.integers(0, 2**32 - 1)


def round_trip(fitted: FittedEstimators) -> FittedEstimators:
    return load_estimators(dump_estimators(fitted))


def same(a: Any, b: Any) -> None:
    """Equal bit for bit: ``repr`` spells every float exactly (and NaN, and the sign of 0)."""
    assert repr(a) == repr(b)


# ----------------------------------------------------------------------------- CBPE


def binary(n: int, rng: np.random.Generator, power: float) -> tuple[Any, Any, Any]:
    """Scores, and truths drawn with probability ``score ** power`` (1: calibrated)."""
    scores = rng.beta(2, 2, n)
    truth = (rng.random(n) < scores**power).astype(np.int64)
    return truth, (scores >= 0.5).astype(np.int64), scores


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    rows=st.integers(60, 1500),
    chunk=st.integers(20, 400),
    power=st.sampled_from([1.0, 2.0, 0.5]),
    labels=st.sampled_from([(0, 1), ("no", "yes"), (False, True)]),
)
def test_cbpe_binary_estimates_bit_for_bit_after_the_round_trip(
    seed: int, rows: int, chunk: int, power: float, labels: tuple[Any, Any]
) -> None:
    rng = np.random.default_rng(seed)
    truth, predicted, scores = binary(rows, rng, power)
    names = np.array(labels, dtype=object)
    model = fit_cbpe(names[truth], names[predicted], scores, chunk_size=chunk, classes=labels)
    loaded = round_trip(FittedEstimators(cbpe=model)).cbpe
    assert loaded is not None
    assert loaded.classes == model.classes
    assert [type(c) for c in loaded.classes] == [type(c) for c in model.classes]
    for size in (1, 7, chunk, 3 * chunk):
        _, later_predicted, later_scores = binary(size, rng, 1.0)
        window = names[later_predicted]
        same(loaded.estimate(window, later_scores), model.estimate(window, later_scores))


@settings(max_examples=15, deadline=None)
@given(
    seed=seeds, rows=st.integers(90, 1200), classes=st.integers(3, 5), chunk=st.integers(30, 300)
)
def test_cbpe_multiclass_estimates_bit_for_bit_after_the_round_trip(
    seed: int, rows: int, classes: int, chunk: int
) -> None:
    rng = np.random.default_rng(seed)
    labels = [f"class {i}" for i in range(classes)]

    def population(n: int, concentration: float) -> tuple[Any, Any, Any]:
        scores = rng.dirichlet([concentration] * classes, n)
        truth = np.array([rng.choice(labels, p=row) for row in scores])
        return truth, np.array(labels)[scores.argmax(axis=1)], scores

    truth, predicted, scores = population(rows, 0.7)
    truth[:classes] = labels  # every class in the reference
    model = fit_cbpe(truth, predicted, scores, chunk_size=chunk)
    loaded = round_trip(FittedEstimators(cbpe=model)).cbpe
    assert loaded is not None
    assert loaded.classes == tuple(labels)
    for size, concentration in ((chunk, 0.7), (2 * chunk, 3.0), (5, 1.0)):
        _, later_predicted, later_scores = population(size, concentration)
        same(
            loaded.estimate(later_predicted, later_scores),
            model.estimate(later_predicted, later_scores),
        )
    for fitted, read in zip(model.calibrators, loaded.calibrators, strict=True):
        assert (fitted is None) == (read is None)
        if fitted is not None and read is not None:
            np.testing.assert_array_equal(read.x, fitted.x)
            np.testing.assert_array_equal(read.y, fitted.y)


# ----------------------------------------------------------------------------- DLE


def regression(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    x = rng.normal(shift, 1, n)
    kind = rng.choice(["calm", "wild", "café"], n).astype(object)
    kind[rng.random(n) < 0.05] = None
    noise = rng.normal(0, 0.2 + np.abs(x) * np.where(kind == "wild", 1.0, 0.3))
    return pd.DataFrame({"x": x, "kind": kind, "pred": 2 * x, "y": 2 * x + noise})


@pytest.mark.parametrize(("seed", "metrics"), [(1, ("mae", "mse", "rmse")), (2, ("rmse",))])
def test_dle_estimates_bit_for_bit_after_the_round_trip(
    seed: int, metrics: tuple[str, ...]
) -> None:
    rng = np.random.default_rng(seed)
    model = fit_dle(
        regression(3000, rng),
        features=["x", "kind"],
        categorical=["kind"],
        prediction="pred",
        target="y",
        chunk_size=500,
        metrics=metrics,
    )
    loaded = round_trip(FittedEstimators(dle=model)).dle
    assert loaded is not None
    assert all(isinstance(r, LoadedRegressor) for r in loaded.regressors.values())
    assert loaded.categories == model.categories
    assert loaded.fill == model.fill
    for shift in (0.0, 1.5):
        window = regression(500, rng, shift)
        window.loc[window.index[:5], "kind"] = "never seen"
        same(loaded.estimate(window), model.estimate(window))
        for loss, regressor in model.regressors.items():
            x = model.design(window)
            assert np.array_equal(loaded.regressors[loss].predict(x), regressor.predict(x))
    again = round_trip(FittedEstimators(dle=loaded)).dle  # a loaded model dumps as well
    assert again is not None
    window = regression(300, rng, 0.5)
    same(again.estimate(window), model.estimate(window))


# ----------------------------------------------------------------------------- reconstruction


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=seeds,
    rows=st.integers(20, 800),
    chunk=st.integers(5, 300),
    share=st.sampled_from([0.3, 0.65, 0.95, 2, 1]),
    codes=st.sampled_from([["a", "b", "c"], [1, 2, 3], [1.5, 2.5, True]]),
)
def test_the_reconstruction_scores_bit_for_bit_after_the_round_trip(
    seed: int, rows: int, chunk: int, share: float, codes: list[Any]
) -> None:
    rng = np.random.default_rng(seed)

    def frame(n: int, rho: float) -> pd.DataFrame:
        x = rng.normal(size=n)
        y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
        y[rng.random(n) < 0.05] = np.nan
        city = np.array([codes[i] for i in rng.integers(0, 3, n)], dtype=object)
        city[rng.random(n) < 0.05] = None
        return pd.DataFrame({"x": x, "y": y, "city": city})

    model = fit_reconstruction(
        frame(rows, 0.8),
        numerical=["x", "y"],
        categorical=["city"],
        chunk_size=chunk,
        n_components=share,
    )
    loaded = round_trip(FittedEstimators(reconstruction=model)).reconstruction
    assert loaded is not None
    assert loaded.frequencies == model.frequencies
    assert {type(k) for k in loaded.frequencies["city"]} == {
        type(k) for k in model.frequencies["city"]
    }
    np.testing.assert_array_equal(loaded.components, model.components)
    for rho in (0.8, -0.8):
        window = frame(max(chunk, 2), rho)
        window.loc[window.index[0], "city"] = "never seen"
        same(loaded.score(window), model.score(window))


# ----------------------------------------------------------------------------- domain classifier

#: what a categorical column of the sample holds: canonical strings (any text) or None
category_text = st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["", "a\x00", " b "]))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(0, 60),
    data=st.data(),
)
def test_the_domain_sample_is_read_back_exactly(rows: int, data: st.DataObject) -> None:
    floats = st.floats(allow_nan=True, allow_infinity=True)
    sample = pd.DataFrame(
        {
            "age": np.array(
                data.draw(st.lists(floats, min_size=rows, max_size=rows)), dtype=np.float64
            ),
            "city": np.array(
                data.draw(st.lists(category_text, min_size=rows, max_size=rows)), dtype=object
            ).reshape(rows),
        }
    )
    read = round_trip(
        FittedEstimators(domain_reference=sample, numerical=("age",), categorical=("city",))
    )
    assert read.numerical == ("age",)
    assert read.categorical == ("city",)
    assert read.domain_reference is not None
    pd.testing.assert_frame_equal(read.domain_reference, sample, check_exact=True)
    assert [type(v) for v in read.domain_reference["city"]] == [type(v) for v in sample["city"]]
    np.testing.assert_array_equal(
        np.signbit(read.domain_reference["age"].to_numpy()), np.signbit(sample["age"].to_numpy())
    )


def test_the_domain_classifier_scores_the_read_sample_as_the_fitted_one() -> None:
    rng = np.random.default_rng(3)
    features = regression(1500, rng)[["x", "kind"]].sample(n=600, random_state=0)
    sample = features.reset_index(drop=True)
    read = round_trip(
        FittedEstimators(domain_reference=sample, numerical=("x",), categorical=("kind",))
    )
    assert read.domain_reference is not None
    window = regression(200, rng, 0.7)[["x", "kind"]]
    kinds: dict[str, Any] = {"numerical": ["x"], "categorical": ["kind"]}
    same(
        classify_domain(read.domain_reference, window, **kinds),
        classify_domain(sample, window, **kinds),
    )


# ----------------------------------------------------------------------------- everything at once


@pytest.fixture(scope="module")
def everything() -> tuple[FittedEstimators, bytes]:
    rng = np.random.default_rng(4)
    truth, predicted, scores = binary(400, rng, 2.0)
    reference = regression(400, rng)
    fitted = FittedEstimators(
        cbpe=fit_cbpe(truth, predicted, scores, chunk_size=100),
        dle=fit_dle(
            reference,
            features=["x", "kind"],
            categorical=["kind"],
            prediction="pred",
            target="y",
            chunk_size=100,
            hyperparameters={"n_estimators": 5},
        ),
        reconstruction=fit_reconstruction(
            reference, numerical=["x", "pred"], categorical=["kind"], chunk_size=100
        ),
        domain_reference=reference[["x", "kind"]].head(50),
        numerical=("x",),
        categorical=("kind",),
    )
    return fitted, dump_estimators(fitted)


def behaviour(fitted: FittedEstimators) -> str:
    """Everything the estimators answer on fixed windows, spelled exactly."""
    rng = np.random.default_rng(5)
    _, predicted, scores = binary(100, rng, 1.0)
    window = regression(100, rng, 0.5)
    assert fitted.cbpe is not None
    assert fitted.dle is not None
    assert fitted.reconstruction is not None
    assert fitted.domain_reference is not None
    return repr(
        (
            fitted.cbpe.estimate(predicted, scores),
            fitted.dle.estimate(window),
            fitted.reconstruction.score(window),
            fitted.domain_reference.to_dict("list"),
            fitted.numerical,
            fitted.categorical,
        )
    )


def test_every_part_round_trips_together(everything: tuple[FittedEstimators, bytes]) -> None:
    fitted, data = everything
    assert behaviour(load_estimators(data)) == behaviour(fitted)
    assert dump_estimators(load_estimators(data)) == data  # a loaded set dumps the same bytes
    assert round_trip(FittedEstimators()) == FittedEstimators()


def test_every_truncation_is_rejected(everything: tuple[FittedEstimators, bytes]) -> None:
    _, data = everything
    for end in [*range(0, 600), *range(600, len(data), 997), len(data) - 1]:
        with pytest.raises(EstimatorFormatError):
            load_estimators(data[:end])


def test_a_corrupt_byte_is_rejected_or_changes_nothing(
    everything: tuple[FittedEstimators, bytes],
) -> None:
    """Each byte flipped in turn (every 29th across the archive, every one in the header and in
    the zip directory): the codec's error, or (zip metadata nobody reads, such as a timestamp)
    estimators that answer exactly as before; never a misread model."""
    fitted, data = everything
    expected = behaviour(fitted)
    header = data.index(b'{"format"')
    positions = {
        *range(0, len(data), 29),
        *range(header, header + 400),
        *range(len(data) - 800, len(data)),
    }
    rejected = 0
    for position in sorted(positions):
        corrupt = bytearray(data)
        corrupt[position] ^= 0xFF
        try:
            read = load_estimators(bytes(corrupt))
        except EstimatorFormatError:
            rejected += 1
            continue
        assert behaviour(read) == expected, f"byte {position} flipped was misread"
    assert rejected > len(positions) // 2


def rewrite_header(data: bytes, change: Any) -> bytes:
    """The same archive with its JSON header changed by ``change(header)``."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays["header"].tobytes())
    change(header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_other_formats_are_rejected(everything: tuple[FittedEstimators, bytes]) -> None:
    _, data = everything
    profile = dump_profile(
        build_profile(regression(50, np.random.default_rng(6)), ColumnsConfig(numerical=["x"]), "s")
    )
    newer = rewrite_header(data, lambda h: h.update(format="drift-sidecar/estimators/2"))
    npy = io.BytesIO()
    np.save(npy, np.arange(3))
    pickled = io.BytesIO()
    np.savez(pickled, header=np.array([{"format": FORMAT}], dtype=object))
    cases = {
        "empty": b"",
        "text": b"not estimators",
        "a profile": profile,
        "a newer format": newer,
        "an npy array": npy.getvalue(),
        "a pickled header": pickled.getvalue(),
    }
    for what, other in cases.items():
        with pytest.raises(EstimatorFormatError):
            load_estimators(other)
        assert what
    with pytest.raises(EstimatorFormatError, match="estimators/2"):
        load_estimators(newer)


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h["cbpe"].update(calibrated=[True, True]),  # a calibrator without its points
        lambda h: h["cbpe"].update(metrics=["f1"]),  # components of other metrics
        lambda h: h["reconstruction"].update(columns=["x"]),  # arrays of another width
        lambda h: h["domain"].update(rows=3),  # columns of another length
        lambda h: h["domain"].update(kinds=["float", "date"]),
        lambda h: h["dle"].update(losses=["absolute", "squared", "cubic"]),  # no such model text
        lambda h: h.pop("dle"),
        lambda h: h.update(numerical=[1]),
    ],
)
def test_a_header_that_does_not_fit_its_arrays_is_rejected(
    everything: tuple[FittedEstimators, bytes], change: Any
) -> None:
    _, data = everything
    with pytest.raises(EstimatorFormatError):
        load_estimators(rewrite_header(data, change))


def test_a_value_the_format_cannot_hold_is_refused_at_dump() -> None:
    raw = pd.DataFrame({"token": np.array([b"\x00raw"], dtype=object)})
    with pytest.raises(ValueError, match="bytes"):
        dump_estimators(FittedEstimators(domain_reference=raw))
    dates = pd.DataFrame({"when": pd.to_datetime(["2025-01-01"])})
    with pytest.raises(ValueError, match="datetime64"):
        dump_estimators(FittedEstimators(domain_reference=dates))
    truth = np.array([pd.Timestamp("2025-01-01"), pd.Timestamp("2025-01-02")] * 30, dtype=object)
    scores = np.linspace(0, 1, 60)
    model = fit_cbpe(truth, truth, scores, chunk_size=20, classes=tuple(truth[:2]))
    with pytest.raises(ValueError, match="Timestamp"):
        dump_estimators(FittedEstimators(cbpe=model))
