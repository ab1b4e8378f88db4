"""The per-model ``estimation`` section: performance estimated before the labels arrive (CBPE
for classifiers, DLE for regressors) and multivariate drift (PCA reconstruction error).

Everything is opt-in and fitted on the labelled reference when it loads, off the request path
(drift/service/estimation.py). The statistics are in drift/core/estimation.py,
drift/core/loss_estimation.py and drift/core/multivariate.py; docs/estimation.md states their
assumptions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from drift.core.options import StrictModel

if TYPE_CHECKING:
    from drift.core.options import ColumnsConfig

CBPEMetric = Literal["roc_auc", "f1", "precision", "recall", "specificity", "accuracy"]
DLEMetric = Literal["mae", "mse", "rmse"]
ALL_CBPE: tuple[CBPEMetric, ...] = (
    "roc_auc",
    "f1",
    "precision",
    "recall",
    "specificity",
    "accuracy",
)
ALL_DLE: tuple[DLEMetric, ...] = ("mae", "mse", "rmse")


class EstimationConfig(StrictModel):
    """Opt-in estimation and multivariate drift for one model."""

    cbpe: bool = Field(
        False,
        description="estimate classification performance per window from the model's scores "
        "(confidence-based performance estimation, as NannyML); needs columns.scores, "
        "columns.prediction and a reference with columns.target",
    )
    cbpe_metrics: list[CBPEMetric] = Field(
        default_factory=lambda: list(ALL_CBPE),
        min_length=1,
        description="the metrics CBPE estimates",
    )
    dle: bool = Field(
        False,
        description="estimate a regressor's error per window (direct loss estimation, as "
        "NannyML, with LightGBM: pip install 'drift-sidecar[estimation]'); needs "
        "columns.prediction and a reference with columns.target",
    )
    dle_metrics: list[DLEMetric] = Field(
        default_factory=lambda: list(ALL_DLE),
        min_length=1,
        description="the metrics DLE estimates",
    )
    reconstruction: bool = Field(
        False,
        description="multivariate drift: the PCA reconstruction error of each window against "
        "thresholds from the reference (NannyML's data reconstruction drift)",
    )
    explained_variance: float = Field(
        0.65,
        gt=0,
        lt=1,
        description="the reconstruction keeps the fewest principal components that explain more "
        "than this share of the reference's variance (NannyML's default)",
    )
    domain_classifier: bool = Field(
        False,
        description="multivariate drift: cross-validated ROC AUC of a LightGBM classifier telling "
        "the window from a sample of the reference (NannyML's domain classifier; alert outside "
        "0.45-0.65). Trains 5 models per evaluation: for small windows; needs the estimation "
        "extra",
    )
    domain_classifier_rows: int = Field(
        5000,
        ge=50,
        le=1_000_000,
        description="reference rows (a seeded sample) the domain classifier compares each "
        "window with; kept in memory",
    )
    threshold_std: float = Field(
        3.0,
        gt=0,
        description="reconstruction and estimate thresholds: mean +- this many standard "
        "deviations of the value on reference chunks of window.size rows",
    )

    @property
    def enabled(self) -> bool:
        return self.cbpe or self.dle or self.reconstruction or self.domain_classifier

    def problems(self, columns: ColumnsConfig) -> list[str]:
        """What the column roles lack for the enabled parts (empty: nothing)."""
        found = []
        if (self.cbpe or self.dle) and not columns.target:
            found.append("estimation needs columns.target (the reference's ground truth)")
        if (self.cbpe or self.dle) and not columns.prediction:
            found.append("estimation needs columns.prediction")
        if self.cbpe and not columns.scores:
            found.append("estimation.cbpe needs columns.scores (class -> score column)")
        return found
