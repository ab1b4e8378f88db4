"""Alert quality of the real sidecar: false alarms on clean traffic, and detection delay.

Streams rows of real data sets (scikit-learn's and statsmodels' bundled ones, read offline)
through the real ``drift-sidecar serve`` process over HTTP: real count windows and steps, the
native alert state machine with its default hysteresis (``fire_after: 3``), FIRINGs counted as
they reach a local HTTP server standing in for a Slack webhook.

Each data set is split at random into a reference half (profiled by the sidecar; a model is
trained on it, and the reference's predictions are out-of-fold) and a held-out half. A stream
draws held-out rows at random (with replacement) and posts ``window.step`` samples at a time,
waiting for each evaluation. Per data set and drift configuration:

- **no drift**: held-out rows only. False alarms per evaluation of each column, of the dataset
  verdict and of the prediction, the FIRINGs, and the same per hour at ``TRAFFIC`` samples/s.
- **injected drifts** from sample ``onset`` (two full windows in): mean shift, variance change,
  category mix change, a new category, prediction shift, slow linear drift, each at two
  magnitudes. Detection delay: samples after the onset until the drifted column is first
  flagged, and until the first FIRING; a miss when none within ``HORIZON_WINDOWS`` windows.

Configurations: evidently's defaults, each multiple-testing correction, and thresholds
calibrated to the window (``drift.calibration``). Also measured: calibration time at start-up
for a 100k-row reference.

    .venv/bin/python benchmarks/alert_quality.py            # full run (~20 min on 2 cores)
    .venv/bin/python benchmarks/alert_quality.py --short    # one data set, small streams
    ... --json results.json                                 # every number, per column too
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.conftest import _stop, serve  # noqa: E402
from tests.recording_server import RecordingServer, recording_server  # noqa: E402

TRAFFIC = 10.0  # samples per second, for the per-hour rates
HORIZON_WINDOWS = 4  # a drift not alerted within this many windows after its onset is a miss
SEED = 20261207
RATE = 0.01  # drift.calibration.false_alarm_rate of the calibrated configuration
CONFIGS: dict[str, dict[str, Any]] = {
    "evidently": {},
    "bonferroni": {"correction": "bonferroni"},
    "benjamini_hochberg": {"correction": "benjamini_hochberg"},
    "calibrated": {"calibration": {"false_alarm_rate": RATE, "resamples": 200}},
}
FIRING = re.compile(
    r"^\[(FIRING|RESOLVED)\] (?:Resolved: )?(Dataset|Prediction) drift on model (\w+)"
)


# ------------------------------------------------------------------------------ the data


@dataclass(frozen=True)
class DataSet:
    name: str
    source: str
    frame: pd.DataFrame  # features and target
    numerical: list[str]
    categorical: list[str]
    target: str
    classification: bool
    window: int
    step: int
    #: rows of the reference (the rest is the held-out pool the streams draw from); None: half
    reference_rows: int | None = None


def _sklearn(name: str) -> pd.DataFrame:
    from sklearn import datasets

    frame: pd.DataFrame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    return frame


def _statsmodels(name: str) -> pd.DataFrame:
    from statsmodels import datasets

    frame: pd.DataFrame = getattr(datasets, name).load_pandas().data
    return frame


def load_datasets(short: bool) -> list[DataSet]:
    """The data sets: bundled with the packages (no download), of different sizes and kinds.
    ``--short``: fair only (the held-out pool is large, so a short stream is a fair test)."""
    fair = _statsmodels("fair")
    fair["affairs"] = (fair["affairs"] > 0).astype(int)
    fair_cat = ["rate_marriage", "religious", "educ", "occupation", "occupation_husb", "children"]
    fair_set = DataSet(
        "fair",
        "statsmodels",
        fair,
        ["age", "yrs_married"],
        fair_cat,
        "affairs",
        True,
        200,
        200 if short else 40,
        1000,
    )
    if short:
        return [fair_set]
    diabetes = _sklearn("diabetes")
    diabetes["sex"] = (diabetes["sex"] > 0).astype(int)  # two values, standardized: a category
    cancer = _sklearn("breast_cancer")
    wine = _sklearn("wine")
    rand = _statsmodels("randhie")
    rand_cat = ["lncoins", "idp", "hlthg", "hlthf", "hlthp"]
    return [
        DataSet(
            "diabetes",
            "scikit-learn",
            diabetes,
            [c for c in diabetes.columns if c not in ("sex", "target")],
            ["sex"],
            "target",
            False,
            100,
            20,
        ),
        DataSet(
            "breast_cancer",
            "scikit-learn",
            cancer,
            [c for c in cancer.columns if c != "target"],
            [],
            "target",
            True,
            100,
            20,
        ),
        DataSet(
            "wine",
            "scikit-learn",
            wine,
            [c for c in wine.columns if c != "target"],
            [],
            "target",
            True,
            40,
            10,
        ),
        fair_set,
        DataSet(
            "randhie",
            "statsmodels",
            rand,
            [c for c in rand.columns if c not in (*rand_cat, "mdvis")],
            rand_cat,
            "mdvis",
            False,
            1000,
            200,
            4000,
        ),
    ]


@dataclass(frozen=True)
class Prepared:
    data: DataSet
    reference: pd.DataFrame  # features and the out-of-fold prediction
    pool: pd.DataFrame  # held-out features
    predict: Callable[[pd.DataFrame], np.ndarray]
    shifted: str  # the numerical column the numerical drifts move
    category: str | None  # the categorical column the category drifts move


def prepare(data: DataSet, seed: int) -> Prepared:
    """Reference half, held-out half, and a model trained on the reference half."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = [*data.numerical, *data.categorical]
    shuffled = data.frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    half = data.reference_rows or len(shuffled) // 2
    ref, pool = shuffled.iloc[:half], shuffled.iloc[half:].reset_index(drop=True)
    if data.classification:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    else:
        model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    x, y = ref[features].to_numpy(float), ref[data.target].to_numpy()
    out_of_fold = cross_val_predict(model, x, y, cv=5)
    model.fit(x, y)
    reference = ref[features].copy()
    reference["prediction"] = out_of_fold
    corr = ref[data.numerical].corrwith(ref[data.target].astype(float)).abs()

    def predict(rows: pd.DataFrame) -> np.ndarray:
        predicted: np.ndarray = model.predict(rows[features].to_numpy(float))
        return predicted

    category = None
    if data.categorical:
        category = max(data.categorical, key=lambda c: ref[c].nunique())
    return Prepared(data, reference, pool[features], predict, str(corr.idxmax()), category)


