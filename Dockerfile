# The plugin as a standalone server (functions-framework) in a container.
#   docker build -t b2-iconik .
#   docker run --rm -p 8080:8080 --env-file .env b2-iconik
# The environment is that of .env.yaml.example, as NAME=value lines (BZ_SHARED_SECRET included,
# unless the container can reach Secret Manager with Google credentials).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8080

WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY main.py ./
COPY b2_iconik/ ./b2_iconik/

RUN useradd --system --no-create-home --shell /usr/sbin/nologin app
USER app

EXPOSE 8080
CMD ["sh", "-c", "exec functions-framework --target iconik_handler --source main.py --host 0.0.0.0 --port \"$PORT\""]
