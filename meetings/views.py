"""REST views of /api/v1/meeting and /api/v1/ice-servers: check the input, call the
meetings services (writes) or selectors (reads), shape the answer."""

import time

from django.conf import settings

from accounts import names
from accounts.auth import auth_required, user_from_request
from accounts.services import USERNAME_MAX_LENGTH
from animomeet.http import ApiError, ApiResponse, api_view, client_id, json_object, message_response, string_field
from animomeet.config import Rate
from animomeet.ratelimit import Limit
from meetings import selectors, services
from meetings.ice_servers import ice_servers_for

# Each answer tells whether a meeting code, a host or a username exists: guessing them
# is slowed down per client address (look-ups) or per account (creating, changing).
LOOKUPS = Limit("meeting-lookup", lambda: settings.RATE_LIMIT_MEETING_LOOKUP)
CREATIONS = Limit("meeting-create", lambda: settings.RATE_LIMIT_MEETING_CREATE)
CHANGES = Limit("meeting-change", lambda: settings.RATE_LIMIT_MEETING_CHANGE)
ICE_SERVER_REQUESTS = Limit(
    "ice-servers", lambda: Rate(settings.ICE_SERVERS_MAX_REQUESTS, settings.ICE_SERVERS_WINDOW_SECONDS)
)

CODE_HINT = "must be 3 to 64 characters of letters, digits and '-'"
# A meeting's co-host list changes a few names at a time; this bounds one request's work.
MAX_CO_HOSTS_PER_CHANGE = 50
CHANGE_FIELDS = {"hostControls", "addCoHosts", "removeCoHosts"}
# A code looked up but never stored may be anything up to this; it is just not found.
LOOKUP_MAX_LENGTH = 1000


def _meeting_code(raw: str) -> str:
    code = services.normalize_meeting_code(raw)
    if code is None:
        raise ApiError(400, f"Meeting code {CODE_HINT}")
    return code


def _create(request, raw_code: str, taken_status: int):
    CREATIONS.enforce(str(request.user_doc.id))
    code = _meeting_code(raw_code)
    try:
        services.create_meeting(code=code, host_username=request.user_doc.username)
    except services.MeetingCodeTaken:
        raise ApiError(taken_status, "A meeting with this code already exists. Try generating new code") from None
    return message_response(200, f"new meeting created successfully, code: {code}")


@api_view("GET")
@auth_required(changes_state=True)  # a GET that creates, as the contract has it
def check_code(request, code):
    # 302 without a Location header, as the Node backend answered a taken code here.
    return _create(request, code, taken_status=302)


@api_view("POST")
@auth_required
def create_meet(request, code):
    return _create(request, code, taken_status=409)


@api_view("GET")
def check_meet(request, code):
    LOOKUPS.enforce(client_id(request))
    # A code that cannot exist is simply not found: the contract has only 200 and 404.
    normalized = services.normalize_meeting_code(code)
    meeting = selectors.find_meeting(normalized) if normalized else None
    if meeting is None:
        raise ApiError(404, "No such meeting found")
    return ApiResponse({"message": "Meeting found", "exists": True, "meeting": services.meeting_json(meeting)})


@api_view("GET")
def check_host(request):
    LOOKUPS.enforce(client_id(request))
    username = string_field(request.GET, "username", max_length=USERNAME_MAX_LENGTH, refusal=names.refusal)
    raw_code = string_field(request.GET, "meetingCode", max_length=LOOKUP_MAX_LENGTH)
    code = services.normalize_meeting_code(raw_code)
    if code is not None and selectors.is_host(code=code, username=username):
        return message_response(200, f"{username} is host of this meeting")
    return message_response(403, f"{username} is not the host of this meeting")


@api_view("GET")
@auth_required
def prev_meets(request, username):
    if username != request.user_doc.username:
        raise ApiError(403, "You can only list your own meetings")
    return ApiResponse(selectors.meeting_codes_for(username))


