"""A real-browser call: two headless Chromium pages meet through our server.

tests/browser/run_call.py does the work inside a network namespace of its own (only
loopback up): daphne, a static server for tests/browser/call.html (cross-origin to the
API) and Debian's Chromium driven by Playwright. Here we check what it saw: REST with the
HttpOnly cookie, socket.io-client polling then upgrading, the roster, the WebRTC call
relayed by `signal` (video frames advancing and a data channel message both ways, on
127.0.0.1 only), chat with the sender set by the server, and user-left on leave-call.

Twice: directly (host candidates), and through coturn with the ICE servers of
GET /api/v1/ice-servers and `iceTransportPolicy: "relay"`, where the selected candidate
pair must be coturn's relayed addresses on both sides.

Needs root (network namespaces), /usr/bin/chromium, iproute2, the playwright package,
`npm ci`, and for the relay run coturn. Without CI set, a missing piece skips the test; with CI set it fails.
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
    keys = ("error", "steps", "screenshots", "console", "traceback", "daphne_log_tail", "turn_log_tail", "page_state", "stdout")
    return json.dumps({k: result[k] for k in keys if k in result}, indent=1)[-12000:]


@pytest.fixture(scope="module", params=["direct", "relay"])
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
            [sys.executable, str(Path(run_call.__file__)), "--netns", ns, *(["--relay"] if mode == "relay" else [])],
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


def test_sockets_started_on_polling_and_upgraded(call):
    for role, page in call["pages"].items():
        assert page["transports"] == ["polling", "websocket"], role
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

    arrival, roster_entry = guest["userJoined"]
    assert arrival["id"] == guest["socketId"] and "existing" not in arrival
    assert arrival["clients"] == [host["socketId"], guest["socketId"]]
    assert arrival["username"] == call["guest"]["username"]
    assert roster_entry["existing"] is True
    assert roster_entry["id"] == host["socketId"]
    assert roster_entry["username"] == call["host"]["username"]
    assert roster_entry["name"] == call["host"]["name"]
    assert roster_entry["peerVideoEnabled"] is True

    assert [p["id"] for p in host["userJoined"]] == [host["socketId"], guest["socketId"]]


def test_webrtc_negotiated_through_the_signal_relay(call):
    host, guest = call["pages"]["host"], call["pages"]["guest"]
    # The joiner offers, the one already there answers.
    assert guest["offersSent"] == [host["socketId"]]
    assert host["answersSent"] == [guest["socketId"]]
    assert host["offersSent"] == [] and guest["answersSent"] == []
    for page in (host, guest):
        assert page["candidatesSent"] and page["candidatesReceived"]
        assert page["callErrors"] == []
        assert page["errors"] == []
    # Each side received exactly the candidates the other sent.
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
