"""Settings for the minimal Django example (Django 3.2, Debian's python3-django).

No database is needed: DATABASES is empty and sessions are stored in signed
cookies.  Set DJANGO_SECRET_KEY in the environment for anything but a demo.
"""

import os

SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "mod_wsgi_rs-example-not-secret-change-me"
)
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = []

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

DATABASES = {}
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# Log errors (with tracebacks) to stderr; under mod_wsgi_rs that is the Apache error log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
