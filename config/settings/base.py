"""Settings shared by every environment. All configuration comes from the environment (django-environ).

Where DATABASE_URL or REDIS_URL is unset, `devtools.embedded` provides private servers (see local.py and test.py);
production requires both.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

from common.redis import (
    CONNECT_TIMEOUT_SECONDS,
    SOCKET_TIMEOUT_SECONDS,
    channel_layer_host,
    channel_layer_sentinel_host,
)
from historian.device_fields import STATUS_FIELDS as DEVICE_STATUS_FIELDS

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A developer's optional .env file; the real environment always wins.
env.read_env(BASE_DIR / ".env", overwrite=False)

# Where embedded servers keep their data and where the demo keeps its state. Git-ignored.
MILLWRIGHT_STATE_DIR = Path(env.str("MILLWRIGHT_STATE_DIR", default=str(BASE_DIR / ".millwright")))

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "auditlog",
    "historian",
    "ingest",
    "dashboards",
    "alarms",
    "production",
    "automation",
    "maintenance",
    "inventory",
    "accounts",
    "audit",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "demo",
]

MIDDLEWARE = [
    "operations.middleware.ProbeMiddleware",  # first: probes skip the host check and the HTTPS redirect
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the cookie or Accept-Language; a signed-in user's own choice and time zone are activated
    # after authentication (accounts.middleware.UserLocaleMiddleware).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserLocaleMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one user name from one address,
# that pair is locked for AXES_COOLOFF_MINUTES (HTTP 429 and a page saying so). By user *and* address, because
# plant-floor terminals are shared: a typo-prone operator at one panel does not lock the account everywhere, and
# a guesser at one address cannot lock everybody out. An administrator unlocks early in admin (Access attempts:
# delete the row); lockouts and unlocks are in the audit trail.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Directory sign-in (LDAP / Active Directory, accounts/services/directory.py), off unless LDAP_URL is set. Local
# accounts keep working beside it (break-glass). Roles come from directory groups: LDAP_ROLE_GROUPS maps a group's
# name to a role, e.g. "mw-operators=Operator,mw-engineers=Engineer,mw-admins=Administrator".
LDAP_URL = env.str("LDAP_URL", default="")
if LDAP_URL:
    AUTHENTICATION_BACKENDS.insert(1, "django_python3_ldap.auth.LDAPBackend")
LDAP_AUTH_URL = [LDAP_URL]
LDAP_AUTH_USE_TLS = env.bool("LDAP_START_TLS", default=False)
LDAP_AUTH_SEARCH_BASE = env.str("LDAP_USER_BASE", default="")
LDAP_AUTH_OBJECT_CLASS = env.str("LDAP_USER_OBJECT_CLASS", default="inetOrgPerson")
LDAP_AUTH_USER_FIELDS = {
    "username": env.str("LDAP_USERNAME_ATTRIBUTE", default="uid"),
    "first_name": "givenName",
    "last_name": "sn",
    "email": "mail",
}
LDAP_AUTH_ACTIVE_DIRECTORY_DOMAIN = env.str("LDAP_AD_DOMAIN", default="") or None
LDAP_AUTH_FORMAT_USERNAME = (
    "django_python3_ldap.utils.format_username_active_directory"
    if LDAP_AUTH_ACTIVE_DIRECTORY_DOMAIN
    else "django_python3_ldap.utils.format_username_openldap"
)
LDAP_AUTH_CONNECT_TIMEOUT = 5
# One pass over the servers, then give up (True, the library's default, retries forever: a directory outage would
# hang every sign-in, break-glass local accounts included).
LDAP_AUTH_POOL_ACTIVE = 1
LDAP_AUTH_RECEIVE_TIMEOUT = 10
LDAP_AUTH_CLEAN_USER_DATA = "accounts.services.directory.directory_user_clean"
LDAP_AUTH_SYNC_USER_RELATIONS = "accounts.services.directory.directory_user_sync"
LDAP_GROUP_BASE = env.str("LDAP_GROUP_BASE", default="")
LDAP_ROLE_GROUPS = env.dict("LDAP_ROLE_GROUPS", default={})
# Enterprise sign-in through OpenID Connect (accounts/services/oidc.py), off unless OIDC_CLIENT_ID is set: a "Sign in
# with <OIDC_PROVIDER_NAME>" button on the login page. Register Millwright at the provider as a confidential web
# client with the redirect URI https://<millwright>/oidc/callback/, and copy the provider's endpoints (its
# /.well-known/openid-configuration lists them). Roles come from the groups claim through OIDC_ROLE_GROUPS, as for LDAP.
OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="your company account")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_USERINFO_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_SIGN_ALGORITHM", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_SCOPES", default="openid email profile groups")
OIDC_USERNAME_CLAIM = env.str("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_ROLE_GROUPS = env.dict("OIDC_ROLE_GROUPS", default={})
OIDC_USE_PKCE = True
OIDC_TOKEN_USE_BASIC_AUTH = env.bool("OIDC_TOKEN_USE_BASIC_AUTH", default=True)
OIDC_TIMEOUT = 10
LOGIN_REDIRECT_URL_FAILURE = "/login/?sign_in=failed"
if OIDC_RP_CLIENT_ID:
    AUTHENTICATION_BACKENDS.insert(1, "accounts.services.oidc.OidcBackend")
# Asset inventory (inventory/): polled devices are asked what they are (Modbus FC 43/14, OPC UA BuildInfo) at the
# first poll and then every INVENTORY_IDENTIFY_SECONDS, so a swapped PLC or new firmware shows within that time.
INVENTORY_IDENTIFY_SECONDS = env.float("INVENTORY_IDENTIFY_SECONDS", default=600.0)
# Communication baseline of polled devices (ingest/acquisition/communication.py): response times are learned from
# the first COMMUNICATION_LEARN_POLLS polls on, a device that stays far outside (and at least
# COMMUNICATION_MIN_CHANGE_MS away) for COMMUNICATION_SUSTAIN_SECONDS is reported; the figures are saved on the
# asset every COMMUNICATION_SAVE_SECONDS.
COMMUNICATION_LEARN_POLLS = env.int("COMMUNICATION_LEARN_POLLS", default=300)
COMMUNICATION_SUSTAIN_SECONDS = env.float("COMMUNICATION_SUSTAIN_SECONDS", default=300.0)
COMMUNICATION_MIN_CHANGE_MS = env.float("COMMUNICATION_MIN_CHANGE_MS", default=50.0)
COMMUNICATION_SAVE_SECONDS = env.float("COMMUNICATION_SAVE_SECONDS", default=300.0)
# Predictive maintenance (maintenance/services/scoring.py): each machine's health is scored at most every
# MAINTENANCE_SCORE_SECONDS from the values stored meanwhile, and a model waiting for its first fit (or its refit
# after maintenance) tries every MAINTENANCE_FIT_RETRY_SECONDS.
MAINTENANCE_SCORE_SECONDS = env.float("MAINTENANCE_SCORE_SECONDS", default=5.0)
MAINTENANCE_FIT_RETRY_SECONDS = env.float("MAINTENANCE_FIT_RETRY_SECONDS", default=30.0)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

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
                "alarms.context_processors.alarm_banner",
                "dashboards.context_processors.quarantine_banner",
                "accounts.context_processors.theme",
                "accounts.context_processors.locale",
            ],
        },
    },
]

DATABASES = {"default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/millwright")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A database link cut without a reset (a pulled cable, a firewall dropping packets) must fail a write, not hang it
# (the server's statement timeout cannot fire then): libpq gives up on a connection whose sent data stays
# unacknowledged this long, and probes idle ones; a poll then buffers its values (ingest.pipeline.buffer).
DATABASE_TCP_USER_TIMEOUT_MS = env.int("DATABASE_TCP_USER_TIMEOUT_MS", default=10_000)
DATABASES["default"].setdefault("OPTIONS", {}).update(
    connect_timeout=env.int("DATABASE_CONNECT_TIMEOUT", default=10),
    tcp_user_timeout=DATABASE_TCP_USER_TIMEOUT_MS,
    keepalives=1,
    keepalives_idle=10,
    keepalives_interval=5,
    keepalives_count=3,
)


# Read replicas (common/replicas.py): streaming replicas of the primary, comma-separated URLs; the read-heavy paths
# (trends, API history, exports) read from one that answers and lags at most DATABASE_REPLICA_MAX_LAG seconds, else
# from the primary. Checked at most every DATABASE_REPLICA_CHECK_SECONDS per process.
def replica_databases(urls: list[str], *, primary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One database alias per replica URL: replica_0, replica_1, ... (common/replicas.py reads them), with the
    primary's connection age and libpq timeouts."""
    databases = {}
    for index, url in enumerate(urls):
        config = env.db_url_config(url)
        config |= {"CONN_MAX_AGE": primary["CONN_MAX_AGE"], "CONN_HEALTH_CHECKS": True, "TEST": {"MIRROR": "default"}}
        config["OPTIONS"] = {**primary.get("OPTIONS", {}), **config.get("OPTIONS", {})}
        databases[f"replica_{index}"] = config  # MIRROR: under test, the replica is the test database's server
    return databases


