"""Settings, read from the environment (and from a `.env` file when one is present).

The original Node backend's variables keep their meaning: PORT, NODE_ENV, FRONTEND_URL,
DEVELOPMENT_DB_URL, PRODUCTION_DB_URL, SECRET_KEY. Everything else is new and optional.
"""

import os
from pathlib import Path

import dj_database_url
from dotenv import load_dotenv

from animomeet.config import config_error, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")

NODE_ENV = os.environ.get("NODE_ENV", "development").strip().lower() or "development"
if NODE_ENV not in ("development", "production"):
    raise config_error(f"NODE_ENV must be development or production, not {NODE_ENV!r}")
PRODUCTION = NODE_ENV == "production"
DEBUG = not PRODUCTION

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

REDIS_URL = os.environ.get("REDIS_URL", "")

if PRODUCTION:
    if SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 32:
        raise config_error("production needs SECRET_KEY set to a random string of 32+ characters")
    if not MONGODB_URL:
        raise config_error("production needs MONGODB_URL or PRODUCTION_DB_URL")

FRONTEND_ORIGINS = env_list("FRONTEND_URL", ["http://localhost:5173"])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"])

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
    "animomeet.middleware.RequestLogMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
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

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

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
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 10)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
# How many reverse proxies in front of daphne append to X-Forwarded-For (nginx: 1).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# --- Meetings -------------------------------------------------------------------------
MEETING_TTL_SECONDS = 7 * 24 * 3600

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

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "animomeet": {"level": "DEBUG" if DEBUG else "INFO"},
        "accounts": {"level": "DEBUG" if DEBUG else "INFO"},
        "meetings": {"level": "DEBUG" if DEBUG else "INFO"},
        "signaling": {"level": "DEBUG" if DEBUG else "INFO"},
        # Our request log replaces Django's and daphne's access lines.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
