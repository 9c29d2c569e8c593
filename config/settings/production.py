"""Production: everything from the environment, nothing embedded, Django's deploy checklist clean."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES.update(
    replica_databases(env.list("DATABASE_REPLICA_URL", default=[]), primary=DATABASES["default"])  # noqa: F405
)
DATABASE_REPLICAS = [alias for alias in DATABASES if alias.startswith("replica_")]
REDIS_URL = env.str("REDIS_URL")
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = channel_layer_hosts(REDIS_URL)  # noqa: F405
CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Never from the app in production: the hashed names of the manifest storage exist only in STATIC_ROOT, which
# nginx serves.
SERVE_STATIC = False
# HSTS preload is a one-way commitment a site makes deliberately (SECURE_HSTS_PRELOAD=true); not by default.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
