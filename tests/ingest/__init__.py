"""Tests of drift.ingest: request bodies, samples, labels, CloudEvents parsing and pairing."""
