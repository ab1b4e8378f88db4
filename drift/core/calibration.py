"""Thresholds calibrated to the window: each column fires on clean traffic at a stated rate,
whatever the window's fill.

evidently's thresholds are fixed numbers (a distance of 0.1, a p-value of 0.05) whatever the
window size and the column, so the same clean traffic fires often on one column and never on
another. With ``drift.calibration`` the sidecar instead measures, once per reference, how each
column's score varies between two samples of the same distribution, and cuts there.

For each column and the method it is scored with (configured, or evidently's default choice),
``calibrate`` draws ``resamples`` seeded two-sample bootstraps from the reference: a
pseudo-reference of the reference's size and a pseudo-window of a window's size (minus the
column's missing share), both drawn with replacement from the reference's values, and scores
them with the same method. Both being samples of one distribution, the scores are what clean
traffic gives (resampling the reference itself would understate it by the reference's own
sampling noise, about a factor sqrt(2) for a window as large as the reference). With the
scores sorted from the most to the least drift-like, the threshold sits at the ``j``-th of
them, ``j = floor(rate (resamples + 1))``, and a column drifts only beyond it: a new clean
window is beyond the ``j``-th of ``resamples`` exchangeable scores with probability
``j / (resamples + 1) <= rate`` (fewer where scores tie, as discrete ones do). Distances cut
above the threshold, p-values below it, as their method says.

**Window sizes.** The window that is judged often holds fewer samples than ``window.size``: a
count window filling up (first judged at ``window.first_evaluation_after``), a time window
(``window.duration_seconds``) holding what arrived. A distance spreads more the fewer values
the window has (about as sqrt(1/n + 1/N) for n window and N reference values), so a threshold
calibrated at ``window.size`` fires far beyond its rate on a half-full window; a p-value's null
distribution hardly moves with n, but discrete scores and tests that take the reference counts
as exact (chisquare) still move it. So each column is calibrated on a ladder of sizes
(``calibration_sizes``): ``window.size`` and its halves, ceil(size / 2^k), at most
``MAX_SIZES`` sizes (down to size / 32) and none under ``MIN_LADDER_SIZE`` samples, every one
with all ``resamples``, so each states its own j / (resamples + 1). ``calibrate(smallest=)``
makes a given size (e.g. ``window.first_evaluation_after``) the smallest; the service
calibrates with the default. A window of n samples (its ``n_total``, as ``window.size`` counts
them) is held to (``ColumnCalibration.for_samples``):

- n >= ``window.size``: the full window's threshold; n on a ladder size: that size's;
- n between two ladder sizes a < n < b: the more conservative of their two thresholds, the one
  that fires less (the larger distance, the smaller p-value). Where a score's null distribution
  moves monotonically with n, either way (distances shrink with n, chisquare turns liberal with
  n, exact tests stay put), its quantile at n lies between those at a and b, so the more
  conservative one fires at n at most at its stated rate, without knowing the method's
  direction. The price is power between sizes only: a distance threshold up to sqrt(2) looser
  than one calibrated at n itself (n << N), never a rate above the target;
- n below the smallest size (or below the smallest size the column could be calibrated at,
  e.g. a method undefined on most small resamples): not calibrated, the method's own threshold.

Interpolating between sizes (linear in 1/sqrt(n)) would keep more power and is conservative
for a quantile shaped like (1/n + 1/N)^p, p >= 1/2 (convex in 1/sqrt(n)), but that shape is
asymptotic: discrete scores (few categories, small windows) step with n, and p-values have no
known direction, so it could fire above the rate between sizes; the endpoint rule needs only
monotonicity. A finer ladder would narrow the gap at a linear cost in sizes.

**Cost.** For a large reference most of a resample's work is the pseudo-reference (a bootstrap
of all N values and, for ``wasserstein``, its prefix sums and the pseudo-windows' ranks in it,
taken from the bootstrap counts instead of searched): each is drawn once per resample and
scored against one pseudo-window of every size, so the ladder adds small pseudo-windows and
their scores only. Measured (2 shared cores, 200 resamples), one size -> the ladder: a
100k-row reference of 25 columns 5.3-5.6 s -> 7.1-7.6 s at window 1000 and 6.2-6.5 s ->
9.1-11.1 s at 10,000. For a small reference every score costs about the same whatever the
sizes, so each size costs about as much as the full one: 284 rows of 30 ks columns at window
100 (4 sizes) 2.8-3.3 s -> 11.3-11.6 s, most of it scipy's ``nan_policy`` wrapper around
``ks_2samp``. Fewer resamples at the small sizes would save at most half the extra, for noisier
thresholds, so every size keeps all ``resamples``; the result is cached with the profile
(docs/alert-quality.md, "Start-up cost").

Pure and deterministic: numpy only. A column's pseudo-references come from one generator
seeded by the configured seed and the column's name, its pseudo-windows of each size from one
seeded by the seed, the name and the size: neither the column order, nor threads, nor the other
sizes of the ladder change a threshold. The result is a plain value, cached with the profile
(``to_json`` / ``from_json``).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
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
#: the sizes of the ladder: ``window.size`` and its halves, at most this many
MAX_SIZES = 6
#: no size of the ladder is smaller than this (unless ``calibrate(smallest=)`` says so)
MIN_LADDER_SIZE = 10


def calibration_sizes(window_size: int, smallest: int | None = None) -> tuple[int, ...]:
    """The window sizes a column is calibrated at, ascending: ``window_size`` and its halves
    ceil(size / 2^k) while at least ``smallest`` (default ``MIN_LADDER_SIZE``), at most
    ``MAX_SIZES`` of them; a ``smallest`` given (e.g. ``window.first_evaluation_after``) is a
    size itself when the cap allows. It is clipped to 1..``window_size``."""
    if window_size < 1:
        raise ValueError(f"window size {window_size} is not positive")
    floor = min(max(1, MIN_LADDER_SIZE if smallest is None else smallest), window_size)
    sizes = [window_size]
    while len(sizes) < MAX_SIZES and math.ceil(sizes[-1] / 2) >= floor:
        sizes.append(math.ceil(sizes[-1] / 2))
    if smallest is not None and sizes[-1] > floor and len(sizes) < MAX_SIZES:
        sizes.append(floor)
    return tuple(reversed(sizes))


@dataclass(frozen=True)
class SizeCalibration:
    """A column's calibrated threshold for windows of ``size`` samples."""

    size: int
    threshold: float
    #: the expected false-alarm rate per evaluation at ``threshold``: j / (resamples + 1)
    rate: float
    #: the share of these resamples that the column's uncalibrated threshold calls drifted
    #: (its false-alarm rate per evaluation at this size, as measured on the resamples)
    base_rate: float


