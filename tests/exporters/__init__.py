"""Tests of exporters: Prometheus rules (promtool), exposition, dashboards, delivery, Slack."""
