"""The commands of ``drift-sidecar`` that are more than a few lines, one module each:
``check_config`` (every problem of a configuration file in one run), ``compare`` (two data
files, for CI jobs), ``dashboards`` (Grafana export and provisioning), and ``console`` (what
they share: exit codes, one-line errors, ``--output``). ``drift.cli`` holds the parser and the
dispatch and imports these; the heavy imports happen inside the commands.

The entry-point layer, under ``drift.cli`` and above ``drift.demo``: may import every layer
below (service, exporters, sources, config, ...). Nothing imports it but ``drift.cli``.
"""
