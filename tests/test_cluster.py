"""Several daphne processes sharing meetings through Redis, with no sticky sessions.

Real Redis (the `redis_url` fixture: a database of the tests' own, flushed per run); real
daphne processes; each client pinned to one process.
"""

import signal
import time
import uuid

import orjson
import redis
import pytest
import requests
import websocket

from tests.meeting_helpers import call_error, join
from tests.servers import BOUND, free_port

pytestmark = pytest.mark.redis

def test_one_meeting_across_three_processes(cluster, nc):
    servers = cluster(3)
    room = "cross-" + uuid.uuid4().hex[:6]
    a, b, c = (nc.connect(n, s.url, transports=["websocket"]) for n, s in zip("abc", servers))
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob", audioEnabled=False)
    mine = join(c, room, "cid", "Cid")

    # Everyone sees the same roster, in join order, with the same maps.
    assert mine["clients"] == [a.id, b.id, c.id]
    for client in (a, b):
        seen = client.wait_event("user-joined", where=lambda args: args[0]["id"] == c.id)[0]
        assert seen["clients"] == [a.id, b.id, c.id]
        assert seen["usernamesMap"] == {a.id: "ann", b.id: "bob", c.id: "cid"}
        assert seen["namesMap"] == {a.id: "Ann", b.id: "Bob", c.id: "Cid"}
    roster = {}
    for other in (a, b):
        roster[other] = c.wait_event("user-joined", where=lambda args, o=other: args[0]["id"] == o.id and args[0].get("existing"))[0]
    assert roster[b]["peerAudioEnabled"] is False and roster[a]["peerAudioEnabled"] is True

    # Signals cross processes both ways.
    a.emit("signal", c.id, '{"sdp":"offer-from-a"}')
    assert c.wait_event("signal")[:2] == [a.id, '{"sdp":"offer-from-a"}']
    c.emit("signal", a.id, {"ice": "candidate-from-c"})
    assert a.wait_event("signal", where=lambda args: args[0] == c.id)[1] == {"ice": "candidate-from-c"}

    # Chat reaches all three, sender included; media updates reach the others only.
    marks = {client: client.mark() for client in (a, b, c)}
    b.emit("chat-message", {"sender": "forged", "data": "hello all", "time": 1, "socketIdSender": a.id})
    for client in (a, b, c):
        message = client.wait_event("chat-message", after=marks[client])[0]
        assert message == {"sender": "Bob", "data": "hello all", "time": 1, "socketIdSender": b.id}
    a.emit("toggle-media", {"roomId": room, "peerVideoEnabled": False, "peerVideoAvailable": True,
                            "peerAudioEnabled": True, "peerAudioAvailable": True})
    for client in (b, c):
        assert client.wait_event("user-media-update", after=marks[client])[0]["userId"] == a.id
    a.assert_no_event("user-media-update", after=marks[a], within=0.3)

    # Leaving, by leave-call and by disconnect, is seen everywhere.
    b.emit("leave-call")
    for client in (a, c):
        assert client.wait_event("user-left", after=marks[client]) == [b.id, "bob"]
    c.disconnect()
    assert a.wait_event("user-left", where=lambda args: args[0] == c.id) == [c.id, "cid"]


class PollingClient:
    """Engine.IO long-polling by hand, so each request can go to another process."""

    def __init__(self, first_url: str):
        body = requests.get(f"{first_url}/socket.io/?EIO=4&transport=polling", timeout=5).text
        assert body.startswith("0")
        self.sid = orjson.loads(body[1:])["sid"]
        self.received: list[str] = []

    def url(self, base: str) -> str:
        return f"{base}/socket.io/?EIO=4&transport=polling&sid={self.sid}"

    def post(self, base: str, *packets: str) -> None:
        response = requests.post(self.url(base), data="\x1e".join(packets).encode(), timeout=5)
        assert response.status_code == 200, response.text

    def poll(self, base: str) -> list[str]:
        """One GET; answers pings (through the same process) and returns the rest."""
        response = requests.get(self.url(base), timeout=5)
        assert response.status_code == 200, response.text
        packets = response.text.split("\x1e")
        if "2" in packets:
            self.post(base, "3")
        messages = [p for p in packets if p not in ("2", "6")]
        self.received += messages
        return messages

    def poll_until(self, bases: list[str], predicate, attempts: int = 10) -> str:
        for i in range(attempts):
            for message in self.poll(bases[i % len(bases)]):
                if predicate(message):
                    return message
        raise AssertionError(f"not received; got {self.received}")


