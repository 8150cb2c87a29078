"""Settings for the Community AMI Registry.

Every value comes from the environment (see ``.env.example``); development defaults are safe
and production (``DJANGO_DEBUG=0``) refuses to start without a real secret key.
"""
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# NOTE: a local .env is a convenience for `make run`; real deployments set the environment.
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(str(BASE_DIR / ".env"), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

if DEBUG:
    # Only a development server may run on a well-known key; production must provide one.
    SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-insecure-key-only-for-local-development-0123456789")
else:
    SECRET_KEY = env("DJANGO_SECRET_KEY")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "registry.admin_apps.RegistryAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Project apps, left to right in dependency order (see ARCHITECTURE.md).
    "registry",
    "templates",
    "amis",
    "ratings",
    "sharing",
    "resolver",
    "notifications",
    "dashboard",
]

MIDDLEWARE = [
    # First: X-Forwarded-* are dropped unless a configured proxy sent them (registry/proxies.py).
    "registry.proxies.TrustedProxyMiddleware",
    # Then: a NUL in any query parameter is a 400, before any view or database query.
    "registry.nul_guard.NulRefusalMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy on every page (settings below)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "registry.middleware.RequestContextMiddleware",
    "registry.middleware.ApiNotFoundMiddleware",
    # A write refused because the job queue is down → the 503 page with Retry-After.
    "registry.broker.BrokerUnavailableMiddleware",
]

ROOT_URLCONF = "registry.urls"
WSGI_APPLICATION = "registry.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # All HTML lives in registry/templates/<app>/ (one site-wide folder, see ARCHITECTURE.md).
        "DIRS": [BASE_DIR / "registry" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "registry.web_home.site_context",  # emulator banner flag for every page
            ],
        },
    }
]

# --- Database ---------------------------------------------------------------------------
# DATABASE_URL selects the database. Without it the embedded SQLite file is used (the demo
# fallback; `make run` prefers a local PostgreSQL when one answers and says which it chose).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Services own their transactions (STYLE.md): no ATOMIC_REQUESTS.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (Redis) ------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "registry.redis_cache.PooledRedisCache", "LOCATION": REDIS_URL}}
else:
    # Single-process fallback for the embedded demo; every real deployment sets REDIS_URL.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
# No broker configured → tasks run eagerly in-process (the embedded default, same code path).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # state lives on Operation rows, not in a result backend
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"amis.*": {"queue": "aws"}, "sharing.*": {"queue": "aws"},
                      "resolver.ssm_sync": {"queue": "aws"}}
# Publish channel answers as SSM parameters /cws-registry/<template>/<channel>/<arch> (resolver.ssm).
REGISTRY_SSM_PUBLISH = env.bool("REGISTRY_SSM_PUBLISH", default=True)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis broker: redeliver an unacked message after this long. It must exceed the longest a task may
# hold its message: the hard time limit of one step (steps never wait for AWS; they re-schedule)
# or the longest countdown (retry backoff, at most 300 s). A killed worker's operation does not
# wait for it: the stale sweep takes over after a missed heartbeat (amis/operations.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=360)}
CELERY_BEAT_SCHEDULE = {}
CELERY_TIMEZONE = "UTC"

