"""Limits on what one client can make the socket endpoint do, against real daphne
processes (animomeet.serve, as the README runs it): repeated joins and knocks, guessed
meeting codes, the bytes a socket can make the server send it, sessions per address,
requests that trickle in, tokens that end while a socket is open, guests under an
account's username, tokens in URLs. (Sessions naming a process that does not exist:
tests/test_cluster.py.)"""

import socket
import time
import uuid

import orjson
import pytest
import requests
import websocket

from tests.meeting_helpers import Rest, call_error, is_own_join, join, join_payload, running_server, unique
from tests.nginx import nginx_in_front_of


ONLY_HOSTS = "only the host or a co-host can do that"


@pytest.fixture(scope="module")
def hosted():
    with running_server() as server:
        yield server


def logged_in_host(nc, server):
    """A host with an account, its meeting, and its socket (token in `auth`) in the call."""
    rest = Rest(server.url)
    host = rest.account("host", name="Hana")
    code = rest.create_meeting(host)
    h = nc.connect("h", server.url, transports=["websocket"], auth={"token": host.token})
    join(h, code)
    return rest, host, code, h


# --- 2: joining the call one is in again --------------------------------------------------


def test_joining_the_call_one_is_in_again_answers_the_joiner_alone(nc, hosted):
    rest, host, code, h = logged_in_host(nc, hosted)
    g = nc.connect("g", hosted.url)
    join(g, code, "gus", "Gus")
    for n in range(3):
        h.emit("chat-message", {"data": f"message {n}"})
    g.wait_event("chat-message", where=lambda args: args[0]["data"] == "message 2")
    marks = {h: h.mark(), g: g.mark()}

    for _ in range(3):
        g.emit_with_ack("join-call", join_payload(code, "gus", "Gus"))

    answers = g.events("user-joined", after=marks[g])
    assert len(answers) == 3
    for (answer,) in answers:
        assert answer["id"] == g.id and "existing" not in answer
        assert answer["clients"] == [h.id, g.id]
        assert answer["namesMap"] == {h.id: "Hana", g.id: "Gus"}
    assert g.events("chat-message", after=marks[g]) == []
    h.assert_no_event("user-joined", after=marks[h], within=0.3)


def test_what_a_socket_makes_the_server_send_it_is_bounded(nc, start_server):
    server = start_server(SIGNALING_ALLOW_UNKNOWN_ROOMS="true", SIGNALING_REPLY_BYTES_BURST=60_000,
                          SIGNALING_REPLY_BYTES_RATE=1_000)
    rooms = unique("history-a"), unique("history-b")
    for n, room in enumerate(rooms):
        keeper = nc.connect(f"keeper{n}", server.url, transports=["websocket"])
        join(keeper, room, f"keeper{n}", "Keeper")
        for i in range(20):
            keeper.emit("chat-message", {"data": f"{i:04d}" + "x" * 1996})
        keeper.wait_event("chat-message", where=lambda args: args[0]["data"].startswith("0019"))
    j = nc.connect("j", server.url, transports=["websocket"])

    # Each join replays about 41 KB of history: the first two fit the burst, then the
    # socket has had more than its share and must wait.
    for room in rooms:
        mark = j.mark()
        join(j, room, "jo", "Jo")
        j.wait_event("chat-message", where=lambda args: args[0]["data"].startswith("0019"), after=mark)
    mark = j.mark()
    j.emit("join-call", join_payload(rooms[0], "jo", "Jo"))
    assert call_error(j, "join-call", after=mark) == "too much was sent to you lately; slow down"
    assert j.events("chat-message", after=mark) == []


# --- 3: a token that ends while its socket is open ---------------------------------------


def test_logging_out_ends_the_rights_of_the_open_socket(nc, hosted):
    rest, host, code, h = logged_in_host(nc, hosted)
    g = nc.connect("g", hosted.url, transports=["websocket"])
    join(g, code, "gus", "Gus")
    logout = requests.post(f"{rest.base}/users/logout", headers={"Authorization": f"Bearer {host.token}"}, timeout=5)
    assert logout.status_code == 200

    mark = h.mark()
    h.emit("force-mute", {"socketId": g.id, "kind": "audio"})
    assert call_error(h, "force-mute", after=mark) == ONLY_HOSTS
    h.emit("remove-participant", {"socketId": g.id})
    assert call_error(h, "remove-participant", after=mark) == ONLY_HOSTS
    g.assert_no_event("force-mute", within=0.3)
    assert g.events("removed") == [] and g.state()["connected"]


