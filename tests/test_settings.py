"""Settings from the environment: the original backend's variables, and refusals to start."""

import json
import os
import subprocess
import sys

import pytest

from tests.servers import ROOT

GOOD_KEY = "k" * 40
SHOW = "from django.conf import settings as s; import json; print(json.dumps({name: str(getattr(s, name)) for name in %r}))"


def settings_in(env: dict, *names: str) -> subprocess.CompletedProcess:
    """Load the settings in a fresh interpreter with exactly these variables set."""
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, "-c", SHOW % (list(names),)],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "animomeet.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def values(env: dict, *names: str) -> dict:
    result = settings_in(env, *names)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_refuses_to_start_without_a_real_secret_key_with_a_one_line_reason():
    result = settings_in({"NODE_ENV": "production", "PRODUCTION_DB_URL": "mongodb://db/animo"}, "DEBUG")
    assert result.returncode != 0
    assert result.stderr.strip() == "animomeet: configuration error: production needs SECRET_KEY set to a random string of 32+ characters"


def test_production_refuses_to_start_without_a_database_url():
    result = settings_in({"NODE_ENV": "production", "SECRET_KEY": GOOD_KEY}, "DEBUG")
    assert result.returncode != 0
    assert result.stderr.strip() == "animomeet: configuration error: production needs MONGODB_URL or PRODUCTION_DB_URL"


def test_a_malformed_number_is_refused_with_its_name():
    result = settings_in({"PORT": "eighty"}, "PORT")
    assert result.returncode != 0
    assert result.stderr.strip() == "animomeet: configuration error: PORT must be a whole number, not 'eighty'"


def test_a_meeting_ttl_below_one_second_is_refused():
    result = settings_in({"MEETING_TTL_SECONDS": "0"}, "MEETING_TTL_SECONDS")
    assert result.returncode != 0
    assert result.stderr.strip() == "animomeet: configuration error: MEETING_TTL_SECONDS must be at least 1"


def test_production_refuses_to_start_without_its_host_names():
    result = settings_in({"NODE_ENV": "production", "SECRET_KEY": GOOD_KEY, "MONGODB_URL": "mongodb://db/animo"}, "DEBUG")
    assert result.returncode != 0
    assert result.stderr.strip() == "animomeet: configuration error: production needs ALLOWED_HOSTS: the host names this server answers for"


def test_production_reads_the_original_variables_and_turns_debug_off():
    env = {"NODE_ENV": "production", "SECRET_KEY": GOOD_KEY, "PRODUCTION_DB_URL": "mongodb://prod/animo",
           "ALLOWED_HOSTS": "api.meet.example.com", "DEVELOPMENT_DB_URL": "mongodb://dev/animo", "PORT": "9000",
           "FRONTEND_URL": "https://meet.example.com/, https://beta.example.com"}
    got = values(env, "DEBUG", "MONGODB_URL", "PORT", "CORS_ALLOWED_ORIGINS", "SESSION_COOKIE_SECURE")
    assert got == {
        "DEBUG": "False",
        "MONGODB_URL": "mongodb://prod/animo",
        "PORT": "9000",
        "CORS_ALLOWED_ORIGINS": "['https://meet.example.com', 'https://beta.example.com']",
        "SESSION_COOKIE_SECURE": "True",
    }


def test_development_uses_the_development_url_and_mongodb_url_wins_over_both():
    assert values({"DEVELOPMENT_DB_URL": "mongodb://dev/animo"}, "MONGODB_URL") == {
        "MONGODB_URL": "mongodb://dev/animo",
    }
    env = {"DEVELOPMENT_DB_URL": "mongodb://dev/animo", "MONGODB_URL": "mongodb://shared/animo"}
    assert values(env, "MONGODB_URL") == {"MONGODB_URL": "mongodb://shared/animo"}


