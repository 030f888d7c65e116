"""/api/v1/users: signup, login, verify-user, logout, sessions, cookie auth and its CSRF guard."""

import time
from datetime import timedelta

import pytest
from django.test import Client

from accounts.documents import User
from accounts.credentials import token_digest
from accounts.selectors import user_for_token, username_exists
from animomeet.clock import utcnow
from tests.rest_helpers import FRONTEND, PASSWORD, bearer, login, post_json, signed_up_token, signup

pytestmark = pytest.mark.usefixtures("rest_settings")

# --- signup -----------------------------------------------------------------------------


def test_signup_answers_exactly_201_and_stores_a_bcrypt_hash(client):
    response = signup(client, username="alice", name="Alice A", password=PASSWORD)

    assert response.status_code == 201
    assert response.json() == {"message": "User registered successfully"}
    user = User.objects.get(username="alice")
    assert user.name == "Alice A"
    assert user.password.startswith("$2b$") and PASSWORD not in user.password


def test_signup_with_a_taken_username_is_409(client):
    signup(client, username="alice")

    response = signup(client, username="alice", name="Other")

    assert response.status_code == 409
    assert response.json() == {"message": "User already exists ! Try a different username"}
    assert User.objects(username="alice").count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": PASSWORD},
        {"name": "Alice", "password": PASSWORD},
        {"name": "Alice", "username": "alice"},
        {"name": "", "username": "alice", "password": PASSWORD},
        {"name": "   ", "username": "alice", "password": PASSWORD},
        {"name": "Alice", "username": "", "password": PASSWORD},
        {"name": "Alice", "username": "alice", "password": ""},
        {"name": None, "username": "alice", "password": PASSWORD},
        {"name": 42, "username": "alice", "password": PASSWORD},
        {"name": "Alice", "username": ["alice"], "password": PASSWORD},
        {"name": "Alice", "username": "alice", "password": 12345678},
        {"name": "Alice", "username": {"$ne": ""}, "password": PASSWORD},
        {"name": "Alice", "username": "al ice", "password": PASSWORD},
        {"name": "Alice", "username": "alice$", "password": PASSWORD},
        {"name": "Alice", "username": "ålice", "password": PASSWORD},
    ],
)
def test_signup_refuses_missing_empty_or_ill_typed_fields_with_400(client, body):
    response = post_json(client, "/api/v1/users/signup", body)

    assert response.status_code == 400
    assert set(response.json()) == {"message"}
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    "field, value, accepted",
    [
        ("name", "n" * 100, True),
        ("name", "n" * 101, False),
        ("username", "u" * 50, True),
        ("username", "u" * 51, False),
        ("username", "A.b_c-9", True),
        ("password", "p" * 8, True),
        ("password", "p" * 7, False),
        ("password", "p" * 128, True),
        ("password", "p" * 129, False),
    ],
)
def test_signup_length_limits(client, field, value, accepted):
    body = {"name": "Alice", "username": "alice", "password": PASSWORD, field: value}

    response = post_json(client, "/api/v1/users/signup", body)

    assert response.status_code == (201 if accepted else 400)
    assert User.objects.count() == (1 if accepted else 0)


@pytest.mark.parametrize(
    "raw, content_type",
    [
        ("not json", "application/json"),
        ('{"name": "Alice",', "application/json"),
        ('["Alice", "alice", "pw"]', "application/json"),
        ("null", "application/json"),
        ("", "application/json"),
        ('{"name": "Alice", "username": "alice", "password": "long enough"}', "text/plain"),
        ("name=Alice&username=alice&password=long+enough", "application/x-www-form-urlencoded"),
    ],
)
def test_signup_refuses_bodies_that_are_not_a_json_object(client, raw, content_type):
    response = client.post("/api/v1/users/signup", raw, content_type=content_type)

    assert response.status_code == 400
    assert "message" in response.json()


def test_a_body_over_40_kb_is_413(client):
    body = {"name": "n" * (41 * 1024), "username": "alice", "password": PASSWORD}

    response = post_json(client, "/api/v1/users/signup", body)

    assert response.status_code == 413
    assert response.json() == {"message": "Request body is larger than 40 KB"}


# --- login ------------------------------------------------------------------------------


