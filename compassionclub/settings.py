"""Settings for the compassion-club ledger, read only from the environment.

Development defaults are safe and need nothing but Python: SQLite in ``var/``, DEBUG on,
a throwaway secret key. ``DJANGO_ENV=production`` turns DEBUG off and refuses to start
without SECRET_KEY and ALLOWED_HOSTS; it is the mode ``check --deploy`` is run in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

ENVIRONMENT = env.str("DJANGO_ENV", default="development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured(
        f"DJANGO_ENV must be development, test or production, not {ENVIRONMENT!r}."
    )
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production mode.")

if PRODUCTION:
    try:
        SECRET_KEY = env.str("SECRET_KEY")
        ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(
            f"{exc}. Production mode needs SECRET_KEY (50+ random characters) and "
            "ALLOWED_HOSTS (comma-separated host names) in the environment."
        ) from None
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must name at least one host in production.")
else:
    SECRET_KEY = env.str(
        "SECRET_KEY", default="development-only-key-never-used-in-production-0123456789abcdef"
    )
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Where uploaded lab reports live: outside the web root, served only through a view that
# checks who may see the batch.
PRIVATE_STORAGE_ROOT = Path(env.str("PRIVATE_STORAGE_ROOT", default=str(BASE_DIR / "var" / "private")))

INSTALLED_APPS = [
    "compassionclub.admin_site.LedgerAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "compassionclub.audit",
    "compassionclub.security",
    "members",
    "testing_results",
    "distributions",
    "distributions.status_page",
    "bench",
    "distributions.recalls",
    "compassionclub",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "compassionclub.security.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "compassionclub.security.middleware.SessionLifetimeMiddleware",
    "compassionclub.security.middleware.TwoFactorRequiredMiddleware",
    "compassionclub.security.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "compassionclub.security.requests.RequestGuardMiddleware",
]

ROOT_URLCONF = "compassionclub.urls"
WSGI_APPLICATION = "compassionclub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "compassionclub" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# Databases: SQLite by default (IMMEDIATE transactions serialise writers, so the ledger's
# lock-then-check holds there too), PostgreSQL through DATABASE_URL.
SQLITE_PATH = Path(env.str("SQLITE_PATH", default=str(BASE_DIR / "var" / "db.sqlite3")))
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        # Prepared statements: psycopg binds parameters on the server and prepares a statement
        # once a connection has run it DATABASE_PREPARE_THRESHOLD times, so PostgreSQL stops
        # planning the ledger's hot statements on every call (planning cost more than
        # executing them). A transaction-mode pooler needs PgBouncer >= 1.21 with
        # max_prepared_statements set, or DATABASE_PREPARED_STATEMENTS=off.
        if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
            DATABASES["default"].setdefault("OPTIONS", {}).update(
                server_side_binding=True, prepare_threshold=env.int("DATABASE_PREPARE_THRESHOLD", default=2)
            )
        DATABASES["default"].setdefault("TEST", {})
        if env.str("TEST_DATABASE_NAME", default=""):
            DATABASES["default"]["TEST"]["NAME"] = env.str("TEST_DATABASE_NAME")
else:
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# No cache is configured: nothing reads one. The status page's counters, which must hold across
# server processes, are rows in the database, counted atomically.

# Authentication
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# The client address, for django-axes and the audit trail alike: REMOTE_ADDR, unless the
# deployment declares how many trusted proxies append X-Forwarded-For (PROXY_COUNT); then the
# entry the outermost of them appended. See compassionclub/security/client_ip.py.
PROXY_COUNT = env.int("PROXY_COUNT", default=0)
if PROXY_COUNT < 0:
    raise ImproperlyConfigured("PROXY_COUNT must be 0 or more.")

# django-axes: lock on username + client address together, so an attacker hammering one
# account from one address cannot lock its owner out from elsewhere.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "compassionclub.security.client_ip.client_ip_address"
AXES_VERBOSE = False

# Sessions: rotate on login (Django does), 30 minutes idle, 12 hours at most.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_ABSOLUTE_SECONDS = env.int("SESSION_ABSOLUTE_SECONDS", default=12 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

# Headers. The CSP allows no inline script or style and nothing from another origin.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"


def _static_headers(headers, path, url):
    from compassionclub.security.headers import add_static_headers

    add_static_headers(headers, path, url)


WHITENOISE_ADD_HEADERS_FUNCTION = _static_headers
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PROXY_COUNT else None
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# Two-factor: required for staff in production mode (and wherever REQUIRE_2FA says so).
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=PRODUCTION)
# Enrolling an authenticator needs a one-time code from a programme admin (or manage.py
# enrolment_code), so that a password alone never enrols someone else's phone.
TWO_FACTOR_ENROLMENT_CODE_REQUIRED = env.bool("TWO_FACTOR_ENROLMENT_CODE_REQUIRED", default=PRODUCTION)
TWO_FACTOR_ENROLMENT_CODE_HOURS = env.int("TWO_FACTOR_ENROLMENT_CODE_HOURS", default=72)

# Request bodies, refused by their Content-Length before they are read (and cut off while read
# when there is none): the status page, the sign-in pages and anyone not signed in send a few
# form fields; staff upload lab reports (testing_results.services.LAB_REPORT_MAX_BYTES, 10 MB)
# in a form around them. The proxy in front should refuse more than BODY_LIMIT_UPLOAD too.
# Signed checkpoints (manage.py checkpoint): the Ed25519 key pair lives outside the database.
CHECKPOINT_KEY_FILE = env.str("CHECKPOINT_KEY_FILE", default="")
CHECKPOINT_PUBLIC_KEY_FILE = env.str("CHECKPOINT_PUBLIC_KEY_FILE", default="")

# The key of the digest of staff addresses that the audit chain covers (see
# compassionclub.audit.services.address_digest). Kept out of the database; derived from
# SECRET_KEY when not set. Changing it does not break the chain (the digests are stored), but
# verify_audit then reports addresses not yet purged as not matching their digest.
AUDIT_ADDRESS_KEY = env.str("AUDIT_ADDRESS_KEY", default="") or hmac.new(
    SECRET_KEY.encode(), b"audit:address-digest", hashlib.sha256).hexdigest()

# Retention: how long each kind of record that says something about a person is kept before
# `manage.py purge` removes it (README, "Retention"). Run the purge daily.
# - status_page_counters: the status page's try counters (keyed digests of a code or an address);
#   a code's lock level is forgotten this long after its last lock, every other counter when its
#   window ends (an hour at most).
# - audit_addresses: the staff address on each audit record; its keyed digest stays in the chain.
# - sign_in_records: django-axes' records of sign-ins and failed sign-ins (username, address,
#   browser).
# - members_left: a member withdrawn this long ago is forgotten: a new code nobody holds, the PIN
#   hash and consent dropped, the ledger history kept under the new code. The programme sets it.
RETENTION = {
    "status_page_counters": dt.timedelta(hours=env.int("RETENTION_STATUS_COUNTER_HOURS", default=24)),
    "audit_addresses": dt.timedelta(days=env.int("RETENTION_AUDIT_ADDRESS_DAYS", default=90)),
    "sign_in_records": dt.timedelta(days=env.int("RETENTION_SIGN_IN_DAYS", default=90)),
    "members_left": dt.timedelta(days=env.int("RETENTION_MEMBERS_LEFT_DAYS", default=365)),
}
if any(period <= dt.timedelta(0) for period in RETENTION.values()):
    raise ImproperlyConfigured("Every RETENTION_* period must be positive.")

BODY_LIMIT_SMALL = env.int("BODY_LIMIT_SMALL", default=16 * 1024)
BODY_LIMIT_UPLOAD = env.int("BODY_LIMIT_UPLOAD", default=11 * 1024 * 1024)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Compassion club ledger")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # never show TOTP keys or backup codes in the admin

# Demo accounts exist only outside production.
DEMO_ACCOUNTS_ALLOWED = not PRODUCTION

# Internationalisation
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["compassionclub.formats"]  # ISO dates and 24-hour times on staff pages
TIME_ZONE = "America/Vancouver"
USE_I18N = True
USE_TZ = True

# Static files: whitenoise serves them in production, nothing from a CDN.
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Logging: to stderr; never the request body, so no member code or PIN is ever logged.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
