"""Settings from the environment, with safe defaults.

Without DATABASE_URL the platform runs on an embedded SQLite database under RONGCHENG_DATA_DIR (default ./var).
Secrets (Django's secret key, the audit chain key, the data-at-rest key) come from the environment or are generated
into the data directory on first run; none is committed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from rongcheng.config.environment import (
    data_dir,
    database_from_url,
    flag,
    rate_limits,
    rate_limits_batched,
    secret_from_file,
)
from rongcheng.oidc.hashers import ClientSecretHasher

django_stubs_ext.monkeypatch()

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = data_dir()

SECRET_KEY = secret_from_file("secret-key", "DJANGO_SECRET_KEY", nbytes=50)
# Keyed SM3 chain over the audit trail; a separate key so rotating Django's secret key does not break the chain.
AUDIT_CHAIN_KEY = secret_from_file("audit-chain-key", "RONGCHENG_AUDIT_CHAIN_KEY", nbytes=32)
# SM4 keys for personal data at rest: "id:hex,id:hex", the first one encrypts, all decrypt.
DATA_KEYS = (
    os.environ.get("RONGCHENG_DATA_KEYS")
    or f"k1:{secret_from_file('data-key', 'RONGCHENG_DATA_KEY_HEX', 16, hex_format=True)}"
)
# HMAC-SM3 key of the blind indexes (exact lookup of encrypted ID numbers and phones). It does not rotate with the
# data keys, or every index would have to be rebuilt.
BLIND_INDEX_KEY = secret_from_file("blind-index-key", "RONGCHENG_BLIND_INDEX_KEY", 32, hex_format=True)
# OpenID Connect provider (rongcheng.oidc, ADR 0008): RS256 and ES256 signing keys (rotated with
# `rongcheng manage oidc_keys`), the HMAC-SM3 key of client secrets and the key of pairwise subject identifiers. The
# issuer and the audience of the platform's own API default to this server's address as the request names it.
OIDC_KEYS_DIR = Path(os.environ.get("RONGCHENG_OIDC_KEYS_DIR") or DATA_DIR / "oidc-keys")
CARD_KEYS_DIR = Path(os.environ.get("RONGCHENG_CARD_KEYS_DIR") or DATA_DIR / "card-keys")
OIDC_CLIENT_SECRET_KEY = secret_from_file(
    "oidc-client-secret-key", "RONGCHENG_OIDC_CLIENT_SECRET_KEY", 32, hex_format=True
)
OIDC_PAIRWISE_KEY = secret_from_file("oidc-pairwise-key", "RONGCHENG_OIDC_PAIRWISE_KEY", 32, hex_format=True)
OIDC_ISSUER = os.environ.get("RONGCHENG_OIDC_ISSUER", "")
OIDC_API_AUDIENCE = os.environ.get("RONGCHENG_OIDC_API_AUDIENCE", "")
# The purpose under which a client's entitlement to the clear ID number is looked up (registries.FieldEntitlement).
OIDC_ID_NUMBER_PURPOSE = "service_hall"

DEBUG = flag("RONGCHENG_DEBUG")
HTTPS = flag("RONGCHENG_HTTPS")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("RONGCHENG_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("RONGCHENG_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "rongcheng.config.adminsite.RongchengAdminConfig",  # django.contrib.admin with the platform's rules
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "oauth2_provider",
    "rongcheng.kernel",
    "rongcheng.audit",
    "rongcheng.accounts",
    "rongcheng.divisions",
    "rongcheng.staff",
    "rongcheng.registries",
    "rongcheng.identity",
    "rongcheng.licences",
    "rongcheng.oidc",
    "rongcheng.spatial",
    "rongcheng.card",
    "rongcheng.hall",
    "rongcheng.credit",
    "rongcheng.cases",
    "rongcheng.catalogue",
    "rongcheng.operations",
    "django_q",  # the background job library of rongcheng.operations (ADR 0013)
    "rongcheng.portal",
    "rongcheng.demo",
]

MIDDLEWARE = [
    # Outermost: a cookie-less call under /api/ or to the token endpoints takes the same chain without the middlewares
    # of sessions, CSRF, accounts signed in, messages, static files and probes (config.machine).
    "rongcheng.config.machine.MachineCallMiddleware",
    "rongcheng.config.middleware.RequestContextMiddleware",  # outermost: request id and address, X-Request-ID
    "rongcheng.operations.middleware.ObservationMiddleware",  # metrics by route, JSON access log, exchange log
    "rongcheng.operations.middleware.ProbeMiddleware",  # /livez, /readyz, /metrics: no session, cookie or audit
    "rongcheng.config.middleware.NoStoreMiddleware",  # sees every response, problem documents included
    "rongcheng.config.middleware.ApiProblemMiddleware",  # sees every error response under /api/
    "django.middleware.security.SecurityMiddleware",
    # Static files are answered by WhiteNoise below; the middlewares above it set their security headers too.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "rongcheng.config.middleware.ContentSecurityPolicyMiddleware",  # django-csp, the policy built once
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "rongcheng.config.middleware.LocaleMiddleware",  # Django's, without the path lookup (no i18n_patterns)
    "django.middleware.common.CommonMiddleware",
    "rongcheng.config.middleware.ControlCharacterMiddleware",  # after locale: its error page is translated
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "rongcheng.config.middleware.RefusalAuditMiddleware",  # after authentication: it names who was refused
    "rongcheng.config.middleware.LazyMessageMiddleware",  # messages storage opened only when used
    "rongcheng.identity.middleware.SessionPolicyMiddleware",  # idle timeout, forced password change
    "rongcheng.portal.middleware.RateLimitedMiddleware",  # a rate-limited page: 429 page with Retry-After
    "rongcheng.config.write_limits.WriteRateLimitMiddleware",  # every write to a page counts per account
]

# RONGCHENG_OBSERVE=off drops the request metrics, access log and exchange log (bench/operations.py measures their
# cost with it); the probes stay.
if os.environ.get("RONGCHENG_OBSERVE", "on") == "off":
    MIDDLEWARE.remove("rongcheng.operations.middleware.ObservationMiddleware")

ROOT_URLCONF = "rongcheng.config.urls"
WSGI_APPLICATION = "rongcheng.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Two caches: `default` is each process's own (short-lived copies of small tables, permissions); `shared` is seen by
# every worker process (rate-limit counters): a table in the database (created by the kernel's migration), with an
# atomic increment (rongcheng.kernel.cache).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {
        "BACKEND": "rongcheng.kernel.cache.SharedDatabaseCache",
        "LOCATION": "rongcheng_shared_cache",
        "TIMEOUT": 3600,
        # Django culls when the table holds more rows than this; counters expire within their window, and
        # `rongcheng manage cleanup` deletes expired rows.
        "OPTIONS": {"MAX_ENTRIES": 50_000, "CULL_FREQUENCY": 4},
    },
}

AUTH_USER_MODEL = "accounts.User"
# ModelBackend's passwords, with permissions from department-scoped role assignments (rongcheng.staff.backends).
AUTHENTICATION_BACKENDS = ["rongcheng.staff.backends.DepartmentRoleBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # Client secrets only (long random values): keyed HMAC-SM3, fast on purpose. People's passwords stay argon2.
    "rongcheng.oidc.hashers.ClientSecretHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "rongcheng.identity.passwords.ComplexityValidator"},
]
LOGIN_URL = "identity:sign-in"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:home"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]  # each in its own language
LOCALE_PATHS = [PACKAGE_DIR / "config" / "locale"]  # the settings' strings; each app keeps its own catalogue
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": DATA_DIR / "media"}},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Security: sessions end after 30 idle minutes (GB/T 22239 level 3), cookies are HTTP-only and same-site. The
# session is saved when its content changes, which includes the activity noted once a minute by
# identity.services.session_touch (so its cookie and row are renewed then), never on every page view.
SESSION_COOKIE_AGE = int(os.environ.get("RONGCHENG_IDLE_TIMEOUT_SECONDS", "1800"))
SESSION_SAVE_EVERY_REQUEST = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "rongcheng.portal.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if HTTPS:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("RONGCHENG_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = flag("RONGCHENG_HSTS_PRELOAD")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Without HTTPS (the embedded demo on 127.0.0.1) HSTS, SSL redirect and secure cookies cannot apply. HSTS preload
# commits the whole domain to HTTPS irrevocably: the city opts in with RONGCHENG_HSTS_PRELOAD.
SILENCED_SYSTEM_CHECKS = (
    ([] if flag("RONGCHENG_HSTS_PRELOAD") else ["security.W021"])
    if HTTPS
    else ["security.W004", "security.W008", "security.W012", "security.W016"]
)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# Mail (the service hall's messages to applicants): console for the demo, SMTP or file in production by setting.
EMAIL_BACKEND = os.environ.get("RONGCHENG_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("RONGCHENG_EMAIL_FILE_PATH", str(DATA_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("RONGCHENG_FROM_EMAIL", "hall@rongcheng.invalid")

# The audit trail: records are sealed into the SM3 chain in batches; kept at least 180 days (网络安全法 §21).
AUDIT_RETENTION_DAYS = int(os.environ.get("RONGCHENG_AUDIT_RETENTION_DAYS", "180"))
# background (default): a sealer thread per process; manual: run `rongcheng audit seal --follow` as its own process.
AUDIT_SEAL_MODE = os.environ.get("RONGCHENG_AUDIT_SEAL_MODE") or None
# "durable" (the default): a read of personal data is answered only after its audit record is flushed to disk.
# "async": that commit does not wait for the flush (PostgreSQL only); ADR 0011 says what a crash can then lose.
AUDIT_READ_COMMIT = os.environ.get("RONGCHENG_AUDIT_READ_COMMIT", "durable")
if AUDIT_READ_COMMIT not in ("durable", "async"):
    raise ImproperlyConfigured("RONGCHENG_AUDIT_READ_COMMIT is durable or async.")
# The exchange log's rows (one per call of a department system, rongcheng.operations.services): "background" (the
# default) hands them to a writer thread per process that appends each batch by one statement (PostgreSQL; SQLite
# writes each row at once); "inline" writes each row in the thread that served the call. ADR 0017 says what a
# worker killed outright can lose.
EXCHANGE_LOG_WRITE = os.environ.get("RONGCHENG_EXCHANGE_LOG_WRITE", "background")
if EXCHANGE_LOG_WRITE not in ("background", "inline"):
    raise ImproperlyConfigured("RONGCHENG_EXCHANGE_LOG_WRITE is background or inline.")

# OAuth 2.0 (django-oauth-toolkit): department systems take client-credentials tokens at /oauth/token/ and call the
# API with them. A token acts as the application's owner, an account of kind api_client; the scopes a client may ask
# for follow the permissions of that account (API_SCOPE_PERMISSIONS), so `registries:write` needs a write permission.
# It is also the OpenID Connect provider of the department systems (rongcheng.oidc, ADR 0008): authorization code
# with PKCE (S256), refresh tokens rotated with reuse detection, access tokens as JWTs (RFC 9068; ES256, or RS256
# for a client registered for it), pairwise subjects. Client secrets are long random values hashed with a keyed
# HMAC-SM3, not argon2 (ClientSecretHasher).
# How long a process may serve an access token it admitted without reading its row again (accounts.api_auth, ADR
# 0018): a token revoked, a client disabled or an account deactivated in another process is refused within this bound.
API_TOKEN_CACHE_SECONDS = float(os.environ.get("RONGCHENG_API_TOKEN_CACHE_SECONDS", "1"))
OAUTH2_PROVIDER: dict[str, Any] = {
    "SCOPES": {
        "registries:read": "Read the base registries (masked unless entitled)",
        "registries:write": "Register, correct and close records of the base registries; record indicators",
        "hall:apply": "Apply for services of the online service hall and follow one's applications",
        "hall:decide": "Work a department's queue of applications: accept, review, decide",
        "credit:report": "Report a department's credit records (双公示) and read its problem queue",
        "credit:office": "Keep the red and black lists and review credit repairs (the credit office)",
        "openid": "Sign the person in (OpenID Connect)",
        "profile": "The person's name",
        "id_number_masked": "The person's ID number, masked",
        "id_number": "The person's ID number in clear (clients entitled to it only)",
        "oidc:clients": "Register clients, rotate their secrets, disable them",
        "staff:admin": "Administer staff accounts, roles and role assignments",
        "licences:read": "Fetch holders' licences with their authorization; record their use in an application",
        "licences:issue": "Issue electronic licences and change their status (issuing department)",
        "spatial:geocode": "Geocode batches of addresses against the standard addresses",
        "card:pay": "City card: merchants' payments and refunds, terminals' offline taps, QR codes",
        "card:topup": "City card: top-ups and bills paid by a bank or an online channel",
        "card:bills": "City card: issue government bills (unified payment) for the department",
        "catalogue:exchange": "Read other departments' shared data through the department's grants",
        "cases:report": "Report city problems (城市管理问题) and follow one's reports",
        "cases:work": "Work city cases: register, dispatch, handle, verify, take calls (with the step's permission)",
        "operations:read": "Read the platform's exchange statistics (monitoring systems)",
    },
    "DEFAULT_SCOPES": ["registries:read"],
    "SCOPES_BACKEND_CLASS": "rongcheng.oidc.scopes.ClientScopes",
    "OAUTH2_VALIDATOR_CLASS": "rongcheng.oidc.validators.ProviderValidator",
    # Only the offered grants are dispatched: no password grant, no device grant (rongcheng.oidc.server).
    "OAUTH2_SERVER_CLASS": "rongcheng.oidc.server.ProviderServer",
    "ACCESS_TOKEN_GENERATOR": "rongcheng.oidc.tokens.access_token_generate",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    # The hasher itself, not its name, so a test that narrows PASSWORD_HASHERS still hashes client secrets with it.
    "CLIENT_SECRET_HASHER": ClientSecretHasher(),
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("RONGCHENG_ACCESS_TOKEN_SECONDS", "600")),
    "ID_TOKEN_EXPIRE_SECONDS": 600,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "REFRESH_TOKEN_EXPIRE_SECONDS": int(os.environ.get("RONGCHENG_REFRESH_TOKEN_SECONDS", "28800")),
    "ROTATE_REFRESH_TOKEN": True,
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": OIDC_ISSUER,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_SUBJECT_TYPES_SUPPORTED": ["pairwise"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": True,
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "client_credentials", "refresh_token"],
    "REQUEST_APPROVAL_PROMPT": "force",
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # RFC 9700 (OAuth 2.0 Security BCP): no implicit or password grant, no token in a URL, tokens hashed at rest.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}
# Named so that migrations of apps pointing at the toolkit's applications can resolve the (unswapped) model.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
# A scope is available to a client whose account holds at least one of these permissions (rongcheng.accounts.api_auth).
API_SCOPE_PERMISSIONS = {
    "operations:read": ("operations.view_operations",),
    "catalogue:exchange": ("catalogue.request_sharing",),
    "registries:read": ("registries.view_person", "registries.view_legalentity"),
    "registries:write": (
        "registries.add_person",
        "registries.change_person",
        "registries.add_legalentity",
        "registries.change_legalentity",
        "registries.add_indicator",
    ),
    "hall:apply": ("hall.add_application",),
    "hall:decide": ("hall.decide_application",),
    "credit:report": ("credit.report_record",),
    "credit:office": ("credit.manage_lists",),
    "oidc:clients": ("oidc.manage_client",),
    "staff:admin": ("staff.manage_staff_accounts", "staff.assign_role"),
    "licences:read": ("licences.view_licence",),
    "licences:issue": ("licences.add_licence", "licences.change_licence"),
    "spatial:geocode": ("spatial.geocode_batch",),
    "card:pay": ("card.add_tap",),
    "card:topup": ("card.add_transfer",),
    "card:bills": ("card.add_bill",),
    "cases:report": ("cases.add_case",),
    "cases:work": (
        "cases.register_case",
        "cases.dispatch_case",
        "cases.handle_case",
        "cases.verify_case",
        "cases.take_call",
    ),
}

# Identity (GB/T 22239 level 3, rongcheng.identity.policy): lockout after failed sign-ins, idle timeout enforced on the
# server, password rules and age, SMS-style one-time codes through a pluggable sender (a dotted path).
IDENTITY_LOCKOUT_THRESHOLD = int(os.environ.get("RONGCHENG_LOCKOUT_THRESHOLD", "5"))
IDENTITY_LOCKOUT_SECONDS = int(os.environ.get("RONGCHENG_LOCKOUT_SECONDS", "1800"))
IDENTITY_IDLE_TIMEOUT_SECONDS = SESSION_COOKIE_AGE
IDENTITY_PASSWORD_MIN_LENGTH = int(os.environ.get("RONGCHENG_PASSWORD_MIN_LENGTH", "8"))
IDENTITY_PASSWORD_CLASSES = ("upper", "lower", "digit", "special")
IDENTITY_STAFF_PASSWORD_MAX_AGE_DAYS = int(os.environ.get("RONGCHENG_STAFF_PASSWORD_MAX_AGE_DAYS", "90"))
IDENTITY_CODE_SECONDS = 300
IDENTITY_CODE_MAX_ATTEMPTS = 5
IDENTITY_CODE_SEND_INTERVAL_SECONDS = 60
IDENTITY_CODE_SENDS_PER_HOUR = 5
IDENTITY_SMS_SENDER = os.environ.get("RONGCHENG_SMS_SENDER", "rongcheng.identity.sms.FileSender")
IDENTITY_SMS_OUTBOX = DATA_DIR / "sms-outbox.jsonl"

# Rate limits (rongcheng.kernel.ratelimit): per scope, at most `count` requests in each window of `seconds`, counted
# per source address and per signed-in account. docs/operations.md lists the endpoints of each scope.
RATE_LIMITS = rate_limits(
    {
        "identity.sign_in": {"address": "30/600"},
        "identity.register": {"address": "10/3600"},
        "identity.sms": {"address": "10/3600", "account": "10/3600"},
        "oauth.token": {"address": "120/60"},
        "oauth.authorize": {"address": "60/600", "account": "30/600"},
        "hall.draft": {"address": "60/3600", "account": "20/3600"},
        "hall.upload": {"address": "200/3600", "account": "100/3600"},
        "licences.verify": {"address": "60/60"},
        "credit.query": {"address": "120/60"},
        # Writes of signed-in accounts, one scope per kind (rongcheng.config.write_limits maps routes to them), sized
        # for a full day's real work: an officer deciding 600 applications an hour stays under hall.decide.
        "write.default": {"account": "600/3600"},
        "staff.admin": {"account": "300/3600"},
        "registries.write": {"account": "1200/3600"},
        "registries.import": {"account": "10/3600"},
        "registries.lookup": {"account": "3000/600"},
        "licences.write": {"account": "1200/3600"},
        "licences.bulk": {"account": "10/3600"},
        "licences.lookup": {"account": "3000/600"},
        "hall.apply": {"account": "600/3600"},
        "hall.decide": {"account": "1200/3600"},
        "hall.message": {"account": "600/3600"},
        "hall.admin": {"account": "300/3600"},
        "credit.report": {"account": "1200/3600"},
        "credit.file": {"account": "20/3600"},
        "credit.office": {"account": "600/3600"},
        "credit.subject": {"account": "60/3600"},
        "credit.lookup": {"account": "3000/600"},
        "oidc.clients": {"account": "60/3600"},
        "identity.account": {"account": "60/3600"},
        # OGC API – Features reads (public, no personal data): a map page fetches a handful per view.
        "spatial.ogc": {"address": "6000/60"},
        "spatial.api": {"address": "600/60"},
        "spatial.geocode": {"account": "120/3600"},
        # The city card: terminals and merchants' systems pay at rush-hour rates; channels top up; public receipts.
        "card.pay": {"account": "600000/3600"},
        "card.topup": {"account": "120000/3600"},
        "card.bills": {"account": "6000/3600"},
        "card.resident": {"account": "300/3600"},
        "card.finance": {"account": "300/3600"},
        "card.verify": {"address": "60/60"},
        "catalogue.write": {"account": "600/3600"},
        "catalogue.upload": {"account": "60/3600"},
        "opendata.read": {"address": "1200/60"},
        "opendata.write": {"address": "600/3600"},
        "opendata.data_request": {"address": "5/3600"},
        # City cases: reports from the public (anonymous allowed per category), Open311 calls, the staff's steps.
        "cases.report": {"address": "60/3600", "account": "60/3600"},
        "cases.open311": {"address": "600/60", "account": "600/60"},
        "cases.work": {"account": "1200/3600"},
    },
    os.environ.get("RONGCHENG_RATE_LIMITS", ""),
)
# Quotas of the service hall: open drafts one account may hold per service, bytes of uploads kept per application.
HALL_OPEN_DRAFTS_PER_SERVICE = int(os.environ.get("RONGCHENG_HALL_OPEN_DRAFTS_PER_SERVICE", "3"))
# Open data derived from personal data: counts below this are published empty (small-cell suppression).
CATALOGUE_SMALL_CELL_THRESHOLD = int(os.environ.get("RONGCHENG_CATALOGUE_SMALL_CELL_THRESHOLD", "5"))
# Public credit: the department of the credit office (it keeps the lists and signs the credit reports).
CREDIT_OFFICE_DEPARTMENT = os.environ.get("RONGCHENG_CREDIT_OFFICE_DEPARTMENT", "FZ-FGW")
HALL_UPLOAD_BYTES_PER_APPLICATION = int(os.environ.get("RONGCHENG_HALL_UPLOAD_BYTES_PER_APPLICATION", str(50 * 2**20)))
# Refused requests are counted, not audited one by one: one audit record per scope and window of this many seconds.
RATE_LIMIT_SUMMARY_SECONDS = int(os.environ.get("RONGCHENG_RATE_LIMIT_SUMMARY_SECONDS", "600"))
# Scopes counted by each worker in memory and added to the shared counter in batches (ADR 0018): the machine calls and
# the public reads, where a round trip per request costs more than a bounded overshoot (at most (workers - 1) x
# batch size, the batch RATE_LIMIT_BATCH_SHARE of the limit, at most RATE_LIMIT_BATCH_MAX). Every other scope, and
# every one that checks a person's credential (sign-in, SMS codes, passwords, TOTP, consent), counts each request in
# the shared counter before it is answered. RONGCHENG_RATE_LIMIT_BATCHED replaces the list (`none`: no scope).
RATE_LIMIT_BATCHED = rate_limits_batched(
    (
        "oauth.token",
        "registries.lookup",
        "licences.lookup",
        "credit.lookup",
        "credit.query",
        "card.pay",
        "card.topup",
        "card.bills",
        "cases.open311",
        "spatial.ogc",
        "spatial.api",
        "opendata.read",
    ),
    RATE_LIMITS,
    os.environ.get("RONGCHENG_RATE_LIMIT_BATCHED"),
)
RATE_LIMIT_BATCH_SHARE = float(os.environ.get("RONGCHENG_RATE_LIMIT_BATCH_SHARE", "0.05"))
RATE_LIMIT_BATCH_MAX = int(os.environ.get("RONGCHENG_RATE_LIMIT_BATCH_MAX", "100"))
RATE_LIMIT_SYNC_SECONDS = float(os.environ.get("RONGCHENG_RATE_LIMIT_SYNC_SECONDS", "0.1"))

# Operations (rongcheng.operations; docs/operations.md): probes, metrics, background jobs, security events, backups.
# /metrics answers a bearer token whose SM3 digest (hex) is RONGCHENG_METRICS_TOKEN_SM3 or DATA_DIR/metrics-token.sm3,
# or any address in RONGCHENG_METRICS_NETWORKS (CIDRs, comma-separated); with neither it answers nobody.
OPERATIONS_METRICS_TOKEN_SM3 = os.environ.get("RONGCHENG_METRICS_TOKEN_SM3", "")
OPERATIONS_METRICS_NETWORKS = [
    n.strip() for n in os.environ.get("RONGCHENG_METRICS_NETWORKS", "").split(",") if n.strip()
]
OPERATIONS_READINESS = {
    "sealer_lag_warn_seconds": float(os.environ.get("RONGCHENG_READY_SEALER_LAG_WARN", "60")),
    "sealer_lag_fail_seconds": float(os.environ.get("RONGCHENG_READY_SEALER_LAG_FAIL", "900")),
    "heartbeat_warn_seconds": float(os.environ.get("RONGCHENG_READY_HEARTBEAT_WARN", "180")),
    "disk_warn_bytes": int(os.environ.get("RONGCHENG_READY_DISK_WARN_BYTES", str(2 * 2**30))),
    "disk_fail_bytes": int(os.environ.get("RONGCHENG_READY_DISK_FAIL_BYTES", str(200 * 2**20))),
    "clock_warn_seconds": float(os.environ.get("RONGCHENG_READY_CLOCK_WARN", "2")),
    "clock_fail_seconds": float(os.environ.get("RONGCHENG_READY_CLOCK_FAIL", "30")),
}
# Security rules (rongcheng.operations.security): thresholds within a window of seconds; `name.key=value,...` changes.
OPERATIONS_SECURITY_RULES: dict[str, dict[str, int]] = {
    "brute_force": {"failures": 10, "seconds": 600},  # failed sign-ins of one account
    "lockout": {"count": 1, "seconds": 3600},  # an account locked
    "credential_stuffing": {"accounts": 5, "seconds": 600},  # distinct accounts failing from one address
    "mass_read": {"persons": 200, "seconds": 3600},  # person records one account read
    # persons registered outside the jurisdiction of the reading staff member's department (全城通办 makes a few normal)
    "outside_department": {"persons": 20, "seconds": 3600},
    "refresh_token_reuse": {"count": 1, "seconds": 3600},
    "audit_verification": {"count": 1, "seconds": 86400},
    # verifications of unknown licences or forged documents from one address; a stored licence that fails its own
    # signature is always an event
    "licence_verification": {"failures": 50, "seconds": 600},
    "duty_change": {"count": 1, "seconds": 60},  # administrator duty granted or revoked
    "new_api_client": {"count": 1, "seconds": 60},
    # a sign-in from outside OPERATIONS_SECURITY_ADDRESS_RANGES, from a network (of this prefix length) the account
    # never signed in from before
    "new_address_range": {"prefix_v4": 24, "prefix_v6": 48, "seconds": 86400},
}
for _change in filter(None, (c.strip() for c in os.environ.get("RONGCHENG_SECURITY_RULES", "").split(","))):
    _name, _, _value = _change.partition("=")
    _rule, _, _key = _name.partition(".")
    if _rule not in OPERATIONS_SECURITY_RULES or not _value.isdigit():
        raise ImproperlyConfigured(f"RONGCHENG_SECURITY_RULES: {_change!r} is not rule.key=number of a known rule.")
    OPERATIONS_SECURITY_RULES[_rule][_key] = int(_value)
# The address ranges sign-ins are expected from (CIDRs, e.g. the country's allocations from APNIC's delegated list):
# inline, comma-separated, and/or a file of one CIDR a line. Empty: the new_address_range rule is off.
OPERATIONS_SECURITY_ADDRESS_RANGES = [
    n.strip() for n in os.environ.get("RONGCHENG_SECURITY_ADDRESS_RANGES", "").split(",") if n.strip()
]
if os.environ.get("RONGCHENG_SECURITY_ADDRESS_RANGES_FILE"):
    OPERATIONS_SECURITY_ADDRESS_RANGES += [
        line.split("#")[0].strip()
        for line in Path(os.environ["RONGCHENG_SECURITY_ADDRESS_RANGES_FILE"]).read_text().splitlines()
        if line.split("#")[0].strip()
    ]
# Where security events are announced (no personal data in them): mail addresses and a webhook URL (JSON POST).
OPERATIONS_SECURITY_EMAILS = [
    a.strip() for a in os.environ.get("RONGCHENG_SECURITY_EMAILS", "").split(",") if a.strip()
]
OPERATIONS_SECURITY_WEBHOOK = os.environ.get("RONGCHENG_SECURITY_WEBHOOK", "")
# Backups (`rongcheng backup`): where they go and how long they are kept; the audit trail's own retention is above.
OPERATIONS_BACKUP_DIR = Path(os.environ.get("RONGCHENG_BACKUP_DIR") or DATA_DIR / "backups")
OPERATIONS_BACKUP_RETENTION_DAYS = int(os.environ.get("RONGCHENG_BACKUP_RETENTION_DAYS", "180"))
# 网络安全法 §21: logs of network operation kept at least six months; a shorter setting is refused at start-up, for the
# audit trail and for the backups that hold it.
LEGAL_RETENTION_DAYS = 180
for _name, _days in (("RONGCHENG_AUDIT_RETENTION_DAYS", AUDIT_RETENTION_DAYS),
                     ("RONGCHENG_BACKUP_RETENTION_DAYS", OPERATIONS_BACKUP_RETENTION_DAYS)):  # fmt: skip
    if _days < LEGAL_RETENTION_DAYS:
        raise ImproperlyConfigured(
            f"{_name}={_days}: the law asks for at least {LEGAL_RETENTION_DAYS} days (six months)."
        )
OPERATIONS_JOB_RETRIES = int(os.environ.get("RONGCHENG_JOB_RETRIES", "5"))
OPERATIONS_JOB_BACKOFF_SECONDS = int(os.environ.get("RONGCHENG_JOB_BACKOFF_SECONDS", "30"))
# Background jobs on django-q2 (ADR 0013): the database is the broker of the embedded install; a city that scales out
# sets RONGCHENG_JOB_BROKER=redis://host:6379/0. Our jobs retry themselves with backoff (rongcheng.operations.jobs);
# the library's own `retry` re-delivers a task whose worker died without acknowledging it.
_JOB_BROKER = os.environ.get("RONGCHENG_JOB_BROKER", "database")
Q_CLUSTER: dict[str, Any] = {
    "name": os.environ.get("RONGCHENG_JOB_QUEUE", "rongcheng"),
    "workers": int(os.environ.get("RONGCHENG_JOB_WORKERS", "1")),
    "timeout": 600,
    "retry": 900,
    "max_attempts": 3,
    "ack_failures": True,
    "save_limit": 500,
    "catch_up": False,
    "poll": 1,
    "label": "Jobs",
    **({"redis": _JOB_BROKER} if _JOB_BROKER.startswith(("redis://", "rediss://")) else {"orm": "default"}),
}

# Logs: structured JSON lines on standard output (rongcheng.operations.logs) unless RONGCHENG_LOG_FORMAT=console; the
# access line of every request (logger rongcheng.access) at INFO. ID numbers and phones are masked in both formats.
LOG_FORMAT = os.environ.get("RONGCHENG_LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # ID numbers and phone numbers a client put in a URL are masked in the written line (rongcheng.kernel.logmask).
    "formatters": {
        "masked": {"()": "rongcheng.kernel.logmask.MaskingFormatter"},
        "json": {"()": "rongcheng.operations.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json" if LOG_FORMAT == "json" else "masked",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("RONGCHENG_LOG_LEVEL", "WARNING")},
    "loggers": {
        "rongcheng.access": {"level": os.environ.get("RONGCHENG_ACCESS_LOG_LEVEL", "INFO")},
        "django_q": {"level": os.environ.get("RONGCHENG_JOB_LOG_LEVEL", "WARNING")},
    },
}
