"""The admin pages for meetings and users (MongoEngine documents), as staff see them."""

import re
from datetime import timedelta

import pytest
from django.test import Client

from accounts.documents import User
from accounts.credentials import token_digest
from accounts.services import hash_password, issue_token
from animomeet.clock import utcnow
from meetings.admin import MeetingAdmin
from meetings.documents import Meeting
from tests.rest_helpers import post_action

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rest_settings")]


@pytest.fixture
def meetings():
    now = utcnow()
    return [
        Meeting(meetingCode="aaa-aaaa-aaa", hostUsername="alice", coHostUsernames=["carol"], lastActive=now).save(),
        Meeting(meetingCode="bbb-bbbb-bbb", hostUsername="bob", lastActive=now - timedelta(hours=1)).save(),
        Meeting(meetingCode="ccc-cccc-ccc", hostUsername="alice", lastActive=now - timedelta(hours=2)).save(),
    ]


def test_the_admin_needs_a_staff_login(django_user_model):
    anonymous = Client().get("/admin/meetings/")
    member = Client()
    member.force_login(django_user_model.objects.create_user("joe", password="pw-joe-1234"))

    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    assert member.get("/admin/meetings/").status_code == 302


def test_staff_without_superuser_rights_cannot_see_or_change_the_documents(django_user_model, meetings):
    intern = Client()
    intern.force_login(django_user_model.objects.create_user("intern", password="pw-intern-1", is_staff=True))
    assert intern.get("/admin/meetings/").status_code == 403
    assert intern.get("/admin/users/").status_code == 403
    assert intern.get(f"/admin/meetings/{meetings[0].pk}/").status_code == 403
    assert intern.post("/admin/meetings/", {"action": "end", "selected": [str(meetings[0].pk)]}).status_code == 403
    assert Meeting.objects.count() == 3
    assert 'href="/admin/meetings/"' not in intern.get("/admin/").content.decode()


def test_the_index_lists_meetings_and_users(staff):
    page = staff.get("/admin/").content.decode()

    assert 'href="/admin/meetings/"' in page
    assert 'href="/admin/users/"' in page
    assert 'href="/admin/auth/user/"' in page


def test_the_meeting_list_shows_each_meeting_newest_activity_first(staff, meetings):
    page = staff.get("/admin/meetings/").content.decode()

    assert page.index("aaa-aaaa-aaa") < page.index("bbb-bbbb-bbb") < page.index("ccc-cccc-ccc")
    assert "carol" in page
    assert "audioAllowed on, videoAllowed on, screenShareAllowed on, hostPermissionRequired on" in page
    assert "3 results" in page


def test_the_meeting_list_searches_by_code_and_filters_by_host(staff, meetings):
    by_code = staff.get("/admin/meetings/", {"q": "BBB-b"}).content.decode()
    by_host = staff.get("/admin/meetings/", {"hostUsername": "alice"}).content.decode()

    assert "bbb-bbbb-bbb" in by_code and "aaa-aaaa-aaa" not in by_code
    assert "aaa-aaaa-aaa" in by_host and "ccc-cccc-ccc" in by_host and "bbb-bbbb-bbb" not in by_host


def test_the_meeting_list_is_paginated(staff, meetings, monkeypatch):
    monkeypatch.setattr(MeetingAdmin, "per_page", 2)

    first = staff.get("/admin/meetings/").content.decode()
    second = staff.get("/admin/meetings/", {"page": 2}).content.decode()

    assert "aaa-aaaa-aaa" in first and "ccc-cccc-ccc" not in first
    assert "Page 1 of 2" in first and "?page=2" in first
    assert "ccc-cccc-ccc" in second and "aaa-aaaa-aaa" not in second


