# The modelyard image: the API, the router and the embedded model. The same image serves the
# llama.cpp OpenAI-compatible server in docker-compose.yml (llama-cpp-python[server]).
FROM python:3.11-slim

# llama-cpp-python compiles its C++ core on install, and the privacy scan its C extension.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml setup.py README.md alembic.ini ./
COPY catalog catalog
COPY router router
COPY adapters adapters
COPY web web
COPY alembic alembic
# Editable, so `modelyard db upgrade` finds the migrations beside the packages.
RUN pip install --no-cache-dir -e . "llama-cpp-python[server]"

ENV MODELYARD_HOST=0.0.0.0 \
    MODELYARD_PORT=8000 \
    MODELYARD_LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["modelyard", "serve"]
