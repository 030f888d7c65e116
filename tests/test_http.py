"""HTTP behaviour around the views: JSON 404/405/500/503, request ids and logs, CORS, and the
whole stack under a real daphne process."""

import logging
import uuid

import pytest
import requests
from pymongo.errors import ServerSelectionTimeoutError

from meetings import selectors as meeting_selectors
from tests.rest_helpers import FRONTEND, PASSWORD, bearer, login, signup

pytestmark = pytest.mark.usefixtures("rest_settings")


def test_home_answers_i_am_home(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response.content == b"I am home"


@pytest.mark.parametrize(
    "body",
    [
        "[" * 30000,  # nested deeper than the parser's recursion
        '{"name": "\\ud800", "username": "x1", "password": "long enough"}',  # a lone surrogate
        '{"name": "Ann", "username": "x2", "password": "long enough \\udfff"}',
    ],
    ids=["nesting bomb", "lone surrogate in name", "lone surrogate in password"],
)
def test_hostile_json_is_a_400_not_a_500(client, rest_settings, body):
    response = client.post("/api/v1/users/signup", body, content_type="application/json")
    assert response.status_code == 400 and "message" in response.json()


def test_a_query_with_too_many_fields_is_a_json_400(client, settings):
    settings.DEBUG = True  # the development request log reads the query too
    query = "&".join(f"f{i}=1" for i in range(1100))
    response = client.get(f"/api/v1/meeting/check-host?username=a&meetingCode=abc&{query}")
    assert response.status_code == 400 and response.json() == {"message": "Bad request"}


def test_made_up_usernames_do_not_count_and_an_ipv6_client_counts_as_its_64(client, rest_settings, settings):
    settings.LOGIN_MAX_FAILURES = 2
    # Failures for names nobody has do not lock anyone; the address still counts them.
    for n in range(2):
        response = client.post("/api/v1/users/login", {"username": f"ghost{n}", "password": "x"},
                               content_type="application/json", REMOTE_ADDR="2001:db8:1:2::10")
        assert response.status_code == 404
    # Another address in the same /64 is the same client.
    neighbour = client.post("/api/v1/users/login", {"username": "ghost9", "password": "x"},
                            content_type="application/json", REMOTE_ADDR="2001:db8:1:2:ffff::1")
    elsewhere = client.post("/api/v1/users/login", {"username": "ghost0", "password": "x"},
                            content_type="application/json", REMOTE_ADDR="2001:db8:1:3::10")
    assert neighbour.status_code == 429 and elsewhere.status_code == 404


def test_json_is_written_as_the_node_backend_wrote_it(client, rest_settings):
    # Express's res.json: compact, UTF-8 left as it is, this exact content type.
    response = signup(client, name="Zoë Ångström", username="zoe")
    assert response.content == b'{"message":"User registered successfully"}'
    assert response["Content-Type"] == "application/json; charset=utf-8"
    token = login(client, username="zoe").json()["token"]
    verified = client.get("/api/v1/users/verify-user", headers=bearer(token))
    assert '"name":"Zoë Ångström"'.encode() in verified.content


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_paths_answer_json_404(client, method):
    response = client.generic(method, "/api/v1/nothing/here")

    assert response.status_code == 404
    assert response.json() == {"message": "Not found"}


def test_a_wrong_method_answers_json_405_with_allow(client):
    response = client.get("/api/v1/users/login")

    assert response.status_code == 405
    assert response.json() == {"message": "Method GET not allowed"}
    assert response["Allow"] == "POST"


def test_an_unexpected_error_is_a_bare_json_500_logged_with_its_request_id(client, monkeypatch, caplog):
    def broken(code):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(meeting_selectors, "find_meeting", broken)

    with caplog.at_level(logging.ERROR, logger="animomeet.request"):
        response = client.get("/api/v1/meeting/check-meet/abc-defg-hij", headers={"X-Request-ID": "req-42"})

    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error"}
    assert b"hunter2" not in response.content
    assert response["X-Request-ID"] == "req-42"
    [record] = [r for r in caplog.records if r.name == "animomeet.request"]
    assert "id=req-42" in record.getMessage()
    assert "hunter2" in str(record.exc_info[1])


def test_an_unreachable_database_is_a_json_503_logged_in_one_line(client, monkeypatch, caplog):
    def unreachable(code):
        raise ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")

    monkeypatch.setattr(meeting_selectors, "find_meeting", unreachable)

    with caplog.at_level(logging.WARNING, logger="animomeet.request"):
        response = client.get("/api/v1/meeting/check-meet/abc-defg-hij", headers={"X-Request-ID": "req-43"})

    assert response.status_code == 503
    assert response.json() == {"message": "Service temporarily unavailable, try again shortly"}
    assert response["Retry-After"] == "5"
    [record] = [r for r in caplog.records if r.name == "animomeet.request" and r.levelno >= logging.WARNING]
    assert "ServerSelectionTimeoutError" in record.getMessage() and "id=req-43" in record.getMessage()
    assert record.exc_info is None


def test_a_request_id_is_made_when_none_or_a_garbled_one_is_given(client):
    plain = client.get("/")
    garbled = client.get("/", headers={"X-Request-ID": "a b\nforged log line"})

    assert len(plain["X-Request-ID"]) == 32
    assert garbled["X-Request-ID"] != "a b\nforged log line" and len(garbled["X-Request-ID"]) == 32


def test_one_log_line_per_request_and_no_secrets_in_the_log(client, caplog):
    signup(client)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="animomeet.request"):
        token = login(client, headers={"X-Request-ID": "login-1"}).json()["token"]
        client.get(f"/api/v1/users/verify-user?token={token}&password={PASSWORD}&view=full", headers=bearer(token))

    lines = [r.getMessage() for r in caplog.records if r.name == "animomeet.request"]
    info = [r.getMessage() for r in caplog.records if r.name == "animomeet.request" and r.levelno == logging.INFO]
    assert info[0].startswith("POST /api/v1/users/login 200 ") and info[0].endswith("id=login-1")
    assert info[1].startswith("GET /api/v1/users/verify-user 200 ")
    assert len(info) == 2
    assert any("view=full" in line for line in lines)  # the debug detail is there...
    assert not any(token in line or PASSWORD in line for line in lines)  # ...without the secrets


