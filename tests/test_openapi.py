"""The API description (/api/v1/openapi.json) against a real daphne process.

schemathesis reads the served document and, for every operation, sends its examples,
boundary values and generated requests, valid and invalid. Every answer must be no 5xx
and match the document: a documented status code, content type, headers and body
schema; invalid data must be refused with a 4xx, valid data accepted (or refused only
for what the data cannot show: a taken name, an unknown user, a missing right).
Protected operations get a fresh login token per request (so that `logout` revokes
only its own), and schemathesis checks that each also refuses a request without one.
Derandomized and bounded: the same requests on every run.
"""

import re

import pytest
import requests
import schemathesis
from django.urls import get_resolver
from schemathesis.config import SchemathesisConfig

from animomeet import openapi
from tests.conftest import server_env
from tests.servers import DaphneServer

EXAMPLES_PER_OPERATION = 15

CONFIG = {
    "generation": {"mode": "all", "max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
    "phases": {"stateful": {"enabled": False}},
    "checks": {
        # Valid data may still be refused for what a schema cannot say: a taken username
        # or code (409, 302), an unknown user or meeting (404), a wrong password (401),
        # someone else's meeting (403), a co-host who has no account (400 on PATCH only).
        "positive_data_acceptance": {"expected-statuses": ["2xx", "302", "401", "403", "404", "409"]},
    },
    "operations": [
        {
            "include-operation-id": "changeMeeting",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404"]}},
        }
    ],
}


@pytest.fixture(scope="module")
def api_server():
    # Cheap bcrypt; no login throttling, which would refuse the fresh logins below.
    server = DaphneServer(env=server_env(
        BCRYPT_ROUNDS=4,
        LOGIN_MAX_FAILURES=1_000_000,
        # schemathesis sends about a thousand requests from one address
        RATE_LIMIT_SIGNUP="1000000/60",
        RATE_LIMIT_MEETING_LOOKUP="1000000/60",
        RATE_LIMIT_MEETING_CREATE="1000000/60",
        RATE_LIMIT_MEETING_CHANGE="1000000/60",
        ICE_SERVERS_MAX_REQUESTS=1_000_000,
    )).start()
    try:
        yield server
    finally:
        server.stop()


# Built from the module, so that pytest can collect one test per operation before any
# server runs; the served document is checked to be this one.
SCHEMA = schemathesis.openapi.from_dict(openapi.document(), config=SchemathesisConfig.from_dict(CONFIG))


@pytest.fixture(scope="module")
def fresh_token(api_server):
    """Logs the examples' user in afresh: one token per request, so that `logout`
    revokes only its own. The user hosts the examples' meeting."""
    users = f"{api_server.url}/api/v1/users"
    credentials = {"username": openapi.EXAMPLE_USERNAME, "password": openapi.EXAMPLE_PASSWORD}
    assert requests.post(f"{users}/signup", json={"name": "Test User", **credentials}, timeout=10).status_code == 201

    def login() -> str:
        response = requests.post(f"{users}/login", json=credentials, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["token"]

    created = requests.post(
        f"{api_server.url}/api/v1/meeting/create-meet/{openapi.EXAMPLE_CODE}",
        headers={"Authorization": f"Bearer {login()}"},
        timeout=10,
    )
    assert created.status_code == 200, created.text
    return login


def test_the_served_document_is_valid_openapi_3_1(api_server):
    response = requests.get(f"{api_server.url}/api/v1/openapi.json", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.json() == openapi.document()
    SCHEMA.validate()
    assert SCHEMA.raw_schema["openapi"] == "3.1.0"


def _routes(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if hasattr(entry, "url_patterns"):
            yield from _routes(entry.url_patterns, route)
        else:
            yield re.sub(r"<str:(\w+)>", r"{\1}", route)


def test_the_document_covers_every_route():
    # Every path Django routes to a view of ours (the admin and the catch-all 404 aside),
    # and the two answered in front of it.
    routed = {route for route in _routes(get_resolver().url_patterns) if not route.startswith("admin/")} - {"^api/"}
    documented = {path.removeprefix("/") for path in openapi.document()["paths"]}

    assert documented == routed | {"healthz", "readyz"}


@SCHEMA.parametrize()
def test_the_server_answers_as_documented(case, api_server, fresh_token):
    headers = {"Authorization": f"Bearer {fresh_token()}"} if case.operation.definition.raw.get("security") else None
    case.call_and_validate(base_url=api_server.url, headers=headers)


@pytest.fixture(autouse=True)
def empty_collections():
    """The accounts this module's server makes stay for the whole module: over the wire
    that server shares the test database, which the suite's own fixture empties per test."""
    yield
