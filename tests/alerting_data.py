"""Drift reports and notifications for the alerting unit tests, built with the real engine."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

import drift
from drift.alerting.engine import AlertEngine
from drift.alerting.notification import Notification
from drift.alerting.policy import AlertPolicy
from drift.core.report import DriftReport

# distinctive raw values: the alerting tests check none of them leaks into a message or event
SECRET_CITY = "city-SECRET-7f3a"
SECRET_NUMBER = 987654.321


def frames(drifted: bool, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 400
    reference = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 0.5, n),
            "city": rng.choice(["berlin", "paris", "rome"], n),
            "score": rng.random(n),
        }
    )
    shift = 25.0 if drifted else 0.0
    current = pd.DataFrame(
        {
            "age": rng.normal(40 + shift, 10, n),
            "income": rng.lognormal(10 + (2 if drifted else 0), 0.5, n),
            "city": rng.choice(["berlin", "paris", SECRET_CITY if drifted else "rome"], n),
            "score": rng.random(n) + (0.8 if drifted else 0.0),
        }
    )
    current.loc[0, "income"] = SECRET_NUMBER
    return reference, current


def report(drifted: bool, model: str = "m1", seed: int = 0) -> DriftReport:
    reference, current = frames(drifted, seed)
    result = drift.compare(
        reference,
        current,
        numerical=["age", "income"],
        categorical=["city"],
        prediction="score",
        share_threshold=0.5,
    )
    return dataclasses.replace(result, model=model)


def policy(model: str = "m1", **changes: object) -> AlertPolicy:
    base: dict[str, object] = {
        "model": model,
        "native": True,
        "kinds": ("dataset", "prediction"),
        "fire_after": 2,
        "resolve_after": 2,
        "repeat_interval": 3600.0,
        "severity": "warning",
        "top_columns": 5,
        "grafana_url": "https://grafana.example.com/d/drift?var-model={model}",
        "report_url": "https://drift.example.com/v1/models/{model}/report",
        "muted": frozenset(),
    }
    base.update(changes)
    return AlertPolicy(**base)  # type: ignore[arg-type]


def firing_and_resolved(model: str = "m1") -> tuple[Notification, Notification]:
    """A real firing and resolved notification of ``model`` (dataset kind)."""
    engine = AlertEngine({model: policy(model, kinds=("dataset",))})
    drifted, clean = report(True, model), report(False, model)
    out: list[Notification] = []
    for t, r in enumerate([drifted, drifted, clean, clean]):
        out += engine.observe(r, 1_700_000_000.0 + 60 * t, 1_699_999_000.0, "sha256:" + "0" * 16)
    assert [n.status.value for n in out] == ["firing", "resolved"]
    return out[0], out[1]
