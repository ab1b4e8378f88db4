"""Tests of drift.service through its HTTP API (in-process app, raw sockets for the fast path)."""
