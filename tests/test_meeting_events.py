"""The meeting events of the web client (join-call, signal, toggle-media, chat-message,
leave-call, disconnect) against the real application in daphne, driven by the official
socket.io-client, plus python-socketio as one participant.

Most tests share one server that lets guests join rooms that are no meeting
(SIGNALING_ALLOW_UNKNOWN_ROOMS=true), each in a room of its own; the others use a server
with the default (meetings only) and a per-socket rate limit of 5 events a second.
"""

import time

import pytest

from tests.meeting_helpers import PyClient, Rest, call_error, event_names, is_own_join, join, join_payload, running_server, unique

CHAT_KEYS = ["sender", "data", "time", "socketIdSender"]


@pytest.fixture(scope="module")
def guests():
    with running_server(SIGNALING_ALLOW_UNKNOWN_ROOMS="true") as server:
        yield server


@pytest.fixture(scope="module")
def strict():
    """Meetings only (the default), and a small per-socket event budget."""
    with running_server(SIGNALING_EVENT_RATE=5, SIGNALING_EVENT_BURST=5) as server:
        yield server


def chat(client, data, **forged) -> None:
    client.emit("chat-message", {"sender": forged.get("sender", "whoever"), "data": data, "time": forged.get("time", 1),
                                 "socketIdSender": forged.get("socketIdSender", "whatever")})


def media_update(client, room, audio: bool, video: bool) -> None:
    client.emit("toggle-media", {"roomId": room, "peerVideoEnabled": video, "peerVideoAvailable": True,
                                 "peerAudioEnabled": audio, "peerAudioAvailable": True})


@pytest.fixture
def trio(nc, guests):
    """A, B and C connected over the three transport setups of the official client
    (default: polling then upgrade; WebSocket only; polling only), A and B in a fresh
    room with microphone and camera on, C not joined yet."""
    room = unique("trio")
    a = nc.connect("a", guests.url)  # polling, then upgrade
    b = nc.connect("b", guests.url, transports=["websocket"])
    c = nc.connect("c", guests.url, upgrade=False)  # polling only
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    return room, a, b, c


# --- joining -----------------------------------------------------------------------------


def test_user_joined_lists_everyone_in_join_order_with_their_names(trio):
    room, a, b, c = trio
    joined = join(c, room, "cid", "Cid")
    ids = [a.id, b.id, c.id]
    assert joined["clients"] == ids
    assert joined["usernamesMap"] == {a.id: "ann", b.id: "bob", c.id: "cid"}
    assert joined["namesMap"] == {a.id: "Ann", b.id: "Bob", c.id: "Cid"}
    assert (joined["username"], joined["name"]) == ("cid", "Cid")
    # Everyone already in the room hears of the arrival, with the same roster.
    for other in (a, b):
        announced = other.wait_event("user-joined", where=lambda args: args[0]["id"] == c.id)[0]
        assert announced["clients"] == ids and announced["namesMap"] == joined["namesMap"]
        assert "existing" not in announced
    # A heard of B when B arrived: the roster was [A, B] then.
    about_b = a.wait_event("user-joined", where=lambda args: args[0]["id"] == b.id)[0]
    assert about_b["clients"] == [a.id, b.id]


def test_late_joiner_gets_the_roster_with_each_participants_latest_media_state(trio):
    room, a, b, c = trio
    mark_b = b.mark()
    media_update(b, room, audio=False, video=False)
    # The others see it, the sender does not get its own update back.
    update = a.wait_event("user-media-update", where=lambda args: args[0]["userId"] == b.id)[0]
    assert update == {"userId": b.id, "peerVideoEnabled": False, "peerVideoAvailable": True,
                      "peerAudioEnabled": False, "peerAudioAvailable": True}
    b.assert_no_event("user-media-update", after=mark_b, within=0.3)

    mark_a, mark_b = a.mark(), b.mark()
    join(c, room, "cid", "Cid")
    c.wait_event("user-joined", where=lambda args: args[0]["id"] == b.id)
    joined = c.events("user-joined")
    assert [(j[0]["id"], j[0].get("existing")) for j in joined] == [(c.id, None), (a.id, True), (b.id, True)]
    about_a, about_b = joined[1][0], joined[2][0]
    assert (about_a["username"], about_a["name"]) == ("ann", "Ann")
    assert (about_a["peerAudioEnabled"], about_a["peerVideoEnabled"]) == (True, True)
    assert (about_b["username"], about_b["name"]) == ("bob", "Bob")
    assert (about_b["peerAudioEnabled"], about_b["peerVideoEnabled"]) == (False, False)
    assert about_b["peerAudioAvailable"] is True
    assert about_b["clients"] == [a.id, b.id, c.id] and about_b["namesMap"][c.id] == "Cid"
    # The roster entries are for the newcomer alone.
    a.assert_no_event("user-joined", where=lambda args: args[0].get("existing"), after=mark_a, within=0.3)
    b.assert_no_event("user-joined", where=lambda args: args[0].get("existing"), after=mark_b, within=0.01)


