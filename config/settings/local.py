"""Developer machine and the demo plant: DEBUG on, embedded PostgreSQL/Redis where none is configured."""

from devtools.embedded import use_embedded_defaults

use_embedded_defaults(profile="demo")

from .base import *  # noqa: E402, F403
from .base import env  # noqa: E402

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="millwright-local-development-only-not-secret")

# Static files come from the finders (no collectstatic for the demo).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
