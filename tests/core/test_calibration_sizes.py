"""drift.core.calibration across window sizes: a column is calibrated on a ladder of sizes,
and a window of n samples is held to the threshold of the size for n, so the false-alarm
rate holds whatever the window's fill (a count window filling up, a time window's traffic).

The rate tests count exceedances of Bernoulli trials and accept what a binomial of that rate
allows (``binomial_bound``, as in tests/core/test_calibration.py: 4 standard deviations, a
false failure about once in 15,000 runs). Between two ladder sizes a window is held to the
more conservative of their thresholds, so there only the upper bound holds."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drift.config import settings_from_mapping
from drift.core.calibration import (
    MAX_SIZES,
    Calibration,
    ColumnCalibration,
    SizeCalibration,
    calibrate,
    calibrated_threshold,
    calibration_sizes,
    column_rng,
    null_score_ladder,
    null_scores,
    resample,
    window_rng,
)
from drift.core.comparison import snapshot_from_frame
from drift.core.engine import evaluate
from drift.core.options import CalibrationConfig, ColumnsConfig, DriftConfig
from drift.core.profile_codec import FORMAT, ProfileFormatError, dump_profile, load_profile
from drift.core.reference import ColumnProfile, ReferenceProfile, build_profile
from drift.core.report import ColumnDrift, DriftReport
from drift.core.stattests import METHODS
from drift.ports import ReferenceVersion
from drift.sources.cache import CachedEntry, ProfileCache, cache_key
from tests.core.test_calibration import (
    RATE,
    binomial_bound,
    categorical_column,
    numeric_column,
)

# ------------------------------------------------------------------------------ the ladder


def test_the_ladder_halves_the_window_down_to_the_smallest_size() -> None:
    assert calibration_sizes(1000) == (32, 63, 125, 250, 500, 1000)
    assert calibration_sizes(10_000) == (313, 625, 1250, 2500, 5000, 10_000)
    assert calibration_sizes(200) == (13, 25, 50, 100, 200)  # none under MIN_LADDER_SIZE
    assert calibration_sizes(40) == (10, 20, 40)
    assert calibration_sizes(7) == (7,)
    assert calibration_sizes(40, smallest=2) == (2, 3, 5, 10, 20, 40)
    # a first evaluation after 100 samples (window.first_evaluation_after): 100 is a size
    assert calibration_sizes(1000, smallest=100) == (100, 125, 250, 500, 1000)
    assert calibration_sizes(1000, smallest=2000) == (1000,)
    far = calibration_sizes(100_000, smallest=10)
    assert len(far) == MAX_SIZES
    assert far[-1] == 100_000
    with pytest.raises(ValueError, match="not positive"):
        calibration_sizes(0)


def _distance_column(
    thresholds: dict[int, float], method: str = "wasserstein"
) -> ColumnCalibration:
    sizes = tuple(SizeCalibration(n, t, 0.01, 0.5) for n, t in sorted(thresholds.items()))
    return ColumnCalibration(method, 0.1, sizes)


def test_a_window_is_held_to_its_size_or_the_more_conservative_size_around_it() -> None:
    """On a size: that size's threshold; from the full window up: the full window's; between
    two sizes: the one that fires less (the larger distance, the smaller p-value), whichever
    way the thresholds run; below the smallest size: none."""
    distance = _distance_column({50: 0.3, 100: 0.2, 200: 0.14})
    held = [distance.for_samples(n) for n in (49, 50, 99, 100, 150, 200, 500)]
    assert [None if h is None else h.size for h in held] == [None, 50, 50, 100, 100, 200, 200]
    assert distance.threshold == 0.14  # the full window's
    p_value = _distance_column({50: 0.004, 100: 0.006, 200: 0.005}, method="chisquare")
    assert p_value.for_samples(75) == p_value.sizes[0]  # 0.004 fires less than 0.006
    assert p_value.for_samples(150) == p_value.sizes[2]  # 0.005 fires less than 0.006
    odd = _distance_column({50: 0.2, 100: 0.25})  # a distance larger at the larger size
    assert odd.for_samples(60) == odd.sizes[1]
    with pytest.raises(ValueError, match="ascending"):
        ColumnCalibration("ks", 0.05, ())
    with pytest.raises(ValueError, match="ascending"):
        ColumnCalibration("ks", 0.05, (distance.sizes[1], distance.sizes[0]))


# ------------------------------------------------- the rate at and between the ladder sizes


@st.composite
def ladder_cases(draw: st.DrawFn) -> tuple[ColumnProfile, str, int, int]:
    """A reference column (numerical of any shape, or categorical with skewed shares), a
    distance or p-value method for it, and two neighbouring sizes of a window's ladder."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.sampled_from([300, 1500]))
    ladder = calibration_sizes(draw(st.sampled_from([200, 400])))
    step = draw(st.integers(0, len(ladder) - 2))
    low, high = ladder[step], ladder[step + 1]
    if draw(st.booleans()):
        shape = draw(st.sampled_from(["normal", "lognormal", "rounded"]))
        values = {
            "normal": lambda: rng.normal(draw(st.floats(-5, 5)), draw(st.floats(0.1, 10)), n),
            "lognormal": lambda: rng.lognormal(0, 1, n),
            "rounded": lambda: rng.normal(40, 10, n).round(),
        }[shape]()
        method = draw(st.sampled_from(["wasserstein", "jensenshannon", "ks"]))
        return numeric_column(values), method, low, high
    k = draw(st.integers(2, 8))
    shares = rng.dirichlet(np.ones(k))
    counts = {f"cat{i}": int(c) + 1 for i, c in enumerate(rng.multinomial(n, shares))}
    method = draw(st.sampled_from(["jensenshannon", "chisquare"]))
    return categorical_column(counts), method, low, high


