"""Rate limits at every door that lets a client guess or pile up: sign-ups per address,
meeting look-ups per address, meeting creation and changes per account, the admin login.
They run at their default values here, as a server would."""

import pytest
from django.test import Client

from animomeet.config import Rate

from tests.rest_helpers import bearer, post_json, signed_up_token, signup

pytestmark = pytest.mark.usefixtures("rest_settings")

TOO_MANY = {"message": "Too many requests. Try again later"}


def assert_refused(response, window: int, message: dict = TOO_MANY):
    assert response.status_code == 429
    assert response.json() == message
    assert 1 <= int(response["Retry-After"]) <= window


def test_an_address_may_sign_up_ten_accounts_an_hour(client):
    answers = [signup(client, username=f"user{n}", REMOTE_ADDR="10.1.0.1").status_code for n in range(10)]

    refused = signup(client, username="user10", REMOTE_ADDR="10.1.0.1")
    elsewhere = signup(client, username="user11", REMOTE_ADDR="10.1.0.2")

    assert answers == [201] * 10
    assert_refused(refused, 3600)
    assert elsewhere.status_code == 201


def test_meeting_look_ups_are_limited_to_sixty_per_five_minutes_per_address(client):
    host = signed_up_token("alice")
    client.post("/api/v1/meeting/create-meet/abc-defg-hij", headers=bearer(host))
    guesses = [client.get(f"/api/v1/meeting/check-meet/abc-defg-{n:03d}", REMOTE_ADDR="10.1.0.3") for n in range(30)]
    guesses += [
        client.get("/api/v1/meeting/check-host", {"username": f"u{n}", "meetingCode": "abc-defg-hij"}, REMOTE_ADDR="10.1.0.3")
        for n in range(30)
    ]

    refused = client.get("/api/v1/meeting/check-meet/abc-defg-hij", REMOTE_ADDR="10.1.0.3")
    elsewhere = client.get("/api/v1/meeting/check-meet/abc-defg-hij", REMOTE_ADDR="10.1.0.4")

    assert [g.status_code for g in guesses] == [404] * 30 + [403] * 30
    assert_refused(refused, 300)
    assert elsewhere.status_code == 200


def test_an_account_may_create_twenty_meetings_an_hour(client):
    alice, bob = signed_up_token("alice"), signed_up_token("bob")
    created = [client.post(f"/api/v1/meeting/create-meet/meet-{n:03d}", headers=bearer(alice)) for n in range(10)]
    created += [client.get(f"/api/v1/meeting/check-code/code-{n:03d}", headers=bearer(alice)) for n in range(10)]

    refused = client.post("/api/v1/meeting/create-meet/one-too-many", headers=bearer(alice))
    other_account = client.post("/api/v1/meeting/create-meet/one-too-many", headers=bearer(bob))

    assert [c.status_code for c in created] == [200] * 20
    assert_refused(refused, 3600)
    assert other_account.status_code == 200


def test_co_host_look_ups_count_per_name_so_usernames_cannot_be_probed_in_bulk(client, announcements):
    host = signed_up_token("alice")
    client.post("/api/v1/meeting/create-meet/abc-defg-hij", headers=bearer(host))

    def add_co_hosts(names):
        return client.patch("/api/v1/meeting/abc-defg-hij", {"addCoHosts": names},
                            content_type="application/json", headers=bearer(host))

    # Two changes of 50 made-up names use up the 100 a host gets in ten minutes.
    probes = [add_co_hosts([f"probe{batch}_{n}" for n in range(50)]) for batch in range(2)]
    refused = client.patch("/api/v1/meeting/abc-defg-hij", {"hostControls": {"audioAllowed": False}},
                           content_type="application/json", headers=bearer(host))

    assert [p.status_code for p in probes] == [400, 400]
    assert probes[0].json()["message"].startswith("No such user: ")
    assert_refused(refused, 600)


# --- the admin login ---------------------------------------------------------------------

LOGIN_REFUSED = {"message": "Too many failed login attempts. Try again later"}


@pytest.fixture
def staff_member(settings, django_user_model):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, for tests
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")


def admin_login(address: str, password: str, username: str = "root"):
    return Client().post("/admin/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.django_db
def test_the_admin_login_refuses_an_address_after_ten_failures(staff_member):
    failures = [admin_login("10.2.0.1", f"guess {n}").status_code for n in range(10)]

    refused = admin_login("10.2.0.1", "pw-root-123")
    elsewhere = admin_login("10.2.0.2", "pw-root-123")

    assert failures == [200] * 10  # the form again, with its error
    assert_refused(refused, 900, LOGIN_REFUSED)
    assert elsewhere.status_code == 302  # logged in


@pytest.mark.django_db
def test_failures_from_many_addresses_do_not_lock_a_staff_member_out_where_they_log_in(staff_member, settings):
    settings.LOGIN_USERNAME_MAX_FAILURES = 3
    assert admin_login("10.2.1.100", "pw-root-123").status_code == 302
    for n in range(3):
        assert admin_login(f"10.2.1.{n}", "wrong").status_code == 200

    assert_refused(admin_login("10.2.1.50", "pw-root-123"), 900, LOGIN_REFUSED)
    assert admin_login("10.2.1.100", "pw-root-123").status_code == 302


def test_a_sign_up_refused_for_its_address_creates_nothing(client, settings):
    settings.RATE_LIMIT_SIGNUP = Rate(1, 60)
    assert signup(client, username="first").status_code == 201

    refused = post_json(client, "/api/v1/users/signup", {"name": "N", "username": "second", "password": "long enough"})

    assert_refused(refused, 60)
    assert Client().post("/api/v1/users/login", {"username": "second", "password": "long enough"},
                         content_type="application/json").status_code == 404