def test_redis_url_switches_the_channel_layer_and_the_cache_to_redis():
    got = values({"REDIS_URL": "redis://127.0.0.1:6379/3"}, "CHANNEL_LAYERS", "CACHES")
    assert "WaitingRedisChannelLayer" in got["CHANNEL_LAYERS"] and "RedisCache" in got["CACHES"]
    local = values({}, "CHANNEL_LAYERS", "CACHES")
    assert "InMemoryChannelLayer" in local["CHANNEL_LAYERS"] and "LocMemCache" in local["CACHES"]


def test_ice_server_settings_are_read_from_the_environment():
    env = {"STUN_URLS": "stun:turn.example.com:3478, stuns:[2001:db8::1]:5349",
           "TURN_URLS": "turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349?transport=tcp",
           "TURN_SECRET": "s3cret", "TURN_TTL_S": "3600"}
    assert values(env, "STUN_URLS", "TURN_URLS", "TURN_TTL_S") == {
        "STUN_URLS": "['stun:turn.example.com:3478', 'stuns:[2001:db8::1]:5349']",
        "TURN_URLS": "['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349?transport=tcp']",
        "TURN_TTL_S": "3600",
    }


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"TURN_URLS": "turn:turn.example.com:3478"}, "TURN_URLS and TURN_SECRET go together: set both, or neither"),
        ({"TURN_SECRET": "s3cret"}, "TURN_URLS and TURN_SECRET go together: set both, or neither"),
        ({"TURN_URLS": "stun:turn.example.com", "TURN_SECRET": "s"}, "TURN_URLS holds 'stun:turn.example.com', which is no turn: or turns: URL"),
        ({"TURN_URLS": "turn:turn.example.com?transport=sctp", "TURN_SECRET": "s"},
         "TURN_URLS holds 'turn:turn.example.com?transport=sctp', which is no turn: or turns: URL"),
        ({"STUN_URLS": "stun:turn.example.com?transport=udp"},
         "STUN_URLS holds 'stun:turn.example.com?transport=udp', which is no stun: or stuns: URL"),
        ({"TURN_URLS": "turn:t.example.com", "TURN_SECRET": "s", "TURN_TTL_S": "0"}, "TURN_TTL_S must be a positive number of seconds"),
    ],
)
def test_ice_server_misconfiguration_is_refused_at_start_up(env, reason):
    result = settings_in(env, "TURN_URLS")
    assert result.returncode != 0
    assert result.stderr.strip() == f"animomeet: configuration error: {reason}"


def test_debug_pages_only_when_asked_for_and_development_logs_stay_verbose():
    development = values({}, "DEBUG", "ALLOWED_HOSTS", "LOGGING")
    assert development["DEBUG"] == "False"
    assert development["ALLOWED_HOSTS"] == "['localhost', '127.0.0.1', '[::1]']"
    assert "'animomeet': {'level': 'DEBUG'}" in development["LOGGING"]
    assert values({"DEBUG": "true"}, "DEBUG") == {"DEBUG": "True"}
    production = {"NODE_ENV": "production", "SECRET_KEY": GOOD_KEY, "MONGODB_URL": "mongodb://db/a", "ALLOWED_HOSTS": "*"}
    assert "'animomeet': {'level': 'INFO'}" in values(production, "LOGGING")["LOGGING"]


def test_rate_limits_are_read_as_count_per_seconds():
    assert values({"RATE_LIMIT_SIGNUP": "3/60"}, "RATE_LIMIT_SIGNUP") == {"RATE_LIMIT_SIGNUP": "Rate(count=3, seconds=60)"}
    for malformed in ("3", "3/0", "three/60", "-1/60"):
        result = settings_in({"RATE_LIMIT_SIGNUP": malformed}, "RATE_LIMIT_SIGNUP")
        assert result.returncode != 0
        assert result.stderr.strip() == (
            f"animomeet: configuration error: RATE_LIMIT_SIGNUP must be <count>/<seconds> (e.g. 20/3600), not {malformed!r}"
        )
