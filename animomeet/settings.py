"""Settings, read from the environment (and from a `.env` file when one is present).

The original Node backend's variables keep their meaning: PORT, NODE_ENV, FRONTEND_URL,
DEVELOPMENT_DB_URL, PRODUCTION_DB_URL, SECRET_KEY. Everything else is new and optional.
"""

import ipaddress
import os
import socket
import warnings
from pathlib import Path

import dj_database_url
from dotenv import load_dotenv

from animomeet.config import Rate, config_error, env_bool, env_ice_urls, env_int, env_list, env_rate

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")

NODE_ENV = os.environ.get("NODE_ENV", "development").strip().lower() or "development"
if NODE_ENV not in ("development", "production"):
    raise config_error(f"NODE_ENV must be development or production, not {NODE_ENV!r}")
PRODUCTION = NODE_ENV == "production"
# Django's debug pages show settings and tracebacks: only when asked for, in any mode.
DEBUG = env_bool("DEBUG", False)

PORT = env_int("PORT", 8080)

_INSECURE_KEY = "dev-only-insecure-secret-key-change-me"
SECRET_KEY = os.environ.get("SECRET_KEY", "") or _INSECURE_KEY

# MONGODB_URL wins over the original's two variables; with none, MongoEngine runs on
# mongomock (in memory) so that the server starts on a bare machine.
MONGODB_URL = (
    os.environ.get("MONGODB_URL")
    or os.environ.get("PRODUCTION_DB_URL" if PRODUCTION else "DEVELOPMENT_DB_URL")
    or ""
)
MONGODB_DB_NAME = os.environ.get("MONGODB_DB_NAME", "")
# How long a request waits for a reachable database before it answers 503.
MONGODB_SERVER_SELECTION_TIMEOUT_MS = env_int("MONGODB_SERVER_SELECTION_TIMEOUT_MS", 5000)

REDIS_URL = os.environ.get("REDIS_URL", "")

# Production serves under its own public names, which only the operator knows.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
# /readyz: how long MongoDB and Redis each get to answer a ping.
READYZ_TIMEOUT_MS = env_int("READYZ_TIMEOUT_MS", 1000)
if READYZ_TIMEOUT_MS <= 0:
    raise config_error(f"READYZ_TIMEOUT_MS must be a positive number of milliseconds, not {READYZ_TIMEOUT_MS}")

if PRODUCTION:
    if SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 32:
        raise config_error("production needs SECRET_KEY set to a random string of 32+ characters")
    if not MONGODB_URL:
        raise config_error("production needs MONGODB_URL or PRODUCTION_DB_URL")
    if not ALLOWED_HOSTS:
        raise config_error("production needs ALLOWED_HOSTS: the host names this server answers for")

FRONTEND_ORIGINS = env_list("FRONTEND_URL", ["http://localhost:5173"])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "channels",
    "animomeet.apps.AnimoMeetConfig",
    "accounts",
    "meetings",
    "signaling",
]

MIDDLEWARE = [
    "animomeet.metrics.HttpMetricsMiddleware",
    "animomeet.middleware.RequestLogMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "animomeet.middleware.MalformedRequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "animomeet.middleware.JsonErrorMiddleware",
]

ROOT_URLCONF = "animomeet.urls"
ASGI_APPLICATION = "animomeet.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Django's own tables (admin logins, sessions); the product's data lives in MongoDB.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "signaling.engine.broker.redis_pools.WaitingRedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                # Per channel; the default (100) would drop signaling bursts. Messages expire anyway.
                "capacity": env_int("CHANNEL_LAYER_CAPACITY", 100_000),
                "expiry": 30,
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "animomeet"),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# WhiteNoise serves /static/ from daphne itself: in development straight from the apps
# (no collectstatic), in production from STATIC_ROOT, filled by `collectstatic`, which
# also writes compressed copies for clients that accept them.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# WhiteNoise would follow DEBUG, which is off unless asked for.
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:  # no collectstatic in development: an absent STATIC_ROOT is expected
    warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")

# --- HTTP hardening -------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = 40 * 1024  # JSON bodies above 40 KB get 413
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
CSRF_TRUSTED_ORIGINS = [o for o in FRONTEND_ORIGINS if o.startswith(("http://", "https://"))]

# --- CORS (django-cors-headers): only the frontend's origins, with credentials ----------
CORS_ALLOWED_ORIGINS = CSRF_TRUSTED_ORIGINS
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_URLS_REGEX = r"^/(api/|$)"
CORS_EXPOSE_HEADERS = ["Retry-After", "X-Request-ID"]  # readable by the frontend's code

