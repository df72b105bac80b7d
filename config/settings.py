"""Splitlab settings, read entirely from the environment.

Every variable is listed with its default in the README's "Configuration" section. The
embedded default (no variables set) is SQLite under ``var/`` and Celery's ``filesystem://``
broker, so a fresh clone runs with nothing else installed; production sets ``DATABASE_URL``
(PostgreSQL) and ``CELERY_BROKER_URL`` (Redis).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from config.env import (
    ConfigurationError,
    broker_url_from_env,
    cache_from_env,
    database_from_env,
    env,
    result_backend_from_env,
    throttle_rates_from_env,
)
from config.security import secret_key_from_env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("SPLITLAB_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core ---------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = secret_key_from_env(DEBUG)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "accounts",
    "experiments",
    "assignment",
    "analytics",
    "recommenders",
    "workspace",
    "simulator",  # only for ``manage.py simulate``; no models, imports no other app
]

MIDDLEWARE = [
    "web.middleware.ApiRequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
if not DEBUG:
    MIDDLEWARE.insert(1, "web.csp.ContentSecurityPolicyMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_env(str(VAR_DIR / "splitlab.sqlite3"))}
# Redis in production (SPLITLAB_CACHE_URL): the API throttle's buckets live there.
CACHES = {"default": cache_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Third-party browser code (the chart library) is installed by the Makefile from npm into
# node_modules/ and served from there; nothing is copied into the repository.
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
NODE_MODULES_DIR = BASE_DIR / "node_modules"
if NODE_MODULES_DIR.is_dir():
    STATICFILES_DIRS.append(("vendor", NODE_MODULES_DIR))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "admin:login"

# Batches of 10,000 events or users are a few MB of JSON; Django's 2.5 MiB default would
# refuse the documented batch size.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_MAX_BODY_BYTES", default=16 * 1024 * 1024)

# --- Security (production values unless DJANGO_DEBUG is on) -------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- REST API ------------------------------------------------------------------------------
# How long a process trusts an API key it verified before reading it from the database again
# (a revoked key or deactivated client is refused everywhere within this time; 0: always read).
SPLITLAB_TOKEN_CACHE_SECONDS = env.float("SPLITLAB_TOKEN_CACHE_SECONDS", default=10.0)
# Requests per second and burst per API client and scope (token buckets in the cache).
SPLITLAB_THROTTLE_ENABLED = env.bool("SPLITLAB_THROTTLE_ENABLED", default=True)
SPLITLAB_THROTTLE_RATES = throttle_rates_from_env(
    "SPLITLAB_THROTTLE_RATES",
    default="serve=2000/4000,analyze=100/500,manage=50/200,models=10/50,any=2000/4000",
)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.ScopeRateThrottle"],
    # JSON only, with bodies it cannot take (too deep, not Unicode) answered 400.
    "DEFAULT_PARSER_CLASSES": ["web.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "EXCEPTION_HANDLER": "web.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Splitlab API",
    "DESCRIPTION": "Assignments, recommendations, events and statistics for A/B experiments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "OAS_VERSION": "3.1.0",
    # Three choice sets are all called "kind": name each for what it chooses.
    "ENUM_NAME_OVERRIDES": {
        "ExperimentKindEnum": "experiments.models.Experiment.Kind",
        "MetricKindEnum": "experiments.models.MetricDefinition.Kind",
        "StatisticKindEnum": "analytics.stats.sufficient.KINDS",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.schema.document_common_answers",
    ],
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = broker_url_from_env("CELERY_BROKER_URL", default="filesystem://")
CELERY_RESULT_BACKEND = result_backend_from_env(CELERY_BROKER_URL, VAR_DIR / "results")
if CELERY_BROKER_URL.startswith("filesystem"):
    # The embedded broker: three folders under var/, polled every 50 ms.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "out"),
        "data_folder_out": str(CELERY_BROKER_DIR / "out"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": env.float("CELERY_BROKER_POLLING_SECONDS", default=0.05),
    }
    for _folder in ("out", "processed", "control"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=3300)
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=1)
# Celery's Django fix-up closes a worker's database connection after every task unless told
# to reuse it: a serving worker then reconnected to PostgreSQL for each request that reads a
# profile. Reused here for this many tasks (health-checked by Django, CONN_HEALTH_CHECKS).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# A pool child that replaces a dead one imports torch and warms the serving models before it
# reports up; Celery's 4 s default killed every replacement on a loaded host, for ever.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=60.0)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Beat's local state file (Celery's default is ./celerybeat-schedule, wherever it starts).
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Splitlab -------------------------------------------------------------------------------
# Where model versions write their artifacts (a folder per version).
SPLITLAB_ARTIFACT_ROOT = Path(env.str("SPLITLAB_ARTIFACT_ROOT", default=str(VAR_DIR / "artifacts")))
# Threads per worker process for torch, faiss and BLAS (set after the fork).
SPLITLAB_WORKER_THREADS = env.int("SPLITLAB_WORKER_THREADS", default=1)
# Events: accepted timestamps lie within this many seconds before/after the server's clock.
SPLITLAB_EVENT_PAST_WINDOW_SECONDS = env.int(
    "SPLITLAB_EVENT_PAST_WINDOW_SECONDS", default=7 * 86400
)
SPLITLAB_EVENT_FUTURE_WINDOW_SECONDS = env.int("SPLITLAB_EVENT_FUTURE_WINDOW_SECONDS", default=300)
# Rollups: how often beat runs them, the CUPED pre-period, and the re-read overlap.
SPLITLAB_ROLLUP_INTERVAL_SECONDS = env.int("SPLITLAB_ROLLUP_INTERVAL_SECONDS", default=300)
SPLITLAB_ROLLUP_PRE_PERIOD_DAYS = env.int("SPLITLAB_ROLLUP_PRE_PERIOD_DAYS", default=14)
SPLITLAB_ROLLUP_OVERLAP_SECONDS = env.int("SPLITLAB_ROLLUP_OVERLAP_SECONDS", default=120)
# PostgreSQL work_mem for the rollup transaction (hash aggregates over millions of rows).
SPLITLAB_ROLLUP_WORK_MEM = env.str("SPLITLAB_ROLLUP_WORK_MEM", default="256MB")
# Assignment: how stale a process's experiment cache may get, and the exposure buffer
# (flushed after a response once this many rows or this many seconds have accumulated).
SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS = env.float(
    "SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS", default=2.0
)
SPLITLAB_EXPOSURE_BUFFER_SIZE = env.int("SPLITLAB_EXPOSURE_BUFFER_SIZE", default=1000)
SPLITLAB_EXPOSURE_FLUSH_SECONDS = env.float("SPLITLAB_EXPOSURE_FLUSH_SECONDS", default=2.0)
SPLITLAB_ASSIGNMENT_BATCH_MAX_USERS = env.int("SPLITLAB_ASSIGNMENT_BATCH_MAX_USERS", default=10000)
# Durability of buffered records (exposures, holdout evaluations, served lists): each process
# appends them to its journal under SPLITLAB_JOURNAL_DIR before answering (empty: no journal,
# a SIGKILL loses the buffer); synced every SPLITLAB_JOURNAL_SYNC_SECONDS ("interval") or
# before every response ("always"). See writebehind/journal.py and the README's fault table.
# The default folder is per database, so that a process never replays into one database the
# journal of a process that wrote to another.
_DB = DATABASES["default"]
_DB_KEY = f"{_DB['ENGINE']}|{_DB.get('HOST', '')}|{_DB.get('PORT', '')}|{_DB['NAME']}"
SPLITLAB_JOURNAL_DIR = env.str(
    "SPLITLAB_JOURNAL_DIR",
    default=str(VAR_DIR / "journal" / hashlib.sha256(_DB_KEY.encode()).hexdigest()[:12]),
)
SPLITLAB_JOURNAL_SYNC = env.str("SPLITLAB_JOURNAL_SYNC", default="interval")
if SPLITLAB_JOURNAL_SYNC not in ("interval", "always"):
    raise ConfigurationError("SPLITLAB_JOURNAL_SYNC", "must be 'interval' or 'always'")
SPLITLAB_JOURNAL_SYNC_SECONDS = env.float("SPLITLAB_JOURNAL_SYNC_SECONDS", default=0.2)
# Serving: the deadline a request waits for a serving worker before answering from the
# fallback lists; known surfaces; how stale a process's view of the active versions may get;
# the precomputed fallback lists (users per version) and the buffers of the serving log.
SPLITLAB_SERVING_DEADLINE_MS = env.int("SPLITLAB_SERVING_DEADLINE_MS", default=100)
# How a request reaches a serving worker over Redis (recommenders/serving/transport.py):
# ``batched``, a lean message micro-batched on the worker, at most SPLITLAB_SERVING_BATCH_MAX
# requests per pool dispatch; ``task``, one Celery task per request (the reference path).
SPLITLAB_SERVING_PATH = env.str("SPLITLAB_SERVING_PATH", default="batched")
if SPLITLAB_SERVING_PATH not in ("batched", "task"):
    raise ConfigurationError("SPLITLAB_SERVING_PATH", "must be 'batched' or 'task'")
SPLITLAB_SERVING_BATCH_MAX = env.int("SPLITLAB_SERVING_BATCH_MAX", default=16)
if SPLITLAB_SERVING_BATCH_MAX < 1:
    raise ConfigurationError("SPLITLAB_SERVING_BATCH_MAX", "must be at least 1")
SPLITLAB_SURFACES = env.list(
    "SPLITLAB_SURFACES", default=["home", "detail", "search", "onboarding"]
)
SPLITLAB_SERVING_VERSION_TTL_SECONDS = env.float(
    "SPLITLAB_SERVING_VERSION_TTL_SECONDS", default=2.0
)
SPLITLAB_POPULAR_TTL_SECONDS = env.float("SPLITLAB_POPULAR_TTL_SECONDS", default=300.0)
SPLITLAB_FALLBACK_MAX_USERS = env.int("SPLITLAB_FALLBACK_MAX_USERS", default=100_000)
# How long a request waits for the user's precomputed fallback list before it answers from
# the popular list in memory (0: no bound, read in the request's thread).
SPLITLAB_FALLBACK_READ_MS = env.int("SPLITLAB_FALLBACK_READ_MS", default=30)
if SPLITLAB_FALLBACK_READ_MS < 0:
    raise ConfigurationError("SPLITLAB_FALLBACK_READ_MS", "must be 0 or more")
# Each web process refreshes configuration, versions, popular lists and API keys on a thread
# of its own and flushes exposures and counters on its flusher thread, so a request sends no
# query (web/background.py); false: all of it in the request's thread, as the tests need.
SPLITLAB_BACKGROUND_THREADS = env.bool("SPLITLAB_BACKGROUND_THREADS", default=True)
SPLITLAB_SERVING_COUNTER_FLUSH_SECONDS = env.float(
    "SPLITLAB_SERVING_COUNTER_FLUSH_SECONDS", default=1.0
)
SPLITLAB_SERVED_LIST_BUFFER_ROWS = env.int("SPLITLAB_SERVED_LIST_BUFFER_ROWS", default=100)
SPLITLAB_SERVED_LIST_FLUSH_SECONDS = env.float("SPLITLAB_SERVED_LIST_FLUSH_SECONDS", default=0.5)
# A serving request waits at most the deadline, so the Redis result store must fail fast
# when Redis is down (Celery's default retries reconnecting for about 20 s); after a
# failure the web process skips the broker for SPLITLAB_SERVING_BROKER_RETRY_SECONDS.
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": {"max_retries": 0}}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = env.float("CELERY_REDIS_SOCKET_CONNECT_TIMEOUT", default=1.0)
CELERY_REDIS_SOCKET_TIMEOUT = env.float("CELERY_REDIS_SOCKET_TIMEOUT", default=5.0)
SPLITLAB_SERVING_BROKER_RETRY_SECONDS = env.float(
    "SPLITLAB_SERVING_BROKER_RETRY_SECONDS", default=1.0
)
# Serving workers' heartbeats (ops/heartbeat.py): how often each process beats, and how old
# the newest may be before /healthz reports the serving workers down.
SPLITLAB_HEARTBEAT_SECONDS = env.float("SPLITLAB_HEARTBEAT_SECONDS", default=1.0)
SPLITLAB_HEARTBEAT_STALE_SECONDS = env.float("SPLITLAB_HEARTBEAT_STALE_SECONDS", default=5.0)
CELERY_BEAT_SCHEDULE = {
    "analytics-rollup": {
        "task": "analytics.tasks.run_rollups",
        "schedule": float(SPLITLAB_ROLLUP_INTERVAL_SECONDS),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
