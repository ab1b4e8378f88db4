"""The embedded demo: the service on a real dataset, with clean traffic and then drift.

Dataset: the diabetes data of Efron, Hastie, Johnstone and Tibshirani, "Least Angle Regression"
(Annals of Statistics, 2004), 442 patients, 10 baseline variables, as shipped (unscaled) by
scikit-learn (BSD-3-Clause) in ``sklearn.datasets.load_diabetes``. The model is an ordinary
least-squares fit of the disease progression target; its output is the monitored prediction.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("drift.demo")

MODEL = "diabetes"
FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]

#: what the traffic generator does to each drifted column after ``drift_after`` seconds
Change = Callable[[np.ndarray, np.random.Generator], np.ndarray]
DRIFT: dict[str, Change] = {
    "age": lambda v, rng: v + 12.0,
    "bmi": lambda v, rng: v * 1.2,
    "bp": lambda v, rng: v + 15.0,
    "s3": lambda v, rng: v - 10.0,
    "s5": lambda v, rng: v + 0.4,
    "sex": lambda v, rng: np.where(rng.random(v.shape) < 0.85, 2.0, 1.0),
}


def load_dataset() -> pd.DataFrame:
    try:
        from sklearn.datasets import load_diabetes
    except ImportError as exc:  # pragma: no cover - the demo extra is installed by `make run`
        raise SystemExit("the demo needs scikit-learn: pip install 'drift-sidecar[demo]'") from exc
    frame: pd.DataFrame = load_diabetes(as_frame=True, scaled=False).frame
    return frame


class LinearModel:
    """Least squares with intercept, fitted once on the reference."""

    def __init__(self, frame: pd.DataFrame) -> None:
        x = np.column_stack([np.ones(len(frame)), frame[FEATURES].to_numpy(float)])
        self.coef = np.linalg.lstsq(x, frame["target"].to_numpy(float), rcond=None)[0]

    def predict(self, features: np.ndarray) -> np.ndarray:
        result: np.ndarray = self.coef[0] + features @ self.coef[1:]
        return result


def has_lightgbm() -> bool:
    """Whether DLE can run (``make run`` installs the estimation extra)."""
    import importlib.util

    return importlib.util.find_spec("lightgbm") is not None


def write_demo_files(workdir: Path) -> tuple[Path, pd.DataFrame, LinearModel]:
    frame = load_dataset()
    model = LinearModel(frame)
    reference = frame[FEATURES].copy()
    reference["sex"] = reference["sex"].astype(int)
    reference["prediction"] = model.predict(frame[FEATURES].to_numpy(float)).round(2)
    reference["target"] = frame["target"]  # the labelled reference estimation is fitted on
    workdir.mkdir(parents=True, exist_ok=True)
    reference.to_csv(workdir / "diabetes_reference.csv", index=False)
    config = workdir / "demo.yaml"
    config.write_text(
        "# written by `drift-sidecar demo`\n"
        "models:\n"
        f"  {MODEL}:\n"
        "    reference: {path: diabetes_reference.csv}\n"
        "    columns:\n"
        f"      numerical: [{', '.join(f for f in FEATURES if f != 'sex')}]\n"
        "      categorical: [sex]\n"
        "      prediction: prediction\n"
        "      target: target\n"
        "    window: {size: 300, step: 50}\n"
        "    drift: {share_threshold: 0.5}\n"
        "    performance: {task: regression}\n"
        # the error estimated before labels (LightGBM: the estimation extra) and the
        # multivariate drift of the window
        f"    estimation: {{dle: {str(has_lightgbm()).lower()}, reconstruction: true}}\n",
        encoding="utf-8",
    )
    return config, frame, model


def _post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait_ready(base: str, stop: threading.Event, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def traffic(
    base: str,
    frame: pd.DataFrame,
    model: LinearModel,
    drift_after: float,
    rate: float,
    stop: threading.Event,
    seed: int = 7,
) -> None:
    """Post bootstrap samples of the reference; drift a few columns after ``drift_after`` s."""
    if not _wait_ready(base, stop):
        log.error("the service did not become ready; no traffic sent")
        return
    rng = np.random.default_rng(seed)
    url = f"{base}/v1/models/{MODEL}/samples"
    batch_size = max(1, int(rate / 2))
    started = time.monotonic()
    drifting = False
    sent = 0
    log.info("sending %.0f samples/s to %s; drift starts in %.0f s", rate, url, drift_after)
    while not stop.is_set():
        elapsed = time.monotonic() - started
        if not drifting and elapsed >= drift_after:
            drifting = True
            log.info("injecting drift into %s", ", ".join(DRIFT))
        rows = frame[FEATURES].sample(batch_size, replace=True, random_state=rng).copy()
        if drifting:
            for column, change in DRIFT.items():
                rows[column] = change(rows[column].to_numpy(float), rng)
        predictions = model.predict(rows[FEATURES].to_numpy(float))
        samples = [
            {
                "id": f"demo-{sent + i}",
                "features": {k: (int(v) if k == "sex" else float(v)) for k, v in row.items()},
                "prediction": round(float(p), 2),
            }
            for i, ((_, row), p) in enumerate(zip(rows.iterrows(), predictions, strict=True))
        ]
        status = _post(url, {"samples": samples})
        if status != 200:
            log.warning("ingestion answered %s", status)
        sent += batch_size
        if sent % (batch_size * 20) == 0:
            log.info("sent %d samples (%s)", sent, "drifted" if drifting else "clean")
        stop.wait(batch_size / rate)


def run_demo(
    host: str, port: int, drift_after: float, rate: float, workdir: Path | None = None
) -> int:
    from drift.config import load_settings
    from drift.service import fastpath
    from drift.service.app import app_from_settings

    workdir = workdir or Path(tempfile.mkdtemp(prefix="drift-demo-"))
    config, frame, model = write_demo_files(workdir)
    settings = load_settings(config)
    base = f"http://{host}:{port}"
    log.info("demo config: %s", config)
    log.info(
        "watch drift rise: curl -s %s/metrics | grep -E '^drift_dataset_(share|detected)'", base
    )
    stop = threading.Event()
    sender = threading.Thread(
        target=traffic, args=(base, frame, model, drift_after, rate, stop), daemon=True
    )
    sender.start()
    try:
        fastpath.run(app_from_settings(settings), host, port, log_level="warning")
    finally:
        stop.set()
    return 0
