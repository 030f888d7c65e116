"""GET /api/v1/ice-servers: the STUN list, TURN credentials for a user or a guest, refusals.

That coturn accepts the credentials (and refuses expired, forged and wrong-secret ones)
is in tests/test_coturn.py.
"""

import base64
import hashlib
import hmac
import re
import time

import pytest

from meetings.ice_servers import IceConfig, ice_servers, turn_user
from meetings.services import create_meeting
from tests.rest_helpers import bearer, signed_up_token

pytestmark = pytest.mark.usefixtures("rest_settings")

URL = "/api/v1/ice-servers"
CODE = "abc-defg-hij"
SECRET = "the-turn-secret-shared-with-coturn"
TURN_URLS = ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp"]
GUEST_USER = re.compile(r"guest-[0-9a-f]{16}")


@pytest.fixture
def turn_settings(settings):
    settings.STUN_URLS = ["stun:turn.example.com:3478"]
    settings.TURN_URLS = TURN_URLS
    settings.TURN_SECRET = SECRET
    settings.TURN_TTL_S = 3600
    return settings


@pytest.fixture
def alice():
    return signed_up_token("alice")


@pytest.fixture
def meeting(alice):
    return create_meeting(code=CODE, host_username="alice")


def expected_credential(username: str, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def turn_entry(response) -> dict:
    stun, turn = response.json()["iceServers"]
    assert stun == {"urls": ["stun:turn.example.com:3478"]}
    assert turn["urls"] == TURN_URLS
    assert turn["credential"] == expected_credential(turn["username"])
    return turn


def expiry_and_user(username: str) -> tuple[int, str]:
    expiry, user = username.split(":", 1)
    return int(expiry), user


# --- what is handed out -----------------------------------------------------------------------


def test_without_turn_settings_the_stun_list_alone_as_today(client, alice):
    response = client.get(URL, headers=bearer(alice))

    assert response.status_code == 200
    assert response.json() == {"iceServers": [{"urls": ["stun:stun.l.google.com:19302"]}], "ttl": 86400}


def test_a_logged_in_user_gets_turn_credentials_named_after_the_account(client, alice, turn_settings):
    before = int(time.time())
    response = client.get(URL, headers=bearer(alice))

    assert response.status_code == 200
    assert response.json()["ttl"] == 3600
    expiry, user = expiry_and_user(turn_entry(response)["username"])
    assert user == "alice"
    assert before + 3600 <= expiry <= int(time.time()) + 3600
    # A credential: nothing on the way may keep it.
    assert response["Cache-Control"] == "no-store"


def test_the_login_cookie_is_enough(client, turn_settings):
    client.cookies["token"] = signed_up_token("alice")

    response = client.get(URL)

    assert response.status_code == 200
    assert expiry_and_user(turn_entry(response)["username"])[1] == "alice"


def test_a_guest_with_a_meeting_code_gets_a_random_guest_id_never_the_code(client, meeting, turn_settings):
    first = client.get(URL, {"meetingCode": CODE})
    second = client.get(URL, {"meetingCode": CODE.upper()})  # codes are case-insensitive

    users = [expiry_and_user(turn_entry(response)["username"])[1] for response in (first, second)]
    assert all(GUEST_USER.fullmatch(user) for user in users), users
    assert users[0] != users[1]
    for response in (first, second):
        assert CODE not in response.content.decode() and SECRET not in response.content.decode()


def test_a_logged_in_user_naming_a_meeting_is_still_named_by_the_account(client, alice, meeting, turn_settings):
    response = client.get(URL, {"meetingCode": CODE}, headers=bearer(alice))

    assert expiry_and_user(turn_entry(response)["username"])[1] == "alice"


def test_a_guest_with_a_stale_token_but_a_meeting_code_is_a_guest(client, meeting, turn_settings):
    response = client.get(URL, {"meetingCode": CODE}, headers=bearer("0" * 40))

    assert response.status_code == 200
    assert GUEST_USER.fullmatch(expiry_and_user(turn_entry(response)["username"])[1])


def test_the_credentials_are_made_from_the_time_given():
    config = IceConfig(stun_urls=(), turn_urls=("turn:127.0.0.1:3478",), turn_secret="s3cret", ttl_s=600)

    answer = ice_servers(config, "alice", now=1_700_000_000.9)

    username = "1700000600:alice"
    assert answer == {
        "iceServers": [{"urls": ["turn:127.0.0.1:3478"], "username": username, "credential": expected_credential(username, "s3cret")}],
        "ttl": 600,
    }


def test_a_node_era_username_with_the_separator_is_quoted():
    assert turn_user("alice.smith_2") == "alice.smith_2"
    assert turn_user("odd:name é") == "odd%3Aname%20%C3%A9"
    assert GUEST_USER.fullmatch(turn_user(None))


# --- refusals ---------------------------------------------------------------------------------


def test_no_login_and_no_meeting_code_is_401(client, turn_settings):
    response = client.get(URL)

    assert response.status_code == 401
    assert response.json() == {"message": "no token provided"}


def test_an_invalid_token_without_a_meeting_code_is_401(client, turn_settings):
    response = client.get(URL, headers=bearer("0" * 40))

    assert response.status_code == 401
    assert response.json() == {"message": "Invalid token, login again"}


@pytest.mark.parametrize("code", ["zzz-zzzz-zzz", "not a code!", "x" * 200])
def test_a_meeting_code_that_names_no_meeting_is_404(client, meeting, turn_settings, code):
    response = client.get(URL, {"meetingCode": code})

    assert response.status_code == 404
    assert response.json() == {"message": "No such meeting found"}


def test_an_empty_meeting_code_is_400(client, turn_settings):
    response = client.get(URL, {"meetingCode": " "})

    assert response.status_code == 400
    assert response.json() == {"message": "meetingCode must not be empty"}


def test_other_methods_are_405(client, alice):
    response = client.post(URL, headers=bearer(alice))

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_over_the_rate_an_address_gets_429_with_retry_after(client, alice, meeting, settings):
    settings.ICE_SERVERS_MAX_REQUESTS = 3
    settings.ICE_SERVERS_WINDOW_SECONDS = 120
    # Every request counts, refused ones too: a guest trying codes is what this stops.
    assert client.get(URL, {"meetingCode": "zzz-zzzz-zzz"}, REMOTE_ADDR="10.0.0.7").status_code == 404
    assert client.get(URL, REMOTE_ADDR="10.0.0.7").status_code == 401
    assert client.get(URL, headers=bearer(alice), REMOTE_ADDR="10.0.0.7").status_code == 200

    refused = client.get(URL, {"meetingCode": CODE}, headers=bearer(alice), REMOTE_ADDR="10.0.0.7")

    assert refused.status_code == 429
    assert refused.json() == {"message": "Too many requests for ICE servers. Try again later"}
    assert 1 <= int(refused["Retry-After"]) <= 120
    assert client.get(URL, {"meetingCode": CODE}, REMOTE_ADDR="10.0.0.8").status_code == 200
