# drift-sidecar: `drift-sidecar serve`, with every reference source (files, ClearML, S3), the
# HTML report (evidently) and LightGBM for performance estimation of regressors and the domain
# classifier (docs/estimation.md) installed. Tags (docs/deployment/index.md): X.Y.Z is this package's
# version, the one `drift-sidecar --version` prints; X.Y.Z-slim is the same build with
# --build-arg EXTRAS= (files only, no HTML report: its /report answers 501; no LightGBM:
# estimation.dle and estimation.domain_classifier report that the extra is missing).
#
#   docker build -t registry.example.com/ml/drift-sidecar:0.1.0 \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#
# Runs under any UID (OpenShift's restricted-v2 SCC) with group 0 and a read-only root
# filesystem: it writes only to /tmp (HOME) and /var/lib/drift-sidecar (reference cache, state),
# which the manifests mount as volumes (deploy/kustomize).

# The base image, pinned by digest (the multi-platform index of python:3.11-slim). Bump it on
# purpose: `docker buildx imagetools inspect python:3.11-slim` prints the current index digest;
# copy it here and into org.opencontainers.image.base.digest below (tests/test_dockerfile.py
# checks that they agree).
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS python

FROM python AS deps
WORKDIR /src
COPY pyproject.toml ./
# the extras of pyproject.toml installed in the image; "" builds the -slim variant
ARG EXTRAS="clearml,s3,report,estimation"
# dependencies in their own layer: rebuilt only when pyproject.toml or EXTRAS change
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = [e for e in os.environ['EXTRAS'].split(',') if e]; print('\n'.join(p['dependencies'] + [r for e in extras for r in p['optional-dependencies'][e]]))" > requirements.txt \
    && pip install --no-cache-dir --prefix=/install -r requirements.txt

FROM deps AS build
COPY README.md ./
COPY drift ./drift
COPY exporters ./exporters
RUN pip install --no-cache-dir --no-deps --prefix=/install .

FROM python
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="drift-sidecar" \
      org.opencontainers.image.description="Data and model drift monitoring beside each model server pod, as Prometheus metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/drift-sidecar/drift-sidecar" \
      org.opencontainers.image.documentation="https://github.com/drift-sidecar/drift-sidecar/blob/main/docs/deployment/index.md" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim" \
      org.opencontainers.image.base.digest="sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# LightGBM's wheel links the system OpenMP runtime (libgomp.so.1), which the slim base lacks.
# The Debian release is fixed by the base digest; its security updates come with a base bump.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /install /usr/local
# arbitrary UIDs run with group 0 (OpenShift): the writable paths are group 0 and group-writable
RUN useradd --uid 10001 --gid 0 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin drift \
    && mkdir -p /etc/drift-sidecar /var/lib/drift-sidecar \
    && chgrp -R 0 /etc/drift-sidecar /var/lib/drift-sidecar \
    && chmod -R g=u /etc/drift-sidecar /var/lib/drift-sidecar
WORKDIR /var/lib/drift-sidecar
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["drift-sidecar", "serve"]
CMD ["--config", "/etc/drift-sidecar/config.yaml", "--host", "0.0.0.0", "--port", "8000"]
