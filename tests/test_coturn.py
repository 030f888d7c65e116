"""The TURN credentials against a real coturn (Debian's `turnserver`) on 127.0.0.1.

coturn runs with `use-auth-secret` and two `static-auth-secret`s, as the README's
rotation has it: the current one and the previous one. Credentials from
GET /api/v1/ice-servers must make an allocation that relays a datagram both ways; coturn
must refuse them once expired, forged, or signed with a secret it does not hold.

Without turnserver (apt-get install coturn) these are skipped; with CI set, they fail.
"""

import os
import socket
import time
from urllib.parse import urlsplit

import pytest

from meetings.ice_servers import IceConfig, ice_servers
from meetings.services import create_meeting
from tests.rest_helpers import bearer, signed_up_token
from tests.turn import TURNSERVER, TurnClient, TurnRefused, TurnServer

pytestmark = [pytest.mark.coturn, pytest.mark.usefixtures("rest_settings")]

CURRENT_SECRET = "current-secret-7f3a9c"
PREVIOUS_SECRET = "previous-secret-1b2d4e"
CODE = "abc-defg-hij"


@pytest.fixture(scope="module")
def coturn():
    if not os.access(TURNSERVER, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail("CI is set but turnserver is missing (apt-get install coturn)", pytrace=False)
        pytest.skip("needs turnserver (apt-get install coturn)")
    server = TurnServer([CURRENT_SECRET, PREVIOUS_SECRET]).start()
    yield server
    server.stop()


@pytest.fixture
def signing_with(settings, coturn):
    """Points the endpoint at the coturn of this module, signing with the secret given."""

    def sign(secret: str) -> None:
        settings.STUN_URLS = [f"stun:127.0.0.1:{coturn.port}"]
        settings.TURN_URLS = [coturn.url]
        settings.TURN_SECRET = secret
        settings.TURN_TTL_S = 600

    sign(CURRENT_SECRET)
    return sign


def turn_server_of(answer: dict) -> dict:
    (turn,) = [server for server in answer["iceServers"] if server["urls"][0].startswith("turn:")]
    return turn


def client_for(turn: dict) -> TurnClient:
    """A TURN client for the RTCIceServer entry, at the address its URL names."""
    address = urlsplit(turn["urls"][0].replace("turn:", "turn://", 1))
    return TurnClient((address.hostname, address.port), turn["username"], turn["credential"])


def relays_both_ways(turn: dict) -> tuple[str, int]:
    """Allocates with the entry's credentials, sends a datagram to a peer through the
    relay and gets its answer back; returns the relayed address."""
    client = client_for(turn)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(2)
        try:
            relayed = client.allocate()
            client.send_to(peer.getsockname(), b"through the relay")
            data, source = peer.recvfrom(2048)
            assert (data, source) == (b"through the relay", relayed)
            peer.sendto(b"and back", source)
            assert client.receive() == (peer.getsockname(), b"and back")
        finally:
            client.close()
    return relayed


def refused_code(turn: dict) -> int:
    client = client_for(turn)
    try:
        client.allocate()
    except TurnRefused as refusal:
        return refusal.code
    finally:
        client.close()
    raise AssertionError(f"coturn allocated for {turn['username']}")


def test_a_users_credentials_from_the_endpoint_allocate_and_relay(client, signing_with):
    response = client.get("/api/v1/ice-servers", headers=bearer(signed_up_token("alice")))

    assert response.status_code == 200
    assert relays_both_ways(turn_server_of(response.json()))[0] == "127.0.0.1"


def test_a_guests_credentials_from_the_endpoint_allocate_and_relay(client, signing_with):
    create_meeting(code=CODE, host_username="alice")
    response = client.get("/api/v1/ice-servers", {"meetingCode": CODE})

    assert response.status_code == 200
    relays_both_ways(turn_server_of(response.json()))


def test_after_rotation_credentials_of_both_secrets_are_accepted(client, signing_with):
    """Mid-rotation: coturn holds the new and the old secret; a worker not yet switched
    still signs with the old one, and its callers must still get through."""
    token = signed_up_token("alice")
    for secret in (PREVIOUS_SECRET, CURRENT_SECRET):
        signing_with(secret)
        relays_both_ways(turn_server_of(client.get("/api/v1/ice-servers", headers=bearer(token)).json()))


def test_expired_credentials_are_refused(signing_with):
    # Made as the endpoint makes them, 601 s ago with a 600 s life.
    stale = turn_server_of(ice_servers(IceConfig.from_settings(), "alice", now=time.time() - 601))

    assert refused_code(stale) == 401


def test_forged_credentials_are_refused(client, signing_with):
    turn = turn_server_of(client.get("/api/v1/ice-servers", headers=bearer(signed_up_token("alice"))).json())
    expiry, user = turn["username"].split(":", 1)

    assert refused_code({**turn, "username": f"{int(expiry) + 86400}:{user}"}) == 401  # a longer life
    assert refused_code({**turn, "username": f"{expiry}:bob"}) == 401  # someone else
    assert refused_code({**turn, "credential": turn["credential"][:-4] + "AAA="}) == 401


def test_credentials_signed_with_a_secret_coturn_does_not_hold_are_refused(client, signing_with):
    signing_with("a-secret-coturn-never-heard-of")

    response = client.get("/api/v1/ice-servers", headers=bearer(signed_up_token("alice")))

    assert refused_code(turn_server_of(response.json())) == 401
