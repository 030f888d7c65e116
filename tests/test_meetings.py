"""/api/v1/meeting: creating, checking, listing and changing meetings."""

import re
from datetime import datetime, timedelta, timezone

import pytest

from meetings.documents import Meeting
from meetings.services import touch_meeting
from tests.rest_helpers import bearer, login, signed_up_token, signup

pytestmark = pytest.mark.usefixtures("rest_settings")

CODE = "abc-defg-hij"
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def alice():
    return signed_up_token("alice")


@pytest.fixture
def bob():
    return signed_up_token("bob")


def patch(client, code, body, token):
    return client.patch(f"/api/v1/meeting/{code}", body, content_type="application/json", headers=bearer(token))


# --- check-code and create-meet -----------------------------------------------------------


def test_check_code_creates_the_meeting_with_the_caller_as_host(client, alice):
    response = client.get(f"/api/v1/meeting/check-code/{CODE}", headers=bearer(alice))

    assert response.status_code == 200
    assert response.json() == {"message": f"new meeting created successfully, code: {CODE}"}
    meeting = Meeting.objects.get(meetingCode=CODE)
    assert meeting.hostUsername == "alice"
    assert meeting.coHostUsernames == []


def test_check_code_on_a_taken_code_is_302_without_location(client, alice, bob):
    client.get(f"/api/v1/meeting/check-code/{CODE}", headers=bearer(alice))

    response = client.get(f"/api/v1/meeting/check-code/{CODE}", headers=bearer(bob))

    assert response.status_code == 302
    assert "Location" not in response
    assert response.json() == {"message": "A meeting with this code already exists. Try generating new code"}
    assert Meeting.objects.get(meetingCode=CODE).hostUsername == "alice"


def test_create_meet_answers_exactly_200_then_409(client, alice):
    first = client.post(f"/api/v1/meeting/create-meet/{CODE}", headers=bearer(alice))
    again = client.post(f"/api/v1/meeting/create-meet/{CODE}", headers=bearer(alice))

    assert first.status_code == 200
    assert first.json() == {"message": f"new meeting created successfully, code: {CODE}"}
    assert again.status_code == 409
    assert again.json() == {"message": "A meeting with this code already exists. Try generating new code"}
    assert Meeting.objects(meetingCode=CODE).count() == 1


@pytest.mark.parametrize("url", [f"/api/v1/meeting/check-code/{CODE}", f"/api/v1/meeting/create-meet/{CODE}"])
def test_creating_needs_a_token(client, url):
    response = client.generic("GET" if "check-code" in url else "POST", url)

    assert response.status_code == 401
    assert response.json() == {"message": "no token provided"}
    assert Meeting.objects.count() == 0


@pytest.mark.parametrize("code", ["check-host", "prev-meets", "CHECK-MEET"])
def test_codes_that_name_an_api_path_cannot_be_created(client, alice, code):
    # PATCH /meeting/check-host would never reach such a meeting.
    response = client.post(f"/api/v1/meeting/create-meet/{code}", headers=bearer(alice))
    assert response.status_code == 400 and Meeting.objects.count() == 0


def test_create_meet_by_cookie_from_the_frontend_works_and_from_elsewhere_not(client):
    signup(client)
    login(client)

    foreign = client.post(f"/api/v1/meeting/create-meet/{CODE}", headers={"Origin": "https://evil.example"})
    ours = client.post(f"/api/v1/meeting/create-meet/{CODE}", headers={"Origin": "http://localhost:5173"})

    assert foreign.status_code == 403
    assert ours.status_code == 200
    assert Meeting.objects.get(meetingCode=CODE).hostUsername == "alice"


def test_check_code_by_cookie_must_come_from_the_frontend_though_it_is_a_get(client):
    signup(client)
    login(client)

    foreign = client.get(f"/api/v1/meeting/check-code/{CODE}", headers={"Referer": "https://evil.example/x"})
    bare = client.get(f"/api/v1/meeting/check-code/{CODE}")
    ours = client.get(f"/api/v1/meeting/check-code/{CODE}", headers={"Origin": "http://localhost:5173"})

    assert (foreign.status_code, bare.status_code) == (403, 403)
    assert ours.status_code == 200


