"""Reference datasets from ClearML Datasets, through the ClearML SDK.

The SDK is imported on first use (``pip install 'drift-sidecar[clearml]'``). Connection
settings are the SDK's own: ``CLEARML_API_HOST``, ``CLEARML_FILES_HOST``,
``CLEARML_API_ACCESS_KEY``, ``CLEARML_API_SECRET_KEY`` or a mounted ``clearml.conf``
(``CLEARML_CONFIG_FILE``); downloads land in the SDK cache (``CLEARML_CACHE_DIR``).

The SDK's defaults suit a training script, not a sidecar: 240 HTTP retries with backoff make
``Dataset.get`` hang for minutes when the server is down, and the SDK's request loop
(``InterfaceBase._send``) retries a connection error forever. So the API session is replaced,
once per process, by one with a per-request timeout and a bounded retry count (from the first
model's ``reference.clearml.timeout_seconds`` and ``retries``) whose ``send`` turns a request
that still fails into an error result; an unreachable server fails within seconds and the
loader falls back to the cached profile.
"""

from __future__ import annotations

import fnmatch
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from drift.config import ClearMLReferenceConfig
from drift.errors import ReferenceUnavailable
from drift.ports import ReferenceVersion
from drift.sources.file import concat_frames, detect_format, read_frame

INSTALL_HINT = "the ClearML SDK is not installed: pip install 'drift-sidecar[clearml]'"
_SESSION_LOCK = threading.Lock()
_session_ready = False
_unreachable = threading.local()  # the last connection failure seen on this thread


def bounded_dataset_class(timeout: float, retries: int) -> Any:
    """``clearml.Dataset``, after installing the bounded API session (once per process)."""
    global _session_ready
    try:
        import requests
        from clearml import Dataset
        from clearml.backend_api.session import CallResult, Session
        from clearml.backend_api.session.response import ResponseMeta
        from clearml.backend_interface.base import InterfaceBase
    except ImportError:
        raise ReferenceUnavailable("clearml", INSTALL_HINT) from None
    with _SESSION_LOCK:
        if not _session_ready:

            class BoundedSession(Session):
                _session_initial_timeout = (timeout, timeout)
                _session_timeout = (timeout, timeout)

                def send(self, req_obj: Any, *args: Any, **kwargs: Any) -> Any:
                    # InterfaceBase._send retries a ConnectionError forever; a 500 result
                    # ends its loop with an error instead (after the bounded HTTP retries)
                    try:
                        return super().send(req_obj, *args, **kwargs)
                    except requests.exceptions.RequestException as exc:
                        _unreachable.error = f"{type(exc).__name__}: {exc}"
                        meta = ResponseMeta.from_raw_data(
                            status_code=500, text=f"ClearML API server unreachable: {exc}"
                        )
                        return CallResult(meta=meta)

            policy = {
                "total": retries,
                "connect": retries,
                "read": retries,
                "status": retries,
                "backoff_factor": 0.5,
                "backoff_max": 5,
            }
            try:  # logs in: fails fast when the server is unreachable
                session = BoundedSession(initialize_logging=False, http_retries_config=policy)
            except Exception as exc:  # the SDK raises many types for a failed login
                raise ReferenceUnavailable("clearml", f"cannot connect: {exc}") from exc
            InterfaceBase._set_default_session(session)
            _session_ready = True
    return Dataset


class ClearMLReference:
    def __init__(self, config: ClearMLReferenceConfig, fmt: str = "auto") -> None:
        self.config = config
        self.format = fmt

    @property
    def kind(self) -> str:
        return "clearml"

    @property
    def description(self) -> str:
        c = self.config
        if c.dataset_id:
            return f"clearml dataset {c.dataset_id}"
        version = f" version {c.version}" if c.version else ""
        return f"clearml dataset {c.project}/{c.name}{version}"

    def _sdk(self) -> Any:
        return bounded_dataset_class(self.config.timeout_seconds, self.config.retries)

    def _get(self, dataset_id: str | None = None) -> Any:
        dataset_cls = self._sdk()
        c = self.config
        _unreachable.error = None
        try:
            if dataset_id or c.dataset_id:
                dataset = dataset_cls.get(
                    dataset_id=dataset_id or c.dataset_id,
                    alias=c.alias,
                    silence_alias_warnings=True,
                )
            else:
                dataset = dataset_cls.get(
                    dataset_project=c.project,
                    dataset_name=c.name,
                    dataset_version=c.version,
                    dataset_tags=c.tags or None,
                    only_completed=True,
                    only_published=c.only_published,
                    alias=c.alias,
                    silence_alias_warnings=True,
                )
        except ReferenceUnavailable:
            raise
        except Exception as exc:  # SDK: ValueError (not found), connection errors, ...
            down = getattr(_unreachable, "error", None)
            if down is not None:  # the SDK reports an unreachable server as "not found"
                raise ReferenceUnavailable(
                    self.description, f"cannot reach the ClearML API server: {down}"
                ) from exc
            raise ReferenceUnavailable(self.description, f"Dataset.get failed: {exc}") from exc
        if not dataset.is_final():
            raise ReferenceUnavailable(
                self.description, f"dataset {dataset.id} is not finalized yet"
            )
        return dataset

    @staticmethod
    def _version(dataset: Any) -> ReferenceVersion:
        label = str(dataset.version or dataset.id)
        where = (
            f"clearml dataset {dataset.project}/{dataset.name} version {label} (id {dataset.id})"
        )
        return ReferenceVersion(str(dataset.id), label, where)

    def current(self) -> ReferenceVersion:
        return self._version(self._get())

    def load(self, version: ReferenceVersion | None = None) -> pd.DataFrame:
        dataset = self._get(version.id if version else None)
        where = self._version(dataset).description
        try:
            names = sorted(n for n in dataset.list_files() if fnmatch.fnmatch(n, self.config.files))
        except Exception as exc:  # SDK errors while reading the file list
            raise ReferenceUnavailable(where, f"cannot list files: {exc}") from exc
        if not names:
            raise ReferenceUnavailable(where, f"no file matches files={self.config.files!r}")
        try:
            root = Path(dataset.get_local_copy())
        except Exception as exc:  # download errors (fileserver or object store)
            raise ReferenceUnavailable(where, f"cannot download: {exc}") from exc
        frames = [
            read_frame(root / name, detect_format(name, self.format, where), where)
            for name in names
        ]
        return concat_frames(frames, where)
