"""The HTML drift report of ``GET /v1/models/{model}/report``, rendered by evidently.

evidently is an optional dependency (``pip install 'drift-sidecar[report]'``) and is imported here
only when a report is rendered, never at start-up (the import alone takes seconds).

evidently gets the same per-column methods and thresholds and the same dataset drift share as our
latest evaluation, so the page shows the numbers of ``GET /v1/models/{model}/drift``: the feature
columns go to one ``DataDriftPreset`` (its share is our dataset share), the prediction to its own
``ValueDrift`` (our engine leaves it out of the share). The page is self-contained: evidently
inlines its JavaScript bundle and icon font, so it renders without network access.

Everything on the page that we did not write (category values, column names, the model name, the
reference's source) is data, never markup. evidently's ``Snapshot.get_html_str`` writes its
dashboard data into a ``<script>`` in the page head as ``json.dumps(..., cls=NumpyEncoder)``,
which leaves ``<``, ``>`` and ``&`` raw: a category ``</script><script>...`` ends evidently's
script and starts the sender's. So we do not let evidently write the data: we take its template
without the data (``TemplateParams(embed_data=False)``) and write the same two variables
ourselves with ``script_json``, which escapes those characters (and U+2028/U+2029) as ``\\u003c``
etc. (Django's ``json_script`` does the same); the text we add (title, header, footnotes) goes
through ``html.escape``. The JSON decodes to the same strings, so a category ``<b>x</b>`` still
shows as that text. The plotly charts read a subset of HTML from their strings (``<b>``,
``<a href>``): inside them, strings are entity-escaped first (``plotly_text``), which plotly shows
as the original text.

As a second wall, the page carries a ``<meta>`` Content-Security-Policy that lets only its own
scripts run (their SHA-256 hashes, taken from evidently's template and our data script before
any data is in the page); the route sends ``REPORT_HEADERS`` as well (both policies apply).
"""

from __future__ import annotations

import html
import logging
import math
import re
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from drift.core.columns import ColumnType
from drift.core.reference import ReferenceProfile
from drift.core.report import ColumnDrift, DriftReport
from drift.core.stattests import METHODS
from drift.errors import DriftError
from exporters.report.safe_html import (
    page_csp,
    plotly_text,
    script_json,
)

INSTALL_HINT = "pip install 'drift-sidecar[report]'"

REFERENCE_FOOTNOTE = (
    "The reference shown here is rebuilt from the sidecar's per-column reference profile "
    "(sorted values of numerical columns, category counts of categorical ones): every column "
    "has the reference's distribution, but row order and the joint distribution of the columns "
    "are not kept."
)
WINDOW_FOOTNOTE = (
    "evidently scores the window as it is when the page is rendered; samples that arrived "
    "after the evaluation (less than one window step) can make its numbers differ slightly "
    "from the evaluation's."
)


log = logging.getLogger(__name__)

#: where evidently's page template has its data when it is told not to embed it
NO_DATA = "<!-- no embedded data -->"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


class EvidentlyMissing(DriftError):
    """evidently (the ``report`` extra) is not installed, fails to import, or is a version whose
    page this module does not know how to fill safely."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"the HTML report needs evidently ({cause}): {INSTALL_HINT}")
        self.cause = cause
        self.install = INSTALL_HINT


class ReportFailed(DriftError):
    """evidently could not compute or draw the report of this window (for example values so
    large that its histograms overflow: 1e200). Nothing the client can change by asking again:
    the page of this evaluation stays unavailable; the drift result itself is unaffected."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"evidently could not render the report of this window: {cause}")
        self.cause = cause


@dataclass(frozen=True)
class ColumnSpec:
    """One column for evidently: its type and the method and threshold our evaluation used.

    ``method`` is a ``drift.core.stattests.METHODS`` key (evidently's identifier); None leaves the
    choice to evidently's default, which is the same as ours.
    """

    name: str
    column_type: ColumnType
    method: str | None = None
    threshold: float | None = None

    @classmethod
    def from_result(cls, result: ColumnDrift) -> ColumnSpec:
        return cls(result.column, result.column_type, result.method or None, _threshold(result))

    @property
    def evidently_method(self) -> str | None:
        """The method to name to evidently. evidently refuses an explicit ``chisquare`` or ``z``
        for a numerical column although its default choice picks them for numerical columns
        with few values; such a column gets no explicit method (its default is ours)."""
        if self.method is None or self.column_type not in METHODS[self.method].column_types:
            return None
        return self.method