DATABASES.update(replica_databases(env.list("DATABASE_REPLICA_URL", default=[]), primary=DATABASES["default"]))
DATABASE_REPLICAS = [alias for alias in DATABASES if alias.startswith("replica_")]
DATABASE_ROUTERS = ["common.replicas.ReplicaRouter"]
DATABASE_REPLICA_MAX_LAG = env.float("DATABASE_REPLICA_MAX_LAG", default=10.0)
DATABASE_REPLICA_CHECK_SECONDS = env.float("DATABASE_REPLICA_CHECK_SECONDS", default=5.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")


def channel_layer_hosts(redis_url: str) -> list[dict[str, Any]]:
    """The channel layer's Redis (deploy/README.md, "Several web processes"): Redis Sentinel when
    CHANNEL_LAYER_SENTINELS names sentinels (host:port, ...; the master CHANNEL_LAYER_SENTINEL_MASTER), else the
    servers of CHANNEL_LAYER_REDIS_URLS, over which channels_redis shards groups and channels (every process must
    list the same servers in the same order), else REDIS_URL."""
    sentinels = env.list("CHANNEL_LAYER_SENTINELS", default=[])
    if sentinels:
        master = env.str("CHANNEL_LAYER_SENTINEL_MASTER", default="millwright")
        return [channel_layer_sentinel_host(sentinels, master)]
    return [channel_layer_host(url) for url in env.list("CHANNEL_LAYER_REDIS_URLS", default=[redis_url])]


CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "common.channel_layer.RedisChannelLayer",
        "CONFIG": {"hosts": channel_layer_hosts(REDIS_URL), "capacity": 1000, "expiry": 10},
    }
}

