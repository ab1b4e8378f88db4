"""Permutation tests: TVD (total variation distance) and empirical_mmd (maximum mean
discrepancy), as evidently 0.7.23 defines them (``legacy/calculations/stattests/{tvd_stattest,
mmd_stattest, utils.permutation_test}.py``). Both return a permutation p-value; drift when it is
below the threshold.

Randomness and row order. Both tests shuffle the pooled rows, so their p-values depend on the
random draws and on the order of the rows; ours are a function of the values only:

* the rows are taken sorted: the reference's values (or categories, in ``sort_keys`` order),
  then the current ones;
* the draws are those of ``numpy.random.RandomState(0)`` (a private generator; numpy's global
  state is neither used nor changed).

evidently seeds numpy's *global* generator with 0 before TVD's draws (``np.random.seed(0)``)
and does not seed empirical_mmd's draws at all, so its empirical_mmd p-value changes from run to
run. Ours equal evidently's exactly when evidently gets the rows of each column sorted and, for
empirical_mmd, when numpy's global generator was seeded with 0 just before (the parity tests do
both). With rows in another order the p-values are other draws of the same permutation
distribution: they differ by Monte Carlo noise (standard error sqrt(p (1 - p) / permutations)).
"""

from __future__ import annotations

import math

import numpy as np

from drift.core.columns import ColumnData, ColumnType, FloatArray, IntArray
from drift.core.stattests.base import evidently_raw_keys, numeric_values, union_counts

SEED = 0
TVD_PERMUTATIONS = 1000
MMD_PERMUTATIONS = 100


def tvd(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Permutation p-value of the total variation distance between the category shares:
    the share of 1000 random splits of the pooled rows (reference size / current size) whose
    distance is at least the observed one.

    Ties between a split's distance and the observed one are frequent (both are sums of a few
    count ratios), so exact parity needs evidently's rounding too: evidently sums over a Python
    set of the raw values, and so do we (``evidently_raw_keys``), for the observed rows and for
    every split. With string categories that order depends on Python's per-process string hash
    seed (``PYTHONHASHSEED``), in evidently as here: across processes the p-value can move by a
    few permutations (0.001 each) when a split ties the observed distance.
    """
    keys, r_float, c_float = union_counts(ref, cur)
    r, c = r_float.astype(np.int64), c_float.astype(np.int64)
    n_ref, n_cur = int(r.sum()), int(c.sum())
    codes = np.arange(len(keys))
    raw = evidently_raw_keys(keys, ref)
    code_of = dict(zip(raw, codes.tolist(), strict=True))

    def distance(ref_codes: IntArray, cur_codes: IntArray, r: IntArray, c: IntArray) -> float:
        # evidently: keys = list(set(ref.unique()) | set(cur.unique())), then
        # 0.5 * sum(|ref_counts / n_ref - cur_counts / n_cur|) in that order
        order = [code_of[k] for k in {raw[i] for i in ref_codes} | {raw[i] for i in cur_codes}]
        return float(0.5 * np.sum(np.abs(r[order] / n_ref - c[order] / n_cur)))

    observed = distance(codes[r > 0], codes[c > 0], r, c)
    pooled = np.concatenate((np.repeat(codes, r), np.repeat(codes, c)))
    total = r + c
    # evidently's current sample of a split is Counter(pooled) - Counter(split reference): its
    # categories come in order of first appearance in the pooled rows
    pooled_order = np.argsort(np.unique(pooled, return_index=True)[1])
    rng = np.random.RandomState(SEED)
    distances = np.empty(TVD_PERMUTATIONS)
    for i in range(TVD_PERMUTATIONS):
        # np.random.choice(pooled, n_ref, replace=False) draws permutation(len(pooled))[:n_ref]
        split = pooled[rng.permutation(pooled.size)[:n_ref]]
        split_r = np.bincount(split, minlength=codes.size)
        split_c = total - split_r
        present, first = np.unique(split, return_index=True)
        split_ref_codes = present[np.argsort(first)]
        split_cur_codes = pooled_order[split_c[pooled_order] > 0]
        distances[i] = distance(split_ref_codes, split_cur_codes, split_r, split_c)
    return int(np.count_nonzero(observed <= np.abs(distances))) / TVD_PERMUTATIONS


def empirical_mmd(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Permutation p-value of the maximum mean discrepancy with a Gaussian (RBF) kernel: the
    share of 100 random splits of the pooled values whose MMD is at least the observed one.

    The kernel width is the median heuristic on the reference (sigma = sqrt(median / 2) of the
    reference's squared pairwise distances, nearest rank; sqrt(0.5) when that is 0). NaN when a
    sample has fewer than two values (evidently divides by zero).

    Cost: the pooled kernel matrix holds (n + m)^2 floats (8 MB for 1,000 values, 800 MB for
    10,000) and each permutation copies it, as in evidently.
    """
    x = numeric_values(ref).reshape(-1, 1)
    y = numeric_values(cur).reshape(-1, 1)
    if x.shape[0] < 2 or y.shape[0] < 2:
        return math.nan
    kernel = _kernel_matrix(x, y)
    # evidently: kernel - np.diag(np.diagonal(kernel)); the same numbers without a third matrix
    np.fill_diagonal(kernel, 0.0)
    n_cur = y.shape[0]
    observed = _mmd(kernel, n_cur)
    rng = np.random.RandomState(SEED)
    permuted = np.empty(MMD_PERMUTATIONS)
    for i in range(MMD_PERMUTATIONS):
        index = rng.permutation(kernel.shape[0])
        # evidently: kernel[index][:, index], the same matrix with one copy less
        permuted[i] = _mmd(kernel[np.ix_(index, index)], n_cur)
    return float((observed <= permuted).mean())


