"""Validation of ``POST /v1/models/{model}/labels``: ``{"labels": [{"id": ..., "label": ...}]}``.

Like the samples API, one bad label never costs its neighbours their place: good labels are
returned, each bad one becomes a ``Rejection`` naming its index and field. An id, or a label
spelled as text (a string, or an integer's digits), longer than ``max_value_bytes`` in UTF-8 is
rejected (``too_long``): the label join keeps both while they wait.
"""

from __future__ import annotations

import math
from typing import Any

from drift.ingest.samples import Rejection, RejectReason, body_items, kind_of, oversize


def _short(text: str, field_name: str, limit: int) -> None:
    size = oversize(text, limit)
    if size is not None:
        raise _Bad(field_name, RejectReason.TOO_LONG, f"{size} bytes > {limit}")


def _one(item: Any, limit: int) -> tuple[str, object]:
    if not isinstance(item, dict):
        raise _Bad("(label)", RejectReason.WRONG_TYPE, f"expected an object, got {kind_of(item)}")
    if "id" not in item or item["id"] is None:
        raise _Bad("id", RejectReason.MISSING_FIELD, "every label needs the id of its prediction")
    sample_id = item["id"]
    if isinstance(sample_id, bool) or not isinstance(sample_id, str | int):
        raise _Bad(
            "id", RejectReason.WRONG_TYPE, f"expected a string or integer, got {kind_of(sample_id)}"
        )
    sample_id = str(sample_id)
    _short(sample_id, "id", limit)
    if "label" not in item or item["label"] is None:
        raise _Bad("label", RejectReason.MISSING_FIELD, "every label needs 'label'")
    label = item["label"]
    if not isinstance(label, str | int | float | bool):
        raise _Bad(
            "label",
            RejectReason.WRONG_TYPE,
            f"expected a string, number or bool, got {kind_of(label)}",
        )
    if isinstance(label, float) and not math.isfinite(label):
        raise _Bad("label", RejectReason.INVALID_VALUE, "label must be finite")
    if isinstance(label, str):
        _short(label, "label", limit)
    elif type(label) is int and label.bit_length() > 64:  # up to 4,300 digits from JSON
        _short(str(label), "label", limit)
    return sample_id, label


class _Bad(Exception):
    def __init__(self, field_name: str, reason: RejectReason, detail: str) -> None:
        self.field_name = field_name
        self.reason = reason
        self.detail = detail


def validate_labels(
    payload: Any, max_labels: int, *, max_value_bytes: int
) -> tuple[list[tuple[str, object]], list[Rejection]]:
    """Split a request body into (id, label) pairs and rejections (an id or label longer than
    ``max_value_bytes``, too); raises ``InvalidRequest`` when the body as a whole is
    unusable."""
    labels = body_items(payload, "labels", max_labels, "too_many_labels")
    good: list[tuple[str, object]] = []
    rejections: list[Rejection] = []
    for index, item in enumerate(labels):
        try:
            good.append(_one(item, max_value_bytes))
        except _Bad as bad:
            rejections.append(Rejection(index, bad.field_name, bad.reason, bad.detail))
    return good, rejections