# --- Auth ----------------------------------------------------------------------------------
# Login lockout (registry/lockout.py): every authenticate() call goes through this backend.
AUTHENTICATION_BACKENDS = ["registry.lockout.LockoutModelBackend"]
REGISTRY_LOGIN_MAX_FAILURES = env.int("REGISTRY_LOGIN_MAX_FAILURES", default=5)
# Far above one account's budget: many users may share one address (see registry/lockout.py).
REGISTRY_LOGIN_MAX_FAILURES_PER_IP = env.int("REGISTRY_LOGIN_MAX_FAILURES_PER_IP", default=200)
REGISTRY_LOGIN_LOCKOUT_SECONDS = env.int("REGISTRY_LOGIN_LOCKOUT_SECONDS", default=900)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "registry.password_validation.NotBlankPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- REST framework --------------------------------------------------------------------------
def _rate(name: str, default: str):
    """A DRF rate string from the environment; ``off`` disables that throttle."""
    value = env(name, default=default).strip()
    return None if value.lower() in {"off", "none", ""} else value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        # The real cws client sends the token as X-API-Key (registry/authentication.py).
        "registry.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "registry.pagination.StandardPagination",
    # DRF's two renderers; the JSON one also splices representations rendered once (cached pages).
    "DEFAULT_RENDERER_CLASSES": ["registry.representation.SplicingJSONRenderer",
                                 "rest_framework.renderers.BrowsableAPIRenderer"],
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "registry.schema.RegistryAutoSchema",
    "EXCEPTION_HANDLER": "registry.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "registry.throttling.AnonRateThrottle",
        "registry.throttling.UserRateThrottle",
        "registry.throttling.WriteRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": _rate("REGISTRY_THROTTLE_ANON", "120/min"),
        "user": _rate("REGISTRY_THROTTLE_USER", "600/min"),
        "write": _rate("REGISTRY_THROTTLE_WRITE", "60/min"),
        # Login attempts per client IP: the token API, the browser and the admin login alike.
        "login": _rate("REGISTRY_THROTTLE_LOGIN", "20/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Community AMI Registry API",
    "DESCRIPTION": "The server of CloudWorkstation's Universal AMI System: resolver and community catalogue.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # An AMI's lifecycle status and a scan's verdict are both fields called "status": name both enums.
    # Swagger UI assets are served from our own static files (no CDN): see registry/urls.py.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Choice sets that share a field name across components get stable, readable names (the
    # schema is a contract: generated names with hashes would change with every new enum).
    "ENUM_NAME_OVERRIDES": {
        "AMIStatusEnum": "amis.models.AMI.Status",
        "ScanResultStatusEnum": "amis.models.ScanResult.Status",
        "PackageKindEnum": "amis.software.KINDS",
    },
}

# --- Static files ----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "registry" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- AWS ---------------------------------------------------------------------------------------
# boto3 itself honours AWS_ENDPOINT_URL; we read it too so registry/aws.py can log where calls go.
AWS_ENDPOINT_URL = env("AWS_ENDPOINT_URL", default="")
AWS_DEFAULT_REGION = env("AWS_DEFAULT_REGION", default="us-east-1")
AWS_MAX_ATTEMPTS = env.int("AWS_MAX_ATTEMPTS", default=5)
# The cws protocol version /api/v1/status reports: the real client refuses a daemon whose major
# differs from its own or whose minor is lower (the client built from compat/ is 0.5.5).
REGISTRY_CWS_PROTOCOL_VERSION = env("REGISTRY_CWS_PROTOCOL_VERSION", default="0.5.5")
# Where POST /ami/create looks for an instance that is not in the request's region (concurrently);
# empty = every commercial region.
REGISTRY_INSTANCE_SEARCH_REGIONS = env.list("REGISTRY_INSTANCE_SEARCH_REGIONS", default=[])

# --- Registry behaviour -------------------------------------------------------------------------
REGISTRY_RETENTION_DAYS = env.int("REGISTRY_RETENTION_DAYS", default=365)
REGISTRY_AUDIT_RETENTION_DAYS = env.int("REGISTRY_AUDIT_RETENTION_DAYS", default=7 * 365)
REGISTRY_AUDIT_IP_RETENTION_DAYS = env.int("REGISTRY_AUDIT_IP_RETENTION_DAYS", default=30)
REGISTRY_DEFAULT_COMMUNITY = "cloudworkstation"
REGISTRY_RESOLUTION_CACHE_TTL = env.int("REGISTRY_RESOLUTION_CACHE_TTL", default=300)
REGISTRY_AVAILABILITY_CACHE_TTL = env.int("REGISTRY_AVAILABILITY_CACHE_TTL", default=300)
REGISTRY_CREATE_IMAGE_TIMEOUT = timedelta(minutes=env.int("REGISTRY_CREATE_IMAGE_TIMEOUT_MINUTES", default=90))
REGISTRY_COPY_IMAGE_TIMEOUT = timedelta(minutes=env.int("REGISTRY_COPY_IMAGE_TIMEOUT_MINUTES", default=180))
REGISTRY_POLL_SECONDS = env.int("REGISTRY_POLL_SECONDS", default=15)
# Banner shown in the UI when AWS calls go to the local emulator started by `make run`.
REGISTRY_EMULATOR = env.bool("REGISTRY_EMULATOR", default=False)

