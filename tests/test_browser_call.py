"""A real-browser call: two headless Chromium pages meet through our server.

tests/browser/run_call.py does the work inside a network namespace of its own (only
loopback up): daphne, a static server for tests/browser/call.html (cross-origin to the
API) and Debian's Chromium driven by Playwright. Here we check what it saw: REST with the
HttpOnly cookie, socket.io-client polling then upgrading, the roster, the WebRTC call
relayed by `signal` (video frames advancing and a data channel message both ways, on
127.0.0.1 only), chat with the sender set by the server, and user-left on leave-call.

Four times: directly (host candidates); through coturn with the ICE servers of
GET /api/v1/ice-servers and `iceTransportPolicy: "relay"`, where the selected candidate
pair must be coturn's relayed addresses on both sides; with a blip, where the guest's
signaling connection goes through a proxy that cuts it mid-call without a close frame: its
socket.io-client must come back recovered with the same socket id, nobody hears it leave
or join again, video goes on both ways, chat works afterwards and an ICE restart offer
still goes through the relay; and with a rolling restart, where both pages reach two
workers (Redis, a shared MongoDB) through the README's nginx and each worker gets SIGTERM
and is started again in turn: each drains and exits in time, the pages come back recovered
with their socket ids, nobody hears anybody leave, video goes on both ways across each
restart and chat works afterwards.

Needs root (network namespaces), /usr/bin/chromium, iproute2, the playwright package,
`npm ci`, for the relay run coturn, and for the restart run nginx and redis-server.
Without CI set, a missing piece skips the test; with CI set it fails.
"""

import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import run_call

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "::1"}

pytestmark = pytest.mark.browser


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(mode: str) -> list[str]:
    missing = []
    if mode == "relay" and shutil.which("turnserver") is None:
        missing.append("turnserver (apt-get install coturn)")
    if mode == "restart":
        missing += [f"{tool} (apt-get install {tool.split('-')[0]})" for tool in ("nginx", "redis-server") if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root (for `ip netns`)")
    if not os.access(run_call.CHROMIUM, os.X_OK):
        missing.append(f"{run_call.CHROMIUM} (apt-get install chromium)")
    if shutil.which("ip") is None:
        missing.append("ip (apt-get install iproute2)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -r requirements-dev.txt)")
    if not run_call.SOCKET_IO_BUNDLE.is_file():
        missing.append(f"{run_call.SOCKET_IO_BUNDLE.relative_to(ROOT)} (npm ci)")
    return missing


def _failure_report(result: dict) -> str:
    keys = ("error", "steps", "screenshots", "console", "traceback", "daphne_log_tail", "turn_log_tail", "mongo_log_tail", "page_state", "stdout")
    return json.dumps({k: result[k] for k in keys if k in result}, indent=1)[-12000:]


MODE_FLAGS = {"direct": [], "relay": ["--relay"], "blip": ["--blip"], "restart": ["--restart"]}


@pytest.fixture(scope="module", params=list(MODE_FLAGS))
def run(request):
    """Run the call once per mode for the whole module: (exit code, its JSON, its stderr)."""
    mode = request.param
    missing = _missing(mode)
    if missing:
        if _in_ci():
            pytest.fail("CI is set but the browser test cannot run; missing: " + "; ".join(missing), pytrace=False)
        pytest.skip("browser test needs " + "; ".join(missing))
    ns = f"animo-{secrets.token_hex(4)}"
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(run_call.__file__)), "--netns", ns, *MODE_FLAGS[mode]],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=run_call.TOTAL_SECONDS + 30,
        )
    finally:
        # run_call removes its namespace itself; this is for a run that was cut short.
        listed = subprocess.run(["ip", "netns", "list"], check=False, capture_output=True, text=True).stdout.split()
        if ns in listed:
            run_call.delete_namespace(ns)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        result = {"ok": False, "error": f"run_call.py printed no JSON (exit {proc.returncode})", "stdout": proc.stdout[-3000:]}
    return proc.returncode, result, proc.stderr


@pytest.fixture
def call(run):
    """The facts of a call that completed; the other tests fail briefly if it did not."""
    returncode, result, _ = run
    if returncode != 0 or not result.get("ok"):
        pytest.fail(f"the browser call did not complete ({result.get('error')}); details in test_the_call_completed", pytrace=False)
    return result


