"""The HTTP service around the drift core: ingestion, background evaluation, metrics."""
