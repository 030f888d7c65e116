"""Host controls over the socket: force-mute, remove-participant, end-meeting, the
hostControls set over REST (PATCH /api/v1/meeting/<code>), co-hosts, the waiting room,
and who may do what, against the real application in daphne.

Hosts and participants log in over REST on the same daphne process (with no MONGODB_URL
each process has a database of its own) and present their token to the socket as the
`auth` payload or as the `token` cookie; guests present nothing.
"""

import time

import pytest
import socketio

from tests.clients.node_client import ConnectError
from tests.meeting_helpers import PyClient, Rest, call_error, event_names, join, join_payload, running_server

ONLY_HOSTS = "only the host or a co-host can do that"


@pytest.fixture(scope="module")
def hosted():
    """Meetings only, no waiting room."""
    with running_server() as server:
        yield server


@pytest.fixture(scope="module")
def waiting_room():
    with running_server(SIGNALING_WAITING_ROOM="true") as server:
        yield server


@pytest.fixture(scope="module")
def impatient_waiting_room():
    with running_server(SIGNALING_WAITING_ROOM="true", SIGNALING_WAITING_TIMEOUT_S=1) as server:
        yield server


class Call:
    """A meeting in progress: host H (token in `auth`), participant P (logged in, token
    in the cookie, polling only) and guest G (no account, default transports), all with
    microphone and camera on."""

    def __init__(self, nc, server):
        self.rest = Rest(server.url)
        self.host = self.rest.account("host", name="Hana")
        self.pat = self.rest.account("pat", name="Pat")
        self.code = self.rest.create_meeting(self.host)
        self.h = nc.connect("h", server.url, transports=["websocket"], auth={"token": self.host.token})
        self.p = nc.connect("p", server.url, upgrade=False, extraHeaders=self.pat.cookie_header)
        # Reconnection on, as in the browser: a removed guest must still not come back.
        self.g = nc.connect("g", server.url, reconnection=True, reconnectionDelay=50, randomizationFactor=0)
        self.joined_h = join(self.h, self.code)
        self.joined_p = join(self.p, self.code, "hana", None)  # a username claim the server ignores
        self.joined_g = join(self.g, self.code, "gus", "Gus")
        for client in (self.h, self.p):
            client.wait_event("user-joined", where=lambda args: args[0]["id"] == self.g.id)
        self.everyone = (self.h, self.p, self.g)

    def marks(self) -> dict:
        return {client.name: client.mark() for client in self.everyone}


@pytest.fixture
def call(nc, hosted):
    return Call(nc, hosted)


# --- identity ------------------------------------------------------------------------------



def host_and_guest_asking(nc, server):
    """A host in the call of a fresh meeting, and a guest who has just asked to join it."""
    rest = Rest(server.url)
    host = rest.account("host")
    code = rest.create_meeting(host)
    h = nc.connect("h", server.url, transports=["websocket"], auth={"token": host.token})
    g = nc.connect("g", server.url, transports=["websocket"])
    join(h, code)
    g.emit("join-call", join_payload(code, "gus", "Gus"))
    return rest, host, code, h, g

def test_identity_comes_from_the_token_or_cookie(call):
    assert (call.joined_h["username"], call.joined_h["name"]) == (call.host.username, "Hana")
    assert (call.joined_p["username"], call.joined_p["name"]) == (call.pat.username, "Pat")
    assert call.joined_g["usernamesMap"] == {call.h.id: call.host.username, call.p.id: call.pat.username, call.g.id: "gus"}


def test_chat_sender_is_the_logged_in_participant_whatever_the_client_claims(call):
    call.p.emit("chat-message", {"sender": "Hana", "data": "I am the host, honest", "time": 3, "socketIdSender": call.h.id})
    for client in call.everyone:
        assert client.wait_event("chat-message") == [
            {"sender": "Pat", "data": "I am the host, honest", "time": 3, "socketIdSender": call.p.id}
        ]