def test_signal_is_relayed_both_ways_with_the_senders_id(trio):
    room, a, b, c = trio
    join(c, room, "cid", "Cid")
    offer = {"type": "offer", "sdp": "v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\n", "nested": {"candidates": [1, 2]}}
    mark_b = b.mark()
    a.emit("signal", c.id, offer)
    assert c.wait_event("signal") == [a.id, offer]
    answer = '{"sdp":{"type":"answer","sdp":"v=0"}}'  # the web client sends JSON strings
    c.emit("signal", a.id, answer)
    assert a.wait_event("signal") == [c.id, answer]
    b.assert_no_event("signal", after=mark_b, within=0.3)
    assert a.events("call-error") == [] and c.events("call-error") == []


def test_chat_goes_to_everyone_with_the_sender_set_by_the_server(trio):
    room, a, b, c = trio
    join(c, room, "cid", "Cid")
    chat(a, "hello all", sender="Bob", socketIdSender=b.id, time="10:42")
    for client in (a, b, c):
        message = client.wait_event("chat-message")[0]
        assert message == {"sender": "Ann", "data": "hello all", "time": "10:42", "socketIdSender": a.id}
        assert list(message) == CHAT_KEYS


def test_history_is_replayed_to_the_joiner_only_after_its_roster(trio):
    room, a, b, c = trio
    for sender, text in ((a, "one"), (b, "two"), (a, "three")):
        chat(sender, text)
        for client in (a, b):
            client.wait_event("chat-message", where=lambda args, text=text: args[0]["data"] == text)
    mark_a, mark_b = a.mark(), b.mark()
    join(c, room, "cid", "Cid")
    c.wait_event("chat-message", where=lambda args: args[0]["data"] == "three")
    assert [m[0]["data"] for m in c.events("chat-message")] == ["one", "two", "three"]
    assert [m[0]["sender"] for m in c.events("chat-message")] == ["Ann", "Bob", "Ann"]
    assert c.events("chat-message")[1][0]["socketIdSender"] == b.id
    names = event_names(c)
    assert names == ["user-joined"] * 3 + ["chat-message"] * 3
    a.assert_no_event("chat-message", after=mark_a, within=0.3)
    b.assert_no_event("chat-message", after=mark_b, within=0.01)


def test_leave_call_tells_the_others_and_the_socket_can_rejoin(trio):
    room, a, b, c = trio
    join(c, room, "cid", "Cid")
    mark_a = a.mark()
    c.emit("leave-call")
    assert a.wait_event("user-left", after=mark_a) == [c.id, "cid"]
    assert b.wait_event("user-left") == [c.id, "cid"]
    # Gone from the call: no chat reaches it any more, yet its connection is open.
    mark_c = c.mark()
    chat(a, "c has gone")
    b.wait_event("chat-message", where=lambda args: args[0]["data"] == "c has gone")
    c.assert_no_event("chat-message", after=mark_c, within=0.3)
    assert c.records("disconnect") == [] and c.state()["connected"]
    rejoined = join(c, room, "cid", "Cid")
    assert rejoined["clients"] == [a.id, b.id, c.id]
    assert a.wait_event("user-joined", where=lambda args: args[0]["id"] == c.id, after=mark_a)[0]["clients"] == [a.id, b.id, c.id]


def test_disconnect_tells_the_others(trio):
    room, a, b, c = trio
    b.disconnect()
    assert a.wait_event("user-left") == [b.id, "bob"]
    joined = join(c, room, "cid", "Cid")
    assert joined["clients"] == [a.id, c.id]
    assert joined["usernamesMap"] == {a.id: "ann", c.id: "cid"}