# --- Security (production) ------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
# Reverse proxies whose X-Forwarded-Proto/-For are believed (addresses or CIDRs; registry/proxies.py).
REGISTRY_TRUSTED_PROXIES = env.list("REGISTRY_TRUSTED_PROXIES", default=["127.0.0.1", "::1"])
# /metrics: served to these client addresses/CIDRs, or to a request bearing this token (docs/operations.md).
REGISTRY_METRICS_ALLOWED_IPS = env.list("REGISTRY_METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
REGISTRY_METRICS_TOKEN = env("REGISTRY_METRICS_TOKEN", default="")
CSRF_COOKIE_HTTPONLY = False  # the page's small JS reads the token for fetch() calls
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # /healthz is probed over plain HTTP by load balancers and the container HEALTHCHECK.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

# Content-Security-Policy (django-csp 3.8): same-origin scripts and styles only, no inline script.
# style="" attributes (e.g. rating bar widths) are allowed through style-src-attr; <style> blocks
# and every script must come from our static files. Swagger UI (/api/docs/) renders one inline
# bootstrap script, so that page is excluded (it shows only the public schema).
CSP_DEFAULT_SRC = ("'self'",)
CSP_SCRIPT_SRC = ("'self'",)
CSP_STYLE_SRC = ("'self'",)
CSP_STYLE_SRC_ATTR = ("'unsafe-inline'",)
CSP_IMG_SRC = ("'self'", "data:")
CSP_FONT_SRC = ("'self'",)
CSP_CONNECT_SRC = ("'self'",)
CSP_OBJECT_SRC = ("'none'",)
CSP_BASE_URI = ("'self'",)
CSP_FORM_ACTION = ("'self'",)
CSP_FRAME_ANCESTORS = ("'none'",)
CSP_EXCLUDE_URL_PREFIXES = ("/api/docs/",)

# --- Trust & compliance (docs/trust-and-compliance.md) --------------------------------------------
# Image owners trusted by the scanner besides the registry's own account(s).
REGISTRY_TRUSTED_OWNER_ACCOUNTS = env.list("REGISTRY_TRUSTED_OWNER_ACCOUNTS", default=[])
REGISTRY_AWS_ACCOUNT_IDS = env.list("REGISTRY_AWS_ACCOUNT_IDS", default=[])
REGISTRY_SCANNERS = env.list("REGISTRY_SCANNERS", default=["amis.scanner.AwsMetadataScanner"])
REGISTRY_SCAN_MAX_AGE_DAYS = env.int("REGISTRY_SCAN_MAX_AGE_DAYS", default=365)
REGISTRY_RESCAN_DAYS = env.int("REGISTRY_RESCAN_DAYS", default=7)
# A failed scan always blocks approval; with this on, a never-scanned entry does too.
REGISTRY_REQUIRE_SCAN_FOR_APPROVAL = env.bool("REGISTRY_REQUIRE_SCAN_FOR_APPROVAL", default=False)
# Who receives an erased user's AMIs when the moderator names nobody (empty: they are revoked).
REGISTRY_ERASURE_TRANSFER_TO = env("REGISTRY_ERASURE_TRANSFER_TO", default="")
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "trust-rescan-due": {"task": "amis.rescan_due", "schedule": 3600.0},
    # The stored best score's time-dependent part (freshness) is refreshed hourly.
    "catalogue-best-scores": {"task": "amis.best_scores_refresh", "schedule": 3600.0},
    "trust-retention": {"task": "registry.retention_run", "schedule": 24 * 3600.0},
    # The dashboard's resolutions by tier per day (resolver.usage).
    "resolver-resolution-counts": {"task": "resolver.resolution_counts_flush", "schedule": 300.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}

# --- AWS lifecycle (amis/operations.py, amis/aws_*.py, docs/aws-lifecycle.md) --------------------
from kombu import Exchange, Queue  # noqa: E402

# Each queue needs its own exchange + routing key: a Queue without them is bound to the default
# exchange with the default key, and every message would then reach both queues.
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ("default", "aws"))
# Beat jobs are cheap DB sweeps: keep them off the (rate-limited, slow) aws queue.
CELERY_TASK_ROUTES = {"amis.operations_refresh_stale": {"queue": "default"},
                      "sharing.share_refresh_stale": {"queue": "default"}, **CELERY_TASK_ROUTES}