# --- Accounts -------------------------------------------------------------------------
AUTH_TOKEN_TTL_SECONDS = env_int("AUTH_TOKEN_TTL_SECONDS", 7 * 24 * 3600)
AUTH_TOKENS_PER_USER = env_int("AUTH_TOKENS_PER_USER", 10)
AUTH_COOKIE_NAME = os.environ.get("AUTH_COOKIE_NAME", "token")
BCRYPT_ROUNDS = env_int("BCRYPT_ROUNDS", 10)
# Logins and signups hash on this many threads, whatever the number of requests: bcrypt
# is CPU work (it releases the GIL), so more threads than cores buy nothing.
PASSWORD_HASH_THREADS = env_int("PASSWORD_HASH_THREADS", 2)

# --- Rate limits (README "Security"): fixed windows in the cache, shared through Redis ---
# Failed logins per client address (any username), and per username (any address);
# past the second only addresses that logged into the account before may still try.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 10)
LOGIN_USERNAME_MAX_FAILURES = env_int("LOGIN_USERNAME_MAX_FAILURES", 100)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
RATE_LIMIT_SIGNUP = env_rate("RATE_LIMIT_SIGNUP", Rate(10, 3600))  # per address
RATE_LIMIT_MEETING_CREATE = env_rate("RATE_LIMIT_MEETING_CREATE", Rate(20, 3600))  # per account
RATE_LIMIT_MEETING_LOOKUP = env_rate("RATE_LIMIT_MEETING_LOOKUP", Rate(60, 300))  # per address
# Per account; a change counts once per username it adds as co-host (each is a look-up).
RATE_LIMIT_MEETING_CHANGE = env_rate("RATE_LIMIT_MEETING_CHANGE", Rate(100, 600))
# How many reverse proxies in front of daphne append to X-Forwarded-For (nginx: 1).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# --- Meetings -------------------------------------------------------------------------
MEETING_TTL_SECONDS = env_int("MEETING_TTL_SECONDS", 7 * 24 * 3600)
if MEETING_TTL_SECONDS < 1:
    raise config_error("MEETING_TTL_SECONDS must be at least 1")

# --- ICE servers (GET /api/v1/ice-servers) ---------------------------------------------
STUN_URLS = env_ice_urls("STUN_URLS", ["stun:stun.l.google.com:19302"], ("stun", "stuns"))
TURN_URLS = env_ice_urls("TURN_URLS", [], ("turn", "turns"))
# Shared with the TURN server (coturn's static-auth-secret); it signs, it is never sent.
TURN_SECRET = os.environ.get("TURN_SECRET", "")
TURN_TTL_S = env_int("TURN_TTL_S", 24 * 3600)
if bool(TURN_URLS) != bool(TURN_SECRET):
    raise config_error("TURN_URLS and TURN_SECRET go together: set both, or neither")
if TURN_TTL_S <= 0:
    raise config_error("TURN_TTL_S must be a positive number of seconds")
ICE_SERVERS_MAX_REQUESTS = env_int("ICE_SERVERS_MAX_REQUESTS", 60)
ICE_SERVERS_WINDOW_SECONDS = env_int("ICE_SERVERS_WINDOW_SECONDS", 60)

