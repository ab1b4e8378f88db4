"""Thresholds calibrated to the window: each column fires on clean traffic at a stated rate.

evidently's thresholds are fixed numbers (a distance of 0.1, a p-value of 0.05) whatever the
window size and the column, so the same clean traffic fires often on one column and never on
another. With ``drift.calibration`` the sidecar instead measures, once per reference, how each
column's score varies between two samples of the same distribution, and cuts there.

For each column and the method it is scored with (configured, or evidently's default choice),
``calibrate`` draws ``resamples`` seeded two-sample bootstraps from the reference: a
pseudo-reference of the reference's size and a pseudo-window of the window's size (minus the
column's missing share), both drawn with replacement from the reference's values, and scores
them with the same method. Both being samples of one distribution, the scores are what clean
traffic gives (resampling the reference itself would understate it by the reference's own
sampling noise, about a factor sqrt(2) for a window as large as the reference). With the
scores sorted from the most to the least drift-like, the threshold sits at the ``j``-th of
them, ``j = floor(rate (resamples + 1))``, and a column drifts only beyond it: a new clean
window is beyond the ``j``-th of ``resamples`` exchangeable scores with probability
``j / (resamples + 1) <= rate`` (fewer where scores tie, as discrete ones do). Distances cut
above the threshold, p-values below it, as their method says.

Pure and deterministic: numpy only, one generator per column seeded by the configured seed and
the column's name (so neither the column order nor threads change a threshold). The result is a
plain value, cached with the profile (``to_json`` / ``from_json``).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from drift.core.columns import CategoricalData, ColumnData, NumericData, map_columns
from drift.core.options import CalibrationConfig, DriftConfig
from drift.core.reference import ColumnProfile, ReferenceProfile
from drift.core.stattests import METHODS, Direction, Method, default_method

#: methods not calibrated: their permutation p-values take 100-1000 permutations per score
#: (and empirical_mmd (n + m)^2 floats), too slow to repeat ``resamples`` times at start-up
UNCALIBRATED_METHODS = frozenset({"TVD", "empirical_mmd"})
#: a column whose resamples give fewer than this share of defined scores is not calibrated
MIN_DEFINED_SHARE = 0.5


@dataclass(frozen=True)
class ColumnCalibration:
    """One column's calibrated threshold, for its method."""

    method: str
    threshold: float
    #: the expected false-alarm rate per evaluation at ``threshold``: j / (resamples + 1)
    rate: float
    #: the threshold the column has without calibration, and the share of the resamples that
    #: it calls drifted (its false-alarm rate per evaluation, as measured on the resamples)
    base_threshold: float
    base_rate: float


