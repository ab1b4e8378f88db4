"""Per-model settings: where the reference comes from, the window, and the model section
that groups them with the column roles, drift options (``drift.core.options``), collectors,
performance and alert overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from drift.config.alerts import ModelAlertsConfig
from drift.config.collectors import KServeConfig, PerformanceConfig, SeldonConfig
from drift.config.estimation import EstimationConfig
from drift.core.options import ColumnsConfig, DriftConfig, StrictModel


class ClearMLReferenceConfig(StrictModel):
    """A ClearML Dataset: by ``dataset_id``, or by ``project`` + ``name`` (latest finalized
    version unless ``version`` is given). Connection settings come from the standard
    ``CLEARML_*`` environment variables or ``clearml.conf``, never from this file."""

    dataset_id: str | None = Field(None, min_length=1, description="a dataset (task) id")
    project: str | None = Field(None, min_length=1, description="dataset project")
    name: str | None = Field(None, min_length=1, description="dataset name")
    version: str | None = Field(None, min_length=1, description="e.g. '1.2.0'; default: latest")
    tags: list[str] = Field(default_factory=list, description="the dataset must have all tags")
    alias: str | None = Field(
        None, description="passed to Dataset.get; ClearML records it on the current Task only"
    )
    only_published: bool = Field(False, description="only published (not just finalized)")
    files: str = Field("*", min_length=1, description="glob of the files to read, e.g. *.parquet")
    timeout_seconds: float = Field(10.0, gt=0, description="connect/read timeout per request")
    retries: int = Field(2, ge=0, le=20, description="HTTP retries per request (SDK default 240)")

    @model_validator(mode="after")
    def _one_selector(self) -> ClearMLReferenceConfig:
        if self.dataset_id is not None:
            extra = [k for k in ("project", "name", "version") if getattr(self, k) is not None]
            if extra or self.tags:
                raise ValueError(
                    f"dataset_id selects one dataset; remove {', '.join(extra or ['tags'])}"
                )
        elif self.project is None or self.name is None:
            raise ValueError("set dataset_id, or project and name")
        return self


class S3ReferenceConfig(StrictModel):
    """An object (``s3://bucket/key``) or every object under a prefix (``s3://bucket/dir/``).
    Credentials: the standard AWS env vars, or ``credentials_file`` (a mounted AWS file)."""

    url: str = Field(
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        description="`s3://bucket/key` or `s3://bucket/prefix/`",
    )
    endpoint_url: str | None = Field(None, description="S3-compatible store, e.g. MinIO")
    region: str | None = Field(None, description="AWS region (default: boto3's)")
    files: str = Field("*", min_length=1, description="glob of keys under a prefix url")
    credentials_file: Path | None = Field(None, description="AWS shared credentials file")
    profile: str | None = Field(None, description="profile in the credentials file")
    timeout_seconds: float = Field(10.0, gt=0, description="per S3 request")
    retries: int = Field(2, ge=0, le=20, description="per S3 request")


class ReferenceConfig(StrictModel):
    """Where the reference (training) data comes from: exactly one of path, clearml, s3."""

    path: Path | None = Field(
        None, description="CSV or Parquet file; relative paths are relative to the config"
    )
    clearml: ClearMLReferenceConfig | None = Field(
        None,
        description="a ClearML Dataset: by `dataset_id`, or by `project` + `name` (latest "
        "finalized version, or `version`, or `tags`)",
    )
    s3: S3ReferenceConfig | None = Field(
        None, description="one S3 object, or every object under a prefix"
    )
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="file format; 'auto' decides by the file extension"
    )
    retry_seconds: float = Field(
        30.0, gt=0, description="retry a failed load after this many seconds"
    )
    refresh_minutes: float | None = Field(
        None, gt=0, description="poll the source for a newer version this often (default: off)"
    )
    sample_rows: int | None = Field(
        None, gt=0, description="profile a deterministic sample of this many rows"
    )
    sample_seed: int = Field(0, ge=0, description="seed of the row sample")
    cache_dir: Path | None = Field(
        None,
        description="profile cache of every source (file references keyed by path, size and "
        "mtime); 3 versions per configuration, 3 configurations per model "
        "(default: /var/lib/drift-sidecar/cache if writable, else a temp dir)",
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ReferenceConfig:
        chosen = [k for k in ("path", "clearml", "s3") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "set exactly one of reference.path, reference.clearml, reference.s3"
                + (f" (got {', '.join(chosen)})" if chosen else "")
            )
        return self

    @property
    def kind(self) -> Literal["file", "clearml", "s3"]:
        return "clearml" if self.clearml else "s3" if self.s3 else "file"


class WindowConfig(StrictModel):
    size: int = Field(
        1000,
        gt=0,
        le=10_000_000,
        description="samples kept per model (with duration_seconds: the memory cap)",
    )
    step: int = Field(100, gt=0, description="re-evaluate after this many new samples")
    min_samples: int | None = Field(
        None,
        gt=0,
        description="samples needed before the first evaluation (default: step); with "
        "duration_seconds, fewer samples in the window report insufficient_data",
    )
    duration_seconds: float | None = Field(
        None,
        gt=0,
        description="time window: only samples that arrived in the last this many seconds",
    )
    evaluate_every_seconds: float = Field(
        60.0, gt=0, description="time windows: also re-evaluate this often without new samples"
    )
    min_seconds_between_evaluations: float = Field(
        1.0,
        ge=0,
        description="at most one evaluation per this many seconds (0: after every step); a "
        "step reached sooner is evaluated when the time is up, so heavy traffic cannot spend "
        "the sidecar's CPU on evaluations instead of ingestion",
    )

    @model_validator(mode="after")
    def _step_le_size(self) -> WindowConfig:
        if self.step > self.size:
            raise ValueError(f"step ({self.step}) must not exceed size ({self.size})")
        if self.min_samples is not None and self.min_samples > self.size:
            raise ValueError(f"min_samples ({self.min_samples}) must not exceed size ({self.size})")
        return self

    @property
    def first_evaluation_after(self) -> int:
        return self.min_samples if self.min_samples is not None else self.step


class ModelConfig(StrictModel):
    reference: ReferenceConfig = Field(
        description="the reference (training) data: exactly one of `path`, `clearml`, `s3`"
    )
    version: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="model version, exported as the version label of drift_model_info",
    )
    kserve: KServeConfig | None = Field(None, description="accept KServe payload logger events")
    seldon: SeldonConfig | None = Field(None, description="accept Seldon request logger events")
    performance: PerformanceConfig = Field(
        default_factory=PerformanceConfig,
        description="model performance from delayed labels; see Labels",
    )
    columns: ColumnsConfig = Field(
        default_factory=ColumnsConfig,
        description="column roles; absent roles are inferred from the reference",
    )
    window: WindowConfig = Field(
        default_factory=WindowConfig, description="the sliding window the model is judged on"
    )
    drift: DriftConfig = Field(
        default_factory=DriftConfig, description="statistical tests and thresholds; see Statistics"
    )
    alerts: ModelAlertsConfig = Field(
        default_factory=ModelAlertsConfig,
        description="per-model overrides of the top-level alerts section",
    )
    estimation: EstimationConfig = Field(
        default_factory=EstimationConfig,
        description="performance estimated before labels arrive, and multivariate drift "
        "(opt-in; docs/estimation.md)",
    )

    @model_validator(mode="after")
    def _estimation_columns(self) -> ModelConfig:
        problems = self.estimation.problems(self.columns)
        if problems:
            raise ValueError("; ".join(problems))
        return self