def test_meeting_codes_stay_out_of_the_request_log(client, caplog):
    with caplog.at_level(logging.INFO, logger="animomeet.request"):
        client.get("/api/v1/meeting/check-meet/abc-defg-hij")
    lines = [r.getMessage() for r in caplog.records if r.name == "animomeet.request"]
    assert lines[0].startswith("GET /api/v1/meeting/check-meet/*** 404 ")
    assert not any("abc-defg-hij" in line for line in lines)


def test_cors_preflight_from_the_frontend_is_allowed_with_credentials(client):
    response = client.options(
        "/api/v1/users/login",
        headers={"Origin": FRONTEND, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONTEND
    assert response["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "content-type" in response["Access-Control-Allow-Headers"]


def test_cors_preflight_from_another_origin_gets_no_allow_headers(client):
    response = client.options(
        "/api/v1/users/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Credentials" not in response


def test_a_cross_origin_response_to_the_frontend_carries_cors_headers(client):
    response = client.get("/api/v1/meeting/check-meet/abc-defg-hij", headers={"Origin": FRONTEND})

    assert response.status_code == 404
    assert response["Access-Control-Allow-Origin"] == FRONTEND


# --- a real daphne process ----------------------------------------------------------------


def test_the_rest_api_under_daphne(live_server_url):
    api = live_server_url + "/api/v1"
    browser = requests.Session()
    user = {"name": "Dana", "username": "dana", "password": PASSWORD}

    assert requests.post(f"{api}/users/signup", json=user, timeout=5).status_code == 201
    logged_in = browser.post(f"{api}/users/login", json={"username": "dana", "password": PASSWORD}, timeout=5)
    assert logged_in.status_code == 200
    token = logged_in.json()["token"]
    assert "token" in browser.cookies

    # The cookie alone authenticates, as the web client does it.
    assert browser.get(f"{api}/users/verify-user", timeout=5).json()["token"] == token
    created = browser.post(f"{api}/meeting/create-meet/abc-defg-hij", headers={"Origin": FRONTEND}, timeout=5)
    assert created.status_code == 200
    taken = requests.get(f"{api}/meeting/check-code/abc-defg-hij", headers=bearer(token),
                         allow_redirects=False, timeout=5)
    assert taken.status_code == 302 and "Location" not in taken.headers
    found = requests.get(f"{api}/meeting/check-meet/abc-defg-hij", timeout=5).json()
    assert found["meeting"]["hostUsername"] == "dana"
    assert requests.post(f"{api}/users/signup", data=b"x" * (41 * 1024),
                         headers={"Content-Type": "application/json"}, timeout=5).status_code == 413
    assert browser.post(f"{api}/users/logout", headers={"Origin": FRONTEND}, timeout=5).status_code == 200
    assert requests.get(f"{api}/users/verify-user", headers=bearer(token), timeout=5).status_code == 401


MANY_FIELDS = "&".join(f"f{i}=1" for i in range(1100))


def test_by_default_no_request_gets_a_debug_page(start_server):
    live_server_url = start_server(DEBUG="").url  # unset, whatever a .env file says
    forged = requests.get(f"{live_server_url}/api/v1/meeting/check-meet/abc-defg-hij",
                          headers={"Host": "evil.example"}, timeout=5)
    malformed = requests.get(f"{live_server_url}/", headers={"Host": "bad host!"}, timeout=5)
    unknown = requests.get(f"{live_server_url}/no/such/page", timeout=5)
    admin_fields = requests.get(f"{live_server_url}/admin/login/?{MANY_FIELDS}", timeout=5)

    for refused in (forged, malformed, admin_fields):
        assert refused.status_code == 400 and refused.json() == {"message": "Bad request"}
    # No list of the routes either.
    assert unknown.status_code == 404 and unknown.json() == {"message": "Not found"}


def test_with_debug_pages_on_a_bad_host_or_query_is_still_a_json_400(start_server):
    server = start_server(DEBUG="true")

    forged = requests.get(f"{server.url}/", headers={"Host": "evil.example"}, timeout=5)
    admin_fields = requests.get(f"{server.url}/admin/login/?{MANY_FIELDS}", timeout=5)

    for refused in (forged, admin_fields):
        assert refused.status_code == 400 and refused.json() == {"message": "Bad request"}
        assert b"REDIS_URL" not in refused.content and b"MONGODB" not in refused.content


@pytest.mark.redis
def test_login_failures_count_across_server_processes_sharing_redis(start_server, redis_url):
    settings = {"REDIS_URL": redis_url, "LOGIN_MAX_FAILURES": 2, "LOGIN_FAILURE_WINDOW_SECONDS": 30,
                "TRUSTED_PROXY_COUNT": 1}
    first, second = start_server(**settings), start_server(**settings)
    username = f"user{uuid.uuid4().hex[:10]}"
    # An address of this run's own, through the trusted proxy header.
    address = {"X-Forwarded-For": f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"}
    credentials = {"username": username, "password": "wrong password"}

    # One failure on each process; the address's shared counter then refuses the third.
    for server in (first, second):
        assert requests.post(f"{server.url}/api/v1/users/login", json=credentials, headers=address,
                             timeout=5).status_code == 404
    refused = requests.post(f"{first.url}/api/v1/users/login", json=credentials, headers=address, timeout=5)

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) <= 30
