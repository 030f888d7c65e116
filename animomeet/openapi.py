"""The OpenAPI 3.1 description of the HTTP API, served at /api/v1/openapi.json.

Built from the constants the views check (lengths, patterns, host controls), so that
the document and the checks cannot drift apart; the test suite runs schemathesis
against a real server with it (tests/test_openapi.py).
"""

from functools import cache

from django.conf import settings

from accounts import names
from accounts import services as accounts
from meetings import services as meetings
from meetings.views import LOOKUP_MAX_LENGTH, MAX_CO_HOSTS_PER_CHANGE

# What `str.strip()` removes: a field of only these is "empty" (animomeet.http.string_field).
_PYTHON_WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{_PYTHON_WHITESPACE}]"
# A name (display name or username as typed): not blank, and no character accounts.names refuses.
NAME_TEXT = {"pattern": f"^(?=.*{NOT_BLANK})[^{names.REFUSED_CLASS}]*$"}

EXAMPLE_USERNAME = "testuser"
EXAMPLE_PASSWORD = "password123"
EXAMPLE_CODE = "abc-defg-hij"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


REQUEST_ID_HEADER = {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}}


def _response(description: str, schema: dict, headers: dict | None = None) -> dict:
    """A JSON answer of the API (with the request id every API answer carries)."""
    return {"description": description, "headers": {**REQUEST_ID_HEADER, **(headers or {})}, "content": _json(schema)}


def _error(description: str, headers: dict | None = None) -> dict:
    return _response(description, _ref("Error"), headers)


def _message(description: str) -> dict:
    return _response(description, _ref("Message"))