def test_the_call_completed(run):
    returncode, result, stderr = run
    assert returncode == 0 and result.get("ok"), f"the browser call failed:\n{_failure_report(result)}\n{stderr[-3000:]}"


def test_everything_stayed_on_loopback(call):
    assert call["netns_deleted"] is True
    assert call["isolation"]["interfaces"] == ["lo"]
    assert call["isolation"]["connect_outside_errno"] != "0"
    assert call["servers"]["api"].startswith("http://127.0.0.1:")
    assert call["servers"]["page"].startswith("http://127.0.0.1:")
    assert call["servers"]["api"] != call["servers"]["page"]  # cross-origin page
    assert call["total_seconds"] < run_call.TOTAL_SECONDS


def test_rest_with_the_httponly_cookie(call):
    username = call["host"]["username"]
    assert call["signup"]["status"] == 201
    assert call["login"] == {"status": 200, "message": "login successful", "token_len": 40}
    assert "token=" not in call["host_document_cookie"]  # HttpOnly: invisible to scripts
    assert call["host_cookies"] == [{"name": "token", "domain": "127.0.0.1", "path": "/", "httpOnly": True, "sameSite": "Lax"}]
    # verify-user and create-meet carried no Authorization header: the cookie did it.
    assert call["verify_user"]["status"] == 200
    assert call["verify_user"]["body"]["username"] == username
    assert call["create_meet"]["status"] == 200
    assert call["guest_verify_user"]["status"] == 401
    assert call["check_meet"]["status"] == 200
    assert call["check_meet"]["body"]["exists"] is True
    assert call["check_meet"]["body"]["meeting"]["hostUsername"] == username
    assert call["check_meet"]["body"]["meeting"]["meetingCode"] == call["meeting_code"]


def _reconnects(call, role: str) -> int:
    """How many times the page's socket came back: once for the guest after the blip; after
    the restarts, as often as its transport was closed (each page at least once, see
    test_the_sockets_came_back_recovered_with_their_ids)."""
    if call["restart"]:
        return len(call["pages"][role]["connects"]) - 1
    return 1 if call["blip"] and role == "guest" else 0


def _ice_restarts(call) -> int:
    return 1 if call["blip"] else 0


def test_sockets_started_on_polling_and_upgraded(call):
    for role, page in call["pages"].items():
        # A reconnection (the guest after the blip, a page after a restart) starts on polling
        # and upgrades again.
        assert page["transports"] == ["polling", "websocket"] * (1 + _reconnects(call, role)), role
        if call["blip"] and _reconnects(call, role):
            # An attempt while the proxy refused connections fails as a polling request.
            assert set(page["connectErrors"]) <= {"xhr poll error"}, role
        else:
            # Through a restart too: nginx takes a refused attempt to the other worker.
            assert page["connectErrors"] == [], role
        assert page["connected"] is True, role  # the guest too: leave-call keeps the socket


def test_join_identity_and_roster(call):
    host, guest = call["pages"]["host"], call["pages"]["guest"]
    own = host["userJoined"][0]
    # The host claimed "not-<username>" in join-call: the cookie decides who it is.
    assert own["id"] == host["socketId"]
    assert own["username"] == call["host"]["username"]
    assert own["name"] == call["host"]["name"]
    assert own["clients"] == [host["socketId"]]

    arrival, roster_entry, *rejoined = guest["userJoined"]
    assert arrival["id"] == guest["socketId"] and "existing" not in arrival
    assert arrival["clients"] == [host["socketId"], guest["socketId"]]
    assert arrival["username"] == call["guest"]["username"]
    assert roster_entry["existing"] is True
    assert roster_entry["id"] == host["socketId"]
    assert roster_entry["username"] == call["host"]["username"]
    assert roster_entry["name"] == call["host"]["name"]
    assert roster_entry["peerVideoEnabled"] is True

    # After each reconnect a page re-sent join-call: the answer is its own user-joined, as
    # the room is now, and no roster entries again.
    assert len(rejoined) == _reconnects(call, "guest")
    host_rejoined = host["userJoined"][2:]
    assert len(host_rejoined) == _reconnects(call, "host")
    for page, answers in ((guest, rejoined), (host, host_rejoined)):
        for answer in answers:
            assert answer["id"] == page["socketId"] and "existing" not in answer
            assert answer["clients"] == [host["socketId"], guest["socketId"]]

    # Each page heard of the other once, blip or restarts or not.
    assert [p["id"] for p in host["userJoined"][:2]] == [host["socketId"], guest["socketId"]]


