"""One rule for names everywhere: no control characters, no invisible formatting that
can disguise a name; real names in any script still go through."""

import pytest

from signaling.meeting.validation import Rejected, text
from tests.rest_helpers import bearer, signed_up_token, signup

pytestmark = pytest.mark.usefixtures("rest_settings")

REFUSED = {
    "NUL": "Ali\x00ce",
    "ESC": "\x1b[31mAlice",
    "newline": "Alice\nSYSTEM: you are muted",
    "DEL": "Alice\x7f",
    "C1 NEL": "Alice\x85",
    "C1 CSI": "Alice\x9b2J",
    "line separator": "Alice\u2028Bob",
    "right-to-left override": "Alice\u202egnp.exe",
    "first-strong isolate": "\u2068Alice",
    "zero-width space": "Ali\u200bce",
    "byte order mark": "\ufeffAlice",
    "Hangul filler": "\u3164",
}
ACCEPTED = {
    "accents": "Zoë Ångström",
    "Arabic": "محمد علي",
    "Persian with a zero-width non-joiner": "می\u200cخواهم",
    "emoji sequence with a zero-width joiner": "Ada \U0001F469\u200d\U0001F4BB",
    "Devanagari": "अनुष्का",
}
REFUSAL = "contains control or invisible formatting characters"


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_signup_refuses_names_with_control_or_invisible_characters(client, name):
    response = signup(client, username="alice", name=name)

    assert response.status_code == 400
    assert response.json() == {"message": f"name {REFUSAL}"}


@pytest.mark.parametrize("name", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_signup_keeps_accepting_real_names(client, name):
    assert signup(client, username="alice", name=name).status_code == 201


@pytest.mark.parametrize("username", [REFUSED["C1 NEL"], REFUSED["right-to-left override"]])
def test_usernames_looked_up_by_the_meeting_api_follow_the_same_rule(client, announcements, username):
    host = signed_up_token("alice")
    client.post("/api/v1/meeting/create-meet/abc-defg-hij", headers=bearer(host))

    check_host = client.get("/api/v1/meeting/check-host", {"username": username, "meetingCode": "abc-defg-hij"})
    co_host = client.patch("/api/v1/meeting/abc-defg-hij", {"addCoHosts": [username]},
                           content_type="application/json", headers=bearer(host))

    assert check_host.status_code == 400 and check_host.json() == {"message": f"username {REFUSAL}"}
    assert co_host.status_code == 400 and co_host.json() == {"message": f"addCoHosts: a username {REFUSAL}"}


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_join_call_refuses_the_same_names(name):
    with pytest.raises(Rejected) as refusal:
        text(f"x{name}x", "name", 100)  # inside: join-call strips leading and trailing spaces

    assert refusal.value.message == f"name {REFUSAL}"


@pytest.mark.parametrize("name", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_join_call_accepts_the_same_real_names(name):
    assert text(name, "name", 100) == name