@dataclass(frozen=True)
class ColumnCalibration:
    """One column's calibrated thresholds, for its method, at each size of the ladder that it
    could be calibrated at (ascending; the last is the full window's)."""

    method: str
    #: the threshold the column has without calibration
    base_threshold: float
    sizes: tuple[SizeCalibration, ...]

    def __post_init__(self) -> None:
        order = [s.size for s in self.sizes]
        if not order or order != sorted(set(order)):
            raise ValueError(f"calibrated sizes {order} are not ascending and distinct")

    @property
    def full(self) -> SizeCalibration:
        """The full window's calibration (the largest size)."""
        return self.sizes[-1]

    @property
    def threshold(self) -> float:
        """The full window's threshold."""
        return self.full.threshold

    @property
    def rate(self) -> float:
        """The full window's expected false-alarm rate."""
        return self.full.rate

    @property
    def base_rate(self) -> float:
        """The uncalibrated threshold's false-alarm rate at the full window."""
        return self.full.base_rate

    def for_samples(self, samples: int) -> SizeCalibration | None:
        """The calibration a window of ``samples`` samples is held to: the largest size's from
        it up, a size's own on it, the more conservative (firing less) of the two sizes around
        it between sizes, none below the smallest size (module docstring)."""
        lower: SizeCalibration | None = None
        upper: SizeCalibration | None = None
        for entry in self.sizes:
            if entry.size <= samples:
                lower = entry
            elif upper is None:
                upper = entry
        if lower is None or upper is None or lower.size == samples:
            return lower
        if METHODS[self.method].is_p_value:  # the smaller p-value threshold fires less
            return upper if upper.threshold < lower.threshold else lower
        return upper if upper.threshold > lower.threshold else lower