def test_joining_another_room_leaves_the_first(trio):
    room, a, b, c = trio
    other_room = unique("elsewhere")
    join(c, other_room, "cid", "Cid")
    mark_a = a.mark()
    assert join(b, other_room, "bob", "Bob")["clients"] == [c.id, b.id]
    assert a.wait_event("user-left", after=mark_a) == [b.id, "bob"]
    # B now hears only its new room, and may no longer claim the old one.
    mark_b = b.mark()
    chat(a, "only for the first room")
    a.wait_event("chat-message", after=mark_a)
    b.assert_no_event("chat-message", after=mark_b, within=0.3)
    b.emit("toggle-media", {"roomId": room, "peerAudioEnabled": False})
    assert call_error(b, "toggle-media", after=mark_b) == "you are not in that call"
    a.assert_no_event("user-media-update", after=mark_a, within=0.2)


def test_an_emptied_room_forgets_its_history(nc, guests):
    room = unique("emptied")
    a = nc.connect("a", guests.url, transports=["websocket"])
    b = nc.connect("b", guests.url, transports=["websocket"])
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    chat(a, "said before everyone left")
    b.wait_event("chat-message")
    b.disconnect()
    assert a.wait_event("user-left") == [b.id, "bob"]
    assert a.emit_with_ack("leave-call") == []  # acked once the server has handled it
    d = nc.connect("d", guests.url, transports=["websocket"])
    joined = join(d, room, "dee", "Dee")
    assert joined["clients"] == [d.id]
    d.assert_no_event("chat-message", within=0.5)
    # A, rejoining the same room now, meets only D and no history either.
    mark = a.mark()
    assert join(a, room, "ann", "Ann")["clients"] == [d.id, a.id]
    a.assert_no_event("chat-message", after=mark, within=0.3)


# --- refusals ------------------------------------------------------------------------------


def test_signal_to_a_socket_of_another_room_is_refused(nc, guests):
    a = nc.connect("a", guests.url, transports=["websocket"])
    z = nc.connect("z", guests.url, transports=["websocket"])
    join(a, unique("room-a"), "ann", "Ann")
    join(z, unique("room-z"), "zed", "Zed")
    a.emit("signal", z.id, {"type": "offer", "sdp": "injected"})
    assert call_error(a, "signal") == "that participant is not in your call"
    z.assert_no_event("signal", within=0.4)
    # Nor to a socket that is connected but in no room.
    loner = nc.connect("loner", guests.url, transports=["websocket"])
    mark = a.mark()
    a.emit("signal", loner.id, "hello?")
    assert call_error(a, "signal", after=mark) == "that participant is not in your call"
    loner.assert_no_event("signal", within=0.3)


def test_signal_before_joining_is_refused(nc, guests):
    a = nc.connect("a", guests.url, transports=["websocket"])
    stranger = nc.connect("stranger", guests.url, transports=["websocket"])
    join(a, unique("room"), "ann", "Ann")
    stranger.emit("signal", a.id, "an offer")
    assert call_error(stranger, "signal") == "join a call first"
    a.assert_no_event("signal", within=0.4)
    assert len(stranger.events("call-error")) == 1


def test_oversized_payloads_are_refused_and_nothing_is_relayed(nc, guests):
    room = unique("sizes")
    a = nc.connect("a", guests.url, transports=["websocket"])
    b = nc.connect("b", guests.url, transports=["websocket"])
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    mark_a, mark_b = a.mark(), b.mark()

    chat(a, "x" * 2001)
    assert call_error(a, "chat-message", after=mark_a) == "message is longer than 2000 characters"
    a.emit("signal", b.id, "s" * (64 * 1024 + 1))
    assert call_error(a, "signal", after=mark_a) == "signal message is larger than 64 KB"
    mark_object = a.mark()
    a.emit("signal", b.id, {"sdp": "s" * (64 * 1024)})  # an object over 64 KB once encoded
    assert call_error(a, "signal", after=mark_object) == "signal message is larger than 64 KB"
    intruder = nc.connect("intruder", guests.url, transports=["websocket"])
    intruder.emit("join-call", join_payload(room, "long", "N" * 101))
    assert call_error(intruder, "join-call") == "name is longer than 100 characters"

    b.assert_no_event("chat-message", after=mark_b, within=0.4)
    b.assert_no_event("signal", after=mark_b, within=0.01)
    b.assert_no_event("user-joined", after=mark_b, within=0.01)
    assert len(a.events("call-error", after=mark_a)) == 3
    # Right at the limits, they go through.
    chat(a, "y" * 2000)
    assert b.wait_event("chat-message", after=mark_b)[0]["data"] == "y" * 2000
    a.emit("signal", b.id, "s" * (60 * 1024))
    assert b.wait_event("signal", after=mark_b) == [a.id, "s" * (60 * 1024)]
    assert join(intruder, room, "long", "N" * 100)["name"] == "N" * 100