def test_an_invalid_explicit_token_is_refused_but_a_stale_cookie_connects_as_a_guest(nc, hosted):
    with pytest.raises(ConnectError) as refused:
        nc.connect("bad", hosted.url, transports=["websocket"], auth={"token": "bad"})
    assert refused.value.message == "Invalid token, login again"
    with PyClient("py") as py:
        with pytest.raises(socketio.exceptions.ConnectionError):
            py.connect(hosted.url, auth={"token": "0" * 40}, timeout=2)
        assert py.records("connect_error")[0]["data"] == {"message": "Invalid token, login again"}
    stale = nc.connect("stale", hosted.url, transports=["websocket"], extraHeaders={"Cookie": "token=" + "f" * 40})
    assert stale.state()["connected"]


# --- host actions ------------------------------------------------------------------------------


def test_host_force_mutes_a_participant(call, nc, hosted):
    marks = call.marks()
    call.h.emit("force-mute", {"socketId": call.p.id, "kind": "audio"})
    assert call.p.wait_event("force-mute") == [{"kind": "audio", "by": call.h.id}]
    expected = {"userId": call.p.id, "peerVideoEnabled": True, "peerVideoAvailable": True,
                "peerAudioEnabled": False, "peerAudioAvailable": True}
    assert call.h.wait_event("user-media-update", after=marks["h"]) == [expected]
    assert call.g.wait_event("user-media-update", after=marks["g"]) == [expected]
    call.p.assert_no_event("user-media-update", after=marks["p"], within=0.3)
    # Someone arriving now sees P muted, camera still on.
    late = nc.connect("late", hosted.url, transports=["websocket"])
    join(late, call.code, "lee", "Lee")
    about_p = late.wait_event("user-joined", where=lambda args: args[0]["id"] == call.p.id)[0]
    assert (about_p["peerAudioEnabled"], about_p["peerVideoEnabled"]) == (False, True)
    # And the camera, too.
    call.h.emit("force-mute", {"socketId": call.g.id, "kind": "video"})
    assert call.g.wait_event("force-mute") == [{"kind": "video", "by": call.h.id}]
    update = call.p.wait_event("user-media-update", where=lambda args: args[0]["userId"] == call.g.id)[0]
    assert (update["peerAudioEnabled"], update["peerVideoEnabled"]) == (True, False)


def test_host_removes_a_participant(call):
    marks = call.marks()
    call.h.emit("remove-participant", {"socketId": call.g.id})
    assert call.g.wait_event("removed") == [{"by": call.h.id}]
    assert call.g.wait_disconnect() == "io server disconnect"
    log = [r["type"] if r["type"] != "event" else r["event"] for r in call.g.records(after=marks["g"])]
    assert log.index("removed") < log.index("disconnect"), log
    for client in (call.h, call.p):
        assert client.wait_event("user-left", after=marks[client.name]) == [call.g.id, "gus"]
    call.h.assert_no_event("removed", within=0.01)
    time.sleep(0.4)
    assert len(call.g.records("connect")) == 1, "the removed client reconnected"
    assert call.h.records("disconnect") == [] and call.p.records("disconnect") == []


def test_host_ends_the_meeting_for_everyone(call):
    call.h.emit("end-meeting")
    for client in call.everyone:
        assert client.wait_event("meeting-ended") == [{"by": call.h.id}]
        assert client.wait_disconnect() == "io server disconnect"


