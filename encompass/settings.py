"""Django settings for Encompass.

Twelve-factor: everything that differs between deployments comes from the environment.

* Embedded default (nothing set): SQLite under ``var/``, in-memory channel layer, django-q2 ORM
  broker, and a secret key / key-encryption key generated once into ``var/`` (never a guessable
  value). This is what ``make run`` uses.
* Production (``ENCOMPASS_ENV=production``): ``SECRET_KEY``, ``ALLOWED_HOSTS``,
  ``DATABASE_URL``, ``REDIS_URL`` and ``ENCOMPASS_KEY_ENCRYPTION_KEY`` are required; start-up
  fails loudly without them.

See docs/settings.md for every variable.
"""

import base64
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ENCOMPASS_VAR_DIR", BASE_DIR / "var"))

ENV = os.environ.get("ENCOMPASS_ENV", "development").lower()
if ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured("ENCOMPASS_ENV must be one of development, production, test")
PRODUCTION = ENV == "production"


def _env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _required(name):
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when ENCOMPASS_ENV=production")
    return value


def _local_secret(filename, factory):
    """Read a generated secret from var/, creating it (mode 0600) on first use."""
    path = VAR_DIR / filename
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = factory()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


if PRODUCTION:
    SECRET_KEY = _required("SECRET_KEY")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 50 random characters")
    ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when ENCOMPASS_ENV=production")
    DATABASE_URL = _required("DATABASE_URL")
    REDIS_URL = _required("REDIS_URL")
    KEY_ENCRYPTION_KEY = _required("ENCOMPASS_KEY_ENCRYPTION_KEY")
    DEBUG = False
else:
    SECRET_KEY = os.environ.get("SECRET_KEY") or _local_secret(
        "secret_key", lambda: secrets.token_urlsafe(64)
    )
    ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
    DATABASE_URL = os.environ.get("DATABASE_URL", "")
    REDIS_URL = os.environ.get("REDIS_URL", "")
    KEY_ENCRYPTION_KEY = os.environ.get("ENCOMPASS_KEY_ENCRYPTION_KEY") or _local_secret(
        "key_encryption_key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    DEBUG = _env_bool("DEBUG", ENV == "development")

try:
    if len(base64.urlsafe_b64decode(KEY_ENCRYPTION_KEY.encode())) != 32:
        raise ValueError
except ValueError as exc:
    raise ImproperlyConfigured(
        "ENCOMPASS_KEY_ENCRYPTION_KEY must be 32 random bytes, url-safe base64 encoded"
    ) from exc

INSTALLED_APPS = [
    "daphne",
    "encompass.web.admin_site.EncompassAdminConfig",  # django.contrib.admin, tenant-aware site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_q",
    "channels",
    # Encompass: the foundation first, then the domain apps (seed_demo runs them in this order).
    "encompass.tenancy",
    "encompass.audit",
    "encompass.events",
    "encompass.api",
    "encompass.web",
    "devices",
    "devices.identity",
    "devices.firmware",
    "devices.monitoring",
    "incidents",
    "compliance.risk",
    "compliance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "encompass.audit.middleware.RequestContextMiddleware",
    "encompass.tenancy.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "encompass.api.middleware.QueryStringHygieneMiddleware",
]

ROOT_URLCONF = "encompass.urls"
ASGI_APPLICATION = "encompass.asgi.application"

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
                "encompass.web.context_processors.shell",
            ],
        },
    },
]

if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "encompass.sqlite3",
            "OPTIONS": {
                # WAL lets the web process, the worker and the simulator share the file.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": os.environ.get("ENCOMPASS_CHANNEL_PREFIX", "encompass"),
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The web process tails the Event table and pushes what it has not pushed when no shared channel
# layer carries events from other processes (the embedded default). See DESIGN.md "Realtime".
EVENT_TAIL_ENABLED = _env_bool("ENCOMPASS_EVENT_TAIL", not REDIS_URL)

Q_CLUSTER = {
    "name": "encompass",
    "workers": int(os.environ.get("ENCOMPASS_Q_WORKERS", "2")),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 3,
    "queue_limit": 100,
    "catch_up": False,
    "label": "Background jobs",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous access is never granted
GUARDIAN_USER_OBJ_PERMS_MODEL = "guardian.UserObjectPermission"
GUARDIAN_GROUP_OBJ_PERMS_MODEL = "guardian.GroupObjectPermission"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(os.environ.get("ENCOMPASS_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("ENCOMPASS_MAX_REQUEST_BYTES", 5 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "encompass.api.authentication.ApiKeyAuthentication",
        "encompass.api.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["encompass.api.permissions.IsMember"],
    "DEFAULT_PARSER_CLASSES": [
        "encompass.api.parsers.JSONParser",
        "encompass.api.parsers.FormParser",
        "encompass.api.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "encompass.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "encompass.api.filters.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "encompass.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "encompass.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth_failure": os.environ.get("ENCOMPASS_AUTH_FAILURE_RATE", "20/min"),
        "device": os.environ.get("ENCOMPASS_DEVICE_RATE", "600/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Encompass API",
    "DESCRIPTION": "Staff and integration API (/api/v1/) and device API (/api/device/v1/).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # `check --deploy` is about the deployment's security settings; schema-generation warnings
    # (enum naming) belong to `manage.py spectacular --validate` (docs/api.md).
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}
OTP_TOTP_ISSUER = "Encompass"

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "encompass@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Encompass-specific settings (docs/settings.md).
ENCOMPASS = {
    # Proxy addresses trusted to forward the client certificate of a device (mTLS at the proxy).
    "TRUSTED_PROXIES": _env_list("ENCOMPASS_TRUSTED_PROXIES", "127.0.0.1,::1"),
    "CLIENT_CERT_HEADER": os.environ.get("ENCOMPASS_CLIENT_CERT_HEADER", "X-Client-Cert"),
    "API_KEY_MAX_DAYS": int(os.environ.get("ENCOMPASS_API_KEY_MAX_DAYS", "365")),
    "INGEST_MAX_BATCH": int(os.environ.get("ENCOMPASS_INGEST_MAX_BATCH", "1000")),
    "WEBSOCKET_QUEUE_SIZE": int(os.environ.get("ENCOMPASS_WS_QUEUE", "500")),
    "REPLAY_LIMIT": int(os.environ.get("ENCOMPASS_REPLAY_LIMIT", "1000")),
    # Roles that must sign in with a second factor (TOTP) in the admin and the web UI.
    "MFA_REQUIRED_ROLES": ["admin", "security_officer"],
    "PUBLIC_BASE_URL": os.environ.get("ENCOMPASS_PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", True)
    CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS")
