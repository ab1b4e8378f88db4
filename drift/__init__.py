"""drift-sidecar: data and model drift monitoring beside a model server.

``drift.compare(reference, current, **options) -> DriftReport`` runs the engine on two frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drift.core.comparison import compare
    from drift.core.report import DriftReport

__all__ = ["DriftReport", "compare"]


def __getattr__(name: str) -> Any:
    # lazy: `import drift` stays cheap for the CLI and the client
    if name == "compare":
        from drift.core.comparison import compare

        return compare
    if name == "DriftReport":
        from drift.core.report import DriftReport

        return DriftReport
    raise AttributeError(f"module 'drift' has no attribute {name!r}")