@pytest.mark.parametrize(
    "code, stored",
    [
        ("abc", "abc"),
        ("a" * 64, "a" * 64),
        ("ab", None),
        ("a" * 65, None),
        ("abc_def", None),
        ("abc%20def", None),
        ("ab.cd", None),
        ("ABC-DEFG-HIJ", "abc-defg-hij"),
    ],
)
def test_meeting_code_rules(client, alice, code, stored):
    response = client.post(f"/api/v1/meeting/create-meet/{code}", headers=bearer(alice))

    if stored is None:
        assert response.status_code == 400
        assert "message" in response.json()
        assert Meeting.objects.count() == 0
    else:
        assert response.status_code == 200
        assert Meeting.objects.get().meetingCode == stored


# --- check-meet and check-host ------------------------------------------------------------


def test_check_meet_describes_the_meeting(client, alice):
    client.post(f"/api/v1/meeting/create-meet/{CODE}", headers=bearer(alice))

    response = client.get(f"/api/v1/meeting/check-meet/{CODE}")

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Meeting found" and body["exists"] is True
    meeting = body["meeting"]
    assert meeting["meetingCode"] == CODE
    assert meeting["hostUsername"] == "alice"
    assert meeting["coHostUsernames"] == []
    assert meeting["hostControls"] == {
        "audioAllowed": True,
        "videoAllowed": True,
        "screenShareAllowed": True,
        "hostPermissionRequired": True,
    }
    assert ISO_MS.fullmatch(meeting["date"]) and ISO_MS.fullmatch(meeting["lastActive"])
    created = datetime.fromisoformat(meeting["date"].replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=1)


def test_check_meet_finds_a_code_typed_in_capitals(client, alice):
    client.post(f"/api/v1/meeting/create-meet/{CODE}", headers=bearer(alice))

    assert client.get(f"/api/v1/meeting/check-meet/{CODE.upper()}").status_code == 200


def test_check_meet_of_an_unknown_code_is_404(client):
    response = client.get(f"/api/v1/meeting/check-meet/{CODE}")

    assert response.status_code == 404
    assert response.json() == {"message": "No such meeting found"}


def test_check_meet_of_a_meeting_written_by_node_without_co_hosts(client):
    Meeting._get_collection().insert_one({"meetingCode": CODE, "hostUsername": "old", "__v": 0})

    meeting = client.get(f"/api/v1/meeting/check-meet/{CODE}").json()["meeting"]

    assert meeting["coHostUsernames"] == []
    assert meeting["hostControls"]["audioAllowed"] is True


def test_check_host(client, alice):
    client.post(f"/api/v1/meeting/create-meet/{CODE}", headers=bearer(alice))

    yes = client.get("/api/v1/meeting/check-host", {"username": "alice", "meetingCode": CODE})
    no = client.get("/api/v1/meeting/check-host", {"username": "bob", "meetingCode": CODE})
    unknown = client.get("/api/v1/meeting/check-host", {"username": "alice", "meetingCode": "zzz-zzzz-zzz"})

    assert (yes.status_code, yes.json()) == (200, {"message": "alice is host of this meeting"})
    assert (no.status_code, no.json()) == (403, {"message": "bob is not the host of this meeting"})
    assert (unknown.status_code, unknown.json()) == (403, {"message": "alice is not the host of this meeting"})


@pytest.mark.parametrize(
    "query",
    [{}, {"username": "alice"}, {"meetingCode": CODE}, {"username": "", "meetingCode": CODE},
     {"username": "a" * 51, "meetingCode": CODE}],
)
def test_check_host_without_valid_parameters_is_400(client, query):
    response = client.get("/api/v1/meeting/check-host", query)

    assert response.status_code == 400
    assert "message" in response.json()


