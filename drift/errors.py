"""Errors that carry data. The HTTP layer maps them to responses in one place."""

from __future__ import annotations

from pathlib import Path


class DriftError(Exception):
    """Base class of every error the sidecar raises on purpose."""


class ConfigError(DriftError):
    """The configuration is invalid: a list of (dotted field path, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))
        self.problems = problems


class ReferenceUnavailable(DriftError):
    """A reference dataset could not be loaded."""

    def __init__(self, source: str, cause: str) -> None:
        super().__init__(f"reference {source}: {cause}")
        self.source = source
        self.cause = cause


class ReferenceSchemaError(DriftError):
    """A reference does not match the configured column roles."""

    def __init__(self, source: str | Path, column: str, reason: str) -> None:
        super().__init__(f"reference {source}: column {column!r} {reason}")
        self.source = str(source)
        self.column = column
        self.reason = reason


class UnknownModel(DriftError):
    def __init__(self, model: str) -> None:
        super().__init__(f"unknown model {model!r}")
        self.model = model


class InvalidRequest(DriftError):
    """The request as a whole is unusable (not JSON, wrong top-level shape, too large)."""

    def __init__(self, status: int, reason: str, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.status = status
        self.reason = reason
        self.field = field
        self.detail = detail


def body_too_large(limit: int, declared: int | None = None) -> InvalidRequest:
    """413 for a body over ``limit`` bytes: ``declared`` by its Content-Length, or found so
    while reading it."""
    if declared is not None:
        detail = f"{declared} bytes exceed the limit {limit}"
    else:
        detail = f"body exceeds the limit {limit} bytes"
    return InvalidRequest(413, "body_too_large", "(body)", detail)


def unsupported_media_type(content_type: str | None, accepted: tuple[str, ...]) -> InvalidRequest:
    """415 for a body whose Content-Type is not one the route takes (or is missing): the
    answer names the header."""
    got = f"{content_type[:100]!r} is not" if content_type else "no Content-Type: it must be"
    detail = f"{got} {' or '.join(accepted)} (parameters such as charset allowed)"
    return InvalidRequest(415, "unsupported_media_type", "content-type", detail)


class NotReady(DriftError):
    """A model's reference is not loaded yet (or failed to load)."""

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(f"model {model!r} is not ready: {detail}")
        self.model = model
        self.detail = detail
