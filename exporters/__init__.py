"""Adapters between the drift core and the outside world (files, Prometheus, ...)."""
