"""sceneweb settings: everything comes from the environment, with typed, safe defaults.

The table in docs/settings.md lists every variable read here (a test keeps it honest).
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from sceneweb.env import env_bool, env_choice, env_float, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    # A fresh checkout must serve without ceremony. No login or session data depends on the
    # key, so a random per-start key is safe; production sets DJANGO_SECRET_KEY anyway.
    SECRET_KEY = get_random_secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",  # django-plotly-dash reads request.user (never evaluated: no logins here)
    "django.contrib.staticfiles",
    "django_plotly_dash.apps.DjangoPlotlyDashConfig",
    "classifier.apps.ClassifierConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files, before anything that could refuse them
    "classifier.requestid.RequestId",  # every answer and log line below knows the request's id
    "classifier.metrics.RequestMetrics",  # every answer counted, refusals of the middleware below included
    "classifier.middleware.RequestSizeLimit",  # 413 before an oversized body is read
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "classifier.middleware.PanelFramesSameOrigin",  # the Dash panel's iframe, and nothing else, may be framed
    "classifier.middleware.ContentSecurityPolicy",
    "django_plotly_dash.middleware.BaseMiddleware",  # puts the panel's scripts into the page
    "classifier.middleware.StaticFilesNotCollected",  # no DEBUG, no collectstatic: a 503 naming the step, not a 500
]

ROOT_URLCONF = "sceneweb.urls"
WSGI_APPLICATION = "sceneweb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# SQLite by default: check out, run, it works (django-plotly-dash keeps its few tables there).
# DATABASE_URL switches to PostgreSQL (install psycopg for that).
DATABASES = {"default": dj_database_url.config(env="DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
# /api/docs runs the Swagger UI that django-ninja ships, from our own static files (no CDN).
SWAGGER_UI_DIR = Path(find_spec("ninja").origin).parent / "static" / "ninja"
STATICFILES_DIRS = [BASE_DIR / "static", ("ninja", SWAGGER_UI_DIR)]
STATIC_ROOT = BASE_DIR / "staticfiles"
# `collectstatic` writes hashed, compressed copies; whitenoise serves them with far-future,
# immutable caching (unhashed names for 60 s). The test suite reads the source folders instead
# (tests/conftest.py); DEBUG serves them from there too.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "django_plotly_dash.finders.DashAssetFinder",
    "django_plotly_dash.finders.DashComponentFinder",
    "django_plotly_dash.finders.DashAppDirectoryFinder",
]

# The Dash panel: its scripts come from our own static files (no CDN: the page works offline).
PLOTLY_DASH = {"serve_locally": True}
# django-plotly-dash keeps a small dict in the session on every panel update; a signed cookie
# holds it without a database write per click.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True

# -- sceneweb -------------------------------------------------------------------------------
SCENEWEB_MODELS_DIR = env_path("SCENEWEB_MODELS_DIR", Path("models"), base=BASE_DIR)
SCENEWEB_SAMPLES_DIR = env_path("SCENEWEB_SAMPLES_DIR", Path("models/samples"), base=BASE_DIR)
SCENEWEB_SCENE_MODEL = env_str("SCENEWEB_SCENE_MODEL", "resnet18")  # checked against the registry in apps.py
SCENEWEB_ATTRIBUTES_SOURCE = env_str("SCENEWEB_ATTRIBUTES_SOURCE", "auto")  # trained head if installed, else matrix
SCENEWEB_MODELS_MIRROR = env_str("SCENEWEB_MODELS_MIRROR", "")  # fetch_models tries BASE/filename first
SCENEWEB_CUSTOM_MODELS = env_list("SCENEWEB_CUSTOM_MODELS", [])  # finetune checkpoints, relative to the models dir
SCENEWEB_MAX_UPLOAD_MB = env_int("SCENEWEB_MAX_UPLOAD_MB", 10, minimum=1)
SCENEWEB_MAX_PIXELS = env_int("SCENEWEB_MAX_PIXELS", 50_000_000, minimum=1)
# Every decode runs in a child process killed past this deadline and capped at this memory (issue 18).
SCENEWEB_DECODE_TIMEOUT = env_float("SCENEWEB_DECODE_TIMEOUT", 5.0, minimum=0.1)
SCENEWEB_DECODE_MEMORY_MB = env_int("SCENEWEB_DECODE_MEMORY_MB", 1024, minimum=64)
SCENEWEB_TOP_K = env_int("SCENEWEB_TOP_K", 5, minimum=1)
SCENEWEB_PAGE_MAX_PHOTOS = env_int("SCENEWEB_PAGE_MAX_PHOTOS", 6, minimum=1)  # photos the page takes at once
# Photos one /api/analyze call may carry (repeated `image` fields or JSON `images`); together they
# stay within SCENEWEB_MAX_REQUEST_BYTES, and each takes a slot of the rate limit.
SCENEWEB_MAX_IMAGES_PER_REQUEST = env_int("SCENEWEB_MAX_IMAGES_PER_REQUEST", 8, minimum=1)
SCENEWEB_ALLOW_PRIVATE_URLS = env_bool("SCENEWEB_ALLOW_PRIVATE_URLS", False)  # test-only; check --deploy warns
SCENEWEB_FETCH_CONNECT_TIMEOUT = env_float("SCENEWEB_FETCH_CONNECT_TIMEOUT", 5.0, minimum=0.1)
SCENEWEB_FETCH_TIMEOUT = env_float("SCENEWEB_FETCH_TIMEOUT", 15.0, minimum=0.1)
SCENEWEB_RATE_LIMIT = env_int("SCENEWEB_RATE_LIMIT", 30, minimum=0)  # analyses per client per minute; 0 = off
# API keys (classifier/apikeys.py): when either is set, /api/analyze needs `Authorization: Bearer <key>`
# and each key has its own rate limit. Both hold SHA-256 hashes only: `name:hash,...`, or a file
# of `name hash` lines that `manage.py api_keys` writes.
SCENEWEB_API_KEYS = env_list("SCENEWEB_API_KEYS", [])
SCENEWEB_API_KEYS_FILE = env_str("SCENEWEB_API_KEYS_FILE", "")
# /metrics (Prometheus): only from these addresses or CIDRs (the client address, as the rate limit
# reads it), or with `Authorization: Bearer <SCENEWEB_METRICS_TOKEN>`; to anyone else it is a 404.
# None by default: behind a proxy that is not in SCENEWEB_TRUSTED_PROXIES every visitor would be 127.0.0.1.
SCENEWEB_METRICS_ALLOWED = env_list("SCENEWEB_METRICS_ALLOWED", [])
SCENEWEB_METRICS_TOKEN = env_str("SCENEWEB_METRICS_TOKEN", "")
# Without the shared cache (Redis down, disk full) no slot can be counted: "open" keeps analysing
# (a cache outage must not take the API down; workers x threads still bound the load), "closed"
# answers 503 until the cache is back (for a service where abuse costs more than an outage).
SCENEWEB_RATE_LIMIT_ON_CACHE_ERROR = env_choice("SCENEWEB_RATE_LIMIT_ON_CACHE_ERROR", "open", ("open", "closed"))
SCENEWEB_HEALTH_DETAILS = env_bool("SCENEWEB_HEALTH_DETAILS", False)  # versions and uptime in /api/health
# auto: bf16 where the CPU runs it natively, else fp32 (docs/speed.md); checked by engine.acceleration at load
SCENEWEB_INFERENCE_MODE = env_str("SCENEWEB_INFERENCE_MODE", "auto")
# The openvino and onnx modes' converted networks, made once (fetch_models or the first start) and read back;
# empty: SCENEWEB_MODELS_DIR/converted (classifier.runtime.inference_cache_dir).
SCENEWEB_INFERENCE_CACHE_DIR = env_str("SCENEWEB_INFERENCE_CACHE_DIR", "")
SCENEWEB_DEVICE = env_str("SCENEWEB_DEVICE", "auto")  # auto (the GPU when PyTorch sees one), cpu or cuda
SCENEWEB_TORCH_THREADS = env_int("SCENEWEB_TORCH_THREADS", 0, minimum=0)  # 0 = PyTorch's default, one per core
# Off: on a quiet CPU one network after the other on all cores is faster (bench/analyze.py);
# sceneweb/gunicorn.py turns it on where each worker's share is a single PyTorch thread.
SCENEWEB_PARALLEL_MODELS = env_bool("SCENEWEB_PARALLEL_MODELS", False)

# -- security (docs/security.md) --------------------------------------------------------------
# Production runs behind a TLS-terminating proxy; these switches are off by default so that
# `runserver` over plain http works, and docs/security.md lists the values `check --deploy` wants.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    # Only behind a proxy that sets this header itself: a client could otherwise claim https.
    # (Whose X-Forwarded-For is believed is SCENEWEB_TRUSTED_PROXIES, below.)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Proxies whose X-Forwarded-For is believed (addresses or CIDRs); from anyone else the header is
# ignored and the client is the connecting address (classifier.clients.client_address).
SCENEWEB_TRUSTED_PROXIES = env_list("SCENEWEB_TRUSTED_PROXIES", [])
SECURE_CONTENT_TYPE_NOSNIFF = True
# Dash's renderer sends the cookie `_csrf_token` back as X-CSRFToken: under that name Django's own
# CSRF check covers the panel's update endpoint (classifier/urls.py) with no change to the renderer.
CSRF_COOKIE_NAME = "_csrf_token"
CSRF_FAILURE_VIEW = "classifier.views.csrf_failure"
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"  # but SAMEORIGIN for the Dash panel's iframe (classifier.middleware.PanelFramesSameOrigin)
# Bodies larger than an image of the upload limit can come in get a 413 before Django reads them
# (classifier.middleware.RequestSizeLimit): the panel sends photos base64-encoded (4/3 larger),
# plus room for the multipart or JSON envelope. Uploads stay in memory: every body that passes the
# limit is read into memory (never a temporary file, whose full disk would be a 500), and a file over
# SCENEWEB_MAX_UPLOAD_MB is then refused with a 413 by the image checks.
DATA_UPLOAD_MAX_MEMORY_SIZE = SCENEWEB_MAX_REQUEST_BYTES = SCENEWEB_MAX_UPLOAD_MB * 2**20 * 4 // 3 + 64 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = SCENEWEB_MAX_REQUEST_BYTES
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]

# Rate-limit counters and the panel's analyses must be seen by every worker: Redis when a URL is
# given, otherwise a SQLite-backed cache on local disk (diskcache: atomic increments across processes).
# What they may hold: a panel result (~65 KB: the analysis and a 512-pixel JPEG) is kept this long;
# the disk cache is bounded by size, Redis by its own `maxmemory` (docs/serving.md, "Shared cache").
SCENEWEB_PANEL_RESULT_TTL = env_int("SCENEWEB_PANEL_RESULT_TTL", 3600, minimum=60)
SCENEWEB_CACHE_MAX_MB = env_int("SCENEWEB_CACHE_MAX_MB", 256, minimum=1)
CACHE_URL = env_str("SCENEWEB_CACHE_URL", "") or env_str("REDIS_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # An unreachable Redis costs a request one second, not the operating system's minutes.
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "diskcache.DjangoCache",
            "LOCATION": str(env_path("SCENEWEB_CACHE_DIR", Path("cache"), base=BASE_DIR)),
            # Past this size the least recently stored entries are culled (panel results, ~65 KB each).
            "OPTIONS": {"size_limit": SCENEWEB_CACHE_MAX_MB * 2**20},
            # SQLite's lock wait: diskcache's default (10 ms) turns a busy moment into a cache miss.
            "DATABASE_TIMEOUT": 1.0,
        }
    }

# Every line carries the id of the request it was written for (classifier.requestid);
# SCENEWEB_LOG_FORMAT=json writes one JSON object per line instead of plain text.
LOG_FORMAT = env_str("SCENEWEB_LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"SCENEWEB_LOG_FORMAT={LOG_FORMAT!r}: use plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "classifier.requestid.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s"},
        "json": {"()": "classifier.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "loggers": {
        "sceneweb": {"handlers": ["console"], "level": env_str("SCENEWEB_LOG_LEVEL", "INFO")},
        # Django prints server errors (with the traceback) only in DEBUG by default; a production
        # server's log (journald, docker logs) must show them too.
        "django": {"handlers": ["console"], "level": "WARNING"},
        # Django logs each refused request (a wrong Host, too many fields) at ERROR with a traceback;
        # classifier.views.bad_request logs it as one `refused` line instead: a client's mistake.
        "django.security": {"level": "CRITICAL"},
    },
}
