"""sceneweb settings: everything comes from the environment, with typed, safe defaults.

The README's "Settings" table lists every variable read here (a test keeps it honest).
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.management.utils import get_random_secret_key

from sceneweb.env import env_bool, env_int, env_list, env_path, env_str

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
    "django.contrib.staticfiles",
    "classifier.apps.ClassifierConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True

# -- sceneweb -------------------------------------------------------------------------------
SCENEWEB_MODELS_DIR = env_path("SCENEWEB_MODELS_DIR", Path("models"), base=BASE_DIR)
SCENEWEB_SAMPLES_DIR = env_path("SCENEWEB_SAMPLES_DIR", Path("models/samples"), base=BASE_DIR)
SCENEWEB_SCENE_MODEL = env_str("SCENEWEB_SCENE_MODEL", "resnet18")
SCENEWEB_MAX_UPLOAD_MB = env_int("SCENEWEB_MAX_UPLOAD_MB", 10, minimum=1)
SCENEWEB_MAX_PIXELS = env_int("SCENEWEB_MAX_PIXELS", 50_000_000, minimum=1)
SCENEWEB_TOP_K = env_int("SCENEWEB_TOP_K", 5, minimum=1)
SCENEWEB_ALLOW_PRIVATE_URLS = env_bool("SCENEWEB_ALLOW_PRIVATE_URLS", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"sceneweb": {"handlers": ["console"], "level": env_str("SCENEWEB_LOG_LEVEL", "INFO")}},
}