def test_polling_alternates_between_processes_then_upgrades_on_a_third(cluster, nc):
    servers = cluster(3, SIGNALING_PING_INTERVAL_MS=3000, SIGNALING_PING_TIMEOUT_MS=3000)
    one, two, three = (s.url for s in servers)
    room = "poll-" + uuid.uuid4().hex[:6]
    peer = nc.connect("peer", one, transports=["websocket"])
    join(peer, room, "pam", "Pam")

    polling = PollingClient(one)
    polling.post(two, "40")
    connected = polling.poll_until([one, two], lambda m: m.startswith("40"))
    socket_id = orjson.loads(connected[2:])["sid"]
    polling.post(one, '42["join-call",{"roomID":"%s","username":"pol","name":"Pol"}]' % room)
    joined = polling.poll_until([two, one], lambda m: m.startswith('42["user-joined"'))
    assert orjson.loads(joined[2:])[1]["clients"] == [peer.id, socket_id]
    assert peer.wait_event("user-joined", where=lambda args: args[0]["id"] == socket_id)[0]["name"] == "Pol"

    # Upgrade on the third process: probe, the pending poll is released, then "5".
    ws = websocket.create_connection(f"ws://{three[7:]}/socket.io/?EIO=4&transport=websocket&sid={polling.sid}", timeout=5)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    assert requests.get(polling.url(two), timeout=5).text.split("\x1e")[-1] == "6"
    ws.send("5")
    peer.emit("signal", socket_id, "over-the-websocket")
    frame = ws.recv()
    while frame == "2":
        ws.send("3")
        frame = ws.recv()
    assert orjson.loads(frame[2:]) == ["signal", peer.id, "over-the-websocket"]
    ws.send('42["signal","%s","back-from-upgraded"]' % peer.id)
    assert peer.wait_event("signal", where=lambda args: args[0] == socket_id)[1] == "back-from-upgraded"
    # Polling that session now is refused, as on one process.
    assert requests.get(polling.url(one), timeout=5).status_code == 400
    ws.close()
    assert peer.wait_event("user-left", where=lambda args: args[0] == socket_id, timeout=BOUND + 5) == [socket_id, "pol"]


def test_a_killed_process_is_noticed_and_the_call_goes_on(cluster, nc):
    # Without recovery its sockets end when it is noticed gone (with recovery they wait
    # a window for their clients: tests/test_cluster_recovery.py).
    servers = cluster(3, SIGNALING_RECOVERY_WINDOW_S=0)
    room = "kill-" + uuid.uuid4().hex[:6]
    a, b, c = (nc.connect(n, s.url, transports=["websocket"]) for n, s in zip("abc", servers))
    for client, who in ((a, "ann"), (b, "bob"), (c, "cid")):
        join(client, room, who, who.title())
    marks = {a: a.mark(), b: b.mark()}

    killed_at = time.monotonic()
    servers[2].kill(signal.SIGKILL)
    for client in (a, b):
        assert client.wait_event("user-left", after=marks[client], timeout=BOUND + 3) == [c.id, "cid"]
    # Within the bound (plus a little for the test's own polling of the driver).
    assert time.monotonic() - killed_at < BOUND + 1.0

    a.emit("signal", b.id, "still here")
    assert b.wait_event("signal", where=lambda args: args[0] == a.id)[1] == "still here"

    # A process started again joins the same meeting.
    again = cluster.add_like(servers[0])
    d = nc.connect("d", again.url, transports=["websocket"])
    joined = join(d, room, "dee", "Dee")
    assert joined["clients"] == [a.id, b.id, d.id]
    assert a.wait_event("user-joined", where=lambda args: args[0]["id"] == d.id)[0]["namesMap"][d.id] == "Dee"


