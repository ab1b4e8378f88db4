"""The composition root: the FastAPI app and its routes, the CloudEvents fast path, one
monitor per model (window, reference state, performance), the evaluator thread, reference
loading and refresh, the wiring of exporters and alert delivery, authentication and request
limits, the server runner, and the state snapshots that survive restarts (``state.py``).

May import every layer below it (exporters, sources, alerting, ingest, config, core). Nothing
imports the service except the entry points: ``drift.cli``, ``drift.commands`` and ``drift.demo``.
"""
