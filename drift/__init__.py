"""drift-sidecar: data and model drift monitoring beside a model server.

``drift.compare(reference, current, **options) -> DriftReport`` runs the engine on two frames;
the report has ``to_dataframe()`` (one row per column) and ``save_html(path)`` (evidently's
page with our methods and thresholds; the ``report`` extra).

One folder per layer (docs/architecture.md), each importing only those below it: ``service``
(the composition root) -> ``sources``, ``alerting`` and the top-level ``exporters`` package ->
``ingest`` -> ``config`` -> ``core`` (pure statistics) -> ``errors``, ``ports``, ``retry``.
``client`` is what model servers import and depends on none of them.

This module is the notebook API and sits at the top, beside the CLI: ``compare`` attaches to
its report a page adapter (``ComparedFrames``) that imports ``exporters.report`` when a page is
drawn, so that the core's ``DriftReport`` stays free of I/O and of exporters. Nothing heavy is
imported with ``drift`` itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from drift.core.options import ColumnsConfig, DriftConfig
    from drift.core.report import DriftReport

__all__ = ["ComparedFrames", "DriftReport", "compare"]


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: ColumnsConfig | Mapping[str, Any] | None = None,
    drift: DriftConfig | Mapping[str, Any] | None = None,
    model: str = "compare",
    source: str = "reference",
    **shortcuts: Any,
) -> DriftReport:
    """Drift of ``current`` against ``reference``, as the sidecar would report it.

    ``columns`` and ``drift`` take the same keys as a model's config sections. Shortcuts: the
    role keys (``numerical=[...]``, ``categorical=[...]``, ``prediction=...``, ``id``, ...) and
    ``method``, ``threshold``, ``share_threshold``. Example::

        report = drift.compare(ref, cur, numerical=["age"], categorical=["city"])
        report.dataset_drift          # True / False
        report.to_dataframe()         # one row per column
        report.save_html("drift.html")  # needs pip install 'drift-sidecar[report]'

    The report keeps references to both frames for ``save_html`` (not copies).
    """
    from drift.core.comparison import compare as evaluate

    report = evaluate(
        reference,
        current,
        columns=columns,
        drift=drift,
        model=model,
        source=source,
        **shortcuts,
    )
    return replace(report, page=ComparedFrames(reference, current))


@dataclass(frozen=True, eq=False)
class ComparedFrames:
    """The ``ReportPage`` of ``compare``'s reports: evidently's report of the two frames with
    the methods, thresholds and share threshold of our evaluation (``exporters.report``)."""

    reference: pd.DataFrame
    current: pd.DataFrame

    def html(self, report: DriftReport) -> str:
        from exporters.report.evidently_html import ColumnSpec, render_html

        features = [ColumnSpec.from_result(col) for col in report.columns]
        prediction = report.prediction
        verdict = "drift" if report.dataset_drift else "no drift"
        lines = [
            f"{len(self.current)} current rows against the reference {report.reference_source} "
            f"({len(self.reference)} rows).",
            f"Dataset: {report.drifted_columns} of {report.evaluated_columns} evaluated feature "
            f"columns drifted (share threshold {report.share_threshold:g}): {verdict}. The "
            "methods and thresholds are those of drift-sidecar's evaluation.",
        ]
        with warnings.catch_warnings():
            # evidently's statistics warn on data they handle (e.g. a constant column's
            # correlation divides by zero): nothing a notebook user can act on
            warnings.simplefilter("ignore", RuntimeWarning)
            return render_html(
                _plain_strings(self.reference),
                _plain_strings(self.current),
                features,
                None if prediction is None else ColumnSpec.from_result(prediction),
                report.share_threshold,
                heading=f"Drift report: {report.model}",
                lines=lines,
                footnotes=(),
            )

    def save(self, report: DriftReport, path: Path) -> None:
        path.write_text(self.html(report), encoding="utf-8")


def _plain_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with Arrow-backed string columns (what the file reader gives) as object
    columns, the kind evidently knows."""
    import pandas as pd

    arrow = [name for name, dtype in frame.dtypes.items() if isinstance(dtype, pd.ArrowDtype)]
    if not arrow:
        return frame
    return frame.astype({name: object for name in arrow})


def __getattr__(name: str) -> Any:
    # lazy: `import drift` stays cheap for the CLI and the client
    if name == "DriftReport":
        from drift.core.report import DriftReport

        return DriftReport
    raise AttributeError(f"module 'drift' has no attribute {name!r}")
