"""Writing text that we did not write into an HTML page: JSON for a ``<script>`` (escaped as
Django's ``json_script`` does), strings for plotly's HTML subset, and the Content-Security-Policy
of the report (the response header and a page's own ``<meta>`` policy by script hashes)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

# What evidently's standalone page needs: inline scripts (its data, its bundle and the call that
# draws the dashboard), inline styles (its <style> and the ones MUI and plotly inject) and its
# icon font as a data: URL. It fetches nothing (no CDN: the bundle is inline; the cdn.plot.ly
# URL in it is for geo maps, which the report has none of), so nothing else is allowed: no
# connect, frame, object, worker or remote image. data: and blob: images, which cannot run script
# or reach the network, are allowed for plotly's "download plot as png" (it draws an SVG blob).
_CSP_SHARED = (
    "style-src 'unsafe-inline'",
    "font-src data:",
    "img-src data: blob:",
    "base-uri 'none'",
    "form-action 'none'",
)
#: The Content-Security-Policy of the report response. The route cannot name the page's scripts
#: by hash (it sends one fixed header), so it allows inline scripts; the page's own ``<meta>``
#: policy (both policies apply) narrows them to the page's own scripts.
REPORT_CSP = "; ".join(
    ("default-src 'none'", "script-src 'unsafe-inline'", *_CSP_SHARED, "frame-ancestors 'none'")
)
#: Headers for the response of ``GET /v1/models/{model}/report``.
REPORT_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "Content-Security-Policy": REPORT_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
)

# JSON's own syntax has none of these characters, so they only occur inside strings, where the
# escape decodes to the same character; in a <script> they could end the script (``</script``),
# start a comment that changes how the browser finds its end (``<!--``), or end a line (U+2028).
_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def script_json(value: object, encoder: type[json.JSONEncoder] = json.JSONEncoder) -> str:
    """``value`` as JSON that is safe inside an HTML ``<script>`` and a JavaScript literal."""
    return json.dumps(value, cls=encoder).translate(_SCRIPT_ESCAPES)


# plotly draws the text of a chart (tick labels, titles, legends, hover labels) from a subset of
# HTML (<b>, <br>, <a href>, <span style>, entities): a category "<a href=...>" would be a link
_PLOTLY_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}


def plotly_text(node: Any, in_figure: bool = False) -> Any:
    """``node`` (evidently's widget data) with every string inside a plotly figure (a mapping
    with a ``data`` list and a ``layout`` mapping) escaped for plotly's HTML subset, so that
    plotly shows it as the text it is (``&lt;b&gt;`` is drawn as ``<b>``). evidently's reports
    put no markup of their own into these strings; strings elsewhere (tables, counters: React
    shows them as text) and numbers are left as they are. Returns new containers."""
    if isinstance(node, Mapping):
        figure = in_figure or (
            isinstance(node.get("data"), list | tuple) and isinstance(node.get("layout"), Mapping)
        )
        return {key: plotly_text(value, figure) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [plotly_text(value, in_figure) for value in node]
    if in_figure and isinstance(node, str):
        return node.translate(_PLOTLY_ESCAPES)
    if in_figure and isinstance(node, np.ndarray | pd.Series | pd.Index | pd.Categorical):
        return plotly_text(node.tolist(), in_figure)  # what evidently's encoder would write
    return node


def script_hashes(scripts: Sequence[str]) -> list[str]:
    """CSP sources (``'sha256-...'``) that allow exactly these inline script bodies."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in scripts
    ]


def page_csp(scripts: Sequence[str]) -> str:
    """The page's ``<meta>`` policy: only the given inline scripts run (``frame-ancestors``
    is not allowed in a ``<meta>`` policy: ``REPORT_HEADERS`` carries it)."""
    sources = " ".join(script_hashes(scripts)) or "'none'"
    return "; ".join(("default-src 'none'", f"script-src {sources}", *_CSP_SHARED))