def test_an_expired_token_grants_nothing_on_the_open_socket(nc, start_server):
    server = start_server(AUTH_TOKEN_TTL_SECONDS=2, BCRYPT_ROUNDS=4)
    issued = time.monotonic()
    rest, host, code, h = logged_in_host(nc, server)
    g = nc.connect("g", server.url, transports=["websocket"])
    join(g, code, "gus", "Gus")
    time.sleep(max(0.0, issued + 2.2 - time.monotonic()))

    mark = h.mark()
    h.emit("end-meeting")
    assert call_error(h, "end-meeting", after=mark) == ONLY_HOSTS
    g.assert_no_event("meeting-ended", within=0.3)


# --- 4: who is verified -------------------------------------------------------------------


def test_every_roster_entry_says_whether_its_identity_was_verified(nc, hosted):
    rest, host, code, h = logged_in_host(nc, hosted)
    g = nc.connect("g", hosted.url)
    own = join(g, code, host.username, "Not Hana")  # a guest under the host's username

    assert own["verified"] is False and own["usernamesMap"][g.id] == host.username
    about_host = g.wait_event("user-joined", where=lambda args: args[0]["id"] == h.id and args[0].get("existing"))[0]
    assert about_host["verified"] is True
    assert h.wait_event("user-joined", where=lambda args: args[0]["id"] == g.id)[0]["verified"] is False


def test_with_account_usernames_reserved_a_guest_cannot_join_under_one(nc, start_server):
    server = start_server(SIGNALING_RESERVE_ACCOUNT_USERNAMES="true", BCRYPT_ROUNDS=4)
    rest, host, code, h = logged_in_host(nc, server)
    g = nc.connect("g", server.url)
    g.emit("join-call", join_payload(code, host.username, "Hana"))
    assert call_error(g, "join-call") == "that username belongs to an account: log in to use it"
    assert g.events("user-joined") == []
    assert join(g, code, "gus", "Gus")["verified"] is False  # a free username joins


# --- 6: guessing meeting codes --------------------------------------------------------------


def test_joins_of_unknown_meetings_are_limited_per_socket_and_per_address(nc, start_server):
    server = start_server(SIGNALING_UNKNOWN_ROOMS_PER_MINUTE=3, SIGNALING_UNKNOWN_ROOMS_PER_MINUTE_PER_ADDRESS=5)
    slow_down = "too many attempts at calls that are no meeting; slow down"

    def answers(client, attempts: int) -> list[str]:
        for _ in range(attempts):
            client.emit_with_ack("join-call", join_payload(unique("guess"), "gus", "Gus"))
        return [args[0]["message"] for args in client.events("call-error")]

    one, two = nc.connect("one", server.url), nc.connect("two", server.url)
    assert answers(one, 4) == ["No such meeting found"] * 3 + [slow_down]  # the socket's 3
    assert answers(two, 3) == ["No such meeting found"] * 2 + [slow_down]  # the address's 5


# --- 7: sessions per address, requests that trickle in --------------------------------------


@pytest.fixture(scope="module")
def bounded():
    with running_server(SIGNALING_MAX_SESSIONS_PER_ADDRESS=3, TRUSTED_PROXY_COUNT=1, HTTP_RECEIVE_TIMEOUT_S=1) as server:
        yield server


def test_one_address_holds_at_most_its_cap_of_sessions(bounded):
    polling = f"{bounded.url}/socket.io/?EIO=4&transport=polling"
    address = {"X-Forwarded-For": f"10.{uuid.uuid4().int % 250}.0.7"}

    def handshake(headers):
        return requests.get(polling, headers=headers, timeout=5)

    sids = [orjson.loads(handshake(address).text[1:])["sid"] for _ in range(3)]
    refused = handshake(address)
    assert refused.status_code == 429
    assert refused.json() == {"code": 4, "message": "Too many sessions from this address"}
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(f"ws://{bounded.url[7:]}/socket.io/?EIO=4&transport=websocket", header=address, timeout=5)
    assert handshake({"X-Forwarded-For": "10.251.0.8"}).status_code == 200  # another address

    # A session that ends makes room for another.
    assert requests.post(f"{polling}&sid={sids[0]}", data=b"1", headers=address, timeout=5).status_code == 200
    assert handshake(address).status_code == 200