# At most this many CopyImage in flight per destination region (a Redis semaphore; AWS's own
# limit is per account and region), and how long an operation may sit in queued/running before
# the beat sweep re-enqueues it.
REGISTRY_COPY_CONCURRENCY_PER_REGION = env.int("REGISTRY_COPY_CONCURRENCY_PER_REGION", default=20)
REGISTRY_OPERATION_STALE_SECONDS = env.int("REGISTRY_OPERATION_STALE_SECONDS", default=600)
# A running operation whose heartbeat (updated_at, touched by every step) is older than this is
# taken over by the sweep: its worker died. Default 4 poll intervals, at least 60 s.
REGISTRY_OPERATION_HEARTBEAT_STALE_SECONDS = env.int("REGISTRY_OPERATION_HEARTBEAT_STALE_SECONDS", default=0) or None
# Every worker runs the stale sweep on start and then this often (0: only on start).
REGISTRY_OPERATION_SWEEP_SECONDS = env.int("REGISTRY_OPERATION_SWEEP_SECONDS", default=30)
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "operations-refresh-stale": {"task": "amis.operations_refresh_stale", "schedule": 60.0},
    "shares-refresh-stale": {"task": "sharing.share_refresh_stale", "schedule": 300.0},
}

# --- Resolver ----------------------------------------------------------------------------------------
# TTLs: REGISTRY_RESOLUTION_CACHE_TTL / REGISTRY_AVAILABILITY_CACHE_TTL above. Turning the resolution
# cache off is for measurements only (bench/bench_resolve.py's cold runs use ?refresh=true instead).
REGISTRY_RESOLVER_CACHE_ENABLED = env.bool("REGISTRY_RESOLVER_CACHE_ENABLED", default=True)
# Overrides of the cost model's defaults (resolver/costs.py DEFAULTS), e.g. as JSON in the environment:
# REGISTRY_RESOLVER_COSTS='{"storage_per_gb_month": {"eu-": 0.12}, "default_ami_size_gb": 30}'
REGISTRY_RESOLVER_COSTS = env.json("REGISTRY_RESOLVER_COSTS", default={})

# --- Notifications (notifications/, docs/notifications.md) ---------------------------------------
# Links in emails, feeds and webhook payloads point here (the CloudEvents `source` too).
REGISTRY_SITE_URL = env("REGISTRY_SITE_URL", default="http://127.0.0.1:8000")
# Email through Django's backend: consolemail:// prints messages (the demo); smtp+tls://user:pass@host:587 sends.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="CWS Registry <registry@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
REGISTRY_EMAIL_MAX_ATTEMPTS = env.int("REGISTRY_EMAIL_MAX_ATTEMPTS", default=6)
# Webhooks: timeouts, retries with exponential backoff (base·2^(n−1), capped, ±20 % jitter), disabling.
REGISTRY_WEBHOOK_TIMEOUT_SECONDS = env.float("REGISTRY_WEBHOOK_TIMEOUT_SECONDS", default=10)
REGISTRY_WEBHOOK_MAX_ATTEMPTS = env.int("REGISTRY_WEBHOOK_MAX_ATTEMPTS", default=6)
REGISTRY_WEBHOOK_RETRY_BASE_SECONDS = env.int("REGISTRY_WEBHOOK_RETRY_BASE_SECONDS", default=30)
REGISTRY_WEBHOOK_RETRY_MAX_SECONDS = env.int("REGISTRY_WEBHOOK_RETRY_MAX_SECONDS", default=3600)
REGISTRY_WEBHOOK_DISABLE_AFTER_FAILURES = env.int("REGISTRY_WEBHOOK_DISABLE_AFTER_FAILURES", default=20)
# SSRF: webhooks never reach loopback/private/link-local (metadata) addresses unless allowed here.
REGISTRY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("REGISTRY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)
REGISTRY_WEBHOOK_ALLOWED_NETWORKS = env.list("REGISTRY_WEBHOOK_ALLOWED_NETWORKS", default=[])
REGISTRY_NOTIFICATION_RETENTION_DAYS = env.int("REGISTRY_NOTIFICATION_RETENTION_DAYS", default=90)
REGISTRY_FEED_ITEMS = env.int("REGISTRY_FEED_ITEMS", default=50)
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "notifications-resume": {"task": "notifications.resume", "schedule": 300.0},
    "notifications-prune": {"task": "notifications.prune", "schedule": 24 * 3600.0},
}