def _threshold(result: ColumnDrift) -> float | None:
    """The threshold that makes evidently decide as our evaluation did.

    Under a multiple-testing correction our decision compares the adjusted p-value ``p'`` with
    the threshold ``t``; evidently compares the raw ``p``, and ``p < t p / p'`` exactly when
    ``p' < t`` (``<=`` likewise), so evidently gets ``t p / p'``.
    """
    if not math.isfinite(result.threshold):
        return None
    p, adjusted = result.score, result.adjusted_score
    if p is None or adjusted is None or not (p > 0 and adjusted > 0):
        return result.threshold
    return result.threshold * p / adjusted


def _decorate(
    page: str,
    csp: str,
    heading: str,
    lines: Sequence[str],
    notes: Sequence[str],
    footnotes: Sequence[str],
) -> str:
    """Add the ``<meta>`` policy ``csp``, a title, a header (``lines``, ``notes``) and footnotes
    to evidently's page template (without the data: the tags found are evidently's)."""
    title = (
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">'
        f"<title>{html.escape(heading)}</title>"
    )
    head = page.find("<head>")
    if head >= 0:
        page = page[: head + len("<head>")] + title + page[head + len("<head>") :]
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    header = (
        '<section id="drift-sidecar-header" style="font-family: sans-serif; margin: 16px 24px">'
        f"<h1 style='font-size: 1.5em'>{html.escape(heading)}</h1>{paragraphs}"
        f"{f'<ul>{items}</ul>' if items else ''}</section>"
    )
    body = page.rfind("<body>")
    if body >= 0:
        page = page[: body + len("<body>")] + header + page[body + len("<body>") :]
    footer = (
        '<footer id="drift-sidecar-footnotes" style="font-family: sans-serif; font-size: 0.85em;'
        ' color: #555; margin: 16px 24px">'
        + "".join(f"<p>{html.escape(note)}</p>" for note in footnotes)
        + "</footer>"
    )
    end = page.rfind("</body>")
    return page[:end] + footer + page[end:] if end >= 0 else page + footer