# The cache holds the version tokens (common/version_token.py): short commands, so the plain clients' timeouts; a
# Redis that drops packets costs one timeout per read window instead of stalling a poll (its callers fall back).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_timeout": SOCKET_TIMEOUT_SECONDS, "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS},
    }
}

# Celery: Redis as broker; results are not kept (tasks report through the database).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# One queue per installation by default; tests and benchmarks give each worker they start its own.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboards:plant_overview"
LOGOUT_REDIRECT_URL = "login"

# Languages: English, and German complete (locale/de/LC_MESSAGES: django.po for the server, djangojs.po for the
# pages' scripts, served by /jsi18n/). The compiled .mo files are committed, so no gettext tool is needed to run;
# after editing a .po: `python manage.py compilemessages` (needs GNU gettext), and tests/test_i18n.py checks
# that each .mo matches its .po. A signed-in user's choice wins, else the browser's Accept-Language.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English dates in ISO order (config/formats/en); German ones Django's. Templates show instants with
# `{{ instant|when }}` (accounts/templatetags/local_time.py): the page's zone, its abbreviation beside them.
FORMAT_MODULE_PATH = ["config.formats"]
# The server's default zone; pages show times in the plant's zone (the sites' Site.timezone, when they agree) or,
# on request, the user's own (accounts.UserPreference.time_zone).
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# The demo and the tests serve static files from the finders through the ASGI app (Django's static handler).
# Production never does: nginx serves STATIC_ROOT after collectstatic (see deploy/).
SERVE_STATIC = env.bool("SERVE_STATIC", default=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

# Outgoing mail (alarm notifications): e.g. smtp+tls://user:password@mail.plant.example:587
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="millwright@localhost")