def test_webrtc_negotiated_through_the_signal_relay(call):
    host, guest = call["pages"]["host"], call["pages"]["guest"]
    # The joiner offers, the one already there answers (after the blip, the ICE restart too).
    assert guest["offersSent"] == [host["socketId"]]
    assert guest["iceRestartsSent"] == [host["socketId"]] * _ice_restarts(call)
    answers = 1 + _ice_restarts(call)
    assert host["answersSent"] == [guest["socketId"]] * answers
    assert guest["answersReceived"] == [host["socketId"]] * answers
    assert host["offersSent"] == [] and guest["answersSent"] == []
    for page in (host, guest):
        assert page["candidatesSent"] and page["candidatesReceived"]
        assert page["callErrors"] == []
        assert page["errors"] == []
    # Each side received exactly the candidates the other sent (through the blip too).
    assert sorted(host["candidatesReceived"]) == sorted(guest["candidatesSent"])
    assert sorted(guest["candidatesReceived"]) == sorted(host["candidatesSent"])


def test_remote_video_frames_advance_on_both_sides(call):
    for role, frames in call["frames"].items():
        other = "guest" if role == "host" else "host"
        peer_id = call["pages"][other]["socketId"]
        before, after = frames["before"][peer_id], frames["after"][peer_id]
        assert after["frames"] - before["frames"] >= 10, (role, before, after)
        assert after["currentTime"] > before["currentTime"] + 1.0, (role, before, after)
        assert after["totalVideoFrames"] > before["totalVideoFrames"], (role, before, after)
        assert (after["videoWidth"], after["videoHeight"]) == (320, 240), (role, after)
        assert call["pages"][role]["peers"][peer_id]["tracks"] == ["audio", "video"]


def test_media_flowed_over_loopback_only(call):
    for role, peers in call["rtc_stats"].items():
        assert len(peers) == 1, role
        (stats,) = peers.values()
        assert stats["local"]["address"] in LOOPBACK, (role, stats)
        assert stats["remote"]["address"] in LOOPBACK, (role, stats)
        assert stats["inbound"]["video"]["framesDecoded"] > 0, (role, stats)
        assert stats["inbound"]["audio"]["packetsReceived"] > 0, (role, stats)


def test_data_channel_both_ways(call):
    host, guest = call["pages"]["host"], call["pages"]["guest"]
    assert {"from": guest["socketId"], "data": f"hello over the data channel from guest {guest['socketId']}"} in host["dcReceived"]
    assert {"from": host["socketId"], "data": f"hello over the data channel from host {host['socketId']}"} in guest["dcReceived"]


def test_chat_round_trip_with_the_server_setting_the_sender(call):
    host, guest = call["pages"]["host"], call["pages"]["guest"]
    expected = [
        # The guest claimed to be the host, the host claimed to be "Somebody Else".
        ("hello from the guest", call["guest"]["name"], guest["socketId"]),
        ("hello from the host", call["host"]["name"], host["socketId"]),
    ]
    for role, page in call["pages"].items():
        got = [(m["payload"]["data"], m["payload"]["sender"], m["payload"]["socketIdSender"]) for m in page["chat"]]
        assert got == expected, role
        for message in page["chat"]:
            assert message["keys"] == ["sender", "data", "time", "socketIdSender"], role


def test_leave_call_tells_the_others(call):
    host, guest = call["pages"]["host"], call["pages"]["guest"]
    assert host["userLeft"] == [[guest["socketId"], call["guest"]["username"]]]
    assert guest["userLeft"] == []


def test_the_selected_candidate_pair_is_direct_or_a_relay_through_coturn(call):
    expected = "relay" if call["relay"] else "host"
    for role, peers in call["rtc_stats"].items():
        (stats,) = peers.values()
        assert (stats["local"]["candidateType"], stats["remote"]["candidateType"]) == (expected, expected), (role, stats)
        assert all(f" typ {expected} " in candidate for candidate in call["pages"][role]["candidatesSent"]), role
    if call["relay"]:
        # Both ends of the pair are addresses that coturn allocated: the media went through it.
        relayed = {tuple(address) for address in call["turn_allocations"]["relay_addresses"]}
        for role, peers in call["rtc_stats"].items():
            (stats,) = peers.values()
            for end in ("local", "remote"):
                assert (stats[end]["address"], stats[end]["port"]) in relayed, (role, end, stats, relayed)