# ------------------------------------------------------------------------------ the drifts


@dataclass(frozen=True)
class Drift:
    kind: str
    magnitude: str  # "small" / "large"
    size: float


DRIFTS = [
    Drift("mean_shift", "small", 0.25),  # in reference standard deviations
    Drift("mean_shift", "large", 1.0),
    Drift("variance_change", "small", 1.5),  # spread around the mean times this
    Drift("variance_change", "large", 3.0),
    Drift("category_mix", "small", 0.1),  # this share of rows moved to the rarest category
    Drift("category_mix", "large", 0.3),
    Drift("new_category", "small", 0.05),  # this share of rows get an unseen category
    Drift("new_category", "large", 0.2),
    Drift("prediction_shift", "small", 0.25),  # numerical: std; categorical: 0.3 x it flipped
    Drift("prediction_shift", "large", 1.0),
    Drift("linear_drift", "small", 0.5),  # mean shift growing to this (std) over 4 windows
    Drift("linear_drift", "large", 1.5),
]


def inject(
    prep: Prepared, rows: pd.DataFrame, since: np.ndarray, drift: Drift, rng: np.random.Generator
) -> pd.DataFrame | None:
    """``rows`` (features) with the drift applied where ``since`` (samples after the onset)
    >= 0, and their predictions; None when the data set has no column for this drift."""
    rows = rows.copy()
    on = since >= 0
    ref = prep.reference
    col = prep.shifted
    std = float(ref[col].std())
    pred_shift = None
    if drift.kind == "mean_shift":
        rows.loc[on, col] += drift.size * std
    elif drift.kind == "linear_drift":
        ramp = np.clip(since / (4 * prep.data.window), 0, 1) * drift.size * std
        rows.loc[on, col] += ramp[on]
    elif drift.kind == "variance_change":
        mean = float(ref[col].mean())
        rows.loc[on, col] = mean + (rows.loc[on, col] - mean) * drift.size
    elif drift.kind in ("category_mix", "new_category"):
        cat = prep.category
        if cat is None:
            return None
        hit = on & (rng.random(len(rows)) < drift.size)
        if drift.kind == "category_mix":
            rows.loc[hit, cat] = ref[cat].value_counts().idxmin()
        else:
            rows.loc[hit, cat] = int(ref[cat].max()) + 7  # a value the reference never had
    elif drift.kind == "prediction_shift":
        pred_shift = drift
    prediction = prep.predict(rows)
    if pred_shift is not None:
        if prep.data.classification:
            rarest = ref["prediction"].value_counts().idxmin()
            flip = on & (rng.random(len(rows)) < pred_shift.size * 0.3)
            prediction = prediction.copy()
            prediction[flip] = rarest  # predictions pile up on the rarest class
        else:
            prediction = prediction + on * pred_shift.size * float(ref["prediction"].std())
    out = rows.copy()
    out["prediction"] = prediction
    return out


