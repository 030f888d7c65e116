"""What only a MongoDB server over the wire can answer: the TTL monitor, the unique
indexes under simultaneous requests to two processes, the indexes as the server reports
them, and a database restart under a running server.

Skipped on mongomock; `python -m tests.wire_mongo python -m pytest` runs them (CI does).
"""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import mongoengine
import pytest
import requests

from tests.conftest import TEST_DB_NAME
from tests.meeting_helpers import PASSWORD, Rest, running_server, unique
from tests.wire_mongo import WireMongoServer

pytestmark = pytest.mark.wire_mongo

SEVEN_DAYS = 7 * 24 * 3600
# The TTL monitor (mongod's and SecantusDB's) runs once a minute: the TTL test waits up
# to that long.
TTL_MONITOR_DEADLINE_S = 90


@pytest.fixture
def own_database():
    """A database name of the test's own on the run's server, dropped afterwards."""
    name = f"{TEST_DB_NAME}_{uuid.uuid4().hex[:6]}"
    yield name
    mongoengine.get_connection().drop_database(name)


def indexes(database: str, collection: str) -> dict:
    """name -> (keys, unique, TTL) as the server reports them."""
    information = mongoengine.get_connection()[database][collection].index_information()
    return {
        name: (list(index["key"]), bool(index.get("unique")), index.get("expireAfterSeconds"))
        for name, index in information.items()
    }


def test_start_up_creates_the_indexes_the_readme_lists(own_database):
    with running_server(MONGODB_DB_NAME=own_database):
        pass

    assert indexes(own_database, "users") == {
        "_id_": ([("_id", 1)], False, None),
        "username_1": ([("username", 1)], True, None),
        "tokens.digest_1": ([("tokens.digest", 1)], False, None),
    }
    assert indexes(own_database, "meetings") == {
        "_id_": ([("_id", 1)], False, None),
        "meetingCode_1": ([("meetingCode", 1)], True, None),
        "lastActive_1": ([("lastActive", 1)], False, SEVEN_DAYS),
        "hostUsername_1": ([("hostUsername", 1)], False, None),
        "coHostUsernames_1": ([("coHostUsernames", 1)], False, None),
    }


def test_a_changed_meeting_ttl_updates_the_existing_index(own_database):
    with running_server(MONGODB_DB_NAME=own_database):
        pass
    with running_server(MONGODB_DB_NAME=own_database, MEETING_TTL_SECONDS=3600) as server:
        pass

    assert indexes(own_database, "meetings")["lastActive_1"] == ([("lastActive", 1)], False, 3600)
    assert "could not be created" not in server.log()


def test_the_ttl_index_removes_a_meeting_idle_past_the_ttl(own_database):
    with running_server(MONGODB_DB_NAME=own_database, MEETING_TTL_SECONDS=3) as server:
        rest = Rest(server.url)
        code = rest.create_meeting(rest.account("host"))
        assert requests.get(f"{rest.base}/meeting/check-meet/{code}", timeout=10).status_code == 200

        deadline = time.monotonic() + TTL_MONITOR_DEADLINE_S
        while requests.get(f"{rest.base}/meeting/check-meet/{code}", timeout=10).status_code == 200:
            assert time.monotonic() < deadline, f"the meeting was still there after {TTL_MONITOR_DEADLINE_S}s"
            time.sleep(0.5)


def at_once(calls) -> list:
    """Runs the calls on threads released together; their results, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture(scope="module")
def two_processes():
    """Two daphne processes on the run's database, as behind a load balancer."""
    with running_server() as first, running_server() as second:
        yield Rest(first.url), Rest(second.url)


def test_simultaneous_create_meet_with_one_code_gives_one_200_and_one_409(two_processes):
    first, second = two_processes
    host = first.account("host")
    codes = [unique("race") for _ in range(10)]

    def create(rest, code):
        return lambda: requests.post(
            f"{rest.base}/meeting/create-meet/{code}", headers={"Authorization": f"Bearer {host.token}"}, timeout=10
        ).status_code

    for code in codes:
        assert sorted(at_once([create(first, code), create(second, code)])) == [200, 409]
    stored = mongoengine.get_connection()[TEST_DB_NAME].meetings.aggregate(
        [{"$match": {"meetingCode": {"$in": codes}}}, {"$group": {"_id": "$meetingCode", "n": {"$sum": 1}}}]
    )
    assert {group["_id"]: group["n"] for group in stored} == dict.fromkeys(codes, 1)


def test_simultaneous_signups_with_one_username_give_one_201_and_one_409(two_processes):
    usernames = [unique("racer").replace("-", "_") for _ in range(10)]

    def sign_up(rest, username, name):
        body = {"name": name, "username": username, "password": PASSWORD}
        return lambda: requests.post(f"{rest.base}/users/signup", json=body, timeout=10).status_code

    first, second = two_processes
    for username in usernames:
        assert sorted(at_once([sign_up(first, username, "First"), sign_up(second, username, "Second")])) == [201, 409]
    users = mongoengine.get_connection()[TEST_DB_NAME].users
    assert sorted(users.distinct("username", {"username": {"$in": usernames}})) == sorted(usernames)
    assert users.count_documents({"username": {"$in": usernames}}) == len(usernames)


def assert_clean_503(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"message"}
    assert "Traceback" not in response.text


def test_a_database_restart_gives_503s_and_the_server_recovers_by_itself(tmp_path):
    database = WireMongoServer(storage=tmp_path / "db", durable=True).start()
    try:
        with running_server(
            MONGODB_URL=database.url, MONGODB_DB_NAME="restart", MONGODB_SERVER_SELECTION_TIMEOUT_MS=1000
        ) as server:
            rest = Rest(server.url)
            host = rest.account("host")
            code = rest.create_meeting(host)

            database.kill()
            assert_clean_503(requests.get(f"{rest.base}/meeting/check-meet/{code}", timeout=10))
            assert_clean_503(
                requests.post(f"{rest.base}/users/login", json={"username": host.username, "password": PASSWORD}, timeout=10)
            )
            assert_clean_503(
                requests.post(
                    f"{rest.base}/meeting/create-meet/{unique('down')}",
                    headers={"Authorization": f"Bearer {host.token}"},
                    timeout=10,
                )
            )

            database.start()
            deadline = time.monotonic() + 30
            while (answer := requests.get(f"{rest.base}/meeting/check-meet/{code}", timeout=10)).status_code != 200:
                assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
                time.sleep(0.2)
            assert answer.json()["meeting"]["hostUsername"] == host.username
            assert rest.create_meeting(host)
        assert "Traceback" not in server.log() and " 500 " not in server.log()
    finally:
        database.stop()
