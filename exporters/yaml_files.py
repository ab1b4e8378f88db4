"""The YAML files the exporters generate (the rule file, the PrometheusRule, Grafana's
provider and ConfigMap): yamllint's default style (block sequences indented under their key),
multi-line strings as ``|`` blocks, keys in the order given, and a do-not-edit header."""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def generated_header(source: str, command: str) -> str:
    """``# Generated from SOURCE by `COMMAND`; do not edit.``"""
    return f"# Generated from {source} by `{command}`; do not edit.\n"


def to_yaml(data: dict[str, Any], header: str) -> str:
    """``header`` + the YAML document of ``data``."""
    body = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, explicit_start=True, allow_unicode=True, width=10_000
    )
    return header + body