@given(ladder_cases())
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_clean_windows_at_and_between_ladder_sizes_fire_at_most_at_the_rate(
    case: tuple[ColumnProfile, str, int, int],
) -> None:
    """Each trial calibrates the two sizes a < b on 200 clean scores each and judges one more
    clean window, of a, of b or of a size between them, through ``for_samples``. The pools'
    i-th scores share a pseudo-reference, so a trial takes disjoint indices for the two
    calibrations and the judged window: the trials are independent Bernoulli draws. On a
    size the rate is j / 201 (exactly, for continuous scores); between, at most that."""
    column, name, low, high = case
    method = METHODS[name]
    between = sorted({low + 1, round(math.sqrt(low * high)), high - 1} - {low, high})
    pools = null_score_ladder(column, method, (low, *between, high), resamples=2400, seed=3)
    rng = np.random.default_rng(13)
    trials = 1500
    fired = dict.fromkeys((low, *between, high), 0)
    expected = 10 / 201
    for _ in range(trials):
        picked = rng.permutation(2400)
        entries = []
        for size, chosen in ((low, picked[:200]), (high, picked[200:400])):
            scores = pools[size][chosen]
            if np.isnan(scores).any():  # undefined scores: calibrate on the defined ones
                scores = scores[~np.isnan(scores)]
            threshold, rate = calibrated_threshold(scores, method, RATE)
            entries.append(SizeCalibration(size, threshold, rate, math.nan))
        calibration = ColumnCalibration(name, method.default_threshold, tuple(entries))
        for size in fired:
            held = calibration.for_samples(size)
            assert held is not None
            assert held.rate <= RATE
            score = float(pools[size][picked[400]])
            fired[size] += not math.isnan(score) and method.drifted(score, held.threshold)
    _, upper = binomial_bound(expected, trials)
    for size, count in fired.items():
        assert count / trials <= upper, (size, count / trials)
    for size in (low, high):
        pool = pools[size][~np.isnan(pools[size])]
        if np.unique(pool).size > 0.95 * pool.size and pool.size == 2400:  # no ties
            lower, _ = binomial_bound(expected, trials)
            assert fired[size] / trials >= lower, (size, fired[size] / trials)


