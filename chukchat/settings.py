"""Every setting comes from the environment, read here and only here.

With no DATABASE_URL the platform runs in *embedded* mode: SQLite, an in-memory channel layer, a
local-memory cache and eager Celery, so `make run` needs no external service. Setting DATABASE_URL
(PostgreSQL) and REDIS_URL switches each part to the real service. Secrets only have defaults in
embedded mode; DEBUG is off unless DJANGO_DEBUG asks for it.
"""

import json
import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DATABASE_URL = env("DATABASE_URL")
REDIS_URL = env("REDIS_URL")
EMBEDDED = not DATABASE_URL

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DATABASE_URL is set.")
    SECRET_KEY = "embedded-development-only-not-a-secret"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# Browser pages on these origins may call /v1 and /api/v1 (chukchat/cors.py): exact origins
# ("https://app.example.com"), or "*" for any; empty sends no CORS headers at all.
CORS_ALLOWED_ORIGINS = [o.rstrip("/").lower() for o in env_list("CHUK_CORS_ALLOWED_ORIGINS")]
SITE_URL = env("CHUK_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "channels",
    "rest_framework",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "accounts",
    "aiapi",
    "billing",
    "media_tools",
    "sharing",
    "webapp",
]

SOCIAL_PROVIDERS = env_list("CHUK_SOCIAL_PROVIDERS")  # e.g. "google,github"; off by default
INSTALLED_APPS += [f"allauth.socialaccount.providers.{name}" for name in SOCIAL_PROVIDERS]
SOCIALACCOUNT_PROVIDERS = {
    name: {
        "APPS": [
            {
                "client_id": env(f"CHUK_SOCIAL_{name.upper()}_CLIENT_ID"),
                "secret": env(f"CHUK_SOCIAL_{name.upper()}_SECRET"),
            }
        ]
    }
    for name in SOCIAL_PROVIDERS
}

MIDDLEWARE = [
    "chukchat.request_context.RequestContextMiddleware",  # metrics, and later the request id
    "django.middleware.security.SecurityMiddleware",
    "chukchat.security_headers.SecurityHeadersMiddleware",  # CSP on pages, HSTS over https
    "chukchat.static_files.AsyncWhiteNoiseMiddleware",
    "chukchat.errors.ApiErrorMiddleware",
    "accounts.rate_limits.RateLimitHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

# Requests carrying an API key skip sessions, CSRF and the rest (chukchat/api_handler.py):
# only async-native middleware here.
API_MIDDLEWARE = [
    "chukchat.request_context.RequestContextMiddleware",
    "chukchat.allowed_hosts.AllowedHostMiddleware",
    "chukchat.errors.ApiErrorMiddleware",
    "accounts.rate_limits.RateLimitHeadersMiddleware",
    "chukchat.api_handler.SyncViewConnectionsMiddleware",
]

ROOT_URLCONF = "chukchat.urls"
ASGI_APPLICATION = "chukchat.asgi.application"
WSGI_APPLICATION = None

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

# --- Database -------------------------------------------------------------------------------
if EMBEDDED:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("CHUK_SQLITE_PATH", str(BASE_DIR / "var" / "chukchat.sqlite3")),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            # A file, not the shared-cache in-memory default: that one locks whole tables and
            # fails at once where concurrent requests should wait their turn.
            "TEST": {"NAME": str(BASE_DIR / "var" / "test_chukchat.sqlite3")},
        }
    }
else:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    # A pool per process: async views run their queries in worker threads, so persistent
    # per-thread connections would leak; a pool hands connections back after each use.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # While the database is away a request waits at most DB_POOL_TIMEOUT for a connection,
    # then answers 503 with Retry-After; a connection the server dropped (a restart) is found
    # by the check before use, not by the request that gets it.
    DB_POOL_TIMEOUT = env_float("CHUK_DB_POOL_TIMEOUT", 2.0)
    DB_CONNECT_TIMEOUT = env_int("CHUK_DB_CONNECT_TIMEOUT", 2)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("CHUK_DB_POOL_MIN", 1),
        "max_size": env_int("CHUK_DB_POOL_MAX", 10),
        "timeout": DB_POOL_TIMEOUT,
    }
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # with a pool: checked before use
    DATABASES["default"]["OPTIONS"]["connect_timeout"] = DB_CONNECT_TIMEOUT
    DATABASES["default"]["TEST"] = {"NAME": env("CHUK_TEST_DATABASE_NAME", "") or None}
    # Credit holds: the same database, but commits that do not wait for the disk (a hold lost
    # in a crash only frees credit no finished request used). Money itself moves on "default".
    DATABASES["holds"] = {
        **DATABASES["default"],
        "OPTIONS": {
            **DATABASES["default"]["OPTIONS"],
            "options": "-c synchronous_commit=off",
            "pool": {**DATABASES["default"]["OPTIONS"]["pool"], "min_size": 0},
        },
        "TEST": {"MIRROR": "default"},
    }

# The credit hold and the charge of every metered request run on asyncio psycopg pools (per
# process and alias, at most this many connections each) instead of through worker threads.
ASYNC_DB_POOL = env_bool("CHUK_ASYNC_DB_POOL", True)
ASYNC_DB_POOL_MAX = env_int("CHUK_ASYNC_DB_POOL_MAX", 10)
ASYNC_DB_POOL_TIMEOUT = env_float("CHUK_ASYNC_DB_POOL_TIMEOUT", 2.0)
# A charge waits this long for a pooled connection when all are busy (the answer has gone).
SETTLE_POOL_TIMEOUT = env_float("CHUK_SETTLE_POOL_TIMEOUT", 10.0)
# The garbage collector's thresholds in a server process (chukchat/gc_tuning.py), as
# "young,middle,old"; empty keeps Python's defaults and freezes nothing.
GC_THRESHOLDS = tuple(
    int(part) for part in env("CHUK_GC_THRESHOLDS", "50000,20,20").split(",") if part.strip()
)
# Leased charges that come while one is being written are written together, at most this many
# in one statement (billing/settlement_batch.py).
SETTLE_BATCH = env_bool("CHUK_SETTLE_BATCH", True)
SETTLE_BATCH_MAX = env_int("CHUK_SETTLE_BATCH_MAX", 200)
# Server-side prepared statements (the settle statement): off behind a pooler that hands each
# transaction another server connection (PgBouncer in transaction mode before 1.21), where a
# statement prepared on one connection is unknown on the next.
DB_PREPARED_STATEMENTS = env_bool("CHUK_DB_PREPARED_STATEMENTS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache, Channels, Celery ----------------------------------------------------------------
CACHE_KEY_PREFIX = env("CHUK_CACHE_PREFIX", "chuk")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 gives every read a 5 s timeout, the length of the layer's own
                # blocking receive: without more room an idle WebSocket is dropped after 5 s.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": f"{CACHE_KEY_PREFIX}:asgi",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "expire-data-exports": {
        "task": "accounts.tasks.data_exports_expire_task",
        "schedule": 3600.0,
    },
    "release-stale-reservations": {
        "task": "billing.tasks.release_stale_reservations_task",
        "schedule": 30.0,  # well within LEASE_MAX_AGE_SECONDS
    },
    "expire-media-results": {
        "task": "media_tools.tasks.expire_media_task",
        "schedule": env_float("CHUK_MEDIA_EXPIRY_INTERVAL_SECONDS", 600.0),
    },
}

# --- Accounts (django-allauth) --------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
SITE_ID = 1
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# Mandatory once mail can be sent: sign-up then answers alike whether the address has an
# account or not (the owner is mailed instead), so it cannot be used to find who has one.
# Without a mail server (development) it is optional, or nobody could finish signing up.
ACCOUNT_EMAIL_VERIFICATION = env(
    "CHUK_EMAIL_VERIFICATION", "mandatory" if env("EMAIL_HOST") else "optional"
)
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True  # a new address replaces the old once it is verified
ACCOUNT_FORMS = {"add_email": "accounts.forms.AddEmailForm"}
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_RATE_LIMITS = {
    "login_failed": env("CHUK_LOGIN_FAILED_LIMIT", "5/5m/ip,5/5m/key"),
    "signup": env("CHUK_SIGNUP_LIMIT", "20/m/ip"),
}
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
SOCIALACCOUNT_ONLY = False

