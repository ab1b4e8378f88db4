"""Where reference datasets come from, one module per backend behind the ``ReferenceSource``
port of ``drift.ports``: ``file`` (CSV/Parquet), ``s3``, ``clearml`` (datasets, and the bounded
SDK session that ``exporters.clearml`` reuses), and ``cache`` (profiles kept on disk so a
restart with the source down still serves).

May import: ``drift.core``, ``drift.config``, ``drift.errors``/``drift.ports`` and the backend's
SDK (imported on first use, with an install hint when missing). Not the service, not exporters.
"""
