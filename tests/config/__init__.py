"""Tests of drift.config: validation, dotted error paths, env overrides."""
