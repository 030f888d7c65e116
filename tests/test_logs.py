"""LOG_FORMAT=json: one JSON object per line, with the request id, from a real daphne
process; meeting codes, tokens and passwords stay out of every line, in both formats."""

import json
import logging
import sys
import time

import pytest
import requests
from animomeet import logs
from meetings import selectors as meeting_selectors
from meetings import services as meeting_services
from meetings.documents import Meeting
from tests.rest_helpers import bearer

PASSWORD = "json-log-password"
CODE = "jsn-logs-abc"


def use_the_api(url: str) -> str:
    """Signup, login, meetings by code, a token in a query, a socket refused a call;
    returns the login token."""
    api = f"{url}/api/v1"
    account = {"username": "logger", "password": PASSWORD}
    requests.post(f"{api}/users/signup", json={"name": "Log Ger", **account}, timeout=5)
    token = requests.post(f"{api}/users/login", json=account, headers={"X-Request-ID": "login-req-1"}, timeout=5).json()["token"]
    requests.get(f"{api}/users/verify-user", params={"token": token}, headers=bearer(token), timeout=5)
    requests.post(f"{api}/meeting/create-meet/{CODE}", headers=bearer(token), timeout=5)
    requests.get(f"{api}/meeting/check-meet/{CODE.upper()}", timeout=5)
    requests.get(f"{api}/meeting/check-host", params={"username": "logger", "meetingCode": CODE}, timeout=5)
    requests.get(f"{api}/no/such/path", timeout=5)
    # A Socket.IO client over long-polling, refused a call that is no meeting.
    sio = f"{url}/socket.io/?EIO=4&transport=polling"
    sid = json.loads(requests.get(sio, timeout=5).text[1:])["sid"]
    requests.post(f"{sio}&sid={sid}", data="40", timeout=5)
    requests.get(f"{sio}&sid={sid}", timeout=5)
    requests.post(f"{sio}&sid={sid}", data='42["join-call",{"roomID":"nx-' + CODE + '","username":"x","name":"X"}]', timeout=5)
    requests.get(f"{sio}&sid={sid}", timeout=5)  # the call-error
    return token


def wait_for(server, text: str) -> None:
    deadline = time.monotonic() + 5
    while text not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_json_logs_are_one_object_per_line_with_request_ids_and_no_secrets(start_server):
    server = start_server(LOG_FORMAT="json", daphne_args=("-v", "0"))
    token = use_the_api(server.url)
    wait_for(server, "refused join-call")

    lines = [line for line in server.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON

    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    assert all(record["time"].endswith("Z") for record in records)
    requests_logged = [r for r in records if r["logger"] == "animomeet.request" and r["level"] == "INFO"]
    assert len(requests_logged) >= 8
    assert all(len(r["request_id"]) > 0 and r["message"].endswith(f"id={r['request_id']}") for r in requests_logged)
    login = next(r for r in requests_logged if r["request_id"] == "login-req-1")
    assert (login["method"], login["path"], login["status"]) == ("POST", "/api/v1/users/login", 200)
    assert isinstance(login["duration_ms"], float)
    assert {"path": "/api/v1/meeting/check-meet/***", "status": 200}.items() <= next(
        r for r in requests_logged if r["path"].startswith("/api/v1/meeting/check-meet/")
    ).items()
    # The development debug line of a request carries its id too.
    assert any(r["level"] == "DEBUG" and r.get("request_id") == "login-req-1" for r in records)
    assert any(r["logger"].startswith("signaling") and "refused join-call" in r["message"] for r in records)
    for secret in (token, PASSWORD, CODE, CODE.upper()):
        assert secret not in server.log()


def test_plain_logs_keep_secrets_out_too(start_server):
    server = start_server(daphne_args=("-v", "0"))
    token = use_the_api(server.url)
    wait_for(server, "refused join-call")

    assert "animomeet.request POST /api/v1/meeting/create-meet/*** 200" in server.log()
    for secret in (token, PASSWORD, CODE, CODE.upper()):
        assert secret not in server.log()


def record(message="hello %s", args=("world",), **extra) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "signaling.meeting", "levelno": logging.INFO, "levelname": "INFO", "msg": message, "args": args, **extra})


def test_the_json_formatter_takes_extra_fields_and_the_current_request_id():
    formatter = logs.JsonFormatter()
    meeting = logs.meeting_ref("abc-defg-hij")

    token = logs.current_request_id.set("req-7")
    try:
        line = formatter.format(record(event="join-call", socket_id="sid.1", meeting=meeting, request=object()))
    finally:
        logs.current_request_id.reset(token)
    outside = json.loads(formatter.format(record()))

    entry = json.loads(line)
    assert entry["message"] == "hello world" and entry["logger"] == "signaling.meeting" and entry["level"] == "INFO"
    assert (entry["event"], entry["socket_id"], entry["meeting"], entry["request_id"]) == ("join-call", "sid.1", meeting, "req-7")
    assert "request" not in entry  # objects are left out
    assert "request_id" not in outside


def test_the_json_formatter_writes_a_traceback_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        line = logs.JsonFormatter().format(record(exc_info=sys.exc_info()))

    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_a_meeting_ref_is_stable_short_and_not_the_code():
    ref = logs.meeting_ref("abc-defg-hij")

    assert ref == logs.meeting_ref("abc-defg-hij") != logs.meeting_ref("abc-defg-hik")
    assert len(ref) == 12 and "abc" not in ref


@pytest.mark.usefixtures("rest_settings")
def test_djangos_own_500_line_names_no_meeting_code(client, monkeypatch, caplog):
    def broken(code):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(meeting_selectors, "find_meeting", broken)
    with caplog.at_level(logging.ERROR):
        assert client.get(f"/api/v1/meeting/check-meet/{CODE}").status_code == 500

    django_lines = [r.getMessage() for r in caplog.records if r.name == "django.request"]
    assert django_lines == ["Internal Server Error: /api/v1/meeting/check-meet/***"]
    assert CODE not in caplog.text


def test_a_failed_announcement_is_logged_by_reference(caplog):
    from meetings.signals import meeting_changed

    def failing(sender, **kwargs):
        raise ConnectionError("the channel layer is down")

    meeting = Meeting(meetingCode=CODE, hostUsername="logger").save()
    meeting_changed.connect(failing, dispatch_uid="test-failing-announcement")
    try:
        with caplog.at_level(logging.ERROR, logger="meetings"):
            meeting_services.toggle_host_control(meeting_id=meeting.id, field="audioAllowed")
    finally:
        meeting_changed.disconnect(dispatch_uid="test-failing-announcement")

    [line] = [r for r in caplog.records if r.name == "meetings.services"]
    assert line.meeting == logs.meeting_ref(CODE) and logs.meeting_ref(CODE) in line.getMessage()
    assert CODE not in caplog.text
