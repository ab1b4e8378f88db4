"""Configuration of the collectors (KServe / Seldon CloudEvents), delayed labels, performance
metrics and reporting to ClearML. Part of the one settings model in ``drift.config``; kept in
its own module so that each file stays one concept."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from drift.core.options import StrictModel
from drift.core.performance import METRICS


class KServeConfig(StrictModel):
    """Samples from KServe's payload logger (``logger: {mode: all, url: http://sidecar:8000}``)."""

    inference_service: str | None = Field(
        None, min_length=1, description="ce-inferenceservicename to accept (default: model name)"
    )
    namespace: str | None = Field(
        None, min_length=1, description="accept events of this ce-namespace only (default: any)"
    )
    features: list[str] | None = Field(
        None,
        min_length=1,
        description="feature name of each instance position (v1 list instances) or of each "
        "column of the input tensor (v2); absent: instances are objects keyed by feature name",
    )
    input_tensor: str | None = Field(
        None,
        min_length=1,
        description="v2 protocol: the input tensor with the features "
        "(default: the only one, or one tensor per feature named like the feature)",
    )
    output: str | None = Field(
        None,
        min_length=1,
        description="v2: output tensor holding the prediction (default: the "
        "first); v1: key of the prediction when predictions are objects",
    )


class SeldonConfig(StrictModel):
    """Samples from Seldon Core v1's request logger."""

    deployment: str | None = Field(
        None, min_length=1, description="ce-inferenceservicename to accept (default: model name)"
    )
    model_id: str | None = Field(
        None, min_length=1, description="accept events of this ce-modelid only (default: any)"
    )
    namespace: str | None = Field(None, min_length=1, description="ce-namespace to accept")
    features: list[str] | None = Field(
        None,
        min_length=1,
        description="feature name of each column of the ndarray / tensor "
        "(default: the request's data.names)",
    )
    output: str | None = Field(
        None,
        min_length=1,
        description="column name of the prediction in the response (default: the first column)",
    )


class CloudEventsConfig(StrictModel):
    """The table where a request waits for its response (or the reverse)."""

    pending_seconds: float = Field(
        30.0, gt=0, description="an unpaired half is dropped (and counted) after this long"
    )
    max_pending: int = Field(
        10_000, gt=0, description="halves waiting at most; the oldest is dropped beyond it"
    )
    max_pending_bytes: int = Field(
        64 * 2**20,
        gt=0,
        description="bytes of all halves waiting (all models together), estimated: "
        "sys.getsizeof of what a half keeps (its model's feature values, numbers as 8-byte "
        "floats, strings cut to server.max_value_bytes + 1 characters; or its predictions) "
        "and of its pairing key's strings, plus 352 bytes per half for the table; beyond it "
        "the oldest halves are evicted (counted as for max_pending), and a half over it on "
        "its own is refused (413). A request of one instance of 25 numbers with a 36-character "
        "id takes ~1.1 KB (max_pending of them: 11 MB); of 1,000 numbers, ~8.9 KB (7,500 fit)",
    )


class PerformanceAlertConfig(StrictModel):
    """Fire a ``performance`` alert when a metric is worse than the reference by ``max_drop``
    (absolute; for error metrics such as rmse "worse" means higher), or worse than a fixed
    ``min_value``/``max_value`` when the reference has no target."""

    metric: str = Field(
        description="e.g. accuracy, f1_macro, roc_auc, rmse (see the README's metric table)"
    )
    max_drop: float | None = Field(None, ge=0, description="allowed drop against the reference")
    min_value: float | None = Field(None, description="for higher-is-better metrics")
    max_value: float | None = Field(None, description="for lower-is-better metrics")

    @model_validator(mode="after")
    def _one_condition(self) -> PerformanceAlertConfig:
        known = [m for metrics in METRICS.values() for m in metrics]
        if self.metric not in known:
            raise ValueError(f"metric {self.metric!r} is not one of {', '.join(known)}")
        if self.max_drop is None and self.min_value is None and self.max_value is None:
            raise ValueError("set max_drop, min_value or max_value")
        return self


class PerformanceConfig(StrictModel):
    """Delayed ground truth (``POST /v1/models/{model}/labels``) and performance metrics."""

    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="auto: from the reference's target (or prediction) column"
    )
    positive_label: str | None = Field(
        None, description="binary precision/recall/F1 (default: 1 or true when the classes are so)"
    )
    label_ttl_seconds: float = Field(
        3600.0, gt=0, description="how long a prediction waits for its label and the reverse"
    )
    max_pending: int = Field(
        100_000, gt=0, description="predictions (and labels) waiting at most; oldest evicted"
    )
    max_pending_bytes: int = Field(
        64 * 2**20,
        gt=0,
        description="bytes (estimated: ids, values, scores and a fixed overhead per entry) of "
        "the predictions waiting, and as much of the labels waiting, of the recently joined "
        "ids and of the joined pairs of the window; beyond it the oldest are evicted (counted "
        "as for max_pending). The default holds max_pending predictions with 36-character ids, "
        "a short class and a probability (480 bytes each: 48 MB)",
    )
    window: int = Field(1000, gt=0, le=1_000_000, description="labelled samples per evaluation")
    min_samples: int = Field(
        50, gt=0, description="labelled samples needed before metrics are reported"
    )
    alert: PerformanceAlertConfig | None = Field(
        None,
        description="a performance condition: `metric` and `max_drop` (against the "
        "reference's value) or `min_value` / `max_value`",
    )


class ClearMLReportingConfig(StrictModel):
    """Opt-in: each evaluation's drift share and column scores as scalars of a ClearML Task."""

    enabled: bool = Field(
        True,
        description="false switches the reporting off (default true once the section is present)",
    )
    project: str = Field("drift-sidecar", min_length=1, description="ClearML project of the tasks")
    task_name: str = Field(
        "drift-sidecar/{model}", min_length=1, description="one task per model; {model} replaced"
    )
    queue_size: int = Field(100, gt=0, description="evaluations waiting to be sent; then dropped")
    timeout_seconds: float = Field(10.0, gt=0, description="per ClearML API request")
    retries: int = Field(2, ge=0, le=20, description="per evaluation, with backoff")


class ReportingConfig(StrictModel):
    clearml: ClearMLReportingConfig | None = Field(
        None,
        description="every evaluation as scalars of a ClearML Task per model (opt-in)",
    )
