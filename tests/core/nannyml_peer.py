"""NannyML 0.13 (the ``dev`` extra) and ours, set up the same way on NannyML's synthetic data
sets: the column roles of each data set and the fit of each estimator on one reference, on both
sides. ``tests/core/test_parity_nannyml.py`` compares the two per chunk and
``benchmarks/estimation.py`` times them. Import ``nml`` from here: NannyML's usage logging is
off before it is imported."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # NannyML phones home otherwise
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import nannyml as nml

from drift.core.estimation import CBPE_METRICS, CBPEModel, fit_cbpe
from drift.core.loss_estimation import QUIET_ONE_THREAD, DLEModel, fit_dle
from drift.core.multivariate import (
    DOMAIN_CLASSIFIER_PARAMS,
    ReconstructionModel,
    fit_reconstruction,
)

Frames = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]  # reference, analysis, targets


@dataclass(frozen=True)
class Classification:
    """A classification data set of NannyML's: its loader and the columns CBPE reads."""

    load: Callable[[], Frames]
    target: str
    #: NannyML's ``y_pred_proba``: the positive class's column, or class -> column
    scores: str | dict[str, str]
    problem_type: str

    @property
    def score_columns(self) -> str | list[str]:
        """Our scores: the one column (binary), or one column per class, classes sorted."""
        if isinstance(self.scores, str):
            return self.scores
        return [self.scores[label] for label in sorted(self.scores)]

    def nannyml_cbpe(self, reference: pd.DataFrame, chunk_size: int) -> Any:
        return nml.CBPE(
            y_pred_proba=self.scores,
            y_pred="y_pred",
            y_true=self.target,
            problem_type=self.problem_type,
            metrics=list(CBPE_METRICS),
            chunk_size=chunk_size,
        ).fit(reference)

    def our_cbpe(self, reference: pd.DataFrame, chunk_size: int) -> CBPEModel:
        return fit_cbpe(
            reference[self.target].to_numpy(),
            reference["y_pred"].to_numpy(),
            reference[self.score_columns].to_numpy(),
            chunk_size=chunk_size,
        )


BINARY = Classification(
    nml.load_synthetic_binary_classification_dataset,
    target="work_home_actual",
    scores="y_pred_proba",
    problem_type="classification_binary",
)
MULTICLASS = Classification(
    nml.load_synthetic_multiclass_classification_dataset,
    target="y_true",
    scores={
        label: f"y_pred_proba_{label}"
        for label in ("prepaid_card", "highstreet_card", "upmarket_card")
    },
    problem_type="classification_multiclass",
)
#: the features of the binary data set (multivariate drift)
BINARY_FEATURES = [
    "distance_from_office",
    "salary_range",
    "gas_price_per_litre",
    "public_transportation_cost",
    "wfh_prev_workday",
    "workday",
    "tenure",
]

#: nml.load_synthetic_car_price_dataset (regression, DLE)
CAR_PRICE_NUMERICAL = ["car_age", "km_driven", "price_new", "accident_count", "door_count"]
CAR_PRICE_CATEGORICAL = ["fuel", "transmission"]
CAR_PRICE_FEATURES = [*CAR_PRICE_NUMERICAL, *CAR_PRICE_CATEGORICAL]


def nannyml_dle(reference: pd.DataFrame, chunk_size: int) -> Any:
    """NannyML's DLE of MAE, MSE and RMSE on the car price data set. n_jobs and verbose change
    neither model (LightGBM is deterministic across thread counts); one thread keeps it fast on
    a busy 2-core machine."""
    return nml.DLE(
        feature_column_names=CAR_PRICE_FEATURES,
        y_pred="y_pred",
        y_true="y_true",
        metrics=["mae", "mse", "rmse"],
        chunk_size=chunk_size,
        hyperparameters=dict(QUIET_ONE_THREAD),
    ).fit(reference)


def our_dle(reference: pd.DataFrame, chunk_size: int) -> DLEModel:
    return fit_dle(
        reference,
        features=CAR_PRICE_FEATURES,
        categorical=CAR_PRICE_CATEGORICAL,
        prediction="y_pred",
        target="y_true",
        chunk_size=chunk_size,
    )


def split(reference: pd.DataFrame, features: Sequence[str]) -> tuple[list[str], list[str]]:
    """(numerical, categorical) as NannyML splits them: object, string, category and bool
    columns are categorical."""
    categorical = [c for c in features if reference[c].dtype in ("object", "bool")]
    return [c for c in features if c not in categorical], categorical


def nannyml_reconstruction(reference: pd.DataFrame, features: list[str], chunk_size: int) -> Any:
    return nml.DataReconstructionDriftCalculator(column_names=features, chunk_size=chunk_size).fit(
        reference
    )


def our_reconstruction(
    reference: pd.DataFrame, features: list[str], chunk_size: int
) -> ReconstructionModel:
    numerical, categorical = split(reference, features)
    return fit_reconstruction(
        reference, numerical=numerical, categorical=categorical, chunk_size=chunk_size
    )


def nannyml_domain_classifier(reference: pd.DataFrame, features: list[str], chunk_size: int) -> Any:
    """NannyML's own default hyperparameters, on one thread and quiet (neither changes a
    model). Ours fits per window: ``classify_domain(reference, window, ...)``."""
    return nml.DomainClassifierCalculator(
        feature_column_names=features,
        chunk_size=chunk_size,
        hyperparameters=dict(DOMAIN_CLASSIFIER_PARAMS),
    ).fit(reference)