def test_redis_unreachable_gives_a_clean_error_and_no_crash(start_server, nc):
    server = start_server(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", SIGNALING_ALLOW_UNKNOWN_ROOMS="true")
    client = nc.connect("lonely", server.url, transports=["websocket"])
    client.emit("join-call", {"roomID": "nowhere", "username": "x", "name": "X"})
    error = client.wait_event("call-error", timeout=15)[0]
    assert error["event"] == "join-call" and "try again" in error["message"]
    assert requests.get(server.url + "/", timeout=5).text == "I am home"
    assert server.process.poll() is None


def test_a_host_removes_a_participant_connected_to_another_process(cluster, nc):
    first, second = cluster(2)
    api = first.url + "/api/v1"
    credentials = {"username": "hostess", "password": "long enough password"}
    assert requests.post(f"{api}/users/signup", json={"name": "Hostess", **credentials}, timeout=5).status_code == 201
    token = requests.post(f"{api}/users/login", json=credentials, timeout=5).json()["token"]
    code = "abc-" + uuid.uuid4().hex[:6]
    assert requests.post(f"{api}/meeting/create-meet/{code}", headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200

    host = nc.connect("host", first.url, transports=["websocket"], auth={"token": token})
    join(host, code, "ignored", "Hostess")
    guest = nc.connect("guest", second.url, transports=["websocket"])
    join(guest, code, "gus_guest", "Gus")

    host.emit("remove-participant", {"socketId": guest.id})
    assert guest.wait_event("removed")[0] == {"by": host.id}
    assert guest.wait_disconnect() == "io server disconnect"
    assert host.wait_event("user-left") == [guest.id, "gus_guest"]
    host.assert_no_event("call-error", within=0.2)


def test_a_redis_restart_mid_call_gives_clean_errors_then_calls_work_again(cluster, nc, private_redis):
    first, second = cluster(2, REDIS_URL=private_redis.url)
    room = "restart-" + uuid.uuid4().hex[:6]
    a = nc.connect("a", first.url, transports=["websocket"])
    b = nc.connect("b", second.url, transports=["websocket"])
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")

    private_redis.kill()
    mark = a.mark()
    a.emit("chat-message", {"data": "anyone?"})
    error = a.wait_event("call-error", after=mark, timeout=15)[0]
    assert error["event"] == "chat-message"
    assert first.process.poll() is None and second.process.poll() is None

    private_redis.start()
    time.sleep(2 * BOUND)  # presence and group memberships come back with the heartbeat
    # The live state went with Redis: the participants join again, and all works.
    join(a, room, "ann", "Ann")
    rejoined = join(b, room, "bob", "Bob")
    assert rejoined["clients"] == [a.id, b.id]
    mark = b.mark()
    a.emit("chat-message", {"data": "back"})
    assert b.wait_event("chat-message", after=mark)[0]["data"] == "back"
    a.emit("signal", b.id, "after the restart")
    assert b.wait_event("signal", where=lambda args: args[1] == "after the restart")[0] == a.id


def test_a_session_id_that_no_live_process_owns_is_refused_at_once(cluster, redis_url):
    # The default heartbeat: a forwarded poll would be held for 45 s, a POST for 30.
    first, second = cluster(2, SIGNALING_PING_INTERVAL_MS=25000, SIGNALING_PING_TIMEOUT_MS=20000)
    unknown = {"code": 1, "message": "Session ID unknown"}
    polling = f"{first.url}/socket.io/?EIO=4&transport=polling&sid="
    made_up = "A" * 20 + ".deadbeef"  # names a process that does not exist

    got = requests.get(polling + made_up, timeout=5)
    assert (got.status_code, got.json()) == (400, unknown)
    posted = requests.post(polling + made_up, data=b"4" + b"x" * 900_000, timeout=5)
    assert (posted.status_code, posted.json()) == (400, unknown)
    assert list(redis.Redis.from_url(redis_url).scan_iter("*deadbeef*")) == []  # nothing parked
    assert closed_at_once(f"ws://{first.url[7:]}/socket.io/?EIO=4&transport=websocket&sid={made_up}")

    # A made-up session of a live process: its owner says it knows none.
    live = PollingClient(second.url).sid
    forged = "B" * 20 + live[live.rindex("."):]
    got = requests.get(polling + forged, timeout=5)
    assert (got.status_code, got.json()) == (400, unknown)
    assert closed_at_once(f"ws://{first.url[7:]}/socket.io/?EIO=4&transport=websocket&sid={forged}")


def closed_at_once(url: str) -> bool:
    """Whether the server closes a WebSocket to `url` before it has been idle 5 s."""
    ws = websocket.create_connection(url, timeout=5)
    try:
        while True:
            ws.recv()
    except websocket.WebSocketTimeoutException:
        return False
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return True
    finally:
        ws.close()


def test_a_signal_reaches_only_a_member_of_the_senders_call_on_another_process(cluster, nc):
    """The process holding the recipient checks the membership; the sender still hears
    when its signal went nowhere, as it does for a recipient on its own process."""
    first, second = cluster(2)
    room = "members-" + uuid.uuid4().hex[:6]
    a = nc.connect("a", first.url, transports=["websocket"])
    b = nc.connect("b", second.url, transports=["websocket"])
    z = nc.connect("z", second.url, transports=["websocket"])
    loner = nc.connect("loner", second.url, transports=["websocket"])
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    join(z, "other-" + room, "zed", "Zed")

    a.emit("signal", b.id, {"sdp": "for bob"})
    assert b.wait_event("signal") == [a.id, {"sdp": "for bob"}]
    a.assert_no_event("call-error", within=0.3)

    made_up = "A" * 20 + "." + b.id.rpartition(".")[2]  # names the second process
    for target in (z, loner, made_up):
        mark = a.mark()
        a.emit("signal", getattr(target, "id", target), {"sdp": "astray"})
        assert call_error(a, "signal", after=mark) == "that participant is not in your call"
    for client in (z, loner):
        client.assert_no_event("signal", within=0.3)

    # Once Bob has left the call, signals to him are refused too.
    b.emit("leave-call")
    a.wait_event("user-left")
    mark = a.mark()
    a.emit("signal", b.id, {"sdp": "too late"})
    assert call_error(a, "signal", after=mark) == "that participant is not in your call"
    b.assert_no_event("signal", where=lambda args: args[1] == {"sdp": "too late"}, within=0.3)