@pytest.mark.parametrize(
    ("kind", "method"),
    [
        ("numerical", "wasserstein"),
        ("categorical", "jensenshannon"),
        ("numerical", "ks"),
        ("categorical", "chisquare"),
    ],
)
def test_fresh_windows_of_any_fill_fire_near_the_rate_on_fresh_references(
    kind: str, method: str
) -> None:
    """The realistic case, as tests/core/test_calibration.py's for full windows: references
    and windows are independent samples of one population, windows of every fill of a
    window of 200 (on the ladder and between its sizes). Through the engine, each column fires
    at most about the rate (within a factor 2, and the binomial noise of 300 windows per
    fill: the bootstrap only approximates the population; measured 0-7% per fill but for
    chisquare at 25 samples, 10% here and 7% over 24,000 windows: its p-values are a few
    atoms, a rare category's count of 0, 1 or 2); a distance threshold calibrated for the
    full window alone fires far more often on windows of a quarter of it."""
    rng = np.random.default_rng(17)
    n, window, references, windows = 800, 200, 12, 25
    fills = (25, 37, 50, 75, 100, 150, 200)
    options = DriftConfig(method=method, calibration=CalibrationConfig(false_alarm_rate=RATE))
    fired = dict.fromkeys(fills, 0)
    full_fired = dict.fromkeys(fills, 0)

    def draw(size: int) -> pd.DataFrame:
        if kind == "numerical":
            return pd.DataFrame({"v": rng.gamma(2.0, 3.0, size)})
        return pd.DataFrame({"v": rng.choice(["a", "b", "c", "d"], size, p=[0.5, 0.3, 0.15, 0.05])})

    for _ in range(references):
        profile = build_profile(draw(n), ColumnsConfig(), "ref")
        calibration = calibrate(profile, options, window, parallel=False)
        assert calibration.sizes == (13, 25, 50, 100, 200)
        calibrated = dataclasses.replace(profile, calibration=calibration)
        full = calibration.columns["v"].threshold
        for fill in fills:
            for _ in range(windows):
                snapshot = snapshot_from_frame(profile, draw(fill), 100)
                report = evaluate("m", calibrated, snapshot, options, window, parallel=False)
                col, held = report.column("v"), calibration.columns["v"].for_samples(fill)
                assert held is not None
                assert (col.calibrated, col.calibration_size) == (True, held.size)
                fired[fill] += col.drifted
                full_fired[fill] += METHODS[method].drifted(col.score or math.nan, full)
    trials = references * windows
    _, upper = binomial_bound(2 * RATE, trials)
    for fill, count in fired.items():
        assert count / trials <= upper, (fill, count / trials)
    assert sum(fired.values()) / (trials * len(fills)) <= 2 * RATE, fired
    if not METHODS[method].is_p_value:  # measured: 25-80% at fills of 25-50
        assert full_fired[50] / trials > 4 * RATE, full_fired[50] / trials


# ------------------------------------------------------------------------ determinism


def _profile(rows: int = 1500, seed: int = 3) -> ReferenceProfile:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, rows),
            "age": rng.normal(40, 10, rows).round(),
            "city": rng.choice(["berlin", "paris", "rome"], rows, p=[0.6, 0.3, 0.1]),
            "score": rng.random(rows),
        }
    )
    return build_profile(frame, ColumnsConfig(prediction="score"), "ref")


def test_the_ladder_is_deterministic_and_independent_of_threads_order_and_other_sizes() -> None:
    profile = _profile()
    options = DriftConfig(calibration=CalibrationConfig())
    first = calibrate(profile, options, 400)
    assert first == calibrate(profile, options, 400, parallel=False)
    reordered = dataclasses.replace(profile, columns=dict(reversed(list(profile.columns.items()))))
    assert calibrate(reordered, options, 400).columns == first.columns
    for entry in first.columns.values():
        assert [s.size for s in entry.sizes] == list(first.sizes)
    # a size's scores are its own: the same alone, in this ladder or in another one
    column, method = profile.columns["income"], METHODS["wasserstein"]
    alone = null_scores(column, method, 100, 50, 0)
    assert np.array_equal(alone, null_score_ladder(column, method, (25, 100, 400), 50, 0)[100])
    assert np.array_equal(alone, null_score_ladder(column, method, (100, 200), 50, 0)[100])
    # and the thresholds of a size do not depend on the ladder it came with
    shorter = calibrate(profile, options, 400, smallest=100)
    assert shorter.sizes == (100, 200, 400)
    assert shorter.columns["income"].sizes == first.columns["income"].sizes[-3:]


def test_the_ranked_shortcut_scores_as_a_plain_search_would() -> None:
    """``null_score_ladder`` attaches each pseudo-window's ranks in the pseudo-reference from
    the bootstrap counts instead of searching for them: the same scores, bit for bit."""
    profile = _profile()
    column = profile.columns["age"]  # rounded: many ties
    whole = column.data.n  # a window as large as the reference: resample's other path
    for name in ("wasserstein", "ks"):
        method = METHODS[name]
        ladder = null_score_ladder(column, method, (30, 300, whole), 20, 5)
        references = column_rng(5, "age")
        plain: dict[int, list[float]] = {30: [], 300: [], whole: []}
        windows = {size: window_rng(5, "age", size) for size in plain}
        for _ in range(20):
            pseudo = resample(column.data, column.data.n, references)
            for size, scores in plain.items():
                current = resample(column.data, size, windows[size])
                scores.append(method.score(pseudo, current, column.column_type))
        for size, scores in plain.items():
            assert np.array_equal(ladder[size], np.array(scores)), (name, size)


def test_small_sizes_a_method_cannot_score_end_the_columns_ladder() -> None:
    """Epps-Singleton is undefined on samples of fewer than 5 values: the sizes below are left
    out of the column's ladder, and windows that small keep the method's own threshold."""
    profile = _profile()
    options = DriftConfig(numerical={"method": "es"}, calibration=CalibrationConfig())
    calibration = calibrate(profile, options, 40, smallest=2)
    assert calibration.sizes == (2, 3, 5, 10, 20, 40)
    entry = calibration.columns["income"]
    assert entry.method == "es"
    assert entry.sizes[0].size >= 5
    assert entry.for_samples(3) is None
    assert entry.for_samples(40) is entry.full