@pytest.mark.parametrize("code", ["x", "a_b_c", "a" * 65])
def test_codes_that_cannot_exist_get_the_contracts_not_found_answers(client, code):
    # check-meet knows only 200 and 404, check-host only 200 and 403.
    meet = client.get(f"/api/v1/meeting/check-meet/{code}")
    host = client.get("/api/v1/meeting/check-host", {"username": "alice", "meetingCode": code})
    assert (meet.status_code, meet.json()) == (404, {"message": "No such meeting found"})
    assert (host.status_code, host.json()) == (403, {"message": "alice is not the host of this meeting"})


# --- prev-meets ---------------------------------------------------------------------------


def test_prev_meets_lists_hosted_and_co_hosted_codes_newest_first(client, alice, bob):
    now = datetime.now(timezone.utc)
    Meeting(meetingCode="old-one", hostUsername="alice", date=now - timedelta(days=2)).save()
    Meeting(meetingCode="co-hosted", hostUsername="bob", coHostUsernames=["alice"], date=now - timedelta(days=1)).save()
    Meeting(meetingCode="newest", hostUsername="alice", date=now).save()
    Meeting(meetingCode="not-mine", hostUsername="bob", date=now).save()

    response = client.get("/api/v1/meeting/prev-meets/alice", headers=bearer(alice))

    assert response.status_code == 200
    assert response.json() == ["newest", "co-hosted", "old-one"]


def test_prev_meets_is_an_empty_list_without_meetings(client, alice):
    response = client.get("/api/v1/meeting/prev-meets/alice", headers=bearer(alice))

    assert (response.status_code, response.json()) == (200, [])


def test_prev_meets_of_someone_else_is_403(client, alice, bob):
    Meeting(meetingCode=CODE, hostUsername="bob").save()

    response = client.get("/api/v1/meeting/prev-meets/bob", headers=bearer(alice))

    assert response.status_code == 403
    assert set(response.json()) == {"message"}


def test_prev_meets_needs_a_token(client):
    assert client.get("/api/v1/meeting/prev-meets/alice").status_code == 401


# --- PATCH /meeting/:code -----------------------------------------------------------------


@pytest.fixture
def meeting(alice):
    return Meeting(meetingCode=CODE, hostUsername="alice").save()


def test_the_host_changes_host_controls_and_participants_are_told(client, alice, meeting, announcements):
    response = patch(client, CODE, {"hostControls": {"videoAllowed": False, "screenShareAllowed": False}}, alice)

    assert response.status_code == 200
    shown = response.json()["meeting"]
    assert shown["hostControls"] == {
        "audioAllowed": True,
        "videoAllowed": False,
        "screenShareAllowed": False,
        "hostPermissionRequired": True,
    }
    assert client.get(f"/api/v1/meeting/check-meet/{CODE}").json()["meeting"]["hostControls"] == shown["hostControls"]
    assert announcements == [(CODE, shown)]


def test_the_host_adds_and_removes_co_hosts(client, alice, bob, meeting, announcements):
    signed_up_token("carol")

    added = patch(client, CODE, {"addCoHosts": ["bob", "carol"]}, alice)
    removed = patch(client, CODE, {"removeCoHosts": ["bob"]}, alice)

    assert added.status_code == 200
    assert sorted(added.json()["meeting"]["coHostUsernames"]) == ["bob", "carol"]
    assert removed.json()["meeting"]["coHostUsernames"] == ["carol"]
    assert client.get("/api/v1/meeting/prev-meets/bob", headers=bearer(bob)).json() == []
    assert len(announcements) == 2


def test_adding_a_co_host_twice_keeps_one(client, alice, bob, meeting, announcements):
    patch(client, CODE, {"addCoHosts": ["bob"]}, alice)

    response = patch(client, CODE, {"addCoHosts": ["bob"]}, alice)

    assert response.json()["meeting"]["coHostUsernames"] == ["bob"]


