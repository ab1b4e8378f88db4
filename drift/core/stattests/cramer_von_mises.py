"""The two-sample Cramér-von Mises test exactly as evidently 0.7.23 computes it.

evidently ships its own copy (``legacy/calculations/stattests/cramer_von_mises_stattest.py``,
Apache-2.0) of an older ``scipy.stats.cramervonmises_2samp`` (BSD-3-Clause); this is that code
with types, so that the p-values are evidently's bit for bit. Two differences from current
scipy, kept on purpose:

* exact p-value (both samples <= 20 values): evidently computes the number of combinations as a
  float, so when it exceeds the statistic's bound the frequency table is a float array of the
  smallest sufficient float type (often float32), and the p-value is off by up to ~1e-7
  relative compared with scipy's integer table;
* when the table is an unsigned integer array instead, evidently's in-place addition fails
  under numpy 2 (``Cannot cast ufunc 'add' output from dtype('int64')``); here the addend is
  cast to the table's type first, as scipy does, which gives scipy's p-value.

One difference from evidently: its float32 table can sum to slightly more than the number of
combinations, giving p = 1.0000001 (e.g. a constant column, 20 values against 19); the p-value
is capped at 1 here. It only changes p-values above 1, which never mean drift.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from drift.core.columns import FloatArray


def cvm_2samp(x: FloatArray, y: FloatArray) -> float:
    """p-value of the two-sample test, method "auto" (exact if both samples have <= 20 values,
    else asymptotic). Both samples need at least two values."""
    from scipy.stats import rankdata

    xa, ya = np.sort(x), np.sort(y)
    nx, ny = len(xa), len(ya)
    exact = max(nx, ny) <= 20
    # ranks in the pooled sample, midranks for ties
    r = rankdata(np.concatenate([xa, ya]), method="average")
    rx, ry = r[:nx], r[nx:]
    u = nx * np.sum((rx - np.arange(1, nx + 1)) ** 2)
    u += ny * np.sum((ry - np.arange(1, ny + 1)) ** 2)
    k, n = nx * ny, nx + ny
    t = u / (k * n) - (4 * k - 1) / (6 * n)
    if exact:
        return min(float(_pval_cvm_2samp_exact(u, nx, ny)), 1.0)
    et = (1 + 1 / n) / 6
    vt = (n + 1.0) * (4 * k * n - 3 * (nx**2 + ny**2) - 2 * k)
    vt = vt / (45 * n**2 * 4 * k)
    tn = 1 / 6 + (t - et) / np.sqrt(45 * vt)
    # if tn < 0.003, the _cdf_cvm_inf(tn) < 1.28*1e-18, return 1.0 directly
    if tn < 0.003:
        return 1.0
    return float(max(0, 1.0 - _cdf_cvm_inf(tn)))


def _pval_cvm_2samp_exact(s: Any, m: int, n: int) -> np.float64:
    """Exact p-value for the statistic U = ``s`` of samples of sizes m and n (Xiao, Gordon and
    Yakovlev 2006, Algorithm 1; Anderson 1962, eq. 9)."""
    lcm = np.lcm(m, n)
    a = lcm // m
    b = lcm // n
    mn = m * n
    zeta = lcm**2 * (m + n) * (6 * s - mn * (4 * mn - 1)) // (6 * mn**2)
    zeta_bound = lcm**2 * (m + n)  # bound elements in row 1
    combinations = math.factorial(m + n) / (math.factorial(m) * math.factorial(n))
    max_gs = max(zeta_bound, combinations)
    dtype = np.min_scalar_type(max_gs)
    # the frequency table of g_{u, v}^+
    gs = [np.array([[0], [1]], dtype=dtype)] + [np.empty((2, 0), dtype=dtype) for _ in range(m)]
    for u in range(n + 1):
        next_gs = []
        tmp = np.empty((2, 0), dtype=dtype)
        for v, g in enumerate(gs):
            vi, i0, i1 = np.intersect1d(tmp[0], g[0], return_indices=True)
            tmp = np.concatenate(
                [np.stack([vi, tmp[1, i0] + g[1, i1]]), np.delete(tmp, i0, 1), np.delete(g, i1, 1)],
                1,
            )
            step = (a * v - b * u) ** 2
            # evidently adds the int64 step as is: fine for a float table (same rounding kept),
            # a casting error for an unsigned one, where scipy casts first
            tmp[0] += step if dtype.kind == "f" else step.astype(dtype)
            next_gs.append(tmp)
        gs = next_gs
    value, freq = gs[m]
    return np.float64(np.sum(freq[value >= zeta]) / combinations)


def _cdf_cvm_inf(x: Any) -> Any:
    """CDF of the Cramér-von Mises statistic for infinite sample size (Csörgő and Faraway 1996,
    eq. 1.2), adding terms until they are below 1e-7."""
    from scipy.special import gammaln, kv

    x = np.asarray(x)

    def term(x: Any, k: int) -> Any:
        u = np.exp(gammaln(k + 0.5) - gammaln(k + 1)) / (np.pi**1.5 * np.sqrt(x))
        y = 4 * k + 1
        q = y**2 / (16 * x)
        b = kv(0.25, q)
        return u * np.sqrt(y) * np.exp(-q) * b

    tot = np.zeros_like(x, dtype="float")
    cond = np.ones_like(x, dtype="bool")
    k = 0
    while np.any(cond):
        z = term(x[cond], k)
        tot[cond] = tot[cond] + z
        cond[cond] = np.abs(z) >= 1e-7
        k += 1
    return tot
