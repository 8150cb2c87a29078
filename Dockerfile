# Community AMI Registry — web image (also used for the Celery worker and beat).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=registry.settings.base \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system registry && useradd --system --gid registry --home /app registry

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=registry:registry . .
# collectstatic needs settings that import; a throwaway key is fine at build time only.
RUN DJANGO_SECRET_KEY=build-only-not-secret DJANGO_DEBUG=0 python manage.py collectstatic --noinput \
 && mkdir -p /tmp/prometheus && chown registry:registry /tmp/prometheus

USER registry
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
# Proxy headers are believed only from REGISTRY_TRUSTED_PROXIES (registry/proxies.py); gunicorn's own
# trust list (FORWARDED_ALLOW_IPS, default loopback) must not be wider, or it would set the scheme itself.
CMD ["gunicorn", "registry.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", \
     "--access-logfile", "-"]