def _host_controls(value) -> dict[str, bool]:
    if not isinstance(value, dict):
        raise ApiError(400, "hostControls must be an object")
    for field, flag in value.items():
        if field not in services.HOST_CONTROL_FIELDS:
            raise ApiError(400, f"hostControls.{field} is not a host control")
        if not isinstance(flag, bool):
            raise ApiError(400, f"hostControls.{field} must be true or false")
    return value


def _usernames(name: str, value) -> list[str]:
    if not isinstance(value, list):
        raise ApiError(400, f"{name} must be a list of usernames")
    if len(value) > MAX_CO_HOSTS_PER_CHANGE:
        raise ApiError(400, f"{name} may name at most {MAX_CO_HOSTS_PER_CHANGE} users")
    for username in value:
        if not isinstance(username, str) or not username or len(username) > USERNAME_MAX_LENGTH:
            raise ApiError(400, f"{name} must hold usernames of 1 to {USERNAME_MAX_LENGTH} characters")
        reason = names.refusal(username)
        if reason:
            raise ApiError(400, f"{name}: a username {reason}")
    return value


@api_view("PATCH")
@auth_required
def change_meeting(request, code):
    code = _meeting_code(code)
    body = json_object(request)
    unknown = sorted(set(body) - CHANGE_FIELDS)
    if unknown:
        raise ApiError(400, f"Unknown field: {unknown[0]}")
    if not body:
        raise ApiError(400, "Nothing to change: give hostControls, addCoHosts or removeCoHosts")
    host_controls = _host_controls(body.get("hostControls", {}))
    add_co_hosts = _usernames("addCoHosts", body.get("addCoHosts", []))
    remove_co_hosts = _usernames("removeCoHosts", body.get("removeCoHosts", []))
    # Adding a co-host tells whether that username exists: each name counts.
    CHANGES.enforce(str(request.user_doc.id), cost=max(1, len(add_co_hosts)))
    try:
        meeting = services.update_meeting(
            code=code,
            acting_username=request.user_doc.username,
            host_controls=host_controls,
            add_co_hosts=add_co_hosts,
            remove_co_hosts=remove_co_hosts,
        )
    except services.MeetingNotFound:
        raise ApiError(404, "No such meeting found") from None
    except services.NotHost:
        raise ApiError(403, "Only the host can change this meeting") from None
    except services.InvalidCoHosts as refusal:
        raise ApiError(400, str(refusal)) from None
    return ApiResponse({"message": "Meeting updated", "meeting": services.meeting_json(meeting)})


def _limit_ice_server_requests(request) -> None:
    """Per client address, every request counted: a guest's request tries a meeting code,
    and each answer is a TURN credential."""
    retry_after = ICE_SERVER_REQUESTS.hit(client_id(request))
    if retry_after:
        raise ApiError(429, "Too many requests for ICE servers. Try again later", {"Retry-After": str(retry_after)})


def _ice_servers_response(account: str | None) -> ApiResponse:
    # A credential: no cache along the way may keep it or hand it to someone else.
    return ApiResponse(ice_servers_for(account, now=time.time()), headers={"Cache-Control": "no-store"})


@auth_required
def _ice_servers_for_account(request):
    return _ice_servers_response(request.user_doc.username)


@api_view("GET")
def ice_servers(request):
    """For a logged-in user, or for anyone naming an existing meeting (a guest about to
    join it); a logged-in user naming a meeting is still named by the account."""
    _limit_ice_server_requests(request)
    if "meetingCode" not in request.GET:
        return _ice_servers_for_account(request)
    raw_code = string_field(request.GET, "meetingCode", max_length=LOOKUP_MAX_LENGTH)
    code = services.normalize_meeting_code(raw_code)
    if code is None or selectors.find_meeting(code) is None:
        raise ApiError(404, "No such meeting found")
    user = user_from_request(request)
    return _ice_servers_response(user.username if user is not None else None)
