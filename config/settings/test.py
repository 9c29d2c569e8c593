"""Test suite: the servers named by DATABASE_URL / REDIS_URL, else private embedded ones."""

from config.embedded import use_embedded_defaults

use_embedded_defaults(profile="test")

from .base import *  # noqa: E402, F403

DEBUG = False
SECRET_KEY = "millwright-tests-not-secret"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
