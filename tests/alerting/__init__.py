"""Tests of drift.alerting: the state machine and the Kafka event format."""
