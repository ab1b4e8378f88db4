"""Reference datasets from S3 or an S3-compatible store (MinIO, Ceph, SeaweedFS).

``boto3`` is imported on first use (``pip install 'drift-sidecar[s3]'``). Credentials follow
boto3's standard chain: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and
``AWS_SESSION_TOKEN``), ``AWS_SHARED_CREDENTIALS_FILE``, or the config's ``credentials_file``
(a mounted AWS credentials file) with an optional ``profile``.
"""

from __future__ import annotations

import fnmatch
import hashlib
from typing import Any

import pandas as pd

from drift.config import S3ReferenceConfig
from drift.errors import ReferenceUnavailable
from drift.ports import ReferenceVersion
from drift.sources.file import concat_frames, detect_format, read_data


def _boto3() -> Any:
    try:
        import boto3
        from botocore.config import Config
        from botocore.session import Session
    except ImportError:
        raise ReferenceUnavailable(
            "s3", "boto3 is not installed: pip install 'drift-sidecar[s3]'"
        ) from None
    return boto3, Config, Session


class S3Reference:
    def __init__(self, config: S3ReferenceConfig, fmt: str = "auto") -> None:
        self.config = config
        self.format = fmt
        rest = config.url.removeprefix("s3://")
        self.bucket, _, self.key = rest.partition("/")
        self._client: Any = None

    @property
    def kind(self) -> str:
        return "s3"

    @property
    def description(self) -> str:
        return self.config.url

    def _s3(self) -> Any:
        if self._client is None:
            boto3, config_cls, botocore_session = _boto3()
            cfg = self.config
            retries = {"max_attempts": cfg.retries + 1, "mode": "standard"}
            client_config = config_cls(
                connect_timeout=cfg.timeout_seconds,
                read_timeout=cfg.timeout_seconds,
                retries=retries,
                s3={"addressing_style": "path"} if cfg.endpoint_url else {},
            )
            core = botocore_session()
            if cfg.credentials_file is not None:
                core.set_config_variable("credentials_file", str(cfg.credentials_file))
            session = boto3.session.Session(botocore_session=core, profile_name=cfg.profile)
            self._client = session.client(
                "s3",
                endpoint_url=cfg.endpoint_url,
                region_name=cfg.region or "us-east-1",
                config=client_config,
            )
        return self._client

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except ReferenceUnavailable:
            raise
        except Exception as exc:  # botocore raises many types (ClientError, EndpointConnection..)
            raise ReferenceUnavailable(self.description, f"{what}: {exc}") from exc

    def _objects(self) -> list[tuple[str, str]]:
        """(key, etag) of every object the url selects, sorted by key."""
        s3 = self._s3()
        if self.key and not self.key.endswith("/"):
            head = self._call("head_object", s3.head_object, Bucket=self.bucket, Key=self.key)
            return [(self.key, str(head["ETag"]))]
        found: list[tuple[str, str]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.key}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", s3.list_objects_v2, **kwargs)
            for obj in page.get("Contents", []):
                name = obj["Key"][len(self.key) :]
                if name and fnmatch.fnmatch(name, self.config.files):
                    found.append((obj["Key"], str(obj["ETag"])))
            if not page.get("IsTruncated"):
                break
            token = page.get("NextContinuationToken")
        if not found:
            raise ReferenceUnavailable(
                self.description, f"no object matches files={self.config.files!r}"
            )
        return sorted(found)

    def current(self) -> ReferenceVersion:
        objects = self._objects()
        digest = hashlib.sha256(repr(objects).encode()).hexdigest()[:16]
        return ReferenceVersion(digest, digest[:12], f"{self.description} (etag {digest[:12]})")

    def load(self, version: ReferenceVersion | None = None) -> pd.DataFrame:
        s3 = self._s3()
        frames = []
        for key, _etag in self._objects():
            fmt = detect_format(key, self.format, self.description)
            body = self._call("get_object", s3.get_object, Bucket=self.bucket, Key=key)["Body"]
            data = self._call("read", body.read)
            frames.append(read_data(data, fmt, self.description, key))
        return concat_frames(frames, self.description)
