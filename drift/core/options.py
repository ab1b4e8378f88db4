"""The options of a drift evaluation and the column roles of a model: plain validated values.

They belong to the statistics, not to the service: ``drift.compare(columns=..., drift=...)``
validates the same options as the ``columns`` and ``drift`` sections of the configuration file,
which ``drift.config`` builds from these models. Pydantic is the only dependency (no I/O).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drift.core.stattests import METHODS


class StrictModel(BaseModel):
    """Unknown keys are errors; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_method(value: str | None) -> str | None:
    if value is not None and value not in METHODS:
        raise ValueError(f"unknown method {value!r}; known: {', '.join(sorted(METHODS))}")
    return value


class ColumnsConfig(StrictModel):
    """Column roles. Feature types are inferred from the reference when a list is absent."""

    numerical: list[str] | None = Field(
        None, description="numerical feature columns (inferred when absent)"
    )
    categorical: list[str] | None = Field(
        None, description="categorical feature columns (inferred when absent)"
    )
    prediction: str | None = Field(
        None, description="the model's output column, monitored for prediction drift"
    )
    prediction_type: Literal["auto", "numerical", "categorical"] = Field(
        "auto", description="how the prediction is tested"
    )
    id: str | None = Field(
        None, description="sample id column: never monitored; delayed labels join on it"
    )
    timestamp: str | None = Field(None, description="timestamp column: never monitored")
    target: str | None = Field(
        None, description="ground truth column: reference performance for delayed labels"
    )
    scores: dict[str, str] = Field(
        default_factory=dict,
        description="class label -> reference column with that class's probability "
        "(ROC AUC and log loss on the reference)",
    )
    exclude: list[str] = Field(default_factory=list, description="columns never monitored")

    @model_validator(mode="after")
    def _roles_disjoint(self) -> ColumnsConfig:
        seen: dict[str, str] = {}
        roles: list[tuple[str, list[str]]] = [
            ("numerical", self.numerical or []),
            ("categorical", self.categorical or []),
            ("prediction", [self.prediction] if self.prediction else []),
            ("id", [self.id] if self.id else []),
            ("timestamp", [self.timestamp] if self.timestamp else []),
            ("target", [self.target] if self.target else []),
            ("scores", list(self.scores.values())),
        ]
        for role, names in roles:
            for name in names:
                if name in seen:
                    raise ValueError(
                        f"column {name!r} is listed both as {seen[name]} and as {role}"
                    )
                seen[name] = role
        return self


class MethodChoice(StrictModel):
    """A stat test (evidently identifier) and/or its threshold; unset parts use the defaults."""

    method: str | None = Field(None, description="a method of the Statistics page")
    threshold: float | None = Field(None, gt=0, description="its threshold")

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        return _check_method(value)


class CalibrationConfig(StrictModel):
    """Thresholds calibrated to the window (``drift.core.calibration``): opt-in."""

    false_alarm_rate: float = Field(
        0.01,
        gt=0,
        lt=0.5,
        description="each column fires on clean traffic at most this often per evaluation",
    )
    resamples: int = Field(
        200,
        ge=20,
        le=10_000,
        description="seeded reference resamples scored per column at reference load",
    )
    seed: int = Field(0, ge=0, description="seed of the resamples (same seed: same thresholds)")

    @model_validator(mode="after")
    def _enough_resamples(self) -> CalibrationConfig:
        if self.false_alarm_rate * (self.resamples + 1) < 1:
            raise ValueError(
                f"resamples: {self.resamples} cannot calibrate a false_alarm_rate of "
                f"{self.false_alarm_rate}; use at least {math.ceil(1 / self.false_alarm_rate)}"
            )
        return self


class DriftConfig(StrictModel):
    share_threshold: float = Field(
        0.5, gt=0, le=1, description="dataset drift when this share of columns drifted"
    )
    method: str | None = Field(None, description="method for every column (evidently `method`)")
    threshold: float | None = Field(None, gt=0, description="one threshold for every column")
    numerical: MethodChoice = Field(
        default_factory=MethodChoice,
        description="method and threshold of the numerical columns",
    )
    categorical: MethodChoice = Field(
        default_factory=MethodChoice,
        description="method and threshold of the categorical columns",
    )
    columns: dict[str, MethodChoice] = Field(
        default_factory=dict,
        description="per column: method and threshold; wins over everything else",
    )
    max_categories: int = Field(
        10_000,
        ge=2,
        description="categories kept per column (reference: the most frequent; window: this "
        "many unseen ones more); the rest count as one '__other__' category",
    )
    correction: Literal["none", "bonferroni", "benjamini_hochberg"] = Field(
        "none", description="multiple-testing correction of p-value tests across feature columns"
    )
    calibration: CalibrationConfig | None = Field(
        None,
        description="thresholds calibrated to the window at reference load, so each column "
        "fires on clean traffic at a stated rate (docs: Alert quality); unset: evidently's",
    )

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        return _check_method(value)
