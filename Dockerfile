# lakeforge: the pipeline CLI and a Spark Connect server, on Java 17 with the Delta jars baked in.
#
#   podman build -t lakeforge:0.1.0 .                          (or docker build; `make image` here)
#   podman build --target airflow -t lakeforge-airflow:0.1.0 .  (Airflow 3 + the pipeline, for compose)
#   podman run --rm lakeforge:0.1.0 lakeforge --version
#
# BASE_IMAGE: any Debian bookworm image (python3.11 and openjdk-17 come from its packages). `make image`
# bootstraps one from Debian's packages when no registry is reachable. Nothing is fetched at run time:
# the Delta jars are resolved once in the `jars` stage and LAKEFORGE_JARS_CACHE points Spark at them.
# No secret is built in: credentials come from the environment (compose env file, Kubernetes Secrets).
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BASE_IMAGE} AS base
ENV LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    TZ=UTC \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian's stable versions move with security updates only; pinning them would break the build at the
# next update, so the base image's snapshot is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates openjdk-17-jre-headless python3 python3-venv tini \
    && rm -rf /var/lib/apt/lists/*

# What every build stage starts from. Behind a TLS-intercepting proxy, pass its CA as the build secret
# `extra_ca` (a PEM file): trusted by pip and Java in the build stages only; the images that come out are
# built FROM base and never hold it.
FROM base AS build-base
RUN --mount=type=secret,id=extra_ca,required=false \
    if [ -s /run/secrets/extra_ca ]; then \
        awk '/BEGIN CERTIFICATE/ { n++ } n { print > ("/usr/local/share/ca-certificates/extra-" n ".crt") }' \
            /run/secrets/extra_ca \
        && update-ca-certificates; \
    fi
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt

FROM build-base AS builder
WORKDIR /src
RUN python3 -m venv /opt/lakeforge/venv
ENV PATH=/opt/lakeforge/venv/bin:$PATH \
    LAKEFORGE_JARS_CACHE=/opt/lakeforge/ivy
COPY requirements/constraints.txt requirements/constraints.txt
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# The wheel alone (--no-deps), then it and its dependencies at the versions the constraints file pins.
RUN pip wheel . --no-deps --wheel-dir /wheels \
    && pip install --constraint requirements/constraints.txt /wheels/lakeforge-*.whl \
    && pip check

# Resolve the Delta jars from Maven Central once (a one-second local Spark session), into the image; keep
# only the jars Spark loads. A stage of its own: everything before it builds without starting a JVM.
# Loopback for Spark's driver: a build container's hostname may not resolve (buildah's chroot isolation).
FROM builder AS jars
RUN SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_HOSTNAME=localhost lakeforge fetch-jars \
    && find /opt/lakeforge/ivy -mindepth 1 -maxdepth 1 ! -name jars -exec rm -rf {} +

# Target `airflow`: Airflow 3 (requirements/airflow.txt, its own venv) plus the pipeline's venv the DAGs
# call (LAKEFORGE_CLI); used by deploy/compose for the init job, API server, scheduler and dag-processor.
FROM build-base AS airflow-builder
COPY requirements/airflow.txt /tmp/airflow.txt
RUN python3 -m venv /opt/airflow/venv \
    && /opt/airflow/venv/bin/pip install --requirement /tmp/airflow.txt \
    && /opt/airflow/venv/bin/pip check

FROM base AS airflow
RUN groupadd --gid 10001 lakeforge \
    && useradd --uid 10001 --gid lakeforge --home-dir /home/lakeforge --create-home \
        --shell /usr/sbin/nologin lakeforge \
    && mkdir -p /data/landing /data/lakehouse /opt/airflow/home/logs \
    && chown lakeforge:lakeforge /data/landing /data/lakehouse /opt/airflow/home /opt/airflow/home/logs
COPY --from=jars /opt/lakeforge /opt/lakeforge
COPY --from=airflow-builder /opt/airflow/venv /opt/airflow/venv
COPY config /opt/lakeforge/config
COPY dags /opt/lakeforge/dags
COPY --chmod=755 deploy/image/airflow-entrypoint.sh /usr/local/bin/airflow-entrypoint
ENV PATH=/opt/airflow/venv/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow/home \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/lakeforge/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    LAKEFORGE_PROJECT_DIR=/opt/lakeforge \
    LAKEFORGE_CLI=/opt/lakeforge/venv/bin/lakeforge \
    LAKEFORGE_CONFIG=/opt/lakeforge/config/local.yaml \
    LAKEFORGE_JARS_CACHE=/opt/lakeforge/ivy \
    LAKEFORGE_LANDING=/data/landing \
    LAKEFORGE_LAKEHOUSE=/data/lakehouse \
    HOME=/home/lakeforge
WORKDIR /opt/airflow/home
USER 10001:10001
# Each Airflow component has its own check (compose sets them); this one holds for all: Airflow imports.
HEALTHCHECK --interval=60s --timeout=30s --start-period=30s --retries=3 CMD ["airflow", "version"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/airflow-entrypoint"]
CMD ["airflow", "version"]

# Default target: the pipeline CLI (and `lakeforge server run`, the Spark Connect server).
FROM base AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="lakeforge" \
      org.opencontainers.image.description="Lakehouse ETL on PySpark and Delta Lake" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 lakeforge \
    && useradd --uid 10001 --gid lakeforge --home-dir /home/lakeforge --create-home \
        --shell /usr/sbin/nologin lakeforge \
    && mkdir -p /data/landing /data/lakehouse \
    && chown lakeforge:lakeforge /data/landing /data/lakehouse
COPY --from=jars /opt/lakeforge /opt/lakeforge
COPY config /opt/lakeforge/config
ENV PATH=/opt/lakeforge/venv/bin:$PATH \
    LAKEFORGE_JARS_CACHE=/opt/lakeforge/ivy \
    LAKEFORGE_CONFIG=/opt/lakeforge/config/local.yaml \
    LAKEFORGE_LANDING=/data/landing \
    LAKEFORGE_LAKEHOUSE=/data/lakehouse \
    HOME=/home/lakeforge
WORKDIR /home/lakeforge
USER 10001:10001
VOLUME ["/data/landing", "/data/lakehouse"]
# Healthy when the CLI imports and reads its config and the lakehouse's metadata (no JVM, no Spark).
HEALTHCHECK --interval=60s --timeout=30s --start-period=10s --retries=3 \
    CMD ["/bin/sh", "-c", "lakeforge plan --config \"$LAKEFORGE_CONFIG\" --json >/dev/null"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["/bin/sh", "-c", "exec lakeforge run --config \"$LAKEFORGE_CONFIG\" --env local --cmd full"]
