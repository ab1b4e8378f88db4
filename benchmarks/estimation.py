"""Per-window cost of our CBPE, DLE and reconstruction error against NannyML 0.13's
``estimate`` / ``calculate`` on the same chunk, in one process, on NannyML's synthetic data sets.

Run: ``.venv/bin/python benchmarks/estimation.py [--repeats N] [--chunk N]``. Prints a markdown
table (fit once on the reference, then one window = one chunk of ``--chunk`` rows: median of
``--repeats`` runs, min in brackets) with the ratio NannyML / ours, and checks that both sides
give the same estimate for the timed chunk (exit status 1 if not). The domain classifier runs
on a 5,000-row reference and a 1,000-row window (NannyML's fit is its reference-chunk scores;
ours has none).

What is timed, per window: ours, ``model.estimate(predictions, scores)`` (CBPE),
``model.estimate(frame)`` (DLE), ``model.score(frame)`` (reconstruction), as the service calls
them; NannyML, ``estimator.estimate(chunk)`` / ``calculator.calculate(chunk)`` on a frame of
exactly one chunk (its calibration of the chunk, chunking and result table included: what a user
of NannyML runs per batch). LightGBM runs on one thread on both sides. Both sides are set up by
``tests/core/nannyml_peer.py``, as in the parity tests (``tests/core/test_parity_nannyml.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drift.core.multivariate import classify_domain  # noqa: E402
from tests.core import nannyml_peer as setup  # noqa: E402

#: one row of the table: what, fit NannyML, fit ours, per window NannyML (median, min), per
#: window ours (median, min), the same estimate
Result = tuple[str, float, float, float, float, float, float, bool]


def timed(run: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """(median, min) seconds of ``repeats`` runs after one untimed warm-up; the last result."""
    result = run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times), result


def once(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


class Row:
    def __init__(self, name: str) -> None:
        self.name = name
        self.cells: dict[str, str] = {}


def cbpe(name: str, case: setup.Classification, size: int, repeats: int) -> Result:
    ref, ana, _ = case.load()
    chunk = ana.iloc[-size:].reset_index(drop=True)  # the drifted end of the analysis period
    fit_theirs, theirs = once(lambda: case.nannyml_cbpe(ref, size))
    fit_ours, ours = once(lambda: case.our_cbpe(ref, size))
    med_t, min_t, table = timed(lambda: theirs.estimate(chunk).filter(period="analysis"), repeats)
    pred, scores = chunk["y_pred"].to_numpy(), chunk[case.score_columns].to_numpy()
    med_o, min_o, estimates = timed(lambda: ours.estimate(pred, scores), repeats)
    same = all(abs(e.value - table.to_df()[(e.metric, "value")].iloc[0]) < 1e-12 for e in estimates)
    return (name, fit_theirs, fit_ours, med_t, min_t, med_o, min_o, same)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=5000)
    args = parser.parse_args()
    size, repeats = args.chunk, args.repeats
    rows = [
        cbpe("CBPE binary (6 metrics)", setup.BINARY, size, repeats),
        cbpe("CBPE multiclass (6 metrics)", setup.MULTICLASS, size, repeats),
    ]

    # DLE ---------------------------------------------------------------------------------------
    ref, ana, _ = setup.nml.load_synthetic_car_price_dataset()
    chunk = ana.iloc[-size:].reset_index(drop=True)
    fit_theirs, theirs = once(lambda: setup.nannyml_dle(ref, size))
    fit_ours, ours = once(lambda: setup.our_dle(ref, size))
    window = chunk.drop(columns="y_true", errors="ignore")
    med_t, min_t, table = timed(lambda: theirs.estimate(window).filter(period="analysis"), repeats)
    med_o, min_o, estimates = timed(lambda: ours.estimate(window), repeats)
    same = all(
        abs(e.value / table.to_df()[(e.metric, "value")].iloc[0] - 1) < 1e-9 for e in estimates
    )
    rows.append(("DLE (MAE, MSE, RMSE)", fit_theirs, fit_ours, med_t, min_t, med_o, min_o, same))

    # reconstruction error ----------------------------------------------------------------------
    ref, ana, _ = setup.BINARY.load()
    chunk = ana.iloc[-size:].reset_index(drop=True)
    features = setup.BINARY_FEATURES
    fit_theirs, theirs = once(lambda: setup.nannyml_reconstruction(ref, features, size))
    fit_ours, ours = once(lambda: setup.our_reconstruction(ref, features, size))
    med_t, min_t, table = timed(lambda: theirs.calculate(chunk).filter(period="analysis"), repeats)
    med_o, min_o, score = timed(lambda: ours.score(chunk), repeats)
    expected = table.to_df()[("reconstruction_error", "value")].iloc[0]
    same = abs(score.value / expected - 1) < 1e-9
    rows.append(("Reconstruction error", fit_theirs, fit_ours, med_t, min_t, med_o, min_o, same))

    # domain classifier: a 5,000-row reference (the sidecar's default sample), 1,000-row window
    small_ref = ref.iloc[:5000]
    small = ana.iloc[-1000:].reset_index(drop=True)
    fit_theirs, theirs = once(lambda: setup.nannyml_domain_classifier(small_ref, features, 1000))
    nums, cats = setup.split(ref, features)
    dc_repeats = max(1, repeats // 2)
    med_t, min_t, table = timed(
        lambda: theirs.calculate(small).filter(period="analysis"), dc_repeats
    )
    med_o, min_o, domain = timed(
        lambda: classify_domain(small_ref, small, numerical=nums, categorical=cats), dc_repeats
    )
    expected = table.to_df()[("domain_classifier_auroc", "value")].iloc[0]
    same = abs(domain.value - expected) < 1e-12
    rows.append(
        ("Domain classifier (5k ref, 1k window)", fit_theirs, 0.0, med_t, min_t, med_o, min_o, same)
    )

    version = setup.nml.__version__
    print(f"nannyml {version}, window = chunk of {size} rows, {repeats} runs (median, min)")
    print()
    print("| what | fit NannyML | fit ours | per window NannyML | per window ours | ratio | same |")
    print("|---|---|---|---|---|---|---|")
    for name, ft, fo, mt, nt, mo, no, ok in rows:
        print(
            f"| {name} | {ft:.2f} s | {fo:.2f} s | {mt * 1e3:.1f} ms ({nt * 1e3:.1f}) | "
            f"{mo * 1e3:.2f} ms ({no * 1e3:.2f}) | {mt / mo:.0f}x | {'yes' if ok else 'NO'} |"
        )
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