def test_relay_credentials_came_from_the_api_for_the_user_and_the_guest(call):
    if not call["relay"]:
        pytest.skip("the direct call asks for no ICE servers")
    turn_usernames = {}
    for role, answer in call["ice_servers"].items():
        assert answer["status"] == 200, role
        stun, turn = answer["body"]["iceServers"]
        assert stun == {"urls": [call["servers"]["turn"].replace("turn:", "stun:").split("?")[0]]}
        assert turn["urls"] == [call["servers"]["turn"]]
        turn_usernames[role] = turn["username"]
    assert re.fullmatch(rf"\d+:{call['host']['username']}", turn_usernames["host"])  # by the login cookie
    assert re.fullmatch(r"\d+:guest-[0-9a-f]{16}", turn_usernames["guest"])  # by the meeting code
    # coturn checked and allocated for both.
    assert set(turn_usernames.values()) <= set(call["turn_allocations"]["usernames"])


# --- the blip: the guest's signaling connection cut mid-call ------------------------------


@pytest.fixture
def blip(call):
    if not call["blip"]:
        pytest.skip("only the blip run cuts a signaling connection")
    return call


def _remote(call, role: str) -> str:
    """The socket id of the other page."""
    return call["pages"]["guest" if role == "host" else "host"]["socketId"]


def test_the_blip_run_used_the_default_recovery_window_and_a_short_heartbeat(blip):
    assert blip["signaling_env"] == {
        "SIGNALING_RECOVERY_WINDOW_S": None, "SIGNALING_PING_INTERVAL_MS": "2000", "SIGNALING_PING_TIMEOUT_MS": "2000", "SIGNALING_DRAIN_S": None,
    }
    assert blip["servers"]["guest_socket"] != blip["servers"]["api"]  # the guest's socket went through the proxy


def test_the_guest_socket_came_back_recovered_with_its_id(blip):
    guest = blip["pages"]["guest"]
    # Cut without a close frame: a lost transport, not a disconnect by either side.
    assert guest["disconnects"] == ["transport close"]
    assert guest["connects"] == [
        {"id": guest["socketId"], "recovered": False},
        {"id": guest["socketId"], "recovered": True},
    ]
    assert blip["pages"]["host"]["connects"] == [{"id": blip["pages"]["host"]["socketId"], "recovered": False}]
    assert blip["pages"]["host"]["disconnects"] == []


def test_nobody_heard_the_guest_leave_through_the_blip(blip):
    # Recorded after the recovery, the chat and the ICE restart, before the guest's leave-call.
    assert blip["user_left_before_leave"] == {"host": [], "guest": []}


def _assert_video_went_on(call, samples: dict) -> None:
    """Between each two consecutive samples (label -> each page's media), the remote video
    advanced on both sides over a connected peer connection."""
    labels = list(samples)
    for role in ("host", "guest"):
        peer_id = _remote(call, role)
        for earlier, later in zip(labels, labels[1:]):
            before, after = samples[earlier][role], samples[later][role]
            frames_before, frames_after = before["frames"][peer_id], after["frames"][peer_id]
            assert frames_after["frames"] - frames_before["frames"] >= 10, (role, earlier, later, frames_before, frames_after)
            assert frames_after["totalVideoFrames"] > frames_before["totalVideoFrames"], (role, earlier, later)
            assert frames_after["currentTime"] > frames_before["currentTime"] + 1.0, (role, earlier, later)
            assert (frames_after["videoWidth"], frames_after["videoHeight"]) == (320, 240), (role, later)
            decoded_before = before["rtc"][peer_id]["inbound"]["video"]["framesDecoded"]
            decoded_after = after["rtc"][peer_id]["inbound"]["video"]["framesDecoded"]
            assert decoded_after - decoded_before >= 10, (role, earlier, later, decoded_before, decoded_after)
            assert after["ice"][peer_id]["connectionState"] == "connected", (role, later)


def test_video_went_on_both_ways_through_the_blip_and_the_ice_restart(blip):
    _assert_video_went_on(blip, {key: blip[key] for key in ("media_at_cut", "media_recovered", "media_after_ice_restart")})


