"""JSON API plumbing shared by the REST views: errors as {"message": ...}, allowed methods,
rate-limit refusals, body parsing, field checks and the client's address."""

import json
import re
from collections.abc import Callable
from functools import wraps

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from animomeet.ratelimit import Refused, client_network
from animomeet import addresses


class ApiResponse(JsonResponse):
    """JSON as the Node backend's `res.json` wrote it: compact, UTF-8 unescaped, and
    `application/json; charset=utf-8`, so that responses match it byte for byte."""

    def __init__(self, data, **kwargs):
        super().__init__(
            data,
            safe=False,
            content_type="application/json; charset=utf-8",
            json_dumps_params={"separators": (",", ":"), "ensure_ascii": False},
            **kwargs,
        )


def message_response(status: int, message: str, headers: dict | None = None) -> ApiResponse:
    return ApiResponse({"message": message}, status=status, headers=headers)


class ApiError(Exception):
    """Ends a REST view with `{"message": ...}` and this status (see `api_view`)."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers

    def response(self) -> ApiResponse:
        return message_response(self.status, self.message, self.headers)


def too_many_requests(refusal: Refused) -> ApiResponse:
    return message_response(429, refusal.message, {"Retry-After": str(refusal.retry_after)})


def api_view(*methods: str):
    """Declares a REST view, plain or async: other methods get a JSON 405, a raised
    ApiError becomes its JSON answer, a rate limit's Refused a 429 with Retry-After.
    Django's token CSRF is off: the API takes JSON only, and requests that a browser
    authenticates by itself (the cookie) pass the Origin check of
    `accounts.auth.auth_required` instead (the README explains why)."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())
    allow_header = ", ".join(sorted(allowed))

    def decorate(view):
        # A plain view runs as Django itself would run it (under daphne, on a thread of
        # its request's own).
        run = view if iscoroutinefunction(view) else sync_to_async(view)

        @wraps(view)
        async def wrapper(request, *args, **kwargs):
            if request.method not in allowed:
                return message_response(
                    405, f"Method {request.method} not allowed", {"Allow": allow_header}
                )
            try:
                return await run(request, *args, **kwargs)
            except ApiError as error:
                return error.response()
            except Refused as refusal:
                return too_many_requests(refusal)
            except SuspiciousOperation:  # Django refusing the request itself (too many fields)
                return bad_request(request)

        return csrf_exempt(wrapper)

    return decorate


def json_object(request) -> dict:
    """The request body as a JSON object, or ApiError 400 / 413."""
    try:
        raw = request.body
    except RequestDataTooBig:
        limit_kb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
        raise ApiError(413, f"Request body is larger than {limit_kb} KB") from None
    # Demanding the JSON type also keeps cross-site HTML forms out: a browser sends
    # application/json cross-site only after a CORS preflight, which foreign origins fail.
    if request.content_type != "application/json":
        raise ApiError(400, "Request body must be JSON (Content-Type: application/json)")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        raise ApiError(400, "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # JSON allows lone surrogates (\ud800); nothing can store them
        raise ApiError(400, "Request body holds invalid Unicode") from None
    return body


def string_field(
    source,
    name: str,
    *,
    max_length: int,
    min_length: int = 1,
    pattern: re.Pattern | None = None,
    pattern_hint: str = "",
    refusal: Callable[[str], str | None] | None = None,
) -> str:
    """`source[name]` (a JSON object or a QueryDict) checked to be a non-blank string of
    `min_length`..`max_length` characters matching `pattern`, or ApiError 400; `refusal`
    says what else is wrong with it (None: nothing)."""
    value = source.get(name)
    if value is None:
        raise ApiError(400, f"{name} is required")
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")
    if not value.strip():
        raise ApiError(400, f"{name} must not be empty")
    if len(value) < min_length:
        raise ApiError(400, f"{name} must be at least {min_length} characters long")
    if len(value) > max_length:
        raise ApiError(400, f"{name} must be at most {max_length} characters long")
    if pattern is not None and not pattern.fullmatch(value):
        raise ApiError(400, f"{name} {pattern_hint}")
    reason = refusal(value) if refusal is not None else None
    if reason:
        raise ApiError(400, f"{name} {reason}")
    return value


def client_address(request) -> str:
    """The caller's IP (animomeet/addresses.py), behind TRUSTED_PROXY_COUNT proxies."""
    return addresses.client_address(
        request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", ""), settings.TRUSTED_PROXY_COUNT
    )


def client_id(request) -> str:
    """Who the caller is for a rate limit: its address (see `ratelimit.client_network`)."""
    return client_network(client_address(request))


@csrf_exempt
def not_found(request, *args, **kwargs):
    """handler404 too: no page that lists the routes."""
    return message_response(404, "Not found")


def bad_request(request, *args, **kwargs):
    """handler400: what Django refuses on its own (too many fields, a forged host)."""
    return message_response(400, "Bad request")


def database_unavailable() -> ApiResponse:
    """The database cannot be reached (restarting, failing over): a retry will do."""
    return message_response(503, "Service temporarily unavailable, try again shortly", {"Retry-After": "5"})


def server_error(request, *args, **kwargs):
    """handler500: no exception text ever reaches the client."""
    return message_response(500, "Internal server error")
