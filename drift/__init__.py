"""drift-sidecar: data and model drift monitoring beside a model server.

``drift.compare(reference, current, **options) -> DriftReport`` runs the engine on two frames.

One folder per layer (docs/architecture.md), each importing only those below it: ``service``
(the composition root) -> ``sources``, ``alerting`` and the top-level ``exporters`` package ->
``ingest`` -> ``config`` -> ``core`` (pure statistics) -> ``errors``, ``ports``, ``retry``.
``client`` is what model servers import and depends on none of them.
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