def test_chat_ran_after_the_recovery(blip):
    # The messages of test_chat_round_trip_with_the_server_setting_the_sender were sent then.
    steps = blip["steps"]
    cut = next(i for i, step in enumerate(steps) if step.startswith("cut the guest's signaling connection"))
    chat = next(i for i, step in enumerate(steps) if step.startswith("chat both ways"))
    assert cut < chat


def test_an_ice_restart_went_through_the_relay_after_the_blip(blip):
    host_id, guest_id = blip["pages"]["host"]["socketId"], blip["pages"]["guest"]["socketId"]
    before = {"host": blip["media_recovered"]["host"]["ice"][guest_id], "guest": blip["media_recovered"]["guest"]["ice"][host_id]}
    after = {"host": blip["media_after_ice_restart"]["host"]["ice"][guest_id], "guest": blip["media_after_ice_restart"]["guest"]["ice"][host_id]}
    for role in ("host", "guest"):
        # New credentials on both sides, each the other's remote ones: the restart's offer and
        # answer both crossed the relay.
        assert after[role]["localUfrag"] != before[role]["localUfrag"], role
        assert after[role]["remoteUfrag"] != before[role]["remoteUfrag"], role
        assert (after[role]["connectionState"], after[role]["signalingState"]) == ("connected", "stable"), role
    assert after["host"]["remoteUfrag"] == after["guest"]["localUfrag"]
    assert after["guest"]["remoteUfrag"] == after["host"]["localUfrag"]
    # The media flows over the restarted ICE session.
    assert blip["media_after_ice_restart"]["host"]["rtc"][guest_id]["localUfrag"] == after["host"]["localUfrag"]
    assert blip["media_after_ice_restart"]["guest"]["rtc"][host_id]["localUfrag"] == after["guest"]["localUfrag"]


# --- the rolling restart: two workers behind nginx, each restarted in turn ----------------


@pytest.fixture
def restart(call):
    if not call["restart"]:
        pytest.skip("only the restart run restarts workers")
    return call


def test_the_restart_run_went_through_nginx_to_two_workers_with_the_same_settings(restart):
    assert restart["signaling_env"] == {
        "SIGNALING_RECOVERY_WINDOW_S": None, "SIGNALING_PING_INTERVAL_MS": "2000", "SIGNALING_PING_TIMEOUT_MS": "2000",
        "SIGNALING_DRAIN_S": str(run_call.RESTART_DRAIN_S),
    }
    workers = restart["servers"]["workers"]
    assert len(set(workers)) == 2
    assert restart["servers"]["api"] not in workers  # REST and socket.io through nginx
    assert restart["servers"]["guest_socket"] == restart["servers"]["api"]


def test_each_worker_drained_and_exited_in_time(restart):
    exits = restart["worker_exit_s"]
    assert len(exits) == 2
    assert all(exited < run_call.RESTART_DRAIN_S + 2 for exited in exits), exits
    assert len(restart["worker_ready_after_s"]) == 2


def test_the_sockets_came_back_recovered_with_their_ids(restart):
    for role, page in restart["pages"].items():
        connects = page["connects"]
        # Both workers were restarted: whichever carried a page's WebSocket closed it.
        assert len(connects) >= 2, (role, connects)
        assert connects == [{"id": page["socketId"], "recovered": False}] + [{"id": page["socketId"], "recovered": True}] * (len(connects) - 1), role
        # A drain closes the WebSocket with a close frame: a transport close, no server disconnect.
        assert page["disconnects"] == ["transport close"] * (len(connects) - 1), role
        assert len(restart["without_transport_s"][role]) == len(page["disconnects"]), role


def test_nobody_heard_anybody_leave_through_the_restarts(restart):
    # Recorded after the restarts and the chat, before the guest's leave-call.
    assert restart["user_left_before_leave"] == {"host": [], "guest": []}


def test_video_went_on_both_ways_across_each_restart(restart):
    assert list(restart["media_samples"]) == ["before the restarts", "after worker 1's restart", "after worker 2's restart"]
    _assert_video_went_on(restart, restart["media_samples"])


def test_chat_ran_after_the_restarts(restart):
    steps = restart["steps"]
    last_restart = max(i for i, step in enumerate(steps) if step.startswith("worker 2: SIGTERM"))
    chat = next(i for i, step in enumerate(steps) if step.startswith("chat both ways"))
    assert last_restart < chat
