"""Grafana dashboards as code (grafana-foundation-sdk): panel builders (``panels``), the
stat panels of alert conditions shared by both dashboards (``alert_states``), dashboard-level
helpers (``common``), grid placement (``layout``), the overview and per-model ``detail``
dashboards, the committed JSON files (``files``) and provisioning through Grafana's HTTP API
(``provision``). Needs the ``grafana`` extra; the sidecar never imports it at run time."""