def test_login_returns_a_token_and_sets_an_httponly_cookie(client):
    signup(client, username="alice", name="Alice A")

    response = login(client, username="alice")

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["token", "message", "username", "name"]
    assert body["message"] == "login successful"
    assert (body["username"], body["name"]) == ("alice", "Alice A")
    assert len(body["token"]) == 40 and int(body["token"], 16) >= 0
    cookie = response.cookies["token"]
    assert cookie.value == body["token"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == 7 * 24 * 3600
    assert not cookie["secure"]


def test_in_production_the_cookie_is_secure_and_cross_site(client, settings):
    settings.PRODUCTION = True
    signup(client)

    cookie = login(client).cookies["token"]

    assert cookie["secure"] is True
    assert cookie["samesite"] == "None"


def test_only_a_digest_of_the_token_is_stored(client):
    token = signed_up_token("alice")

    stored = User.objects.get(username="alice").to_mongo().to_dict()

    assert token not in repr(stored)
    assert [session["digest"] for session in stored["tokens"]] == [token_digest(token)]


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "alice"}, {"password": PASSWORD}, {"username": "", "password": PASSWORD},
     {"username": "alice", "password": None}, {"username": 7, "password": PASSWORD},
     {"username": "alice", "password": ["x"]}],
)
def test_login_without_all_credentials_is_400(client, body):
    response = post_json(client, "/api/v1/users/login", body)

    assert response.status_code == 400
    assert response.json() == {"message": "Please provide all credentials"}


def test_login_of_an_unknown_user_is_404(client):
    response = login(client, username="nobody")

    assert response.status_code == 404
    assert response.json() == {"message": "User not found"}


def test_login_with_a_wrong_password_is_401_and_sets_no_cookie(client):
    signup(client)

    response = login(client, password="wrong password")

    assert response.status_code == 401
    assert response.json() == {"message": "invalid credentials"}
    assert "token" not in response.cookies


def test_only_the_newest_sessions_are_kept(client, settings):
    settings.AUTH_TOKENS_PER_USER = 3
    signup(client)
    tokens = [login(client).json()["token"] for _ in range(5)]

    answers = [Client().get("/api/v1/users/verify-user", headers=bearer(t)).status_code for t in tokens]

    assert answers == [401, 401, 200, 200, 200]


# --- login rate limit -------------------------------------------------------------------


@pytest.fixture
def three_failures_allowed(settings):
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 600


@pytest.mark.usefixtures("three_failures_allowed")
def test_failures_for_a_username_from_elsewhere_do_not_lock_its_owner_out(client):
    signup(client)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        assert login(client, password="wrong password", REMOTE_ADDR=address).status_code == 401

    # The owner, from an address of their own, with the right password.
    assert login(client, REMOTE_ADDR="10.0.0.5").status_code == 200


@pytest.mark.usefixtures("three_failures_allowed")
def test_past_the_username_limit_only_addresses_it_logged_in_from_may_try(client, settings):
    settings.LOGIN_USERNAME_MAX_FAILURES = 4
    signup(client)
    assert login(client, REMOTE_ADDR="10.0.0.100").status_code == 200  # the owner's usual address
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        assert login(client, password="wrong password", REMOTE_ADDR=address).status_code == 401

    stranger = login(client, REMOTE_ADDR="10.0.0.5")
    owner = login(client, REMOTE_ADDR="10.0.0.100")

    assert stranger.status_code == 429
    assert stranger.json() == {"message": "Too many failed login attempts. Try again later"}
    assert 1 <= int(stranger["Retry-After"]) <= 600
    assert owner.status_code == 200
    assert login(client, username="bob", REMOTE_ADDR="10.0.0.6").status_code == 404


@pytest.mark.usefixtures("three_failures_allowed")
def test_repeated_failures_from_an_address_are_refused_with_429(client):
    signup(client, username="alice")
    for username in ("x1", "x2", "x3"):
        assert login(client, username=username, REMOTE_ADDR="10.0.0.9").status_code == 404

    refused = login(client, username="alice", REMOTE_ADDR="10.0.0.9")
    elsewhere = login(client, username="alice", REMOTE_ADDR="10.0.0.10")

    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused.json() == {"message": "Too many failed login attempts. Try again later"}
    assert elsewhere.status_code == 200


def test_the_default_limits_refuse_the_eleventh_failure_from_an_address(client):
    signup(client)
    answers = [login(client, password=f"guess {n}", REMOTE_ADDR="10.0.2.1").status_code for n in range(11)]

    assert answers == [401] * 10 + [429]


@pytest.mark.usefixtures("three_failures_allowed")
def test_the_limit_ends_with_its_window(client, settings):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 1
    signup(client)
    for _ in range(3):
        login(client, password="wrong password")
    assert login(client).status_code == 429

    time.sleep(1.1)

    assert login(client).status_code == 200