def test_wrong_types_are_refused(nc, guests):
    room = unique("types")
    a = nc.connect("a", guests.url, transports=["websocket"])
    b = nc.connect("b", guests.url, transports=["websocket"])
    a.emit("join-call", 42)
    assert call_error(a, "join-call") == "expected an object"
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    mark_a, mark_b = a.mark(), b.mark()
    a.emit("toggle-media", {"roomId": room, "peerAudioEnabled": "yes", "peerVideoEnabled": True})
    assert call_error(a, "toggle-media", after=mark_a) == "peerAudioEnabled must be true or false"
    mark_err = a.mark()
    a.emit("chat-message", {"data": {"html": "<b>"}})
    assert call_error(a, "chat-message", after=mark_err) == "message must be a string"
    b.assert_no_event("user-media-update", after=mark_b, within=0.4)
    b.assert_no_event("chat-message", after=mark_b, within=0.01)
    # Still in the call and heard normally afterwards.
    media_update(a, room, audio=False, video=True)
    assert b.wait_event("user-media-update", after=mark_b)[0]["peerAudioEnabled"] is False


def test_a_signal_object_carrying_binary_is_relayed_or_refused_as_invalid(nc, guests):
    room = unique("binary-signal")
    a = nc.connect("a", guests.url, transports=["websocket"])
    b = nc.connect("b", guests.url, transports=["websocket"])
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    a.emit("signal", b.id, {"sdp": b"\x00\x01"})
    try:
        relayed = b.wait_event("signal", timeout=1)
    except AssertionError:
        relayed = None
    if relayed is not None:
        assert relayed == [a.id, {"sdp": b"\x00\x01"}]
    else:
        assert call_error(a, "signal") != "the server could not do that now; try again"


def test_a_room_id_that_is_not_a_string_is_refused(nc, guests):
    a = nc.connect("a", guests.url, transports=["websocket"])
    a.emit("join-call", {"roomID": 42, "username": "ann"})
    assert call_error(a, "join-call") == "roomID must be a string"
    a.assert_no_event("user-joined", within=0.3)


def test_a_python_client_takes_part_in_a_call_with_node_clients(nc, guests):
    room = unique("mixed")
    a = nc.connect("a", guests.url)
    b = nc.connect("b", guests.url, transports=["websocket"])
    join(a, room, "ann", "Ann")
    join(b, room, "bob", "Bob")
    with PyClient("py") as py:
        py.connect(guests.url)
        mark_py = py.mark()
        py.emit("join-call", join_payload(room, "pia", "Pia", videoEnabled=False))
        own = py.wait_event("user-joined", where=is_own_join(py))[0]
        assert own["clients"] == [a.id, b.id, py.id]
        py.wait_event("user-joined", where=lambda args: args[0]["id"] == b.id, after=mark_py)
        assert [j[0]["id"] for j in py.events("user-joined", after=mark_py)] == [py.id, a.id, b.id]
        about_py = a.wait_event("user-joined", where=lambda args: args[0]["id"] == py.id)[0]
        assert about_py["name"] == "Pia" and about_py["peerVideoEnabled"] is False

        a.emit("signal", py.id, {"type": "offer", "sdp": "v=0"})
        assert py.wait_event("signal") == [a.id, {"type": "offer", "sdp": "v=0"}]
        py.emit("signal", a.id, '{"ice":"candidate"}')
        assert a.wait_event("signal") == [py.id, '{"ice":"candidate"}']

        py.emit("chat-message", {"sender": "Ann", "data": "from python", "time": 5, "socketIdSender": a.id})
        expected = {"sender": "Pia", "data": "from python", "time": 5, "socketIdSender": py.id}
        assert b.wait_event("chat-message") == [expected]
        assert py.wait_event("chat-message") == [expected]
        media_update(b, room, audio=False, video=False)
        assert py.wait_event("user-media-update")[0]["userId"] == b.id
        py.disconnect()
    assert a.wait_event("user-left") == [about_py["id"], "pia"]


