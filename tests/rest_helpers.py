"""Helpers and fixtures for the REST tests (fixtures are imported by the test modules)."""

import re
import uuid

import pytest
from django.test import Client

PASSWORD = "correct horse battery"
FRONTEND = "http://localhost:5173"  # settings' default FRONTEND_URL


def _use_a_fresh_cache(settings):
    # A cache of the test's own: login counters never leak between tests (nor into a
    # shared Redis).
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.fixture
def fresh_cache(settings):
    _use_a_fresh_cache(settings)


@pytest.fixture
def rest_settings(settings):
    """A fresh cache, and cheap bcrypt (the real cost is checked in test_accounts_passwords)."""
    _use_a_fresh_cache(settings)
    settings.BCRYPT_ROUNDS = 4
    return settings


@pytest.fixture
def announcements():
    """Lists the (code, meeting) pairs that the meetings service announced."""
    from meetings.signals import meeting_changed

    announced = []

    def record(sender, code, meeting, **kwargs):
        announced.append((code, meeting))

    meeting_changed.connect(record, dispatch_uid="test-announcements")
    yield announced
    meeting_changed.disconnect(dispatch_uid="test-announcements")


def post_json(client, url, body, **kwargs):
    return client.post(url, body, content_type="application/json", **kwargs)


def signup(client, username="alice", name="Alice", password=PASSWORD, **kwargs):
    return post_json(client, "/api/v1/users/signup", {"name": name, "username": username, "password": password}, **kwargs)


def login(client, username="alice", password=PASSWORD, **kwargs):
    return post_json(client, "/api/v1/users/login", {"username": username, "password": password}, **kwargs)


def signed_up_token(username="alice") -> str:
    """Signs a user up and logs in from a client of its own, so no cookie leaks."""
    client = Client()
    assert signup(client, username=username).status_code == 201
    response = login(client, username=username)
    assert response.status_code == 200
    return response.json()["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def staff(django_user_model):
    """A browser logged in as a superuser, with Django's CSRF checks on."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123"))
    return client


def post_action(client, url, action, selected):
    """Submits the list page's action form the way a browser does, CSRF token included."""
    page = client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(url, {"csrfmiddlewaretoken": token, "action": action, "selected": selected})