INVALID_BODY = _error("Invalid input: the body is not a JSON object, a field is missing, of the wrong type or out of bounds")
TOO_LARGE = _error("The body is larger than 40 KB")
RATE_LIMITED = _error(
    "Too many requests from this address or account (README, Security): try again after `Retry-After` seconds",
    {"Retry-After": {"required": True, "description": "seconds", "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
)
UNAUTHENTICATED = _error("`no token provided`, or `Invalid token, login again` (an invalid cookie is cleared)")
FOREIGN_ORIGIN = _error(
    "Authenticated by the cookie alone, without an `Origin` (or `Referer`) of FRONTEND_URL: "
    "a request another site's page could make"
)
AUTHENTICATED = [{"bearerAuth": []}, {"cookieAuth": []}]


def _code_parameter(description: str) -> dict:
    return {
        "name": "code",
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": f"^[A-Za-z0-9-]{{3,{meetings.MEETING_CODE_MAX_LENGTH}}}$"},
        "example": EXAMPLE_CODE,
    }


CODE_TO_CREATE = _code_parameter(
    "3 to 64 letters, digits and `-`, case-insensitive (stored lowercased); the API's own "
    "path names (`check-code`, `check-host`...) are refused"
)


def _schemas() -> dict:
    username = {"type": "string", "pattern": accounts.USERNAME_PATTERN.pattern.join("^$"), "example": EXAMPLE_USERNAME}
    usernames = {
        "type": "array",
        "maxItems": MAX_CO_HOSTS_PER_CHANGE,
        "items": {"type": "string", "minLength": 1, "maxLength": accounts.USERNAME_MAX_LENGTH},
    }
    host_controls = {field: {"type": "boolean"} for field in meetings.HOST_CONTROL_FIELDS}
    moment = {"type": ["string", "null"], "format": "date-time", "description": "ISO-8601 UTC, milliseconds, `Z`"}
    return {
        "IceServers": {
            "type": "object",
            "required": ["iceServers", "ttl"],
            "properties": {
                "iceServers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["urls"],
                        "properties": {
                            "urls": {"type": "array", "items": {"type": "string"}},
                            "username": {"type": "string", "description": "`<expiry>:<user>` (coturn's use-auth-secret)"},
                            "credential": {"type": "string", "description": "base64(HMAC-SHA1(secret, username))"},
                        },
                    },
                },
                "ttl": {"type": "integer", "minimum": 1},
            },
        },
        "Error": {
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}},
            "additionalProperties": False,
        },
        "Message": {
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}},
            "additionalProperties": False,
        },
        "Signup": {
            "type": "object",
            "required": ["name", "username", "password"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": accounts.NAME_MAX_LENGTH, **NAME_TEXT, "example": "Test User"},
                "username": username,
                "password": {
                    "type": "string",
                    "minLength": accounts.PASSWORD_MIN_LENGTH,
                    "maxLength": accounts.PASSWORD_MAX_LENGTH,
                    "pattern": NOT_BLANK,
                    "example": EXAMPLE_PASSWORD,
                },
            },
        },
        "Login": {
            "type": "object",
            "description": "No signup rules here: accounts made by the Node backend log in as they are",
            "required": ["username", "password"],
            "properties": {
                "username": {"type": "string", "minLength": 1, "example": EXAMPLE_USERNAME},
                "password": {"type": "string", "minLength": 1, "example": EXAMPLE_PASSWORD},
            },
        },
        "LoginResult": {
            "type": "object",
            "required": ["token", "message", "username", "name"],
            "properties": {
                "token": {"type": "string", "pattern": "^[0-9a-f]{40}$"},
                "message": {"const": "login successful"},
                "username": {"type": "string"},
                "name": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "VerifiedUser": {
            "type": "object",
            "required": ["message", "name", "username", "time", "token"],
            "properties": {
                "message": {"const": "User validated"},
                "name": {"type": "string"},
                "username": {"type": "string"},
                "time": {"type": "integer", "description": "the server's clock, milliseconds since the epoch"},
                "token": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "HostControls": {
            "type": "object",
            "required": list(meetings.HOST_CONTROL_FIELDS),
            "properties": host_controls,
            "additionalProperties": False,
        },
        "Meeting": {
            "type": "object",
            "required": ["meetingCode", "hostUsername", "coHostUsernames", "hostControls", "date", "lastActive"],
            "properties": {
                "meetingCode": {"type": "string"},
                "hostUsername": {"type": ["string", "null"]},
                "coHostUsernames": {"type": "array", "items": {"type": "string"}},
                "hostControls": _ref("HostControls"),
                "date": moment,
                "lastActive": moment,
            },
            "additionalProperties": False,
        },
        "MeetingFound": {
            "type": "object",
            "required": ["message", "exists", "meeting"],
            "properties": {"message": {"const": "Meeting found"}, "exists": {"const": True}, "meeting": _ref("Meeting")},
            "additionalProperties": False,
        },
        "MeetingChange": {
            "type": "object",
            "minProperties": 1,
            "properties": {
                "hostControls": {"type": "object", "properties": host_controls, "additionalProperties": False},
                "addCoHosts": usernames,
                "removeCoHosts": usernames,
            },
            "additionalProperties": False,
            "example": {"hostControls": {"screenShareAllowed": False}},
        },
        "MeetingUpdated": {
            "type": "object",
            "required": ["message", "meeting"],
            "properties": {"message": {"const": "Meeting updated"}, "meeting": _ref("Meeting")},
            "additionalProperties": False,
        },
        "Readiness": {
            "type": "object",
            "required": ["message", "checks"],
            "properties": {
                "message": {"type": "string"},
                "checks": {
                    "type": "object",
                    "description": "each part checked: `mongodb`, `redis` (when REDIS_URL is set), or `worker` while it drains",
                    "additionalProperties": {"enum": ["ok", "timeout", "unreachable", "error", "draining"]},
                },
            },
            "additionalProperties": False,
        },
    }


def _json_body(schema: str) -> dict:
    return {"required": True, "content": _json(_ref(schema))}


def _creation(operation_id: str, summary_note: str, taken_status: str, taken_note: str) -> dict:
    """check-code and create-meet: one operation, answering a taken code differently."""
    taken = "`A meeting with this code already exists. Try generating new code`"
    return {
        "summary": f"Create a meeting with this code {summary_note}".rstrip(),
        "operationId": operation_id,
        "tags": ["meetings"],
        "security": AUTHENTICATED,
        "parameters": [CODE_TO_CREATE],
        "responses": {
            "200": _message("The meeting is created and the caller is its host: `new meeting created successfully, code: <code>`"),
            taken_status: _error(f"The code is taken: {taken}{taken_note}"),
            "400": _error("Not a meeting code"),
            "401": UNAUTHENTICATED,
            "403": FOREIGN_ORIGIN,
            "429": RATE_LIMITED,
        },
    }


def _paths() -> dict:
    return {
        "/": {
            "get": {
                "summary": "The home page",
                "operationId": "home",
                "responses": {
                    "200": {
                        "description": "`I am home`",
                        "headers": REQUEST_ID_HEADER,
                        "content": {"text/html": {"schema": {"const": "I am home"}}},
                    }
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness: the process answers",
                "operationId": "healthz",
                "tags": ["operations"],
                "responses": {"200": {"description": "Always, while the process runs", "content": _json(_ref("Message"))}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: MongoDB and Redis answer, the worker is not draining",
                "operationId": "readyz",
                "tags": ["operations"],
                "responses": {
                    "200": {"description": "Ready", "content": _json(_ref("Readiness"))},
                    "503": {"description": "Not ready; `message` names what failed", "content": _json(_ref("Readiness"))},
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "tags": ["operations"],
                "responses": {"200": _response("OpenAPI 3.1", {"type": "object", "required": ["openapi", "paths"]})},
            }
        },
        "/api/v1/users/signup": {
            "post": {
                "summary": "Create an account",
                "operationId": "signup",
                "tags": ["users"],
                "requestBody": _json_body("Signup"),
                "responses": {
                    "429": RATE_LIMITED,
                    "201": _message("`User registered successfully`"),
                    "400": INVALID_BODY,
                    "409": _error("`User already exists ! Try a different username`"),
                    "413": TOO_LARGE,
                },
            }
        },
        "/api/v1/users/login": {
            "post": {
                "summary": "Log in: a token, also set as an HttpOnly cookie",
                "operationId": "login",
                "tags": ["users"],
                "requestBody": _json_body("Login"),
                "responses": {
                    "200": _response(
                        "Logged in",
                        _ref("LoginResult"),
                        {"Set-Cookie": {"required": True, "description": "the token, HttpOnly", "schema": {"type": "string"}}},
                    ),
                    "400": _error("`Please provide all credentials`, or the body is not a JSON object"),
                    "401": _error("`invalid credentials`"),
                    "404": _error("`User not found`"),
                    "413": TOO_LARGE,
                    "429": _error(
                        "Too many failed logins from this address or for this username",
                        {"Retry-After": {"required": True, "description": "seconds", "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
                    ),
                },
            }
        },
        "/api/v1/users/verify-user": {
            "get": {
                "summary": "Who the token belongs to",
                "operationId": "verifyUser",
                "tags": ["users"],
                "security": AUTHENTICATED,
                "responses": {"200": _response("Valid", _ref("VerifiedUser")), "401": UNAUTHENTICATED},
            }
        },
        "/api/v1/users/logout": {
            "post": {
                "summary": "Revoke the token and clear the cookie",
                "operationId": "logout",
                "tags": ["users"],
                "security": AUTHENTICATED,
                "responses": {
                    "200": _message("`Logged out successfully`"),
                    "401": UNAUTHENTICATED,
                    "403": FOREIGN_ORIGIN,
                },
            }
        },
        "/api/v1/meeting/check-code/{code}": {
            # 302 without a Location header, as the Node backend answered a taken code here.
            "get": _creation("checkCode", "(a GET that creates, as the Node backend had it)", "302", " (no `Location`)"),
        },
        "/api/v1/meeting/create-meet/{code}": {"post": _creation("createMeet", "", "409", "")},
        "/api/v1/meeting/check-meet/{code}": {
            "get": {
                "summary": "Look a meeting up",
                "operationId": "checkMeet",
                "tags": ["meetings"],
                "parameters": [_code_parameter("case-insensitive; anything that is not a meeting code is just not found")],
                "responses": {
                    "429": RATE_LIMITED,
                    "200": _response("Found", _ref("MeetingFound")),
                    "404": _error("`No such meeting found`"),
                },
            }
        },
        "/api/v1/meeting/check-host": {
            "get": {
                "summary": "Whether a user hosts a meeting",
                "operationId": "checkHost",
                "tags": ["meetings"],
                "parameters": [
                    {
                        "name": "username",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": accounts.USERNAME_MAX_LENGTH, **NAME_TEXT},
                        "example": EXAMPLE_USERNAME,
                    },
                    {
                        "name": "meetingCode",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": LOOKUP_MAX_LENGTH, "pattern": NOT_BLANK},
                        "example": EXAMPLE_CODE,
                    },
                ],
                "responses": {
                    "429": RATE_LIMITED,
                    "200": _message("`<username> is host of this meeting`"),
                    "400": _error("A parameter is missing, empty or too long"),
                    "403": _message("`<username> is not the host of this meeting` (also for a meeting that does not exist)"),
                },
            }
        },
        "/api/v1/meeting/prev-meets/{username}": {
            "get": {
                "summary": "Codes of the meetings the caller hosts or co-hosts, newest first",
                "operationId": "prevMeets",
                "tags": ["meetings"],
                "security": AUTHENTICATED,
                "parameters": [{"name": "username", "in": "path", "required": True, "schema": {"type": "string"}, "example": EXAMPLE_USERNAME}],
                "responses": {
                    "200": _response("The codes", {"type": "array", "items": {"type": "string"}}),
                    "401": UNAUTHENTICATED,
                    "403": _error("`You can only list your own meetings`"),
                },
            }
        },
        "/api/v1/ice-servers": {
            "get": {
                "summary": "ICE servers for WebRTC (STUN, and TURN with short-lived credentials), for a user or a guest naming a meeting",
                "operationId": "iceServers",
                "tags": ["calls"],
                "security": [*AUTHENTICATED, {}],
                "parameters": [
                    {
                        "name": "meetingCode",
                        "in": "query",
                        "required": False,
                        "description": "an existing meeting's code: a guest about to join it may ask",
                        "schema": {"type": "string", "minLength": 1, "maxLength": LOOKUP_MAX_LENGTH, "pattern": NOT_BLANK},
                        "example": EXAMPLE_CODE,
                    }
                ],
                "responses": {
                    "200": _response("RTCIceServer entries and their lifetime in seconds", _ref("IceServers")),
                    "400": _error("An empty or too long `meetingCode`"),
                    "401": UNAUTHENTICATED,
                    "404": _error("`No such meeting found`"),
                    "429": RATE_LIMITED,
                },
            }
        },
        "/api/v1/meeting/{code}": {
            "patch": {
                "summary": "Change host controls and co-hosts (the host only); pushed to the call as `host-controls-update`",
                "operationId": "changeMeeting",
                "tags": ["meetings"],
                "security": AUTHENTICATED,
                "parameters": [CODE_TO_CREATE],
                "requestBody": _json_body("MeetingChange"),
                "responses": {
                    "429": RATE_LIMITED,
                    "200": _response("Changed", _ref("MeetingUpdated")),
                    "400": _error("Invalid input, or co-hosts that cannot be (unknown users, the host, both added and removed)"),
                    "401": UNAUTHENTICATED,
                    "403": _error("`Only the host can change this meeting`, or a cookie without a frontend origin"),
                    "404": _error("`No such meeting found`"),
                    "413": TOO_LARGE,
                },
            }
        },
    }


@cache
def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Animo Meet API",
            "version": "1",
            "description": (
                "The REST API of Animo Meet. Bodies are JSON; every error is `{\"message\": \"...\"}`; every "
                "answer under /api/ carries `X-Request-ID`. Unknown /api/ paths answer 404 and wrong methods 405 "
                "with `Allow`, both JSON. A state-changing request authenticated by the cookie alone must come "
                "from a FRONTEND_URL origin. Real-time events go over Socket.IO at /socket.io/ (see the README)."
            ),
        },
        "tags": [
            {"name": "users", "description": "Accounts and sessions"},
            {"name": "meetings", "description": "Meetings and their host controls"},
            {"name": "operations", "description": "Health and this document"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "headers": {
                "RequestId": {
                    "required": True,
                    "description": "the request's id in the server's log (a safe `X-Request-ID` sent is echoed)",
                    "schema": {"type": "string"},
                }
            },
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "the login token, 40 hex characters"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": settings.AUTH_COOKIE_NAME, "description": "set by login, HttpOnly"},
            },
        },
    }
