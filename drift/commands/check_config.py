"""``drift-sidecar check-config``: every problem of a configuration file in one run. The
problems of each stage are collected rather than raised: reading the YAML and expanding
``${VAR}``, the settings model (its schema, then the cross-field rules the schema errors hide),
and each model's reference and columns."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drift.commands.console import EXIT_CONFIG, one_line, print_config_error
from drift.errors import ConfigError, DriftError

if TYPE_CHECKING:
    from drift.config import ModelConfig


def cmd_check_config(args: argparse.Namespace) -> int:
    """Every problem of the file in one run: the schema, the cross-field rules, and each model's
    reference and columns (for every model whose reference and columns sections are valid, the
    broken sections of the file set aside), then ``OK`` or exit 2."""
    from drift.config import read_config

    try:
        data = read_config(args.config)
    except ConfigError as exc:
        print_config_error(exc)
        return EXIT_CONFIG
    problems, models = _validate_collecting(data, Path(args.config).parent)
    summaries = []
    for name, model in models.items():
        found, summary = _check_model(name, model)
        problems += found
        summaries += [summary] if summary else []
    for line in summaries:
        print(line)
    if problems:
        print_config_error(ConfigError(list(dict.fromkeys(problems))))
        return EXIT_CONFIG
    print(f"{args.config}: OK ({len(models)} model(s))")
    return 0


def _validate_collecting(
    data: Any, base_dir: Path
) -> tuple[list[tuple[str, str]], dict[str, ModelConfig]]:
    """The schema problems of ``data``, and the models whose reference and columns can be
    checked. Validation skips a model's cross-field rules where a field of it fails, and the
    file's where any field fails; so the broken sections are left out (their defaults apply)
    and the rest validated again, to find the problems those rules and the references hide."""
    from pydantic import ValidationError

    from drift.config import Settings, settings_from_mapping

    try:
        return [], dict(settings_from_mapping(data, base_dir).models)
    except ConfigError as exc:
        problems = list(exc.problems)
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        return problems, {}
    try:
        Settings(**data)
    except ValidationError as exc:
        locs = [tuple(err["loc"]) for err in exc.errors()]
    else:  # cannot happen: the same validation failed above
        return problems, {}
    broken_top = {loc[0] for loc in locs if loc and loc[0] != "models"}
    broken: dict[Any, set[Any]] = {}
    for loc in locs:
        if len(loc) >= 2 and loc[0] == "models":
            broken.setdefault(loc[1], set()).add(loc[2] if len(loc) >= 3 else None)
    models: dict[str, Any] = {}
    for name, raw in data["models"].items():
        sections = broken.get(name, set())
        if sections & {None, "reference", "columns"} or not isinstance(raw, dict):
            continue  # nothing to check the reference against
        models[name] = {key: value for key, value in raw.items() if key not in sections}
    if not models:
        return problems, {}
    rest = {key: value for key, value in data.items() if key not in broken_top | {"models"}}
    try:
        return problems, dict(settings_from_mapping({**rest, "models": models}, base_dir).models)
    except ConfigError as exc:  # a rule across the models (e.g. two take the same events)
        problems += exc.problems
    checked = {}
    for name, raw in models.items():
        try:
            checked[name] = settings_from_mapping({"models": {name: raw}}, base_dir).models[name]
        except ConfigError as exc:
            problems += exc.problems
    return problems, checked


def _check_model(name: str, model: ModelConfig) -> tuple[list[tuple[str, str]], str | None]:
    """The problems of one model's reference and columns, or its summary line."""
    from drift.service.references import profile_frame, reference_source

    where = f"models.{name}.reference"
    try:
        source = reference_source(model)
        version = source.current()
        frame = source.load(version)
    except ConfigError as exc:
        return list(exc.problems), None
    except DriftError as exc:
        return [(where, one_line(str(exc)))], None
    absent = [(role, c) for role, c in _configured_columns(model) if c not in frame.columns]
    problems = [
        (f"models.{name}.columns.{role}", f"{c!r} is not in the reference {version.description}")
        for role, c in absent
    ]
    try:  # without the absent columns: what else is wrong (methods, types, ...)
        trimmed = _without(model, {c for _, c in absent})
        profile = profile_frame(name, trimmed, frame, version.description)
    except ConfigError as exc:
        return [*problems, *exc.problems], None
    except DriftError as exc:
        return [*problems, (where, one_line(str(exc)))], None
    if problems:
        return problems, None
    cols = ", ".join(f"{c.name} ({c.column_type}, {c.role})" for c in profile.columns.values())
    summary = f"model {name}: reference {version.description}: {profile.rows} rows; columns: {cols}"
    return [], summary


def _without(model: ModelConfig, absent: set[str]) -> ModelConfig:
    """``model`` with the columns in ``absent`` taken out of its roles."""
    if not absent:
        return model
    roles = model.columns

    def kept(names: list[str] | None) -> list[str] | None:
        return None if names is None else [name for name in names if name not in absent]

    prediction = None if roles.prediction in absent else roles.prediction
    update = {
        "numerical": kept(roles.numerical),
        "categorical": kept(roles.categorical),
        "prediction": prediction,
        "target": None if roles.target in absent or prediction is None else roles.target,
        "scores": {label: c for label, c in roles.scores.items() if c not in absent},
    }
    return model.model_copy(update={"columns": roles.model_copy(update=update)})


def _configured_columns(model: ModelConfig) -> list[tuple[str, str]]:
    """(role, column) of every column the model's roles require in the reference."""
    roles = model.columns
    found = [("numerical", c) for c in roles.numerical or []]
    found += [("categorical", c) for c in roles.categorical or []]
    found += [(role, c) for role in ("prediction", "target") if (c := getattr(roles, role))]
    found += [(f"scores.{label}", c) for label, c in roles.scores.items()]
    return found