# ------------------------------------------------------------------------------ the sidecar


def sidecar_config(
    home: Path,
    preps: list[Prepared],
    streams: dict[str, Prepared],
    config: dict[str, Any],
    slack: str,
) -> Path:
    """One model per stream, all on one sidecar; references written as CSV."""
    lines = [
        "server: {log_level: warning}",
        "alerts:",
        "  kinds: [dataset, prediction]",
        f"  slack: {{webhook_url: '{slack}/services/T0/B0/x', timeout_seconds: 30}}",
        "models:",
    ]
    for prep in preps:
        prep.reference.to_csv(home / f"{prep.data.name}.csv", index=False)
    for model, prep in streams.items():
        data = prep.data
        ptype = "categorical" if data.classification else "numerical"
        lines += [
            f"  {model}:",
            f"    reference: {{path: {data.name}.csv, format: csv, cache_dir: cache}}",
            f"    columns: {{numerical: {json.dumps(data.numerical)}, "
            f"categorical: {json.dumps(data.categorical)}, prediction: prediction, "
            f"prediction_type: {ptype}}}",
            f"    window: {{size: {data.window}, step: {data.step}, "
            "min_seconds_between_evaluations: 0}",
            f"    drift: {json.dumps(config)}",
        ]
    path = home / "sidecar.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def samples(rows: pd.DataFrame, categorical: list[str]) -> list[dict[str, Any]]:
    out = []
    for record in rows.to_dict("records"):
        prediction = record.pop("prediction")
        feats = {k: (_category(v) if k in categorical else float(v)) for k, v in record.items()}
        pred = int(prediction) if isinstance(prediction, int | np.integer) else float(prediction)
        out.append({"features": feats, "prediction": pred})
    return out


def _category(value: Any) -> Any:
    """A category as the reference CSV spells it: 3.0 -> 3, 5.5 stays 5.5."""
    number = float(value)
    return int(number) if number.is_integer() else number


def firings(slack: RecordingServer, model: str) -> list[float]:
    """Arrival times of the FIRINGs of ``model`` so far."""
    times = []
    for request in slack.delivered:
        match = FIRING.match(request.json().get("text", ""))
        if match and match.group(1) == "FIRING" and match.group(3) == model:
            times.append(request.at)
    return times


@dataclass
class Evaluation:
    seen: int
    columns: dict[str, bool]
    dataset: bool
    prediction: bool
    firings: int  # FIRINGs of this model received when the next batch was posted