def test_the_meeting_detail_page(staff, meetings):
    meeting = meetings[0]

    page = staff.get(f"/admin/meetings/{meeting.pk}/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "aaa-aaaa-aaa" in text and "alice" in text and "carol" in text
    assert staff.get("/admin/meetings/0123456789abcdef01234567/").status_code == 404
    assert staff.get("/admin/meetings/not-an-id/").status_code == 404


def test_ending_selected_meetings_deletes_them(staff, meetings):
    response = post_action(staff, "/admin/meetings/", "end", [str(meetings[0].pk), str(meetings[1].pk)])

    assert response.status_code == 302
    assert list(Meeting.objects.scalar("meetingCode")) == ["ccc-cccc-ccc"]
    assert "Ended 2 meeting(s)." in staff.get(response["Location"]).content.decode()


def test_toggling_a_host_control_flips_it_for_the_selected_meetings_only(staff, meetings, announcements):
    selected = [str(meetings[0].pk)]

    post_action(staff, "/admin/meetings/", "toggle_audioAllowed", selected)
    after_one = {m.meetingCode: m.hostControls.audioAllowed for m in Meeting.objects}
    post_action(staff, "/admin/meetings/", "toggle_audioAllowed", selected)

    assert after_one == {"aaa-aaaa-aaa": False, "bbb-bbbb-bbb": True, "ccc-cccc-ccc": True}
    assert Meeting.objects.get(meetingCode="aaa-aaaa-aaa").hostControls.audioAllowed is True
    assert [meeting["hostControls"]["audioAllowed"] for _, meeting in announcements] == [False, True]


@pytest.mark.parametrize("field", ["videoAllowed", "screenShareAllowed", "hostPermissionRequired"])
def test_each_host_control_can_be_toggled(staff, meetings, announcements, field):
    post_action(staff, "/admin/meetings/", f"toggle_{field}", [str(meetings[1].pk)])

    assert getattr(Meeting.objects.get(meetingCode="bbb-bbbb-bbb").hostControls, field) is False


def test_an_action_without_the_csrf_token_is_refused(staff, meetings):
    response = staff.post("/admin/meetings/", {"action": "end", "selected": [str(meetings[0].pk)]})

    assert response.status_code == 403
    assert Meeting.objects.count() == 3


@pytest.fixture
def alice_with_sessions():
    user = User(name="Alice Liddell", username="alice", password=hash_password("wonderland")).save()
    live = [issue_token(user), issue_token(user)]
    expired = issue_token(user)
    User.objects(username="alice", tokens__digest=token_digest(expired)).update_one(
        set__tokens__S__expiresAt=utcnow() - timedelta(minutes=1)
    )
    return User.objects.get(username="alice"), live


def test_the_user_list_shows_names_and_live_session_counts_but_no_secrets(staff, alice_with_sessions):
    user, _ = alice_with_sessions
    User(name="Bob Builder", username="bob", password=hash_password("canwefixit")).save()

    page = staff.get("/admin/users/").content.decode()

    assert re.search(r"alice</a></th>\s*<td>Alice Liddell</td>\s*<td>2</td>", page)
    assert "Bob Builder" in page
    assert user.password not in page and "$2b$" not in page
    assert not any(session.digest in page for session in user.tokens)


def test_the_user_list_searches_by_username(staff, alice_with_sessions):
    User(name="Bob Builder", username="bob", password=hash_password("canwefixit")).save()

    page = staff.get("/admin/users/", {"q": "BO"}).content.decode()

    assert "Bob Builder" in page and "Alice Liddell" not in page


def test_the_user_search_takes_its_text_literally(staff):
    User(name="Dotted", username="a.b", password="-").save()
    User(name="Plain", username="axb", password="-").save()

    page = staff.get("/admin/users/", {"q": "A.B"}).content.decode()

    assert "Dotted" in page and "Plain" not in page


def test_the_user_detail_page_shows_sessions_without_secrets(staff, alice_with_sessions):
    user, _ = alice_with_sessions

    page = staff.get(f"/admin/users/{user.pk}/").content.decode()

    assert "Alice Liddell" in page
    assert page.count("since ") == 2
    assert user.password not in page
    assert not any(session.digest in page for session in user.tokens)


def test_ending_a_users_sessions_logs_them_out(staff, alice_with_sessions):
    user, live_tokens = alice_with_sessions

    post_action(staff, "/admin/users/", "end_sessions", [str(user.pk)])

    for token in live_tokens:
        assert Client().get("/api/v1/users/verify-user", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_removing_someone_no_longer_in_the_call_changes_nothing_and_says_so(staff, meetings):
    # The test client's process serves no calls: the meeting has none going on.
    url = f"/admin/meetings/{meetings[0].pk}/"
    page = staff.get(url).content.decode()
    assert "Live call: none going on" in page and "Waiting room: 0 waiting" in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    answer = staff.post(url, {"csrfmiddlewaretoken": token, "action": "remove_participant", "socket_id": "gone-socket"}, follow=True)
    assert "That participant is no longer in the call; nothing was changed." in answer.content.decode()
    assert staff.get("/admin/meetings/").content.decode().count("<td>-</td>") >= 3  # the Live call column
