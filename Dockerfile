# docsum service image. CPU by default. For NVIDIA GPUs, a CUDA base and CUDA wheels:
#   docker build -t docsum:cuda \
#     --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04 \
#     --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
#   docker run --gpus all -p 8000:8000 -v docsum-data:/data docsum:cuda
# Python 3.11: the version requirements/*.txt were locked for.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HOME=/data \
    DOCSUM_DATA_DIR=/data/jobs \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# CUDA bases ship no Python; the slim Python base does.
RUN if ! command -v python3 >/dev/null 2>&1; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv

WORKDIR /app
# Every dependency at the version and hash of requirements/serve.lock (the PostgreSQL driver included:
# replicas may share one job store). The lock names torch's CPU build; a CUDA build takes torch from
# its own index and every other package at the lock's versions.
COPY requirements/serve.lock ./requirements/
RUN if [ "${TORCH_INDEX}" = "https://download.pytorch.org/whl/cpu" ]; then \
        pip install --require-hashes --extra-index-url "${TORCH_INDEX}" -r requirements/serve.lock; \
    else \
        pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}" \
        && sed -e 's/ \\$//' -e '/--hash/d' -e '/^torch==/d' requirements/serve.lock > /tmp/versions.txt \
        && pip install -r /tmp/versions.txt; \
    fi
COPY pyproject.toml README.md ./
COPY models ./models
COPY service ./service
RUN pip install --no-deps .

RUN useradd --create-home --uid 10001 docsum && mkdir -p /data && chown docsum:docsum /data
USER docsum
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"

CMD ["docsum", "serve", "--host", "0.0.0.0", "--port", "8000"]