@pytest.mark.parametrize("actor", ["p", "g"], ids=["participant", "guest"])
def test_host_actions_are_refused_to_others(call, actor):
    actor = getattr(call, actor)
    marks = call.marks()
    attempts = [
        ("force-mute", {"socketId": call.h.id, "kind": "audio"}),
        ("remove-participant", {"socketId": call.h.id}),
        ("end-meeting", None),
        ("admit-user", {"socketId": call.h.id}),
        ("deny-user", {"socketId": call.h.id}),
    ]
    for event, payload in attempts:
        mark = actor.mark()
        if payload is None:
            actor.emit(event)
        else:
            actor.emit(event, payload)
        assert call_error(actor, event, after=mark) == ONLY_HOSTS
    for client in call.everyone:
        for event in ("force-mute", "removed", "meeting-ended", "denied", "admitted", "user-left", "user-media-update"):
            client.assert_no_event(event, after=marks[client.name], within=0.05)
        assert client.records("disconnect") == []
    assert len(actor.events("call-error", after=marks[actor.name])) == len(attempts)
    # The call goes on as before.
    call.h.emit("chat-message", {"data": "still hosting"})
    assert actor.wait_event("chat-message", after=marks[actor.name])[0]["sender"] == "Hana"


def test_host_controls_changed_over_rest_reach_the_call_and_are_enforced(call):
    marks = call.marks()
    meeting = call.rest.patch_meeting(call.host, call.code, {"hostControls": {"audioAllowed": False}})
    assert meeting["hostControls"]["audioAllowed"] is False
    for client in call.everyone:
        update = client.wait_event("host-controls-update", after=marks[client.name])[0]
        assert update["hostControls"]["audioAllowed"] is False and update["hostControls"]["videoAllowed"] is True
        assert update["meetingCode"] == call.code

    def toggle(client, audio, video=True):
        client.emit("toggle-media", {"roomId": call.code, "peerVideoEnabled": video, "peerVideoAvailable": True,
                                     "peerAudioEnabled": audio, "peerAudioAvailable": True})

    for participant in (call.p, call.g):
        mark = participant.mark()
        toggle(participant, audio=True)
        assert call_error(participant, "toggle-media", after=mark) == "the host has turned off audio for participants"
    call.h.assert_no_event("user-media-update", after=marks["h"], within=0.3)
    # Muting stays possible, and the host is not bound by the controls.
    toggle(call.p, audio=False, video=True)
    assert call.h.wait_event("user-media-update", after=marks["h"])[0] == {
        "userId": call.p.id, "peerVideoEnabled": True, "peerVideoAvailable": True,
        "peerAudioEnabled": False, "peerAudioAvailable": True}
    toggle(call.h, audio=True, video=False)
    update = call.g.wait_event("user-media-update", where=lambda args: args[0]["userId"] == call.h.id)[0]
    assert (update["peerAudioEnabled"], update["peerVideoEnabled"]) == (True, False)
    assert not any(e[0]["event"] == "toggle-media" for e in call.h.events("call-error"))


def test_a_participant_made_co_host_mid_call_can_use_host_actions(call):
    mark_p = call.p.mark()
    call.p.emit("force-mute", {"socketId": call.g.id, "kind": "audio"})
    assert call_error(call.p, "force-mute", after=mark_p) == ONLY_HOSTS
    call.g.assert_no_event("force-mute", within=0.2)
    marks = call.marks()
    call.rest.patch_meeting(call.host, call.code, {"addCoHosts": [call.pat.username]})
    update = call.p.wait_event("host-controls-update", after=marks["p"])[0]
    assert update["coHostUsernames"] == [call.pat.username]
    call.p.emit("force-mute", {"socketId": call.g.id, "kind": "audio"})
    assert call.g.wait_event("force-mute") == [{"kind": "audio", "by": call.p.id}]


# --- waiting room ------------------------------------------------------------------------------