def test_a_co_host_must_be_an_existing_user_other_than_the_host(client, alice, meeting, announcements):
    unknown = patch(client, CODE, {"addCoHosts": ["ghost"]}, alice)
    host = patch(client, CODE, {"addCoHosts": ["alice"]}, alice)

    assert (unknown.status_code, unknown.json()) == (400, {"message": "No such user: ghost"})
    assert (host.status_code, host.json()) == (400, {"message": "The host cannot be a co-host"})
    assert Meeting.objects.get().coHostUsernames == []
    assert announcements == []


def test_only_the_host_may_change_a_meeting(client, bob, meeting, announcements):
    response = patch(client, CODE, {"hostControls": {"audioAllowed": False}}, bob)

    assert response.status_code == 403
    assert response.json() == {"message": "Only the host can change this meeting"}
    assert Meeting.objects.get().hostControls.audioAllowed is True
    assert announcements == []


def test_changing_an_unknown_meeting_is_404(client, alice, announcements):
    response = patch(client, CODE, {"hostControls": {"audioAllowed": False}}, alice)

    assert (response.status_code, response.json()) == (404, {"message": "No such meeting found"})


def test_changing_a_meeting_needs_a_token(client, meeting):
    response = client.patch(f"/api/v1/meeting/{CODE}", {"hostControls": {}}, content_type="application/json")

    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"hostControls": {"audioAllowed": "no"}},
        {"hostControls": {"audioAllowed": 0}},
        {"hostControls": {"micAllowed": True}},
        {"hostControls": [True]},
        {"hostControls": None},
        {"addCoHosts": "bob"},
        {"addCoHosts": [7]},
        {"addCoHosts": [""]},
        {"addCoHosts": ["b" * 51]},
        {"addCoHosts": ["bob"] * 51},
        {"removeCoHosts": None},
        {"addCoHosts": ["bob"], "removeCoHosts": ["bob"]},
        {"hostPermissionRequired": False},
    ],
)
def test_ill_formed_changes_are_400_and_change_nothing(client, alice, bob, meeting, announcements, body):
    response = patch(client, CODE, body, alice)

    assert response.status_code == 400
    assert set(response.json()) == {"message"}
    assert Meeting.objects.get().to_mongo()["hostControls"] == meeting.to_mongo()["hostControls"]
    assert announcements == []


def test_a_failing_announcement_does_not_undo_the_change(client, alice, meeting, announcements):
    from meetings.signals import meeting_changed

    def broken(sender, **kwargs):
        raise ConnectionError("channel layer down")

    meeting_changed.connect(broken, dispatch_uid="test-broken")
    try:
        response = patch(client, CODE, {"hostControls": {"audioAllowed": False}}, alice)
    finally:
        meeting_changed.disconnect(dispatch_uid="test-broken")

    assert response.status_code == 200
    assert Meeting.objects.get().hostControls.audioAllowed is False


def test_a_cookie_authenticated_change_from_a_foreign_origin_is_403(client, meeting, announcements):
    login(client, username="alice")

    response = client.patch(
        f"/api/v1/meeting/{CODE}",
        {"hostControls": {"audioAllowed": False}},
        content_type="application/json",
        headers={"Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert Meeting.objects.get().hostControls.audioAllowed is True


# --- what signaling asks of the services --------------------------------------------------


def test_touch_meeting_refreshes_last_active():
    Meeting(meetingCode=CODE, hostUsername="alice", lastActive=datetime.now(timezone.utc) - timedelta(days=3)).save()

    touched = touch_meeting(CODE)

    assert abs(datetime.now(timezone.utc) - touched.lastActive) < timedelta(minutes=1)
    assert abs(datetime.now(timezone.utc) - Meeting.objects.get().lastActive) < timedelta(minutes=1)
    assert touch_meeting("zzz-zzzz-zzz") is None
