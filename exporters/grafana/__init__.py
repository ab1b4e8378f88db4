"""Grafana dashboards as code (grafana-foundation-sdk): shared panel builders (``panels``,
``common``), the overview and per-model detail dashboards, the committed JSON files
(``files``) and provisioning through Grafana's HTTP API (``provision``). Needs the ``grafana``
extra; the sidecar never imports it at run time."""