def usable_columns(
    columns: Sequence[ColumnSpec], reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[list[ColumnSpec], list[str]]:
    """The columns with at least one usable (not missing, NaN or inf) value in both frames, and
    a note for each column left out."""
    used: list[ColumnSpec] = []
    notes: list[str] = []
    for spec in columns:
        empty = [
            side
            for side, frame in (("window", current), ("reference", reference))
            if not frame[spec.name].replace([np.inf, -np.inf], np.nan).notna().any()
        ]
        if empty:
            notes.append(
                f"Column {spec.name!r} is not in the report: it has no usable value "
                f"(all missing, NaN or inf) in the {' and the '.join(empty)}."
            )
        else:
            used.append(spec)
    return used, notes


def render_html(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[ColumnSpec],
    prediction: ColumnSpec | None,
    drift_share: float,
    *,
    heading: str = "Drift report",
    lines: Sequence[str] = (),
    footnotes: Sequence[str] = (REFERENCE_FOOTNOTE,),
) -> str:
    """A standalone HTML page: evidently's report of ``current`` against ``reference``.

    +-inf count as missing values. Columns without a usable value in either frame are left out
    (evidently refuses empty columns) and named in a note at the top of the page. Raises
    ``EvidentlyMissing`` when evidently cannot be imported.
    """
    try:
        from evidently import DataDefinition, Dataset, Report
        from evidently.metrics import ValueDrift
        from evidently.presets import DataDriftPreset
    except ImportError as exc:
        raise EvidentlyMissing(str(exc)) from exc

    columns = [*features, *([prediction] if prediction is not None else [])]
    used, notes = usable_columns(columns, reference, current)
    used_features = [spec for spec in used if spec in features]
    metrics: list[object] = []
    if used_features:
        methods = {s.name: m for s in used_features if (m := s.evidently_method) is not None}
        thresholds = {s.name: s.threshold for s in used_features if s.threshold is not None}
        metrics.append(
            DataDriftPreset(
                columns=[spec.name for spec in used_features],
                drift_share=drift_share,
                per_column_method=methods or None,
                per_column_threshold=thresholds or None,
            )
        )
    if prediction is not None and prediction in used:
        metrics.append(
            ValueDrift(
                column=prediction.name,
                method=prediction.evidently_method,
                threshold=prediction.threshold,
            )
        )
    if not metrics:
        page = "<!DOCTYPE html><html><head><meta charset='UTF-8'></head><body></body></html>"
        return _decorate(page, page_csp(()), heading, lines, notes, footnotes)
    names = [spec.name for spec in used]
    definition = DataDefinition(
        numerical_columns=[s.name for s in used if s.column_type is ColumnType.NUMERICAL],
        categorical_columns=[s.name for s in used if s.column_type is ColumnType.CATEGORICAL],
    )
    try:
        snapshot = Report(metrics).run(
            Dataset.from_pandas(
                current[names].replace([np.inf, -np.inf], np.nan), data_definition=definition
            ),
            Dataset.from_pandas(
                reference[names].replace([np.inf, -np.inf], np.nan), data_definition=definition
            ),
        )
    except (ArithmeticError, ValueError, TypeError) as exc:  # its numerics on extreme data
        log.warning("evidently failed on the report's data: %s: %s", type(exc).__name__, exc)
        raise ReportFailed(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    template, data_script = evidently_page_parts(snapshot)
    # the policy and our texts go into evidently's template before the data does
    scripts = [*_INLINE_SCRIPT.findall(template), data_script]
    page = _decorate(template, page_csp(scripts), heading, lines, notes, footnotes)
    return page.replace(NO_DATA, f"<script>{data_script}</script>", 1)


def evidently_page_parts(snapshot: Any) -> tuple[str, str]:
    """evidently's standalone page for ``snapshot`` (a ``Report.run`` result) without its data
    (``NO_DATA`` where the data goes), and the body of the script that defines the data.

    This is ``Snapshot.get_html_str(as_iframe=False)`` of evidently 0.7 (``render_widgets``,
    ``dashboard_info_to_json``) with the data serialised by ``script_json(plotly_text(...))``
    instead of ``json.dumps``. The template inlines evidently's JS bundle and icon font: no
    network needed. Raises ``EvidentlyMissing`` if evidently's template is not the expected one.
    """
    from evidently.legacy.model.dashboard import DashboardInfo
    from evidently.legacy.model.widget import AdditionalGraphInfo, BaseWidgetInfo
    from evidently.legacy.renderers.base_renderer import DetailsInfo
    from evidently.legacy.renderers.html_widgets import group_widget
    from evidently.legacy.utils import NumpyEncoder
    from evidently.legacy.utils.dashboard import TemplateParams, file_html_template

    model = snapshot.to_snapshot_model()
    widgets = [group_widget(title="", widgets=model.widgets), *model.tests_widgets]
    items = [
        DetailsInfo(
            title="",
            info=graph.params if isinstance(graph, AdditionalGraphInfo) else graph,
            id=graph.id,
        )
        for widget in widgets
        for graph in widget.get_additional_graphs()
    ]
    additional_graphs = {
        f"{item.id}": item.info.dict() if isinstance(item.info, BaseWidgetInfo) else item.info
        for item in items
    }
    dashboard_id = f"metric_{uuid.uuid4().hex}"
    dashboard = DashboardInfo(name="Report", widgets=widgets).dict()
    for widget in dashboard["widgets"]:
        widget.pop("additionalGraphs", None)
    params = TemplateParams(
        dashboard_id=dashboard_id,
        dashboard_info=DashboardInfo(name="Report", widgets=[]),
        additional_graphs={},
        embed_data=False,
    )
    template = str(file_html_template(params))
    if any(template.count(tag) != 1 for tag in (NO_DATA, "<head>", "<body>", "</body>")):
        version = getattr(sys.modules.get("evidently"), "__version__", "?")
        raise EvidentlyMissing(f"the page template of evidently {version} is not 0.7's")
    data = script_json(plotly_text(dashboard), NumpyEncoder)
    graphs = script_json(plotly_text(additional_graphs), NumpyEncoder)
    data_script = (
        f"\nvar {dashboard_id} = {data};\nvar additional_graphs_{dashboard_id} = {graphs};\n"
    )
    return template, data_script


def column_specs(
    profile: ReferenceProfile, report: DriftReport
) -> tuple[list[ColumnSpec], ColumnSpec | None]:
    """The feature and prediction columns with the methods and thresholds of ``report``."""
    by_name = {result.column: result for result in report.columns}
    features = [
        ColumnSpec.from_result(by_name[col.name])
        if col.name in by_name
        else ColumnSpec(col.name, col.column_type)
        for col in profile.features
    ]
    pred = profile.prediction
    if pred is None:
        return features, None
    if report.prediction is not None and report.prediction.column == pred.name:
        return features, ColumnSpec.from_result(report.prediction)
    return features, ColumnSpec(pred.name, pred.column_type)


def drift_report_html(profile: ReferenceProfile, report: DriftReport, window: pd.DataFrame) -> str:
    """The page for one model: ``window`` (the monitor's window frame) against the profile's
    reference frame, with the methods, thresholds and share threshold of ``report``."""
    features, prediction = column_specs(profile, report)
    corrected = [c.column for c in report.columns if c.adjusted_score is not None]
    evaluated = datetime.fromtimestamp(report.evaluated_at, UTC).isoformat(timespec="seconds")
    lines = [
        f"Evaluation at {evaluated}: {report.window_samples} window samples "
        f"({report.samples_seen} seen in total) against the reference {report.reference_source} "
        f"({report.reference_rows} rows).",
        f"Dataset drift: {report.drifted_columns} of {report.evaluated_columns} evaluated feature "
        f"columns drifted (share threshold {report.share_threshold:g}). The same methods and "
        f"thresholds as GET /v1/models/{report.model}/drift; evidently window: {len(window)} "
        "samples.",
    ]
    if corrected:
        lines.append(
            "A multiple-testing correction applies to the p-value tests of "
            f"{', '.join(corrected)}: evidently shows the raw p-values; its thresholds are "
            "scaled (threshold x p / adjusted p) so that its decisions are the corrected ones."
        )
    return render_html(
        profile.to_frame(),
        window,
        features,
        prediction,
        report.share_threshold,
        heading=f"Drift report: {report.model}",
        lines=lines,
        footnotes=(REFERENCE_FOOTNOTE, WINDOW_FOOTNOTE),
    )


class ReportPages:
    """Rendered pages, one per model, kept for the evaluation they show.

    At most one render runs per model at a time; a request that waited for it gets its page.
    ``renders(model)`` counts the renders, failed ones included (a page, or a failure, served
    from the cache does not count).
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._pages: dict[str, tuple[float, str | ReportFailed]] = {}
        self._renders: dict[str, int] = {}

    def renders(self, model: str) -> int:
        return self._renders.get(model, 0)

    def cached(self, model: str, key: float) -> str | None:
        """The page of ``model`` if it was rendered for ``key`` (the evaluation time); raises
        the ``ReportFailed`` of that render if it failed (not tried again for the same key)."""
        entry = self._pages.get(model)
        if entry is None or entry[0] != key:
            return None
        if isinstance(entry[1], ReportFailed):
            raise entry[1]
        return entry[1]

    def get(self, model: str, key: float, render: Callable[[], str]) -> str:
        """The cached page for ``key``, else ``render()`` (blocking: call it off the event
        loop), which replaces the model's page."""
        with self._guard:
            lock = self._locks.setdefault(model, threading.Lock())
        with lock:
            page = self.cached(model, key)
            if page is not None:
                return page
            try:
                page = render()
            except ReportFailed as exc:
                self._pages[model] = (key, exc)
                self._renders[model] = self.renders(model) + 1
                raise
            self._pages[model] = (key, page)
            self._renders[model] = self.renders(model) + 1
            return page
