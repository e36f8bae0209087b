# botsvc serving the example bot. CPU-only torch: the default torch wheel would pull CUDA.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    BOTSVC_PROJECT_DIR=/app

WORKDIR /app
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
COPY intents ./intents
COPY flows ./flows
COPY kb ./kb
# train the intent model and build kb_index/ at image build time, so start-up only loads them
RUN botsvc validate && botsvc train && botsvc kb build

RUN useradd --system --home /app botsvc && mkdir -p /app/var && chown -R botsvc /app/var
USER botsvc
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["botsvc", "serve", "--host", "0.0.0.0", "--port", "8000"]