DEFAULT_FROM_EMAIL = env("CHUK_FROM_EMAIL", "Chuk Chat <noreply@chuk.chat>")
if env("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env("EMAIL_HOST")
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
elif DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
else:
    # Not printed: its links sign people in (chukchat/mail.py).
    EMAIL_BACKEND = "chukchat.mail.WithheldMailBackend"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "chukchat.errors.drf_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["accounts.rate_limit_drf.ApiRateThrottle"],
    # `?format=` is ours (conversation exports), not DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
}
# Rate limits (per plan and per key, set in admin) are counted in this Redis; without it, in
# memory (embedded mode, one process). If it cannot be reached, requests pass with a logged
# warning, unless CHUK_RATE_LIMIT_FAIL_CLOSED refuses them (503).
RATE_LIMITS_ENABLED = env_bool("CHUK_RATE_LIMITS_ENABLED", True)
RATE_LIMIT_REDIS_URL = env("CHUK_RATE_LIMIT_REDIS_URL", REDIS_URL)
RATE_LIMIT_KEY_PREFIX = env("CHUK_RATE_LIMIT_KEY_PREFIX", CACHE_KEY_PREFIX)
RATE_LIMIT_FAIL_CLOSED = env_bool("CHUK_RATE_LIMIT_FAIL_CLOSED", False)
# Connections to a TLS (rediss://) limiter Redis per process: a check past them waits for one
# (0.5 s at most). Plain and unix-socket URLs use one pipelined connection (chukchat/redis_pipe).
RATE_LIMIT_REDIS_CONNECTIONS = env_int("CHUK_RATE_LIMIT_REDIS_CONNECTIONS", 50)
# Seconds an authenticated API key is trusted from the process-local cache before it is looked
# up again: the bound on how long a revoked key keeps working.
API_KEY_CACHE_SECONDS = env_float("CHUK_API_KEY_CACHE_SECONDS", 5.0)
API_MAX_BODY_BYTES = env_int("CHUK_API_MAX_BODY_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

# A data export can be downloaded once, within this many seconds of being ready.
DATA_EXPORT_TTL_SECONDS = env_int("CHUK_DATA_EXPORT_TTL_SECONDS", 24 * 3600)

# Provider credentials are encrypted at rest with keys derived from these secrets (first one
# encrypts; all decrypt, so a secret can be rotated by prepending a new one).
FIELD_ENCRYPTION_SECRETS = env_list("CHUK_FIELD_ENCRYPTION_SECRETS") or [SECRET_KEY]

# --- Gateway --------------------------------------------------------------------------------
DEFAULT_CHAT_MODEL = env("CHUK_DEFAULT_CHAT_MODEL", "haiku")
DEFAULT_MAX_TOKENS = env_int("CHUK_DEFAULT_MAX_TOKENS", 4096)
PROVIDER_CONNECT_TIMEOUT = env_float("CHUK_PROVIDER_CONNECT_TIMEOUT", 5.0)
PROVIDER_FIRST_TOKEN_TIMEOUT = env_float("CHUK_PROVIDER_FIRST_TOKEN_TIMEOUT", 60.0)
PROVIDER_TOTAL_TIMEOUT = env_float("CHUK_PROVIDER_TOTAL_TIMEOUT", 600.0)
PROVIDER_IDLE_TIMEOUT = env_float("CHUK_PROVIDER_IDLE_TIMEOUT", 60.0)  # quiet between chunks
# Image inputs: URLs are fetched by the server (https only outside embedded development); the
# allow-list exists for tests that serve images from 127.0.0.1 and must never be set in production.
IMAGE_MAX_BYTES = env_int("CHUK_IMAGE_MAX_BYTES", 10 * 1024 * 1024)
IMAGE_MAX_COUNT = env_int("CHUK_IMAGE_MAX_COUNT", 10)
IMAGE_FETCH_TIMEOUT = env_float("CHUK_IMAGE_FETCH_TIMEOUT", 10.0)
IMAGE_FETCH_ALLOW_HTTP = env_bool("CHUK_IMAGE_FETCH_ALLOW_HTTP", EMBEDDED and DEBUG)
IMAGE_FETCH_ALLOWED_HOSTS = env_list("CHUK_IMAGE_FETCH_ALLOWED_HOSTS")
# The Chuk chat API: SSE heartbeats, the WebSocket's limits, resuming dropped streams, titles.
SSE_HEARTBEAT_SECONDS = env_float("CHUK_SSE_HEARTBEAT_SECONDS", 15.0)
CHAT_TITLE_MODEL = env("CHUK_CHAT_TITLE_MODEL")  # empty: a new chat is titled by its first words
CHAT_RESUME_TTL_SECONDS = env_int("CHUK_CHAT_RESUME_TTL_SECONDS", 300)
# How long a stream whose socket dropped keeps generating before someone resumes it.
CHAT_DETACHED_GRACE_SECONDS = env_float("CHUK_CHAT_DETACHED_GRACE_SECONDS", 60.0)
WS_MAX_FRAME_BYTES = env_int("CHUK_WS_MAX_FRAME_BYTES", 8 * 1024 * 1024)
WS_FRAMES_PER_SECOND = env_float("CHUK_WS_FRAMES_PER_SECOND", 10.0)
WS_FRAME_BURST = env_int("CHUK_WS_FRAME_BURST", 40)
WS_MAX_STREAMS = env_int("CHUK_WS_MAX_STREAMS", 8)
WS_AUTH_TIMEOUT_SECONDS = env_float("CHUK_WS_AUTH_TIMEOUT_SECONDS", 10.0)
DEMO_TOKEN_DELAY = env_float("CHUK_DEMO_TOKEN_DELAY", 0.02)  # seconds between demo tokens
MODEL_CATALOGUE_FILE = env("CHUK_MODEL_CATALOGUE", str(BASE_DIR / "aiapi" / "default_models.toml"))

# --- Media tools ----------------------------------------------------------------------------
DEFAULT_TRANSCRIPTION_MODEL = env("CHUK_DEFAULT_TRANSCRIPTION_MODEL", "local-transcription")
DEFAULT_IMAGE_MODEL = env("CHUK_DEFAULT_IMAGE_MODEL", "demo-image")
# Limits by plan slug; a plan this table does not name gets MEDIA_DEFAULT_PLAN's.
MEDIA_DEFAULT_PLAN = "free"
MEDIA_PLAN_LIMITS = {
    "free": {
        "max_upload_bytes": env_int("CHUK_MEDIA_FREE_MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
        "max_audio_seconds": env_int("CHUK_MEDIA_FREE_MAX_AUDIO_SECONDS", 10 * 60),
        "max_images": env_int("CHUK_MEDIA_FREE_MAX_IMAGES", 2),
    },
    "pro": {
        "max_upload_bytes": env_int("CHUK_MEDIA_PRO_MAX_UPLOAD_BYTES", 100 * 1024 * 1024),
        "max_audio_seconds": env_int("CHUK_MEDIA_PRO_MAX_AUDIO_SECONDS", 2 * 3600),
        "max_images": env_int("CHUK_MEDIA_PRO_MAX_IMAGES", 10),
    },
}
MEDIA_MAX_IMAGE_PIXELS = env_int("CHUK_MEDIA_MAX_IMAGE_PIXELS", 40_000_000)
# Office documents are zip files: what they may unpack to, in all and per compressed byte.
MEDIA_MAX_UNPACKED_BYTES = env_int("CHUK_MEDIA_MAX_UNPACKED_BYTES", 256 * 1024 * 1024)
MEDIA_MAX_COMPRESSION_RATIO = env_int("CHUK_MEDIA_MAX_COMPRESSION_RATIO", 200)
# Each conversion runs in a child process with these limits (CPU seconds, address space, wall).
MEDIA_CONVERT_CPU_SECONDS = env_int("CHUK_MEDIA_CONVERT_CPU_SECONDS", 60)
MEDIA_CONVERT_MEMORY_BYTES = env_int("CHUK_MEDIA_CONVERT_MEMORY_BYTES", 1536 * 1024 * 1024)
MEDIA_CONVERT_WALL_SECONDS = env_float("CHUK_MEDIA_CONVERT_WALL_SECONDS", 120.0)
MEDIA_CONVERT_PRICE = Decimal(env("CHUK_MEDIA_CONVERT_PRICE", "0"))  # USD per conversion
# Celery's limits for one media job (the soft one fails the job cleanly).
MEDIA_JOB_SOFT_TIME_LIMIT = env_int("CHUK_MEDIA_JOB_SOFT_TIME_LIMIT", 15 * 60)
MEDIA_JOB_TIME_LIMIT = MEDIA_JOB_SOFT_TIME_LIMIT + 30
MEDIA_STALE_JOB_SECONDS = env_int("CHUK_MEDIA_STALE_JOB_SECONDS", 3600)
MEDIA_RESULT_TTL_SECONDS = env_int("CHUK_MEDIA_RESULT_TTL_SECONDS", 24 * 3600)
MEDIA_URL_TTL_SECONDS = env_int("CHUK_MEDIA_URL_TTL_SECONDS", 3600)  # signed result links
# How long POST /audio/transcriptions and /images/generations wait for their job.
MEDIA_SYNC_WAIT_SECONDS = env_float("CHUK_MEDIA_SYNC_WAIT_SECONDS", 120.0)

# --- Money ----------------------------------------------------------------------------------
CURRENCY = "usd"
SIGNUP_CREDIT_USD = Decimal(env("CHUK_SIGNUP_CREDIT_USD", "0"))
# Who a person asks for credit or access when this site cannot sell them (no Stripe): an
# email address, a URL or a sentence; the web app says "Ask the operator of this site" without it.
SUPPORT_CONTACT = env("CHUK_SUPPORT_CONTACT", "")
# Credit leases (billing/credit_leases.py): a process holds a slice of a user's credit, taking
# LEASE_MULTIPLE times a request's worst case at a time, so requests need no database round
# trip before the provider; an idle lease is given back after LEASE_IDLE_SECONDS, and one its
# process stopped renewing is released by the periodic task after LEASE_MAX_AGE_SECONDS.
CREDIT_LEASES = env_bool("CHUK_CREDIT_LEASES", True)
LEASE_MULTIPLE = Decimal(env("CHUK_LEASE_MULTIPLE", "20"))
LEASE_IDLE_SECONDS = env_float("CHUK_LEASE_IDLE_SECONDS", 3.0)
LEASE_MAX_AGE_SECONDS = env_float("CHUK_LEASE_MAX_AGE_SECONDS", 120.0)
# A hold with no live owner and older than this belongs to a request that died (holds of
# processes that stopped beating are released sooner, below).
RESERVATION_TIMEOUT_SECONDS = env_int("CHUK_RESERVATION_TIMEOUT_SECONDS", 2 * 3600)
# Every server process beats this often (billing/process_keeper.py); one silent for
# PROCESS_DEAD_SECONDS is dead, and the next sweep of any live process charges its streams for
# what they delivered and releases its holds and leases: within DEAD + BEAT seconds of a crash.
PROCESS_HEARTBEAT_SECONDS = env_float("CHUK_PROCESS_HEARTBEAT_SECONDS", 5.0)
PROCESS_DEAD_SECONDS = env_float("CHUK_PROCESS_DEAD_SECONDS", 30.0)
# Where charges the database could not take wait when Redis cannot keep them either.
SETTLE_SPOOL_DIR = env("CHUK_SETTLE_SPOOL_DIR", str(BASE_DIR / "var" / "settle-outbox"))
# Seconds a user's plan entitlements are trusted from the process-local cache: the bound on how
# long a plan change made in another process takes to reach this one.
ENTITLEMENT_CACHE_SECONDS = env_float("CHUK_ENTITLEMENT_CACHE_SECONDS", 10.0)
TOPUP_MIN_USD = Decimal(env("CHUK_TOPUP_MIN_USD", "5"))
TOPUP_MAX_USD = Decimal(env("CHUK_TOPUP_MAX_USD", "500"))

# --- Stripe ---------------------------------------------------------------------------------
# Unset: the billing endpoints answer 503 billing_not_configured and nothing calls Stripe.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env("STRIPE_API_BASE")  # empty: Stripe itself; tests point it at 127.0.0.1
# "pro=price_123,team=price_456": the Stripe price that sells each plan; wins over the price id
# set on the plan in admin.
STRIPE_PRICE_IDS = {
    slug.strip(): price.strip()
    for slug, _, price in (item.partition("=") for item in env_list("STRIPE_PRICE_IDS"))
    if price.strip()
}
STRIPE_CHECKOUT_SUCCESS_URL = env(
    "STRIPE_CHECKOUT_SUCCESS_URL",
    f"{SITE_URL}/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
)
STRIPE_CHECKOUT_CANCEL_URL = env(
    "STRIPE_CHECKOUT_CANCEL_URL", f"{SITE_URL}/billing?checkout=cancelled"
)
STRIPE_PORTAL_RETURN_URL = env("STRIPE_PORTAL_RETURN_URL", f"{SITE_URL}/billing")

# --- Static files, i18n, security -----------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or env_bool("CHUK_PLAIN_STATIC", False)
            # Hashed, compressed, and ES module imports rewritten to the hashed names.
            else "webapp.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env("CHUK_MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"
# Media jobs' uploads and results: private files, only ever served through the owner-checked or
# signed routes of media_tools. Any Django storage class fits (S3-compatible: django-storages'
# "storages.backends.s3.S3Storage" with its options as JSON, e.g. {"bucket_name": "chuk-media"}).
STORAGES["media"] = {
    "BACKEND": env("CHUK_MEDIA_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"),
    "OPTIONS": json.loads(env("CHUK_MEDIA_STORAGE_OPTIONS", "null"))
    or {"location": str(MEDIA_ROOT / "private")},
}
WHITENOISE_USE_FINDERS = DEBUG

FORMS_URLFIELD_ASSUME_HTTPS = True
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Database sessions that name their user (accounts/sessions.py): deleting an account finds its
# sessions by an index.
SESSION_ENGINE = "accounts.sessions"
SESSION_COOKIE_SECURE = env_bool("CHUK_SECURE_COOKIES", not EMBEDDED and not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Behind a reverse proxy; security headers (chukchat/security_headers.py) -----------------
# How many reverse proxies in front of the app are trusted to say how the client connected.
# 0 (the default): the app is reached directly, and a client's own X-Forwarded-Proto is ignored
# (it could otherwise claim https, and be treated as secure). With a proxy, set it to 1 (or the
# number of proxies in the chain), and make sure the proxy sets X-Forwarded-Proto itself.
TRUSTED_PROXY_COUNT = env_int("CHUK_TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT <= 0:
    SECURE_PROXY_SSL_HEADER = None
# Strict-Transport-Security max-age, sent on every https response; 0 sends none.
HSTS_SECONDS = env_int("CHUK_HSTS_SECONDS", 365 * 24 * 60 * 60)

# --- Operations: health, metrics -------------------------------------------------------------
# /health/ready's report is kept this long per process (a flood of probes runs one round of
# checks per period). Its detail (parts, backends, latencies) needs CHUK_HEALTH_TOKEN or
# CHUK_METRICS_TOKEN as a bearer token; without, only the status is shown.
HEALTH_CACHE_SECONDS = env_float("CHUK_HEALTH_CACHE_SECONDS", 1.5)
HEALTH_TOKEN = env("CHUK_HEALTH_TOKEN")
# GET /metrics (Prometheus text) answers only `Authorization: Bearer <this>`; unset, it is 404.
METRICS_TOKEN = env("CHUK_METRICS_TOKEN")

# CHUK_LOG_FORMAT=json: one JSON object per line (chukchat/log_context.py), uvicorn's and
# Celery's own lines included, each with the request id; the default stays human-readable.
LOG_FORMAT = env("CHUK_LOG_FORMAT", "plain").lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "chukchat.log_context.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env("CHUK_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
if LOG_FORMAT == "json":
    # uvicorn configured its loggers with its own text handlers before loading the app.
    for _name in ("uvicorn", "uvicorn.access"):
        LOGGING["loggers"][_name] = {"handlers": ["console"], "level": "INFO", "propagate": False}
    LOGGING["loggers"]["uvicorn.error"] = {"level": "INFO"}
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False
