"""Who is calling: the token from `Authorization: Bearer` or from the login cookie, and
the one decorator that every protected REST view uses."""

from functools import wraps

from django.conf import settings

from accounts import selectors
from accounts.credentials import Credential, bearer_token, choose_credential
from animomeet.http import message_response
from animomeet.origins import origin_allowed

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


def credential_from_request(request) -> Credential | None:
    return choose_credential(
        presented=bearer_token(request.headers.get("Authorization", "")),
        cookie=request.COOKIES.get(settings.AUTH_COOKIE_NAME, ""),
    )


def from_frontend(request) -> bool:
    """Whether a page of the frontend (or of this server) sent the request."""
    return origin_allowed(request.headers, settings.FRONTEND_ORIGINS, unknown_allowed=False)


def user_from_request(request):
    """The User behind the request's token; None without one, or with one that is no
    longer valid."""
    credential = credential_from_request(request)
    return selectors.user_for_token(credential.token) if credential else None


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
        if credential.from_cookie and state_changing and not from_frontend(request):
            return message_response(403, "Request refused: it does not come from an allowed origin")
        user = selectors.user_for_token(credential.token)
        if user is None:
            response = message_response(401, "Invalid token, login again")
            if credential.from_cookie:
                clear_auth_cookie(response)
            return response
        request.user_doc = user
        request.auth_token = credential.token
        return view(request, *args, **kwargs)

    return wrapper
