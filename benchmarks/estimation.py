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
of NannyML runs per batch). LightGBM runs on one thread on both sides.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
warnings.filterwarnings("ignore")

import nannyml as nml  # noqa: E402

from drift.core.estimation import CBPE_METRICS, fit_cbpe  # noqa: E402
from drift.core.loss_estimation import QUIET_ONE_THREAD, fit_dle  # noqa: E402
from drift.core.multivariate import (  # noqa: E402
    DOMAIN_CLASSIFIER_PARAMS,
    classify_domain,
    fit_reconstruction,
)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=5000)
    args = parser.parse_args()
    size, repeats = args.chunk, args.repeats
    rows: list[tuple[str, float, float, float, float, float, float, bool]] = []

    # CBPE, binary ------------------------------------------------------------------------------
    ref, ana, _ = nml.load_synthetic_binary_classification_dataset()
    chunk = ana.iloc[-size:].reset_index(drop=True)  # the drifted end of the analysis period
    fit_theirs, theirs = once(
        lambda: nml.CBPE(
            y_pred_proba="y_pred_proba",
            y_pred="y_pred",
            y_true="work_home_actual",
            problem_type="classification_binary",
            metrics=list(CBPE_METRICS),
            chunk_size=size,
        ).fit(ref)
    )
    fit_ours, ours = once(
        lambda: fit_cbpe(
            ref["work_home_actual"].to_numpy(),
            ref["y_pred"].to_numpy(),
            ref["y_pred_proba"].to_numpy(),
            chunk_size=size,
        )
    )
    med_t, min_t, table = timed(lambda: theirs.estimate(chunk).filter(period="analysis"), repeats)
    pred, scores = chunk["y_pred"].to_numpy(), chunk["y_pred_proba"].to_numpy()
    med_o, min_o, estimates = timed(lambda: ours.estimate(pred, scores), repeats)
    same = all(abs(e.value - table.to_df()[(e.metric, "value")].iloc[0]) < 1e-12 for e in estimates)
    rows.append(("CBPE binary (6 metrics)", fit_theirs, fit_ours, med_t, min_t, med_o, min_o, same))

    # CBPE, multiclass --------------------------------------------------------------------------
    ref, ana, _ = nml.load_synthetic_multiclass_classification_dataset()
    chunk = ana.iloc[-size:].reset_index(drop=True)
    columns = {c: f"y_pred_proba_{c}" for c in ("prepaid_card", "highstreet_card", "upmarket_card")}
    labels = sorted(columns)
    score_columns = [columns[c] for c in labels]
    fit_theirs, theirs = once(
        lambda: nml.CBPE(
            y_pred_proba=columns,
            y_pred="y_pred",
            y_true="y_true",
            problem_type="classification_multiclass",
            metrics=list(CBPE_METRICS),
            chunk_size=size,
        ).fit(ref)
    )
    fit_ours, ours = once(
        lambda: fit_cbpe(
            ref["y_true"].to_numpy(),
            ref["y_pred"].to_numpy(),
            ref[score_columns].to_numpy(),
            chunk_size=size,
        )
    )
    med_t, min_t, table = timed(lambda: theirs.estimate(chunk).filter(period="analysis"), repeats)
    pred, matrix = chunk["y_pred"].to_numpy(), chunk[score_columns].to_numpy()
    med_o, min_o, estimates = timed(lambda: ours.estimate(pred, matrix), repeats)
    same = all(abs(e.value - table.to_df()[(e.metric, "value")].iloc[0]) < 1e-12 for e in estimates)
    rows.append(
        ("CBPE multiclass (6 metrics)", fit_theirs, fit_ours, med_t, min_t, med_o, min_o, same)
    )

    # DLE ---------------------------------------------------------------------------------------
    ref, ana, _ = nml.load_synthetic_car_price_dataset()
    chunk = ana.iloc[-size:].reset_index(drop=True)
    numerical = ["car_age", "km_driven", "price_new", "accident_count", "door_count"]
    categorical = ["fuel", "transmission"]
    fit_theirs, theirs = once(
        lambda: nml.DLE(
            feature_column_names=numerical + categorical,
            y_pred="y_pred",
            y_true="y_true",
            metrics=["mae", "mse", "rmse"],
            chunk_size=size,
            hyperparameters=dict(QUIET_ONE_THREAD),
        ).fit(ref)
    )
    fit_ours, ours = once(
        lambda: fit_dle(
            ref,
            features=numerical + categorical,
            categorical=categorical,
            prediction="y_pred",
            target="y_true",
            chunk_size=size,
        )
    )
    window = chunk.drop(columns="y_true", errors="ignore")
    med_t, min_t, table = timed(lambda: theirs.estimate(window).filter(period="analysis"), repeats)
    med_o, min_o, estimates = timed(lambda: ours.estimate(window), repeats)
    same = all(
        abs(e.value / table.to_df()[(e.metric, "value")].iloc[0] - 1) < 1e-9 for e in estimates
    )
    rows.append(("DLE (MAE, MSE, RMSE)", fit_theirs, fit_ours, med_t, min_t, med_o, min_o, same))

    # reconstruction error ----------------------------------------------------------------------
    ref, ana, _ = nml.load_synthetic_binary_classification_dataset()
    chunk = ana.iloc[-size:].reset_index(drop=True)
    features = [
        "distance_from_office",
        "salary_range",
        "gas_price_per_litre",
        "public_transportation_cost",
        "wfh_prev_workday",
        "workday",
        "tenure",
    ]
    cats = [c for c in features if ref[c].dtype in ("object", "bool")]
    nums = [c for c in features if c not in cats]
    fit_theirs, theirs = once(
        lambda: nml.DataReconstructionDriftCalculator(column_names=features, chunk_size=size).fit(
            ref
        )
    )
    fit_ours, ours = once(
        lambda: fit_reconstruction(ref, numerical=nums, categorical=cats, chunk_size=size)
    )
    med_t, min_t, table = timed(lambda: theirs.calculate(chunk).filter(period="analysis"), repeats)
    med_o, min_o, score = timed(lambda: ours.score(chunk), repeats)
    expected = table.to_df()[("reconstruction_error", "value")].iloc[0]
    same = abs(score.value / expected - 1) < 1e-9
    rows.append(("Reconstruction error", fit_theirs, fit_ours, med_t, min_t, med_o, min_o, same))

    # domain classifier: a 5,000-row reference (the sidecar's default sample), 1,000-row window
    small_ref = ref.iloc[:5000]
    small = ana.iloc[-1000:].reset_index(drop=True)
    fit_theirs, theirs = once(
        lambda: nml.DomainClassifierCalculator(
            feature_column_names=features,
            chunk_size=1000,
            hyperparameters=dict(DOMAIN_CLASSIFIER_PARAMS),
        ).fit(small_ref)
    )
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

    print(f"nannyml {nml.__version__}, window = chunk of {size} rows, {repeats} runs (median, min)")
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