@dataclass
class StreamResult:
    model: str
    evaluations: list[Evaluation] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    calibrated: dict[str, bool] = field(default_factory=dict)
    expected_dataset_rate: float | None = None


def run_stream(
    client: httpx.Client,
    slack: RecordingServer,
    model: str,
    rows: pd.DataFrame,
    step: int,
    categorical: list[str],
    onset: int | None = None,
    watched: str | None = None,
) -> StreamResult:
    """Post ``rows`` ``step`` at a time, waiting for each evaluation (``samples_seen``); with
    an ``onset``, stop once after it both a FIRING arrived and the ``watched`` column (or
    ``prediction``) was flagged."""
    result = StreamResult(model)
    at_onset, flagged = 0, False
    fire_after, streak = 3, {"dataset": 0, "prediction": 0}
    for start in range(0, len(rows), step):
        batch = samples(rows.iloc[start : start + step], categorical)
        answer = client.post(f"/v1/models/{model}/samples", json={"samples": batch})
        answer.raise_for_status()
        seen = start + len(batch)
        body = _verdict(client, model, seen)
        dataset = bool(body["dataset"]["drifted"])
        prediction = bool(body["prediction"] and body["prediction"]["drifted"])
        # a FIRING can only follow a drifted evaluation: wait for its delivery when the
        # state machine's streak says one is due (the count itself is the recorder's)
        due = False
        for kind, drifted in (("dataset", dataset), ("prediction", prediction)):
            streak[kind] = streak[kind] + 1 if drifted else 0
            due |= streak[kind] == fire_after
        before = len(firings(slack, model))
        if due:
            deadline = time.monotonic() + 2.0
            while len(firings(slack, model)) == before and time.monotonic() < deadline:
                time.sleep(0.01)
        columns = {name: bool(c["drifted"]) for name, c in body["columns"].items()}
        result.evaluations.append(
            Evaluation(seen, columns, dataset, prediction, len(firings(slack, model)))
        )
        if body["window"]["samples"] >= body["window"]["size"]:  # as a full window has them
            cols = {**body["columns"], "prediction": body["prediction"]}
            result.thresholds = {n: c["threshold"] for n, c in cols.items() if c}
            result.calibrated = {n: bool(c.get("calibrated")) for n, c in cols.items() if c}
            result.expected_dataset_rate = body["dataset"].get("expected_false_alarm_rate")
        if onset is None:
            continue
        last = result.evaluations[-1]
        if seen <= onset:
            at_onset = last.firings
            continue
        flagged |= last.prediction if watched == "prediction" else columns.get(watched or "", False)
        if flagged and last.firings > at_onset:
            break
    return result


