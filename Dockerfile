# syntax=docker/dockerfile:1
# One image for every finsent stage; the command (and FINSENT_DAEMON__STAGES) picks the stage.
#
#   docker build -t finsent:0.1.0 .
#   # CPU-only torch (no CUDA libraries: an image several GB smaller, for hosts without a GPU):
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu -t finsent:0.1.0-cpu .
#
# By default torch comes from PyPI like every other dependency; on Linux x86_64 that is the
# CUDA build, which also runs on CPU (classifier.device: auto picks the GPU when one is there).
#
# The configuration is not baked in: mount it at /etc/finsent/finsent.yaml (or pass -c) and give
# secrets as FINSENT_<SECTION>__<FIELD> environment variables (deploy/finsent.example.yaml).
# Writable state (ingest.state_path, alerting.outbox_path) belongs under /var/lib/finsent, on a
# volume.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/finsent/.venv
ENV PATH=/opt/finsent/.venv/bin:$PATH
WORKDIR /src
# torch first: the largest layer, and it changes far less often than finsent itself.
RUN --mount=type=cache,target=/root/.cache/pip \
    if [ -n "$TORCH_INDEX_URL" ]; then pip install --index-url "$TORCH_INDEX_URL" "torch>=2.4"; fi
COPY pyproject.toml README.md ./
COPY finsent ./finsent
COPY ingest ./ingest
COPY classifier ./classifier
COPY alerting ./alerting
RUN --mount=type=cache,target=/root/.cache/pip pip install .
# The index templates, Kibana objects and default surge rules ship in the wheel as package
# data (importlib.resources); the check fails the build if any is missing.
RUN cd / \
 && python -c "from finsent.es import load_templates; from alerting.tools.kibana import load_objects; \
from alerting.detect.rules import load_rules; assert len(load_templates('finsent')) == 2; \
assert load_objects(); load_rules(None)" \
 && finsent --help > /dev/null

FROM ${PYTHON_IMAGE}
ARG UID=10001
LABEL org.opencontainers.image.title="finsent" \
      org.opencontainers.image.description="Real-time financial sentiment monitor: feeds -> Kafka -> BERT -> surge alerts" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed non-root uid/gid (Kubernetes runAsUser / fsGroup use the same number). The state
# folders exist in the image so that a fresh named volume mounted there inherits the owner.
RUN groupadd --system --gid "${UID}" finsent \
 && useradd --system --uid "${UID}" --gid finsent --home-dir /var/lib/finsent \
      --shell /usr/sbin/nologin finsent \
 && mkdir -p /etc/finsent /var/lib/finsent/ingest /var/lib/finsent/outbox \
 && chown -R finsent:finsent /var/lib/finsent
COPY --from=build /opt/finsent/.venv /opt/finsent/.venv
ENV PATH=/opt/finsent/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/finsent
USER finsent
WORKDIR /var/lib/finsent
# /healthz, /readyz and /metrics of `finsent run` (daemon.http_port; set daemon.http_host to
# 0.0.0.0 for them to be reachable from outside the container).
EXPOSE 9108
# /healthz is 200 unless every stage of the process is crashing; it is served by `finsent run`
# only (the single-stage commands `finsent ingest|classify|alert|deliver` have no endpoint).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]
# SIGTERM: stages finish their batch, commit and close within daemon.shutdown_timeout_s (30 s);
# give the container longer than that (docker stop -t 45, stop_grace_period, or
# terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["finsent"]
CMD ["run", "-c", "/etc/finsent/finsent.yaml"]
