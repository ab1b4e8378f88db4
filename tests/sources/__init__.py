"""Tests of drift.sources and of the service's reference loading over them."""