X_FRAME_OPTIONS = "DENY"
# Security headers: Django's SecurityMiddleware sends X-Content-Type-Options: nosniff and Referrer-Policy (set here
# explicitly, as the security probe expects them); config/middleware.py sends the Content-Security-Policy below.
# Scripts only from our own files (no inline script: pages pass data through json_script); styles may be inline
# because Plotly and the admin set style attributes; frames denied twice (X-Frame-Options, frame-ancestors).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:", "blob:"],
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "worker-src": ["'self'", "blob:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
SESSION_COOKIE_HTTPONLY = True
# A wall screen's session (the Wall screen role, accounts/services/sessions.py) lasts this long from its sign-in,
# not SESSION_COOKIE_AGE: a screen in the control room nobody touches must not fall back to the login page.
WALL_SCREEN_SESSION_DAYS = env.float("WALL_SCREEN_SESSION_DAYS", default=365.0)

# Operations (issue 16; operations/). /metrics: for `Authorization: Bearer <METRICS_TOKEN>` (unset: no token
# works) or straight from METRICS_ALLOWED_IPS (addresses or networks; loopback by default; a request relayed by a
# proxy counts by its token only). /readyz: READYZ_REQUIRE_ACQUISITION=false keeps a web process ready while no
# acquisition worker is alive (still reported). LOG_JSON=true: one JSON object per log line.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1/32", "::1/128"])
READYZ_REQUIRE_ACQUISITION = env.bool("READYZ_REQUIRE_ACQUISITION", default=True)
LOG_JSON = env.bool("LOG_JSON", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "operations.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_JSON else "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"pymodbus": {"level": "CRITICAL"}, "axes": {"level": "WARNING"}},
}

# Audit trail: configuration models whose changes django-auditlog records with before/after. A device's connection
# status is written by every poll and is no configuration; its password is masked.
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    "historian.Site",
    "historian.Area",
    "historian.Line",
    "historian.Machine",
    {
        "model": "historian.Device",
        "exclude_fields": list(DEVICE_STATUS_FIELDS),
        "mask_fields": ["password"],
    },
    "historian.ScanClass",
    "historian.Tag",
    "historian.WritePolicy",
    "historian.OperateArea",
    # An API token's write scope (given in admin) and its revocation; never its digest.
    {"model": "api.ApiToken", "include_fields": ["can_write", "revoked_at"]},
    {"model": "alarms.AlarmDefinition", "exclude_fields": ["updated_at"]},
    {"model": "alarms.NotificationRoute", "mask_fields": ["secret"]},
    # Production's per-tag configuration, which the tag CSV writes too (production/tag_csv.py).
    "production.MachineProduction",
    "production.StateMapping",
    "production.FaultCode",
    # Maintenance: what a machine's health is computed from, and who works on requests where (the fits and the
    # requests' changes are audit events of their own: maintenance/services/).
    {"model": "maintenance.HealthModel", "exclude_fields": ["alerted_at"], "m2m_fields": ["signals"]},
    "maintenance.MaintenanceArea",
    # People, roles and permissions. A password change is its own audit event ("changed", never a hash:
    # audit/receivers.py); the login time is no configuration.
    {"model": "auth.User", "exclude_fields": ["password", "last_login"], "m2m_fields": ["groups", "user_permissions"]},
    {"model": "auth.Group", "m2m_fields": ["permissions"]},
    # Sign-in lockouts: an administrator's unlock is the deletion of the row.
    "axes.AccessAttempt",
)
# django-auditlog's default, written here so that the tag CSV import, which writes auditlog rows by hand
# (historian/services/tag_csv/audit.py), reads a setting the type checker knows.
AUDITLOG_STORE_JSON_CHANGES = False
# Apps that add columns to the tag CSV (historian/services/tag_csv/extensions.py): alarm definitions, production inputs.
HISTORIAN_TAG_CSV_EXTENSIONS = ["alarms.tag_csv.AlarmDefinitionsCsv", "production.tag_csv.ProductionCsv"]

# Historian
HISTORIAN_PARTITION_DAYS_AHEAD = env.int("HISTORIAN_PARTITION_DAYS_AHEAD", default=7)

