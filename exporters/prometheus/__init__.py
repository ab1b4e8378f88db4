"""Prometheus: the custom collector of drift results (``collector``), the performance and
reporting collectors (``performance``), ``/metrics`` content negotiation (``exposition``) and
the alert rules generator (``rules``: the rule file, the PrometheusRule, promtool tests)."""
