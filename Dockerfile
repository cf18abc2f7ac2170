# Doodle Arena game server image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Serving needs no torch (inference is numpy); training is the [train] extra, not installed here.
COPY pyproject.toml README.md ./
COPY game_server ./game_server
COPY model ./model
COPY training ./training
COPY bench ./bench
COPY web_client ./web_client
COPY reports/evaluation.json ./reports/evaluation.json
# [fast]: the numba kernels of the incremental rasterizer (same pixels, ~8x less CPU per update)
RUN pip install ".[fast]"

RUN useradd --create-home --uid 10001 doodle
USER doodle
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["python", "-m", "game_server", "--host", "0.0.0.0", "--port", "8000"]