# ----------------------------------------------------------- the report says which size


def test_the_report_shows_the_threshold_and_size_for_the_windows_samples() -> None:
    profile = _profile()
    options = DriftConfig(calibration=CalibrationConfig())
    calibration = calibrate(profile, options, 400)
    calibrated = dataclasses.replace(profile, calibration=calibration)
    frame = profile.to_frame().sample(90, replace=True, random_state=1).reset_index(drop=True)
    report = evaluate("m", calibrated, snapshot_from_frame(profile, frame, 100), options, 400)
    income = report.column("income")
    held = calibration.columns["income"].for_samples(90)
    assert held is not None
    assert held.size in (50, 100)  # between the sizes 50 and 100 of the ladder
    assert (income.threshold, income.false_alarm_rate) == (held.threshold, held.rate)
    assert income.calibration_size == held.size
    body = report.to_dict()["columns"]["income"]
    assert (body["threshold"], body["calibration_size"]) == (held.threshold, held.size)
    # snapshots: the size round-trips, and a column saved before it existed reads as None
    again = DriftReport.from_state(json.loads(json.dumps(report.to_state())))
    assert again == report
    assert again.column("income").calibration_size == held.size
    older = {k: v for k, v in income.to_state().items() if k != "calibration_size"}
    assert ColumnDrift.from_state(older).calibration_size is None
    assert ColumnDrift.from_state(older).calibrated


# --------------------------------------------------------- cached with the profile, format 2


def _old_format(profile: ReferenceProfile, calibration: Calibration, format_: str) -> bytes:
    """The profile as format 1 stored it: one threshold per column, no sizes."""
    archive = np.load(io.BytesIO(dump_profile(profile)), allow_pickle=False)
    header = json.loads(str(archive["header"]))
    header["format"] = format_
    header["calibration"] = {
        "false_alarm_rate": calibration.false_alarm_rate,
        "resamples": calibration.resamples,
        "seed": calibration.seed,
        "window_size": calibration.window_size,
        "columns": {
            name: {
                "method": c.method,
                "threshold": c.threshold,
                "rate": c.rate,
                "base_threshold": c.base_threshold,
                "base_rate": c.base_rate,
            }
            for name, c in calibration.columns.items()
        },
        "skipped": {},
    }
    arrays = {k: archive[k] for k in archive.files if k != "header"}
    buffer = io.BytesIO()
    np.savez(buffer, header=np.array(json.dumps(header)), **arrays)
    return buffer.getvalue()


def test_an_old_format_calibration_is_rejected_never_misread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    profile = _profile()
    calibration = calibrate(profile, DriftConfig(calibration=CalibrationConfig()), 200)
    with_sizes = dataclasses.replace(profile, calibration=calibration)
    assert load_profile(dump_profile(with_sizes)).calibration == calibration
    assert FORMAT == "drift-sidecar/profile/2"
    old = _old_format(with_sizes, calibration, "drift-sidecar/profile/1")
    with pytest.raises(ProfileFormatError, match="expected 'drift-sidecar/profile/2'"):
        load_profile(old)
    # the old layout under the new format's name is refused too, not half read
    with pytest.raises(ProfileFormatError, match="unreadable calibration"):
        load_profile(_old_format(with_sizes, calibration, FORMAT))

    # an old entry where the cache looks: ignored (logged), so the caller calibrates again
    config = settings_from_mapping(
        {
            "models": {
                "m": {
                    "reference": {"path": str(tmp_path / "ref.csv"), "cache_dir": str(tmp_path)},
                    "window": {"size": 200, "step": 50},
                    "drift": {"calibration": {}},
                }
            }
        }
    ).models["m"]
    cache = ProfileCache(tmp_path, "m", config)
    version = ReferenceVersion(id="v1", label="v1", description="ref.csv")
    cache.put(CachedEntry(version, 0.0), with_sizes)
    hit = cache.get("v1")
    assert hit is not None
    assert hit[1].calibration == calibration
    stem = next(cache.dir.glob("*.npz")).name
    (cache.dir / stem).write_bytes(old)
    with caplog.at_level(logging.WARNING, logger="drift.sources.cache"):
        assert cache.get("v1") is None
    assert "profile format" in caplog.text
    # and the key moves with the format and the ladder, so old entries are not even looked at
    assert cache_key(config) != cache_key(
        config.model_copy(update={"window": config.window.model_copy(update={"size": 100})})
    )
