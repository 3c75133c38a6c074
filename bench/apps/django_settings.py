"""Minimal Django settings for the benchmark's template view."""
import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = "mod_wsgi_rs-bench-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
DATABASES = {}
INSTALLED_APPS = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "django_urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(BASE_DIR, "templates")],
        "APP_DIRS": False,
        "OPTIONS": {},
    }
]
USE_TZ = True
USE_I18N = False
LOGGING_CONFIG = None
