"""Shared fixtures: a database of its own per test run, real daphne processes."""

import os
import uuid

import mongoengine
import pytest
import redis

from tests.clients.node_client import NodeClients
from tests.servers import CLUSTER_PING_INTERVAL_MS, CLUSTER_PING_TIMEOUT_MS, CLUSTER_SETTINGS, DaphneServer, PrivateRedis

# The REST tests' fixtures (rest_settings, fresh_cache, announcements), for every module.
pytest_plugins = ["tests.rest_helpers"]

# One database name per run, shared with the daphne processes the tests start, so that
# a run against a real MongoDB (MONGODB_URL) never touches another run's data.
TEST_DB_NAME = f"animomeet_test_{uuid.uuid4().hex[:12]}"


def pytest_runtest_setup(item):
    from django.conf import settings

    if item.get_closest_marker("wire_mongo") and not settings.MONGODB_URL:
        pytest.skip(
            "needs a MongoDB server over the wire; mongomock cannot answer this "
            "(run `python -m tests.wire_mongo python -m pytest`, or set MONGODB_URL)"
        )


@pytest.fixture(scope="session", autouse=True)
def mongo_database():
    from django.conf import settings

    from accounts.documents import User
    from animomeet import mongo
    from meetings.documents import Meeting

    mongo.connect(settings.MONGODB_URL, TEST_DB_NAME)
    mongo.ensure_indexes(User, Meeting)
    yield
    mongoengine.get_connection().drop_database(TEST_DB_NAME)
    mongoengine.disconnect()


@pytest.fixture(autouse=True)
def empty_collections(mongo_database):
    """Each test starts with no users and no meetings."""
    from accounts.documents import User
    from meetings.documents import Meeting

    User.objects.delete()
    Meeting.objects.delete()
    yield


@pytest.fixture(scope="session")
def redis_url():
    """A Redis database of the tests' own (TEST_REDIS_URL, default DB 14 of the local
    server), flushed before and after the run. CI starts Redis, so there its absence is a
    failure; on a bare machine the tests that need it are skipped."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"the tests need the Redis server at {url}")
        pytest.skip(f"no Redis server at {url} (set TEST_REDIS_URL)")
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def private_redis(redis_url):  # needs the machine's Redis too: it proves redis-server is installed
    server = PrivateRedis().start()
    yield server
    server.kill()


def server_env(**overrides) -> dict:
    env = {"MONGODB_DB_NAME": TEST_DB_NAME, "NODE_ENV": "development"}
    env.update({k: str(v) for k, v in overrides.items()})
    return env


@pytest.fixture
def start_server():
    """Start daphne processes with extra environment (and daphne options); all are
    stopped after the test."""
    started = []

    def start(app: str = "animomeet.asgi:application", *, daphne_args: tuple = (), **env) -> DaphneServer:
        server = DaphneServer(app, env=server_env(**env), daphne_args=daphne_args).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live_server_url(start_server):
    """The URL of a fresh daphne process serving the whole project."""
    return start_server().url


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "animomeet.settings")


@pytest.fixture
def cluster(start_server, redis_url):
    """Start n processes sharing one Redis namespace of their own."""

    def start(n: int, **env):
        settings = {
            "REDIS_URL": redis_url,
            "CHANNEL_LAYER_PREFIX": f"t{uuid.uuid4().hex[:8]}",
            "SIGNALING_ALLOW_UNKNOWN_ROOMS": "true",
            "SIGNALING_PING_INTERVAL_MS": CLUSTER_PING_INTERVAL_MS,
            "SIGNALING_PING_TIMEOUT_MS": CLUSTER_PING_TIMEOUT_MS,
            **env,
        }
        return [start_server(**settings) for _ in range(n)]

    def add_like(server):
        """One more process of the same cluster."""
        return start_server(**{k: v for k, v in server.env.items() if k in CLUSTER_SETTINGS})

    start.add_like = add_like
    return start


@pytest.fixture
def nc():
    """Official socket.io-client instances, driven from Node."""
    with NodeClients() as node:
        yield node