# Ingest
INGEST_BACKOFF_MAX_SECONDS = env.float("INGEST_BACKOFF_MAX_SECONDS", default=60.0)
# Store-and-forward: a write slower than this goes to the local buffer instead (so does a failed one).
INGEST_DB_WRITE_TIMEOUT_MS = env.int("INGEST_DB_WRITE_TIMEOUT_MS", default=5000)
INGEST_BUFFER_PATH = env.str("INGEST_BUFFER_PATH", default="")  # default: STATE_DIR/ingest/buffer-<host>.sqlite
INGEST_BUFFER_MAX_ROWS = env.int("INGEST_BUFFER_MAX_ROWS", default=5_000_000)
# The edge publisher's outbox (ingest.pipeline.edge_outbox); default: STATE_DIR/ingest/edge-outbox-<host>.sqlite
INGEST_EDGE_OUTBOX_PATH = env.str("INGEST_EDGE_OUTBOX_PATH", default="")
INGEST_EDGE_OUTBOX_MAX_ROWS = env.int("INGEST_EDGE_OUTBOX_MAX_ROWS", default=5_000_000)
# This installation's id as a Sparkplug B primary host application: when set, run_sparkplug publishes its STATE
# (spBv1.0/STATE/<id>, retained, with an offline will) so that edge nodes publish only while it is online.
SPARKPLUG_HOST_ID = env.str("SPARKPLUG_HOST_ID", default="")
INGEST_REPLAY_BATCH_ROWS = env.int("INGEST_REPLAY_BATCH_ROWS", default=5000)
# Each worker and push runner replays its own host's buffer (ingest/acquisition/replay.py): it looks every
# INGEST_REPLAY_INTERVAL_SECONDS and replays for at most INGEST_REPLAY_TASK_SECONDS per turn.
INGEST_REPLAY_TASK_SECONDS = env.float("INGEST_REPLAY_TASK_SECONDS", default=20.0)
INGEST_REPLAY_INTERVAL_SECONDS = env.float("INGEST_REPLAY_INTERVAL_SECONDS", default=5.0)
# A poller re-reads its configuration within a second of a change saved in admin or imported from a tag CSV (a
# version token); this often it also checks a digest of it, for changes made behind the application's back.
INGEST_TAG_CONFIG_SECONDS = env.float("INGEST_TAG_CONFIG_SECONDS", default=30.0)
# The poller in each `celery worker --acquisition` (ingest/acquisition/poller.py): threads that read devices at once,
# and how long a lease lasts (a dead worker's devices are taken over sooner, by heartbeat: below).
INGEST_POLLER_THREADS = env.int("INGEST_POLLER_THREADS", default=16)
INGEST_POLLER_LEASE_SECONDS = env.float("INGEST_POLLER_LEASE_SECONDS", default=15.0)
# A worker renews its heartbeat six times within this; a worker killed with -9 is known dead once it lapses, and
# its devices are taken over then (the gap is marked "no data: acquisition down").
INGEST_POLLER_HEARTBEAT_SECONDS = env.float("INGEST_POLLER_HEARTBEAT_SECONDS", default=3.0)
# Python's thread switch interval in a polling worker (default 5 ms): shorter keeps reads timely under load.
INGEST_POLLER_SWITCH_INTERVAL_MS = env.float("INGEST_POLLER_SWITCH_INTERVAL_MS", default=0.5)

# Alarms
ALARMS_MAX_SHELVE_MINUTES = env.int("ALARMS_MAX_SHELVE_MINUTES", default=720)
ALARMS_JOURNAL_KEEP_MONTHS = env.int("ALARMS_JOURNAL_KEEP_MONTHS", default=0)  # 0: keep the journal for ever
ALARMS_WEBHOOK_TIMEOUT_SECONDS = env.float("ALARMS_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Security alarm "burst of failed logins" (alarms/services/login_bursts.py): this many failures from one address,
# or for one user name, within the window raise it (django-axes locks a user name *and* address pair after
# AXES_FAILURE_LIMIT; this sees the spraying of many names from one address, or one name from many addresses).
SECURITY_FAILED_LOGIN_BURST_COUNT = env.int("SECURITY_FAILED_LOGIN_BURST_COUNT", default=10)
SECURITY_FAILED_LOGIN_BURST_WINDOW_SECONDS = env.float("SECURITY_FAILED_LOGIN_BURST_WINDOW_SECONDS", default=300.0)

# REST API (api/): per-user named tokens for scripts, the session for the browser; the OpenAPI schema at /api/schema/.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    # Rate limits (api/throttling.py), counted in the cache (Redis): over the limit is a 429 with Retry-After.
    # Per user for scripts and the browser; per address for requests without valid credentials (wrong tokens).
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.UserRateThrottle", "api.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="600/min"),
        "anon": env.str("API_THROTTLE_ANON", default="30/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Millwright API",
    "DESCRIPTION": "Plant hierarchy, tags, current values, history, alarms and device status. "
    "Authenticate with `Authorization: Bearer <token>` (tokens are created on the API tokens page) or the session.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["api.permissions.CanUseApi"],
    # Swagger UI and Redoc from the drf-spectacular-sidecar package: no CDN, plant networks have no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "dashboards.staticfiles.PlotlyFinder",
]