def _squared_distances(x: FloatArray, y: FloatArray) -> FloatArray:
    """Squared pairwise distances, computed as evidently does: y^2 - 2 x y + x^2."""
    dist: FloatArray = (y**2).T - 2 * np.dot(x, y.T) + x**2
    return dist


def _rbf(x: FloatArray, y: FloatArray, sigma: float | None) -> tuple[FloatArray, float]:
    dist = _squared_distances(x, y)
    if sigma is None:
        median = np.percentile(dist.flatten(), 50, method="nearest")
        sigma = float((0.5 * median) ** 0.5)
        if sigma == 0:
            sigma = (0.5 * 1) ** 0.5
    gamma = 1.0 / (2.0 * sigma**2)
    # a tiny width (sigma ~1e-150) overflows -gamma * dist to -inf: exp gives 0, its limit
    # and evidently's value (numpy only warns there)
    with np.errstate(over="ignore"):
        kernel: FloatArray = np.exp(-gamma * dist)
    return kernel, sigma


def _kernel_matrix(x: FloatArray, y: FloatArray) -> FloatArray:
    """[[K(x, x), K(x, y)], [K(y, x), K(y, y)]] with the reference's median-heuristic width."""
    n = x.shape[0]
    kxx, sigma = _rbf(x, x, None)
    kxy, _ = _rbf(x, y, sigma)
    kyy, _ = _rbf(y, y, sigma)
    kernel = np.empty((n + y.shape[0],) * 2)
    kernel[:n, :n] = kxx
    kernel[:n, n:] = kxy
    kernel[n:, :n] = kxy.T
    kernel[n:, n:] = kyy
    return kernel


def _mmd(kernel: FloatArray, n_cur: int) -> float:
    """Unbiased MMD^2 of the first rows/columns (reference) against the last ``n_cur``
    (current), diagonal already zeroed; evidently's expression and summation order."""
    n_ref = kernel.shape[0] - n_cur
    kxx = kernel[:-n_cur, :-n_cur]
    kyy = kernel[-n_cur:, -n_cur:]
    kxy = kernel[-n_cur:, :-n_cur]
    a = 1 / (n_ref * (n_ref - 1))
    b = 1 / (n_cur * (n_cur - 1))
    return float(a * kxx.sum() + b * kyy.sum() - 2.0 * kxy.mean())