def _verdict(client: httpx.Client, model: str, seen: int, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/v1/models/{model}/drift")
        if answer.status_code == 200:
            body = answer.json()
            if body["window"]["samples_seen"] >= seen:
                return body
        time.sleep(0.002)
    raise RuntimeError(f"{model}: no evaluation over {seen} samples within {timeout} s")


# ------------------------------------------------------------------------------ one run


@dataclass
class NoDrift:
    dataset: str
    config: str
    evaluations: int
    samples: int
    step: int
    window: int
    column_rates: dict[str, float]
    dataset_rate: float
    prediction_rate: float
    firings: int
    expected_dataset_rate: float | None
    calibrated_columns: int
    thresholds: dict[str, float]

    @property
    def per_hour(self) -> float:
        """Evaluations per hour at ``TRAFFIC`` samples/s."""
        return TRAFFIC * 3600 / self.step

    @property
    def firings_per_hour(self) -> float:
        return self.firings * TRAFFIC * 3600 / self.samples


@dataclass
class Detection:
    dataset: str
    config: str
    drift: str
    magnitude: str
    column: str
    column_delay: int | None  # samples after the onset to the first evaluation flagging it
    alert_delay: int | None  # samples after the onset to the first FIRING
    false_firing: bool  # a FIRING before the onset


def _rows(prep: Prepared, n: int, rng: np.random.Generator) -> pd.DataFrame:
    picked = rng.integers(0, len(prep.pool), size=n)
    return prep.pool.iloc[picked].reset_index(drop=True)


def run_config(
    preps: list[Prepared], config_name: str, no_drift_evals: int, short: bool, home: Path
) -> tuple[list[NoDrift], list[Detection]]:
    """One sidecar for every stream of one configuration."""
    config = CONFIGS[config_name]
    rng = np.random.default_rng(SEED)
    streams: dict[str, Prepared] = {}
    plans: list[tuple[str, Prepared, Drift | None, pd.DataFrame, int]] = []
    drifts = DRIFTS if not short else [d for d in DRIFTS if d.magnitude == "large"][:3]
    for p, prep in enumerate(preps):
        data = prep.data
        warm = data.window  # a full window before the measured evaluations
        rows = _rows(prep, warm + no_drift_evals * data.step, rng)
        clean = rows.copy()
        clean["prediction"] = prep.predict(rows)
        model = f"d{p}clean"
        streams[model] = prep
        plans.append((model, prep, None, clean, warm))
        onset = 2 * data.window
        for i, drift in enumerate(drifts):
            n = onset + HORIZON_WINDOWS * data.window
            rows = _rows(prep, n, rng)
            since = np.arange(n) - onset
            drifted = inject(prep, rows, since, drift, np.random.default_rng(SEED + i))
            if drifted is None:
                continue
            model = f"d{p}drift{i}"
            streams[model] = prep
            plans.append((model, prep, drift, drifted, onset))
    no_drift: list[NoDrift] = []
    detections: list[Detection] = []
    with recording_server() as slack:
        path = sidecar_config(home, preps, streams, config, slack.url)
        started = time.monotonic()
        sidecar = serve(path, home, f"sidecar-{config_name}", timeout=600)
        print(
            f"  {config_name}: sidecar ready in {time.monotonic() - started:.1f}s", file=sys.stderr
        )
        try:
            with httpx.Client(base_url=sidecar.url, timeout=60) as client:
                for model, prep, drift, rows, start in plans:
                    data = prep.data
                    if drift is None:
                        result = run_stream(client, slack, model, rows, data.step, data.categorical)
                        no_drift.append(_no_drift(data, config_name, result, start))
                        continue
                    column = drifted_column(prep, drift)
                    result = run_stream(
                        client, slack, model, rows, data.step, data.categorical, start, column
                    )
                    detections.append(_detection(prep, config_name, drift, result, start))
        finally:
            _stop(sidecar)
    return no_drift, detections


def _no_drift(data: DataSet, config: str, result: StreamResult, warm: int) -> NoDrift:
    measured = [e for e in result.evaluations if e.seen > warm]
    n = len(measured)
    names = list(measured[0].columns)
    before = next((e.firings for e in result.evaluations if e.seen == warm), 0)
    return NoDrift(
        dataset=data.name,
        config=config,
        evaluations=n,
        samples=n * data.step,
        step=data.step,
        window=data.window,
        column_rates={c: sum(e.columns[c] for e in measured) / n for c in names},
        dataset_rate=sum(e.dataset for e in measured) / n,
        prediction_rate=sum(e.prediction for e in measured) / n,
        firings=measured[-1].firings - before,
        expected_dataset_rate=result.expected_dataset_rate,
        calibrated_columns=sum(result.calibrated.values()),
        thresholds=result.thresholds,
    )


def _detection(
    prep: Prepared, config: str, drift: Drift, result: StreamResult, onset: int
) -> Detection:
    column = drifted_column(prep, drift)
    column_delay = alert_delay = None
    false_firing, at_onset = False, 0
    for e in result.evaluations:
        if e.seen <= onset:
            false_firing |= e.firings > 0
            at_onset = e.firings
            continue
        flagged = e.prediction if column == "prediction" else e.columns.get(column, False)
        if column_delay is None and flagged:
            column_delay = e.seen - onset
        if alert_delay is None and e.firings > at_onset:
            alert_delay = e.seen - onset
    return Detection(
        prep.data.name,
        config,
        drift.kind,
        drift.magnitude,
        column,
        column_delay,
        alert_delay,
        false_firing,
    )


def drifted_column(prep: Prepared, drift: Drift) -> str:
    """The column a drift moves (``prediction`` for a prediction shift)."""
    if drift.kind in ("category_mix", "new_category"):
        assert prep.category is not None
        return prep.category
    return "prediction" if drift.kind == "prediction_shift" else prep.shifted


# ------------------------------------------------------------------------------ start-up


def calibration_startup(rows: int = 100_000) -> dict[str, float]:
    """Seconds to calibrate a 100k-row reference (randhie's columns resampled to ``rows``):
    window 1000 and 10000, in this process, on the column threads."""
    from drift.core.calibration import calibrate
    from drift.core.options import ColumnsConfig, DriftConfig
    from drift.core.reference import build_profile

    frame = _statsmodels("randhie").sample(rows, replace=True, random_state=1)
    frame = frame.reset_index(drop=True)
    noise = np.random.default_rng(2).normal(0, 1e-6, (rows, 3))
    frame[["lpi", "fmde", "disea"]] += noise  # continuous, as a 100k-row reference would be
    profile = build_profile(frame, ColumnsConfig(prediction="mdvis"), "randhie-100k")
    options = DriftConfig(calibration={"false_alarm_rate": RATE, "resamples": 200})
    out = {"columns": float(len(profile.columns))}
    for window in (1000, 10_000):
        started = time.perf_counter()
        calibrate(profile, options, window)
        out[f"window_{window}_seconds"] = time.perf_counter() - started
    return out


# ------------------------------------------------------------------------------ reporting


def binomial_upper(rate: float, trials: int, sigmas: float = 4.0) -> float:
    return rate + sigmas * math.sqrt(rate * (1 - rate) / max(trials, 1))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _small_pct(x: float | None) -> str:
    """A rate that may be far below 0.1%: two significant digits."""
    return "-" if x is None else f"{x * 100:.2g}%"


def _delay(x: int | None) -> str:
    return "miss" if x is None else str(x)


def render(
    no_drift: list[NoDrift], detections: list[Detection], startup: dict[str, float] | None
) -> str:
    out = ["### No drift: false alarms on clean traffic", ""]
    out.append(
        f"Per evaluation (a window re-evaluated every `step` samples); per hour at {TRAFFIC:g} "
        "samples/s. Columns: mean and worst column. FIRINGs: the native alert state machine "
        "(dataset and prediction kinds, `fire_after: 3`)."
    )
    out += [
        "",
        "| data set (window/step) | config | evaluations | column FA mean | column FA max "
        "| dataset FA | dataset FA expected | prediction FA | FIRINGs | FIRINGs/hour "
        "| column FAs/hour |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in no_drift:
        rates = list(r.column_rates.values())
        mean = sum(rates) / len(rates)
        out.append(
            f"| {r.dataset} ({r.window}/{r.step}) | {r.config} | {r.evaluations} | {_pct(mean)} "
            f"| {_pct(max(rates))} | {_pct(r.dataset_rate)} "
            f"| {_small_pct(r.expected_dataset_rate)} "
            f"| {_pct(r.prediction_rate)} | {r.firings} | {r.firings_per_hour:.2f} "
            f"| {sum(rates) * r.per_hour:.1f} |"
        )
    out += ["", "### Injected drift: samples after the onset until detection", ""]
    out.append(
        "`column`: until an evaluation flags the drifted column (what a per-column Prometheus "
        f"rule sees); `alert`: until the first FIRING. `miss`: nothing within {HORIZON_WINDOWS} "
        "windows. `(FA before)`: the stream also had a FIRING before the onset (a false alarm)."
    )
    configs = list(dict.fromkeys(d.config for d in detections))
    out += [
        "",
        "| data set | drift | size | column | "
        + " | ".join(f"{c} column / alert" for c in configs)
        + " |",
        "|---|---|---|---|" + "---|" * len(configs),
    ]
    keys = list(dict.fromkeys((d.dataset, d.drift, d.magnitude, d.column) for d in detections))
    for key in keys:
        cells = []
        for c in configs:
            hit = [
                d
                for d in detections
                if (d.dataset, d.drift, d.magnitude, d.column) == key and d.config == c
            ]
            if not hit:
                cells.append("-")
                continue
            d = hit[0]
            alert = _delay(d.alert_delay) + (" (FA before)" if d.false_firing else "")
            cells.append(f"{_delay(d.column_delay)} / {alert}")
        out.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | " + " | ".join(cells) + " |")
    out += ["", "### Summary per configuration", ""]
    out += [
        "| config | column FA mean | dataset FA | prediction FA | FIRINGs/hour (mean) "
        "| column detections | alerts | median column delay | median alert delay |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in configs:
        rows = [r for r in no_drift if r.config == c]
        dets = [d for d in detections if d.config == c]
        col_rates = [v for r in rows for v in r.column_rates.values()]
        col_delays = [d.column_delay for d in dets if d.column_delay is not None]
        alert_delays = [d.alert_delay for d in dets if d.alert_delay is not None]
        out.append(
            f"| {c} | {_pct(sum(col_rates) / len(col_rates))} "
            f"| {_pct(sum(r.dataset_rate for r in rows) / len(rows))} "
            f"| {_pct(sum(r.prediction_rate for r in rows) / len(rows))} "
            f"| {sum(r.firings_per_hour for r in rows) / len(rows):.2f} "
            f"| {len(col_delays)}/{len(dets)} | {len(alert_delays)}/{len(dets)} "
            f"| {_median(col_delays)} | {_median(alert_delays)} |"
        )
    if startup:
        out += [
            "",
            f"Calibration at start-up, 100k-row reference ({startup['columns']:.0f} columns, "
            f"200 resamples, column threads): window 1000 {startup['window_1000_seconds']:.1f} s, "
            f"window 10000 {startup['window_10000_seconds']:.1f} s.",
        ]
    return "\n".join(out) + "\n"


def _median(values: list[int]) -> str:
    return "-" if not values else f"{float(np.median(values)):.0f}"


# ------------------------------------------------------------------------------ main


@dataclass
class Results:
    no_drift: list[NoDrift]
    detections: list[Detection]
    startup: dict[str, float] | None
    table: str


def run(
    short: bool,
    configs: list[str] | None = None,
    workdir: Path | None = None,
    evaluations: int | None = None,
    startup: bool = True,
) -> Results:
    datasets = load_datasets(short)
    preps = [prepare(d, SEED) for d in datasets]
    no_drift_evals = evaluations or (40 if short else 200)
    all_no_drift: list[NoDrift] = []
    all_detections: list[Detection] = []
    names = configs or (["evidently", "calibrated"] if short else list(CONFIGS))
    with _home(workdir) as home:
        for name in names:
            sub = home / name
            sub.mkdir()
            nd, det = run_config(preps, name, no_drift_evals, short, sub)
            all_no_drift += nd
            all_detections += det
    timed = calibration_startup() if startup and not short else None
    table = render(all_no_drift, all_detections, timed)
    return Results(all_no_drift, all_detections, timed, table)


@contextmanager
def _home(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="alert-quality-") as tmp:
        yield Path(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="one data set, small streams")
    parser.add_argument("--config", action="append", choices=list(CONFIGS), help="repeatable")
    parser.add_argument("--json", type=Path, help="write every number here")
    parser.add_argument("--evaluations", type=int, help="no-drift evaluations (40 / 200)")
    parser.add_argument("--skip-startup", action="store_true", help="no 100k calibration timing")
    args = parser.parse_args()
    started = time.monotonic()
    results = run(
        args.short, args.config, evaluations=args.evaluations, startup=not args.skip_startup
    )
    print(results.table)
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    if args.json:
        payload = {
            "no_drift": [asdict(r) for r in results.no_drift],
            "detections": [asdict(d) for d in results.detections],
            "startup": results.startup,
        }
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