# --- Signaling (Engine.IO / Socket.IO) ------------------------------------------------
SIGNALING = {
    "PATH": os.environ.get("SIGNALING_PATH", "/socket.io/"),
    "PING_INTERVAL_MS": env_int("SIGNALING_PING_INTERVAL_MS", 25_000),
    "PING_TIMEOUT_MS": env_int("SIGNALING_PING_TIMEOUT_MS", 20_000),
    "MAX_PAYLOAD_BYTES": env_int("SIGNALING_MAX_PAYLOAD_BYTES", 1_000_000),
    "CONNECT_TIMEOUT_MS": env_int("SIGNALING_CONNECT_TIMEOUT_MS", 45_000),
    "ALLOWED_ORIGINS": FRONTEND_ORIGINS,
    "ALLOW_UNKNOWN_ROOMS": env_bool("SIGNALING_ALLOW_UNKNOWN_ROOMS", False),
    "WAITING_ROOM": env_bool("SIGNALING_WAITING_ROOM", False),
    "WAITING_TIMEOUT_S": env_int("SIGNALING_WAITING_TIMEOUT_S", 120),
    # Per socket: events a second on average, and the burst allowed above that.
    "EVENT_RATE": env_int("SIGNALING_EVENT_RATE", 500),
    "EVENT_BURST": env_int("SIGNALING_EVENT_BURST", 1000),
    # Connection state recovery: how long a socket whose transport was lost waits for its
    # client (0 turns recovery off), and what it keeps for the replay.
    "RECOVERY_WINDOW_S": env_int("SIGNALING_RECOVERY_WINDOW_S", 30),
    "RECOVERY_MAX_PACKETS": env_int("SIGNALING_RECOVERY_MAX_PACKETS", 1000),
    "RECOVERY_MAX_BYTES": env_int("SIGNALING_RECOVERY_MAX_BYTES", 1_000_000),
    # Per socket: what the server sends it alone in answer to its own events.
    "REPLY_BYTES_RATE": env_int("SIGNALING_REPLY_BYTES_RATE", 256 * 1024),
    "REPLY_BYTES_BURST": env_int("SIGNALING_REPLY_BYTES_BURST", 8 * 1024 * 1024),
    # join-calls for rooms that are no meeting (guessed codes), per socket and per address.
    "UNKNOWN_ROOMS_PER_MINUTE": env_int("SIGNALING_UNKNOWN_ROOMS_PER_MINUTE", 10),
    "UNKNOWN_ROOMS_PER_MINUTE_PER_ADDRESS": env_int("SIGNALING_UNKNOWN_ROOMS_PER_MINUTE_PER_ADDRESS", 60),
    # Engine.IO sessions one client address may hold open on one process.
    "MAX_SESSIONS_PER_ADDRESS": env_int("SIGNALING_MAX_SESSIONS_PER_ADDRESS", 50),
    "RESERVE_ACCOUNT_USERNAMES": env_bool("SIGNALING_RESERVE_ACCOUNT_USERNAMES", False),
}
# What animomeet.serve gives a request to arrive whole (request line, headers, body).
HTTP_RECEIVE_TIMEOUT_S = env_int("HTTP_RECEIVE_TIMEOUT_S", 30)
# On SIGTERM (python -m animomeet.serve): how long a worker may take to hand its calls over.
SIGNALING_DRAIN_S = env_int("SIGNALING_DRAIN_S", 10)

# --- Metrics (README "Operations: Metrics"): GET /metrics on a port of each process's own --
METRICS_PORT = env_int("METRICS_PORT", 0)  # 0: no metrics listener
METRICS_ADDRESS = os.environ.get("METRICS_ADDRESS", "").strip() or "127.0.0.1"
# Who may scrape: these addresses or networks, and with METRICS_TOKEN set only with
# `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(entry, strict=False) for entry in env_list("METRICS_ALLOWED_ADDRESSES", ["127.0.0.1", "::1"])
    ]
except ValueError as error:
    raise config_error(f"METRICS_ALLOWED_ADDRESSES: {error}") from None
if any(network.prefixlen == 0 for network in METRICS_ALLOWED_NETWORKS) and not METRICS_TOKEN:
    raise config_error("METRICS_ALLOWED_ADDRESSES lets every address in: set METRICS_TOKEN too")
# What this process is called in the metrics' `process` label and in the admin's live
# calls: stable across restarts when each worker has a metrics port of its own.
PROCESS_NAME = os.environ.get("PROCESS_NAME", "").strip() or f"{socket.gethostname()}:{METRICS_PORT or os.getpid()}"

# --- Logging --------------------------------------------------------------------------
_APP_LOG_LEVEL = "INFO" if PRODUCTION else "DEBUG"  # development stays verbose, DEBUG or not
# plain: one readable line per record; json: one JSON object per line (animomeet.logs).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower() or "plain"
if LOG_FORMAT not in ("plain", "json"):
    raise config_error(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_paths": {"()": "animomeet.logs.RedactPaths"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "animomeet.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "animomeet": {"level": _APP_LOG_LEVEL},
        "accounts": {"level": _APP_LOG_LEVEL},
        "meetings": {"level": _APP_LOG_LEVEL},
        "signaling": {"level": _APP_LOG_LEVEL},
        # Django's own handlers would print some of its lines a second time, unformatted.
        "django": {"handlers": [], "level": "INFO"},
        # Our request log replaces Django's and daphne's access lines; what Django still
        # says about a request (a 500 in a middleware) names no meeting code.
        "django.request": {"level": "ERROR", "filters": ["redact_paths"]},
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