# --- meetings only (the default) ------------------------------------------------------------


def test_a_room_that_is_no_meeting_cannot_be_joined_by_default(nc, strict):
    a = nc.connect("a", strict.url, transports=["websocket"])
    a.emit("join-call", join_payload(unique("no-such-meeting"), "ann", "Ann"))
    assert a.wait_event("call-error") == [{"event": "join-call", "message": "No such meeting found"}]
    a.assert_no_event("user-joined", within=0.3)


def test_a_meeting_created_over_rest_can_be_joined(nc, strict):
    rest = Rest(strict.url)
    host = rest.account("host", name="Hana")
    code = rest.create_meeting(host)
    h = nc.connect("h", strict.url, transports=["websocket"], auth={"token": host.token})
    g = nc.connect("g", strict.url, upgrade=False)
    # Identity comes from the token, not from the payload.
    joined = join(h, code.upper(), "someone-else", None)
    assert (joined["username"], joined["name"]) == (host.username, "Hana")
    assert join(g, code, "guest", "Gus")["clients"] == [h.id, g.id]
    assert h.wait_event("user-joined", where=lambda args: args[0]["id"] == g.id)[0]["name"] == "Gus"


def test_a_name_without_a_token_joins_but_is_no_host(nc, strict):
    # Today's web client polls without credentials from another origin: a logged-in
    # host's socket then carries no cookie and joins under the account's name as a guest.
    rest = Rest(strict.url)
    host = rest.account("owner")
    code = rest.create_meeting(host)
    g = nc.connect("g", strict.url, transports=["websocket"])
    other = nc.connect("other", strict.url, transports=["websocket"])
    join(other, code, "ollie", "Ollie")
    assert join(g, code, host.username, "Owner")["usernamesMap"][g.id] == host.username
    g.emit("remove-participant", {"socketId": other.id})
    assert call_error(g, "remove-participant") == "only the host or a co-host can do that"
    other.assert_no_event("removed", within=0.3)


def test_the_per_socket_rate_limit_refuses_a_burst_but_keeps_the_connection(nc, strict):
    rest = Rest(strict.url)
    code = rest.create_meeting(rest.account("host"))
    a = nc.connect("a", strict.url, transports=["websocket"])
    b = nc.connect("b", strict.url, transports=["websocket"])
    join(a, code, "ann", "Ann")
    join(b, code, "bob", "Bob")
    time.sleep(0.3)  # the join spent a token; let the bucket refill
    mark_a, mark_b = a.mark(), b.mark()
    for n in range(20):
        chat(a, f"burst {n}")
    # Every one of the 20 is answered, either delivered or refused.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        delivered = a.events("chat-message", after=mark_a)
        refused = a.events("call-error", after=mark_a)
        if len(delivered) + len(refused) >= 20:
            break
        time.sleep(0.05)
    delivered = [m[0]["data"] for m in a.events("chat-message", after=mark_a)]
    refused = [e[0] for e in a.events("call-error", after=mark_a)]
    assert len(delivered) + len(refused) == 20, (delivered, refused)
    assert 4 <= len(delivered) <= 8, delivered  # about the burst of 5
    assert all(r["event"] == "chat-message" and r["message"].startswith("too many events") for r in refused)
    assert b.wait_event("chat-message", where=lambda args: args[0]["data"] == delivered[-1], after=mark_b)
    assert [m[0]["data"] for m in b.events("chat-message", after=mark_b)] == delivered
    assert a.records("disconnect") == [] and a.state()["connected"]
    # After a pause the budget is back.
    time.sleep(0.5)
    chat(a, "after the pause")
    assert b.wait_event("chat-message", where=lambda args: args[0]["data"] == "after the pause")


def test_only_the_joiners_own_user_joined_carries_its_ice_servers(trio):
    room, a, b, c = trio
    mark = a.mark()
    own = join(c, room, "cid", "Cid")
    assert own["iceServers"] == [{"urls": ["stun:stun.l.google.com:19302"]}] and own["iceServersTtl"] > 0
    seen_by_a = a.wait_event("user-joined", where=lambda args: args[0]["id"] == c.id, after=mark)[0]
    assert "iceServers" not in seen_by_a