def test_a_waiting_guest_hears_nothing_until_the_host_admits_it(nc, waiting_room):
    rest = Rest(waiting_room.url)
    host = rest.account("host", name="Hana")
    code = rest.create_meeting(host)
    h = nc.connect("h", waiting_room.url, transports=["websocket"], auth={"token": host.token})
    g = nc.connect("g", waiting_room.url)
    join(h, code)
    g.emit("join-call", join_payload(code, "gus", "Gus"))
    assert g.wait_event("waiting") == [{"roomID": code}]
    assert h.wait_event("admit-request") == [{"socketId": g.id, "username": "gus", "name": "Gus"}]

    h.emit("chat-message", {"data": "before the guest is in"})
    h.wait_event("chat-message")
    mark_h = h.mark()
    g.emit("signal", h.id, {"type": "offer", "sdp": "let me in"})
    assert call_error(g, "signal") == "join a call first"
    g.emit("chat-message", {"data": "hello?"})
    assert call_error(g, "chat-message") == "join a call first"
    h.assert_no_event("signal", after=mark_h, within=0.3)
    h.assert_no_event("chat-message", after=mark_h, within=0.01)
    assert event_names(g) == ["waiting", "call-error", "call-error"]

    mark_g = g.mark()
    h.emit("admit-user", {"socketId": g.id})
    g.wait_event("chat-message", after=mark_g)
    assert event_names(g, after=mark_g) == ["admitted", "user-joined", "user-joined", "chat-message"]
    admitted, own, about_host, history = (r["args"] for r in g.records("event", after=mark_g))
    assert admitted == [{"roomID": code}]
    assert own[0]["id"] == g.id and own[0]["clients"] == [h.id, g.id]
    assert about_host[0]["id"] == h.id and about_host[0]["existing"] is True
    assert history[0]["data"] == "before the guest is in"
    assert h.wait_event("user-joined", where=lambda args: args[0]["id"] == g.id)[0]["name"] == "Gus"
    # Now in the call, its signals go through.
    g.emit("signal", h.id, "offer")
    assert h.wait_event("signal") == [g.id, "offer"]


def test_the_host_can_deny_a_waiting_guest(nc, waiting_room):
    rest, host, code, h, g = host_and_guest_asking(nc, waiting_room)
    h.wait_event("admit-request")
    h.emit("deny-user", {"socketId": g.id})
    assert g.wait_event("denied") == [{"roomID": code, "reason": "the host denied entry"}]
    g.assert_no_event("user-joined", within=0.3)
    mark = h.mark()
    h.emit("admit-user", {"socketId": g.id})  # too late: nobody waits under that id
    assert call_error(h, "admit-user", after=mark) == "nobody with that socketId is waiting"
    g.assert_no_event("admitted", within=0.3)
    assert g.state()["connected"]


def test_a_co_host_receives_pending_requests_and_can_admit(nc, waiting_room):
    rest = Rest(waiting_room.url)
    host = rest.account("host")
    co = rest.account("co", name="Cora")
    code = rest.create_meeting(host)
    rest.patch_meeting(host, code, {"addCoHosts": [co.username]})
    g = nc.connect("g", waiting_room.url, transports=["websocket"])
    g.emit("join-call", join_payload(code, "gus", "Gus"))
    g.wait_event("waiting")
    # Nobody privileged was there; the co-host learns of the waiting guest on arrival.
    c = nc.connect("c", waiting_room.url, upgrade=False, extraHeaders=co.cookie_header)
    assert join(c, code)["name"] == "Cora"
    assert c.wait_event("admit-request") == [{"socketId": g.id, "username": "gus", "name": "Gus"}]
    c.emit("admit-user", {"socketId": g.id})
    assert g.wait_event("admitted") == [{"roomID": code}]
    assert g.wait_event("user-joined", where=lambda args: args[0]["id"] == g.id)[0]["clients"] == [c.id, g.id]


def test_a_meeting_without_host_permission_lets_guests_straight_in(nc, waiting_room):
    rest = Rest(waiting_room.url)
    host = rest.account("host")
    code = rest.create_meeting(host)
    rest.patch_meeting(host, code, {"hostControls": {"hostPermissionRequired": False}})
    g = nc.connect("g", waiting_room.url, transports=["websocket"])
    assert join(g, code, "gus", "Gus")["clients"] == [g.id]
    assert g.events("waiting") == []


