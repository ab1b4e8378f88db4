# drift-sidecar: runs beside a model server; listens on 8000.
# Works under an arbitrary UID (OpenShift): files are group 0 and group-writable where needed.

FROM python:3.11-slim AS deps
WORKDIR /src
COPY pyproject.toml ./
# dependencies in their own layer: rebuilt only when pyproject.toml changes
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir --prefix=/install -r requirements.txt

FROM deps AS build
COPY README.md ./
COPY drift ./drift
COPY exporters ./exporters
RUN pip install --no-cache-dir --no-deps --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /install /usr/local
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
