# imaging-cloud service image: the FastAPI app behind uvicorn, as a non-root user, migrating at start.
# Build: docker build -t imaging-cloud .   Run with docker-compose.yml (PostgreSQL + MinIO + this service).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    IMAGING_CLOUD_DATA_DIR=/var/lib/imaging-cloud

# PDF reports are re-rendered to images: PDFium needs a CJK font for Chinese text in non-embedded fonts
# (STSong-Light and friends); without one that text would vanish from the rendered report.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid so mounted secrets (the JWT signing key) can be made readable to exactly this user.
RUN groupadd --system --gid 10001 imaging \
    && useradd --system --uid 10001 --gid imaging --home-dir /var/lib/imaging-cloud --shell /usr/sbin/nologin imaging \
    && install -d -o imaging -g imaging -m 0750 /var/lib/imaging-cloud

WORKDIR /app
COPY pyproject.toml README.md ./
COPY imaging_cloud ./imaging_cloud
COPY deidentify ./deidentify
COPY auth ./auth
RUN pip install . && rm -rf /app

USER imaging
WORKDIR /var/lib/imaging-cloud
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# `serve` brings the schema to head (Alembic) before it accepts the first request.
CMD ["imaging-cloud", "serve", "--host", "0.0.0.0", "--port", "8000"]
