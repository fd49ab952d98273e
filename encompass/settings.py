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
import datetime
import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONCE as CSP_NONCE
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
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
    "axes",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "django_tables2",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "csp",
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
    "encompass.webhooks",
    "encompass.sso",
    "devices",
    "devices.identity",
    "devices.firmware",
    "devices.monitoring",
    "devices.mqtt",
    "incidents",
    "risk",
    "compliance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Ends SSO sessions the identity provider no longer vouches for (docs/sso.md).
    "encompass.sso.session.SsoSessionMiddleware",
    "encompass.tenancy.grants.GrantCacheMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "encompass.audit.middleware.RequestContextMiddleware",
    "encompass.tenancy.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "encompass.api.middleware.APIErrorBodyMiddleware",
    "encompass.api.middleware.QueryStringHygieneMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lockout answer.
    "axes.middleware.AxesMiddleware",
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
    # Health checks: a connection kept across a PostgreSQL restart is found dead and replaced
    # before the next request or job uses it (the django-q2 scheduler skipped a tick on one).
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
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

# django-q2 with the ORM broker everywhere (also beside Redis): a queued job is a row in the
# database, so it survives a Redis restart (Redis without persistence lost every queued job),
# and it is acknowledged -- deleted -- only after its result is saved; a worker killed mid-job
# leaves the row, which is handed out again after `retry` seconds (> `timeout`). Failures are
# acknowledged too (`ack_failures`): a job that raised is recorded as failed and not retried by
# the broker. Jobs interrupted `max_attempts` times (SIGKILL, OOM) are dead-lettered by
# encompass.jobs. See docs/reliability.md.
Q_CLUSTER = {
    "name": "encompass",
    "workers": int(os.environ.get("ENCOMPASS_Q_WORKERS", "2")),
    "timeout": int(os.environ.get("ENCOMPASS_Q_TIMEOUT", "300")),
    "retry": int(os.environ.get("ENCOMPASS_Q_RETRY", "360")),
    "max_attempts": 3,
    "ack_failures": True,
    "queue_limit": 100,
    "catch_up": False,
    "label": "Background jobs",
    "orm": "default",
    "poll": 0.5,
}

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
    # First: refuses sign-in while the username or the address is locked out (django-axes).
    "encompass.web.signin.SignInLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    # OpenID Connect per organization (mozilla-django-oidc; docs/sso.md).
    "encompass.sso.backend.OrganizationOIDCBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
# Sign-in brute-force protection (django-axes; docs/authentication.md). Failures are counted per
# username and per client address; either reaching the limit locks sign-in for the cool-off after
# the last counted failure. Attempts during a lockout do not extend it, and a success does not
# wipe the counts (it would let anyone with an account of their own reset an address's count).
AXES_FAILURE_LIMIT = int(os.environ.get("ENCOMPASS_SIGN_IN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = datetime.timedelta(
    minutes=int(os.environ.get("ENCOMPASS_SIGN_IN_COOLOFF_MINUTES", "15"))
)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "encompass.audit.middleware.client_ip"
AXES_LOCKOUT_CALLABLE = "encompass.web.signin.lockout_response"
AXES_RESET_ON_SUCCESS = False
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit trail already
AXES_ENABLE_ADMIN = False  # platform-wide rows (every tenant's usernames): not for tenant admins
AXES_VERBOSE = False
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
        # Password-reset requests, per client address and per email address typed.
        "password_reset": os.environ.get("ENCOMPASS_PASSWORD_RESET_RATE", "5/hour"),
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
    # hawkBit DDI: "download" and "update" share one handling enum.
    "ENUM_NAME_OVERRIDES": {"DDIHandlingEnum": "devices.firmware.ddi.serializers.HANDLING"},
    # `check --deploy` is about the deployment's security settings; schema-generation warnings
    # (enum naming) belong to `manage.py spectacular --validate` (docs/api.md).
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}
OTP_TOTP_ISSUER = "Encompass"