def test_a_guest_nobody_admits_is_denied_after_the_timeout(nc, impatient_waiting_room):
    rest = Rest(impatient_waiting_room.url)
    code = rest.create_meeting(rest.account("host"))
    g = nc.connect("g", impatient_waiting_room.url, transports=["websocket"])
    started = time.monotonic()
    g.emit("join-call", join_payload(code, "gus", "Gus"))
    g.wait_event("waiting")
    assert g.wait_event("denied", timeout=4) == [{"roomID": code, "reason": "no host admitted you in time"}]
    assert 0.8 <= time.monotonic() - started <= 3.0
    assert g.events("user-joined") == []


def test_asking_again_gets_a_full_waiting_time(nc, impatient_waiting_room):
    rest = Rest(impatient_waiting_room.url)
    code = rest.create_meeting(rest.account("host"))
    g = nc.connect("g", impatient_waiting_room.url, transports=["websocket"])
    g.emit("join-call", join_payload(code, "gus", "Gus"))
    g.wait_event("waiting")
    assert g.emit_with_ack("leave-call") == []  # gives up waiting
    time.sleep(0.6)
    mark = g.mark()
    asked_again = time.monotonic()
    g.emit("join-call", join_payload(code, "gus", "Gus"))
    g.wait_event("waiting", after=mark)
    g.wait_event("denied", after=mark, timeout=4)
    assert time.monotonic() - asked_again >= 0.8  # the full 1 s timeout, not what was left of the first


def test_a_co_host_removed_mid_call_loses_host_actions_and_admit_requests(nc, waiting_room):
    rest = Rest(waiting_room.url)
    host = rest.account("host")
    co = rest.account("co")
    code = rest.create_meeting(host)
    rest.patch_meeting(host, code, {"addCoHosts": [co.username]})
    h = nc.connect("h", waiting_room.url, transports=["websocket"], auth={"token": host.token})
    c = nc.connect("c", waiting_room.url, transports=["websocket"], auth={"token": co.token})
    join(h, code)
    join(c, code)  # privileged: straight in, no waiting
    mark_c = c.mark()
    rest.patch_meeting(host, code, {"removeCoHosts": [co.username]})
    assert c.wait_event("host-controls-update", after=mark_c)[0]["coHostUsernames"] == []
    c.emit("force-mute", {"socketId": h.id, "kind": "audio"})
    assert call_error(c, "force-mute", after=mark_c) == ONLY_HOSTS
    g = nc.connect("g", waiting_room.url, transports=["websocket"])
    g.emit("join-call", join_payload(code, "gus", "Gus"))
    g.wait_event("waiting")
    h.wait_event("admit-request")
    c.assert_no_event("admit-request", within=0.3)
    h.assert_no_event("force-mute", within=0.01)


def test_ending_the_meeting_tells_the_guests_still_waiting(nc, waiting_room):
    rest, host, code, h, g = host_and_guest_asking(nc, waiting_room)
    g.wait_event("waiting")
    h.wait_event("admit-request")
    h.emit("end-meeting")
    assert h.wait_event("meeting-ended") == [{"by": h.id}]
    g.wait_record(
        lambda r: r["type"] == "event" and r["event"] in ("meeting-ended", "denied"),
        timeout=1.5,
        describe="meeting-ended or denied",
    )


def test_turning_host_permission_off_admits_the_guests_already_waiting(nc, waiting_room):
    rest, host, code, h, g = host_and_guest_asking(nc, waiting_room)
    g.wait_event("waiting")
    rest.patch_meeting(host, code, {"hostControls": {"hostPermissionRequired": False}})
    g.wait_event("admitted")
    assert g.wait_event("user-joined", where=lambda args: args[0]["id"] == g.id)[0]["clients"] == [h.id, g.id]
    assert h.wait_event("user-joined", where=lambda args: args[0]["id"] == g.id)[0]["name"] == "Gus"