def seconds_until_dropped(port: int, head: bytes, trickle: bytes) -> float | None:
    """Send `head`, then `trickle` a byte every 0.1 s; how long until the server drops
    the connection (None: it answered, or never dropped it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(head)
        started = time.monotonic()
        conn.settimeout(0.1)
        for byte in trickle:
            try:
                conn.sendall(bytes([byte]))
                if conn.recv(1024) == b"":
                    return time.monotonic() - started
                return None
            except socket.timeout:
                continue
            except OSError:
                return time.monotonic() - started
    return None


def test_a_request_that_trickles_in_is_dropped(bounded):
    sid = orjson.loads(requests.get(f"{bounded.url}/socket.io/?EIO=4&transport=polling", timeout=5).text[1:])["sid"]
    body = b'42["chat-message",{"data":"' + b"x" * 200 + b'"}]'
    post_head = (f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
                 f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    # A body a byte at a time (it would take 24 s), and headers that never end.
    for head, trickle in ((post_head, body), (b"GET / HTTP/1.1\r\nHost: x\r\n", b"X-Padding: " + b"y" * 300)):
        dropped = seconds_until_dropped(bounded.port, head, trickle)
        assert dropped is not None and dropped < 3
    assert requests.get(bounded.url + "/", timeout=5).text == "I am home"


# --- 8: knocking again ------------------------------------------------------------------------


def test_knocking_again_sends_the_hosts_no_new_admit_request(nc, start_server):
    server = start_server(SIGNALING_WAITING_ROOM="true", BCRYPT_ROUNDS=4)
    rest, host, code, h = logged_in_host(nc, server)
    g = nc.connect("g", server.url, transports=["websocket"])
    for _ in range(5):
        g.emit_with_ack("join-call", join_payload(code, "gus", "Gus"))

    assert len(g.events("waiting")) == 5
    h.wait_event("admit-request")
    h.assert_no_event("admit-request", after=h.mark(), within=0.3)
    assert h.events("admit-request") == [[{"socketId": g.id, "username": "gus", "name": "Gus"}]]
    h.emit("admit-user", {"socketId": g.id})
    assert g.wait_event("user-joined", where=is_own_join(g))[0]["clients"] == [h.id, g.id]


# --- 9: tokens in URLs --------------------------------------------------------------------------


def test_a_token_in_the_url_authenticates_nobody_and_reaches_no_log(nc, hosted):
    rest, host, code, h = logged_in_host(nc, hosted)
    q = nc.connect("q", hosted.url, query={"token": host.token})  # polling, then the upgrade
    q.wait_upgrade()
    joined = join(q, code, "quinn", "Quinn")
    assert (joined["username"], joined["verified"]) == ("quinn", False)
    q.emit("force-mute", {"socketId": h.id, "kind": "audio"})
    assert call_error(q, "force-mute") == ONLY_HOSTS
    assert host.token not in hosted.log()


@pytest.fixture
def nginx_in_front(start_server, tmp_path):
    """The README's nginx configuration in front of one daphne process."""
    server = start_server(TRUSTED_PROXY_COUNT=1)
    with nginx_in_front_of([server.port], tmp_path) as (url, access_log):
        yield url, access_log, server


def test_the_documented_nginx_logs_no_query_string(nginx_in_front):
    url, access_log, server = nginx_in_front
    secret = "0123456789abcdef" * 2 + "01234567"
    response = requests.get(f"{url}/socket.io/?EIO=4&transport=polling&token={secret}", timeout=5)
    assert response.status_code == 200 and response.text.startswith("0{")

    deadline = time.monotonic() + 5
    while "/socket.io/" not in access_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    logged = access_log.read_text()
    assert '"GET /socket.io/ HTTP/1.1" 200' in logged
    assert secret not in logged and secret not in server.log()
