"""Password hashing at the real cost, hashes written by the Node backend, and hashing
that leaves the other requests of the process alone."""

import time
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import pytest
import requests
from django.test import Client

from accounts.documents import User
from tests.rest_helpers import login, signup

pytestmark = pytest.mark.usefixtures("fresh_cache")

# OpenBSD's bcrypt test vector for the password "U*U", in the $2a$ form of older Node hashes.
NODE_2A_HASH = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"


def test_signup_hashes_with_bcrypt_cost_10():
    assert signup(Client(), username="alice", password="password123").status_code == 201

    hashed = User.objects.get(username="alice").password

    assert hashed.startswith("$2b$10$")
    assert bcrypt.checkpw(b"password123", hashed.encode())


def test_a_2a_hash_from_the_node_backend_still_logs_in():
    User(name="Old", username="old", password=NODE_2A_HASH).save()

    assert login(Client(), username="old", password="U*U").status_code == 200
    assert login(Client(), username="old", password="U*V").status_code == 401


def test_a_node_user_with_a_password_past_72_bytes_logs_in_as_node_would_check_it():
    long_password = "é" * 50  # 100 bytes of UTF-8; Node's bcrypt hashed the first 72
    node_hash = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    User(name="Old", username="old", password=node_hash).save()

    assert login(Client(), username="old", password=long_password).status_code == 200
    assert login(Client(), username="old", password="é" * 35).status_code == 401


def test_a_user_document_without_a_usable_hash_cannot_log_in():
    User.objects.insert(User(name="Broken", username="broken", password="not a hash"))

    response = login(Client(), username="broken", password="whatever1")

    assert response.status_code == 401
    assert response.json() == {"message": "invalid credentials"}


def test_logins_hash_one_batch_at_a_time_and_the_other_requests_go_on(start_server):
    # Django runs each request's synchronous code in a thread of its own: a burst of logins
    # would be as many bcrypt threads competing for the cores with every other request.
    # They hash on PASSWORD_HASH_THREADS threads instead, here one: four logins at cost 12
    # (about 0.25 s each) finish one after another, and a check-meet is answered meanwhile.
    server = start_server(BCRYPT_ROUNDS=12, PASSWORD_HASH_THREADS=1)
    api = f"{server.url}/api/v1"
    credentials = {"username": "dana", "password": "long enough"}
    assert requests.post(f"{api}/users/signup", json={"name": "Dana", **credentials}, timeout=10).status_code == 201
    finished = []

    def log_in():
        response = requests.post(f"{api}/users/login", json=credentials, timeout=30)
        finished.append(time.monotonic())
        return response.status_code

    with ThreadPoolExecutor(4) as pool:
        started = time.monotonic()
        logins = [pool.submit(log_in) for _ in range(4)]
        time.sleep(0.1)  # the four at the server
        check_meet = requests.get(f"{api}/meeting/check-meet/abc-defg-hij", timeout=30)
        answered = time.monotonic()
        statuses = [login.result() for login in logins]

    assert statuses == [200] * 4 and check_meet.status_code == 404
    first, last = min(finished), max(finished)
    assert answered < last  # not behind the logins
    # One at a time, the last ends about three hashes after the first; all at once, with it.
    assert last - first >= first - started
