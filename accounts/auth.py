"""Who is calling: the token from `Authorization: Bearer` or from the login cookie, and
the one decorator that every protected REST view uses."""

from functools import wraps
from typing import NamedTuple
from urllib.parse import urlsplit

from django.conf import settings

from accounts import services
from animomeet.http import message_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Credential(NamedTuple):
    token: str
    from_cookie: bool


def _cookie_samesite() -> str:
    # The production frontend lives on another site, so the cookie must travel cross-site
    # (which browsers allow only with Secure); in development both run on localhost.
    return "None" if settings.PRODUCTION else "Lax"


def set_auth_cookie(response, token: str) -> None:
    response.set_cookie(
        settings.AUTH_COOKIE_NAME,
        token,
        max_age=settings.AUTH_TOKEN_TTL_SECONDS,
        path="/",
        httponly=True,
        secure=settings.PRODUCTION,
        samesite=_cookie_samesite(),
    )


def clear_auth_cookie(response) -> None:
    response.delete_cookie(settings.AUTH_COOKIE_NAME, path="/", samesite=_cookie_samesite())


def _bearer_token(request) -> str:
    """The token of `Authorization: Bearer <token>`, split as the Node backend did; ''
    when the header is absent or malformed."""
    header = request.headers.get("Authorization", "")
    return header.split(" ")[1] if header.startswith("Bearer ") else ""


def credential_from_request(request) -> Credential | None:
    """The header's token wins when it has a token's shape. The web client sends
    `Bearer null` while it keeps no token itself, and then its cookie must count."""
    bearer = _bearer_token(request)
    cookie = request.COOKIES.get(settings.AUTH_COOKIE_NAME, "")
    if bearer and (services.TOKEN_PATTERN.fullmatch(bearer) or not cookie):
        return Credential(bearer, from_cookie=False)
    if cookie:
        return Credential(cookie, from_cookie=True)
    return None


def token_from_request(request) -> str | None:
    credential = credential_from_request(request)
    return credential.token if credential else None


def user_from_request(request):
    """The User behind the request's token; None without one, or with one that is no
    longer valid."""
    credential = credential_from_request(request)
    return services.user_for_token(credential.token) if credential else None


def origin_allowed(request) -> bool:
    """Whether the request comes from a page of the frontend, by its Origin header or,
    when a browser left that out, by its Referer."""
    origin = request.headers.get("Origin", "")
    if not origin:
        referer = urlsplit(request.headers.get("Referer", ""))
        origin = f"{referer.scheme}://{referer.netloc}" if referer.netloc else ""
    return bool(origin) and origin.rstrip("/") in settings.FRONTEND_ORIGINS


def auth_required(view=None, *, changes_state: bool = False):
    """Lets the view run only for a valid token; sets `request.user_doc` (the User) and
    `request.auth_token`. A state-changing request authenticated by the cookie alone must
    come from a frontend origin, since a browser attaches the cookie to cross-site
    requests by itself; an Authorization header is something no foreign page can add.
    POST, PUT, PATCH and DELETE change state; `changes_state=True` marks a GET that does.
    """
    if view is None:
        return lambda view: auth_required(view, changes_state=changes_state)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        credential = credential_from_request(request)
        if credential is None:
            return message_response(401, "no token provided")
        state_changing = changes_state or request.method not in SAFE_METHODS
        if credential.from_cookie and state_changing and not origin_allowed(request):
            return message_response(403, "Request refused: it does not come from an allowed origin")
        user = services.user_for_token(credential.token)
        if user is None:
            response = message_response(401, "Invalid token, login again")
            if credential.from_cookie:
                clear_auth_cookie(response)
            return response
        request.user_doc = user
        request.auth_token = credential.token
        return view(request, *args, **kwargs)

    return wrapper
