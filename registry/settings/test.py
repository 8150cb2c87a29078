"""Test settings: real PostgreSQL and real Redis on loopback (see .ci/run), throttles off."""
import os

os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/registry")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("REGISTRY_THROTTLE_ANON", "off")
os.environ.setdefault("REGISTRY_THROTTLE_USER", "off")
os.environ.setdefault("REGISTRY_THROTTLE_WRITE", "off")
os.environ.setdefault("REGISTRY_THROTTLE_LOGIN", "off")
# No AWS is ever reached from tests: moto answers in-process (mock_aws) or on loopback.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")
# moto's default account is the registry's own in tests (no STS call needed to know it).
os.environ.setdefault("REGISTRY_AWS_ACCOUNT_IDS", "123456789012")
# Channel moves in database-only tests must not reach for SSM; the SSM tests turn it on (with moto).
os.environ.setdefault("REGISTRY_SSM_PUBLISH", "false")
# In-process moto builds a region's backend on first use (seconds each): search three, not thirty.
os.environ.setdefault("REGISTRY_INSTANCE_SEARCH_REGIONS", "us-east-1,us-west-2,eu-west-1")

from registry.settings.base import *  # noqa: E402,F401,F403

SECURE_SSL_REDIRECT = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