@dataclass(frozen=True)
class Calibration:
    """Calibrated thresholds of a profile's columns for a window size (and the smaller sizes of
    its ladder) and setting."""

    false_alarm_rate: float
    resamples: int
    seed: int
    window_size: int
    #: the ladder of window sizes calibrated (``calibration_sizes``), ascending
    sizes: tuple[int, ...]
    columns: Mapping[str, ColumnCalibration]
    #: columns left at their configured/default threshold, with the reason
    skipped: Mapping[str, str]

    def matches(
        self, config: CalibrationConfig, window_size: int, smallest: int | None = None
    ) -> bool:
        """Whether this calibration was made for these settings and this window size (and the
        ladder ``calibration_sizes(window_size, smallest)``)."""
        return (
            self.false_alarm_rate == config.false_alarm_rate
            and self.resamples == config.resamples
            and self.seed == config.seed
            and self.window_size == window_size
            and self.sizes == calibration_sizes(window_size, smallest)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "false_alarm_rate": self.false_alarm_rate,
            "resamples": self.resamples,
            "seed": self.seed,
            "window_size": self.window_size,
            "sizes": list(self.sizes),
            "columns": {
                name: {
                    "method": c.method,
                    "base_threshold": c.base_threshold,
                    "sizes": [
                        {
                            "size": s.size,
                            "threshold": s.threshold,
                            "rate": s.rate,
                            "base_rate": s.base_rate,
                        }
                        for s in c.sizes
                    ],
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
            sizes=tuple(int(size) for size in data["sizes"]),
            columns={
                str(name): ColumnCalibration(
                    method=str(c["method"]),
                    base_threshold=float(c["base_threshold"]),
                    sizes=tuple(
                        SizeCalibration(
                            size=int(s["size"]),
                            threshold=float(s["threshold"]),
                            rate=float(s["rate"]),
                            base_rate=float(s["base_rate"]),
                        )
                        for s in c["sizes"]
                    ),
                )
                for name, c in data["columns"].items()
            },
            skipped={str(k): str(v) for k, v in data["skipped"].items()},
        )


# ------------------------------------------------------------------------------ resampling


def column_rng(seed: int, column: str) -> np.random.Generator:
    """The generator of a column's pseudo-references: the same seed and name give the same
    draws anywhere."""
    return np.random.default_rng([seed, zlib.crc32(column.encode())])


def window_rng(seed: int, column: str, size: int) -> np.random.Generator:
    """The generator of a column's pseudo-windows of one size: one per size, so a size's
    draws do not depend on the other sizes of the ladder."""
    return np.random.default_rng([seed, zlib.crc32(column.encode()), size])


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


def _bootstrap_reference(
    data: NumericData, rng: np.random.Generator
) -> tuple[NumericData, np.ndarray]:
    """``resample(data, data.n, rng)`` (the same draws), and how many of its values are <= each
    value of ``data``'s (at the last of a run of equal values: the cumulative counts)."""
    counts = np.bincount(rng.integers(0, data.n, size=data.n), minlength=data.n)
    values = np.repeat(data.values, counts)
    return NumericData.from_sorted(values, 0), np.cumsum(counts)


def _ranked_window(
    data: NumericData,
    size: int,
    rng: np.random.Generator,
    reference: NumericData,
    at_most: np.ndarray,
    last: np.ndarray,
) -> NumericData:
    """``resample(data, size, rng)`` (the same draws) with its ranks in the pseudo-reference
    attached: a value drawn at position i of ``data`` has ``at_most[last[i]]`` pseudo-reference
    values <= it (``last[i]``: the last position of its run of equal values), an O(size)
    gather instead of the O(size log n) search ``wasserstein`` would do per score."""
    if size == data.n:  # as ``resample``: a bootstrap of the whole column, counts per value
        counts = np.bincount(rng.integers(0, data.n, size=size), minlength=data.n)
        positions = np.repeat(np.arange(data.n), counts)
    else:
        positions = np.sort(rng.integers(0, data.n, size=size))
    ranks = at_most[last[positions]]
    return NumericData.from_sorted(data.values[positions], 0, ranks, reference.values)


def null_score_ladder(
    column: ColumnProfile, method: Method, sizes: Sequence[int], resamples: int, seed: int
) -> dict[int, np.ndarray]:
    """For each window size, the method's scores of ``resamples`` two-sample bootstraps of the
    column: a pseudo-reference of the reference's size against a pseudo-window of that many
    values less the column's missing share (NaN where the method is undefined). The i-th
    pseudo-reference is shared by the sizes (it is most of the work); each size's scores are
    still ``resamples`` independent pairs, and the same whatever the other sizes are."""
    data = column.data
    reference_rng = column_rng(seed, column.name)
    windows = [
        (
            size,
            max(1, round(size * (1.0 - column.missing_share))),
            window_rng(seed, column.name, size),
        )
        for size in sizes
    ]
    scores = {size: np.empty(resamples) for size in sizes}
    if isinstance(data, NumericData):
        last = np.searchsorted(data.values, data.values, side="right") - 1
        for i in range(resamples):
            reference, at_most = _bootstrap_reference(data, reference_rng)
            for size, present, rng in windows:
                window = _ranked_window(data, present, rng, reference, at_most, last)
                scores[size][i] = method.score(reference, window, column.column_type)
        return scores
    for i in range(resamples):
        pseudo = resample(data, data.n, reference_rng)
        for size, present, rng in windows:
            current = resample(data, present, rng)
            scores[size][i] = method.score(pseudo, current, column.column_type)
    return scores


def null_scores(
    column: ColumnProfile, method: Method, window_size: int, resamples: int, seed: int
) -> np.ndarray:
    """The method's scores of ``resamples`` two-sample bootstraps of the column for windows of
    ``window_size`` samples (``null_score_ladder`` of that one size)."""
    return null_score_ladder(column, method, (window_size,), resamples, seed)[window_size]


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


def size_calibration(
    size: int, scores: np.ndarray, method: Method, base: float, rate: float
) -> SizeCalibration | str:
    """The calibration of one size from its null ``scores``, or why it has none."""
    defined = int(np.count_nonzero(~np.isnan(scores)))
    if defined < MIN_DEFINED_SHARE * scores.size:
        return f"{method.name} is undefined on {scores.size - defined} of {scores.size} resamples"
    try:
        threshold, expected = calibrated_threshold(scores, method, rate)
    except ValueError as exc:
        return str(exc)
    return SizeCalibration(size, threshold, expected, firing_rate(scores, method, base))


def calibrate_column(
    column: ColumnProfile, options: DriftConfig, config: CalibrationConfig, sizes: Sequence[int]
) -> ColumnCalibration | str:
    """The column's calibration at the ``sizes`` (ascending), or why it has none. A column is
    calibrated when the largest size is; going down, the first size that cannot be (a method
    undefined on most small resamples) ends its ladder."""
    method, base = calibration_method(column, options)
    if method.name in UNCALIBRATED_METHODS:
        return f"{method.name} is a permutation test, too slow to calibrate"
    if column.data.n == 0:
        return "no values in the reference"
    ladder = null_score_ladder(column, method, sizes, config.resamples, config.seed)
    calibrated: list[SizeCalibration] = []
    for size in sorted(sizes, reverse=True):
        result = size_calibration(size, ladder[size], method, base, config.false_alarm_rate)
        if isinstance(result, str):
            if not calibrated:
                return result
            break
        calibrated.append(result)
    return ColumnCalibration(method.name, base, tuple(reversed(calibrated)))


def calibrate(
    profile: ReferenceProfile,
    options: DriftConfig,
    window_size: int,
    config: CalibrationConfig | None = None,
    parallel: bool = True,
    smallest: int | None = None,
) -> Calibration:
    """Calibrated thresholds for every column of ``profile`` (features and prediction) and
    windows of ``window_size`` samples and the smaller sizes of its ladder
    (``calibration_sizes(window_size, smallest)``); ``config`` defaults to
    ``options.calibration``. The columns are calibrated in the column threads
    (``map_columns``); the result does not depend on it."""
    config = config or options.calibration
    if config is None:
        raise ValueError("calibrate needs drift.calibration settings")
    sizes = calibration_sizes(window_size, smallest)
    columns = list(profile.columns.values())
    results = map_columns(
        lambda col: calibrate_column(col, options, config, sizes), columns, parallel
    )
    calibrated: dict[str, ColumnCalibration] = {}
    skipped: dict[str, str] = {}
    for col, result in zip(columns, results, strict=True):
        if isinstance(result, ColumnCalibration):
            calibrated[col.name] = result
        else:
            skipped[col.name] = result
    return Calibration(
        config.false_alarm_rate,
        config.resamples,
        config.seed,
        window_size,
        sizes,
        calibrated,
        skipped,
    )


def applied(
    calibration: Calibration | None,
    column: ColumnProfile,
    method: Method,
    options: DriftConfig,
    current: ColumnData,
) -> SizeCalibration | None:
    """The calibration the engine applies to a column scored with ``method`` on ``current``:
    the one for the window's samples (``ColumnCalibration.for_samples`` of its ``n_total``: a
    count window filling up after a start, a quiet time window get the threshold of a smaller
    size). None when the column has none, when the window holds fewer samples than the
    column's smallest calibrated size (the method's own threshold applies), when the
    evaluation chose another method than the calibration did (a default choice that changes
    with the window's values), or when the column's own threshold is configured
    (``columns.<name>.threshold`` wins)."""
    if calibration is None:
        return None
    entry = calibration.columns.get(column.name)
    if entry is None or entry.method != method.name:
        return None
    per_column = options.columns.get(column.name)
    if per_column is not None and per_column.threshold is not None:
        return None
    return entry.for_samples(current.n_total)


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
    "SizeCalibration",
    "applied",
    "calibrate",
    "calibrated_threshold",
    "calibration_sizes",
    "dataset_false_alarm_rate",
    "firing_rate",
    "null_score_ladder",
    "null_scores",
    "resample",
]