@dataclass(frozen=True)
class Calibration:
    """Calibrated thresholds of a profile's columns for one window size and setting."""

    false_alarm_rate: float
    resamples: int
    seed: int
    window_size: int
    columns: Mapping[str, ColumnCalibration]
    #: columns left at their configured/default threshold, with the reason
    skipped: Mapping[str, str]

    def matches(self, config: CalibrationConfig, window_size: int) -> bool:
        """Whether this calibration was made for these settings and this window size."""
        return (
            self.false_alarm_rate == config.false_alarm_rate
            and self.resamples == config.resamples
            and self.seed == config.seed
            and self.window_size == window_size
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "false_alarm_rate": self.false_alarm_rate,
            "resamples": self.resamples,
            "seed": self.seed,
            "window_size": self.window_size,
            "columns": {
                name: {
                    "method": c.method,
                    "threshold": c.threshold,
                    "rate": c.rate,
                    "base_threshold": c.base_threshold,
                    "base_rate": c.base_rate,
                }
                for name, c in self.columns.items()
            },
            "skipped": dict(self.skipped),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        """What ``to_json`` wrote; KeyError, TypeError or ValueError when it is not."""
        return cls(
            false_alarm_rate=float(data["false_alarm_rate"]),
            resamples=int(data["resamples"]),
            seed=int(data["seed"]),
            window_size=int(data["window_size"]),
            columns={
                str(name): ColumnCalibration(
                    method=str(c["method"]),
                    threshold=float(c["threshold"]),
                    rate=float(c["rate"]),
                    base_threshold=float(c["base_threshold"]),
                    base_rate=float(c["base_rate"]),
                )
                for name, c in data["columns"].items()
            },
            skipped={str(k): str(v) for k, v in data["skipped"].items()},
        )


# ------------------------------------------------------------------------------ resampling


def column_rng(seed: int, column: str) -> np.random.Generator:
    """The generator of one column: the same seed and name give the same draws anywhere."""
    return np.random.default_rng([seed, zlib.crc32(column.encode())])


def resample(data: ColumnData, size: int, rng: np.random.Generator) -> ColumnData:
    """``size`` values drawn with replacement from ``data``'s values (no missing values)."""
    if isinstance(data, NumericData):
        n = data.n
        if size == n:  # a bootstrap of the whole column: counts per value, no sort
            counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
            values = np.repeat(data.values, counts)
        else:
            values = data.values[np.sort(rng.integers(0, n, size=size))]
        return NumericData.from_sorted(values, 0)
    shares = data.frequencies / data.n
    counts = rng.multinomial(size, shares).astype(np.int64)
    counts.setflags(write=False)
    return CategoricalData(data.categories, counts, 0, data.numeric)


def null_scores(
    column: ColumnProfile, method: Method, window_size: int, resamples: int, seed: int
) -> np.ndarray:
    """The method's scores of ``resamples`` two-sample bootstraps of the column: a
    pseudo-reference of the reference's size against a pseudo-window of ``window_size`` values
    less the column's missing share (NaN where the method is undefined)."""
    data = column.data
    present = max(1, round(window_size * (1.0 - column.missing_share)))
    rng = column_rng(seed, column.name)
    scores = np.empty(resamples)
    for i in range(resamples):
        reference = resample(data, data.n, rng)
        window = resample(data, present, rng)
        scores[i] = method.score(reference, window, column.column_type)
    return scores


# ------------------------------------------------------------------------------ thresholds


def _drift_like(scores: np.ndarray, method: Method) -> np.ndarray:
    """Scores turned so that larger is more drift-like (p-values negated)."""
    return -scores if method.is_p_value else scores


def calibrated_threshold(scores: np.ndarray, method: Method, rate: float) -> tuple[float, float]:
    """The threshold beyond which only the ``j - 1`` most drift-like of the defined ``scores``
    lie (``j = floor(rate (len + 1))`` >= 1), and its expected rate ``j / (len + 1)``: a new
    score exchangeable with these is beyond the ``j``-th most drift-like one with that
    probability. ValueError when the scores are too few for the rate."""
    defined = scores[~np.isnan(scores)]
    j = math.floor(rate * (defined.size + 1))
    if j < 1:
        raise ValueError(f"{defined.size} scores cannot calibrate a rate of {rate}")
    ordered = np.sort(_drift_like(defined, method))[::-1]
    cut = float(ordered[j - 1])  # the j-th most drift-like: drift strictly beyond it
    direction = method.direction
    if direction is Direction.DISTANCE_GT:
        threshold = cut
    elif direction is Direction.DISTANCE_GE:
        threshold = float(np.nextafter(cut, math.inf))
    elif direction is Direction.P_LT:
        threshold = -cut
    else:  # P_LE
        threshold = float(np.nextafter(-cut, -math.inf))
    return threshold, j / (defined.size + 1)


def firing_rate(scores: np.ndarray, method: Method, threshold: float) -> float:
    """The share of the defined ``scores`` that ``method`` calls drifted at ``threshold``."""
    defined = scores[~np.isnan(scores)]
    if defined.size == 0:
        return math.nan
    fired = sum(method.drifted(float(s), threshold) for s in defined)
    return fired / int(defined.size)


def calibration_method(column: ColumnProfile, options: DriftConfig) -> tuple[Method, float]:
    """The method a column is scored with and its threshold without calibration: the
    configured ones, else evidently's default choice for a window like the reference (the
    engine's ``choose_method``, which also looks at the window's distinct values)."""
    # imported here: the engine imports this module to apply the thresholds
    from drift.core.engine import configured_choice

    name, threshold = configured_choice(column, options)
    if name is not None:
        method = METHODS[name]
    else:
        method = default_method(column.data, column.data, column.column_type)
    return method, threshold if threshold is not None else method.default_threshold


def calibrate_column(
    column: ColumnProfile, options: DriftConfig, config: CalibrationConfig, window_size: int
) -> ColumnCalibration | str:
    """The column's calibration, or why it has none."""
    method, base = calibration_method(column, options)
    if method.name in UNCALIBRATED_METHODS:
        return f"{method.name} is a permutation test, too slow to calibrate"
    if column.data.n == 0:
        return "no values in the reference"
    scores = null_scores(column, method, window_size, config.resamples, config.seed)
    defined = int(np.count_nonzero(~np.isnan(scores)))
    if defined < MIN_DEFINED_SHARE * scores.size:
        return f"{method.name} is undefined on {scores.size - defined} of {scores.size} resamples"
    try:
        threshold, rate = calibrated_threshold(scores, method, config.false_alarm_rate)
    except ValueError as exc:
        return str(exc)
    return ColumnCalibration(method.name, threshold, rate, base, firing_rate(scores, method, base))


def calibrate(
    profile: ReferenceProfile,
    options: DriftConfig,
    window_size: int,
    config: CalibrationConfig | None = None,
    parallel: bool = True,
) -> Calibration:
    """Calibrated thresholds for every column of ``profile`` (features and prediction) and
    windows of ``window_size`` samples; ``config`` defaults to ``options.calibration``. The
    columns are calibrated in the column threads (``map_columns``); the result does not
    depend on it."""
    config = config or options.calibration
    if config is None:
        raise ValueError("calibrate needs drift.calibration settings")
    columns = list(profile.columns.values())
    results = map_columns(
        lambda col: calibrate_column(col, options, config, window_size), columns, parallel
    )
    calibrated: dict[str, ColumnCalibration] = {}
    skipped: dict[str, str] = {}
    for col, result in zip(columns, results, strict=True):
        if isinstance(result, ColumnCalibration):
            calibrated[col.name] = result
        else:
            skipped[col.name] = result
    return Calibration(
        config.false_alarm_rate, config.resamples, config.seed, window_size, calibrated, skipped
    )


def applied(
    calibration: Calibration | None,
    column: ColumnProfile,
    method: Method,
    options: DriftConfig,
    current: ColumnData,
) -> ColumnCalibration | None:
    """The calibration the engine applies to a column scored with ``method`` on ``current``:
    none when the column has none, when the window holds fewer samples than the calibrated
    window size (a count window filling up after a start, a quiet time window: the thresholds
    state their rate for full windows only, so the method's own threshold applies meanwhile),
    when the evaluation chose another method than the calibration did (a default choice that
    changes with the window's values), or when the column's own threshold is configured
    (``columns.<name>.threshold`` wins)."""
    if calibration is None or current.n_total < calibration.window_size:
        return None
    entry = calibration.columns.get(column.name)
    if entry is None or entry.method != method.name:
        return None
    per_column = options.columns.get(column.name)
    if per_column is not None and per_column.threshold is not None:
        return None
    return entry


def dataset_false_alarm_rate(rates: Iterable[float], share_threshold: float) -> float:
    """The probability that at least ``share_threshold`` of the columns fire together when each
    fires independently at its rate (a Poisson-binomial tail). Columns of one model are
    rarely independent: correlated columns fire together more often than this says, so read
    it as the rate for unrelated columns."""
    probs = [min(1.0, max(0.0, p)) for p in rates]
    k = len(probs)
    if k == 0:
        return 0.0
    need = math.ceil(share_threshold * k - 1e-9)
    dist = np.zeros(k + 1)
    dist[0] = 1.0
    for p in probs:  # distribution of the number of columns firing
        dist[1:] = dist[1:] * (1 - p) + dist[:-1] * p
        dist[0] *= 1 - p
    return float(min(1.0, max(0.0, dist[max(need, 0) :].sum())))


__all__ = [
    "Calibration",
    "ColumnCalibration",
    "applied",
    "calibrate",
    "calibrated_threshold",
    "dataset_false_alarm_rate",
    "firing_rate",
    "null_scores",
    "resample",
]