CACHES = {
    "default": (
        {
            # Fails open: while Redis is down, reads miss and writes are dropped (throttles
            # count from zero again), never a 500 (encompass/cache.py, docs/reliability.md).
            "BACKEND": "encompass.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": float(os.environ.get("ENCOMPASS_CACHE_TIMEOUT", "0.25")),
                "socket_timeout": float(os.environ.get("ENCOMPASS_CACHE_TIMEOUT", "0.25")),
            },
        }
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
# SMTP (production's default backend); docs/settings.md.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", False)  # implicit TLS (port 465)
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", not EMAIL_USE_SSL)  # STARTTLS (port 587)
if EMAIL_USE_SSL and EMAIL_USE_TLS:
    raise ImproperlyConfigured("Set only one of EMAIL_USE_SSL and EMAIL_USE_TLS")
EMAIL_PORT = int(
    os.environ.get("EMAIL_PORT", "465" if EMAIL_USE_SSL else "587" if EMAIL_USE_TLS else "25")
)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
# Password-reset links are single-use (the token hashes the password and last sign-in) and
# expire after this many seconds.
PASSWORD_RESET_TIMEOUT = int(os.environ.get("ENCOMPASS_PASSWORD_RESET_SECONDS", str(60 * 60)))

# Encompass-specific settings (docs/settings.md).
ENCOMPASS = {
    # Proxy addresses trusted to forward the client certificate of a device (mTLS at the proxy).
    "TRUSTED_PROXIES": _env_list("ENCOMPASS_TRUSTED_PROXIES", "127.0.0.1,::1"),
    "CLIENT_CERT_HEADER": os.environ.get("ENCOMPASS_CLIENT_CERT_HEADER", "X-Client-Cert"),
    "API_KEY_MAX_DAYS": int(os.environ.get("ENCOMPASS_API_KEY_MAX_DAYS", "365")),
    "INGEST_MAX_BATCH": int(os.environ.get("ENCOMPASS_INGEST_MAX_BATCH", "1000")),
    "WEBSOCKET_QUEUE_SIZE": int(os.environ.get("ENCOMPASS_WS_QUEUE", "500")),
    "REPLAY_LIMIT": int(os.environ.get("ENCOMPASS_REPLAY_LIMIT", "1000")),
    # How far below a client's `since` a replay looks for events that committed late
    # (PostgreSQL; encompass/events/visibility.py).
    "REPLAY_LATE_WINDOW": int(os.environ.get("ENCOMPASS_REPLAY_LATE_WINDOW", "10000")),
    # How often each web process checks that the channel layer still holds its groups (re-join
    # and tell sockets to resync after a Redis restart), and re-checks every socket's access.
    "LAYER_CHECK_SECONDS": float(os.environ.get("ENCOMPASS_LAYER_CHECK_SECONDS", "2")),
    "ACCESS_RECHECK_SECONDS": float(os.environ.get("ENCOMPASS_ACCESS_RECHECK_SECONDS", "60")),
    # Roles that must sign in with a second factor (TOTP) in the admin and the web UI.
    "MFA_REQUIRED_ROLES": ["admin", "security_officer"],
    # Second-factor codes: after this many wrong codes in a row the account's authenticator is
    # locked for the cool-off (on top of django-otp's 1, 2, 4 ... s back-off between tries).
    "TOTP_FAILURE_LIMIT": int(os.environ.get("ENCOMPASS_TOTP_FAILURE_LIMIT", "5")),
    "TOTP_COOLOFF_MINUTES": int(os.environ.get("ENCOMPASS_TOTP_COOLOFF_MINUTES", "15")),
    # Days a membership invitation stays open for the invited user to accept.
    "INVITATION_DAYS": int(os.environ.get("ENCOMPASS_INVITATION_DAYS", "14")),
    # How long the identity provider's word lasts: an SSO session (and the worker, for every
    # SSO account) asks the provider again after this many minutes (docs/sso.md).
    "SSO_REVALIDATE_MINUTES": int(os.environ.get("ENCOMPASS_SSO_REVALIDATE_MINUTES", "15")),
    # Where devices and people reach this deployment (CRL, CA and OCSP links, e-mails). The
    # default follows ENCOMPASS_PORT, the port `make run` serves on.
    "PUBLIC_BASE_URL": os.environ.get(
        "ENCOMPASS_PUBLIC_BASE_URL",
        f"http://127.0.0.1:{os.environ.get('ENCOMPASS_PORT', '8000')}",
    ),
    # Where CA keys live: "software" (AES-GCM under the KEK, the default), "pkcs11" (an HSM
    # token, docs/identity.md), or a dotted path to a KeyStore class.
    "KEY_STORE": os.environ.get("ENCOMPASS_KEY_STORE", "software"),
    "PKCS11": {
        "MODULE": os.environ.get("ENCOMPASS_PKCS11_MODULE", ""),
        "TOKEN_LABEL": os.environ.get("ENCOMPASS_PKCS11_TOKEN_LABEL", ""),
        "PIN": os.environ.get("ENCOMPASS_PKCS11_PIN", ""),
    },
    # MQTT over mutual TLS (devices.mqtt; docs/mqtt.md). Unset values take devices/mqtt/conf.py's.
    "MQTT": {
        key: cast(os.environ[f"ENCOMPASS_MQTT_{key}"])
        for key, cast in {
            "DIR": str,
            "HOST": str,
            "SERVICE_PORT": int,
            "DEVICE_PORT": int,
            "DEVICE_BIND": str,
            "SERVICE_BIND": str,
            "SERVER_NAMES": lambda v: [n.strip() for n in v.split(",") if n.strip()],
            "SERVICE_IDENTITY": str,
            "SHARED_GROUP": str,
            "RELOAD_COMMAND": str,
            "SYNC_CRL": lambda v: v.lower() in ("1", "true", "yes", "on"),
            "NOTIFY_ROLLOUTS": lambda v: v.lower() in ("1", "true", "yes", "on"),
        }.items()
        if os.environ.get(f"ENCOMPASS_MQTT_{key}")
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A client that hung up is not an error: no asyncio traceback for it (encompass/logfilters.py).
    "filters": {"client_gone": {"()": "encompass.logfilters.ClientGoneFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_gone"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # The audit trail records every sign-in and failure; axes' own lines are for debugging.
        "axes": {"level": os.environ.get("ENCOMPASS_AXES_LOG_LEVEL", "WARNING")},
    },
}

# Content-Security-Policy over the web UI, the admin and the API browser (django-csp;
# docs/authentication.md). Scripts and <style> blocks come from this origin or carry the
# request's nonce; no inline event handlers, no eval, no 'unsafe-inline' anywhere. Style
# *attributes* fall under style-src and are refused: data-driven colours and widths are
# data-css-* attributes that static/js/encompass.js sets through element.style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF, CSP_NONCE],
        "style-src": [CSP_SELF, CSP_NONCE],
        "img-src": [CSP_SELF, "data:"],
        "font-src": [CSP_SELF],
        "connect-src": [CSP_SELF],  # same-origin fetch and the /ws/events/ websocket
        "object-src": [CSP_NONE],
        "base-uri": [CSP_SELF],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
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
