"""Where reference datasets come from, one module per backend behind the ``ReferenceSource``
port of ``drift.ports``: ``file`` (CSV/Parquet, read with pyarrow; its readers serve the other
sources too), ``s3``, ``clearml`` (datasets, and the bounded SDK session that
``exporters.clearml`` reuses), and ``cache`` (profiles kept on disk, so that a restart skips
reading and profiling the data, and a restart with a remote source down still serves).

May import: ``drift.core``, ``drift.config``, ``drift.errors``/``drift.ports`` and the backend's
SDK (imported on first use, with an install hint when missing). Not the service, not exporters.
"""