@pytest.mark.usefixtures("three_failures_allowed")
def test_behind_a_proxy_the_address_is_the_one_the_proxy_appended(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    signup(client)
    # The client may put anything left of the proxy's entry; only 203.0.113.7 counts.
    for spoofed in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
        forwarded = f"{spoofed}, 203.0.113.7"
        login(client, username=f"x{spoofed}", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)

    blocked = login(client, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="4.4.4.4, 203.0.113.7")
    other_client = login(client, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.8")

    assert blocked.status_code == 429
    assert other_client.status_code == 200


# --- verify-user and authentication -------------------------------------------------------


def test_verify_user_by_header(client):
    signup(client, username="alice", name="Alice A")
    token = login(Client(), username="alice").json()["token"]
    before = int(time.time() * 1000)

    response = client.get("/api/v1/users/verify-user", headers=bearer(token))

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "User validated"
    assert (body["name"], body["username"], body["token"]) == ("Alice A", "alice", token)
    assert before <= body["time"] <= int(time.time() * 1000)


def test_verify_user_by_the_login_cookie_returns_the_token(client):
    signup(client)
    token = login(client).json()["token"]  # the client keeps the cookie

    response = client.get("/api/v1/users/verify-user")

    assert response.status_code == 200
    assert response.json()["token"] == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Token abc", "bearer " + "a" * 40])
def test_no_or_malformed_header_is_401_no_token_provided(client, header):
    headers = {"Authorization": header} if header is not None else {}

    response = client.get("/api/v1/users/verify-user", headers=headers)

    assert response.status_code == 401
    assert response.json() == {"message": "no token provided"}


@pytest.mark.parametrize("token", ["a" * 40, "null", "undefined", "x" * 500])
def test_an_unknown_token_is_401_invalid_token(client, token):
    signed_up_token("alice")

    response = client.get("/api/v1/users/verify-user", headers=bearer(token))

    assert response.status_code == 401
    assert response.json() == {"message": "Invalid token, login again"}


def test_bearer_null_from_the_web_client_falls_back_to_its_cookie(client):
    signup(client)
    login(client)

    response = client.get("/api/v1/users/verify-user", headers={"Authorization": "Bearer null"})

    assert response.status_code == 200


def test_a_stale_cookie_is_401_and_cleared(client):
    client.cookies["token"] = "b" * 40

    response = client.get("/api/v1/users/verify-user")

    assert response.status_code == 401
    assert response.json() == {"message": "Invalid token, login again"}
    assert response.cookies["token"].value == ""
    assert response.cookies["token"]["max-age"] == 0


def test_an_expired_token_is_refused(client):
    token = signed_up_token("alice")
    assert client.get("/api/v1/users/verify-user", headers=bearer(token)).status_code == 200

    User.objects(username="alice").update(__raw__={"$set": {"tokens.0.expiresAt": utcnow() - timedelta(seconds=1)}})

    response = client.get("/api/v1/users/verify-user", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid token, login again"}


# --- logout -----------------------------------------------------------------------------


def test_logout_revokes_the_token_server_side(client):
    token = signed_up_token("alice")
    other_session = login(Client()).json()["token"]

    response = post_json(client, "/api/v1/users/logout", {}, headers=bearer(token))

    assert response.status_code == 200
    assert response.json() == {"message": "Logged out successfully"}
    assert client.get("/api/v1/users/verify-user", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/users/verify-user", headers=bearer(other_session)).status_code == 200


def test_logout_by_cookie_clears_the_cookie(client):
    signup(client)
    token = login(client).json()["token"]

    response = client.post("/api/v1/users/logout", headers={"Origin": FRONTEND})

    assert response.status_code == 200
    assert response.cookies["token"].value == ""
    assert client.get("/api/v1/users/verify-user", headers=bearer(token)).status_code == 401


def test_logout_without_a_token_is_401(client):
    assert client.post("/api/v1/users/logout").status_code == 401


# --- CSRF guard for cookie-authenticated state changes ------------------------------------


def test_a_cookie_authenticated_post_from_a_foreign_origin_is_403(client):
    signup(client)
    token = login(client).json()["token"]

    response = client.post("/api/v1/users/logout", headers={"Origin": "https://evil.example"})

    assert response.status_code == 403
    assert "message" in response.json()
    assert Client().get("/api/v1/users/verify-user", headers=bearer(token)).status_code == 200


def test_a_cookie_authenticated_post_without_origin_or_referer_is_403(client):
    signup(client)
    login(client)

    assert client.post("/api/v1/users/logout").status_code == 403


def test_a_cookie_authenticated_post_with_a_frontend_referer_is_accepted(client):
    signup(client)
    login(client)

    response = client.post("/api/v1/users/logout", headers={"Referer": FRONTEND + "/home"})

    assert response.status_code == 200


def test_a_bearer_authenticated_post_needs_no_origin(client):
    token = signed_up_token("alice")

    assert client.post("/api/v1/users/logout", headers=bearer(token)).status_code == 200


def test_username_exists_and_user_for_token_as_signaling_uses_them():
    token = signed_up_token("alice")

    assert username_exists("alice") and not username_exists("Alice") and not username_exists("bob")
    assert user_for_token(token).username == "alice"
    assert user_for_token("f" * 40) is None and user_for_token(None) is None
