"""Components of the reference-dataset tests: a ClearML backend and an S3-compatible server.

- ClearML: ``tests/clearml_server.py`` (API + fileserver, schema-checked, in this process on
  free ports), or, when ``CLEARML_API_HOST`` is set, that real server (the live tier; keys from
  ``CLEARML_API_ACCESS_KEY``/``CLEARML_API_SECRET_KEY``, files host from
  ``CLEARML_FILES_HOST``). The SDK reads its settings from the environment, set once per session.
- S3: moto's ``ThreadedMotoServer`` on 127.0.0.1 (``moto[server]``, dev extra). The SDK learns
  its address from a generated ``clearml.conf`` (``sdk.aws.s3.credentials`` with
  ``secure: false``), so datasets can be uploaded with ``output_uri="s3://127.0.0.1:P/bucket"``.

A missing package fails the tests under ``CI=true`` and skips them otherwise.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.clearml_server import ACCESS_KEY, SECRET_KEY, ClearMLTestServer
from tests.components import require

BUCKET = "drift-reference"
S3_KEY, S3_SECRET = "testing-key", "testing-secret"


@dataclass
class Backend:
    """Where the SDK talks to during this test session."""

    server: ClearMLTestServer | None  # None: the live tier
    s3_endpoint: str  # http://127.0.0.1:P of moto
    s3_host: str  # 127.0.0.1:P, as the SDK writes it in s3:// urls
    project_root: str  # every dataset of the session lives under this project
    work: Path

    @property
    def live(self) -> bool:
        return self.server is None

    def project(self, name: str) -> str:
        return f"{self.project_root}/{name}"


def _clearml_conf(path: Path, s3_host: str) -> None:
    path.write_text(
        "sdk {\n"
        "  development { report_use_subprocess: false }\n"
        "  aws { s3 { credentials: [\n"
        f'    {{ host: "{s3_host}", key: "{S3_KEY}", secret: "{S3_SECRET}",'
        " multipart: false, secure: false, verify: false }\n"
        "  ] } }\n"
        "}\n"
    )


@pytest.fixture(scope="session")
def reference_backend() -> Iterator[Backend]:
    require("clearml", "clearml")
    require("boto3", "s3")
    moto_server = require("moto.server", "dev")
    work = Path(tempfile.mkdtemp(prefix="drift-ref-tests-"))
    moto = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    s3_host = f"{host}:{port}"
    live = bool(os.environ.get("CLEARML_API_HOST"))
    server = None if live else ClearMLTestServer()
    saved = dict(os.environ)
    env = {
        "CLEARML_CONFIG_FILE": str(work / "clearml.conf"),
        "CLEARML_CACHE_DIR": str(work / "sdk-cache"),
        "AWS_ACCESS_KEY_ID": S3_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
    }
    _clearml_conf(work / "clearml.conf", s3_host)
    if server is not None:
        server.start()
        env |= {
            "CLEARML_API_HOST": server.api_url,
            "CLEARML_WEB_HOST": server.api_url,
            "CLEARML_FILES_HOST": server.files_url,
            "CLEARML_API_ACCESS_KEY": ACCESS_KEY,
            "CLEARML_API_SECRET_KEY": SECRET_KEY,
        }
    os.environ.update(env)
    import boto3

    boto3.client("s3", endpoint_url=f"http://{s3_host}", region_name="us-east-1").create_bucket(
        Bucket=BUCKET
    )
    root = f"drift-sidecar-tests/{uuid.uuid4().hex[:8]}"
    try:
        yield Backend(server, f"http://{s3_host}", s3_host, root, work)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if server is not None:
            server.stop()
        moto.stop()


@pytest.fixture
def backend(reference_backend: Backend) -> Iterator[Backend]:
    """The session backend; fails the test when the local server saw an unimplemented
    endpoint or a request/response that contradicts the SDK's schemas."""
    server = reference_backend.server
    if server is not None:
        server.unimplemented.clear()
        server.violations.clear()
    yield reference_backend
    if server is not None:
        assert server.unimplemented == [], "endpoints the test server does not implement"
        assert server.violations == [], "requests/responses that break the clearml schemas"


def seed_dataset(
    backend: Backend,
    project: str,
    name: str,
    files: dict[str, pd.DataFrame],
    version: str | None = None,
    tags: list[str] | None = None,
    output_uri: str | None = None,
) -> str:
    """Create, fill, upload and finalize a dataset through the real SDK; returns its id."""
    from clearml import Dataset

    folder = backend.work / f"seed-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    for file_name, frame in files.items():
        target = folder / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        if file_name.endswith(".parquet"):
            frame.to_parquet(target, index=False)
        else:
            frame.to_csv(target, index=False)
    dataset = Dataset.create(
        dataset_project=backend.project(project),
        dataset_name=name,
        dataset_version=version,
        dataset_tags=tags,
        output_uri=output_uri,
    )
    dataset.add_files(str(folder))
    dataset.upload(show_progress=False)
    dataset.finalize()
    return str(dataset.id)
