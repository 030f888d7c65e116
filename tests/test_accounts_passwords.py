"""Password hashing at the real cost, and hashes written by the Node backend."""

import bcrypt
import pytest
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
